"""TLS certificate probe: the chain verifies, the name matches, and expiry is far enough away.

Expiry and names are read from the certificate's DER bytes with a few lines of ASN.1
walking, so the stdlib suffices and a rejected certificate can still say *why*
("certificate expired 3 days ago", "certificate is for a.example, not b.example").
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Self

from pydantic import Field, model_validator

from lightkeeper.durations import humanize
from lightkeeper.probes.base import (
    MonitorBase,
    ProbeContext,
    Stopwatch,
    describe_error,
    timed_out,
)
from lightkeeper.types import ProbeResult

# OpenSSL's X509_V_ERR_* codes that get their own reason; the rest use its message.
_CERT_HAS_EXPIRED = 10
_HOSTNAME_MISMATCH = 62

_DAY = 86400.0


class TlsMonitor(MonitorBase):
    """A TLS endpoint whose certificate must verify and not expire soon.

    Example: ``{name: site-cert, type: tls, host: example.com, warn_days: 21}``.
    Within ``warn_days`` of expiry the monitor is degraded, within ``critical_days`` down.
    """

    type: Literal["tls"]
    host: str = Field(min_length=1)
    port: int = Field(443, ge=1, le=65535)
    server_name: str | None = Field(None, description="Name to verify (SNI); default: host.")
    warn_days: float = Field(14, ge=0, description="Degraded when expiry is this close.")
    critical_days: float = Field(7, ge=0, description="Down when expiry is this close.")
    ca_file: str | None = Field(
        None, description="PEM bundle of the CA(s) to trust instead of the system's."
    )

    @model_validator(mode="after")
    def _critical_before_warn(self) -> Self:
        if self.critical_days > self.warn_days:
            raise ValueError("critical_days must not be more than warn_days")
        return self

    def target(self) -> str:
        where = f"{self.host}:{self.port}"
        if self.server_name and self.server_name != self.host:
            return f"{where} ({self.server_name})"
        return where


@dataclass(frozen=True)
class CertificateFacts:
    """What the probe needs from a certificate: when it expires and which names it covers."""

    not_after: datetime
    names: tuple[str, ...]


class TlsProbe:
    def __init__(self, config: TlsMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx

    async def check(self) -> ProbeResult:
        config = self.config
        name = config.server_name or config.host
        try:
            verifying = ssl.create_default_context(cafile=config.ca_file)
        except OSError as exc:  # ssl.SSLError is an OSError too
            return ProbeResult.down(ca_file_problem(config.ca_file, exc))
        # One deadline for the check, including the second look at a rejected certificate.
        deadline = asyncio.get_running_loop().time() + config.timeout
        watch = Stopwatch()
        try:
            async with asyncio.timeout_at(deadline):
                der = await self._handshake(verifying, name)
        except ssl.SSLCertVerificationError as exc:
            return await self._rejected(exc, name, deadline)
        except TimeoutError:
            return ProbeResult.down(timed_out(config.timeout))
        except ssl.SSLError as exc:
            return ProbeResult.down(f"TLS handshake failed: {_ssl_words(exc)}")
        except (OSError, ValueError) as exc:
            return ProbeResult.down(describe_error(exc))
        latency = watch.ms()
        try:
            facts = parse_certificate(der)
        except ValueError as exc:
            return ProbeResult.down(f"certificate could not be read: {exc}", latency)
        return self._judge_expiry(facts, latency)

    async def _handshake(self, context: ssl.SSLContext, name: str) -> bytes:
        """The peer's certificate (DER) after a handshake; the connection is dropped at once."""
        _, writer = await asyncio.open_connection(
            self.config.host,
            self.config.port,
            ssl=context,
            server_hostname=name,
            ssl_handshake_timeout=self.config.timeout,
        )
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        finally:
            # Abort rather than close: a graceful TLS shutdown can wait on a slow peer.
            writer.transport.abort()
        if not der:
            raise ValueError("server sent no certificate")
        return bytes(der)

    def _judge_expiry(self, facts: CertificateFacts, latency: float | None) -> ProbeResult:
        seconds_left = facts.not_after.timestamp() - self.ctx.clock.now()
        days_left = round(seconds_left / _DAY, 3)
        until = facts.not_after.strftime("%Y-%m-%d")
        if seconds_left <= 0:
            reason = f"certificate expired {humanize(seconds_left)} ago ({until})"
            return ProbeResult.down(reason, latency, cert_days_left=days_left)
        soon = f"certificate expires in {humanize(seconds_left)} ({until})"
        if days_left <= self.config.critical_days:
            return ProbeResult.down(soon, latency, cert_days_left=days_left)
        if days_left <= self.config.warn_days:
            return ProbeResult.degraded(soon, latency, cert_days_left=days_left)
        reason = f"certificate valid for {humanize(seconds_left)} (until {until})"
        return ProbeResult.up(reason, latency, cert_days_left=days_left)

    async def _rejected(
        self, exc: ssl.SSLCertVerificationError, name: str, deadline: float
    ) -> ProbeResult:
        """Explain a failed verification, reading the certificate without verifying it."""
        unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        try:
            async with asyncio.timeout_at(deadline):
                facts = parse_certificate(await self._handshake(unverified, name))
        except (OSError, ValueError, TimeoutError):
            return ProbeResult.down(describe_verify_error(exc))
        seconds_left = facts.not_after.timestamp() - self.ctx.clock.now()
        days_left = round(seconds_left / _DAY, 3)
        if exc.verify_code == _CERT_HAS_EXPIRED and seconds_left <= 0:
            return self._judge_expiry(facts, None)
        if exc.verify_code == _HOSTNAME_MISMATCH:
            covered = ", ".join(facts.names) or "no names"
            reason = f"hostname mismatch: certificate is for {covered}, not {name}"
            return ProbeResult.down(reason, cert_days_left=days_left)
        return ProbeResult.down(describe_verify_error(exc), cert_days_left=days_left)


def ca_file_problem(ca_file: str | None, exc: OSError) -> str:
    """Why a ca_file could not be loaded: 'cannot load ca_file x.pem: No such file or directory'."""
    return f"cannot load ca_file {ca_file}: {exc.strerror or exc}"


def _ssl_words(exc: ssl.SSLError) -> str:
    """'[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)' → 'wrong version number'."""
    # Only errors raised by the ssl module itself carry .reason.
    reason = getattr(exc, "reason", None)
    return str(reason).lower().replace("_", " ") if reason else str(exc)


def describe_verify_error(exc: ssl.SSLCertVerificationError) -> str:
    """OpenSSL's verification failure in plain words (also used by HTTP-speaking probes)."""
    message = (exc.verify_message or str(exc)).strip().rstrip(".")
    if exc.verify_code == _CERT_HAS_EXPIRED:
        return "certificate has expired"
    if exc.verify_code == _HOSTNAME_MISMATCH:
        # "Hostname mismatch, certificate is not valid for 'x'." → "hostname mismatch: ..."
        detail = message.split(",", 1)[-1].strip()
        return f"hostname mismatch: {detail}"
    return f"certificate not trusted: {message}"


# --- A minimal DER reader: just enough of X.509 for validity and subjectAltName. ---

_SEQUENCE = 0x30
_OCTET_STRING = 0x04
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_EXPLICIT_VERSION = 0xA0
_EXPLICIT_EXTENSIONS = 0xA3
_OID = 0x06
_SAN_OID = bytes.fromhex("551d11")  # 2.5.29.17, subjectAltName
_DNS_NAME = 0x82
_IP_ADDRESS = 0x87


def _read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or pos + size > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        item = _read(data, start)
        items.append(item)
        start = item[2]
    return items


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == _UTC_TIME:
        parsed = datetime.strptime(text, "%y%m%d%H%M%SZ")
    elif tag == _GENERALIZED_TIME:
        parsed = datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise ValueError("validity is not a time")
    return parsed.replace(tzinfo=UTC)


def parse_certificate(der: bytes) -> CertificateFacts:
    """notAfter and the subjectAltName DNS names and IP addresses of a DER certificate."""
    tag, start, end = _read(der, 0)
    tag, start, end = _read(der, start)  # tbsCertificate
    if tag != _SEQUENCE:
        raise ValueError("not an X.509 certificate")
    fields = _children(der, start, end)
    if fields and fields[0][0] == _EXPLICIT_VERSION:
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, extras...
    if len(fields) < 6:
        raise ValueError("not an X.509 certificate")
    _, v_start, v_end = fields[3]
    validity = _children(der, v_start, v_end)
    if len(validity) != 2:
        raise ValueError("bad validity")
    after_tag, a_start, a_end = validity[1]
    not_after = _time(after_tag, der[a_start:a_end])
    names: list[str] = []
    for tag, start, _ in fields[6:]:
        if tag == _EXPLICIT_EXTENSIONS:
            names.extend(_san_names(der, *_read(der, start)[1:]))
    return CertificateFacts(not_after, tuple(names))


def _san_names(der: bytes, start: int, end: int) -> list[str]:
    names: list[str] = []
    for _, e_start, e_end in _children(der, start, end):
        parts = _children(der, e_start, e_end)
        oid_tag, oid_start, oid_end = parts[0]
        if oid_tag != _OID or der[oid_start:oid_end] != _SAN_OID:
            continue
        value_tag, value_start, _ = parts[-1]
        if value_tag != _OCTET_STRING:
            continue
        _, g_start, g_end = _read(der, value_start)
        for name_tag, n_start, n_end in _children(der, g_start, g_end):
            raw = der[n_start:n_end]
            if name_tag == _DNS_NAME:
                names.append(raw.decode("ascii", "replace"))
            elif name_tag == _IP_ADDRESS and len(raw) in (4, 16):
                names.append(str(ipaddress.ip_address(raw)))
    return names
