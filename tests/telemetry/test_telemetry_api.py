"""The telemetry API on a real service and store (SQLite and PostgreSQL): projects with the
DSN's key masked, issues listed, filtered and paged, one issue with its tags, hours and
events, status changes with their 400/404, performance, the token, and 404 when no
telemetry is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lightkeeper.clock import ManualClock
from lightkeeper.config import parse_config
from lightkeeper.rules.signals import SignalStore
from lightkeeper.service import Service
from lightkeeper.telemetry.signals import TelemetrySignals
from lightkeeper.web import create_app
from tests.conftest import reused_store_url
from tests.telemetry.test_queries import (
    API,
    NOW,
    TABLES,
    WEB,
    issue_id,
    sentry_event,
    store_events,
    store_signals,
    traffic,
)

pytestmark = pytest.mark.integration


def config(url: str, auth: str = "none", telemetry: bool = True) -> str:
    projects = f"""
telemetry:
  projects:
    - {{name: {WEB.name}, id: {WEB.id}, key: {WEB.key}}}
    - {{name: {API.name}, id: {API.id}, key: {API.key}}}
"""
    return f"""
auth: {auth}
store: {{url: "{url}"}}
server: {{public_url: "https://lk.example.com/watch/"}}
{projects if telemetry else ""}
"""


Start = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgresql"])
async def start(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Start]:
    """``await start(auth=…, telemetry=…)`` → (service, client); the store is migrated."""
    url = reused_store_url(request, tmp_path, f"{TABLES}, api_tokens")
    services: list[Service] = []

    async def make(**options: Any) -> tuple[Service, httpx.AsyncClient]:
        service = Service(parse_config(config(url, **options), "t.yaml", {}), ManualClock(NOW))
        service.open()
        services.append(service)
        transport = httpx.ASGITransport(app=create_app(service, manage=False))
        return service, httpx.AsyncClient(transport=transport, base_url="http://lk")

    yield make
    for service in services:
        service.store.close()


@pytest.fixture
async def lk(start: Start) -> tuple[Service, httpx.AsyncClient]:
    service, http = await start()
    store_events(
        service.store,
        [sentry_event(ts=NOW - 100 + i, user=f"u{i}") for i in range(3)]
        + [sentry_event("TimeoutError", "upstream <b>timed</b> out", environment="staging")],
    )
    store_events(service.store, [sentry_event("OSError", "disk full")], API)
    return service, http


async def get(http: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await http.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_projects(lk: tuple[Service, httpx.AsyncClient]) -> None:
    _, http = lk
    body = await get(http, "/api/v1/telemetry/projects")
    web, api = body["projects"]
    assert web["name"] == "web" and web["id"] == 1
    assert (web["events"], web["issues"]) == (4, 2) and web["stored_bytes"] > 0
    assert web["dsn"] == "https://***@lk.example.com/watch/1"
    assert api["dsn"] == "https://***@lk.example.com/watch/2" and api["events"] == 1
    assert WEB.key not in str(body) and API.key not in str(body)  # the key is a secret


async def test_issues_list(lk: tuple[Service, httpx.AsyncClient]) -> None:
    _, http = lk
    body = await get(http, "/api/v1/telemetry/issues")
    assert body["project"] == "web" and body["total"] == 2 and body["pages"] == 1
    first = body["items"][0]
    assert first["title"] == "KeyError: 'answer'" and first["project"] == "web"
    assert (first["count"], first["users"], first["status"]) == (3, 3, "unresolved")
    assert set(first) >= {"culprit", "first_seen", "last_seen", "regressed", "level", "method"}

    def titles(b: Any) -> list[str]:
        return [i["title"] for i in b["items"]]

    found = await get(http, "/api/v1/telemetry/issues", q="TIMED", environment="staging")
    assert titles(found) == ["TimeoutError: upstream <b>timed</b> out"]
    found = await get(http, "/api/v1/telemetry/issues", sort="count", per_page=1, page=2)
    assert titles(found) == ["TimeoutError: upstream <b>timed</b> out"] and found["pages"] == 2
    found = await get(http, "/api/v1/telemetry/issues", project="api", release="web@1.4.0")
    assert titles(found) == ["OSError: disk full"] and found["project"] == "api"
    assert (await get(http, "/api/v1/telemetry/issues", status="ignored"))["items"] == []

    for params, message in [
        ({"status": "fixed"}, "status must be one of unresolved, resolved, ignored"),
        ({"sort": "title"}, "sort must be one of last_seen, first_seen, count"),
    ]:
        r = await http.get("/api/v1/telemetry/issues", params=params)
        assert r.status_code == 400 and r.json()["detail"].startswith(message)
    r = await http.get("/api/v1/telemetry/issues", params={"project": "nope"})
    assert r.status_code == 404
    assert r.json()["detail"] == "no telemetry project 'nope' (projects: web, api)"
    r = await http.get("/api/v1/telemetry/issues", params={"page": 0})
    assert r.status_code == 422


async def test_one_issue_and_its_events(lk: tuple[Service, httpx.AsyncClient]) -> None:
    service, http = lk
    key = issue_id(service.store, "KeyError")
    body = await get(http, f"/api/v1/telemetry/issues/{key}")
    assert body["id"] == key and body["project"] == "web" and body["count"] == 3
    assert body["method"] == "stacktrace" and body["components"][0] == "frame app.chat in answer"
    tags = {t["key"]: t for t in body["tags"]}
    assert tags["environment"]["values"][0] | {"first_seen": 0, "last_seen": 0} == {
        "value": "production",
        "count": 3,
        "first_seen": 0,
        "last_seen": 0,
    }
    assert sum(body["occurrences"]["counts"]) == 3 and len(body["occurrences"]["hours"]) == 336
    events = body["events"]
    assert [e["ts"] for e in events] == [NOW - 98, NOW - 99, NOW - 100]
    frames = events[0]["data"]["exception"]["values"][0]["stacktrace"]["frames"]
    assert [f["function"] for f in frames] == ["app", "answer", "json"]

    assert len((await get(http, f"/api/v1/telemetry/issues/{key}", events=1))["events"]) == 1
    page = await get(http, f"/api/v1/telemetry/issues/{key}/events", page=2, per_page=2)
    assert page["issue_id"] == key and (page["total"], page["pages"]) == (3, 2)
    assert [e["ts"] for e in page["items"]] == [NOW - 100]

    for path in ("/api/v1/telemetry/issues/999999", "/api/v1/telemetry/issues/999999/events"):
        r = await http.get(path)
        assert r.status_code == 404 and r.json()["detail"] == "no issue 999999"


async def test_status(lk: tuple[Service, httpx.AsyncClient]) -> None:
    service, http = lk
    key = issue_id(service.store, "KeyError")
    url = f"/api/v1/telemetry/issues/{key}/status"
    r = await http.post(url, json={"status": "resolved"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["resolved_at"]) == ("resolved", NOW)
    listed = await get(http, "/api/v1/telemetry/issues", status="resolved")
    assert [i["id"] for i in listed["items"]] == [key]

    # The next event reopens it: a regression.
    store_events(service.store, [sentry_event(ts=NOW)])
    again = await get(http, f"/api/v1/telemetry/issues/{key}")
    assert (again["status"], again["regressed"], again["regressions"]) == ("unresolved", True, 1)

    r = await http.post(url, json={"status": "ignored"})
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    r = await http.post(url, json={"status": "unresolved"})
    assert r.status_code == 200 and r.json()["status"] == "unresolved"

    r = await http.post(url, json={"status": "fixed"})
    assert r.status_code == 400
    assert r.json()["detail"] == (
        "status must be one of unresolved, resolved, ignored, not 'fixed'"
    )
    r = await http.post("/api/v1/telemetry/issues/999999/status", json={"status": "resolved"})
    assert r.status_code == 404 and r.json()["detail"] == "no issue 999999"
    assert (await http.post(url, json={})).status_code == 422


async def test_performance(lk: tuple[Service, httpx.AsyncClient]) -> None:
    service, http = lk
    signals = TelemetrySignals(SignalStore())
    traffic(signals)
    store_signals(service.store, signals)
    body = await get(http, "/api/v1/telemetry/performance")
    assert (body["project"], body["window"], body["step"]) == ("web", "1h", 60)
    assert body["totals"]["requests"] == 200 and len(body["series"]["t"]) == 60
    assert [r["route"] for r in body["routes"]] == ["/api/chat", "/health"]
    assert set(body["ai"]) == {"days", "users", "models"}
    week = await get(http, "/api/v1/telemetry/performance", project="web", window="7d")
    assert week["step"] == 3600 and len(week["series"]["t"]) == 168
    other = await get(http, "/api/v1/telemetry/performance", project="api", window="24h")
    assert other["totals"]["requests"] == 0 and other["routes"] == []
    r = await http.get("/api/v1/telemetry/performance", params={"window": "2h"})
    assert r.status_code == 400 and r.json()["detail"].startswith("window must be one of 1h")


async def test_a_token_is_needed(start: Start) -> None:
    service, http = await start(auth="token")
    for path in ("/api/v1/telemetry/projects", "/api/v1/telemetry/issues"):
        assert (await http.get(path)).status_code == 401
    assert (await http.post("/api/v1/telemetry/issues/1/status", json={})).status_code == 401
    token = service.store.create_token("ops", NOW)
    r = await http.get("/api/v1/telemetry/projects", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


async def test_not_configured(start: Start) -> None:
    _, http = await start(telemetry=False)
    for path in (
        "/api/v1/telemetry/projects",
        "/api/v1/telemetry/issues",
        "/api/v1/telemetry/issues/1",
        "/api/v1/telemetry/performance",
    ):
        r = await http.get(path)
        assert r.status_code == 404, path
        assert r.json()["detail"] == (
            "telemetry is not configured here: add telemetry.projects to the config"
        )
