"""Real receivers on 127.0.0.1 for notification tests: a JSON webhook, an SMTP server
(aiosmtpd), and a fake PagerDuty Events API v2 (a recorded contract: PagerDuty cannot
run here, so Apprise's PagerDuty plugin is pointed at a local receiver)."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port, reused_store_url


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class WebhookReceiver:
    """Records every POST. ``status`` is what it answers (200, 500, 400 …); ``stop()``
    closes the port (connection refused) and ``start()`` opens it again, same port."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.port = free_port()
        self.status = 200
        self.answer = answer or {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.requests]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.status
                # Only what was accepted counts as received: a 500 is a failed delivery.
                if status < 300:
                    with receiver._lock:
                        receiver.requests.append(
                            Received(self.path, dict(self.headers), json.loads(raw or b"{}"))
                        )
                answer = json.dumps(receiver.answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SmtpReceiver:
    """An aiosmtpd server that accepts everything and keeps the parsed messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
                receiver.envelopes.append(envelope)
                content = envelope.original_content or b""
                parsed = email.message_from_bytes(content, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                receiver.messages.append(parsed)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self, to: str = "ops@example.com") -> str:
        # A plain SMTP server on a custom port, no login: mailto:// (not mailtos) is
        # unencrypted, the host has no user so `from` is needed, and mode=insecure says
        # no STARTTLS (Apprise's e-mail plugin, plugins/email/base.py).
        return f"mailto://127.0.0.1:{self.port}?from=lightkeeper@example.com&to={to}&mode=insecure"

    def text(self, index: int = -1) -> str:
        """Every text part of one message, decoded (Apprise sends HTML for Markdown)."""
        message = self.messages[index]
        parts = [p for p in message.walk() if p.get_content_maintype() == "text"]
        return "\n".join(str(p.get_content()) for p in parts)

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """As the suite-wide fixture (both backends), with the PostgreSQL database shared."""
    return reused_store_url(request, tmp_path, "outbox")


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def fake_pagerduty(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """PagerDuty's Events API v2 as documented: POST /v2/enqueue answers 202 with the
    dedup key. Apprise's plugin has the endpoint in a module table; it is pointed here."""
    from apprise.plugins import pagerduty

    receiver = WebhookReceiver(answer={"status": "success", "message": "Event processed"})
    receiver.status = 202
    local = f"http://127.0.0.1:{receiver.port}/v2/enqueue"
    monkeypatch.setitem(pagerduty.PAGERDUTY_API_LOOKUP, "us", local)
    monkeypatch.setitem(pagerduty.PAGERDUTY_API_LOOKUP, "eu", local)
    yield receiver
    receiver.stop()
