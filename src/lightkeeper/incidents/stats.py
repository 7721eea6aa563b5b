"""MTTA and MTTR over a period: how long incidents waited for a person, and lasted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IncidentStats:
    """Incidents opened in ``[since, until)``. ``mtta`` averages acknowledged_at − opened_at
    over those acknowledged; ``mttr`` averages resolved_at − opened_at over those resolved
    (seconds; None when there is none to average). One resolved by Lightkeeper without
    an acknowledgement counts towards MTTR, not MTTA."""

    since: float
    until: float
    count: int
    acknowledged: int
    resolved: int
    mtta: float | None
    mttr: float | None


#: (opened_at, acknowledged_at, resolved_at) of one incident.
Times = tuple[float, float | None, float | None]


def summarize(times: Iterable[Times], since: float, until: float) -> IncidentStats:
    chosen = [t for t in times if since <= t[0] < until]
    tta = [acked - opened for opened, acked, _ in chosen if acked is not None]
    ttr = [done - opened for opened, _, done in chosen if done is not None]
    return IncidentStats(
        since,
        until,
        len(chosen),
        len(tta),
        len(ttr),
        sum(tta) / len(tta) if tta else None,
        sum(ttr) / len(ttr) if ttr else None,
    )
