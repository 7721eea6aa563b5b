"""End to end: the app's requests fail more than 5 % of the time for longer than the rule's
`for` → the seed's error-rate alert fires at a real webhook receiver, once; the failures
stop → it resolves, once. Traffic arrives the way apps send it: Sentry envelopes (server
transactions and the error events of the failed ones) and app events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from lightkeeper.config import parse_config
from lightkeeper.service import Service
from lightkeeper.web import create_app
from tests.receivers import Webhook

pytestmark = pytest.mark.integration

KEY = "e2e0c1ab2e3d4c5b6a7988796a5b4c3d"
AUTH = {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={KEY}, sentry_client=e2e/1.0"}


def config(db: Path, hook: Webhook) -> str:
    # The example's rule (examples/learnwithavi/lightkeeper.yaml), with `for` shortened.
    return f"""
store: {{url: "sqlite:///{db}"}}
scheduler: {{write_interval: 200ms}}
telemetry:
  projects:
    - {{name: web, id: 3, key: {KEY}}}
channels:
  hook: {{url: "json://127.0.0.1:{hook.port}/alerts"}}
alerts:
  - name: error-rate-critical
    severity: critical
    expr: avg(http.error_rate{{route=""}}) over 1m > 0.05
    for: 2s
    annotations:
      summary: "error rate {{{{ value }}}} > {{{{ threshold }}}}"
routing:
  group_interval: 1s
  routes:
    - {{match: ["severity=critical"], channels: [hook]}}
"""


def envelope(requests: int, failed: int, now: float) -> bytes:
    """``requests`` server transactions, ``failed`` of them 500s each with its error event."""
    lines = [json.dumps({"sent_at": "2026-11-27T00:00:00Z"})]
    for i in range(requests):
        status = 500 if i < failed else 200
        tx = {
            "type": "transaction",
            "event_id": uuid.uuid4().hex,
            "transaction": "/api/chat",
            "start_timestamp": now - 0.12,
            "timestamp": now,
            "contexts": {
                "trace": {
                    "op": "http.server",
                    "status": "internal_error" if status == 500 else "ok",
                },
                "response": {"status_code": status},
            },
        }
        lines += [json.dumps({"type": "transaction"}), json.dumps(tx)]
        if status == 500:
            event = {
                "event_id": uuid.uuid4().hex,
                "timestamp": now,
                "level": "error",
                "exception": {"values": [{"type": "RuntimeError", "value": "model overloaded"}]},
            }
            lines += [json.dumps({"type": "event"}), json.dumps(event)]
    return ("\n".join(lines) + "\n").encode()


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Service, httpx.AsyncClient, Webhook]]:
    hook = Webhook()
    service = Service(parse_config(config(tmp_path / "lk.db", hook), "e2e.yaml", {}))
    await service.start()
    app = create_app(service, manage=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lk")
    try:
        yield service, client, hook
    finally:
        await client.aclose()
        await service.stop()
        hook.close()


async def send(client: httpx.AsyncClient, service: Service, requests: int, failed: int) -> None:
    body = envelope(requests, failed, service.clock.now())
    response = await client.post("/api/3/envelope/", content=body, headers=AUTH)
    assert response.status_code == 200, response.text


async def test_error_rate_over_5_percent_fires_once_and_resolves_once(
    running: tuple[Service, httpx.AsyncClient, Webhook],
) -> None:
    service, client, hook = running
    # 10 % of requests fail, for longer than `for` (2 s): fires once.
    for _ in range(16):
        await send(client, service, requests=20, failed=2)
        await asyncio.sleep(0.25)
    await wait_until(lambda: len(hook.bodies) >= 1)
    await asyncio.sleep(1.0)
    assert len(hook.bodies) == 1
    assert hook.bodies[0]["title"].startswith("[FIRING:1] error-rate-critical")
    assert "error rate 0.1 > 0.05" in hook.bodies[0]["message"]

    # The failures stop; healthy traffic brings the rate well under 5 %: resolves once.
    for _ in range(8):
        await send(client, service, requests=100, failed=0)
        await asyncio.sleep(0.2)
    await wait_until(lambda: len(hook.bodies) >= 2)
    await asyncio.sleep(1.0)
    assert len(hook.bodies) == 2
    assert hook.bodies[1]["title"] == "[RESOLVED] error-rate-critical"


async def test_errors_under_5_percent_fire_nothing(
    running: tuple[Service, httpx.AsyncClient, Webhook],
) -> None:
    service, client, hook = running
    for _ in range(16):
        await send(client, service, requests=50, failed=1)  # 2 %
        await asyncio.sleep(0.25)
    await asyncio.sleep(1.0)
    assert hook.bodies == []
    assert all(a.fired_at is None for a in service.alerting.engine.alerts.values())
