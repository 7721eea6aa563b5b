"""Monitors as the API, the dashboard and the status page show them (one shape for all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightkeeper.service import MonitorRuntime, Service
from lightkeeper.types import State

# Worst first, so what needs attention is at the top of every list.
STATE_ORDER = {State.DOWN: 0, State.DEGRADED: 1, State.PENDING: 2, State.UP: 3}


def monitor_view(service: Service, rt: MonitorRuntime) -> dict[str, Any]:
    uptime = service.uptime.get(rt.id, {})
    row = rt.row
    return {
        "name": rt.name,
        "type": rt.config.type,
        "target": rt.config.target(),
        "description": rt.config.description,
        "critical": bool(rt.config.critical),
        "state": row.state.value,
        "since": row.since,
        "reason": row.reason,
        "latency_ms": None if row.latency_ms is None else round(row.latency_ms, 2),
        "last_check": row.last_check,
        "interval_s": rt.interval,
        "metrics": row.metrics or {},
        "uptime": {w: (None if u.ratio is None else round(u.ratio, 6)) for w, u in uptime.items()},
        "labels": dict(rt.config.labels),
    }


@dataclass
class Page:
    items: list[MonitorRuntime]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def select_monitors(
    service: Service,
    q: str | None = None,
    state: State | None = None,
    page: int = 1,
    per_page: int = 50,
    names: list[str] | None = None,
) -> Page:
    """Filter (name or target contains ``q``; state), sort worst first, cut one page."""
    needle = (q or "").strip().lower()
    chosen = [
        rt
        for rt in (
            service.monitors.values() if names is None else (service.monitors[n] for n in names)
        )
        if (state is None or rt.row.state is state)
        and (not needle or needle in rt.name.lower() or needle in rt.config.target().lower())
    ]
    chosen.sort(key=lambda rt: (STATE_ORDER[rt.row.state], rt.name))
    start = (page - 1) * per_page
    return Page(chosen[start : start + per_page], len(chosen), page, per_page)


def counts(service: Service) -> dict[str, int]:
    out = {s.value: 0 for s in State}
    for rt in service.monitors.values():
        out[rt.row.state.value] += 1
    return out


def sparkline(rt: MonitorRuntime, width: int = 120, height: int = 24) -> str:
    """SVG polyline points of recent latencies (server-side: no JS per row)."""
    values = [lat for _, lat, _ in rt.history if lat is not None]
    if len(values) < 2:
        return ""
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values)
    )
