"""Shared test material for incidents: the on-call config of the issue, alerts, instants."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lightkeeper.incidents.config import IncidentsConfig, OncallConfig
from lightkeeper.incidents.service import Incidents
from lightkeeper.rules.engine import Alert, AlertState, Severity, Transition, fingerprint

PUBLIC = "http://lk.example"
CHANNELS = ("ana-sms", "ana-mail", "ben-mail", "chen-mail")


def at(text: str, tz: str = "UTC") -> float:
    """Epoch seconds of a wall-clock time in a zone: at("2026-10-26 09:00", "Europe/London")."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def oncall(**rotation: Any) -> OncallConfig:
    return OncallConfig.model_validate(
        {
            "rotations": [
                {
                    "name": "primary",
                    "tz": "Europe/London",
                    "handoff": "weekly",
                    "handoff_at": "09:00",
                    "handoff_day": "monday",
                    "people": ["ana", "ben", "chen"],
                    "start": "2026-11-02",
                    "escalate_after": "15m",
                    **rotation,
                }
            ],
            "people": {
                "ana": {"channels": ["ana-sms", "ana-mail"]},
                "ben": {"channels": ["ben-mail"]},
                "chen": {"channels": ["chen-mail"]},
            },
        }
    )


def incidents(settings: dict[str, Any] | None = None, **rotation: Any) -> Incidents:
    return Incidents(oncall(**rotation), IncidentsConfig.model_validate(settings or {}), PUBLIC)


def alert(
    rule: str,
    now: float,
    severity: Severity = Severity.CRITICAL,
    **labels: str,
) -> Alert:
    full = {**labels, "alertname": rule, "severity": severity.value}
    return Alert(
        fingerprint(rule, full),
        rule,
        severity,
        full,
        {"summary": f"{rule} on {labels.get('service', '?')}", "runbook": "runbooks/site-down.md"},
        AlertState.FIRING,
        pending_since=now,
        fired_at=now,
        last_true=now,
        value=1.0,
        threshold=1.0,
        expr=f"{rule} == 1",
        updated_at=now,
    )


def fired(a: Alert) -> Transition:
    return Transition("firing", a)


def resolved(a: Alert, now: float) -> Transition:
    a.state, a.resolved_at, a.updated_at = AlertState.RESOLVED, now, now
    return Transition("resolved", a)
