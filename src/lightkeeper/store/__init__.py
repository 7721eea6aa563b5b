"""The store: results, rollups and live state in SQLite or PostgreSQL.

Every method is synchronous (SQLAlchemy Core); the async service calls them in a worker
thread so a slow disk or a restarting database never stalls the event loop.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    case,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from lightkeeper.store.engine import dialect_insert, migrate, open_engine
from lightkeeper.store.tables import api_tokens, monitor_state, monitors, results, rollups
from lightkeeper.types import State

HOUR = 3600
DAY = 86400
UPTIME_WINDOWS: dict[str, tuple[int, int]] = {
    # window → (rollup period, number of buckets, the current partial one included)
    "24h": (HOUR, 24),
    "7d": (DAY, 7),
    "30d": (DAY, 30),
}


@dataclass(frozen=True, slots=True)
class ResultRow:
    monitor_id: int
    ts: float
    state: State
    latency_ms: float | None
    reason: str


@dataclass(slots=True)
class StateRow:
    """A monitor's decided state and what it takes to go on deciding after a restart."""

    monitor_id: int
    state: State
    since: float
    reason: str
    last_check: float | None = None
    latency_ms: float | None = None
    fail_streak: int = 0
    ok_streak: int = 0
    metrics: dict[str, float | int] | None = None
    last_ping: float | None = None
    last_start: float | None = None
    last_ping_kind: str = ""


@dataclass(frozen=True, slots=True)
class Uptime:
    ratio: float | None  # None: no checks in the window
    checks: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    created_at: float
    last_used_at: float | None


def hash_token(token: str) -> str:
    # Tokens are 32 random bytes, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = open_engine(url)
        self.dialect = self.engine.dialect.name

    def migrate(self) -> None:
        migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # monitors -------------------------------------------------------------------------

    def sync_monitors(self, kinds: dict[str, str], now: float) -> dict[str, int]:
        """Ensure a row per monitor name; return name → id. Removed monitors keep history."""
        with self.engine.begin() as conn:
            known = {r.name: r.id for r in conn.execute(select(monitors.c.name, monitors.c.id))}
            missing = [n for n in kinds if n not in known]
            if missing:
                conn.execute(
                    insert(monitors),
                    [{"name": n, "type": kinds[n], "created_at": now} for n in missing],
                )
                known = {r.name: r.id for r in conn.execute(select(monitors.c.name, monitors.c.id))}
            for name, kind in kinds.items():
                conn.execute(
                    update(monitors)
                    .where(monitors.c.name == name)
                    .where(monitors.c.type != kind)
                    .values(type=kind)
                )
        return {n: known[n] for n in kinds}

    # writing --------------------------------------------------------------------------

    def write_batch(
        self,
        rows: Sequence[ResultRow],
        states: Iterable[StateRow],
        also: Callable[[Connection], None] | None = None,
    ) -> None:
        """Results, their rollups and the new states in one transaction: all or nothing.

        ``also`` writes more in the same transaction (the signal minutes the results fed).
        """
        state_rows = [_state_dict(s) for s in states]
        with self.engine.begin() as conn:
            if also is not None:
                also(conn)
            if rows:
                conn.execute(
                    insert(results),
                    [
                        {
                            "monitor_id": r.monitor_id,
                            "ts": r.ts,
                            "state": r.state.value,
                            "latency_ms": r.latency_ms,
                            "reason": r.reason,
                        }
                        for r in rows
                    ],
                )
                rollup_rows = _rollup_rows(rows)
                if rollup_rows:
                    conn.execute(self._rollup_upsert(), rollup_rows)
            if state_rows:
                conn.execute(self._state_upsert(), state_rows)

    def _insert(self, table: Any) -> Any:
        return dialect_insert(self.dialect, table)

    def _rollup_upsert(self) -> Any:
        stmt = self._insert(rollups)
        new = stmt.excluded
        return stmt.on_conflict_do_update(
            index_elements=[rollups.c.monitor_id, rollups.c.period, rollups.c.bucket],
            set_={
                "checks": rollups.c.checks + new.checks,
                "up": rollups.c.up + new.up,
                "degraded": rollups.c.degraded + new.degraded,
                "down": rollups.c.down + new.down,
                "latency_sum": rollups.c.latency_sum + new.latency_sum,
                "latency_count": rollups.c.latency_count + new.latency_count,
                "latency_max": case(
                    (new.latency_max > rollups.c.latency_max, new.latency_max),
                    else_=rollups.c.latency_max,
                ),
            },
        )

    def _state_upsert(self) -> Any:
        stmt = self._insert(monitor_state)
        columns = [c.name for c in monitor_state.columns if c.name != "monitor_id"]
        return stmt.on_conflict_do_update(
            index_elements=[monitor_state.c.monitor_id],
            set_={name: getattr(stmt.excluded, name) for name in columns},
        )

    # reading --------------------------------------------------------------------------

    def load_states(self) -> dict[int, StateRow]:
        with self.engine.connect() as conn:
            return {r.monitor_id: _state_row(r) for r in conn.execute(select(monitor_state))}

    def recent_results(
        self, monitor_id: int, limit: int = 50, since: float | None = None
    ) -> list[ResultRow]:
        query = select(results).where(results.c.monitor_id == monitor_id)
        if since is not None:
            query = query.where(results.c.ts >= since)
        query = query.order_by(results.c.ts.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                ResultRow(r.monitor_id, r.ts, State(r.state), r.latency_ms, r.reason)
                for r in conn.execute(query)
            ]

    def recent_latencies(self, since: float, per_monitor: int) -> dict[int, list[ResultRow]]:
        """The newest ``per_monitor`` results of every monitor since ``since`` (sparklines)."""
        ranked = (
            select(
                results,
                func.row_number()
                .over(partition_by=results.c.monitor_id, order_by=results.c.ts.desc())
                .label("rank"),
            )
            .where(results.c.ts >= since)
            .subquery()
        )
        query = select(ranked).where(ranked.c.rank <= per_monitor).order_by(ranked.c.ts)
        out: dict[int, list[ResultRow]] = defaultdict(list)
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                out[r.monitor_id].append(
                    ResultRow(r.monitor_id, r.ts, State(r.state), r.latency_ms, r.reason)
                )
        return dict(out)

    def uptime(
        self, now: float, monitor_ids: Sequence[int] | None = None
    ) -> dict[int, dict[str, Uptime]]:
        """Uptime per monitor over 24 h (hourly rollups) and 7 d / 30 d (daily rollups).

        A window is its number of whole buckets back from the bucket holding ``now``,
        the current partial one included; degraded checks count as up (the service
        answered, slowly). Raw results are never scanned.
        """
        out: dict[int, dict[str, Uptime]] = defaultdict(dict)
        with self.engine.connect() as conn:
            for window, (period, count) in UPTIME_WINDOWS.items():
                start = math.floor(now / period) * period - (count - 1) * period
                query = (
                    select(
                        rollups.c.monitor_id,
                        func.sum(rollups.c.checks).label("checks"),
                        func.sum(rollups.c.up + rollups.c.degraded).label("good"),
                    )
                    .where(and_(rollups.c.period == period, rollups.c.bucket >= start))
                    .group_by(rollups.c.monitor_id)
                )
                if monitor_ids is not None:
                    query = query.where(rollups.c.monitor_id.in_(list(monitor_ids)))
                for r in conn.execute(query):
                    checks = int(r.checks or 0)
                    ratio = (int(r.good or 0) / checks) if checks else None
                    out[r.monitor_id][window] = Uptime(ratio, checks)
        return dict(out)

    def monitor_ids(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {r.name: r.id for r in conn.execute(select(monitors.c.name, monitors.c.id))}

    def latency(self, since: float) -> dict[int, tuple[float, float]]:
        """Average and worst latency per monitor since ``since``, from hourly rollups."""
        query = (
            select(
                rollups.c.monitor_id,
                func.sum(rollups.c.latency_sum).label("total"),
                func.sum(rollups.c.latency_count).label("n"),
                func.max(rollups.c.latency_max).label("worst"),
            )
            .where(rollups.c.period == HOUR, rollups.c.bucket >= math.floor(since / HOUR) * HOUR)
            .group_by(rollups.c.monitor_id)
        )
        with self.engine.connect() as conn:
            return {
                r.monitor_id: (float(r.total) / int(r.n), float(r.worst))
                for r in conn.execute(query)
                if r.n
            }

    def rollup_series(self, monitor_id: int, period: int, since: float) -> list[Row[Any]]:
        query = (
            select(rollups)
            .where(rollups.c.monitor_id == monitor_id)
            .where(rollups.c.period == period)
            .where(rollups.c.bucket >= since)
            .order_by(rollups.c.bucket)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def count_results(self, monitor_id: int | None = None) -> int:
        query = select(func.count()).select_from(results)
        if monitor_id is not None:
            query = query.where(results.c.monitor_id == monitor_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # retention ------------------------------------------------------------------------

    def prune(self, now: float, keep_results: float, keep_hourly: float, keep_daily: float) -> int:
        """Delete what is older than the retention; return the raw rows removed."""
        with self.engine.begin() as conn:
            removed = conn.execute(delete(results).where(results.c.ts < now - keep_results))
            conn.execute(
                delete(rollups).where(
                    rollups.c.period == HOUR, rollups.c.bucket < now - keep_hourly
                )
            )
            conn.execute(
                delete(rollups).where(rollups.c.period == DAY, rollups.c.bucket < now - keep_daily)
            )
        return int(removed.rowcount or 0)

    # API tokens -----------------------------------------------------------------------

    def create_token(self, name: str, now: float) -> str:
        """Create a token and return it; only its hash is stored, so it is shown once."""
        token = "lk_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            exists = conn.execute(select(api_tokens.c.id).where(api_tokens.c.name == name)).first()
            if exists:
                raise ValueError(
                    f"a token named {name!r} exists; revoke it first or pick another name"
                )
            conn.execute(
                insert(api_tokens).values(name=name, token_hash=hash_token(token), created_at=now)
            )
        return token

    def token_name(self, token: str, now: float | None = None) -> str | None:
        digest = hash_token(token)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(api_tokens.c.name).where(api_tokens.c.token_hash == digest)
            ).first()
            if row and now is not None:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.token_hash == digest)
                    .values(last_used_at=now)
                )
        return row.name if row else None

    def list_tokens(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.name))
            return [TokenInfo(r.name, r.created_at, r.last_used_at) for r in rows]

    def revoke_token(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(api_tokens).where(api_tokens.c.name == name)).rowcount)


def _rollup_rows(rows: Sequence[ResultRow]) -> list[dict[str, Any]]:
    acc: dict[tuple[int, int, float], list[float]] = {}
    for r in rows:
        if r.state is State.PENDING:
            continue  # "waiting for the first ping" is not a check the target failed
        for period in (HOUR, DAY):
            key = (r.monitor_id, period, float(math.floor(r.ts / period) * period))
            a = acc.setdefault(key, [0, 0, 0, 0, 0.0, 0, 0.0])
            a[0] += 1
            a[{State.UP: 1, State.DEGRADED: 2, State.DOWN: 3}[r.state]] += 1
            if r.latency_ms is not None:
                a[4] += r.latency_ms
                a[5] += 1
                a[6] = max(a[6], r.latency_ms)
    return [
        {
            "monitor_id": m,
            "period": p,
            "bucket": b,
            "checks": int(a[0]),
            "up": int(a[1]),
            "degraded": int(a[2]),
            "down": int(a[3]),
            "latency_sum": a[4],
            "latency_count": int(a[5]),
            "latency_max": a[6],
        }
        for (m, p, b), a in acc.items()
    ]


def _state_dict(s: StateRow) -> dict[str, Any]:
    return {
        "monitor_id": s.monitor_id,
        "state": s.state.value,
        "since": s.since,
        "reason": s.reason,
        "last_check": s.last_check,
        "latency_ms": s.latency_ms,
        "fail_streak": s.fail_streak,
        "ok_streak": s.ok_streak,
        "metrics": json.dumps(s.metrics or {}),
        "last_ping": s.last_ping,
        "last_start": s.last_start,
        "last_ping_kind": s.last_ping_kind,
    }


def _state_row(r: Row[Any]) -> StateRow:
    return StateRow(
        monitor_id=r.monitor_id,
        state=State(r.state),
        since=r.since,
        reason=r.reason,
        last_check=r.last_check,
        latency_ms=r.latency_ms,
        fail_streak=r.fail_streak,
        ok_streak=r.ok_streak,
        metrics=json.loads(r.metrics or "{}"),
        last_ping=r.last_ping,
        last_start=r.last_start,
        last_ping_kind=r.last_ping_kind,
    )
