"""`kill -9` of `lightkeeper up`, then a restart: nothing committed is lost, nothing is
counted twice, uptime goes on from the stored counts and states come back as saved.

The store is read straight from the SQLite file with the stdlib ``sqlite3`` module, so the
test sees what is on disk, not what the server says about it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, Target, free_port, wait_for

pytestmark = pytest.mark.integration

HOUR, DAY = 3600, 86400
GOOD = ("up", "degraded")  # what uptime counts as up

CONFIG = """\
store: {{url: "sqlite:///{db}"}}
monitors:
  - {{name: web, type: http, url: "{url}", interval: 1s, timeout: 1s}}
  - {{name: api, type: http, url: "{url}", interval: 1s, timeout: 1s}}
  - {{name: gone, type: tcp, host: 127.0.0.1, port: {closed}, interval: 1s, timeout: 1s}}
"""


@dataclass(frozen=True)
class Snapshot:
    """The store as one read transaction saw it."""

    monitor_ids: dict[str, int]
    results: list[tuple[int, int, float, str]]  # id, monitor_id, ts, state
    rollups: dict[tuple[int, int], tuple[int, int, int, int]]  # (monitor, period) → sums
    states: dict[int, tuple[str, float, int]]  # monitor_id → state, since, fail_streak

    def of(self, name: str) -> list[tuple[int, int, float, str]]:
        mid = self.monitor_ids[name]
        return [r for r in self.results if r[1] == mid]

    def checks(self, name: str) -> int:
        """Results that count towards uptime (a pending one is not a check of the target)."""
        return sum(1 for r in self.of(name) if r[3] != "pending")


def read_store(db: Path) -> Snapshot:
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        # One transaction, so the raw rows and the rollups are from the same commit.
        conn.execute("BEGIN")
        monitor_ids = {str(n): int(i) for n, i in conn.execute("SELECT name, id FROM monitors")}
        results = [
            (int(i), int(m), float(ts), str(s))
            for i, m, ts, s in conn.execute(
                "SELECT id, monitor_id, ts, state FROM results ORDER BY id"
            )
        ]
        rollups = {
            (int(m), int(p)): (int(c), int(u), int(g), int(d))
            for m, p, c, u, g, d in conn.execute(
                "SELECT monitor_id, period, SUM(checks), SUM(up), SUM(degraded), SUM(down)"
                " FROM rollups GROUP BY monitor_id, period"
            )
        }
        states = {
            int(m): (str(s), float(since), int(f))
            for m, s, since, f in conn.execute(
                "SELECT monitor_id, state, since, fail_streak FROM monitor_state"
            )
        }
        conn.execute("COMMIT")
    finally:
        conn.close()
    return Snapshot(monitor_ids, results, rollups, states)


def store_has(db: Path, predicate: Callable[[Snapshot], bool]) -> Snapshot | None:
    """The snapshot if the store exists and ``predicate`` holds for it (for wait_for)."""
    try:
        snap = read_store(db)
    except sqlite3.OperationalError:  # not migrated yet
        return None
    return snap if predicate(snap) else None


def assert_counted_once(snap: Snapshot) -> None:
    """Raw results and both rollup periods agree, per monitor and per state."""
    keys = [(r[1], r[2]) for r in snap.results]
    assert len(keys) == len(set(keys)), "a result was stored twice"
    for name, mid in snap.monitor_ids.items():
        by_state = Counter(r[3] for r in snap.of(name))
        expected = (
            snap.checks(name),
            by_state["up"],
            by_state["degraded"],
            by_state["down"],
        )
        for period in (HOUR, DAY):
            got = snap.rollups.get((mid, period), (0, 0, 0, 0))
            assert got == expected, f"{name}: rollups {period}s {got} != raw {expected}"


def read_state(snap: Snapshot, name: str) -> tuple[str, float, int]:
    return snap.states.get(snap.monitor_ids[name], ("pending", 0.0, 0))


def uptime_ratio(snap: Snapshot, name: str) -> float:
    good = sum(1 for r in snap.of(name) if r[3] in GOOD)
    return good / snap.checks(name)


def monitor(server: Server, name: str) -> dict[str, Any]:
    response = server.get(f"/api/v1/monitors/{name}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_kill_9_then_restart_keeps_every_result_and_counts_each_once(
    tmp_path: Path, target: Target, server_factory: Callable[[str], Server]
) -> None:
    db = tmp_path / "lk.db"
    server = server_factory(CONFIG.format(db=db, url=target.url, closed=free_port()))
    server.start()

    # Some good checks, some failed ones, so the uptime ratio is neither 0 nor 1.
    def http_results(state: str, at_least: int) -> Callable[[Snapshot], bool]:
        return lambda s: all(
            sum(1 for r in s.of(n) if r[3] == state) >= at_least for n in ("web", "api")
        )

    wait_for(lambda: store_has(db, http_results("up", 2)))
    target.mode = "fail"
    wait_for(lambda: store_has(db, http_results("down", 2)))
    target.mode = "ok"
    wait_for(lambda: store_has(db, http_results("up", 4)))
    wait_for(lambda: monitor(server, "gone")["state"] == "down")
    wait_for(lambda: store_has(db, lambda s: read_state(s, "gone")[0] == "down"))

    before = read_store(db)
    server.kill()
    after_kill = read_store(db)

    lost = set(before.results) - set(after_kill.results)
    assert not lost, f"{len(lost)} committed results vanished with kill -9"
    assert_counted_once(after_kill)
    saved_gone = read_state(after_kill, "gone")
    assert saved_gone[0] == "down"
    assert saved_gone[2] >= 2

    server.start()
    # Straight away, before new checks could decide anything (two failures are needed for
    # down): the state is the saved one, down since the same moment, not pending again.
    gone = monitor(server, "gone")
    assert gone["state"] == "down", gone
    assert gone["since"] == saved_gone[1]
    assert gone["uptime"]["24h"] == 0.0
    for name in ("web", "api"):
        view = monitor(server, name)
        # Uptime is read from the rollups at start-up: the counts written before the kill.
        assert view["uptime"]["24h"] == pytest.approx(uptime_ratio(after_kill, name), abs=1e-6)
        assert 0.0 < view["uptime"]["24h"] < 1.0

    # Uptime continues: checks go on and are added to the same counts.
    def grown(s: Snapshot) -> bool:
        return all(s.checks(n) >= after_kill.checks(n) + 3 for n in after_kill.monitor_ids)

    wait_for(lambda: store_has(db, grown))
    server.stop()

    final = read_store(db)
    assert set(after_kill.results) <= set(final.results)
    assert_counted_once(final)
    # Still down since before the kill: the restart did not start the outage over.
    assert read_state(final, "gone")[:1] == ("down",)
    assert read_state(final, "gone")[1] == saved_gone[1]
