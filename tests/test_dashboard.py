"""The dashboard in headless Chromium against a real `lightkeeper up`: it lists monitors,
shows a state change without a reload, and its search and state filter narrow the list."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import Server, Target

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium dials out at start-up, and on a closed
# network those refused connections slow it down and litter the log.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/dashboard.png")

STEADY = ["api-eu", "api-asia", "web-1", "web-2", "web-3", "web-4", "web-5", "web-6"]
STEADY += ["auth", "billing"]
FLAKY = "api-us"  # the one monitor whose target the test breaks
TCP = "db-port"
ALL = sorted([*STEADY, FLAKY, TCP])


def config(store: Path, steady: Target, flaky: Target) -> str:
    http = "  - {{name: {name}, type: http, url: '{url}', interval: 1s, timeout: 1s{extra}}}\n"
    monitors = "".join(http.format(name=n, url=steady.url, extra="") for n in STEADY)
    monitors += http.format(name=FLAKY, url=flaky.url, extra=", failures_before_down: 1")
    monitors += (
        f"  - {{name: {TCP}, type: tcp, host: 127.0.0.1, port: {steady.port},"
        " interval: 1s, timeout: 1s}\n"
    )
    return f"store:\n  url: sqlite:///{store}\nauth: none\nmonitors:\n{monitors}"


@pytest.fixture
def flaky() -> Iterator[Target]:
    t = Target()
    yield t
    t.close()


def shown(page: Page) -> list[str]:
    return sorted(page.eval_on_selector_all("tr.monitor", "rows => rows.map(r => r.dataset.name)"))


def expect_shown(page: Page, names: list[str], timeout: float = 10.0) -> None:
    """Wait until the table lists exactly ``names`` (htmx swaps it in after a delay)."""
    deadline = time.monotonic() + timeout
    last = shown(page)
    while last != sorted(names):
        if time.monotonic() > deadline:
            raise AssertionError(f"rows show {last}, expected {sorted(names)}")
        page.wait_for_timeout(100)
        last = shown(page)


def test_dashboard_live_table(
    server_factory: Callable[[str], Server], target: Target, flaky: Target, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; scripts/test installs it (apt-get install chromium)")
    server = server_factory(config(tmp_path / "store.db", target, flaky))
    server.start()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            loads: list[str] = []
            page.on("load", lambda p: loads.append(p.url))

            page.goto(f"{server.url}/")
            expect_shown(page, ALL)
            rows = page.locator("tr.monitor")
            # Every monitor has had its first check (pending until then).
            up = page.locator("tr.monitor[data-state=up]")
            expect(up).to_have_count(len(ALL), timeout=10_000)
            expect(page.locator("#health")).to_have_text("healthy")

            # A marker on window survives only if the page is never reloaded.
            page.evaluate("window.__marker = 1")
            flaky.mode = "fail"
            row = page.locator(f'tr.monitor[data-name="{FLAKY}"]')
            expect(row).to_have_attribute("data-state", "down", timeout=10_000)
            expect(row.locator(".state-label")).to_have_text("down")
            expect(row.locator(".reason")).to_contain_text("500")
            expect(page.locator("#health")).to_have_text("degraded")
            expect(page.locator("#health")).to_have_class("badge health-degraded")
            # Worst first: the down monitor moves to the top.
            expect(rows.first).to_have_attribute("data-name", FLAKY)
            assert page.evaluate("window.__marker") == 1
            assert len(loads) == 1, f"the page reloaded: {loads}"
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.fill("#q", "api-")
            expect_shown(page, ["api-asia", "api-eu", FLAKY])
            page.fill("#q", "")
            expect_shown(page, ALL)

            page.select_option("select[name=state]", "down")
            expect_shown(page, [FLAKY])
            page.select_option("select[name=state]", "")
            expect_shown(page, ALL)
            assert page.evaluate("window.__marker") == 1
            assert len(loads) == 1, f"the page reloaded: {loads}"

            page.goto(f"{server.url}/ui/monitors/api-eu")
            expect(page.locator("h1")).to_contain_text("api-eu")
            expect(page.locator("#chart-recent canvas").first).to_be_attached()

            page.goto(f"{server.url}/status")
            expect(page.locator(".status-list li")).to_have_count(len(ALL))
            status_names = page.locator(".status-list li strong").all_inner_texts()
            assert sorted(status_names) == ALL
            expect(page.locator(".banner")).to_have_text("Some systems are degraded")

            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()
