"""Paging: who hears of an incident, through which channels, with what words — the first
page, each escalation up the rotation, and the resolve message to everyone paged.

Every page is one :class:`Notification` per channel of the person paged, kind ``firing``,
``dedup_key`` ``incident-<id>`` (so PagerDuty's resolve closes what the page opened), and
is recorded on the incident's timeline with the values that led to it.
"""

from __future__ import annotations

from typing import Any

from lightkeeper.clock import utc
from lightkeeper.durations import format_duration, humanize
from lightkeeper.incidents.config import IncidentsConfig, OncallConfig
from lightkeeper.incidents.model import EventKind, Incident, IncidentState
from lightkeeper.incidents.rotation import Rotation
from lightkeeper.notify.message import Notification
from lightkeeper.rules.engine import Alert, AlertState
from lightkeeper.rules.messages import Renderer


def dedup_key(incident_id: int) -> str:
    return f"incident-{incident_id}"


def _when(ts: float) -> str:
    return utc(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


class Pager:
    def __init__(self, oncall: OncallConfig, settings: IncidentsConfig, renderer: Renderer) -> None:
        self.rotations = {r.name: Rotation(r) for r in oncall.rotations}
        self.people = {name: tuple(p.channels) for name, p in oncall.people.items()}
        self.renderer = renderer
        name = settings.page or (oncall.rotations[0].name if oncall.rotations else None)
        self.rotation = self.rotations.get(name) if name else None

    def url(self, incident_id: int) -> str:
        return f"{self.renderer.base}/ui/incidents/{incident_id}"

    # deciding whom --------------------------------------------------------------------

    def page_first(self, incident: Incident, now: float) -> list[Notification]:
        """A new incident: page whoever is on call now."""
        if self.rotation is None:
            incident.record(
                now, EventKind.NOT_PAGED, "nobody paged: no on-call rotation configured"
            )
            return []
        incident.rotation = self.rotation.name
        shift = self.rotation.shift_at(now)
        how = "an override" if shift.override else "the rota"
        reason = f"on call for {self.rotation.name} by {how} until {_when(shift.ends_at)}"
        return self._page(incident, shift.person, now, reason)

    def escalate(self, incident: Incident, now: float) -> list[Notification]:
        """The page went unacknowledged for ``escalate_after``: page the next person, or
        record that everyone was paged once. Nothing happens before it is due."""
        due = incident.next_escalation_at
        if incident.state is not IncidentState.OPEN or due is None or due > now:
            return []
        rotation = self.rotations.get(incident.rotation or "")
        after = rotation.config.escalate_after if rotation else None
        if rotation is None or after is None:
            incident.next_escalation_at = None
            incident.record(
                now,
                EventKind.ESCALATION_EXHAUSTED,
                f"escalation stopped: rotation {incident.rotation!r} no longer escalates",
            )
            return []
        order = rotation.escalation_order(incident.opened_at)
        last = incident.paged[-1] if incident.paged else "nobody"
        following = next((p for p in order if p not in incident.paged), None)
        if following is None:
            incident.next_escalation_at = None
            incident.record(
                now,
                EventKind.ESCALATION_EXHAUSTED,
                f"nobody acknowledged: everyone in {rotation.name} was paged once"
                f" ({', '.join(incident.paged)}); escalation stops",
                data={"paged": list(incident.paged), "escalate_after": after},
            )
            return []
        waited = format_duration(after)
        incident.record(
            now,
            EventKind.ESCALATED,
            f"{last} did not acknowledge within {waited}: escalating to {following}",
            data={"from": last, "to": following, "escalate_after": after, "due": due},
        )
        reason = f"escalated in {rotation.name}: {last} did not acknowledge within {waited}"
        return self._page(incident, following, now, reason)

    def _page(self, incident: Incident, person: str, now: float, reason: str) -> list[Notification]:
        channels = self.people.get(person, ())
        incident.paged.append(person)
        rotation = self.rotations.get(incident.rotation or "")
        after = rotation.config.escalate_after if rotation else None
        incident.next_escalation_at = None if after is None else now + after
        incident.record(
            now,
            EventKind.PAGED,
            f"paged {person} via {', '.join(channels) or 'no channel'} ({reason})",
            data={
                "person": person,
                "channels": list(channels),
                "level": len(incident.paged) - 1,
                "reason": reason,
                "escalate_at": incident.next_escalation_at,
            },
        )
        title = f"[INCIDENT #{incident.id}] {incident.title}"
        body = self._page_body(incident, reason)
        payload = self._payload(incident, "firing", person=person, level=len(incident.paged) - 1)
        key = dedup_key(incident.id)
        return [Notification(c, "firing", key, title, body, payload) for c in channels]

    def resolved(self, incident: Incident, now: float) -> list[Notification]:
        """Tell everyone who was paged that the incident is over (once per channel)."""
        people = [p for p in dict.fromkeys(incident.paged) if p in self.people]
        channels = list(dict.fromkeys(c for p in people for c in self.people[p]))
        if not channels:
            return []
        incident.record(
            now,
            EventKind.NOTIFIED,
            f"told {', '.join(people)} that it is resolved",
            data={"people": people, "channels": channels},
        )
        after = humanize((incident.resolved_at or now) - incident.opened_at)
        reason = next(
            (
                e.data.get("reason", "")
                for e in reversed(incident.events)
                if e.kind is EventKind.RESOLVED
            ),
            "",
        )
        head = f"Incident #{incident.id} resolved" + (
            f" after {after}: {reason}." if reason else f" by {incident.resolved_by} after {after}."
        )
        lines = [head, ""]
        lines += [line for a in incident.alerts.values() for line in self._alert_lines(a)]
        lines += ["", f"dashboard: {self.url(incident.id)}"]
        title = f"[RESOLVED] Incident #{incident.id} {incident.title}"
        payload = self._payload(incident, "resolved")
        key = dedup_key(incident.id)
        return [
            Notification(c, "resolved", key, title, "\n".join(lines), payload) for c in channels
        ]

    # words ------------------------------------------------------------------------------

    def _alert_lines(self, alert: Alert) -> list[str]:
        status = "resolved" if alert.state is AlertState.RESOLVED else "firing"
        lines = self.renderer.lines(alert, status)
        # The incident's link replaces the alert's: acknowledging happens there.
        return [line for line in lines if not line.startswith("  dashboard: ")]

    def _page_body(self, incident: Incident, reason: str) -> str:
        alerts = incident.firing or list(incident.alerts.values())
        lines = [
            f"Incident #{incident.id}: {incident.title}",
            f"Opened {_when(incident.opened_at)}; {len(incident.firing)} alert(s) firing.",
            f"You are paged: {reason}.",
            "",
        ]
        lines += [line for alert in alerts for line in self._alert_lines(alert)]
        lines += [
            "",
            f"Acknowledge: lightkeeper incidents ack {incident.id}",
            f"  or at {self.url(incident.id)}",
            f"dashboard: {self.url(incident.id)}",
        ]
        return "\n".join(lines)

    def _payload(self, incident: Incident, status: str, **extra: Any) -> dict[str, Any]:
        alerts = list(incident.alerts.values())
        first = (incident.firing or alerts)[0]
        facts = self.renderer.facts(first, status)
        return {
            **facts,
            "dashboard": self.url(incident.id),
            "incident": {
                "id": incident.id,
                "title": incident.title,
                "state": incident.state.value,
                "labels": incident.labels,
                "url": self.url(incident.id),
                "ack": f"lightkeeper incidents ack {incident.id}",
                **extra,
            },
            "alerts": [
                self.renderer.facts(a, "resolved" if a.state is AlertState.RESOLVED else "firing")
                for a in alerts
            ],
        }
