"""Reading issues and their events back for the API and the pages, and changing an issue's
status. Every function takes a Connection (SQLite or PostgreSQL) and runs a fixed number
of queries, whatever the number of issues, tags or events: no query per row."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, exists, func, select, update

from lightkeeper.store.tables import (
    telemetry_events,
    telemetry_issue_hours,
    telemetry_issue_tags,
    telemetry_issues,
)
from lightkeeper.telemetry.ingest import user_hash
from lightkeeper.telemetry.store import HOUR, decompress_event

STATUSES = ("unresolved", "resolved", "ignored")
SORTS = ("last_seen", "first_seen", "count")
#: Values shown per tag key, most frequent first; the rest are counted, not listed.
TOP_VALUES = 10
OCCURRENCE_HOURS = 14 * 24
#: Tag values offered in the list's release and environment filters.
FILTER_VALUES = 50

_t = telemetry_issues
# Everything but the sample: a list of fifty issues must not read fifty compressed events.
_BRIEF = [c for c in _t.c if c.name != "sample"]


@dataclass(frozen=True)
class IssueFilter:
    """What the issue list shows: a search in title and culprit, filters, order, page."""

    q: str = ""
    status: str | None = None
    release: str | None = None
    environment: str | None = None
    sort: str = "last_seen"
    page: int = 1
    per_page: int = 50


def brief(row: Any) -> dict[str, Any]:
    """An issue as lists show it. ``regressed``: seen again after it was resolved."""
    m = row._mapping
    return {
        "id": m["id"],
        "project_id": m["project_id"],
        "title": m["title"],
        "culprit": m["culprit"],
        "level": m["level"],
        "status": m["status"],
        "regressed": m["status"] == "unresolved" and m["regressed_at"] is not None,
        "first_seen": m["first_seen"],
        "last_seen": m["last_seen"],
        "count": int(m["count"]),
        "users": m["users"],
        "first_release": m["first_release"],
        "last_release": m["last_release"],
        "resolved_at": m["resolved_at"],
        "regressed_at": m["regressed_at"],
        "regressions": m["regressions"],
        "method": m["method"],
        "components": json.loads(m["components"]),
    }


def _tagged(key: str, value: str) -> Any:
    tags = telemetry_issue_tags
    return exists().where(tags.c.issue_id == _t.c.id, tags.c.key == key, tags.c.value == value)


def _filtered(query: Select[Any], project_id: int, f: IssueFilter) -> Select[Any]:
    query = query.where(_t.c.project_id == project_id)
    if f.q.strip():
        q = f.q.strip()
        query = query.where(
            _t.c.title.icontains(q, autoescape=True) | _t.c.culprit.icontains(q, autoescape=True)
        )
    if f.status:
        query = query.where(_t.c.status == f.status)
    if f.release:
        query = query.where(_tagged("release", f.release))
    if f.environment:
        query = query.where(_tagged("environment", f.environment))
    return query


def list_issues(conn: Connection, project_id: int, f: IssueFilter) -> dict[str, Any]:
    """One page of a project's issues with the total that match."""
    total = conn.execute(_filtered(select(func.count()).select_from(_t), project_id, f)).scalar()
    order = getattr(_t.c, f.sort if f.sort in SORTS else "last_seen")
    query = (
        _filtered(select(*_BRIEF), project_id, f)
        .order_by(order.desc(), _t.c.id.desc())
        .limit(f.per_page)
        .offset((f.page - 1) * f.per_page)
    )
    items = [brief(r) for r in conn.execute(query)]
    count = int(total or 0)
    return {
        "items": items,
        "total": count,
        "page": f.page,
        "per_page": f.per_page,
        "pages": max(1, math.ceil(count / f.per_page)),
    }


def filter_values(conn: Connection, project_id: int) -> dict[str, list[str]]:
    """The releases and environments a project's issues were seen in, latest first."""
    tags = telemetry_issue_tags
    query = (
        select(tags.c.key, tags.c.value, func.max(tags.c.last_seen).label("seen"))
        .join(_t, _t.c.id == tags.c.issue_id)
        .where(_t.c.project_id == project_id, tags.c.key.in_(["release", "environment"]))
        .group_by(tags.c.key, tags.c.value)
        .order_by(func.max(tags.c.last_seen).desc())
    )
    found: dict[str, list[str]] = {"release": [], "environment": []}
    for key, value, _seen in conn.execute(query):
        if len(found[key]) < FILTER_VALUES:
            found[key].append(value)
    return found


def issue_tags(conn: Connection, issue_id: int) -> list[dict[str, Any]]:
    """Each tag key with its event total, distinct values and the top values by count."""
    tags = telemetry_issue_tags
    rank = func.row_number().over(
        partition_by=tags.c.key, order_by=(tags.c.count.desc(), tags.c.value)
    )
    ranked = select(
        tags.c.key,
        tags.c.value,
        tags.c.count,
        tags.c.first_seen,
        tags.c.last_seen,
        rank.label("rank"),
        func.sum(tags.c.count).over(partition_by=tags.c.key).label("total"),
        func.count().over(partition_by=tags.c.key).label("distinct"),
    ).where(tags.c.issue_id == issue_id)
    sub = ranked.subquery()
    rows = conn.execute(select(sub).where(sub.c.rank <= TOP_VALUES).order_by(sub.c.key, sub.c.rank))
    keys: dict[str, dict[str, Any]] = {}
    for r in rows.mappings():
        key = keys.setdefault(
            r["key"],
            {"key": r["key"], "total": int(r["total"]), "distinct": r["distinct"], "values": []},
        )
        key["values"].append(
            {
                "value": r["value"],
                "count": int(r["count"]),
                "first_seen": r["first_seen"],
                "last_seen": r["last_seen"],
            }
        )
    return list(keys.values())


def occurrences(conn: Connection, issue_id: int, now: float) -> dict[str, Any]:
    """Events per hour over the last 14 days, every hour present (0 when none)."""
    last = now - now % HOUR
    first = last - (OCCURRENCE_HOURS - 1) * HOUR
    h = telemetry_issue_hours
    query = select(h.c.hour, h.c.count).where(h.c.issue_id == issue_id, h.c.hour >= first)
    counts = {hour: int(count) for hour, count in conn.execute(query)}
    hours = [first + i * HOUR for i in range(OCCURRENCE_HOURS)]
    return {"step": HOUR, "hours": hours, "counts": [counts.get(t, 0) for t in hours]}


def _events(
    conn: Connection, issue_id: int, sample: bytes, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    e = telemetry_events
    query = (
        select(e)
        .where(e.c.issue_id == issue_id)
        .order_by(e.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [event_view(r, decompress_event(r.payload, sample)) for r in conn.execute(query)]


def event_view(row: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": row.event_id,
        "ts": row.ts,
        "received": row.received,
        "level": row.level,
        "release": row.release,
        "environment": row.environment,
        "user": user_hash(data),
        "data": data,
    }


def get_issue(
    conn: Connection, issue_id: int, now: float, events: int = 10
) -> dict[str, Any] | None:
    """An issue with its tags, hourly occurrences and latest ``events``, the last received
    first (the events index's order: no sort over all of an issue's events)."""
    row = conn.execute(select(_t).where(_t.c.id == issue_id)).first()
    if row is None:
        return None
    issue = brief(row)
    issue["tags"] = issue_tags(conn, issue_id)
    issue["occurrences"] = occurrences(conn, issue_id, now)
    issue["events"] = _events(conn, issue_id, row.sample, events)
    return issue


def list_events(
    conn: Connection, issue_id: int, page: int = 1, per_page: int = 20
) -> dict[str, Any] | None:
    """A page of an issue's stored events, newest first; None for an unknown issue."""
    sample = conn.execute(select(_t.c.sample).where(_t.c.id == issue_id)).scalar()
    if sample is None:
        return None
    e = telemetry_events
    total = int(
        conn.execute(select(func.count()).select_from(e).where(e.c.issue_id == issue_id)).scalar()
        or 0
    )
    return {
        "items": _events(conn, issue_id, sample, per_page, (page - 1) * per_page),
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, math.ceil(total / per_page)),
    }


def project_stats(conn: Connection, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Per project: events stored, issues, and bytes stored (event payloads and samples)."""
    ids = list(project_ids)
    stats = {p: {"events": 0, "issues": 0, "stored_bytes": 0} for p in ids}
    e = telemetry_events
    for table, column, counted in (
        (e, e.c.payload, "events"),
        (_t, _t.c.sample, "issues"),
    ):
        query = (
            select(
                table.c.project_id, func.count(), func.coalesce(func.sum(func.length(column)), 0)
            )
            .where(table.c.project_id.in_(ids))
            .group_by(table.c.project_id)
        )
        for project_id, count, size in conn.execute(query):
            stats[project_id][counted] = int(count)
            stats[project_id]["stored_bytes"] += int(size)
    return stats


def set_status(conn: Connection, issue_id: int, status: str, now: float) -> dict[str, Any] | None:
    """Resolve, ignore or reopen an issue; None if there is none. Resolving stamps
    ``resolved_at``, which stays as when it was last resolved (as after a regression, when
    an event reopens a resolved issue; an ignored one stays ignored)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    values: dict[str, Any] = {"status": status}
    if status == "resolved":
        values["resolved_at"] = now
    done = conn.execute(update(_t).where(_t.c.id == issue_id).values(**values))
    if not done.rowcount:
        return None
    return brief(conn.execute(select(*_BRIEF).where(_t.c.id == issue_id)).one())
