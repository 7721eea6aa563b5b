"""The command line: check's Nagios exit codes, status against a server, tokens."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LIGHTKEEPER, Server, Target, free_port, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def lightkeeper(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # Rich wraps tables at 80 columns without a TTY
    return subprocess.run(
        [LIGHTKEEPER, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "lk.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{tmp_path}/lk.db'}}\n{body}")
    return path


@pytest.mark.parametrize(
    ("modes", "critical", "code", "status"),
    [
        (["ok", "ok"], False, 0, "healthy"),
        (["fail", "ok"], False, 1, "degraded"),
        (["fail", "fail"], False, 2, "unhealthy"),
        (["fail", "ok"], True, 2, "unhealthy"),
    ],
)
def test_check_exit_codes(
    tmp_path: Path, modes: list[str], critical: bool, code: int, status: str
) -> None:
    targets = [Target() for _ in modes]
    try:
        for t, mode in zip(targets, modes, strict=True):
            t.mode = mode
        monitors = "".join(
            f"  - {{name: m{i}, type: http, url: '{t.url}', critical: {str(critical).lower()}}}\n"
            for i, t in enumerate(targets)
        )
        config = write(tmp_path, f"monitors:\n{monitors}")
        run = lightkeeper("check", "--config", str(config), "--json")
        assert run.returncode == code, run.stderr
        body = json.loads(run.stdout)
        assert body["status"] == status
        assert [m["state"] for m in body["monitors"]] == [
            "up" if m == "ok" else "down" for m in modes
        ]
        table = lightkeeper("check", "--config", str(config))
        assert table.returncode == code
        assert f"Lightkeeper check: {status}" in table.stdout
    finally:
        for t in targets:
            t.close()


def test_check_never_prints_secrets(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        f"monitors:\n  - {{name: db, type: postgres, dsn: 'postgresql://app:hunter2-secret@127.0.0.1:{free_port()}/x'}}\n",
    )
    run = lightkeeper("check", "--config", str(config), "--json")
    assert run.returncode == 1
    assert "hunter2-secret" not in run.stdout + run.stderr
    assert json.loads(run.stdout)["monitors"][0]["reason"] == "connection refused"


def test_status_asks_a_running_server(
    tmp_path: Path, target: Target, server_factory: Callable[[str], Server]
) -> None:
    server = server_factory(
        f"store: {{url: 'sqlite:///{tmp_path}/s.db'}}\n"
        f"monitors:\n  - {{name: web, type: http, url: '{target.url}', interval: 1s}}\n"
    )
    server.start()
    wait_for(lambda: server.get("/api/v1/monitors/web").json()["state"] == "up")
    run = lightkeeper("status", "--url", server.url)
    assert run.returncode == 0, run.stderr
    assert "healthy" in run.stdout and "web" in run.stdout
    run = lightkeeper("status", "--url", server.url, "--json")
    assert json.loads(run.stdout)["status"] == "healthy"
    run = lightkeeper("status", "--url", f"http://127.0.0.1:{free_port()}")
    assert run.returncode == 3 and "cannot reach" in run.stderr


def test_token_lifecycle(tmp_path: Path) -> None:
    config = write(tmp_path, "monitors: []\n")
    created = lightkeeper("token", "create", "grafana", "--config", str(config))
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("lk_")
    assert "not shown again" in created.stderr
    listed = lightkeeper("token", "list", "--config", str(config))
    assert "grafana" in listed.stdout and token not in listed.stdout
    again = lightkeeper("token", "create", "grafana", "--config", str(config))
    assert again.returncode == 3 and "exists" in again.stderr
    assert lightkeeper("token", "revoke", "grafana", "--config", str(config)).returncode == 0
    assert lightkeeper("token", "revoke", "grafana", "--config", str(config)).returncode == 3


def test_the_reference_example_validates() -> None:
    run = lightkeeper("config", "validate", str(ROOT / "examples/learnwithavi/lightkeeper.yaml"))
    assert run.returncode == 0, run.stderr
    assert "8 monitors" in run.stderr


def test_up_with_an_unreachable_store_says_so_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "lk.yaml"
    port = free_port()
    config.write_text(
        f"store: {{url: 'postgresql://app:s3cret-pw@127.0.0.1:{port}/x'}}\n"  # lightkeeper:allow
    )
    run = lightkeeper("up", "--config", str(config), "--port", str(free_port()))
    assert run.returncode == 1
    assert "cannot open the store" in run.stderr and "Connection refused" in run.stderr
    assert "Traceback" not in run.stderr and "s3cret-pw" not in run.stderr


def test_alerts_and_silences_through_a_running_server(
    tmp_path: Path, target: Target, server_factory: Callable[[str], Server]
) -> None:
    server = server_factory(
        f"store: {{url: 'sqlite:///{tmp_path}/s.db'}}\n"
        "scheduler: {write_interval: 200ms}\n"
        f"monitors:\n  - {{name: web, type: http, url: '{target.url}', interval: 1s,"
        " failures_before_down: 1}\n"
        "alerts:\n  - {name: web-down, severity: critical, expr: 'monitor_down == 1'}\n"
    )
    server.start()
    assert lightkeeper("alerts", "--url", server.url).returncode == 0
    target.mode = "fail"
    wait_for(lambda: server.get("/api/v1/alerts").json()["total"] == 1)
    listed = lightkeeper("alerts", "--url", server.url)
    assert listed.returncode == 1 and "web-down" in listed.stdout
    made = lightkeeper(
        "silence",
        "add",
        "alertname=web-down",
        "--for",
        "2h",
        "--author",
        "ana",
        "--comment",
        "known",
        "--url",
        server.url,
    )
    assert made.returncode == 0, made.stderr
    assert "silence #1 until" in made.stderr
    listed = json.loads(lightkeeper("alerts", "--url", server.url, "--json").stdout)
    assert listed["items"][0]["muted"].startswith("silenced by #1")
    assert "alertname=web-down" in lightkeeper("silence", "list", "--url", server.url).stdout
    assert lightkeeper("silence", "expire", "1", "--url", server.url).returncode == 0
    again = lightkeeper("silence", "expire", "1", "--url", server.url)
    assert again.returncode == 3 and "no active silence #1" in again.stderr
    bad = lightkeeper("silence", "add", "nope", "--comment", "x", "--url", server.url)
    assert bad.returncode == 3 and "is not a matcher" in bad.stderr
