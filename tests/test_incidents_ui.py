"""The incidents pages on a real service: the list and the incident's page render what
happened; Acknowledge, Resolve and notes are forms that redirect back and remember the
name; errors come back on the page; the alerts page shows who is on call; the login gate."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lightkeeper.service import Service
from tests.conftest import Target
from tests.test_incidents_api import TITLE, Harness, incidents, until_async

pytestmark = pytest.mark.integration


def row(html: str, incident_id: int) -> str:
    match = re.search(rf'<tr class="incident" data-id="{incident_id}".*?</tr>', html, re.S)
    assert match, f"no row for incident {incident_id}"
    return match.group(0)


def kinds(html: str) -> list[str]:
    return re.findall(r'<li class="event [^"]*" data-kind="([a-z_]+)"', html)


def button(html: str, label: str) -> str:
    match = re.search(rf"<button[^>]*>{label}</button>", html)
    assert match, f"no {label} button"
    return match.group(0)


@pytest.fixture
async def lk(target: Target, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(target, tmp_path)
    yield harness
    await harness.close()


@pytest.fixture
async def opened(lk: Harness, target: Target) -> tuple[Service, httpx.AsyncClient]:
    service, http = await lk.start()
    target.mode = "fail"
    await until_async(lambda: incidents(http))
    return service, http


async def test_the_list_and_the_incident_page(opened: tuple[Service, httpx.AsyncClient]) -> None:
    _, http = opened
    r = await http.get("/ui/incidents")
    assert r.status_code == 200
    listed = row(r.text, 1)
    assert 'data-state="open"' in listed and TITLE in listed
    assert 'href="/ui/incidents/1"' in listed and "waiting" in listed and "<td>ana</td>" in listed
    assert "1 open" in r.text and "0 acknowledged" in r.text
    assert 'hx-trigger="every 3s"' in r.text  # live, like /ui/alerts
    assert '<a href="/ui/incidents">Incidents</a>' in r.text  # in the nav
    assert (
        'data-rotation="primary"><strong>ana</strong> <span class="tag">override</span>' in r.text
    )

    r = await http.get("/ui/incidents/1")
    assert r.status_code == 200
    assert '<span class="state-pill incident-open" data-state="open">open</span>' in r.text
    assert kinds(r.text) == ["opened", "alert_fired", "paged"]
    assert "paged ana via ana-hook" in r.text
    assert 'data-rule="site-down" data-state="firing"' in r.text
    assert 'href="/runbooks/site-down"' in r.text
    assert "disabled" not in button(r.text, "Acknowledge")
    assert 'name="by" value=""' in r.text  # nobody known yet: no cookie, no login

    assert (await http.get("/ui/incidents/99")).status_code == 404
    assert (await http.post("/ui/incidents/99/ack", data={"by": "ana"})).status_code == 404


async def test_the_forms_act_and_remember_the_name(
    opened: tuple[Service, httpx.AsyncClient],
) -> None:
    _, http = opened
    r = await http.post("/ui/incidents/1/notes", data={"by": "ana", "text": "looking at it"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/incidents/1"
    page = (await http.get("/ui/incidents/1")).text
    assert kinds(page)[-1] == "note" and "looking at it" in page
    assert 'name="by" value="ana"' in page  # remembered

    # a name a cookie could not hold as it is, and a note typed before pressing Acknowledge
    name = "Zoë Ødegård; ops"
    r = await http.post("/ui/incidents/1/ack", data={"by": name, "text": "paging the DBA"})
    assert r.status_code == 303
    page = (await http.get("/ui/incidents/1")).text
    assert 'data-state="acknowledged"' in page and f"by <strong>{name}</strong>" in page
    assert kinds(page)[-2:] == ["acknowledged", "note"] and "paging the DBA" in page
    assert f'name="by" value="{name}"' in page
    assert "disabled" in button(page, "Acknowledge")

    r = await http.post("/ui/incidents/1/ack", data={"by": "ben", "text": "mine"})
    assert r.status_code == 409 and 'role="alert"' in r.text
    assert f"already acknowledged by {name}" in r.text
    assert ">mine</textarea>" in r.text and 'value="ben"' in r.text  # what was typed is kept

    r = await http.post("/ui/incidents/1/resolve", data={"by": "ana"})
    assert r.status_code == 303
    page = (await http.get("/ui/incidents/1")).text
    assert 'data-state="resolved"' in page and "disabled" in button(page, "Resolve")
    listed = await http.get("/ui/incidents")
    assert 'data-state="resolved"' in row(listed.text, 1) and "0 open" in listed.text
    assert "last 30 days: 1 incident · MTTA" in listed.text


@pytest.mark.parametrize(
    ("action", "form", "error"),
    [
        ("notes", {"by": "", "text": "x"}, "say who you are"),
        ("notes", {"by": "ana", "text": "  "}, "a note needs some text"),
        ("ack", {"by": "   "}, "say who you are"),
    ],
)
async def test_a_bad_form_comes_back_with_the_error(
    opened: tuple[Service, httpx.AsyncClient], action: str, form: dict[str, str], error: str
) -> None:
    _, http = opened
    r = await http.post(f"/ui/incidents/1/{action}", data=form)
    assert r.status_code == 422 and error in r.text and 'role="alert"' in r.text
    assert (await http.get("/api/v1/incidents/1")).json()["state"] == "open"


async def test_the_alerts_page_says_who_is_on_call(lk: Harness) -> None:
    _, http = await lk.start()
    r = await http.get("/ui/alerts")
    assert r.status_code == 200 and "On call now" in r.text
    box = re.search(r'<aside class="oncall-box".*?</aside>', r.text, re.S)
    assert box and "<strong>ana</strong>" in box.group(0) and "until" in box.group(0)


async def test_the_login_gate(lk: Harness, target: Target) -> None:
    service, http = await lk.start(auth="token")
    for path in ("/ui/incidents", "/ui/incidents/1"):
        r = await http.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await http.get("/ui/incidents", headers={"hx-request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"
    target.mode = "fail"
    token = service.store.create_token("carol", 0.0)
    api: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}}
    await until_async(lambda: _listed(http, api))
    r = await http.post("/ui/incidents/1/ack", data={"by": "eve"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (await http.get("/api/v1/incidents/1", **api)).json()["state"] == "open"

    assert (await http.post("/login", data={"token": token})).status_code == 303
    r = await http.get("/ui/incidents/1")
    assert r.status_code == 200 and 'name="by" value="carol"' in r.text  # who is logged in


async def _listed(http: httpx.AsyncClient, api: dict[str, Any]) -> bool:
    r = await http.get("/api/v1/incidents", **api)
    return bool(r.json()["items"])
