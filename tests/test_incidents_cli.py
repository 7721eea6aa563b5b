"""`lightkeeper incidents …` and `lightkeeper oncall` against a real `lightkeeper up`: list,
show, ack, note, resolve, stats, who is on call; exit codes 0, 1 (an incident is open), 3."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import LIGHTKEEPER, Server, Target, wait_for
from tests.receivers import Webhook
from tests.test_incidents_api import TITLE, incident_config

pytestmark = pytest.mark.integration


def lightkeeper(*args: str, user: str | None = "ana") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # Rich wraps tables at 80 columns without a TTY
    env.pop("USER", None)
    if user is not None:
        env["USER"] = user
    return subprocess.run([LIGHTKEEPER, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def server(
    tmp_path: Path, target: Target, server_factory: Callable[[str], Server]
) -> Iterator[Server]:
    ana, ben = Webhook(), Webhook()
    made = server_factory(incident_config(target.url, tmp_path / "s.db", ana, ben))
    made.start()
    yield made
    made.stop()
    ana.close()
    ben.close()


def test_incidents_through_a_running_server(server: Server, target: Target) -> None:
    url = ("--url", server.url)
    none = lightkeeper("incidents", *url)
    assert none.returncode == 0, none.stderr
    assert "0 incidents" in none.stdout

    target.mode = "fail"
    wait_for(lambda: server.get("/api/v1/incidents").json()["items"], server=server)
    listed = lightkeeper("incidents", *url)
    assert listed.returncode == 1, listed.stderr  # one is open
    assert TITLE in listed.stdout and "open" in listed.stdout and "ana" in listed.stdout
    resolved = lightkeeper("incidents", "list", "--state", "resolved", *url)
    assert resolved.returncode == 1 and "0 incidents" in resolved.stdout  # still one open
    as_json = lightkeeper("incidents", "list", "--json", *url)
    assert [i["id"] for i in json.loads(as_json.stdout)["items"]] == [1]

    shown = lightkeeper("incidents", "show", "1", *url)
    assert shown.returncode == 0, shown.stderr
    assert f"#1 {TITLE}" in shown.stdout and "paged ana via ana-hook" in shown.stdout
    assert "site-down" in shown.stdout and "1 vs 1" in shown.stdout
    shown_json = json.loads(lightkeeper("incidents", "show", "1", "--json", *url).stdout)
    assert [e["kind"] for e in shown_json["events"]] == ["opened", "alert_fired", "paged"]
    missing = lightkeeper("incidents", "show", "9", *url)
    assert missing.returncode == 3 and "HTTP 404: no incident 9" in missing.stderr

    acked = lightkeeper("incidents", "ack", "1", *url)  # --by defaults to $USER
    assert acked.returncode == 0, acked.stderr
    assert "incident #1 acknowledged by ana" in acked.stderr
    again = lightkeeper("incidents", "ack", "1", "--by", "ben", *url)
    assert again.returncode == 3 and "HTTP 409" in again.stderr
    assert "already acknowledged by ana" in again.stderr
    assert lightkeeper("incidents", *url).returncode == 0  # acknowledged: none open

    noted = lightkeeper("incidents", "note", "1", "restarted the pod", "--by", "ben", *url)
    assert noted.returncode == 0 and "note added to incident #1" in noted.stderr
    blank = lightkeeper("incidents", "note", "1", "  ", *url)
    assert blank.returncode == 3 and "a note needs some text" in blank.stderr
    nobody = lightkeeper("incidents", "note", "1", "x", *url, user=None)
    assert nobody.returncode == 3 and "say who you are with --by" in nobody.stderr

    done = lightkeeper("incidents", "resolve", "1", *url)
    assert done.returncode == 0 and "incident #1 resolved by ana after" in done.stderr
    timeline = lightkeeper("incidents", "show", "1", *url).stdout
    assert "restarted the pod" in timeline and "resolved by ana" in timeline

    stats = lightkeeper("incidents", "stats", *url)
    assert stats.returncode == 0 and "MTTA" in stats.stdout
    body = json.loads(lightkeeper("incidents", "stats", "--since", "1d", "--json", *url).stdout)
    assert (body["count"], body["acknowledged"], body["resolved"]) == (1, 1, 1)
    assert round(body["until"] - body["since"]) == 86400
    bad = lightkeeper("incidents", "stats", "--since", "soon", *url)
    assert bad.returncode == 3 and "not a duration" in bad.stderr

    misplaced = lightkeeper("incidents", *url, "ack", "1")
    assert misplaced.returncode == 3 and "put options after the command" in misplaced.stderr


def test_oncall_through_a_running_server(server: Server) -> None:
    run = lightkeeper("oncall", "--url", server.url)
    assert run.returncode == 0, run.stderr
    [line] = [row for row in run.stdout.splitlines() if "primary" in row]
    assert "primary (pages incidents)" in line and "ana (override)" in line
    assert "GMT" in line or "BST" in line  # hand-offs on the rotation's own clock
    body = json.loads(lightkeeper("oncall", "--json", "--url", server.url).stdout)
    [primary] = body["rotations"]
    assert primary["now"]["person"] == "ana" and len(primary["next"]) == 2


def test_a_server_that_is_not_there() -> None:
    run = lightkeeper("incidents", "--url", "http://127.0.0.1:9")
    assert run.returncode == 3 and "cannot reach" in run.stderr
    assert lightkeeper("oncall", "--url", "http://127.0.0.1:9").returncode == 3
