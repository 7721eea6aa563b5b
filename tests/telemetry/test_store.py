"""Storing events and issues on SQLite and PostgreSQL: duplicates skipped, counts and users,
regressions, compact payloads read back whole, retention by age and by count."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from lightkeeper.store import Store
from lightkeeper.store.tables import telemetry_events, telemetry_issues
from lightkeeper.telemetry.store import (
    EventRecord,
    IssueCache,
    decompress_event,
    prune,
    write_events,
)

NOW = 1_790_000_000.0


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    yield s
    s.close()


def record(
    hash_: str = "a" * 32, ts: float = NOW, user: str | None = "u1", event_id: str | None = None
) -> EventRecord:
    event_id = event_id or uuid.uuid4().hex
    body = {
        "event_id": event_id,
        "exception": {"values": [{"type": "ZeroDivisionError", "value": "division by zero"}]},
        "modules": {f"package-{i}": f"1.{i}.0" for i in range(200)},
        "user": {"id": user},
    }
    return EventRecord(
        project_id=1,
        event_id=event_id,
        hash=hash_,
        title="ZeroDivisionError: division by zero",
        culprit="app.billing in charge",
        method="stacktrace",
        components=("frame app.billing in charge", "type ZeroDivisionError"),
        level="error",
        ts=ts,
        received=ts,
        release="web@1.0.0",
        environment="production",
        user=user,
        tags=[("browser", "Firefox")],
        body=json.dumps(body).encode(),
    )


def write(store: Store, records: list[EventRecord], cache: IssueCache | None = None) -> object:
    with store.engine.begin() as conn:
        return write_events(conn, records, cache or IssueCache())


def test_repeats_are_one_issue_with_counts_users_and_small_payloads(store: Store) -> None:
    cache = IssueCache()
    first = write(store, [record(user=f"u{i % 3}") for i in range(60)], cache)
    second = write(store, [record(user="u9") for _ in range(40)], cache)
    assert len(first.new_issues) == 1 and second.new_issues == []  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        issue = conn.execute(select(telemetry_issues)).one()
        assert (issue.count, issue.users, issue.status) == (100, 4, "unresolved")
        payloads = conn.execute(select(telemetry_events.c.payload)).scalars().all()
    assert len(payloads) == 100
    # Each event is compressed against the issue's first: a few dozen bytes, not kilobytes.
    assert max(len(p) for p in payloads) < 200
    event = decompress_event(payloads[-1], issue.sample)
    assert event["user"] == {"id": "u9"} and len(event["modules"]) == 200


def test_an_event_id_seen_before_is_not_stored_or_counted_twice(store: Store) -> None:
    again = record(event_id="0" * 32)
    write(store, [record(event_id="0" * 32), again])
    written = write(store, [again])
    assert written.stored == 0 and written.duplicates == 1  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        assert conn.execute(select(telemetry_issues.c.count)).scalar_one() == 1


def test_a_resolved_issue_that_comes_back_is_a_regression(store: Store) -> None:
    cache = IssueCache()
    write(store, [record()], cache)
    with store.engine.begin() as conn:  # someone resolves it (the dashboard, another process)
        conn.execute(update(telemetry_issues).values(status="resolved", resolved_at=NOW))
    written = write(store, [record(ts=NOW + 60)], cache)
    assert len(written.regressions) == 1  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        issue = conn.execute(select(telemetry_issues)).one()
    assert (issue.status, issue.regressions, issue.count) == ("unresolved", 1, 2)
    again = write(store, [record(ts=NOW + 120)], cache)
    assert again.regressions == []  # type: ignore[attr-defined]


def test_retention_keeps_the_newest_events_and_drops_old_ones(store: Store) -> None:
    write(store, [record(ts=NOW - 40 * 86400, hash_="b" * 32) for _ in range(3)])
    write(store, [record(ts=NOW - 60 + i) for i in range(10)])
    with store.engine.begin() as conn:
        deleted = prune(conn, 1, NOW, max_age=30 * 86400, max_events=4)
    assert deleted == 3 + 6
    with store.engine.connect() as conn:
        left = conn.execute(select(telemetry_events.c.ts).order_by(telemetry_events.c.ts)).all()
        hashes = conn.execute(select(telemetry_issues.c.hash)).scalars().all()
    assert [r.ts for r in left] == [NOW - 60 + i for i in range(6, 10)]
    assert hashes == ["a" * 32]  # the issue not seen for 40 days went with its events
