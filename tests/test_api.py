"""The JSON API, /healthz, /metrics, push pings and auth, against a running service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lightkeeper.config import parse_config
from lightkeeper.service import Service
from lightkeeper.web import create_app
from tests.conftest import Target, free_port

pytestmark = pytest.mark.integration

PUSH_TOKEN = "job-token-0123456789abcdef"


def config_text(target: Target, closed_port: int, auth: str = "none") -> str:
    return f"""
auth: {auth}
monitors:
  - {{name: web, type: http, url: "{target.url}", interval: 1s, timeout: 1s, failures_before_down: 1}}
  - {{name: api, type: http, url: "{target.url}", interval: 1s, timeout: 1s, critical: true}}
  - {{name: closed, type: tcp, host: 127.0.0.1, port: {closed_port}, interval: 1s, timeout: 1s,
      failures_before_down: 1}}
  - {{name: nightly, type: push, token: {PUSH_TOKEN}, period: 1h, grace: 10m}}
"""


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {value!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def running(target: Target, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[Service] = []

    async def start(auth: str = "none") -> tuple[Service, httpx.AsyncClient]:
        text = config_text(target, free_port(), auth).replace(
            "monitors:", f"store: {{url: 'sqlite:///{tmp_path}/api.db'}}\nmonitors:", 1
        )
        service = Service(parse_config(text, "api.yaml", {}))
        await service.start()
        started.append(service)
        app = create_app(service, manage=False)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lk")
        return service, client

    yield start
    for service in started:
        await service.stop()


async def test_status_monitors_and_detail(running: Callable[..., Any], target: Target) -> None:
    service, client = await running()
    await until(lambda: service.monitors["closed"].row.state.value == "down")
    await until(lambda: service.monitors["web"].row.state.value == "up")

    r = await client.get("/api/v1/status")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded"  # one non-critical monitor down
    assert body["monitors"][0]["name"] == "closed"  # worst first
    assert body["monitors"][0]["reason"] == "connection refused"

    target.mode = "fail"
    await until(lambda: service.monitors["api"].row.state.value == "down")
    r = await client.get("/api/v1/status")
    assert r.status_code == 503 and r.json()["status"] == "unhealthy"  # a critical one is down

    r = await client.get("/api/v1/monitors", params={"state": "down"})
    names = {m["name"] for m in r.json()["items"]}
    assert names == {"closed", "web", "api"}
    r = await client.get("/api/v1/monitors", params={"q": "WE"})
    assert [m["name"] for m in r.json()["items"]] == ["web"]
    r = await client.get("/api/v1/monitors", params={"per_page": 2, "page": 2})
    page = r.json()
    assert page["total"] == 4 and page["pages"] == 2 and len(page["items"]) == 2
    r = await client.get("/api/v1/monitors", params={"state": "sideways"})
    assert r.status_code == 422

    await service.writer.flush()
    await service.refresh_uptime()
    r = await client.get("/api/v1/monitors/web", params={"limit": 5})
    detail = r.json()
    assert detail["state"] == "down" and detail["reason"] == "status 500, expected 2xx or 3xx"
    assert 1 <= len(detail["results"]) <= 5
    assert detail["results"][0]["state"] == "down"
    assert 0.0 <= detail["uptime"]["24h"] < 1.0 and set(detail["uptime"]) == {"24h", "7d", "30d"}
    r = await client.get("/api/v1/monitors/nope")
    assert r.status_code == 404 and "no monitor named 'nope'" in r.json()["detail"]


async def test_healthz_metrics_and_openapi(running: Callable[..., Any]) -> None:
    service, client = await running()
    await until(lambda: service.monitors["closed"].row.state.value == "down")
    await service.writer.flush()
    await service.refresh_uptime()
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["store"]["ok"] is True and r.json()["store"]["backend"] == "sqlite"
    metrics = (await client.get("/metrics")).text
    assert 'lightkeeper_monitor_up{monitor="closed",type="tcp"} 0.0' in metrics
    assert 'lightkeeper_monitor_up{monitor="web",type="http"} 1.0' in metrics
    assert (
        'lightkeeper_monitor_uptime_ratio{monitor="closed",type="tcp",window="24h"} 0.0' in metrics
    )
    assert "lightkeeper_monitor_latency_seconds{" in metrics
    assert "lightkeeper_health 1.0" in metrics
    spec = (await client.get("/openapi.json")).json()
    assert {"/api/v1/status", "/api/v1/monitors", "/api/v1/monitors/{name}", "/healthz"} <= set(
        spec["paths"]
    )
    assert (await client.get("/docs")).status_code == 200


async def test_push_pings(running: Callable[..., Any]) -> None:
    service, client = await running()
    assert service.monitors["nightly"].row.state.value == "pending"
    assert (await client.get(f"/ping/{PUSH_TOKEN}/start")).status_code == 200
    r = await client.post(f"/ping/{PUSH_TOKEN}")
    assert r.status_code == 200 and r.text == "OK\n"
    assert service.monitors["nightly"].row.state.value == "up"
    assert service.monitors["nightly"].row.latency_ms is not None  # run time from /start
    r = await client.get(f"/ping/{PUSH_TOKEN}/fail")
    assert service.monitors["nightly"].row.state.value == "down"
    assert service.monitors["nightly"].row.reason == "job reported failure"
    assert (await client.get("/ping/wrong-token")).status_code == 404
    assert (await client.get(f"/ping/{PUSH_TOKEN}/explode")).status_code == 404
    await service.writer.flush()
    saved = service.store.load_states()[service.monitors["nightly"].id]
    assert saved.last_ping_kind == "fail" and saved.last_start is not None


async def test_token_auth(running: Callable[..., Any]) -> None:
    service, client = await running(auth="token")
    r = await client.get("/api/v1/status")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "lightkeeper token create" in r.json()["detail"]
    token = service.store.create_token("ci", 0.0)
    r = await client.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 503)
    # public routes stay open
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/status")).status_code == 200
    assert (await client.get(f"/ping/{PUSH_TOKEN}")).status_code == 200
    # the dashboard sends people to the login page, which sets a cookie
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await client.post("/login", data={"token": "lk_wrong"})
    assert r.status_code == 401
    r = await client.post("/login", data={"token": token})
    assert r.status_code == 303
    assert "httponly" in r.headers["set-cookie"].lower()
    r = await client.get("/")
    assert r.status_code == 200 and "web" in r.text
