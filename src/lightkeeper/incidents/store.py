"""Incident rows: read and write incidents, their alerts and timelines on a Connection the
caller holds, so they commit with the alerts and outbox rows they go with.

An incident is written back only if nobody changed it since it was read (its ``version``),
so an acknowledgement from the API and an escalation from the rules engine never
overwrite each other; the loser reads again and decides again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from lightkeeper.incidents.model import Event, EventKind, Incident, IncidentState
from lightkeeper.incidents.stats import Times
from lightkeeper.rules.engine import Alert, AlertState, Severity
from lightkeeper.store.alerting import upsert
from lightkeeper.store.tables import incident_alerts, incident_events, incidents


def alert_json(alert: Alert) -> str:
    data = asdict(alert)
    data["severity"], data["state"] = alert.severity.value, alert.state.value
    return json.dumps(data, sort_keys=True)


def alert_from_json(text: str) -> Alert:
    data: dict[str, Any] = json.loads(text)
    data["severity"], data["state"] = Severity(data["severity"]), AlertState(data["state"])
    return Alert(**data)


def _columns(incident: Incident) -> dict[str, Any]:
    live = incident.state is not IncidentState.RESOLVED
    return {
        "group_key": incident.key,
        "open_key": incident.key if live else None,
        "title": incident.title,
        "labels": json.dumps(incident.labels, sort_keys=True),
        "state": incident.state.value,
        "opened_at": incident.opened_at,
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by,
        "resolved_at": incident.resolved_at,
        "resolved_by": incident.resolved_by,
        "rotation": incident.rotation,
        "paged": json.dumps(incident.paged),
        "next_escalation_at": incident.next_escalation_at,
    }


def insert_incident(conn: Connection, incident: Incident) -> int:
    """Write a new incident (its id is set from the row) with its alerts and events."""
    result = conn.execute(insert(incidents).values(**_columns(incident), version=0))
    incident.id = int(result.inserted_primary_key[0])  # type: ignore[index]
    incident.version = -1  # saved() below makes it 0, the row's version
    _write_children(conn, incident)
    return incident.id


def save(conn: Connection, incident: Incident) -> bool:
    """Write the incident's changes unless someone else changed it first (then False)."""
    result = conn.execute(
        update(incidents)
        .where(incidents.c.id == incident.id, incidents.c.version == incident.version)
        .values(**_columns(incident), version=incident.version + 1)
    )
    if result.rowcount != 1:
        return False
    _write_children(conn, incident)
    return True


def _write_children(conn: Connection, incident: Incident) -> None:
    if incident.new_events:
        conn.execute(
            insert(incident_events),
            [
                {
                    "incident_id": incident.id,
                    "at": e.at,
                    "kind": e.kind.value,
                    "actor": e.actor,
                    "text": e.text,
                    "data": json.dumps(e.data, default=str, sort_keys=True),
                }
                for e in incident.new_events
            ],
        )
    changed = [incident.alerts[fp] for fp in sorted(incident.changed_alerts)]
    upsert(
        conn,
        incident_alerts,
        [
            {
                "incident_id": incident.id,
                "fingerprint": a.fingerprint,
                "state": a.state.value,
                "alert": alert_json(a),
                "updated_at": a.updated_at,
            }
            for a in changed
        ],
        ["incident_id", "fingerprint"],
    )
    incident.saved()


# reading ------------------------------------------------------------------------------


def load(conn: Connection, incident_id: int) -> Incident | None:
    found = _hydrate(conn, conn.execute(select(incidents).where(incidents.c.id == incident_id)))
    return found[0] if found else None


def load_live(conn: Connection, key: str) -> Incident | None:
    """The incident not yet resolved for this group key, if there is one."""
    found = _hydrate(conn, conn.execute(select(incidents).where(incidents.c.open_key == key)))
    return found[0] if found else None


def holding_firing(conn: Connection, fingerprints: Iterable[str]) -> list[int]:
    """Ids of the incidents that hold any of these alerts as still firing (resolved ones
    too: a person may resolve an incident before its alerts do)."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return []
    query = (
        select(incident_alerts.c.incident_id)
        .where(incident_alerts.c.fingerprint.in_(wanted))
        .where(incident_alerts.c.state == AlertState.FIRING.value)
        .distinct()
        .order_by(incident_alerts.c.incident_id)
    )
    return [int(i) for i in conn.scalars(query)]


def episodes(conn: Connection, fingerprints: Iterable[str]) -> set[tuple[str, float | None]]:
    """(fingerprint, fired_at) of every firing of these alerts that joined an incident."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return set()
    query = select(incident_alerts.c.alert).where(incident_alerts.c.fingerprint.in_(wanted))
    return {(a.fingerprint, a.fired_at) for a in map(alert_from_json, conn.scalars(query))}


def escalations_due(conn: Connection, now: float) -> list[int]:
    query = (
        select(incidents.c.id)
        .where(incidents.c.next_escalation_at <= now)
        .where(incidents.c.state == IncidentState.OPEN.value)
        .order_by(incidents.c.next_escalation_at)
    )
    return [int(r.id) for r in conn.execute(query)]


def next_escalation(conn: Connection) -> float | None:
    query = select(func.min(incidents.c.next_escalation_at)).where(
        incidents.c.state == IncidentState.OPEN.value
    )
    value = conn.execute(query).scalar()
    return None if value is None else float(value)


def load_many(
    conn: Connection, state: IncidentState | None, limit: int, before: int | None = None
) -> list[Incident]:
    """Newest first; ``before`` (an id) pages on."""
    query = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(incidents.c.state == state.value)
    if before is not None:
        query = query.where(incidents.c.id < before)
    return _hydrate(conn, conn.execute(query))


def times(conn: Connection, since: float, until: float) -> list[Times]:
    query = select(
        incidents.c.opened_at, incidents.c.acknowledged_at, incidents.c.resolved_at
    ).where(incidents.c.opened_at >= since, incidents.c.opened_at < until)
    return [(r.opened_at, r.acknowledged_at, r.resolved_at) for r in conn.execute(query)]


def _hydrate(conn: Connection, rows: Iterable[Row[Any]]) -> list[Incident]:
    found = [_incident(r) for r in rows]
    if not found:
        return []
    by_id = {i.id: i for i in found}
    ids = list(by_id)
    alerts: dict[int, list[Alert]] = defaultdict(list)
    for r in conn.execute(select(incident_alerts).where(incident_alerts.c.incident_id.in_(ids))):
        alerts[r.incident_id].append(alert_from_json(r.alert))
    for incident_id, members in alerts.items():
        members.sort(key=lambda a: (a.fired_at or 0.0, a.fingerprint))  # in firing order
        by_id[incident_id].alerts = {a.fingerprint: a for a in members}
    events: dict[int, list[Event]] = defaultdict(list)
    for r in conn.execute(
        select(incident_events)
        .where(incident_events.c.incident_id.in_(ids))
        .order_by(incident_events.c.id)
    ):
        events[r.incident_id].append(
            Event(r.at, EventKind(r.kind), r.text, r.actor, json.loads(r.data))
        )
    for incident_id, timeline in events.items():
        by_id[incident_id].events = timeline
    return found


def _incident(r: Row[Any]) -> Incident:
    paged: Sequence[str] = json.loads(r.paged)
    return Incident(
        id=int(r.id),
        key=r.group_key,
        title=r.title,
        labels=json.loads(r.labels),
        state=IncidentState(r.state),
        opened_at=r.opened_at,
        acknowledged_at=r.acknowledged_at,
        acknowledged_by=r.acknowledged_by,
        resolved_at=r.resolved_at,
        resolved_by=r.resolved_by,
        rotation=r.rotation,
        paged=list(paged),
        next_escalation_at=r.next_escalation_at,
        version=int(r.version),
    )
