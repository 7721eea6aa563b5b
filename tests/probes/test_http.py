"""HTTP probe against a real stdlib HTTP server on loopback (plus HTTPS with a private CA)."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.http import HttpMonitor, HttpProbe
from lightkeeper.types import State

from .loopback import Pki, closed_port

pytestmark = pytest.mark.integration

SLOW_SECONDS = 0.3


class Handler(BaseHTTPRequestHandler):
    """Routes: one per situation a monitored app can be in."""

    def do_GET(self) -> None:
        route = self.path
        if route == "/healthy":
            self._send(200, {"status": "healthy", "checks": [{"name": "db", "ok": True}]})
        elif route == "/degraded":
            self._send(200, {"status": "degraded", "checks": [{"name": "db", "ok": False}]})
        elif route == "/error":
            self._send(500, "internal error")
        elif route == "/slow":
            time.sleep(SLOW_SECONDS)
            self._send(200, "ok")
        elif route == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/healthy")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/keyword":
            self._send(200, "All systems operational")
        elif route == "/headers":
            self._send(200, {"authorization": self.headers.get("Authorization")})
        else:
            self._send(404, "not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self._send(200, {"method": "POST", "body": self.rfile.read(length).decode()})

    def _send(self, status: int, payload: Any) -> None:
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(payload, str) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


def _serve(context: ssl.SSLContext | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    yield from _serve()


@pytest.fixture(scope="module")
def secure_web(pki: Pki) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.valid.cert, pki.valid.key)
    yield from _serve(context)


def monitor(url: str, **fields: Any) -> HttpMonitor:
    return HttpMonitor.model_validate({"name": "app", "type": "http", "url": url, **fields})


SCENARIOS = [
    # (route, extra config, state, reason)
    ("/healthy", {}, State.UP, "status 200"),
    ("/healthy", {"expect": {"status": 200, "json": {"$.status": "healthy"}}}, State.UP, None),
    ("/healthy", {"expect": {"json": {"$.checks[0].ok": True}}}, State.UP, None),
    ("/healthy", {"expect": {"json": {"$['status']": "healthy"}}}, State.UP, None),
    (
        "/degraded",
        {"expect": {"json": {"$.status": "healthy"}}},
        State.DOWN,
        "$.status is 'degraded', expected 'healthy'",
    ),
    (
        "/degraded",
        {"expect": {"json": {"$.checks[0].ok": True}}},
        State.DOWN,
        "$.checks[0].ok is false, expected true",
    ),
    (
        "/healthy",
        {"expect": {"json": {"$.version": "1.2"}}},
        State.DOWN,
        "$.version is missing",
    ),
    # JSON true is not the number 1, even though Python says True == 1.
    ("/healthy", {"expect": {"json": {"$.checks[0].ok": 1}}}, State.DOWN, "is true, expected 1"),
    ("/keyword", {"expect": {"json": {"$.status": "ok"}}}, State.DOWN, "body is not JSON"),
    ("/error", {}, State.DOWN, "status 500, expected 2xx or 3xx"),
    ("/error", {"expect": {"status": 200}}, State.DOWN, "status 500, expected 200"),
    ("/error", {"expect": {"status": [200, 204]}}, State.DOWN, "expected 200 or 204"),
    ("/error", {"expect": {"status": 500}}, State.UP, "status 500"),
    ("/redirect", {"expect": {"status": 200}}, State.UP, "status 200"),
    ("/redirect", {"follow_redirects": False}, State.UP, "status 302"),
    ("/redirect", {"follow_redirects": False, "expect": {"status": 200}}, State.DOWN, "302"),
    ("/keyword", {"expect": {"keyword": "operational"}}, State.UP, None),
    (
        "/keyword",
        {"expect": {"keyword": "healthy"}},
        State.DOWN,
        "keyword 'healthy' not found in the body",
    ),
    ("/keyword", {"expect": {"keyword_absent": "All"}}, State.DOWN, "body contains 'All'"),
    ("/slow", {"expect": {"max_latency": "100ms"}}, State.DEGRADED, "expected at most 100 ms"),
    ("/slow", {"expect": {"max_latency": "5s"}}, State.UP, None),
    (
        "/error",
        {"expect": {"status": 200, "keyword": "fine"}},
        State.DOWN,
        "status 500, expected 200; keyword 'fine' not found in the body",
    ),
    (
        "/anything",
        {"method": "post", "body": "ping", "expect": {"keyword": '"ping"'}},
        State.UP,
        None,
    ),
]


@pytest.mark.parametrize(("route", "fields", "state", "reason"), SCENARIOS)
async def test_scenarios(
    web: str,
    ctx: ProbeContext,
    route: str,
    fields: dict[str, Any],
    state: State,
    reason: str | None,
) -> None:
    result = await HttpProbe(monitor(web + route, **fields), ctx).check()
    assert result.state == state, result.reason
    if reason is not None:
        assert reason in result.reason
    assert result.latency_ms is not None
    assert result.latency_ms > 0


async def test_slow_reason_reports_both_numbers(web: str, ctx: ProbeContext) -> None:
    probe = HttpProbe(monitor(web + "/slow", expect={"max_latency": "100ms"}), ctx)
    result = await probe.check()
    assert result.state == State.DEGRADED
    assert result.reason.startswith("slow: ")
    assert result.latency_ms is not None
    assert result.latency_ms >= SLOW_SECONDS * 1000
    assert result.reason == f"slow: {result.latency_ms:.0f} ms, expected at most 100 ms"
    assert result.metrics["status_code"] == 200


async def test_headers_are_sent_and_never_shown(web: str, ctx: ProbeContext) -> None:
    token = "Bearer hunter2-very-secret"
    config = monitor(web + "/headers", headers={"Authorization": token})
    result = await HttpProbe(config, ctx).check()
    assert result.state == State.UP
    assert token not in repr(config)
    failing = monitor(f"http://127.0.0.1:{closed_port()}/", headers={"Authorization": token})
    assert token not in str(await HttpProbe(failing, ctx).check())


async def test_connection_refused(ctx: ProbeContext) -> None:
    result = await HttpProbe(monitor(f"http://127.0.0.1:{closed_port()}/"), ctx).check()
    assert result.state == State.DOWN
    assert result.reason == "connection refused"


async def test_hanging_server_times_out_within_the_timeout(
    silent_port: int, ctx: ProbeContext
) -> None:
    config = monitor(f"http://127.0.0.1:{silent_port}/", timeout="500ms")
    started = time.monotonic()
    result = await HttpProbe(config, ctx).check()
    assert time.monotonic() - started < 0.5 + 0.5
    assert result.state == State.DOWN
    assert result.reason == "timed out after 500ms"


async def test_https_with_private_ca(secure_web: str, pki: Pki, ctx: ProbeContext) -> None:
    trusted = monitor(secure_web + "/healthy", ca_file=str(pki.ca_file))
    assert (await HttpProbe(trusted, ctx).check()).state == State.UP
    untrusted = await HttpProbe(monitor(secure_web + "/healthy"), ctx).check()
    assert untrusted.state == State.DOWN
    assert untrusted.reason.startswith("TLS: certificate not trusted")
    unverified = monitor(secure_web + "/healthy", verify_tls=False)
    assert (await HttpProbe(unverified, ctx).check()).state == State.UP


async def test_missing_ca_file(web: str, ctx: ProbeContext) -> None:
    result = await HttpProbe(monitor(web + "/healthy", ca_file="/nonexistent/ca.pem"), ctx).check()
    assert result.state == State.DOWN
    assert result.reason == "cannot load ca_file /nonexistent/ca.pem: No such file or directory"


def test_target_hides_credentials() -> None:
    config = monitor("https://user:pw123@example.com/health?token=abc&x=1")
    assert config.target() == "https://user:***@example.com/health?token=***&x=1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"expect": {"json": {"$..status": "x"}}}, "JSONPath"),
        ({"expect": {"json": {"status": "x"}}}, "must start with '$'"),
        ({"expect": {"status": 999}}, "not an HTTP status code"),
        ({"expect": {"status": []}}, "status list is empty"),
        ({"expect": {"max_latency": "fast"}}, "not a duration"),
        ({"expect": {"statuss": 200}}, "Extra inputs are not permitted"),
        ({"url": "ftp://example.com"}, "String should match pattern"),
        ({"url": "http://example.com:port/"}, "not a valid URL: Invalid port: 'port'"),
        ({"url": "http://"}, "the URL has no host"),
    ],
)
def test_invalid_config_is_rejected(fields: dict[str, Any], message: str) -> None:
    config = {"name": "app", "type": "http", "url": "http://example.com", **fields}
    with pytest.raises(ValidationError, match=re.escape(message)):
        HttpMonitor.model_validate(config)


async def test_cookies_from_one_check_never_reach_another(ctx: ProbeContext) -> None:
    """Monitors share pooled clients; a cookie a target sets must not be sent back."""
    from tests.conftest import Target

    seen: list[str | None] = []
    target = Target()
    original = target.server.RequestHandlerClass.do_GET

    def do_get(handler: Any) -> None:
        seen.append(handler.headers.get("Cookie"))
        handler.send_response(200)
        handler.send_header("Set-Cookie", "session=abc123; Path=/")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    target.server.RequestHandlerClass.do_GET = do_get  # type: ignore[method-assign]
    try:
        # The same name lands in the same pooled client, as a second check of it would.
        probe = HttpProbe(HttpMonitor(name="web", type="http", url=target.url), ctx)
        for _ in range(2):
            assert (await probe.check()).state is State.UP
        assert seen == [None, None]
    finally:
        target.server.RequestHandlerClass.do_GET = original  # type: ignore[method-assign]
        target.close()
