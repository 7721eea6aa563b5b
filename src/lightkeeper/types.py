"""Value types shared across Lightkeeper: monitor states and probe results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    """The state of one monitor.

    ``PENDING`` means "not decided yet": no result so far, or failures seen but fewer
    than the monitor's ``failures_before_down``.
    """

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    PENDING = "pending"


class Health(StrEnum):
    """The overall verdict over all monitors (the seed's /api/health semantics)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


Metric = float | int


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one check found: a state, how long it took and why, in plain words.

    ``metrics`` carries numbers a probe measured besides latency (certificate days
    left, connections in use, memory used ratio); they become Prometheus gauges and,
    later, signals for the rules engine.
    """

    state: State
    reason: str
    latency_ms: float | None = None
    metrics: dict[str, Metric] = field(default_factory=dict)

    @classmethod
    def up(
        cls, reason: str = "ok", latency_ms: float | None = None, **metrics: Metric
    ) -> ProbeResult:
        return cls(State.UP, reason, latency_ms, dict(metrics))

    @classmethod
    def degraded(
        cls, reason: str, latency_ms: float | None = None, **metrics: Metric
    ) -> ProbeResult:
        return cls(State.DEGRADED, reason, latency_ms, dict(metrics))

    @classmethod
    def down(cls, reason: str, latency_ms: float | None = None, **metrics: Metric) -> ProbeResult:
        return cls(State.DOWN, reason, latency_ms, dict(metrics))
