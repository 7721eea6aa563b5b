"""Two Lightkeeper processes on one PostgreSQL store: one decides and tells, the other
stands by and takes over when the first stops — never a message twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from lightkeeper.config import parse_config
from lightkeeper.service import Service
from lightkeeper.store import Store
from lightkeeper.store.leader import Leadership
from tests.conftest import Target
from tests.receivers import Webhook

pytestmark = pytest.mark.integration


def test_sqlite_always_leads(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/x.db")
    assert Leadership(store).check()
    store.close()


def test_one_lock_holder_at_a_time(pg_database: str) -> None:
    a, b = Store(pg_database), Store(pg_database)
    first, second = Leadership(a), Leadership(b)
    try:
        assert first.check()
        assert not second.check()
        assert first.check()  # still held
        first.release()
        assert second.check()
        assert not first.check()
    finally:
        first.release()
        second.release()
        a.close()
        b.close()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_two_instances_send_once_and_fail_over(pg_database: str, target: Target) -> None:
    hook = Webhook()
    text = f"""
store: {{url: "{pg_database}"}}
scheduler: {{write_interval: 200ms}}
monitors:
  - {{name: web, type: http, url: "{target.url}", interval: 1s, failures_before_down: 1}}
channels:
  hook: {{url: "json://127.0.0.1:{hook.port}/alerts"}}
alerts:
  - {{name: web-down, severity: critical, expr: 'monitor_down{{monitor="web"}} == 1'}}
routing:
  group_interval: 1s
  routes: [{{channels: [hook]}}]
"""
    first = Service(parse_config(text, "a.yaml", {}))
    second = Service(parse_config(text, "b.yaml", {}))
    await first.start()
    await until(lambda: first.alerting.leading)
    await second.start()
    try:
        await asyncio.sleep(1.5)
        assert first.alerting.leading and not second.alerting.leading
        target.mode = "fail"
        await until(lambda: len(hook.bodies) == 1)
        await asyncio.sleep(2.0)  # both evaluate the same signals; only one may tell
        assert len(hook.bodies) == 1
        # The one standing by shows the leader's alert, read from the store.
        await until(lambda: [a.rule for a in second.alerting.engine.active()] == ["web-down"])
        await first.stop()  # the leader goes away while the alert fires
        await until(lambda: second.alerting.leading)
        await asyncio.sleep(1.5)
        assert len(hook.bodies) == 1  # the new leader knows it was already sent
        target.mode = "ok"
        await until(lambda: len(hook.bodies) == 2)
        await asyncio.sleep(1.5)
        assert [b["title"].split("]")[0] for b in hook.bodies] == ["[FIRING:1", "[RESOLVED"]
    finally:
        await second.stop()
        await first.stop()
        hook.close()
