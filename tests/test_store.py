"""The store on SQLite and PostgreSQL: batches, rollups, uptime, state, retention, tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightkeeper.errors import ConfigError, StoreError
from lightkeeper.store import DAY, HOUR, ResultRow, StateRow, Store, hash_token
from lightkeeper.types import State

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0  # a whole day boundary: 1800000000 / 86400 = 20833.33…; see buckets below


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store(store_url)
    s.migrate()
    s.migrate()  # idempotent: every start runs it
    yield s  # type: ignore[misc]
    s.close()


def test_batch_writes_results_rollups_and_state_together(store: Store) -> None:
    ids = store.sync_monitors({"a": "http", "b": "tcp"}, NOW)
    a, b = ids["a"], ids["b"]
    rows = [
        ResultRow(a, NOW + 1, State.UP, 10.0, "ok"),
        ResultRow(a, NOW + 2, State.DEGRADED, 30.0, "slow"),
        ResultRow(a, NOW + 3, State.DOWN, None, "refused"),
        ResultRow(b, NOW + 1, State.PENDING, None, "waiting"),
    ]
    store.write_batch(
        rows, [StateRow(a, State.DOWN, NOW + 3, "refused", fail_streak=2, metrics={"x": 1})]
    )
    store.write_batch([ResultRow(a, NOW + 4, State.UP, 20.0, "ok")], [])
    assert store.count_results(a) == 4 and store.count_results(b) == 1
    hourly = store.rollup_series(a, HOUR, 0)
    assert len(hourly) == 1
    h = hourly[0]
    assert (h.checks, h.up, h.degraded, h.down) == (4, 2, 1, 1)
    assert h.latency_sum == 60.0 and h.latency_count == 3 and h.latency_max == 30.0
    assert store.rollup_series(b, HOUR, 0) == []  # pending is not a check
    state = store.load_states()[a]
    assert state.state is State.DOWN and state.fail_streak == 2 and state.metrics == {"x": 1}
    uptime = store.uptime(NOW + 10)[a]
    assert uptime["24h"].ratio == pytest.approx(3 / 4) and uptime["24h"].checks == 4
    assert uptime["30d"].ratio == pytest.approx(3 / 4)


def test_uptime_windows_use_hourly_and_daily_buckets(store: Store) -> None:
    mid = store.sync_monitors({"m": "http"}, NOW)["m"]
    rows = []
    for hours_ago in range(0, 24 * 40, 6):  # a check every 6 hours for 40 days
        ts = NOW - hours_ago * 3600
        state = State.DOWN if hours_ago < 24 else State.UP  # the last day was all down
        rows.append(ResultRow(mid, ts, state, 5.0, ""))
    store.write_batch(rows, [])
    uptime = store.uptime(NOW)[mid]
    assert uptime["24h"].ratio == 0.0
    day_start = NOW // DAY * DAY
    in_7d = [r for r in rows if r.ts >= day_start - 6 * DAY]
    good_7d = [r for r in in_7d if r.state is State.UP]
    assert uptime["7d"].checks == len(in_7d)
    assert uptime["7d"].ratio == pytest.approx(len(good_7d) / len(in_7d))
    assert uptime["30d"].checks == len([r for r in rows if r.ts >= day_start - 29 * DAY])


def test_state_upsert_replaces(store: Store) -> None:
    mid = store.sync_monitors({"m": "push"}, NOW)["m"]
    store.write_batch(
        [], [StateRow(mid, State.UP, NOW, "ok", last_ping=NOW, last_ping_kind="success")]
    )
    store.write_batch(
        [], [StateRow(mid, State.DOWN, NOW + 5, "late", last_ping=NOW, last_ping_kind="fail")]
    )
    saved = store.load_states()[mid]
    assert (saved.state, saved.reason, saved.last_ping_kind) == (State.DOWN, "late", "fail")


def test_sync_monitors_keeps_ids_and_history(store: Store) -> None:
    first = store.sync_monitors({"a": "http"}, NOW)
    second = store.sync_monitors({"a": "tcp", "b": "http"}, NOW)
    assert second["a"] == first["a"] and second["b"] != first["a"]


def test_prune_drops_old_raw_rows_but_keeps_rollups(store: Store) -> None:
    mid = store.sync_monitors({"m": "http"}, NOW)["m"]
    store.write_batch(
        [ResultRow(mid, NOW - 10 * DAY, State.UP, 1.0, ""), ResultRow(mid, NOW, State.UP, 1.0, "")],
        [],
    )
    removed = store.prune(NOW, keep_results=7 * DAY, keep_hourly=35 * DAY, keep_daily=400 * DAY)
    assert removed == 1 and store.count_results(mid) == 1
    assert len(store.rollup_series(mid, DAY, 0)) == 2  # the old day's rollup survives
    store.prune(NOW, keep_results=7 * DAY, keep_hourly=35 * DAY, keep_daily=5 * DAY)
    assert len(store.rollup_series(mid, DAY, 0)) == 1


def test_recent_latencies_per_monitor(store: Store) -> None:
    ids = store.sync_monitors({"a": "http", "b": "http"}, NOW)
    store.write_batch(
        [ResultRow(ids["a"], NOW + i, State.UP, float(i), "") for i in range(10)]
        + [ResultRow(ids["b"], NOW, State.UP, 1.0, "")],
        [],
    )
    recent = store.recent_latencies(NOW - 1, per_monitor=3)
    assert [r.latency_ms for r in recent[ids["a"]]] == [7.0, 8.0, 9.0]
    assert len(recent[ids["b"]]) == 1


def test_tokens_are_stored_hashed(store: Store) -> None:
    token = store.create_token("grafana", NOW)
    assert token.startswith("lk_") and len(token) > 40
    assert store.token_name(token, NOW + 1) == "grafana"
    assert store.token_name(token + "x") is None
    with pytest.raises(ValueError, match="exists"):
        store.create_token("grafana", NOW)
    with store.engine.connect() as conn:
        stored = [tuple(r) for r in conn.exec_driver_sql("SELECT name, token_hash FROM api_tokens")]
    assert stored == [("grafana", hash_token(token))]
    assert token not in repr(stored)
    [info] = store.list_tokens()
    assert info.last_used_at == NOW + 1
    assert store.revoke_token("grafana") and store.token_name(token) is None
    assert not store.revoke_token("grafana")


def test_bad_store_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        Store("mysql://root@localhost/x")
    with pytest.raises(ConfigError, match="not a database URL"):
        Store("not a url at all")


def test_the_head_constant_is_alembics_head() -> None:
    """migrate() skips alembic when the store is at HEAD: HEAD must be the newest revision."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from lightkeeper.store.engine import HEAD, MIGRATIONS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_a_migration_that_fails_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    """The upgrade is one transaction on SQLite too: when a late step fails (here 0005's
    table is already there), the tables of 0001-0004 are not left without a version stamp
    — which would make every later start fail on "table already exists" — and once the
    obstacle is gone the store opens."""
    import sqlite3

    db = tmp_path / "lk.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE backup_runs (id INTEGER)")
    store = Store(f"sqlite:///{db}")
    with pytest.raises(StoreError, match="backup_runs already exists"):
        store.migrate()
    store.close()
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"backup_runs"}
        conn.execute("DROP TABLE backup_runs")
    store = Store(f"sqlite:///{db}")
    store.migrate()
    assert store.load_states() == {}
    store.close()
