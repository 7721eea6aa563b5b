"""Quotas (all or nothing per request, per clock minute) and where telemetry samples go."""

from __future__ import annotations

from lightkeeper.config import parse_config
from lightkeeper.rules.engine import Engine
from lightkeeper.rules.signals import SignalStore
from lightkeeper.telemetry.config import ProjectConfig, QuotaConfig
from lightkeeper.telemetry.quota import Quotas
from lightkeeper.telemetry.signals import TelemetrySignals

PROJECT = ProjectConfig(
    name="web", id=1, key="k" * 32, quota=QuotaConfig(errors=3, transactions=10)
)


def test_a_request_takes_all_it_asks_or_nothing() -> None:
    quotas = Quotas()
    t = 1_800_000_010.0
    assert quotas.take(PROJECT, {"error": 2, "transaction": 5}, t) is None
    refusal = quotas.take(PROJECT, {"error": 2, "transaction": 1}, t + 1)
    assert refusal is not None and refusal.categories == ("error",)
    assert refusal.retry_after == 49  # to the next minute
    assert refusal.headers() == {
        "Retry-After": "49",
        "X-Sentry-Rate-Limits": "49:error;default:project:quota_exceeded",
    }
    # The refused request took nothing: one error and five transactions are still free.
    assert quotas.take(PROJECT, {"error": 1, "transaction": 5}, t + 2) is None
    assert quotas.take(PROJECT, {"transaction": 1}, t + 3) is not None
    assert quotas.take(PROJECT, {"error": 3}, t + 40) is not None
    assert quotas.take(PROJECT, {"error": 3}, t + 50) is None  # a new minute


def test_given_back_quota_can_be_taken_again() -> None:
    quotas = Quotas()
    t = 1_800_000_000.0
    assert quotas.take(PROJECT, {"error": 3}, t) is None
    quotas.give_back(PROJECT, {"error": 3}, t)
    assert quotas.take(PROJECT, {"error": 3}, t) is None


def test_rules_keep_only_the_series_they_select() -> None:
    config = parse_config(
        """
alerts:
  - name: cost
    severity: warning
    expr: sum(ai.cost_usd{model="", user=""}) over 1h > 2 * baseline(7d)
""",
        "t.yaml",
        {},
    )
    engine = Engine(list(config.alerts), SignalStore())
    rules = SignalStore(names=engine.signal_names())
    signals = TelemetrySignals(rules, engine.reads)
    for user in ("ana", "ben", "chen"):
        signals.ai_usage("web", "claude-sonnet-4", user, 1200, 0.02, 1_800_000_000.0)
    signals.request("web", "/api/chat", False, 120.0, 1_800_000_000.0)
    assert [s.key for s in rules.series.values()] == ['ai.cost_usd{project="web"}']
    total = rules.series['ai.cost_usd{project="web"}'].latest()
    assert total is not None and round(total.sum, 6) == 0.06
    # Telemetry's own store keeps every series, for charts and /metrics.
    kept = {s.key for s in signals.own.select("ai.cost_usd")}
    assert kept == {
        'ai.cost_usd{project="web"}',
        'ai.cost_usd{model="claude-sonnet-4",project="web"}',
        'ai.cost_usd{project="web",user="ana"}',
        'ai.cost_usd{project="web",user="ben"}',
        'ai.cost_usd{project="web",user="chen"}',
    }
    assert signals.own.select("http.requests")
