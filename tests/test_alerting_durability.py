"""Nothing lost, nothing twice — across `kill -9` of a real `lightkeeper up`:
- the receiver is down when an alert fires, Lightkeeper is killed with the message
  written but not sent → after a restart it is delivered exactly once;
- killed while an alert fires → after a restart no second firing message, and the
  resolve still arrives."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Server, Target, free_port, wait_for
from tests.receivers import Webhook

pytestmark = pytest.mark.integration


def config(db: Path, target: Target, hook_port: int) -> str:
    return f"""
store: {{url: "sqlite:///{db}"}}
scheduler: {{write_interval: 200ms}}
monitors:
  - {{name: web, type: http, url: "{target.url}", interval: 1s, failures_before_down: 1}}
channels:
  hook: {{url: "json://127.0.0.1:{hook_port}/alerts"}}
alerts:
  - {{name: web-down, severity: critical, expr: 'monitor_down{{monitor="web"}} == 1'}}
routing:
  group_interval: 1s
  routes: [{{channels: [hook]}}]
"""


def outbox_rows(db: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT kind, status, attempts FROM outbox ORDER BY id"))


def test_written_but_unsent_is_delivered_once_after_a_restart(
    tmp_path: Path, target: Target, server_factory: Callable[[str], Server]
) -> None:
    db = tmp_path / "lk.db"
    port = free_port()  # nothing listens there yet: the receiver is down
    server = server_factory(config(db, target, port))
    server.start()
    wait_for(lambda: server.get("/api/v1/monitors/web").json()["state"] == "up", server=server)
    target.mode = "fail"
    # The firing message is written, and its first delivery attempt has failed.
    wait_for(lambda: outbox_rows(db) == [("firing", "pending", 1)], timeout=20, server=server)
    server.kill()
    hook = Webhook(port)  # the receiver comes back while Lightkeeper is dead
    try:
        server.start()
        wait_for(lambda: len(hook.bodies) == 1, timeout=30, server=server)  # backoff was 5 s
        time.sleep(3)
        assert len(hook.bodies) == 1
        assert hook.bodies[0]["title"].startswith("[FIRING:1] web-down")
        assert outbox_rows(db) == [("firing", "sent", 2)]
    finally:
        hook.close()


def test_killed_while_firing_no_second_firing_and_the_resolve_arrives(
    tmp_path: Path, target: Target, server_factory: Callable[[str], Server]
) -> None:
    db = tmp_path / "lk.db"
    hook = Webhook()
    try:
        server = server_factory(config(db, target, hook.port))
        server.start()
        wait_for(lambda: server.get("/api/v1/monitors/web").json()["state"] == "up", server=server)
        target.mode = "fail"
        wait_for(lambda: len(hook.bodies) == 1, server=server)
        # Killed while the alert fires — not in the instant between the receiver taking the
        # message and the outbox recording it, which at-least-once delivery would repeat.
        wait_for(lambda: outbox_rows(db) == [("firing", "sent", 1)], server=server)
        server.kill()
        server.start()
        wait_for(lambda: server.get("/api/v1/alerts").json()["total"] == 1, server=server)
        time.sleep(3)  # several evaluations after the restart, the alert still firing
        assert len(hook.bodies) == 1
        target.mode = "ok"
        wait_for(lambda: len(hook.bodies) == 2, server=server)
        time.sleep(2)
        assert [b["title"].split("]")[0] for b in hook.bodies] == ["[FIRING:1", "[RESOLVED"]
        assert [kind for kind, _, _ in outbox_rows(db)] == ["firing", "resolved"]
    finally:
        hook.close()
