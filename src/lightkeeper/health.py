"""Deciding states: flap control for one monitor, and the overall verdict over all of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from lightkeeper.store import StateRow
from lightkeeper.types import Health, ProbeResult, State


def decide(
    previous: StateRow,
    result: ProbeResult,
    now: float,
    failures_before_down: int,
    successes_before_up: int,
) -> StateRow:
    """The monitor's state after one more result, with flap control.

    A monitor goes down only after ``failures_before_down`` failed checks in a row and
    comes back only after ``successes_before_up`` good ones; in between it keeps its
    previous state and says so in its reason. Up ⇄ degraded changes at once. A monitor
    with no decision yet stays ``pending`` while failures are counted.
    """
    fail_streak, ok_streak = previous.fail_streak, previous.ok_streak
    if result.state is State.DOWN:
        fail_streak, ok_streak = fail_streak + 1, 0
        if fail_streak >= failures_before_down:
            state, reason = State.DOWN, result.reason
        else:
            state = previous.state
            reason = (
                f"{result.reason} (failure {fail_streak} of {failures_before_down} before down)"
            )
    elif result.state is State.PENDING:
        state, reason = State.PENDING, result.reason
    else:
        fail_streak, ok_streak = 0, ok_streak + 1
        if previous.state is State.DOWN and ok_streak < successes_before_up:
            state = State.DOWN
            reason = (
                f"recovering: {ok_streak} of {successes_before_up} good checks ({result.reason})"
            )
        else:
            state, reason = result.state, result.reason
    return replace(
        previous,
        state=state,
        since=previous.since if state is previous.state else now,
        reason=reason,
        last_check=now,
        latency_ms=result.latency_ms,
        fail_streak=fail_streak,
        ok_streak=ok_streak,
        metrics=dict(result.metrics),
    )


def overall(
    states: Iterable[tuple[State, bool]], degraded_when_down: int = 1, unhealthy_when_down: int = 2
) -> Health:
    """The verdict over (state, critical) pairs.

    healthy: every monitor up (pending ones are not counted against it); degraded: a
    monitor degraded, or ``degraded_when_down`` monitors down; unhealthy:
    ``unhealthy_when_down`` monitors down, or any critical monitor down.
    """
    down = 0
    slow = False
    for state, critical in states:
        if state is State.DOWN:
            if critical:
                return Health.UNHEALTHY
            down += 1
        elif state is State.DEGRADED:
            slow = True
    if down >= unhealthy_when_down:
        return Health.UNHEALTHY
    if down >= degraded_when_down or slow:
        return Health.DEGRADED
    return Health.HEALTHY
