"""Real things on loopback the probe tests share: free ports, a private CA, ChromaDB."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def closed_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- A private CA and leaf certificates, made fresh for the session. ---


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    valid: CertFiles  # localhost and 127.0.0.1, 90 days left
    warn: CertFiles  # 10 days left
    critical: CertFiles  # 5 days left
    expired: CertFiles  # expired 3 days ago
    wrong_host: CertFiles  # for other.example only
    far_future: CertFiles  # until 2060: notAfter is a GeneralizedTime


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _leaf(
    directory: Path,
    label: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    not_before: dt.datetime,
    not_after: dt.datetime,
    names: list[x509.GeneralName],
) -> CertFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(label))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = CertFiles(directory / f"{label}.pem", directory / f"{label}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def make_pki(directory: Path) -> Pki:
    """A CA and leaf certificates of every kind the TLS tests need, written to directory."""
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Lightkeeper Test CA"))
        .issuer_name(_name("Lightkeeper Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 365 * day)
        .not_valid_after(now + 3650 * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    local: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]

    def leaf(
        label: str, start: dt.datetime, end: dt.datetime, names: list[x509.GeneralName]
    ) -> CertFiles:
        return _leaf(directory, label, ca_key, ca_cert, start, end, names)

    return Pki(
        ca_file=ca_file,
        valid=leaf("valid", now - day, now + 90 * day, local),
        warn=leaf("warn", now - day, now + 10 * day, local),
        critical=leaf("critical", now - day, now + 5 * day, local),
        expired=leaf("expired", now - 30 * day, now - 3 * day, local),
        wrong_host=leaf("wrong", now - day, now + 90 * day, [x509.DNSName("other.example")]),
        far_future=leaf("future", now - day, dt.datetime(2060, 1, 1, tzinfo=dt.UTC), local),
    )


# --- A real ChromaDB server, started once per session. ---


def chroma_executable() -> str:
    return str(Path(sys.executable).parent / "chroma")


@dataclass
class ChromaServer:
    """One `chroma run` process; stop() and start() again on the same port and data."""

    path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.path.parent / f"chroma-{self.port}.log").open("ab")
        where = ["--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [chroma_executable(), "run", *where],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma exited with {self.process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("chroma did not answer its heartbeat within 30s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
