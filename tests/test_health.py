"""Flap control for one monitor and the overall verdict: scenario tables and properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.health import decide, overall
from lightkeeper.store import StateRow
from lightkeeper.types import Health, ProbeResult, State

UP, DOWN, SLOW = (
    ProbeResult.up("ok"),
    ProbeResult.down("connection refused"),
    ProbeResult.degraded("slow"),
)


def run(
    results: list[ProbeResult], fails: int = 2, oks: int = 1, start: State = State.PENDING
) -> list[State]:
    row = StateRow(1, start, 0.0, "")
    states = []
    for t, result in enumerate(results, 1):
        row = decide(row, result, float(t), fails, oks)
        states.append(row.state)
    return states


SCENARIOS = [
    ("first good check is up", [UP], 2, 1, [State.UP]),
    ("one failure from fresh stays pending", [DOWN], 2, 1, [State.PENDING]),
    ("two failures make down", [DOWN, DOWN], 2, 1, [State.PENDING, State.DOWN]),
    ("a blip while up is absorbed", [UP, DOWN, UP], 2, 1, [State.UP, State.UP, State.UP]),
    (
        "down then one good check is up",
        [UP, DOWN, DOWN, UP],
        2,
        1,
        [State.UP, State.UP, State.DOWN, State.UP],
    ),
    (
        "successes_before_up 3",
        [DOWN, UP, UP, UP],
        1,
        3,
        [State.DOWN, State.DOWN, State.DOWN, State.UP],
    ),
    ("a failure resets recovery", [DOWN, UP, DOWN, UP, UP], 1, 2, [State.DOWN] * 4 + [State.UP]),
    ("degraded is immediate both ways", [UP, SLOW, UP], 2, 1, [State.UP, State.DEGRADED, State.UP]),
    ("failures_before_down 1", [UP, DOWN], 1, 1, [State.UP, State.DOWN]),
]


def test_scenarios() -> None:
    for name, results, fails, oks, expected in SCENARIOS:
        assert run(results, fails, oks) == expected, name


def test_reason_tells_the_streak_and_since_moves_only_on_change() -> None:
    row = decide(StateRow(1, State.UP, 5.0, "ok"), DOWN, 10.0, 3, 1)
    assert row.state is State.UP and row.since == 5.0
    assert row.reason == "connection refused (failure 1 of 3 before down)"
    row = decide(decide(row, DOWN, 11.0, 3, 1), DOWN, 12.0, 3, 1)
    assert row.state is State.DOWN and row.since == 12.0 and row.reason == "connection refused"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["up", "down", "slow"]), min_size=1, max_size=60),
    st.integers(1, 5),
    st.integers(1, 5),
)
def test_down_needs_the_streak_and_up_needs_the_streak(
    seq: list[str], fails: int, oks: int
) -> None:
    results = [{"up": UP, "down": DOWN, "slow": SLOW}[s] for s in seq]
    states = run(results, fails, oks)
    for i, state in enumerate(states):
        if state is State.DOWN and (i == 0 or states[i - 1] is not State.DOWN):
            # went down: the last `fails` raw results were all failures
            assert i + 1 >= fails and all(s == "down" for s in seq[i + 1 - fails : i + 1])
        if i and states[i - 1] is State.DOWN and state in (State.UP, State.DEGRADED):
            assert i + 1 >= oks and all(s != "down" for s in seq[i + 1 - oks : i + 1])


VERDICTS = [
    ("all up", [(State.UP, False), (State.UP, True)], Health.HEALTHY),
    ("pending does not count", [(State.UP, False), (State.PENDING, False)], Health.HEALTHY),
    ("one degraded", [(State.UP, False), (State.DEGRADED, False)], Health.DEGRADED),
    ("one down", [(State.DOWN, False), (State.UP, False)], Health.DEGRADED),
    ("two down", [(State.DOWN, False), (State.DOWN, False)], Health.UNHEALTHY),
    ("critical down alone", [(State.DOWN, True), (State.UP, False)], Health.UNHEALTHY),
    ("critical degraded is only degraded", [(State.DEGRADED, True)], Health.DEGRADED),
    ("nothing", [], Health.HEALTHY),
]


def test_overall_verdicts() -> None:
    for name, states, expected in VERDICTS:
        assert overall(states) is expected, name


def test_overall_thresholds_are_configurable() -> None:
    down3 = [(State.DOWN, False)] * 3
    assert overall(down3, degraded_when_down=1, unhealthy_when_down=4) is Health.DEGRADED
    assert overall(down3[:1], degraded_when_down=2, unhealthy_when_down=4) is Health.HEALTHY
