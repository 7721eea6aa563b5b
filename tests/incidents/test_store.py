"""The incident rows: the migration matches the tables, writes never overwrite someone
else's change, one live incident per group, and held (muted) alerts across a restart."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.exc import IntegrityError

from lightkeeper.clock import ManualClock
from lightkeeper.incidents import store as rows
from lightkeeper.incidents.model import Incident, IncidentState
from lightkeeper.store import Store
from lightkeeper.store.tables import incident_alerts, incident_events, incidents
from tests.incidents.helpers import alert, fired, resolved
from tests.incidents.helpers import incidents as make_incidents

pytestmark = pytest.mark.integration


def test_the_migration_creates_exactly_the_tables(store: Store) -> None:
    ours = MetaData()
    for table in (incidents, incident_alerts, incident_events):
        table.to_metadata(ours)

    def only_ours(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
        table = name if kind == "table" else parent.get("table_name")
        return kind == "schema" or table in ours.tables

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": only_ours})
        assert compare_metadata(context, ours) == []


def test_a_write_never_overwrites_a_change_made_meanwhile(store: Store, clock: ManualClock) -> None:
    desk = make_incidents()
    with store.engine.begin() as conn:
        desk.on_transitions(conn, [fired(alert("db-down", clock.now(), service="db"))], clock.now())
    with store.engine.connect() as conn:
        stale = rows.load(conn, 1)
    assert stale is not None
    with store.engine.begin() as conn:
        desk.ack(conn, 1, "ben", clock.now())  # the API, say
    stale.next_escalation_at = None
    stale.note("engine", "a decision taken on an old copy", clock.now())
    with store.engine.begin() as conn:
        assert rows.save(conn, stale) is False
        fresh = rows.load(conn, 1)
    assert fresh is not None and fresh.state is IncidentState.ACKNOWLEDGED
    assert all(e.text != "a decision taken on an old copy" for e in fresh.events)


def test_one_live_incident_per_group(store: Store, clock: ManualClock) -> None:
    a = alert("db-down", clock.now(), service="db")
    with store.engine.begin() as conn:
        rows.insert_incident(conn, Incident.open(a, "key", {"service": "db"}, clock.now()))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        rows.insert_incident(conn, Incident.open(a, "key", {"service": "db"}, clock.now()))
    with store.engine.begin() as conn:
        first = rows.load(conn, 1)
        assert first is not None
        first.resolve("ana", clock.now())
        assert rows.save(conn, first)
        # resolved, the group is free again
        rows.insert_incident(conn, Incident.open(a, "key", {"service": "db"}, clock.now()))
        assert rows.load_live(conn, "key") is not None


def test_muted_alerts_wait_and_survive_a_restart(store: Store, clock: ManualClock) -> None:
    silenced = alert("db-down", clock.now(), service="db")
    paged = alert("web-down", clock.now(), service="web")
    muted_now = {silenced.fingerprint}

    def muted(a: object) -> str | None:
        return "silenced by #1" if getattr(a, "fingerprint", None) in muted_now else None

    desk = make_incidents()
    with store.engine.begin() as conn:
        pages = desk.on_transitions(conn, [fired(silenced), fired(paged)], clock.now(), muted)
    assert [p.dedup_key for p in pages] == ["incident-1"]
    assert list(desk.held) == [silenced.fingerprint]
    # a restart: the engine reloads its firing alerts and hands them over
    again = make_incidents()
    with store.engine.begin() as conn:
        again.restore(conn, [silenced, paged])
    assert list(again.held) == [silenced.fingerprint]  # web-down already has its incident
    assert again.due(clock.now(), muted)  # it has not looked for escalations yet
    clock.advance(60)
    with store.engine.begin() as conn:
        assert again.tick(conn, clock.now(), muted) == []  # still silenced
    assert not again.due(clock.now(), muted)
    muted_now.clear()  # the silence expires, the alert still fires
    assert again.due(clock.now(), muted)
    with store.engine.begin() as conn:
        [page] = again.tick(conn, clock.now(), muted)
    assert page.dedup_key == "incident-2" and again.held == {}


def test_a_muted_alert_that_resolves_is_forgotten(store: Store, clock: ManualClock) -> None:
    a = alert("db-down", clock.now(), service="db")
    desk = make_incidents()
    with store.engine.begin() as conn:
        desk.on_transitions(conn, [fired(a)], clock.now(), lambda _: "maintenance window")
        assert desk.on_transitions(conn, [resolved(a, clock.now() + 5)], clock.now() + 5) == []
        assert desk.held == {} and desk.tick(conn, clock.now() + 10) == []
        assert desk.list(conn) == []


def test_a_manually_resolved_incident_is_not_reopened_after_a_restart(
    store: Store, clock: ManualClock
) -> None:
    a = alert("db-down", clock.now(), service="db")
    desk = make_incidents()
    with store.engine.begin() as conn:
        desk.on_transitions(conn, [fired(a)], clock.now())
        desk.resolve(conn, 1, "ana", clock.now())
    again = make_incidents()
    with store.engine.begin() as conn:
        again.restore(conn, [a])  # still firing, but this firing already had its incident
        assert again.held == {}
        assert again.tick(conn, clock.now()) == []
