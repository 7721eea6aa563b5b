"""Alert life cycle with an injected clock: pending, for, keep_firing_for, resolve once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.rules.engine import AlertState, Engine, RuleConfig
from lightkeeper.rules.signals import SignalStore

T0 = 1_800_000_000.0


def rule(**fields: object) -> RuleConfig:
    base: dict[str, object] = {
        "name": "site-down",
        "severity": "critical",
        "expr": 'monitor_down{monitor="site"} == 1',
    }
    return RuleConfig.model_validate({**base, **fields})


def run(
    engine: Engine, store: SignalStore, values: list[int], step: float = 30.0
) -> list[tuple[float, str]]:
    """Feed one value per step and evaluate; return (time, transition kind) pairs."""
    out = []
    for i, value in enumerate(values):
        now = T0 + i * step
        store.record("monitor_down", {"monitor": "site"}, float(value), now)
        _, transitions = engine.evaluate(now)
        out.extend((now - T0, t.kind) for t in transitions)
    return out


def test_for_fires_at_the_first_evaluation_at_or_after_pending_plus_for() -> None:
    store = SignalStore()
    engine = Engine([rule(**{"for": "2m"})], store)
    assert run(engine, store, [1, 1, 1, 1, 1, 1]) == [(120.0, "firing")]
    [alert] = engine.active()
    assert alert.pending_since == T0 and alert.fired_at == T0 + 120
    assert alert.labels == {"monitor": "site", "alertname": "site-down", "severity": "critical"}


def test_for_zero_fires_at_once() -> None:
    store = SignalStore()
    engine = Engine([rule()], store)
    assert run(engine, store, [0, 1]) == [(30.0, "firing")]


def test_a_pending_alert_that_clears_is_never_sent() -> None:
    store = SignalStore()
    engine = Engine([rule(**{"for": "5m"})], store)
    assert run(engine, store, [1, 1, 0, 1, 1, 0] * 4) == []
    assert engine.active() == []


def test_resolve_is_sent_once() -> None:
    store = SignalStore()
    engine = Engine([rule()], store)
    assert run(engine, store, [1, 1, 0, 0, 0]) == [(0.0, "firing"), (60.0, "resolved")]


def test_keep_firing_for_holds_through_short_gaps() -> None:
    store = SignalStore()
    engine = Engine([rule(keep_firing_for="1m")], store)
    # true, false for 30 s (kept), true again, then false for good: resolved 1 m after last true
    events = run(engine, store, [1, 0, 1, 0, 0, 0, 0])
    assert events == [(0.0, "firing"), (120.0, "resolved")]


def test_annotations_render_value_threshold_and_labels() -> None:
    store = SignalStore()
    engine = Engine(
        [
            RuleConfig.model_validate(
                {
                    "name": "api-slow",
                    "severity": "warning",
                    "expr": "max(lat) over 1m > 3000",
                    "annotations": {
                        "summary": "{{ labels.monitor }}: {{ value }} ms > {{ threshold }} ms"
                    },
                }
            )
        ],
        store,
    )
    store.record("lat", {"monitor": "api"}, 4200.0, T0)
    _, [transition] = engine.evaluate(T0 + 1)
    assert transition.alert.annotations["summary"] == "api: 4200 ms > 3000 ms"
    assert transition.alert.value == 4200.0 and transition.alert.threshold == 3000.0


def test_one_alert_per_series() -> None:
    store = SignalStore()
    engine = Engine([rule(expr="monitor_down == 1")], store)
    for monitor in ("a", "b", "c"):
        store.record("monitor_down", {"monitor": monitor}, 1.0 if monitor != "b" else 0.0, T0)
    _, transitions = engine.evaluate(T0 + 1)
    assert sorted(t.alert.labels["monitor"] for t in transitions) == ["a", "c"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 1), min_size=1, max_size=80),
    st.sampled_from([0, 30, 60, 120, 300]),
    st.sampled_from([0, 30, 90]),
)
def test_properties_over_random_signals(values: list[int], for_s: int, keep_s: int) -> None:
    store = SignalStore()
    engine = Engine([rule(**{"for": f"{for_s}s", "keep_firing_for": f"{keep_s}s"})], store)
    events = run(engine, store, values + [0] * 10)  # the signal recovers and stays recovered
    kinds = [k for _, k in events]
    # firing and resolved alternate, starting with firing: never two firings without a resolve
    assert all(k == ("firing" if i % 2 == 0 else "resolved") for i, k in enumerate(kinds))
    # every firing alert is resolved once its signal recovers and stays recovered
    assert len(kinds) % 2 == 0
    assert engine.active() == []
    # a firing needs `for` seconds of continuous truth before it
    for at, kind in events:
        if kind == "firing":
            start = int(at // 30) - for_s // 30
            assert start >= 0 and all(values[j] == 1 for j in range(start, int(at // 30) + 1))


def test_state_survives_a_restart() -> None:
    store = SignalStore()
    engine = Engine([rule()], store)
    run(engine, store, [1])
    saved = list(engine.alerts.values())
    again = Engine([rule()], store)
    again.restore(saved)
    store.record("monitor_down", {"monitor": "site"}, 1.0, T0 + 30)
    _, transitions = again.evaluate(T0 + 30)
    assert transitions == []  # still firing: no second firing after a restart
    assert again.active()[0].state is AlertState.FIRING


def test_next_due_is_when_the_earliest_for_elapses() -> None:
    store = SignalStore()
    engine = Engine([rule(**{"for": "2m"})], store)
    assert engine.next_due() is None
    run(engine, store, [1])
    assert engine.next_due() == T0 + 120
    run(engine, store, [1] * 6)
    assert engine.next_due() is None  # fired: nothing pending
