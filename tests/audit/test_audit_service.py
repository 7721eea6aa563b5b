"""Audits as the service runs them: the `audits:` config, each job's report turned into the
signals `audit.findings{audit, kind, severity}`, `audit.last_result` and
`audit.header_score`, alert rules on them, /api/v1/audits and /audits — and, end to end, a
real `lightkeeper up` that finds a committed key and pages a real webhook once."""

from __future__ import annotations

import json
import secrets
import shutil
import string
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from lightkeeper.config import load_config, parse_config
from lightkeeper.errors import ConfigError
from lightkeeper.service import Service
from lightkeeper.web import create_app
from tests.conftest import wait_for
from tests.probes.loopback import closed_port
from tests.receivers import Webhook

OSV = Path(__file__).parent / "osv"
LOCKFILES = Path(__file__).parent / "lockfiles"


def anthropic_key() -> str:
    """A key of the real shape, made now (so this repository holds none)."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return "sk-ant-api03-" + "".join(secrets.choice(alphabet) for _ in range(93)) + "AA"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "app"
    root.mkdir()
    key = anthropic_key()
    (root / "settings.py").write_text(f'ANTHROPIC_API_KEY = "{key}"\n')
    (root / "README.md").write_text("set ANTHROPIC_API_KEY=your_key_here\n")
    return root, key


@pytest.fixture
def site() -> Iterator[str]:
    """A page with a few of the Observatory's headers, over plain HTTP."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>t</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


RULES = """
alerts:
  - {name: secret-committed, severity: critical, expr: 'audit.findings{kind="secret"} > 0'}
  - {name: vulnerable-dep, severity: warning,
     expr: 'audit.findings{kind="dependency", severity="critical"} > 0'}
  - {name: audit-broken, severity: warning, expr: audit.last_result == 0}
  - {name: headers-weak, severity: warning, expr: audit.header_score < 70}
"""


def value(service: Service, name: str, **labels: str) -> float:
    [series] = [
        s
        for s in service.signals.select(name)
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    latest = series.latest()
    assert latest is not None
    return latest.last


async def test_jobs_become_signals_and_the_page_never_shows_a_whole_secret(
    tmp_path: Path, repo: tuple[Path, str], site: str
) -> None:
    root, key = repo
    https_port = closed_port()  # the job's own port for https://, where nothing answers
    text = f"""
store: {{url: "sqlite:///{tmp_path / "lk.db"}"}}
audits:
  jobs:
    - {{name: code, type: secrets, path: "{root}"}}
    - {{name: deps, type: deps, path: "{LOCKFILES / "npm-v3"}", osv_db: ["{OSV}"]}}
    - {{name: site, type: headers, url: "{site}", https_port: {https_port}}}
    - {{name: away, type: headers, url: "http://127.0.0.1:{closed_port()}/"}}
{RULES}"""
    service = Service(parse_config(text, "t.yaml", {}))
    service.open()
    jobs = {job.name: job for job in service.config.audits.jobs}

    code = await service.run_audit(jobs["code"])
    assert code.report is not None and len(code.report.findings) == 1  # not the placeholder
    assert value(service, "audit.findings", audit="code", severity="critical") == 1
    assert value(service, "audit.findings", audit="code", severity="low") == 0
    assert value(service, "audit.last_result", audit="code") == 1

    deps = await service.run_audit(jobs["deps"])
    assert deps.report is not None and deps.report.findings
    critical = sum(1 for f in deps.report.findings if f.severity.label == "critical")
    assert value(service, "audit.findings", audit="deps", severity="critical") == critical > 0

    headers = await service.run_audit(jobs["site"])
    assert headers.report is not None
    score = headers.report.summary["score"]
    assert headers.report.summary["https"]["url"] == f"https://127.0.0.1:{https_port}/"
    assert value(service, "audit.header_score", audit="site") == score < 70

    away = await service.run_audit(jobs["away"])
    assert away.report is None and away.error and "cannot be reached" in away.error
    assert value(service, "audit.last_result", audit="away") == 0

    # The key is removed: the next run brings the count, and so the alert, back to 0.
    (root / "settings.py").write_text('ANTHROPIC_API_KEY = os.environ["ANTHROPIC_API_KEY"]\n')
    await service.run_audit(jobs["code"])
    assert value(service, "audit.findings", audit="code", severity="critical") == 0

    (root / "settings.py").write_text(f'ANTHROPIC_API_KEY = "{key}"\n')
    await service.run_audit(jobs["code"])
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lk"
    ) as client:
        api = (await client.get("/api/v1/audits")).json()
        page = await client.get("/audits")
    by_name = {a["name"]: a for a in api["audits"]}
    assert set(by_name) == {"code", "deps", "site", "away"}
    [finding] = by_name["code"]["last_run"]["report"]["findings"]
    assert finding["rule"] == "anthropic-api-key" and finding["path"] == "settings.py"
    assert by_name["away"]["last_run"]["ok"] is False
    assert by_name["site"]["last_run"]["report"]["grade"] == headers.report.summary["grade"]
    assert page.status_code == 200 and "anthropic-api-key" in page.text
    assert key[:14] in page.text  # the preview …
    for shown in (page.text, json.dumps(api)):
        assert key not in shown and key[14:40] not in shown  # … never the secret
    service.store.close()


def test_the_audits_section_is_checked(tmp_path: Path) -> None:
    def problems(body: str) -> str:
        with pytest.raises(ConfigError) as caught:
            parse_config(body, "lk.yaml", {})
        return str(caught.value)

    twice = "audits:\n  jobs:\n    - {name: a, type: deps, path: .}\n    - {name: a, type: deps, path: .}\n"
    assert "lk.yaml:4:" in problems(twice) and "duplicate audit name 'a'" in problems(twice)
    assert "lk.yaml:3:" in problems("audits:\n  jobs:\n    - {name: x, type: virus, path: .}\n")
    bad_url = "audits:\n  jobs:\n    - {name: x, type: headers, url: ftp://a}\n"
    assert "url" in problems(bad_url)
    bad_cron = "audits:\n  jobs:\n    - {name: x, type: deps, path: ., schedule: '0 3 * *'}\n"
    assert "is not a cron schedule" in problems(bad_cron)
    unknown_rule = "audits:\n  allow: {rules: [anthropic-api-kye]}\n"
    assert "anthropic-api-key" in problems(unknown_rule)  # did you mean


def test_job_paths_are_read_from_the_config_files_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "lightkeeper.yaml"
    path.write_text(
        "audits:\n  jobs:\n"
        "    - {name: code, type: secrets, path: ../app, baseline: base.json}\n"
        "    - {name: deps, type: deps, path: ., osv_db: [osv, /srv/osv/all.zip]}\n"
    )
    code, deps = load_config(path).audits.jobs
    assert code.path == str(tmp_path / "app") and code.baseline == str(tmp_path / "conf/base.json")
    assert deps.osv_db == [str(tmp_path / "conf/osv"), "/srv/osv/all.zip"]  # type: ignore[union-attr]


def test_a_running_service_finds_a_committed_key_and_pages_once(
    server_factory: object, tmp_path: Path, repo: tuple[Path, str]
) -> None:
    root, key = repo
    hook = Webhook()
    server = server_factory(  # type: ignore[operator]
        f"""
store: {{url: "sqlite:///{tmp_path / "lk.db"}"}}
scheduler: {{write_interval: 200ms}}
channels:
  hook: {{url: "json://127.0.0.1:{hook.port}/alerts"}}
audits:
  jobs: [{{name: code, type: secrets, path: "{root}"}}]
alerts:
  - name: secret-committed
    severity: critical
    expr: 'audit.findings{{kind="secret"}} > 0'
    annotations: {{summary: "{{{{ value }}}} secret(s) in {{{{ labels.audit }}}}"}}
routing:
  group_interval: 1s
  routes:
    - {{match: ["severity=critical"], channels: [hook]}}
"""
    )
    server.start()
    try:
        wait_for(lambda: hook.bodies, timeout=30, server=server)
        [body] = hook.bodies
        text = json.dumps(body)
        assert "secret-committed" in text and "in code" in text and key not in text
        shown = server.get("/api/v1/audits").json()
        assert shown["audits"][0]["last_run"]["report"]["counts"]["critical"] == 1
    finally:
        server.stop()
        hook.close()
    assert key not in server.log.read_text()
    shutil.rmtree(root)
