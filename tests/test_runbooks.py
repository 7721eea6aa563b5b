"""Runbooks: the seed's three exist and render, the example config's alerts (and the links in
their messages) lead to them, nothing outside the directory can be read, and the pages sit
behind the same login as the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lightkeeper.config import load_config, parse_config
from lightkeeper.rules.engine import Alert, AlertState
from lightkeeper.rules.messages import Renderer
from lightkeeper.service import Service
from lightkeeper.store import Store
from lightkeeper.web import create_app
from lightkeeper.web.runbooks import Runbooks, runbook_name, runbooks_dir

REPO = Path(__file__).resolve().parents[1]
RUNBOOKS = REPO / "runbooks"
EXAMPLE = REPO / "examples" / "learnwithavi" / "lightkeeper.yaml"
SEED = ["api-rate-limiting", "database-issue", "site-down"]  # the seed's own three
OURS = ["security-audit"]  # what Lightkeeper adds: the audits' alerts

Client = Callable[..., tuple[Service, httpx.AsyncClient]]


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Client:
    def make(
        text: str = "monitors: []", directory: Path = RUNBOOKS
    ) -> tuple[Service, httpx.AsyncClient]:
        monkeypatch.setenv("LIGHTKEEPER_RUNBOOKS", str(directory))
        config = parse_config(text, "runbooks.yaml", {})
        service = Service(config, store=Store(f"sqlite:///{tmp_path}/runbooks.db"))
        app = create_app(service, manage=False)
        transport = httpx.ASGITransport(app=app)
        return service, httpx.AsyncClient(transport=transport, base_url="http://lk")

    return make


def test_the_seed_runbooks_exist_with_the_seed_steps() -> None:
    books = Runbooks(RUNBOOKS)
    assert set(SEED) <= {r.name for r in books.all()}
    steps = {
        "site-down": ["vercel-status.com", "vercel ls", "/api/health", "vercel rollback"],
        "database-issue": ["pg_stat_activity", "pg_stat_statements", "df -h", "pg_restore"],
        "api-rate-limiting": ["INFO stats", "Firewall", "status.anthropic.com", "contact"],
    }
    for name, wanted in steps.items():
        text = (RUNBOOKS / f"{name}.md").read_text()
        for word in [*wanted, "## First five minutes", "## Escalate", "## Close"]:
            assert word.lower() in text.lower(), (name, word)
        too_long = [n for n, line in enumerate(text.splitlines(), 1) if len(line) >= 100]
        assert not too_long, f"{name}.md lines {too_long} are 100 characters or more"


async def test_list_and_render(client: Client) -> None:
    _, http = client()
    r = await http.get("/runbooks")
    assert r.status_code == 200
    for name in SEED:
        assert f'href="/runbooks/{name}"' in r.text
    assert "Site down" in r.text

    r = await http.get("/runbooks/database-issue")
    assert r.status_code == 200
    assert "<h1>Database issue</h1>" in r.text
    assert '<code class="language-sql">' in r.text  # fenced blocks rendered as code
    # a relative link between runbooks works too: "site-down.md" resolves next to this page
    assert 'href="site-down.md"' in r.text
    assert (await http.get("/runbooks/site-down.md")).status_code == 200


async def test_the_example_alerts_link_to_runbooks_that_exist(client: Client) -> None:
    config = parse_config(EXAMPLE.read_text(), str(EXAMPLE), {})
    linked = {
        rule.name: rule.annotations["runbook"]
        for rule in config.alerts
        if "runbook" in rule.annotations
    }
    assert {runbook_name(ref) for ref in linked.values()} == set(SEED + OURS)

    # The file's `runbooks: ../../runbooks` is relative to the file; load_config resolves it.
    assert load_config(EXAMPLE, env={}).runbooks == str(RUNBOOKS)
    _, http = client(
        EXAMPLE.read_text().replace("runbooks: ../../runbooks", f"runbooks: {RUNBOOKS}")
    )
    renderer = Renderer("http://lk.example")
    for rule, ref in linked.items():
        alert = Alert("f", rule, config.alerts[0].severity, {}, {"runbook": ref}, AlertState.FIRING)
        url = renderer.runbook(alert)  # the link the alert's messages carry
        assert url.startswith("http://lk.example/runbooks/")
        r = await http.get(url.removeprefix("http://lk.example"))
        assert r.status_code == 200, (rule, url)
        assert rule in r.text  # the page names the alerts that link to it

    r = await http.get("/runbooks")
    assert "not there" not in r.text  # no alert links to a missing runbook
    assert '<span class="label">site-down</span>' in r.text


async def test_a_link_to_a_missing_runbook_is_reported(client: Client) -> None:
    text = """
monitors: []
alerts:
  - name: disk-full
    severity: warning
    expr: max(disk_used_ratio) over 5m > 0.9
    annotations: {runbook: runbooks/disk-full.md}
"""
    _, http = client(text)
    r = await http.get("/runbooks")
    assert "runbooks/disk-full.md</code>, which is not there" in r.text


@pytest.mark.parametrize(
    "path",
    [
        "/runbooks/..%2Fetc%2Fpasswd",
        "/runbooks/..%2F..%2Fpyproject",
        "/runbooks/..%2Fsecret",
        "/runbooks/%2E%2E",
        "/runbooks/.hidden",
        "/runbooks/Site-Down",
        "/runbooks/site-down.txt",
        "/runbooks/nope",
        "/runbooks/%00site-down",
    ],
)
async def test_nothing_outside_the_directory(client: Client, tmp_path: Path, path: str) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "ok.md").write_text("# OK\n")
    (books / ".hidden.md").write_text("# hidden\n")
    (books / "site-down.txt").write_text("not markdown\n")
    (tmp_path / "secret.md").write_text("# secret\n")
    _, http = client(directory=books)
    assert (await http.get("/runbooks/ok")).status_code == 200
    r = await http.get(path)
    assert r.status_code == 404
    assert "secret" not in r.text and "root:" not in r.text


async def test_raw_html_in_a_runbook_is_not_executed(client: Client, tmp_path: Path) -> None:
    (tmp_path / "evil.md").write_text(
        "# Evil\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1))\n"
    )
    _, http = client(directory=tmp_path)
    r = await http.get("/runbooks/evil")
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;" in r.text and 'href="javascript:' not in r.text


async def test_token_auth_guards_the_runbooks(client: Client) -> None:
    service, http = client("auth: token\nmonitors: []")
    service.open()  # migrates the store, where tokens live
    for path in ("/runbooks", "/runbooks/site-down"):
        r = await http.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    r = await http.get("/runbooks/site-down", headers={"hx-request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"
    # an unknown name is not revealed to someone not logged in
    assert (await http.get("/runbooks/nope")).status_code == 303

    token = service.store.create_token("ops", 0.0)
    auth = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/runbooks", headers=auth)).status_code == 200
    r = await http.get("/runbooks/site-down", headers=auth)
    assert r.status_code == 200 and "<h1>Site down</h1>" in r.text
    assert (await http.get("/runbooks/nope", headers=auth)).status_code == 404


def test_where_the_runbooks_are_read_from(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    assert runbooks_dir({"LIGHTKEEPER_RUNBOOKS": str(elsewhere)}, tmp_path) == elsewhere
    # no ./runbooks here: the checkout's (this repository's) are used
    assert runbooks_dir({}, tmp_path) == RUNBOOKS
    (tmp_path / "runbooks").mkdir()
    assert runbooks_dir({}, tmp_path) == tmp_path / "runbooks"


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("runbooks/site-down.md", "site-down"),
        ("site-down.md", "site-down"),
        ("/runbooks/site-down", "site-down"),
        ("https://wiki.example.com/site-down", None),
        ("", None),
    ],
)
def test_runbook_name(ref: str, name: str | None) -> None:
    assert runbook_name(ref) == name
