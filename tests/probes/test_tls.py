"""TLS probe against real TLS servers on loopback, with certificates from a test CA."""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from pydantic import ValidationError

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.tls import TlsMonitor, TlsProbe, parse_certificate
from lightkeeper.types import State

from .loopback import CertFiles, Pki, closed_port

pytestmark = pytest.mark.integration


class TlsServer:
    """Completes TLS handshakes with one certificate, then waits for the client to leave."""

    def __init__(self, files: CertFiles) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(files.cert, files.key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            pass  # the client rejected us or hung up: both are what the tests provoke
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def servers(pki: Pki) -> Iterator[dict[str, int]]:
    kinds = ("valid", "warn", "critical", "expired", "wrong_host", "far_future")
    running = {kind: TlsServer(getattr(pki, kind)) for kind in kinds}
    yield {kind: server.port for kind, server in running.items()}
    for server in running.values():
        server.close()


def monitor(port: int, pki: Pki | None = None, **fields: Any) -> TlsMonitor:
    config: dict[str, Any] = {
        "name": "cert",
        "type": "tls",
        "host": "127.0.0.1",
        "port": port,
        "server_name": "localhost",
        "timeout": "2s",
    }
    if pki is not None:
        config["ca_file"] = str(pki.ca_file)
    return TlsMonitor.model_validate({**config, **fields})


SCENARIOS = [
    # (server, state, reason pattern, days left)
    ("valid", State.UP, r"^certificate valid for 90 days \(until \d{4}-\d\d-\d\d\)$", 90),
    ("warn", State.DEGRADED, r"^certificate expires in 10 days \(", 10),
    ("critical", State.DOWN, r"^certificate expires in 5 days \(", 5),
    ("expired", State.DOWN, r"^certificate expired 3 days ago \(", -3),
    (
        "wrong_host",
        State.DOWN,
        r"^hostname mismatch: certificate is for other\.example, not localhost$",
        90,
    ),
]


@pytest.mark.parametrize(("server", "state", "reason", "days"), SCENARIOS)
async def test_scenarios(
    servers: dict[str, int],
    pki: Pki,
    ctx: ProbeContext,
    server: str,
    state: State,
    reason: str,
    days: float,
) -> None:
    result = await TlsProbe(monitor(servers[server], pki), ctx).check()
    assert result.state == state, result.reason
    assert re.search(reason, result.reason), result.reason
    assert result.metrics["cert_days_left"] == pytest.approx(days, abs=0.01)


async def test_thresholds_are_configurable(
    servers: dict[str, int], pki: Pki, ctx: ProbeContext
) -> None:
    relaxed = monitor(servers["warn"], pki, warn_days=3, critical_days=1)
    assert (await TlsProbe(relaxed, ctx).check()).state == State.UP
    strict = monitor(servers["valid"], pki, warn_days=120, critical_days=100)
    assert (await TlsProbe(strict, ctx).check()).state == State.DOWN


async def test_untrusted_ca(servers: dict[str, int], ctx: ProbeContext) -> None:
    result = await TlsProbe(monitor(servers["valid"]), ctx).check()
    assert result.state == State.DOWN
    assert result.reason == "certificate not trusted: unable to get local issuer certificate"
    assert result.metrics["cert_days_left"] == pytest.approx(90, abs=0.01)


async def test_ip_address_names_are_verified(
    servers: dict[str, int], pki: Pki, ctx: ProbeContext
) -> None:
    # server_name defaults to host; the valid certificate also covers IP 127.0.0.1.
    by_ip = monitor(servers["valid"], pki, server_name=None)
    result = await TlsProbe(by_ip, ctx).check()
    assert result.state == State.UP, result.reason
    mismatch = await TlsProbe(monitor(servers["valid"], pki, server_name="b.example"), ctx).check()
    assert mismatch.reason == (
        "hostname mismatch: certificate is for localhost, 127.0.0.1, not b.example"
    )


async def test_missing_ca_file(servers: dict[str, int], ctx: ProbeContext) -> None:
    config = monitor(servers["valid"], ca_file="/nonexistent/ca.pem")
    result = await TlsProbe(config, ctx).check()
    assert result.state == State.DOWN
    assert result.reason == "cannot load ca_file /nonexistent/ca.pem: No such file or directory"


async def test_server_that_does_not_speak_tls(ctx: ProbeContext) -> None:
    def answer_in_plain_http(listener: socket.socket) -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    threading.Thread(target=answer_in_plain_http, args=(listener,), daemon=True).start()
    result = await TlsProbe(monitor(port), ctx).check()
    assert result.state == State.DOWN
    assert result.reason.startswith("TLS handshake failed: "), result.reason
    assert "[SSL" not in result.reason


async def test_connection_refused(ctx: ProbeContext) -> None:
    result = await TlsProbe(monitor(closed_port()), ctx).check()
    assert (result.state, result.reason) == (State.DOWN, "connection refused")


async def test_silent_server_times_out(silent_port: int, ctx: ProbeContext) -> None:
    result = await TlsProbe(monitor(silent_port, timeout="300ms"), ctx).check()
    assert (result.state, result.reason) == (State.DOWN, "timed out after 300ms")


@pytest.mark.parametrize("kind", ["valid", "expired", "wrong_host", "far_future"])
def test_der_reader_agrees_with_cryptography(pki: Pki, kind: str) -> None:
    files: CertFiles = getattr(pki, kind)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    der = ssl.PEM_cert_to_DER_cert(files.cert.read_text())
    facts = parse_certificate(der)
    assert facts.not_after == cert.not_valid_after_utc
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    expected = [str(name.value) for name in san]
    assert list(facts.names) == expected
    if kind == "far_future":  # 2050 and later are GeneralizedTime, not UTCTime
        assert facts.not_after == dt.datetime(2060, 1, 1, tzinfo=dt.UTC)


def test_critical_days_cannot_exceed_warn_days() -> None:
    with pytest.raises(ValidationError, match="critical_days must not be more than warn_days"):
        monitor(443, warn_days=5, critical_days=10)


def test_target() -> None:
    assert monitor(8443).target() == "127.0.0.1:8443 (localhost)"
    assert monitor(443, server_name=None).target() == "127.0.0.1:443"
