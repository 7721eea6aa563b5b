"""Property tests over random sequences of alerts firing and resolving, people acting and
time passing: each incident resolves exactly once, nobody is paged twice for one incident,
no page follows an acknowledgement, pages are at least `escalate_after` apart, one live
incident per service, and every incident is over once its alerts are."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.incidents.model import EventKind, Incident, IncidentState
from lightkeeper.notify.message import Notification
from lightkeeper.rules.engine import Alert, AlertState
from lightkeeper.store import Store
from tests.incidents.helpers import alert, at, fired, incidents, oncall, resolved

PEOPLE = {name: list(p.channels) for name, p in oncall().people.items()}
SERVICES = ("db", "db", "web", "web")  # four alerts, two per service
ESCALATE_AFTER = 900.0

Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["fire", "resolve"]), st.integers(0, 3)),
        st.tuples(st.sampled_from(["ack", "close", "note"]), st.integers(1, 4)),
        st.tuples(st.just("wait"), st.sampled_from([1, 5, 14, 15, 16, 60])),  # minutes
    ),
    max_size=40,
)


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(f"sqlite:///{Path(tmp_path_factory.mktemp('props'))}/store.db")
    store.migrate()
    yield store
    store.close()


@settings(max_examples=100, deadline=None)
@given(steps)
def test_incident_invariants(sqlite: Store, plan: list[Step]) -> None:
    desk = incidents()
    now = at("2026-11-10 12:00", "Europe/London")
    firing: dict[int, Alert] = {}
    sent: list[Notification] = []
    with sqlite.engine.connect() as conn:
        transaction = conn.begin()
        try:
            for action, n in plan:
                if action == "fire" and n not in firing:
                    firing[n] = alert(f"rule{n}", now, service=SERVICES[n])
                    sent += desk.on_transitions(conn, [fired(firing[n])], now)
                elif action == "resolve" and n in firing:
                    sent += desk.on_transitions(conn, [resolved(firing.pop(n), now)], now)
                elif action in ("ack", "close", "note"):
                    try:
                        if action == "ack":
                            desk.ack(conn, n, "someone", now)
                        elif action == "close":
                            sent += desk.resolve(conn, n, "someone", now).notifications
                        else:
                            desk.note(conn, n, "someone", "a note", now)
                    except (LookupError, ValueError):
                        pass  # no such incident, or not in a state for it: both fine
                elif action == "wait":
                    now += n * 60
                    sent += desk.tick(conn, now)
                live = [
                    i for i in desk.list(conn, limit=500) if i.state is not IncidentState.RESOLVED
                ]
                assert len({i.key for i in live}) == len(live), "two live incidents for a group"
            for n in list(firing):  # every signal recovers
                sent += desk.on_transitions(conn, [resolved(firing.pop(n), now)], now)
            sent += desk.tick(conn, now + 86400)
            check(desk.list(conn, limit=500), sent)
        finally:
            transaction.rollback()


def check(all_incidents: list[Incident], sent: list[Notification]) -> None:
    by_key: dict[str, list[Notification]] = defaultdict(list)
    for n in sent:
        by_key[n.dedup_key].append(n)
    for incident in all_incidents:
        # every incident is over once its alerts are, and resolved exactly once
        assert incident.state is IncidentState.RESOLVED
        assert all(a.state is AlertState.RESOLVED for a in incident.alerts.values())
        resolves = [e for e in incident.events if e.kind is EventKind.RESOLVED]
        assert len(resolves) == 1 and resolves[0].at == incident.resolved_at
        # nobody paged twice; no page after an acknowledgement or the resolve
        pages = [e for e in incident.events if e.kind is EventKind.PAGED]
        assert [p.data["person"] for p in pages] == incident.paged
        assert len(set(incident.paged)) == len(incident.paged)
        stop = min(t for t in (incident.acknowledged_at, incident.resolved_at) if t is not None)
        assert all(p.at <= stop for p in pages)
        # each escalation waited at least escalate_after since the previous page
        assert all(b.at - a.at >= ESCALATE_AFTER for a, b in itertools.pairwise(pages))
        # the messages: one page per channel of each person paged, one resolve each
        messages = by_key.pop(f"incident-{incident.id}", [])
        channels = [c for person in incident.paged for c in PEOPLE[person]]
        assert [m.channel for m in messages if m.kind == "firing"] == channels
        resolved_to = Counter(m.channel for m in messages if m.kind == "resolved")
        assert resolved_to == Counter(dict.fromkeys(channels, 1))
    assert by_key == {}, "messages for incidents that do not exist"
