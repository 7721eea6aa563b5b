"""The alerts page: a failing target's alert shows, a silence made with the form mutes it
and is listed, expiring it unmutes it; bad input comes back as the form with the error."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lightkeeper.config import parse_config
from lightkeeper.rules.engine import Alert, AlertState, Severity
from lightkeeper.rules.mute import Silence, parse_matcher
from lightkeeper.service import Service
from lightkeeper.store import Store
from lightkeeper.web import create_app
from lightkeeper.web.alerts_ui import alert_rows, silence_rows, split_matchers
from tests.conftest import Target, free_port

RULES = """
alerts:
  - name: web-down
    severity: critical
    expr: monitor_down{monitor="web"} == 1
    labels: {service: site}
    annotations:
      summary: "{{ labels.monitor }} is down"
      runbook: runbooks/site-down.md
  - name: web-slow
    severity: warning
    expr: p95(probe_latency_ms{monitor="web"}) over 1m > 3000
    for: 5m
"""


def config_text(target_url: str, db: Path, auth: str = "none") -> str:
    return f"""
auth: {auth}
store: {{url: "sqlite:///{db}"}}
scheduler: {{write_interval: 200ms}}
monitors:
  - {{name: web, type: http, url: "{target_url}", interval: 1s, timeout: 1s,
      failures_before_down: 1}}
channels:
  hook: {{url: "json://127.0.0.1:{free_port()}/alerts"}}   # nobody listens: stays pending
routing:
  routes:
    - {{match: ["severity=critical"], channels: [hook], group_by: [alertname]}}
{RULES}"""


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        await asyncio.sleep(0.05)
    return value


def row(html: str, rule: str) -> str:
    """The <tr> of one alert on the page."""
    match = re.search(rf'<tr class="alert[^"]*" data-rule="{rule}".*?</tr>', html, re.S)
    assert match, f"no row for {rule} in the page"
    return match.group(0)


@pytest.fixture
async def running(target: Target, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[Service] = []

    async def start(auth: str = "none") -> tuple[Service, httpx.AsyncClient]:
        service = Service(
            parse_config(config_text(target.url, tmp_path / "ui.db", auth), "ui.yaml")
        )
        await service.start()
        started.append(service)
        app = create_app(service, manage=False)
        transport = httpx.ASGITransport(app=app)
        return service, httpx.AsyncClient(transport=transport, base_url="http://lk")

    yield start
    for service in started:
        await service.stop()


@pytest.mark.integration
async def test_alert_silence_and_expire(running: Callable[..., Any], target: Target) -> None:
    target.mode = "fail"
    service, http = await running()
    await until(lambda: any(a.state is AlertState.FIRING for a in service.alerting.engine.active()))

    r = await http.get("/ui/alerts")
    assert r.status_code == 200
    web = row(r.text, "web-down")
    assert 'data-state="firing"' in web and 'data-muted="no"' in web
    assert "web is down" in web and '<span class="label">service=site</span>' in web
    assert '<td class="num">1</td>' in web  # the value, beside the threshold
    assert 'href="/runbooks/site-down"' in web and 'href="/ui/monitors/web"' in web
    assert "1 firing" in r.text
    assert "<h2>Notifications</h2>" in r.text  # the outbox, with the message it cannot send
    await until(lambda: service.outbox is not None and service.outbox.counts().pending >= 1)
    assert "1 waiting to send" in (await http.get("/ui/alerts")).text

    # the "silence…" link fills the form with this alert's matchers
    r = await http.get("/ui/alerts", params={"matchers": "alertname=web-down, monitor=web"})
    assert 'value="alertname=web-down, monitor=web"' in r.text
    assert '<details id="new-silence" class="new-silence" open>' in r.text

    r = await http.post(
        "/ui/silences",
        data={
            "matchers": "alertname=web-down, monitor=web",
            "duration": "30m",
            "author": "alice",
            "comment": "fixing the target",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/alerts"
    [silence] = service.alerting.muter.silences
    r = await http.get("/ui/alerts")
    listed = re.search(rf'<tr class="silence" data-id="{silence.id}">.*?</tr>', r.text, re.S)
    assert listed
    assert "alice" in listed.group(0) and "fixing the target" in listed.group(0)
    assert '<span class="label">alertname=web-down</span>' in listed.group(0)
    assert "29m 59s left" in listed.group(0) or "30m 0s left" in listed.group(0)
    web = row(r.text, "web-down")
    assert 'data-muted="yes"' in web
    assert f"silenced by #{silence.id} (alice: fixing the target)" in web
    assert "1 muted" in r.text

    r = await http.post(f"/ui/silences/{silence.id}/expire")
    assert r.status_code == 303 and r.headers["location"] == "/ui/alerts"
    assert service.alerting.muter.silences == []
    r = await http.get("/ui/alerts")
    assert "No silences." in r.text and 'data-muted="no"' in row(r.text, "web-down")
    assert (await http.post(f"/ui/silences/{silence.id}/expire")).status_code == 404

    target.mode = "ok"
    await until(lambda: not service.alerting.engine.active())
    assert "No active alerts." in (await http.get("/ui/alerts")).text


@pytest.mark.integration
@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"matchers": "not a matcher"}, "is not a matcher"),
        ({"matchers": "alertname=~web(("}, "bad regular expression"),
        ({"matchers": " , "}, "give at least one matcher"),
        ({"duration": "soon"}, "is not a duration"),
        ({"duration": "0s"}, "longer than zero"),
        ({"comment": "  "}, "author and comment are both needed"),
    ],
)
async def test_a_bad_silence_comes_back_with_the_error(
    running: Callable[..., Any], form: dict[str, str], error: str
) -> None:
    service, http = await running()
    data = {"matchers": "alertname=web-down", "duration": "1h", "author": "bob", "comment": "x"}
    r = await http.post("/ui/silences", data={**data, **form})
    assert r.status_code == 400
    assert error in r.text and 'role="alert"' in r.text
    assert f'value="{data["author"]}"' in r.text  # what was typed is kept
    assert service.alerting.muter.silences == []


@pytest.mark.integration
async def test_token_auth_guards_the_alerts_page(running: Callable[..., Any]) -> None:
    service, http = await running(auth="token")
    r = await http.get("/ui/alerts")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await http.get("/ui/alerts", headers={"hx-request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"
    form = {"matchers": "alertname=x", "duration": "1h", "author": "eve", "comment": "hush"}
    r = await http.post("/ui/silences", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert service.alerting.muter.silences == []

    token = service.store.create_token("carol", 0.0)
    assert (await http.post("/login", data={"token": token})).status_code == 303
    r = await http.get("/ui/alerts")
    assert r.status_code == 200 and 'name="author" value="carol"' in r.text  # who is logged in
    assert "Log out" in r.text


def test_worst_first_and_why_muted(tmp_path: Path) -> None:
    text = f"""
monitors: []
inhibit:
  - {{source: ["alertname=web-down"], target: ["alertname=web-slow"]}}
{RULES}"""
    service = Service(parse_config(text, "x.yaml"), store=Store(f"sqlite:///{tmp_path}/x.db"))

    def alert(rule: str, severity: Severity, state: AlertState, since: float) -> Alert:
        labels = {"alertname": rule, "severity": severity.value, "monitor": "web"}
        a = Alert(rule + str(since), rule, severity, labels, {}, state, pending_since=since)
        if state is AlertState.FIRING:
            a.fired_at = since
        return a

    service.alerting.engine.restore(
        [
            alert("web-slow", Severity.WARNING, AlertState.PENDING, 50.0),
            alert("web-slow", Severity.WARNING, AlertState.FIRING, 20.0),
            alert("web-down", Severity.CRITICAL, AlertState.FIRING, 90.0),
            alert("web-down", Severity.CRITICAL, AlertState.FIRING, 10.0),
            alert("web-down", Severity.CRITICAL, AlertState.RESOLVED, 5.0),
        ]
    )
    rows = alert_rows(service, 100.0)
    assert [(r["rule"], r["state"], r["for"]) for r in rows] == [
        ("web-down", "firing", "1m 30s"),  # critical, firing longest first
        ("web-down", "firing", "10s"),
        ("web-slow", "firing", "1m 20s"),
        ("web-slow", "pending", "50s"),
    ]
    assert rows[0]["muted"] is None
    assert rows[2]["muted"] == "inhibited by web-down"
    assert rows[0]["labels"] == {"monitor": "web"}  # alertname and severity have columns
    assert rows[0]["silence_with"] == "alertname=web-down, monitor=web"

    matchers = (parse_matcher("alertname=web-down"),)
    service.alerting.muter.silences = [
        Silence(1, matchers, 0.0, 50.0, "a", "ended"),  # over: not shown
        Silence(2, matchers, 0.0, 400.0, "a", "now"),
        Silence(3, matchers, 200.0, 300.0, "a", "later"),
    ]
    shown = silence_rows(service, 100.0)
    assert [(s["id"], s["active"], s["mutes"]) for s in shown] == [(3, False, 2), (2, True, 2)]
    assert alert_rows(service, 100.0)[0]["muted"] == "silenced by #2 (a: now)"


@pytest.mark.parametrize(
    ("text", "matchers"),
    [
        ("alertname=site-down", ["alertname=site-down"]),
        (" alertname=site-down ,monitor=~api.* ,", ["alertname=site-down", "monitor=~api.*"]),
        ("", []),
    ],
)
def test_split_matchers(text: str, matchers: list[str]) -> None:
    assert split_matchers(text) == matchers
