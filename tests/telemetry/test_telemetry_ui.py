"""The telemetry pages: rendered on a real service (both stores) — filters, the stack trace
with the app's frames first, status buttons, untrusted event data escaped, the nav links
only with telemetry, the login gate — and in headless Chromium against `lightkeeper up`:
search, open an issue, Resolve, and the performance charts drawn."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from lightkeeper.rules.signals import SignalStore
from lightkeeper.service import Service
from lightkeeper.store import Store
from lightkeeper.telemetry.signals import TelemetrySignals
from lightkeeper.web.telemetry_ui import stack_of
from tests.conftest import Server
from tests.telemetry import test_telemetry_api
from tests.telemetry.test_queries import (
    FRAMES,
    NOW,
    issue_id,
    sentry_event,
    store_events,
    store_signals,
    traffic,
)
from tests.telemetry.test_telemetry_api import Start, config
from tests.test_dashboard import CHROMIUM, CHROMIUM_ARGS

Lk = tuple[Service, httpx.AsyncClient]
# The API tests' fixtures: a service on each store, and one with issues of web and api.
start = test_telemetry_api.start
lk = test_telemetry_api.lk
NAV = '<a href="/issues">Issues</a>'


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="issue" data-id="\d+" data-status="[a-z]+">.*?</tr>', html, re.S)


# --- rendered pages (no browser) ---------------------------------------------------------------


@pytest.mark.integration
async def test_the_list_filters_and_pages(lk: Lk) -> None:
    _, http = lk
    r = await http.get("/issues")
    assert r.status_code == 200 and NAV in r.text and '<a href="/performance">' in r.text
    assert len(rows(r.text)) == 2 and "2 issues" in r.text
    assert 'hx-trigger="input delay:250ms, change, every 5s, submit"' in r.text  # live
    assert '<option value="web@1.4.0" >web@1.4.0</option>' in r.text
    assert '<option value="staging" >staging</option>' in r.text

    r = await http.get("/issues", params={"q": "timed", "environment": "staging"})
    [row] = rows(r.text)
    assert "TimeoutError: upstream &lt;b&gt;timed&lt;/b&gt; out" in row
    assert "<b>timed</b>" not in r.text  # the title is the app's: escaped
    r = await http.get("/issues", params={"status": "resolved"})
    assert rows(r.text) == [] and "No issues match" in r.text
    r = await http.get("/issues", params={"project": "api", "status": "all"})
    assert len(rows(r.text)) == 1 and "OSError: disk full" in r.text
    assert (await http.get("/issues", params={"project": "nope"})).status_code == 404


@pytest.mark.integration
async def test_the_issue_page_and_its_buttons(lk: Lk) -> None:
    service, http = lk
    key = issue_id(service.store, "KeyError")
    r = await http.get(f"/issues/{key}")
    assert r.status_code == 200
    page = r.text
    functions = re.findall(
        r'data-in-app="(yes|no)">\s*<div class="frame-where"><strong '
        r'class="frame-function">([^<]+)</strong>',
        page,
    )
    # Most recent call first, the app's own frame before the libraries' (collapsed).
    assert functions == [("yes", "answer"), ("no", "json"), ("no", "app")]
    assert page.index('<details class="system-frames">') < page.index(">json</strong>")
    assert "return reply.json()[&#39;answer&#39;]" in page  # the line of code, escaped
    assert "<strong>stacktrace</strong>" in page and "frame app.chat in answer" in page
    assert '<tr class="tag-row" data-key="environment">' in page
    assert page.count('<tr class="event-row">') == 3
    assert '<script id="chart-data" type="application/json">{"counts": [' in page
    assert re.search(r'<button [^>]*value="resolved"[^>]*>Resolve</button>', page)
    assert ">Reopen</button>" not in page

    r = await http.post(f"/issues/{key}/status", data={"status": "resolved"})
    assert r.status_code == 303 and r.headers["location"] == f"/issues/{key}"
    page = (await http.get(f"/issues/{key}")).text
    assert '<span class="issue-status st-resolved" id="status">resolved</span>' in page
    assert ">Reopen</button>" in page and ">Resolve</button>" not in page
    r = await http.post(f"/issues/{key}/status", data={"status": "fixed"})
    assert r.status_code == 400
    assert (await http.post("/issues/999999/status", data={"status": "ignored"})).status_code == 404
    assert (await http.get("/issues/999999")).status_code == 404


@pytest.mark.integration
async def test_untrusted_event_data_is_escaped(start: Start) -> None:
    service, http = await start()
    evil = "<script>alert(1)</script>"
    event = sentry_event("Boom", evil, tags={"browser": f"</script>{evil}"})
    frame = event["exception"]["values"][0]["stacktrace"]["frames"][1]
    frame.update(function="<img src=x onerror=alert(1)>", context_line=evil)
    event["release"] = f"web@{evil}"[:200]
    store_events(service.store, [event])
    signals = TelemetrySignals(SignalStore())
    signals.request("web", f"/x/{evil}", False, 5.0, NOW)
    store_signals(service.store, signals)
    for path in ("/issues", f"/issues/{issue_id(service.store, 'Boom')}", "/performance"):
        html = (await http.get(path, params={"status": "all"})).text
        assert evil not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


@pytest.mark.integration
async def test_performance_page(lk: Lk) -> None:
    service, http = lk
    signals = TelemetrySignals(SignalStore())
    traffic(signals)
    store_signals(service.store, signals)
    r = await http.get("/performance", params={"window": "24h"})
    assert r.status_code == 200
    assert re.findall(r'<tr class="route" data-route="([^"]+)">', r.text) == [
        "/api/chat",
        "/health",
    ]
    assert "<strong>5.00%</strong>" in r.text  # the error rate of all requests
    chat = re.search(r'<tr class="route" data-route="/api/chat">.*?</tr>', r.text, re.S)
    assert chat and '<td class="num">10.00%</td>' in chat.group(0)
    assert 'id="chart-requests"' in r.text and 'id="chart-cost"' in r.text
    assert "claude-sonnet-4" in r.text and "user-0" in r.text
    assert 'class="current">24h</a>' in r.text
    r = await http.get("/performance", params={"window": "nonsense"})
    assert r.status_code == 200 and 'class="current">1h</a>' in r.text


@pytest.mark.integration
async def test_without_telemetry_and_behind_the_login(start: Start) -> None:
    _, http = await start(telemetry=False)
    page = await http.get("/ui/incidents")
    assert page.status_code == 200 and NAV not in page.text
    for path in ("/issues", "/issues/1", "/performance"):
        assert (await http.get(path)).status_code == 404

    service, http = await start(auth="token")
    for path in ("/issues", "/issues/1", "/performance"):
        r = await http.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await http.post(
        "/issues/1/status", data={"status": "resolved"}, headers={"hx-request": "1"}
    )
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"
    token = service.store.create_token("ops", NOW)
    r = await http.get("/issues", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and NAV in r.text


def functions(event: dict[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """Each exception shown: its type, the app's frames, the others' (collapsed)."""
    return [
        (e["type"], [f["function"] for f in e["app"]], [f["function"] for f in e["system"]])
        for e in stack_of(event)
    ]


def chain(*exceptions: dict[str, Any]) -> dict[str, Any]:
    return {"exception": {"values": list(exceptions)}}


def stack(*frames: dict[str, Any]) -> dict[str, Any]:
    return {"frames": list(frames)}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (sentry_event(), [("KeyError", ["answer"], ["json", "app"])]),
        # No frame marked in_app: all are shown, none hidden.
        (chain({"type": "E", "stacktrace": stack({"function": "f"})}), [("E", ["f"], [])]),
        # A chain: the exception raised last first.
        (
            chain({"type": "First"}, {"type": "Second", "value": 1}),
            [("Second", [], []), ("First", [], [])],
        ),
        ({"message": "hello"}, []),
        ({"exception": "not a dict", "threads": [1], "stacktrace": 5}, []),  # junk: nothing
        (
            {"message": "m", "threads": {"values": [{"stacktrace": stack(FRAMES[1])}]}},
            [("", ["answer"], [])],
        ),
        (
            chain({"type": "E", "stacktrace": stack({"lineno": True, "in_app": "yes"})}),
            [("E", ["?"], [])],
        ),
    ],
)
def test_stack_of(event: dict[str, Any], expected: list[tuple[str, list[str], list[str]]]) -> None:
    assert functions(event) == expected


# --- in the browser ----------------------------------------------------------------------------


def seed(db: Path, now: float) -> None:
    """What apps would have sent: two issues of web and ten minutes of traffic."""
    store = Store(f"sqlite:///{db}")
    store.migrate()
    store_events(
        store,
        [sentry_event(ts=now - 300 + i, user=f"u{i}") for i in range(3)]
        + [sentry_event("TimeoutError", "upstream timed out", ts=now - 60, function="fetch")],
    )
    signals = TelemetrySignals(SignalStore())
    traffic(signals, now=now)
    store_signals(store, signals)
    store.close()


def titles(page: Page) -> list[str]:
    return page.eval_on_selector_all("tr.issue .issue-title", "ts => ts.map(t => t.textContent)")


def expect_titles(page: Page, expected: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (shown := titles(page)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"issues shown: {shown}, expected {expected}")
        page.wait_for_timeout(100)


@pytest.mark.browser
def test_issues_and_performance_in_the_browser(
    server_factory: Callable[[str], Server], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; scripts/test installs it (apt-get install chromium)")
    db = tmp_path / "lk.db"
    seed(db, time.time())
    server = server_factory(config(f"sqlite:///{db}"))
    server.start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/issues")
            expect_titles(page, ["TimeoutError: upstream timed out", "KeyError: 'answer'"])
            page.fill("#q", "answer")
            expect_titles(page, ["KeyError: 'answer'"])
            assert "q=answer" in page.url  # the filter is in the address: a reload keeps it

            page.click("tr.issue a")
            expect(page.locator("h1")).to_have_text("KeyError: 'answer'")
            first = page.locator("#stack .app-frames li.frame").first
            expect(first).to_have_attribute("data-in-app", "yes")
            expect(first.locator(".frame-function")).to_have_text("answer")
            expect(first.locator(".frame-code")).to_have_text("return reply.json()['answer']")
            expect(page.locator("details.system-frames li.frame").first).to_be_hidden()
            page.click("details.system-frames summary")
            expect(page.locator("details.system-frames li.frame").first).to_be_visible()
            expect(page.locator("#chart-occurrences canvas").first).to_be_attached()

            page.evaluate("window.__marker = 1")
            page.click("button:has-text('Resolve')")
            expect(page.locator("#status")).to_have_text("resolved")
            expect(page.locator("button:has-text('Reopen')")).to_be_visible()
            assert page.evaluate("window.__marker") == 1  # htmx swapped; no reload
            page.click("button:has-text('Reopen')")
            expect(page.locator("#status")).to_have_text("unresolved")

            page.click("nav >> text=Performance")
            canvas = page.locator("#chart-requests canvas").first
            expect(canvas).to_be_attached()
            assert canvas.evaluate("c => c.width > 0 && c.height > 0")
            expect(page.locator("tr.route")).to_have_count(2)
            expect(page.locator("tr.route").first).to_have_attribute("data-route", "/api/chat")
            expect(page.locator("#chart-cost canvas").first).to_be_attached()
            page.screenshot(path="/tmp/performance.png", full_page=True)
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()
