"""The incidents API on a real service: a failing target's critical alert opens an incident
that pages whoever is on call through a JSON webhook on 127.0.0.1; ack, note and resolve
with their 404/409/422 answers; an acknowledged page does not escalate; MTTA/MTTR; on-call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lightkeeper.config import parse_config
from lightkeeper.service import Service
from lightkeeper.web import create_app
from tests.conftest import Target
from tests.receivers import Webhook

pytestmark = pytest.mark.integration
PUBLIC = "http://lk.test"
TITLE = "site-down: web is down [service=site]"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def incident_config(
    target_url: str,
    db: Path,
    ana: Webhook,
    ben: Webhook,
    escalate_after: str = "1h",
    auth: str = "none",
    api_rule: bool = False,
) -> str:
    """A failing ``web`` opens incidents paged to ana (an override holds the pager from a
    day ago until a day from now) and escalated to ben."""
    now = time.time()
    ends = float(int(now) + 86400)
    api = (
        """
  - name: api-down
    severity: critical
    expr: monitor_down{monitor="web"} == 1
    labels: {service: api}
"""
        if api_rule
        else ""
    )
    text = f"""
auth: {auth}
store: {{url: "sqlite:///{db}"}}
server: {{public_url: "{PUBLIC}"}}
scheduler: {{write_interval: 200ms}}
monitors:
  - {{name: web, type: http, url: "{target_url}", interval: 1s, timeout: 1s,
      failures_before_down: 1}}
channels:
  ana-hook: {{url: "json://127.0.0.1:{ana.port}/ana"}}
  ben-hook: {{url: "json://127.0.0.1:{ben.port}/ben"}}
alerts:
  - name: site-down
    severity: critical
    expr: monitor_down{{monitor="web"}} == 1
    labels: {{service: site}}
    annotations:
      summary: "{{{{ labels.monitor }}}} is down"
      runbook: runbooks/site-down.md
{api}
oncall:
  people:
    ana: {{channels: [ana-hook]}}
    ben: {{channels: [ben-hook]}}
  rotations:
    - name: primary
      tz: Europe/London
      handoff: weekly
      handoff_at: "09:00"
      people: [ana, ben]
      start: 2026-01-05
      escalate_after: {escalate_after}
      overrides:
        - {{person: ana, start: "{iso(ends - 2 * 86400)}", end: "{iso(ends)}"}}
incidents: {{group_by: [service]}}
"""
    return text


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        await asyncio.sleep(0.05)
    return value


async def until_async(predicate: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        await asyncio.sleep(0.05)
    return value


class Harness:
    """Services started on the test's target, with ana's and ben's webhooks."""

    def __init__(self, target: Target, tmp_path: Path) -> None:
        self.target, self.db = target, tmp_path / "i.db"
        self.ana, self.ben = Webhook(), Webhook()
        self.started: list[Service] = []

    async def start(self, **options: Any) -> tuple[Service, httpx.AsyncClient]:
        text = incident_config(self.target.url, self.db, self.ana, self.ben, **options)
        service = Service(parse_config(text, "i.yaml", {}))
        await service.start()
        self.started.append(service)
        transport = httpx.ASGITransport(app=create_app(service, manage=False))
        return service, httpx.AsyncClient(transport=transport, base_url="http://lk")

    async def close(self) -> None:
        for service in self.started:
            await service.stop()
        self.ana.close()
        self.ben.close()


@pytest.fixture
async def lk(target: Target, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(target, tmp_path)
    yield harness
    await harness.close()


async def incidents(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    r = await http.get("/api/v1/incidents", params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_an_incident_from_open_to_resolved(lk: Harness, target: Target) -> None:
    ana, ben = lk.ana, lk.ben
    _, http = await lk.start()
    assert await incidents(http) == []
    target.mode = "fail"
    [listed] = await until_async(lambda: incidents(http))
    assert (listed["id"], listed["state"], listed["title"]) == (1, "open", TITLE)
    assert listed["paged"] == ["ana"] and listed["labels"] == {"service": "site"}
    assert "events" not in listed  # the list leaves timelines out

    [page] = await until(lambda: ana.bodies)
    assert page["title"] == f"[INCIDENT #1] {TITLE}"
    assert f"{PUBLIC}/ui/incidents/1" in page["message"]

    one = (await http.get("/api/v1/incidents/1")).json()
    assert [e["kind"] for e in one["events"]] == ["opened", "alert_fired", "paged"]
    assert one["alerts"][0]["rule"] == "site-down" and one["acknowledged_at"] is None

    for method, path, body in [
        ("GET", "/api/v1/incidents/99", None),
        ("POST", "/api/v1/incidents/99/ack", {"by": "ana"}),
        ("POST", "/api/v1/incidents/99/resolve", {"by": "ana"}),
        ("POST", "/api/v1/incidents/99/notes", {"by": "ana", "text": "x"}),
    ]:
        r = await http.request(method, path, json=body)
        assert r.status_code == 404 and r.json()["detail"] == "no incident 99", path

    r = await http.post("/api/v1/incidents/1/ack", json={"by": "ana"})
    assert r.status_code == 200
    assert r.json()["state"] == "acknowledged" and r.json()["acknowledged_by"] == "ana"
    assert r.json()["events"][-1]["text"] == "acknowledged by ana"
    r = await http.post("/api/v1/incidents/1/ack", json={"by": "ben"})
    assert r.status_code == 409
    assert (
        r.json()["detail"]
        == "incident 1 was already acknowledged by ana; cannot acknowledge it again"
    )

    r = await http.post("/api/v1/incidents/1/notes", json={"by": "ana", "text": "restarting web"})
    assert r.status_code == 201
    assert r.json()["events"][-1] | {"at": 0} == {
        "at": 0,
        "kind": "note",
        "actor": "ana",
        "text": "restarting web",
        "data": {},
    }

    r = await http.post("/api/v1/incidents/1/resolve", json={"by": "ana"})
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    await until(lambda: len(ana.bodies) == 2)
    assert ana.bodies[1]["title"] == f"[RESOLVED] Incident #1 {TITLE}"
    for action in ("ack", "resolve"):
        r = await http.post(f"/api/v1/incidents/1/{action}", json={"by": "ben"})
        assert r.status_code == 409 and "already resolved (by ana)" in r.json()["detail"]
    # a note after the fact is fine: the post-mortem goes on the timeline
    r = await http.post("/api/v1/incidents/1/notes", json={"by": "ben", "text": "root cause: disk"})
    assert r.status_code == 201

    assert [i["id"] for i in await incidents(http, state="resolved")] == [1]
    assert await incidents(http, state="open") == []
    page_one = (await http.get("/api/v1/incidents", params={"limit": 1})).json()
    assert page_one["next_before"] == 1
    assert await incidents(http, before=1) == []

    stats = (await http.get("/api/v1/incidents/stats")).json()
    assert (stats["count"], stats["acknowledged"], stats["resolved"]) == (1, 1, 1)
    assert 0 <= stats["mtta"] <= stats["mttr"]
    assert stats["until"] - stats["since"] == 30 * 86400
    empty = (await http.get("/api/v1/incidents/stats", params={"until": 1000.0})).json()
    assert (empty["count"], empty["mtta"], empty["mttr"]) == (0, None, None)
    assert ben.bodies == []  # acknowledged within the hour: never escalated


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("notes", {"by": "ana", "text": ""}, "at least 1 character"),
        ("notes", {"by": "ana", "text": "   "}, "a note needs some text"),
        ("notes", {"by": "ana"}, "Field required"),
        ("ack", {"by": "ana", "comment": "x"}, "Extra inputs are not permitted"),
        ("ack", {"by": ""}, "at least 1 character"),
        ("ack", {"by": "   "}, "say who is acting"),
        ("ack", {}, 'say who is acting: send {\\"by\\"'),
        ("resolve", {"by": "x" * 129}, "at most 128 characters"),
    ],
)
async def test_bad_requests_are_422(
    lk: Harness, target: Target, path: str, body: dict[str, Any], fragment: str
) -> None:
    _, http = await lk.start()
    target.mode = "fail"
    await until_async(lambda: incidents(http))
    r = await http.post(f"/api/v1/incidents/1/{path}", json=body)
    assert r.status_code == 422 and fragment in r.text, r.text
    assert (await http.get("/api/v1/incidents/1")).json()["state"] == "open"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/incidents", {"state": "closed"}),
        ("/api/v1/incidents", {"limit": 0}),
        ("/api/v1/incidents", {"limit": 501}),
        ("/api/v1/incidents/stats", {"since": 200.0, "until": 100.0}),
        ("/api/v1/incidents/one", {}),
    ],
)
async def test_bad_queries_are_422(lk: Harness, path: str, params: dict[str, Any]) -> None:
    _, http = await lk.start()
    assert (await http.get(path, params=params)).status_code == 422


async def test_acknowledging_stops_escalation(lk: Harness, target: Target) -> None:
    """Two incidents (site, api) page ana; site is acknowledged at once, api is not: after
    2s only api's page reaches ben — the same escalation, due at the same time, stopped."""
    ana, ben = lk.ana, lk.ben
    _, http = await lk.start(escalate_after="2s", api_rule=True)
    target.mode = "fail"
    both = await until_async(lambda: _two(http))
    ids = {i["labels"]["service"]: i["id"] for i in both}
    r = await http.post(f"/api/v1/incidents/{ids['site']}/ack", json={"by": "ana"})
    assert r.status_code == 200 and r.json()["next_escalation_at"] is None

    [escalated] = await until(lambda: ben.bodies, timeout=10)
    assert escalated["title"].startswith(f"[INCIDENT #{ids['api']}] api-down")
    await asyncio.sleep(1.0)  # the site page was due at the same moment: it would be here
    assert [b["title"].split("]")[0] for b in ben.bodies] == [f"[INCIDENT #{ids['api']}"]
    assert len(ana.bodies) == 2  # each incident's first page

    site = (await http.get(f"/api/v1/incidents/{ids['site']}")).json()
    api = (await http.get(f"/api/v1/incidents/{ids['api']}")).json()
    assert site["paged"] == ["ana"] and "escalated" not in [e["kind"] for e in site["events"]]
    assert api["paged"] == ["ana", "ben"]
    [step] = [e for e in api["events"] if e["kind"] == "escalated"]
    assert step["text"] == "ana did not acknowledge within 2s: escalating to ben"


async def _two(http: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    found = await incidents(http)
    return found if len(found) == 2 else None


async def test_who_is_on_call(lk: Harness) -> None:
    service, http = await lk.start()
    override_end = service.config.oncall.rotations[0].overrides[0].end.timestamp()
    body = (await http.get("/api/v1/oncall")).json()
    [primary] = body["rotations"]
    assert primary["name"] == "primary" and primary["tz"] == "Europe/London"
    assert primary["pages_incidents"] is True and primary["escalate_after"] == 3600
    now = primary["now"]
    assert (now["person"], now["override"], now["channels"]) == ("ana", True, ["ana-hook"])
    assert now["ends_at"] == override_end
    first, second = primary["next"]
    assert first["starts_at"] == override_end and not first["override"]
    assert first["person"] in ("ana", "ben") and second["starts_at"] == first["ends_at"]
    assert second["person"] != first["person"]  # two people take turns
    [override] = primary["overrides"]
    assert override == {
        "person": "ana",
        "starts_at": override_end - 2 * 86400,
        "ends_at": override_end,
        "active": True,
    }
    assert abs(body["at"] - service.clock.now()) < 5


async def test_a_token_guards_the_api_and_names_who_acts(lk: Harness, target: Target) -> None:
    service, http = await lk.start(auth="token")
    assert (await http.get("/api/v1/incidents")).status_code == 401
    assert (await http.get("/api/v1/oncall")).status_code == 401
    assert (await http.post("/api/v1/incidents/1/ack", json={"by": "eve"})).status_code == 401
    token = service.store.create_token("carol", 0.0)
    http.headers["Authorization"] = f"Bearer {token}"
    target.mode = "fail"
    await until_async(lambda: incidents(http))
    r = await http.post("/api/v1/incidents/1/ack", json={})
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "carol"
