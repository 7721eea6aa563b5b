"""The store fails while an event comes in: the answer is 503 with Retry-After (the SDK
keeps the event), the quota is given back, and the same event is taken once it is back."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from lightkeeper.config import parse_config
from lightkeeper.service import Service
from lightkeeper.web import create_app

KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
AUTH = {"X-Sentry-Auth": f"Sentry sentry_key={KEY}, sentry_version=7"}


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    text = f"""
store: {{url: "sqlite:///{tmp_path / "lk.db"}"}}
telemetry:
  projects:
    - {{name: web, id: 4, key: {KEY}, quota: {{errors: 1}}}}
"""
    service = Service(parse_config(text, "t.yaml", {}))
    await service.start()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service, manage=False)), base_url="http://lk"
    )
    yield service, client
    await client.aclose()
    await service.stop()


def envelope(event_id: str) -> bytes:
    event = json.dumps({"event_id": event_id, "message": "boom", "level": "error"})
    return f'{{"event_id":"{event_id}"}}\n{{"type":"event"}}\n{event}\n'.encode()


async def test_a_store_failure_is_a_503_that_costs_no_quota(
    running: tuple[Service, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, client = running
    telemetry = service.telemetry
    assert telemetry is not None
    real_write = telemetry._write

    def failing(*args: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(telemetry, "_write", failing)
    event_id = uuid.uuid4().hex
    r = await client.post("/api/4/envelope/", content=envelope(event_id), headers=AUTH)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert "database is locked" in r.json()["detail"]
    assert r.headers["X-Sentry-Error"] == r.json()["detail"]

    monkeypatch.setattr(telemetry, "_write", real_write)
    # The quota is one error a minute: the failed request did not use it up.
    r = await client.post("/api/4/envelope/", content=envelope(event_id), headers=AUTH)
    assert r.status_code == 200, r.text
    with service.store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT event_id FROM telemetry_events")).scalars().all()
    assert stored == [event_id]
