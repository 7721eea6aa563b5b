"""Writing error events and the issues they group into, compactly.

An issue keeps its first event as ``sample`` (zstd). Every later event of the issue is
compressed with that sample as a zstd raw-content dictionary: events of one issue share
nearly everything (stack trace, modules, SDK, contexts), so what is stored per event is
little more than what differs — its id, time, user and variables. The event that opens an
issue is stored once, as the sample; its own row holds an empty payload.

Everything of one batch — events, issue counters, tags, users, hourly counts — is written
in one transaction, with an event id seen before skipped (an SDK that retries a request
whose answer it lost does not count twice).
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import zstandard
from sqlalchemy import Connection, bindparam, case, func, insert, select, update

from lightkeeper.store.engine import dialect_insert
from lightkeeper.store.tables import (
    telemetry_events,
    telemetry_issue_hours,
    telemetry_issue_tags,
    telemetry_issue_users,
    telemetry_issues,
)

LEVEL = 3  # zstd: level 3 is within a few % of 9 on events, at a fraction of the CPU
CACHED_ISSUES = 512
CACHED_COMPRESSORS = 64
HOUR = 3600.0


@dataclass
class EventRecord:
    """One error or message event, scrubbed and grouped, ready to store."""

    project_id: int
    event_id: str
    hash: str
    title: str
    culprit: str
    method: str
    components: tuple[str, ...]
    level: str
    ts: float
    received: float
    release: str | None
    environment: str | None
    user: str | None  # a short hash, for counting users affected
    tags: list[tuple[str, str]]
    body: bytes  # the event as JSON


@dataclass
class Written:
    stored: int = 0
    duplicates: int = 0
    new_issues: list[tuple[int, int]] = field(default_factory=list)  # (project_id, issue id)
    regressions: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _Issue:
    id: int
    sample: bytes  # the first event, uncompressed: the dictionary for the others


class IssueCache:
    """The issues recently written to, and compressors for the busiest of them (building
    one costs more than compressing an event with it; each holds ~150 KB of zstd state, so
    fewer are kept than issues)."""

    def __init__(self, size: int = CACHED_ISSUES, compressors: int = CACHED_COMPRESSORS) -> None:
        self.size = size
        self.compressors = compressors
        self._issues: OrderedDict[tuple[int, str], _Issue] = OrderedDict()
        self._compressors: OrderedDict[int, zstandard.ZstdCompressor] = OrderedDict()
        self._stamp = 0.0

    def get(self, key: tuple[int, str]) -> _Issue | None:
        issue = self._issues.get(key)
        if issue is not None:
            self._issues.move_to_end(key)
        return issue

    def put(self, key: tuple[int, str], issue: _Issue) -> None:
        self._issues[key] = issue
        self._issues.move_to_end(key)
        while len(self._issues) > self.size:
            self._issues.popitem(last=False)

    def compress(self, issue: _Issue, body: bytes) -> bytes:
        """``body`` against the issue's sample; the sample itself is stored as b""."""
        if body == issue.sample:
            return b""
        compressor = self._compressors.get(issue.id)
        if compressor is None:
            compressor = _compressor(issue.sample, len(body))
            self._compressors[issue.id] = compressor
            while len(self._compressors) > self.compressors:
                self._compressors.popitem(last=False)
        else:
            self._compressors.move_to_end(issue.id)
        return compressor.compress(body)

    def stamp(self, at: float) -> float:
        """``at``, nudged to be later than any stamp before it (see ``_touch``)."""
        self._stamp = max(at, self._stamp + 1e-6)
        return self._stamp

    def forget(self) -> None:
        """After a rolled-back transaction: ids read in it may not be real."""
        self._issues.clear()
        self._compressors.clear()


def _compressor(sample: bytes, size: int) -> zstandard.ZstdCompressor:
    d = zstandard.ZstdCompressionDict(sample, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    # Parameters sized for events of a few KB: smaller tables, less memory, same ratio.
    params = zstandard.ZstdCompressionParameters.from_level(
        LEVEL, source_size=max(size, 1024), dict_size=len(sample)
    )
    return zstandard.ZstdCompressor(compression_params=params, dict_data=d)


def compress_sample(body: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=LEVEL).compress(body)


def decompress_event(payload: bytes, sample: bytes) -> dict[str, Any]:
    """An event as stored → the event; ``sample`` is the issue's stored (compressed) sample.
    An empty payload is the event that opened the issue: the sample itself."""
    if not payload:
        return sample_event(sample)
    raw = zstandard.ZstdDecompressor().decompress(sample)
    d = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    data = zstandard.ZstdDecompressor(dict_data=d).decompress(payload)
    event: dict[str, Any] = json.loads(data)
    return event


def sample_event(sample: bytes) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(zstandard.ZstdDecompressor().decompress(sample))
    return event


def write_events(conn: Connection, records: Sequence[EventRecord], cache: IssueCache) -> Written:
    """Store a batch of events in the caller's transaction; see the module docstring."""
    written = Written()
    fresh = _without_duplicates(conn, records)
    written.duplicates = len(records) - len(fresh)
    by_issue: dict[tuple[int, str], list[EventRecord]] = defaultdict(list)
    for record in fresh:
        by_issue[(record.project_id, record.hash)].append(record)
    rows: list[dict[str, Any]] = []
    users: set[tuple[int, str]] = set()
    tags: dict[tuple[int, str, str], list[float]] = {}
    hours: dict[tuple[int, float], int] = defaultdict(int)
    found = {key: _issue_for(conn, key, group[0], cache) for key, group in by_issue.items()}
    stamp = cache.stamp(max(r.received for r in fresh)) if fresh else 0.0
    regressed = _touch(conn, [(found[k][0], g) for k, g in by_issue.items()], stamp)
    for key, group in by_issue.items():
        issue, opened = found[key]
        if opened:
            written.new_issues.append((key[0], issue.id))
        elif issue.id in regressed:
            written.regressions.append((key[0], issue.id))
        for r in group:
            rows.append(
                {
                    "project_id": r.project_id,
                    "event_id": r.event_id,
                    "issue_id": issue.id,
                    "ts": r.ts,
                    "received": r.received,
                    "level": r.level,
                    "release": r.release,
                    "environment": r.environment,
                    "payload": cache.compress(issue, r.body),
                }
            )
            if r.user:
                users.add((issue.id, r.user))
            hours[(issue.id, r.ts - r.ts % HOUR)] += 1
            for k, v in _tags_of(r):
                seen = tags.get((issue.id, k, v))
                if seen is None:
                    tags[(issue.id, k, v)] = [1, r.ts, r.ts]
                else:
                    seen[0] += 1
                    seen[1] = min(seen[1], r.ts)
                    seen[2] = max(seen[2], r.ts)
    if rows:
        conn.execute(insert(telemetry_events), rows)
    _add_users(conn, users)
    _add_tags(conn, tags)
    _add_hours(conn, hours)
    written.stored = len(rows)
    return written


def _without_duplicates(conn: Connection, records: Sequence[EventRecord]) -> list[EventRecord]:
    seen: set[tuple[int, str]] = set()
    unique = []
    for r in records:
        if (r.project_id, r.event_id) not in seen:
            seen.add((r.project_id, r.event_id))
            unique.append(r)
    by_project: dict[int, list[str]] = defaultdict(list)
    for project_id, event_id in seen:
        by_project[project_id].append(event_id)
    stored: set[tuple[int, str]] = set()
    for project_id, ids in by_project.items():
        query = select(telemetry_events.c.event_id).where(
            telemetry_events.c.project_id == project_id, telemetry_events.c.event_id.in_(ids)
        )
        stored.update((project_id, e) for (e,) in conn.execute(query))
    return [r for r in unique if (r.project_id, r.event_id) not in stored]


def _issue_for(
    conn: Connection, key: tuple[int, str], first: EventRecord, cache: IssueCache
) -> tuple[_Issue, bool]:
    """The issue of ``key``, opened with ``first`` as its sample if it is new.

    Not in the cache: most likely new, so the INSERT comes first (ON CONFLICT DO NOTHING
    RETURNING tells whether this transaction opened it — another process may have won);
    only when it already existed is it read.
    """
    issue = cache.get(key)
    if issue is not None:
        return issue, False
    t = telemetry_issues
    sample = compress_sample(first.body)
    stmt = (
        dialect_insert(conn.dialect.name, t)
        .on_conflict_do_nothing(index_elements=["project_id", "hash"])
        .returning(t.c.id)
    )
    opened_id = conn.execute(
        stmt,
        {
            "project_id": key[0],
            "hash": key[1],
            "title": first.title,
            "culprit": first.culprit,
            "level": first.level,
            "method": first.method,
            "components": json.dumps(list(first.components)),
            "status": "unresolved",
            "first_seen": first.ts,
            "last_seen": first.ts,
            "count": 0,
            "users": 0,
            "first_release": first.release,
            "last_release": first.release,
            "regressions": 0,
            "sample": sample,
        },
    ).scalar()
    if opened_id is not None:
        issue = _Issue(int(opened_id), first.body)
    else:
        query = select(t.c.id, t.c.sample).where(t.c.project_id == key[0], t.c.hash == key[1])
        row = conn.execute(query).one()
        issue = _Issue(row.id, zstandard.ZstdDecompressor().decompress(row.sample))
    cache.put(key, issue)
    return issue, opened_id is not None


def _touch(
    conn: Connection, groups: list[tuple[_Issue, list[EventRecord]]], stamp: float
) -> set[int]:
    """Count each group on its issue; return the ids of those that were resolved
    (regressions: they are reopened).

    The status is read and changed by the same UPDATE, so a resolve made a moment ago —
    here or in another process — is seen: no cached status can miss a regression.
    ``stamp`` is unique to this write: an issue whose ``regressed_at`` reads it afterwards
    was reopened by this write. One UPDATE for all issues, one SELECT to read that back.
    """
    if not groups:
        return set()
    t = telemetry_issues
    resolved = t.c.status == "resolved"
    latest = func.max if conn.dialect.name == "sqlite" else func.greatest
    query = (
        update(t)
        .where(t.c.id == bindparam("issue"))
        .values(
            count=t.c.count + bindparam("n"),
            last_seen=latest(t.c.last_seen, bindparam("newest")),
            level=bindparam("new_level"),
            last_release=func.coalesce(bindparam("release"), t.c.last_release),
            status=case((resolved, "unresolved"), else_=t.c.status),
            regressed_at=case((resolved, stamp), else_=t.c.regressed_at),
            regressions=t.c.regressions + case((resolved, 1), else_=0),
        )
    )
    params = []
    for issue, group in groups:
        newest = max(group, key=lambda r: r.ts)
        params.append(
            {
                "issue": issue.id,
                "n": len(group),
                "newest": newest.ts,
                "new_level": newest.level,
                "release": newest.release,
            }
        )
    conn.execute(query, params)
    ids = [issue.id for issue, _ in groups]
    reopened = select(t.c.id).where(t.c.id.in_(ids), t.c.regressed_at == stamp)
    return {int(i) for (i,) in conn.execute(reopened)}


def _tags_of(record: EventRecord) -> list[tuple[str, str]]:
    tags = list(record.tags)
    if record.release:
        tags.append(("release", record.release))
    if record.environment:
        tags.append(("environment", record.environment))
    tags.append(("level", record.level))
    return tags


def _add_users(conn: Connection, users: set[tuple[int, str]]) -> None:
    if not users:
        return
    stmt = dialect_insert(conn.dialect.name, telemetry_issue_users).on_conflict_do_nothing()
    conn.execute(stmt, [{"issue_id": i, "user": u} for i, u in users])
    u = telemetry_issue_users
    for issue_id in {i for i, _ in users}:
        count = select(func.count()).select_from(u).where(u.c.issue_id == issue_id)
        conn.execute(
            update(telemetry_issues)
            .where(telemetry_issues.c.id == issue_id)
            .values(users=count.scalar_subquery())
        )


def _add_tags(conn: Connection, tags: dict[tuple[int, str, str], list[float]]) -> None:
    if not tags:
        return
    t = telemetry_issue_tags
    stmt = dialect_insert(conn.dialect.name, t)
    latest = func.max if conn.dialect.name == "sqlite" else func.greatest
    earliest = func.min if conn.dialect.name == "sqlite" else func.least
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["issue_id", "key", "value"],
            set_={
                "count": t.c.count + stmt.excluded["count"],
                "first_seen": earliest(t.c.first_seen, stmt.excluded.first_seen),
                "last_seen": latest(t.c.last_seen, stmt.excluded.last_seen),
            },
        ),
        [
            {
                "issue_id": i,
                "key": k,
                "value": v,
                "count": int(c[0]),
                "first_seen": c[1],
                "last_seen": c[2],
            }
            for (i, k, v), c in tags.items()
        ],
    )


def _add_hours(conn: Connection, hours: dict[tuple[int, float], int]) -> None:
    if not hours:
        return
    t = telemetry_issue_hours
    stmt = dialect_insert(conn.dialect.name, t)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["issue_id", "hour"], set_={"count": t.c.count + stmt.excluded["count"]}
        ),
        [{"issue_id": i, "hour": h, "count": n} for (i, h), n in hours.items()],
    )


def prune(conn: Connection, project_id: int, now: float, max_age: float, max_events: int) -> int:
    """Delete the project's events older than ``max_age`` and all but the newest
    ``max_events``, then issues not seen within ``max_age``. Returns events deleted."""
    e = telemetry_events
    deleted = conn.execute(
        e.delete().where(e.c.project_id == project_id, e.c.received < now - max_age)
    ).rowcount
    cutoff = conn.execute(
        select(e.c.id)
        .where(e.c.project_id == project_id)
        .order_by(e.c.id.desc())
        .offset(max_events)
        .limit(1)
    ).scalar()
    if cutoff is not None:
        deleted += conn.execute(
            e.delete().where(e.c.project_id == project_id, e.c.id <= cutoff)
        ).rowcount
    t = telemetry_issues
    stale = select(t.c.id).where(t.c.project_id == project_id, t.c.last_seen < now - max_age)
    gone = [i for (i,) in conn.execute(stale)]
    for chunk in range(0, len(gone), 500):
        ids = gone[chunk : chunk + 500]
        for table in (telemetry_issue_tags, telemetry_issue_users, telemetry_issue_hours):
            conn.execute(table.delete().where(table.c.issue_id.in_(ids)))
        conn.execute(e.delete().where(e.c.issue_id.in_(ids)))
        conn.execute(t.delete().where(t.c.id.in_(ids)))
    return int(deleted or 0)
