"""Alert groups rendered as notifications: what fired, the value against the threshold,
since when, the runbook and a dashboard link — the facts a person needs to act."""

from __future__ import annotations

import time
from typing import Any

from lightkeeper.durations import humanize
from lightkeeper.notify.message import Notification
from lightkeeper.rules.engine import Alert
from lightkeeper.rules.router import GroupMessage


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def _when(ts: float | None) -> str:
    return "?" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def runbook_name(ref: str) -> str | None:
    """The runbook a ``runbook`` annotation names (``runbooks/site-down.md`` → ``site-down``);
    None for a URL elsewhere or an empty one."""
    if not ref or ref.startswith(("http://", "https://")):
        return None
    return ref.removeprefix("/").removeprefix("runbooks/").removesuffix(".md")


class Renderer:
    def __init__(self, public_url: str) -> None:
        self.base = public_url.rstrip("/")

    def runbook(self, alert: Alert) -> str:
        ref = alert.annotations.get("runbook", "")
        name = runbook_name(ref)
        return ref if name is None else f"{self.base}/runbooks/{name}"

    def dashboard(self, alert: Alert) -> str:
        monitor = alert.labels.get("monitor")
        return f"{self.base}/ui/monitors/{monitor}" if monitor else f"{self.base}/ui/alerts"

    def facts(self, alert: Alert, status: str) -> dict[str, Any]:
        return {
            "status": status,
            "rule": alert.rule,
            "severity": alert.severity.value,
            "labels": alert.labels,
            "summary": alert.annotations.get("summary", ""),
            "expr": alert.expr,
            "value": alert.value,
            "threshold": alert.threshold,
            "since": _when(alert.fired_at),
            "resolved_at": _when(alert.resolved_at) if alert.resolved_at else None,
            "runbook": self.runbook(alert),
            "dashboard": self.dashboard(alert),
            "fingerprint": alert.fingerprint,
        }

    def lines(self, alert: Alert, status: str) -> list[str]:
        where = ", ".join(
            f"{k}={v}"
            for k, v in sorted(alert.labels.items())
            if k not in ("alertname", "severity")
        )
        head = f"{status.upper()} {alert.rule} ({alert.severity.value})" + (
            f" — {where}" if where else ""
        )
        out = [head]
        if summary := alert.annotations.get("summary"):
            out.append(f"  {summary}")
        out.append(
            f"  value {_number(alert.value)}, threshold {_number(alert.threshold)}: {alert.expr}"
        )
        if status == "resolved" and alert.fired_at and alert.resolved_at:
            out.append(
                f"  since {_when(alert.fired_at)},"
                f" resolved after {humanize(alert.resolved_at - alert.fired_at)}"
            )
        else:
            out.append(f"  since {_when(alert.fired_at)}")
        if runbook := self.runbook(alert):
            out.append(f"  runbook: {runbook}")
        out.append(f"  dashboard: {self.dashboard(alert)}")
        return out

    def render(self, message: GroupMessage) -> list[Notification]:
        entries = (
            [(a, "firing") for a in message.new]
            + [(a, "still firing") for a in message.still]
            + [(a, "resolved") for a in message.resolved]
        )
        firing = len(message.new) + len(message.still)
        first = (message.new or message.still or message.resolved)[0]
        if message.kind == "resolved":
            title = f"[RESOLVED] {first.rule}" + (
                f" +{len(message.resolved) - 1}" if len(message.resolved) > 1 else ""
            )
        else:
            tag = "FIRING" if message.kind == "firing" else "STILL FIRING"
            title = f"[{tag}:{firing}] {first.rule} ({first.severity.value})"
        body = "\n".join(line for alert, status in entries for line in self.lines(alert, status))
        facts = self.facts(first, "resolved" if message.kind == "resolved" else "firing")
        payload = {
            **facts,
            "group": message.group,
            "alerts": [self.facts(a, s) for a, s in entries],
        }
        return [
            Notification(channel, message.kind, message.group, title, body, payload)
            for channel in message.channels
        ]
