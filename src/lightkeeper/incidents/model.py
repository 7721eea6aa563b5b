"""An incident and its life: open → acknowledged → resolved, with a timeline of what
happened and who did it. Pure: no store, no clock — every change takes ``now``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from lightkeeper.rules.engine import Alert, AlertState
from lightkeeper.rules.engine import describe as describe_alert

#: Who acts when Lightkeeper itself resolves an incident.
LIGHTKEEPER = "lightkeeper"
ALL_ALERTS_RESOLVED = "all alerts resolved"


class IncidentState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EventKind(StrEnum):
    OPENED = "opened"
    ALERT_FIRED = "alert_fired"
    ALERT_RESOLVED = "alert_resolved"
    PAGED = "paged"
    NOT_PAGED = "not_paged"
    ESCALATED = "escalated"
    ESCALATION_EXHAUSTED = "escalation_exhausted"
    ACKNOWLEDGED = "acknowledged"
    NOTE = "note"
    RESOLVED = "resolved"
    NOTIFIED = "notified"


class IncidentNotFound(LookupError):
    """No incident has that id (the API answers 404)."""


class IncidentStateError(ValueError):
    """The incident is not in a state that allows this (the API answers 409)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline; ``data`` holds the values behind a decision."""

    at: float
    kind: EventKind
    text: str
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Incident:
    id: int
    key: str  # hash of the group_by label values
    title: str
    labels: dict[str, str]  # the group_by label values ("the same service")
    state: IncidentState
    opened_at: float
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    rotation: str | None = None
    paged: list[str] = field(default_factory=list)  # people paged, in order
    next_escalation_at: float | None = None
    alerts: dict[str, Alert] = field(default_factory=dict)  # fingerprint → latest snapshot
    events: list[Event] = field(default_factory=list)
    version: int = 0
    # What changed since it was loaded, for the store to write.
    new_events: list[Event] = field(default_factory=list, repr=False)
    changed_alerts: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def open(cls, alert: Alert, key: str, labels: dict[str, str], now: float) -> Incident:
        summary = alert.annotations.get("summary", "")
        where = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if v)
        title = alert.rule + (f": {summary}" if summary else "") + (f" [{where}]" if where else "")
        incident = cls(0, key, title, dict(labels), IncidentState.OPEN, now)
        incident.record(now, EventKind.OPENED, f"opened by {alert.rule}", data={"labels": labels})
        incident.join(alert, now)
        return incident

    # the alerts -----------------------------------------------------------------------

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.state is AlertState.FIRING]

    def join(self, alert: Alert, now: float) -> None:
        """An alert fired: it joins (or fires again within) this incident."""
        again = alert.fingerprint in self.alerts
        self._keep(alert)
        self.record(
            now,
            EventKind.ALERT_FIRED,
            f"{alert.rule} fired{' again' if again else ''}"
            f" (value {_number(alert.value)}, threshold {_number(alert.threshold)})",
            data=_alert_data(alert),
        )

    def alert_resolved(self, alert: Alert, now: float) -> bool:
        """One of its alerts resolved; True when none of them fires any more."""
        if alert.fingerprint not in self.alerts:
            return False
        self._keep(alert)
        self.record(
            now, EventKind.ALERT_RESOLVED, f"{alert.rule} resolved", data=_alert_data(alert)
        )
        return not self.firing

    def _keep(self, alert: Alert) -> None:
        self.alerts[alert.fingerprint] = replace(alert, labels=dict(alert.labels))
        self.changed_alerts.add(alert.fingerprint)

    # people -----------------------------------------------------------------------------

    def acknowledge(self, who: str, now: float) -> None:
        who = _actor(who)
        if self.state is not IncidentState.OPEN:
            raise IncidentStateError(self._why_not("acknowledge"))
        self.state, self.acknowledged_at, self.acknowledged_by = (
            IncidentState.ACKNOWLEDGED,
            now,
            who,
        )
        self.next_escalation_at = None  # acknowledging stops escalation
        self.record(now, EventKind.ACKNOWLEDGED, f"acknowledged by {who}", actor=who)

    def resolve(self, who: str, now: float, reason: str = "") -> None:
        who = _actor(who)
        if self.state is IncidentState.RESOLVED:
            raise IncidentStateError(self._why_not("resolve"))
        self.state, self.resolved_at, self.resolved_by = IncidentState.RESOLVED, now, who
        self.next_escalation_at = None
        text = f"resolved: {reason}" if reason else f"resolved by {who}"
        self.record(now, EventKind.RESOLVED, text, actor=who, data={"reason": reason})

    def note(self, who: str, text: str, now: float) -> None:
        who, text = _actor(who), text.strip()
        if not text:
            raise ValueError("a note needs some text")
        self.record(now, EventKind.NOTE, text, actor=who)

    def _why_not(self, action: str) -> str:
        if self.state is IncidentState.RESOLVED:
            return (
                f"incident {self.id} is already resolved (by {self.resolved_by});"
                f" cannot {action} it"
            )
        return (
            f"incident {self.id} was already acknowledged by {self.acknowledged_by};"
            f" cannot {action} it again"
        )

    # the timeline -----------------------------------------------------------------------

    def record(
        self,
        now: float,
        kind: EventKind,
        text: str,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        event = Event(now, kind, text, actor, data or {})
        self.events.append(event)
        self.new_events.append(event)
        return event

    def saved(self) -> None:
        """The store wrote the changes."""
        self.new_events.clear()
        self.changed_alerts.clear()
        self.version += 1

    # measures -----------------------------------------------------------------------------

    @property
    def time_to_acknowledge(self) -> float | None:
        """TTA: acknowledged_at − opened_at (MTTA is its average)."""
        return None if self.acknowledged_at is None else self.acknowledged_at - self.opened_at

    @property
    def time_to_resolve(self) -> float | None:
        """TTR: resolved_at − opened_at (MTTR is its average)."""
        return None if self.resolved_at is None else self.resolved_at - self.opened_at


def _actor(who: str) -> str:
    who = who.strip()
    if not who:
        raise ValueError("say who is acting (a name or login)")
    if len(who) > 128:
        raise ValueError("a name is at most 128 characters")
    return who


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"


def _alert_data(alert: Alert) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "labels": alert.labels,
        "value": alert.value,
        "threshold": alert.threshold,
    }


def describe(incident: Incident) -> dict[str, Any]:
    """An incident as the API shows it (JSON-ready), timeline included."""
    return {
        "id": incident.id,
        "title": incident.title,
        "labels": incident.labels,
        "state": incident.state.value,
        "opened_at": incident.opened_at,
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": incident.resolved_at,
        "resolved_by": incident.resolved_by,
        "time_to_acknowledge": incident.time_to_acknowledge,
        "time_to_resolve": incident.time_to_resolve,
        "rotation": incident.rotation,
        "paged": incident.paged,
        "next_escalation_at": incident.next_escalation_at,
        "alerts": [describe_alert(a) for a in incident.alerts.values()],
        "events": [
            {"at": e.at, "kind": e.kind.value, "actor": e.actor, "text": e.text, "data": e.data}
            for e in incident.events
        ],
    }
