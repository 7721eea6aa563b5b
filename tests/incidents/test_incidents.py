"""Incidents on the store (SQLite and PostgreSQL) with an injected clock: opening, joining,
resolving by themselves, paging whoever is on call, people acting, MTTA and MTTR."""

from __future__ import annotations

import pytest

from lightkeeper.clock import ManualClock
from lightkeeper.incidents.model import EventKind, IncidentNotFound, IncidentState
from lightkeeper.incidents.service import IncidentConflict
from lightkeeper.rules.engine import Severity
from lightkeeper.store import Store
from tests.incidents.helpers import alert, fired, incidents, resolved

pytestmark = pytest.mark.integration


def test_a_critical_alert_opens_an_incident_and_pages_whoever_is_on_call(
    store: Store, clock: ManualClock
) -> None:
    desk = incidents()
    now = clock.now()
    with store.engine.begin() as conn:
        pages = desk.on_transitions(conn, [fired(alert("db-down", now, service="db"))], now)
    [page] = pages
    assert (page.channel, page.kind, page.dedup_key) == ("ben-mail", "firing", "incident-1")
    assert page.title == "[INCIDENT #1] db-down: db-down on db [service=db]"
    for text in (
        "You are paged: on call for primary by the rota until 2026-11-16 09:00:00 UTC.",
        "FIRING db-down (critical) — service=db",
        "value 1, threshold 1: db-down == 1",
        "runbook: http://lk.example/runbooks/site-down",
        "Acknowledge: lightkeeper incidents ack 1",
        "http://lk.example/ui/incidents/1",
    ):
        assert text in page.body
    assert page.payload["incident"]["ack"] == "lightkeeper incidents ack 1"
    assert page.payload["dashboard"] == "http://lk.example/ui/incidents/1"
    assert page.payload["value"] == 1.0 and page.payload["threshold"] == 1.0
    with store.engine.connect() as conn:
        incident = desk.get(conn, 1)
    assert incident.state is IncidentState.OPEN and incident.labels == {"service": "db"}
    assert incident.paged == ["ben"] and incident.next_escalation_at == now + 900
    assert [e.kind for e in incident.events] == [
        EventKind.OPENED,
        EventKind.ALERT_FIRED,
        EventKind.PAGED,
    ]
    paged = incident.events[-1]
    assert paged.data["person"] == "ben" and paged.data["channels"] == ["ben-mail"]
    assert paged.text.startswith("paged ben via ben-mail (on call for primary")


def test_alerts_of_the_same_service_join_the_open_incident(
    store: Store, clock: ManualClock
) -> None:
    desk = incidents()
    now = clock.now()
    with store.engine.begin() as conn:
        first = desk.on_transitions(
            conn,
            [
                fired(alert("db-down", now, service="db")),
                fired(alert("api-errors", now, service="db")),  # joins: no second page
                fired(alert("web-down", now, service="web")),  # another service: its own
                fired(alert("db-slow", now, Severity.WARNING, service="db")),  # not critical
            ],
            now,
        )
    assert [(p.dedup_key, p.channel) for p in first] == [
        ("incident-1", "ben-mail"),
        ("incident-2", "ben-mail"),
    ]
    with store.engine.connect() as conn:
        db, web = desk.get(conn, 1), desk.get(conn, 2)
    assert sorted(a.rule for a in db.alerts.values()) == ["api-errors", "db-down"]
    assert [a.rule for a in web.alerts.values()] == ["web-down"]


def test_an_incident_resolves_when_every_alert_has_and_tells_who_was_paged(
    store: Store, clock: ManualClock
) -> None:
    desk = incidents()
    down, errors = (
        alert("db-down", clock.now(), service="db"),
        alert("errors", clock.now(), service="db"),
    )
    with store.engine.begin() as conn:
        desk.on_transitions(conn, [fired(down), fired(errors)], clock.now())
    clock.advance(120)
    with store.engine.begin() as conn:
        assert desk.on_transitions(conn, [resolved(down, clock.now())], clock.now()) == []
        assert desk.get(conn, 1).state is IncidentState.OPEN
    clock.advance(60)
    with store.engine.begin() as conn:
        [message] = desk.on_transitions(conn, [resolved(errors, clock.now())], clock.now())
        incident = desk.get(conn, 1)
    assert (message.channel, message.kind, message.dedup_key) == (
        "ben-mail",
        "resolved",
        "incident-1",
    )
    assert message.title.startswith("[RESOLVED] Incident #1")
    assert "resolved after 3m 0s: all alerts resolved." in message.body
    assert incident.state is IncidentState.RESOLVED and incident.resolved_by == "lightkeeper"
    assert incident.time_to_resolve == 180 and incident.next_escalation_at is None
    assert [e.text for e in incident.events if e.kind is EventKind.RESOLVED] == [
        "resolved: all alerts resolved"
    ]
    # the same service breaks again: a new incident, paged again
    clock.advance(60)
    with store.engine.begin() as conn:
        [page] = desk.on_transitions(
            conn, [fired(alert("db-down", clock.now(), service="db"))], clock.now()
        )
    assert page.dedup_key == "incident-2"


def test_escalation_reaches_the_second_person_after_the_delay_and_ack_stops_it(
    store: Store, clock: ManualClock
) -> None:
    """The acceptance bullet: an unacknowledged critical page reaches the second person
    after the set delay; acknowledging stops it."""
    desk = incidents()
    opened = clock.now()
    with store.engine.begin() as conn:
        [first] = desk.on_transitions(conn, [fired(alert("db-down", opened, service="db"))], opened)
    assert first.channel == "ben-mail"
    assert desk.due(opened)  # a new Incidents has not looked at the store yet
    clock.advance(15 * 60 - 1)
    with store.engine.begin() as conn:
        assert desk.tick(conn, clock.now()) == []
    assert not desk.due(clock.now())  # it knows now: the next escalation is 1 s away
    clock.advance(1)
    assert desk.due(clock.now())
    with store.engine.begin() as conn:
        [second] = desk.tick(conn, clock.now())
    assert (second.channel, second.kind, second.dedup_key) == ("chen-mail", "firing", "incident-1")
    assert "escalated in primary: ben did not acknowledge within 15m" in second.body
    with store.engine.begin() as conn:
        update = desk.ack(conn, 1, "chen", clock.now() + 30)
    assert update.notifications == [] and update.incident.next_escalation_at is None
    clock.advance(3600)
    with store.engine.begin() as conn:
        assert desk.tick(conn, clock.now()) == []
        incident = desk.get(conn, 1)
    assert not desk.due(clock.now() + 86400)  # nothing left to escalate
    assert incident.paged == ["ben", "chen"] and incident.acknowledged_by == "chen"
    assert incident.time_to_acknowledge == 15 * 60 + 30
    escalated = next(e for e in incident.events if e.kind is EventKind.ESCALATED)
    assert escalated.data == {
        "from": "ben",
        "to": "chen",
        "escalate_after": 900.0,
        "due": opened + 900,
    }


def test_escalation_stops_once_everyone_was_paged(store: Store, clock: ManualClock) -> None:
    desk = incidents()
    with store.engine.begin() as conn:
        desk.on_transitions(conn, [fired(alert("db-down", clock.now(), service="db"))], clock.now())
    channels = []
    for _ in range(5):
        clock.advance(15 * 60)
        with store.engine.begin() as conn:
            channels += [n.channel for n in desk.tick(conn, clock.now())]
    assert channels == ["chen-mail", "ana-sms", "ana-mail"]
    with store.engine.connect() as conn:
        incident = desk.get(conn, 1)
    assert incident.paged == ["ben", "chen", "ana"] and incident.next_escalation_at is None
    [stop] = [e for e in incident.events if e.kind is EventKind.ESCALATION_EXHAUSTED]
    assert stop.text == (
        "nobody acknowledged: everyone in primary was paged once (ben, chen, ana); escalation stops"
    )
    assert stop.at == clock.now() - 15 * 60 * 2  # the tick after ana's page was due
    # resolving by hand tells all three, once per channel
    with store.engine.begin() as conn:
        update = desk.resolve(conn, 1, "ana", clock.now())
    assert [n.channel for n in update.notifications] == [
        "ben-mail",
        "chen-mail",
        "ana-sms",
        "ana-mail",
    ]
    assert "resolved by ana after" in update.notifications[0].body


def test_no_escalation_when_the_rotation_never_escalates(store: Store, clock: ManualClock) -> None:
    desk = incidents(escalate_after=None)
    with store.engine.begin() as conn:
        desk.on_transitions(conn, [fired(alert("db-down", clock.now(), service="db"))], clock.now())
    clock.advance(86400)
    with store.engine.begin() as conn:
        assert desk.tick(conn, clock.now()) == []
        assert desk.get(conn, 1).paged == ["ben"]


def test_no_rotation_opens_without_paging(store: Store, clock: ManualClock) -> None:
    from lightkeeper.incidents.config import IncidentsConfig, OncallConfig
    from lightkeeper.incidents.service import Incidents

    desk = Incidents(OncallConfig(), IncidentsConfig(), "http://lk.example")
    with store.engine.begin() as conn:
        assert desk.on_transitions(conn, [fired(alert("db-down", clock.now()))], clock.now()) == []
        incident = desk.get(conn, 1)
    assert incident.events[-1].text == "nobody paged: no on-call rotation configured"


def test_bad_ids_and_states_are_clear(store: Store, clock: ManualClock) -> None:
    desk = incidents()
    with store.engine.begin() as conn:
        desk.on_transitions(conn, [fired(alert("db-down", clock.now(), service="db"))], clock.now())
    with store.engine.begin() as conn:
        with pytest.raises(IncidentNotFound, match="no incident 9"):
            desk.ack(conn, 9, "ana", clock.now())
        with pytest.raises(LookupError):
            desk.note(conn, 9, "ana", "hello", clock.now())
        desk.ack(conn, 1, "ana", clock.now())
        with pytest.raises(ValueError, match="already acknowledged by ana"):
            desk.ack(conn, 1, "ben", clock.now())
        desk.resolve(conn, 1, "ana", clock.now())
        with pytest.raises(ValueError, match="already resolved"):
            desk.resolve(conn, 1, "ana", clock.now())
        with pytest.raises(ValueError, match="unknown incident state 'closed'"):
            desk.list(conn, state="closed")
        with pytest.raises(ValueError, match="limit"):
            desk.list(conn, limit=0)
        with pytest.raises(ValueError, match="end after it starts"):
            desk.stats(conn, 10.0, 10.0)
        # a note is allowed on a resolved incident: the post-mortem goes there
        assert (
            desk.note(conn, 1, "ana", "root cause: full disk", clock.now()).incident.events[-1].text
            == "root cause: full disk"
        )
    assert issubclass(IncidentConflict, ValueError)


def test_list_and_stats(store: Store, clock: ManualClock) -> None:
    desk = incidents()
    start = clock.now()
    for service in ("a", "b", "c"):
        with store.engine.begin() as conn:
            desk.on_transitions(
                conn, [fired(alert("down", clock.now(), service=service))], clock.now()
            )
        clock.advance(60)
    with store.engine.begin() as conn:
        desk.ack(conn, 1, "ben", start + 120)  # TTA 120
        desk.resolve(conn, 1, "ben", start + 600)  # TTR 600
        desk.ack(conn, 2, "ben", start + 60 + 240)  # TTA 240
        desk.resolve(conn, 3, "ben", start + 120 + 300)  # TTR 300, never acknowledged
    with store.engine.connect() as conn:
        assert [i.id for i in desk.list(conn)] == [3, 2, 1]
        assert [i.id for i in desk.list(conn, state="acknowledged")] == [2]
        assert [i.id for i in desk.list(conn, limit=1, before=3)] == [2]
        stats = desk.stats(conn, start, start + 3600)
        later = desk.stats(conn, start + 1, start + 3600)
    assert (stats.count, stats.acknowledged, stats.resolved) == (3, 2, 2)
    assert stats.mtta == 180.0 and stats.mttr == 450.0
    assert later.count == 2 and later.mtta == 240.0 and later.mttr == 300.0
