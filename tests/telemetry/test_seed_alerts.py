"""The seed's alert table, as the reference example writes it, on telemetry signals — with
an injected clock, so `for: 5m` takes milliseconds: error rate > 5 % for 5 minutes, API
latency > 10 s for 2 minutes, ChromaDB (RAG) latency, AI cost > 2× normal, new issues
and regressions. Each fires when it should, not before, and resolves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lightkeeper.config import load_config
from lightkeeper.rules.engine import Engine
from lightkeeper.rules.signals import SignalStore
from lightkeeper.telemetry.signals import TelemetrySignals

EXAMPLE = Path(__file__).parents[2] / "examples/learnwithavi/lightkeeper.yaml"
T0 = 1_800_000_000.0  # a minute boundary
STEP = 15.0


def setup(rule: str) -> tuple[Engine, TelemetrySignals]:
    config = load_config(EXAMPLE)
    rules = [r for r in config.alerts if r.name == rule]
    assert rules, f"the example has no rule {rule!r}"
    engine = Engine(rules, SignalStore())
    store = SignalStore(keep=engine.lookback() + 120, names=engine.signal_names())
    engine.signals = store
    return engine, TelemetrySignals(store, engine.reads)


def drive(
    engine: Engine,
    signals: TelemetrySignals,
    feed: Callable[[float], None],
    start: float,
    seconds: float,
) -> list[tuple[float, str]]:
    """Every STEP seconds: feed the traffic of that step, then evaluate."""
    out = []
    t = start
    while t < start + seconds:
        feed(t)
        _, transitions = engine.evaluate(t)
        out.extend((t - start, x.kind) for x in transitions)
        t += STEP
    return out


def traffic(
    signals: TelemetrySignals, failing: float, latency_ms: float
) -> Callable[[float], None]:
    def feed(t: float) -> None:
        for i in range(100):
            failed = i < failing * 100
            signals.request("web", "/api/chat" if i % 2 else "/api/search", failed, latency_ms, t)

    return feed


def test_error_rate_over_5_percent_for_5_minutes_pages() -> None:
    engine, signals = setup("error-rate-critical")
    # 4 % for 10 minutes: never.
    assert drive(engine, signals, traffic(signals, 0.04, 200), T0, 600) == []
    # 10 %: pending at once, firing once 5 minutes have passed, not earlier.
    fired = drive(engine, signals, traffic(signals, 0.10, 200), T0 + 600, 420)
    assert fired == [(300.0, "firing")]
    [alert] = engine.active()
    assert alert.labels["project"] == "web" and "route" not in alert.labels
    healed = drive(engine, signals, traffic(signals, 0.0, 200), T0 + 1020, 180)
    assert [k for _, k in healed] == ["resolved"]


def test_api_latency_over_10_s_for_2_minutes_pages() -> None:
    engine, signals = setup("api-latency-critical")
    assert drive(engine, signals, traffic(signals, 0, 9_000), T0, 600) == []
    fired = drive(engine, signals, traffic(signals, 0, 12_000), T0 + 600, 300)
    assert fired == [(120.0, "firing")]
    assert [k for _, k in drive(engine, signals, traffic(signals, 0, 300), T0 + 900, 180)] == [
        "resolved"
    ]


def test_slow_rag_searches_warn() -> None:
    engine, signals = setup("chromadb-slow")

    def searches(ms: float) -> Callable[[float], None]:
        return lambda t: [signals.rag_search("web", ms, 5, t) for _ in range(20)]

    assert drive(engine, signals, searches(800), T0, 900) == []
    fired = drive(engine, signals, searches(3_000), T0 + 900, 900)
    assert [k for _, k in fired] == ["firing"]


def test_ai_cost_at_twice_the_usual_warns() -> None:
    engine, signals = setup("ai-cost-spike")
    users = ["ana", "ben", "chen", "dev"]

    def spend(per_step: float) -> Callable[[float], None]:
        def feed(t: float) -> None:
            for user in users:
                signals.ai_usage("web", "claude-sonnet-4", user, 1000, per_step / len(users), t)

        return feed

    hour = 3600.0
    week = 7 * 24 * hour
    # A normal week, fed coarsely (one sample per hour is enough for sums), then more.
    t = T0
    while t < T0 + week + hour:
        spend(1.0)(t)
        t += hour
    start = T0 + week + hour
    assert drive(engine, signals, spend(1.0 / 240), start, 1800) == []  # the usual rate
    fired = drive(engine, signals, spend(3.0 / 240), start + 1800, 3600)
    assert [k for _, k in fired] == ["firing"]
    [alert] = engine.active()
    assert "user" not in alert.labels and "model" not in alert.labels  # the app's total


@pytest.mark.parametrize(
    ("rule", "event"), [("new-issue", "new_issue"), ("regression", "regression")]
)
def test_new_issues_and_regressions_warn_and_clear(rule: str, event: str) -> None:
    engine, signals = setup(rule)
    assert drive(engine, signals, lambda t: None, T0, 120) == []
    getattr(signals, event)("web", T0 + 130)
    fired = drive(engine, signals, lambda t: None, T0 + 135, 240)
    assert [k for _, k in fired] == ["firing", "resolved"]
