"""The alerting API: active alerts with why they are muted, and silences."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lightkeeper.config import parse_config
from lightkeeper.service import Service
from lightkeeper.web import create_app
from tests.conftest import Target

pytestmark = pytest.mark.integration


@pytest.fixture
async def running(
    target: Target, tmp_path: Path
) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    text = f"""
store: {{url: "sqlite:///{tmp_path}/a.db"}}
scheduler: {{write_interval: 200ms}}
monitors:
  - {{name: web, type: http, url: "{target.url}", interval: 1s, failures_before_down: 1}}
alerts:
  - {{name: web-down, severity: critical, expr: 'monitor_down{{monitor="web"}} == 1'}}
  - {{name: web-slow, severity: warning, expr: 'max(probe_latency_ms) over 1m > 100000'}}
"""
    service = Service(parse_config(text, "a.yaml", {}))
    await service.start()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service, manage=False)), base_url="http://lk"
    )
    yield service, client
    await service.stop()


async def until_firing(client: httpx.AsyncClient) -> list[dict[str, object]]:
    for _ in range(200):
        items = (await client.get("/api/v1/alerts", params={"state": "firing"})).json()["items"]
        if items:
            return list(items)
        await asyncio.sleep(0.05)
    raise AssertionError("no alert fired")


async def test_alerts_and_silences(
    running: tuple[Service, httpx.AsyncClient], target: Target
) -> None:
    _, client = running
    assert (await client.get("/api/v1/alerts")).json()["items"] == []
    target.mode = "fail"
    [alert] = await until_firing(client)
    assert alert["rule"] == "web-down" and alert["severity"] == "critical"
    assert alert["value"] == 1.0 and alert["threshold"] == 1.0 and alert["muted"] is None
    assert alert["labels"] == {
        "monitor": "web",
        "type": "http",
        "alertname": "web-down",
        "severity": "critical",
    }

    r = await client.post(
        "/api/v1/silences",
        json={
            "matchers": ["alertname=web-down"],
            "duration": "1h",
            "author": "ana",
            "comment": "deploying",
        },
    )
    assert r.status_code == 201
    silence_id = r.json()["id"]
    [alert] = (await client.get("/api/v1/alerts")).json()["items"]
    assert alert["muted"] == f"silenced by #{silence_id} (ana: deploying)"
    [listed] = (await client.get("/api/v1/silences")).json()["items"]
    assert listed["matchers"] == ["alertname=web-down"] and listed["author"] == "ana"

    assert (await client.delete(f"/api/v1/silences/{silence_id}")).status_code == 200
    assert (await client.delete(f"/api/v1/silences/{silence_id}")).status_code == 404
    assert (await client.get("/api/v1/silences")).json()["items"] == []
    assert len((await client.get("/api/v1/silences", params={"all": True})).json()["items"]) == 1
    [alert] = (await client.get("/api/v1/alerts")).json()["items"]
    assert alert["muted"] is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"matchers": ["nope"], "duration": "1h", "author": "a", "comment": "c"},
            "is not a matcher",
        ),
        ({"matchers": ["a=b"], "author": "a", "comment": "c"}, "give duration"),
        (
            {"matchers": ["a=b"], "duration": "soon", "author": "a", "comment": "c"},
            "not a duration",
        ),
        ({"matchers": [], "duration": "1h", "author": "a", "comment": "c"}, "at least 1"),
        (
            {"matchers": ["a=b"], "duration": "1h", "author": "a", "comment": "c", "x": 1},
            "Extra inputs",
        ),
    ],
)
async def test_bad_silences_are_422(
    running: tuple[Service, httpx.AsyncClient], body: dict[str, object], fragment: str
) -> None:
    _, client = running
    r = await client.post("/api/v1/silences", json=body)
    assert r.status_code == 422
    assert fragment in r.text
