"""The daily digest (the seed's Info tier): one message per channel at a set local time.

It sums up the last day: alerts fired and resolved, incidents with their time to
resolve, uptime per monitor, the slowest checks and the other signals present. It is
written to the outbox with the key ``digest-<date>``, so a restart on the same day never
sends it twice. ``lightkeeper digest --preview`` prints it from the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import func, select

from lightkeeper.durations import humanize
from lightkeeper.notify.message import Notification
from lightkeeper.probes.base import StrictModel
from lightkeeper.store import Store
from lightkeeper.store import alerting as db
from lightkeeper.store.tables import series
from lightkeeper.zones import TimeZoneName

if TYPE_CHECKING:
    from lightkeeper.config import LightkeeperConfig
    from lightkeeper.incidents.service import Incidents

DAY = 86400.0


class DigestConfig(StrictModel):
    """Example (YAML)::

    digest: {at: "09:00", tz: Europe/London, channels: [slack]}
    """

    at: str = Field("09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time, HH:MM.")
    tz: TimeZoneName = "UTC"
    channels: list[str] = Field(default_factory=list, description="Empty: no digest is sent.")
    slowest: int = Field(5, ge=0, le=50, description="How many of the slowest monitors to list.")

    def next_run(self, now: float) -> float:
        """The next moment the local clock reads ``at`` (after a DST change too)."""
        zone = ZoneInfo(self.tz)
        hour, minute = (int(p) for p in self.at.split(":"))
        local = datetime.fromtimestamp(now, zone)
        candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        while candidate.timestamp() <= now:
            # Step by calendar day in local time, then re-attach the zone's offset that day.
            day = candidate.date() + timedelta(days=1)
            candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        return candidate.timestamp()

    def date_of(self, now: float) -> str:
        return datetime.fromtimestamp(now, ZoneInfo(self.tz)).date().isoformat()


@dataclass(frozen=True)
class Digest:
    title: str
    body: str
    payload: dict[str, Any]

    def notifications(self, channels: list[str], date: str) -> list[Notification]:
        return [
            Notification(channel, "digest", f"digest-{date}", self.title, self.body, self.payload)
            for channel in channels
        ]


def _pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.2f}%"


def _incidents(
    incidents: Incidents, conn: Any, since: float, now: float
) -> tuple[list[str], dict[str, Any]]:
    """The incidents opened or resolved in the window, with MTTA and MTTR."""
    stats = incidents.stats(conn, since, now)
    touched = [
        i
        for i in incidents.list(conn, limit=500)
        if i.opened_at >= since or (i.resolved_at or 0) >= since
    ]
    mtta = humanize(stats.mtta) if stats.mtta is not None else "–"
    mttr = humanize(stats.mttr) if stats.mttr is not None else "–"
    lines = ["", f"Incidents: {stats.count} opened; MTTA {mtta}, MTTR {mttr}"]
    for i in sorted(touched, key=lambda i: i.opened_at):
        if i.resolved_at is not None:
            how = f"resolved after {humanize(i.resolved_at - i.opened_at)}"
        elif i.acknowledged_by:
            how = f"acknowledged by {i.acknowledged_by}, open"
        else:
            how = "open, not acknowledged"
        lines.append(f"  #{i.id} {i.title} — {how}")
    facts = {
        "opened": stats.count,
        "acknowledged": stats.acknowledged,
        "resolved": stats.resolved,
        "mtta_s": stats.mtta,
        "mttr_s": stats.mttr,
        "incidents": [
            {
                "id": i.id,
                "title": i.title,
                "state": i.state.value,
                "ttr_s": (i.resolved_at - i.opened_at) if i.resolved_at else None,
            }
            for i in touched
        ],
    }
    return lines, facts


def build(
    config: LightkeeperConfig,
    store: Store,
    now: float,
    incidents: Incidents | None = None,
) -> Digest:
    """The digest of the 24 hours before ``now``, from the store alone."""
    since = now - DAY
    ids = store.monitor_ids()
    names = [m.name for m in config.monitors if m.name in ids]
    uptime = store.uptime(now, [ids[n] for n in names])
    latency = store.latency(since)
    with store.engine.connect() as conn:
        alerts = [
            a
            for a in db.load_alerts(conn, active_only=False)
            if (a.fired_at or 0) >= since or ((a.resolved_at or 0) >= since and a.fired_at)
        ]
        incident_lines, incident_facts = (
            _incidents(incidents, conn, since, now) if incidents is not None else ([], None)
        )
        signals = {
            r.name: int(r.n)
            for r in conn.execute(
                select(series.c.name, func.count().label("n")).group_by(series.c.name)
            )
        }
    fired = [a for a in alerts if a.fired_at and a.fired_at >= since]
    resolved = [a for a in alerts if a.resolved_at and a.resolved_at >= since and a.fired_at]
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now))
    lines = [f"Lightkeeper daily digest — the 24 hours to {until}", ""]
    lines.append(f"Alerts: {len(fired)} fired, {len(resolved)} resolved")
    for a in sorted(fired, key=lambda a: a.fired_at or 0):
        took = (
            f", resolved after {humanize(a.resolved_at - a.fired_at)}"
            if a.resolved_at and a.fired_at and a.resolved_at >= a.fired_at
            else ", still firing"
            if a.state.value == "firing"
            else ""
        )
        where = ", ".join(
            f"{k}={v}" for k, v in sorted(a.labels.items()) if k not in ("alertname", "severity")
        )
        lines.append(f"  - {a.rule} ({a.severity.value}) {where}{took}")
    lines += incident_lines
    lines += ["", "Uptime, 24 h:"]
    rows = []
    for name in names:
        ratio = uptime.get(ids[name], {}).get("24h")
        rows.append((name, None if ratio is None else ratio.ratio))
        lines.append(f"  {name:<30} {_pct(rows[-1][1])}")
    slow = sorted(
        ((n, latency[ids[n]]) for n in names if ids[n] in latency), key=lambda x: -x[1][0]
    )[: config.digest.slowest]
    if slow:
        lines += ["", "Slowest checks (average, worst):"]
        lines += [f"  {n:<30} {avg:.0f} ms, {worst:.0f} ms" for n, (avg, worst) in slow]
    others = {
        k: v
        for k, v in signals.items()
        if k not in ("monitor_down", "probe_up", "probe_latency_ms")
    }
    if others:
        lines += [
            "",
            "Other signals: " + ", ".join(f"{k} ({v} series)" for k, v in sorted(others.items())),
        ]
    payload = {
        "date": day,
        "alerts_fired": len(fired),
        "alerts_resolved": len(resolved),
        "uptime_24h": dict(rows),
        "slowest": [{"monitor": n, "avg_ms": avg, "max_ms": worst} for n, (avg, worst) in slow],
        "signals": signals,
        "incidents": incident_facts,
    }
    title = f"Daily digest {day}: {len(fired)} alerts fired, {len(resolved)} resolved"
    return Digest(title, "\n".join(lines), payload)
