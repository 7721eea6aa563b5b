"""Alerts: rules evaluated over signals, with Prometheus' pending/firing/resolved semantics.

A rule's expression is evaluated per series. The first true evaluation makes an alert
**pending**; it **fires** at the first evaluation at or after ``pending_since + for``; a
pending alert whose condition clears is dropped and never sent; a firing alert whose
condition clears stays firing for ``keep_firing_for`` after its last true evaluation,
then **resolves** — once. (Prometheus: "Alerting rules", ``for`` and ``keep_firing_for``.)
A series that stops reporting counts as false.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator

from lightkeeper.durations import Duration
from lightkeeper.probes.base import NAME_PATTERN, StrictModel
from lightkeeper.rules.expr import Expr, ExprError, parse
from lightkeeper.rules.signals import SignalStore


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class RuleConfig(StrictModel):
    """One alert rule. Example (YAML)::

    - name: api-slow
      severity: warning
      expr: p95(probe_latency_ms{monitor="api-health"}) over 5m > 3000
      for: 5m
      labels: {service: app}
      annotations:
        summary: "API p95 latency {{ value }} ms > {{ threshold }} ms"
        runbook: runbooks/api-rate-limiting.md
    """

    name: str = Field(pattern=NAME_PATTERN)
    severity: Severity
    expr: str = Field(description="What must be true, e.g. avg(error_rate) over 5m > 0.05")
    for_: Duration = Field(0.0, alias="for", description="How long it must hold before firing.")
    keep_firing_for: Duration = Field(0.0, description="Stay firing this long after it clears.")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse(value)
        except ExprError as exc:
            raise ValueError(f"cannot parse the expression: {exc}") from None
        return value

    def parsed(self) -> Expr:
        return parse(self.expr)


@dataclass
class Alert:
    fingerprint: str
    rule: str
    severity: Severity
    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    pending_since: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    last_true: float | None = None
    value: float | None = None
    threshold: float | None = None
    expr: str = ""
    updated_at: float = 0.0


@dataclass(frozen=True)
class Transition:
    kind: Literal["firing", "resolved"]
    alert: Alert


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    text = rule + "\0" + "\0".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


#: An active alert's value and last true evaluation are written at least this often.
SAVE_EVERY = 30.0

_TEMPLATE = re.compile(r"\{\{\s*(value|threshold|labels\.([A-Za-z_][A-Za-z0-9_]*))\s*\}\}")


def render(
    template: str, labels: dict[str, str], value: float | None, threshold: float | None
) -> str:
    """``{{ value }}``, ``{{ threshold }}`` and ``{{ labels.NAME }}`` in annotations."""

    def replace_one(match: re.Match[str]) -> str:
        if match.group(1) == "value":
            return _number(value)
        if match.group(1) == "threshold":
            return _number(threshold)
        return labels.get(match.group(2) or "", "")

    return _TEMPLATE.sub(replace_one, template)


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"


@dataclass
class Engine:
    """Evaluates every rule and keeps the alerts; returns the changes for the caller to
    write (before anything is sent) and the transitions to notify."""

    rules: list[RuleConfig]
    signals: SignalStore
    alerts: dict[str, Alert] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._parsed = [(rule, rule.parsed()) for rule in self.rules]

    def lookback(self) -> float:
        return max((expr.lookback for _, expr in self._parsed), default=0.0)

    def signal_names(self) -> set[str]:
        return set().union(*(expr.signal_names for _, expr in self._parsed))

    def reads(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether some rule's selector picks this series (telemetry keeps the others out
        of memory: a per-user series nobody alerts on need not live for a 7-day baseline)."""
        return any(
            sel.name == name and all(m.matches(labels) for m in sel.matchers)
            for _, expr in self._parsed
            for sel in expr.selectors
        )

    def restore(self, alerts: Iterable[Alert]) -> None:
        self.alerts = {a.fingerprint: a for a in alerts}

    def evaluate(self, now: float) -> tuple[list[Alert], list[Transition]]:
        """One evaluation of every rule at ``now``: (alerts to write, transitions).

        An alert is written when its state changes and, while it stays active, every
        :data:`SAVE_EVERY` seconds (its value and last true evaluation), not on every tick.
        """
        changed: list[Alert] = []
        transitions: list[Transition] = []
        seen: set[str] = set()
        for rule, expr in self._parsed:
            for result in expr.evaluate(self.signals, now):
                if not result.true:
                    continue
                labels = {
                    **result.labels,
                    **rule.labels,
                    "alertname": rule.name,
                    "severity": rule.severity.value,
                }
                fp = fingerprint(rule.name, labels)
                seen.add(fp)
                alert = self.alerts.get(fp)
                fresh = alert is None
                if alert is None:
                    alert = Alert(
                        fp,
                        rule.name,
                        rule.severity,
                        labels,
                        {},
                        AlertState.PENDING,
                        pending_since=now,
                        expr=expr.text,
                    )
                    self.alerts[fp] = alert
                alert.last_true = now
                alert.value, alert.threshold = result.value, result.threshold
                alert.annotations = {
                    k: render(v, labels, result.value, result.threshold)
                    for k, v in rule.annotations.items()
                }
                fired = (
                    alert.state is AlertState.PENDING
                    and now - (alert.pending_since or now) >= rule.for_
                )
                if fired:
                    alert.state, alert.fired_at = AlertState.FIRING, now
                    transitions.append(Transition("firing", replace(alert)))
                if fresh or fired or now - alert.updated_at >= SAVE_EVERY:
                    alert.updated_at = now
                    changed.append(alert)
        keep = {rule.name: rule.keep_firing_for for rule in self.rules}
        for fp, alert in list(self.alerts.items()):
            if fp in seen:
                continue
            if alert.state is AlertState.FIRING and now - (alert.last_true or now) < keep.get(
                alert.rule, 0.0
            ):
                continue
            # Gone from memory; the store keeps it as resolved. A pending alert that
            # clears was never sent, so it has no transition.
            del self.alerts[fp]
            was_firing = alert.state is AlertState.FIRING
            alert.state, alert.resolved_at, alert.updated_at = AlertState.RESOLVED, now, now
            if was_firing:
                transitions.append(Transition("resolved", replace(alert)))
            changed.append(alert)
        return changed, transitions

    def next_due(self) -> float | None:
        """When the earliest pending alert's ``for`` elapses (it fires then, if still true)."""
        hold = {rule.name: rule.for_ for rule in self.rules}
        return min(
            (
                (a.pending_since or 0.0) + hold.get(a.rule, 0.0)
                for a in self.alerts.values()
                if a.state is AlertState.PENDING
            ),
            default=None,
        )

    def active(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.state is not AlertState.RESOLVED]


def describe(alert: Alert) -> dict[str, Any]:
    """An alert as the API shows it."""
    return {
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "value": alert.value,
        "threshold": alert.threshold,
        "expr": alert.expr,
        "pending_since": alert.pending_since,
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
    }
