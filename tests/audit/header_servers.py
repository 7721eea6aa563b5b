"""Real HTTP and HTTPS servers on 127.0.0.1 that serve the header sets of the Observatory's
test outcomes, one scenario per URL path (``/<scenario>/``).

A private CA (made with ``cryptography``) signs the certificate of the trusted HTTPS server
(for 127.0.0.1 and localhost); a second CA that nobody trusts signs the certificate of the
"bad" HTTPS server, for the invalid-certificate outcomes. The http:// server redirects each
scenario as the scenario says (to https on the same host, via another http URL, to another
host, to the untrusted server, or not at all).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port

PAGE = "<!doctype html><html><head><title>t</title></head><body>ok</body></html>"
BASELINE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("Strict-Transport-Security", "max-age=63072000"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


class _Server(ThreadingHTTPServer):
    # Both scanners open a hundred connections at once; the default backlog of 5 drops some.
    request_queue_size = 512
    daemon_threads = True


@dataclass(frozen=True)
class Scenario:
    """What the site does for one scenario.

    ``headers`` go on the page (and on its OPTIONS answer, plus ``cors``; ``cors="echo"``
    echoes the request's Origin with credentials). ``http`` is what http:// does: "https"
    (301 to https, same host), "serve" (serves the page), "http-only" (301 to another http
    URL that serves the page), "http-hop" (301 to http, then 301 to https), "off-host"
    (301 to https://localhost), "bad-cert" (301 to the untrusted https server), "loop"
    (301 to itself forever). ``https`` is "good", "bad" or "closed"; ``http_server`` "open"
    or "closed"; ``host`` the host name scanned; ``options_status`` the status of the
    OPTIONS answer.
    """

    headers: tuple[tuple[str, str], ...] = BASELINE_HEADERS
    body: str = PAGE
    content_type: str = "text/html; charset=utf-8"
    http: str = "https"
    https: str = "good"
    http_server: str = "open"
    host: str = "127.0.0.1"
    cors: tuple[tuple[str, str], ...] | str = ()
    options_status: int = 204


def with_headers(
    drop: tuple[str, ...] = (), add: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    """The baseline headers without those named in ``drop`` (case-insensitive), plus ``add``."""
    low = {d.lower() for d in drop}
    return tuple((k, v) for k, v in BASELINE_HEADERS if k.lower() not in low) + add


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path
    bad_cert: Path
    bad_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    """A trusted CA and server certificate, and a server certificate from an unknown CA."""
    directory.mkdir(parents=True, exist_ok=True)
    for label in ("good", "bad"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _issue(f"Lightkeeper test CA ({label})", ca_key, f"Lightkeeper test CA ({label})",
                    ca_key, True)  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue("127.0.0.1", key, f"Lightkeeper test CA ({label})", ca_key, False)
        pem = serialization.Encoding.PEM
        (directory / f"{label}-ca.pem").write_bytes(ca.public_bytes(pem))
        (directory / f"{label}-cert.pem").write_bytes(cert.public_bytes(pem))
        (directory / f"{label}-key.pem").write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return Pki(
        ca=directory / "good-ca.pem",
        cert=directory / "good-cert.pem",
        key=directory / "good-key.pem",
        bad_cert=directory / "bad-cert.pem",
        bad_key=directory / "bad-key.pem",
    )


@dataclass
class Site:
    """The three servers (http, trusted https, untrusted https) and a closed port."""

    scenarios: dict[str, Scenario]
    pki: Pki
    http_port: int = 0
    https_port: int = 0
    bad_https_port: int = 0
    closed_port: int = field(default_factory=free_port)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def start(self) -> Site:
        self.http_port = self._serve("http", None)
        self.https_port = self._serve("https", (self.pki.cert, self.pki.key))
        self.bad_https_port = self._serve("https", (self.pki.bad_cert, self.pki.bad_key))
        return self

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def ports_for(self, name: str) -> tuple[int, int]:
        """(http port, https port) to scan scenario ``name`` with."""
        s = self.scenarios[name]
        http = self.closed_port if s.http_server == "closed" else self.http_port
        https = {"good": self.https_port, "bad": self.bad_https_port, "closed": self.closed_port}
        return http, https[s.https]

    def url(self, name: str) -> str:
        http, _ = self.ports_for(name)
        return f"http://{self.scenarios[name].host}:{http}/{name}/"

    def _serve(self, scheme: str, cert: tuple[Path, Path] | None) -> int:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._answer(self, scheme, "GET")

            def do_OPTIONS(self) -> None:
                site._answer(self, scheme, "OPTIONS")

            def log_message(self, *args: object) -> None:
                pass

        server = _Server(("127.0.0.1", 0), Handler)
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        return int(server.server_address[1])

    def _answer(self, handler: BaseHTTPRequestHandler, scheme: str, method: str) -> None:
        parts = handler.path.split("?")[0].strip("/").split("/")
        scenario = self.scenarios.get(parts[0])
        rest = "/".join(parts[1:])
        if scenario is None:
            return self._send(handler, 404, [("Content-Type", "text/plain")], "not found")
        name = parts[0]
        host = handler.headers.get("Host", "127.0.0.1").rsplit(":", 1)[0]
        if scheme == "http":
            location = self._http_redirect(name, scenario, host, rest)
            if location is not None:
                return self._send(handler, 301, [("Location", location)], "")
        headers = [("Content-Type", scenario.content_type), *scenario.headers]
        if method == "OPTIONS":
            if scenario.cors == "echo":
                origin = handler.headers.get("Origin", "")
                headers += [("Access-Control-Allow-Origin", origin),
                            ("Access-Control-Allow-Credentials", "true")]  # fmt: skip
            else:
                headers += list(scenario.cors)
            return self._send(handler, scenario.options_status, headers, "")
        return self._send(handler, 200, headers, scenario.body)

    def _http_redirect(self, name: str, s: Scenario, host: str, rest: str) -> str | None:
        https = f"https://{host}:{self.ports_for(name)[1]}/{name}/"
        http = f"http://{host}:{self.http_port}/{name}"
        if s.http == "serve" or (s.http == "http-only" and rest == "final"):
            return None
        return {
            "https": https,
            "http-only": f"{http}/final",
            "http-hop": https if rest == "hop" else f"{http}/hop",
            "off-host": f"https://localhost:{self.https_port}/{name}/",
            "bad-cert": f"https://{host}:{self.bad_https_port}/{name}/",
            "loop": f"{http}/",
        }[s.http]

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: str
    ) -> None:
        data = body.encode()
        handler.send_response(status)
        for key, value in headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def running_site(scenarios: dict[str, Scenario], directory: Path) -> Iterator[Site]:
    """For a fixture: the servers for ``scenarios``, closed afterwards."""
    site = Site(scenarios, make_pki(directory)).start()
    try:
        yield site
    finally:
        site.close()
