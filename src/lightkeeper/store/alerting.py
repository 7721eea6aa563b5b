"""Store access for deciding and telling: signal minutes, alerts, groups, silences.

Functions take a Connection so the caller decides the transaction: the rules engine
writes the alerts it changed, its notification groups and the outbox rows of what it
is about to send in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lightkeeper.rules.engine import Alert, AlertState, Severity
from lightkeeper.rules.router import Group
from lightkeeper.rules.signals import MinuteRow
from lightkeeper.store.engine import dialect_insert
from lightkeeper.store.tables import alerts, notify_groups, series, signal_minutes, silences


def upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Insert or replace rows by their key columns, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    stmt = dialect_insert(conn.dialect.name, table)
    columns = [c for c in rows[0] if c not in keys]
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=keys, set_={c: getattr(stmt.excluded, c) for c in columns}
        ),
        rows,
    )


# signals ------------------------------------------------------------------------------


def write_minutes(conn: Connection, rows: Sequence[MinuteRow], ids: dict[str, int]) -> None:
    """Upsert minute rollups; ``ids`` caches series key → id across calls."""
    if not rows:
        return
    missing = {r.key: r for r in rows if r.key not in ids}
    if missing:
        known = {
            r.key: r.id
            for r in conn.execute(
                select(series.c.key, series.c.id).where(series.c.key.in_(list(missing)))
            )
        }
        new = [k for k in missing if k not in known]
        if new:
            conn.execute(
                insert(series),
                [{"key": k, "name": missing[k].name, "labels": missing[k].labels} for k in new],
            )
            known.update(
                {
                    r.key: r.id
                    for r in conn.execute(
                        select(series.c.key, series.c.id).where(series.c.key.in_(new))
                    )
                }
            )
        ids.update(known)
    upsert(
        conn,
        signal_minutes,
        [
            {
                "series_id": ids[r.key],
                "minute": r.minute,
                "count": r.count,
                "sum": r.sum,
                "min": r.min,
                "max": r.max,
                "last": r.last,
                "sketch": r.sketch,
            }
            for r in rows
        ],
        ["series_id", "minute"],
    )


def load_minutes(conn: Connection, since: float, names: Iterable[str]) -> list[MinuteRow]:
    query = (
        select(series.c.key, series.c.name, series.c.labels, signal_minutes)
        .join(signal_minutes, signal_minutes.c.series_id == series.c.id)
        .where(signal_minutes.c.minute >= since)
        .where(series.c.name.in_(list(names)))
    )
    return [
        MinuteRow(
            r.key,
            r.name,
            r.labels,
            r.minute,
            r._mapping["count"],
            r.sum,
            r.min,
            r.max,
            r.last,
            r.sketch,
        )
        for r in conn.execute(query)
    ]


def prune_minutes(conn: Connection, before: float) -> None:
    conn.execute(delete(signal_minutes).where(signal_minutes.c.minute < before))


# alerts -------------------------------------------------------------------------------


def write_alerts(conn: Connection, changed: Iterable[Alert]) -> None:
    upsert(
        conn,
        alerts,
        [
            {
                "fingerprint": a.fingerprint,
                "rule": a.rule,
                "severity": a.severity.value,
                "labels": json.dumps(a.labels, sort_keys=True),
                "annotations": json.dumps(
                    {**a.annotations, "__expr": a.expr, "__threshold": a.threshold}, sort_keys=True
                ),
                "state": a.state.value,
                "pending_since": a.pending_since,
                "fired_at": a.fired_at,
                "resolved_at": a.resolved_at,
                "last_true": a.last_true,
                "value": a.value,
                "updated_at": a.updated_at,
            }
            for a in {a.fingerprint: a for a in changed}.values()
        ],
        ["fingerprint"],
    )


def load_alerts(conn: Connection, active_only: bool = True) -> list[Alert]:
    query = select(alerts)
    if active_only:
        query = query.where(alerts.c.state != AlertState.RESOLVED.value)
    out = []
    for r in conn.execute(query.order_by(alerts.c.updated_at.desc())):
        notes = json.loads(r.annotations)
        expr, threshold = notes.pop("__expr", ""), notes.pop("__threshold", None)
        out.append(
            Alert(
                r.fingerprint,
                r.rule,
                Severity(r.severity),
                json.loads(r.labels),
                notes,
                AlertState(r.state),
                r.pending_since,
                r.fired_at,
                r.resolved_at,
                r.last_true,
                r.value,
                threshold,
                expr,
                r.updated_at,
            )
        )
    return out


# groups -------------------------------------------------------------------------------


def write_groups(conn: Connection, changed: Iterable[Group], finished: Iterable[str]) -> None:
    gone = list(finished)
    if gone:
        conn.execute(delete(notify_groups).where(notify_groups.c.key.in_(gone)))
    upsert(
        conn,
        notify_groups,
        [
            {
                "key": g.key,
                "route": g.route,
                "state": g.state_json(),
                "next_flush": g.next_flush,
                "last_flush": g.last_flush,
                "last_notify": g.last_notify,
            }
            for g in changed
        ],
        ["key"],
    )


def load_groups(
    conn: Connection,
) -> list[tuple[str, int, str, float | None, float | None, float | None]]:
    return [
        (r.key, r.route, r.state, r.next_flush, r.last_flush, r.last_notify)
        for r in conn.execute(select(notify_groups))
    ]


# silences -----------------------------------------------------------------------------


def add_silence(
    conn: Connection,
    matchers: list[str],
    starts_at: float,
    ends_at: float,
    author: str,
    comment: str,
    now: float,
) -> int:
    result = conn.execute(
        insert(silences).values(
            matchers=json.dumps(matchers),
            starts_at=starts_at,
            ends_at=ends_at,
            author=author,
            comment=comment,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def expire_silence(conn: Connection, silence_id: int, now: float) -> bool:
    result = conn.execute(
        update(silences)
        .where(silences.c.id == silence_id)
        .where(silences.c.ends_at > now)
        .values(ends_at=now)
    )
    return bool(result.rowcount)


def load_silences(
    conn: Connection, now: float, include_expired: bool = False
) -> list[dict[str, Any]]:
    query = select(silences).order_by(silences.c.id)
    if not include_expired:
        query = query.where(silences.c.ends_at > now)
    return [
        {
            "id": r.id,
            "matchers": json.loads(r.matchers),
            "starts_at": r.starts_at,
            "ends_at": r.ends_at,
            "author": r.author,
            "comment": r.comment,
            "created_at": r.created_at,
        }
        for r in conn.execute(query)
    ]
