"""The incidents service: alerts in, incidents and pages out, acknowledgements and notes from
people. Every method works on the caller's Connection — the rules engine's transaction or
the API's — and returns the notifications for the caller to add to the outbox in it.

A firing alert of a listed severity opens an incident, or joins the live one (open or
acknowledged) whose ``group_by`` label values it shares. An alert muted when it fires
(silence, maintenance window, inhibition) is held back and opens or joins an incident
only once it is no longer muted and still fires. When every alert of an incident has
resolved, the incident resolves by itself ("all alerts resolved").
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from lightkeeper.incidents import store
from lightkeeper.incidents.config import IncidentsConfig, OncallConfig
from lightkeeper.incidents.model import (
    ALL_ALERTS_RESOLVED,
    LIGHTKEEPER,
    Incident,
    IncidentNotFound,
    IncidentState,
    IncidentStateError,
)
from lightkeeper.incidents.paging import Pager
from lightkeeper.incidents.stats import IncidentStats, summarize
from lightkeeper.notify.message import Notification
from lightkeeper.rules.engine import Alert, Transition
from lightkeeper.rules.messages import Renderer

Muted = Callable[[Alert], str | None]
RETRIES = 3  # reads of an incident someone else keeps changing, before giving up


class IncidentConflict(IncidentStateError):
    """The incident kept changing under us (the API answers 409; trying again works)."""


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    """An incident after a change, and the messages the change sends."""

    incident: Incident
    notifications: builtins.list[Notification]


class Incidents:
    def __init__(self, oncall: OncallConfig, settings: IncidentsConfig, public_url: str) -> None:
        self.settings = settings
        self.severities = set(settings.severities)
        self.pager = Pager(oncall, settings, Renderer(public_url))
        self.held: dict[str, Alert] = {}  # firing but muted: not an incident yet
        # The earliest escalation known to be due; 0: unknown, look at the next tick.
        self._next_escalation: float | None = 0.0

    def group(self, alert: Alert) -> tuple[str, dict[str, str]]:
        """The incident group of an alert: its key and its ``group_by`` label values."""
        labels = {k: alert.labels.get(k, "") for k in self.settings.group_by}
        text = json.dumps(labels, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32], labels

    # from the rules engine (inside its transaction) -------------------------------------

    def restore(self, conn: Connection, firing: Iterable[Alert]) -> None:
        """After a (re)load: hold back the firing alerts that belong to no incident yet,
        and look for due escalations at the next tick."""
        self._next_escalation = 0.0
        wanted = [a for a in firing if self._opens(a)]
        handled = store.episodes(conn, [a.fingerprint for a in wanted])
        self.held = {a.fingerprint: a for a in wanted if (a.fingerprint, a.fired_at) not in handled}

    def on_transitions(
        self,
        conn: Connection,
        transitions: Iterable[Transition],
        now: float,
        muted: Muted | None = None,
    ) -> builtins.list[Notification]:
        """Open, join and resolve incidents for the alerts that fired or resolved."""
        out: builtins.list[Notification] = []
        for t in transitions:
            if t.kind == "firing" and self._opens(t.alert):
                if muted is not None and muted(t.alert) is not None:
                    self.held[t.alert.fingerprint] = t.alert
                else:
                    out += self._fired(conn, t.alert, now)
            elif t.kind == "resolved":
                self.held.pop(t.alert.fingerprint, None)
                out += self._resolved(conn, t.alert, now)
        return out

    def due(self, now: float, muted: Muted | None = None) -> bool:
        """Whether :meth:`tick` has anything to do: an escalation may be due, or a held
        alert is no longer muted. Cheap: no store access, so call it every tick."""
        upcoming = self._next_escalation
        if upcoming is not None and upcoming <= now:
            return True
        return any(muted is None or muted(a) is None for a in self.held.values())

    def tick(
        self, conn: Connection, now: float, muted: Muted | None = None
    ) -> builtins.list[Notification]:
        """Escalate the pages nobody acknowledged in time; let held alerts in once unmuted."""
        out: builtins.list[Notification] = []
        for fp, alert in list(self.held.items()):
            if muted is None or muted(alert) is None:
                del self.held[fp]
                out += self._fired(conn, alert, now)
        for incident_id in store.escalations_due(conn, now):
            try:
                out += self._change(conn, incident_id, lambda i: self.pager.escalate(i, now))
            except IncidentConflict:
                continue  # changed meanwhile (acknowledged, say): looked at again next tick
        self._next_escalation = store.next_escalation(conn)
        return out

    def _opens(self, alert: Alert) -> bool:
        return self.settings.enabled and alert.severity in self.severities

    def _fired(self, conn: Connection, alert: Alert, now: float) -> builtins.list[Notification]:
        key, labels = self.group(alert)
        for _ in range(RETRIES):
            incident = store.load_live(conn, key)
            if incident is None:
                incident = Incident.open(alert, key, labels, now)
                store.insert_incident(conn, incident)  # the messages need its id
                pages = self.pager.page_first(incident, now)
                if not store.save(conn, incident):
                    raise IncidentConflict(f"incident {incident.id} changed while it opened")
                self._expect(incident.next_escalation_at)
                return pages
            incident.join(alert, now)
            if store.save(conn, incident):
                return []
        raise IncidentConflict(f"the incident for {labels} kept changing; try again")

    def _resolved(self, conn: Connection, alert: Alert, now: float) -> builtins.list[Notification]:
        def change(incident: Incident) -> builtins.list[Notification]:
            last = incident.alert_resolved(alert, now)  # on the timeline even when resolved
            if incident.state is IncidentState.RESOLVED or not last:
                return []
            incident.resolve(LIGHTKEEPER, now, ALL_ALERTS_RESOLVED)
            return self.pager.resolved(incident, now)

        out: builtins.list[Notification] = []
        for incident_id in store.holding_firing(conn, [alert.fingerprint]):
            out += self._change(conn, incident_id, change)
        return out

    def _expect(self, at: float | None) -> None:
        if at is not None:
            known = self._next_escalation
            self._next_escalation = at if known is None else min(known, at)

    # from people (the API and CLI) ------------------------------------------------------

    def ack(self, conn: Connection, incident_id: int, who: str, now: float) -> IncidentUpdate:
        """Acknowledge: someone is on it; escalation stops. Only an open incident."""

        def change(incident: Incident) -> builtins.list[Notification]:
            incident.acknowledge(who, now)
            return []

        return self._update(conn, incident_id, change)

    def resolve(self, conn: Connection, incident_id: int, who: str, now: float) -> IncidentUpdate:
        """Resolve by hand; everyone paged is told. Alerts still firing stay in it."""

        def change(incident: Incident) -> builtins.list[Notification]:
            incident.resolve(who, now)
            return self.pager.resolved(incident, now)

        return self._update(conn, incident_id, change)

    def note(
        self, conn: Connection, incident_id: int, who: str, text: str, now: float
    ) -> IncidentUpdate:
        def change(incident: Incident) -> builtins.list[Notification]:
            incident.note(who, text, now)
            return []

        return self._update(conn, incident_id, change)

    def get(self, conn: Connection, incident_id: int) -> Incident:
        incident = store.load(conn, incident_id)
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        return incident

    def stats(self, conn: Connection, since: float, until: float) -> IncidentStats:
        """Count, MTTA and MTTR of the incidents opened in ``[since, until)``."""
        if until <= since:
            raise ValueError("the period must end after it starts")
        return summarize(store.times(conn, since, until), since, until)

    def list(
        self,
        conn: Connection,
        state: str | IncidentState | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> builtins.list[Incident]:
        """Newest first, with their alerts and timelines; ``before`` (an id) pages on."""
        if not 1 <= limit <= 500:
            raise ValueError("limit must be between 1 and 500")
        if state is not None and state not in set(IncidentState):
            choices = ", ".join(s.value for s in IncidentState)
            raise ValueError(f"unknown incident state {state!r}; use one of {choices}")
        wanted = None if state is None else IncidentState(state)
        return store.load_many(conn, wanted, limit, before)

    # one change, guarded ----------------------------------------------------------------

    def _update(
        self,
        conn: Connection,
        incident_id: int,
        change: Callable[[Incident], builtins.list[Notification]],
    ) -> IncidentUpdate:
        for _ in range(RETRIES):
            incident = self.get(conn, incident_id)
            notifications = change(incident)  # raises IncidentStateError when not allowed
            if not incident.new_events or store.save(conn, incident):
                self._expect(incident.next_escalation_at)
                return IncidentUpdate(incident, notifications)
        raise IncidentConflict(f"incident {incident_id} kept changing; try again")

    def _change(
        self,
        conn: Connection,
        incident_id: int,
        change: Callable[[Incident], builtins.list[Notification]],
    ) -> builtins.list[Notification]:
        return self._update(conn, incident_id, change).notifications
