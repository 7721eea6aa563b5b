"""An incident's life without a store: open, join, the alerts resolving, people acting."""

from __future__ import annotations

import json

import pytest

from lightkeeper.incidents.model import (
    EventKind,
    Incident,
    IncidentState,
    IncidentStateError,
    describe,
)
from lightkeeper.incidents.stats import summarize
from tests.incidents.helpers import alert, resolved

T0 = 1_800_000_000.0


def opened() -> Incident:
    return Incident.open(alert("db-down", T0, service="db"), "k", {"service": "db"}, T0)


def test_open_titles_and_records() -> None:
    incident = opened()
    assert incident.title == "db-down: db-down on db [service=db]"
    assert incident.state is IncidentState.OPEN and incident.opened_at == T0
    assert [e.kind for e in incident.events] == [EventKind.OPENED, EventKind.ALERT_FIRED]
    assert incident.events[1].text == "db-down fired (value 1, threshold 1)"


def test_resolves_only_when_every_alert_has() -> None:
    incident = opened()
    slow = alert("api-slow", T0 + 10, service="db")
    incident.join(slow, T0 + 10)
    assert len(incident.firing) == 2
    assert incident.alert_resolved(resolved(slow, T0 + 20).alert, T0 + 20) is False
    db = next(iter(incident.alerts.values()))
    assert incident.alert_resolved(resolved(db, T0 + 30).alert, T0 + 30) is True
    stranger = alert("other", T0, service="db")
    assert incident.alert_resolved(resolved(stranger, T0 + 40).alert, T0 + 40) is False


def test_people_act_in_order() -> None:
    incident = opened()
    incident.next_escalation_at = T0 + 900
    incident.note("ana", "  looking at the primary  ", T0 + 60)
    incident.acknowledge(" ana ", T0 + 120)
    assert incident.acknowledged_by == "ana" and incident.next_escalation_at is None
    assert incident.time_to_acknowledge == 120
    with pytest.raises(IncidentStateError, match="already acknowledged by ana"):
        incident.acknowledge("ben", T0 + 130)
    incident.resolve("ben", T0 + 600)
    assert incident.time_to_resolve == 600 and incident.resolved_by == "ben"
    with pytest.raises(IncidentStateError, match="already resolved"):
        incident.resolve("ben", T0 + 601)
    with pytest.raises(IncidentStateError, match="already resolved"):
        incident.acknowledge("ben", T0 + 601)
    kinds = [(e.kind, e.actor, e.text) for e in incident.events[2:]]
    assert kinds == [
        (EventKind.NOTE, "ana", "looking at the primary"),
        (EventKind.ACKNOWLEDGED, "ana", "acknowledged by ana"),
        (EventKind.RESOLVED, "ben", "resolved by ben"),
    ]


@pytest.mark.parametrize(
    ("who", "text", "message"),
    [("", "x", "say who is acting"), ("ana", "   ", "needs some text"), ("a" * 129, "x", "128")],
)
def test_bad_input(who: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        opened().note(who, text, T0)


def test_mtta_and_mttr_average_what_there_is() -> None:
    times = [
        (100.0, 160.0, 400.0),  # acknowledged after 60 s, resolved after 300 s
        (200.0, None, 300.0),  # resolved by itself after 100 s, never acknowledged
        (300.0, 420.0, None),  # acknowledged after 120 s, still going
        (1000.0, 1001.0, 1002.0),  # outside the period
    ]
    stats = summarize(times, 100.0, 1000.0)
    assert (stats.count, stats.acknowledged, stats.resolved) == (3, 2, 2)
    assert stats.mtta == 90.0 and stats.mttr == 200.0
    empty = summarize([], 0.0, 1.0)
    assert empty.count == 0 and empty.mtta is None and empty.mttr is None


def test_describe_is_json() -> None:
    incident = opened()
    incident.acknowledge("ana", T0 + 30)
    shown = json.loads(json.dumps(describe(incident)))
    assert shown["state"] == "acknowledged" and shown["time_to_acknowledge"] == 30
    assert shown["alerts"][0]["rule"] == "db-down"
    assert [e["kind"] for e in shown["events"]] == ["opened", "alert_fired", "acknowledged"]
