"""Routing and timing: which channels hear of an alert, grouped how, and when.

Alertmanager's semantics (docs: "Configuration", route ``group_wait``,
``group_interval``, ``repeat_interval``): alerts that match a route and share the values
of its ``group_by`` labels form a group. A new group is notified after ``group_wait``;
later changes to it (an alert joins, one resolves) wait until ``group_interval`` has
passed since the group's last notification; a group whose alerts all keep firing is
notified again after ``repeat_interval``. One message per group and channel lists what
newly fires, what still fires and what resolved. Our default ``group_wait`` is 0s (a page
goes out as soon as ``for`` has elapsed); Alertmanager's is 30 s.

Timeline with group_wait 0s, group_interval 1m, repeat_interval 4h::

    12:00:00  db-down fires         → message 1: FIRING db-down
    12:00:20  api-slow fires        → waits for the group interval
    12:01:00                        → message 2: FIRING api-slow (db-down still firing)
    12:03:10  both resolve          → waits
    12:03:10 + (≥ 1m since 12:01)   → message 3: RESOLVED db-down, api-slow
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator

from lightkeeper.durations import Duration
from lightkeeper.probes.base import StrictModel
from lightkeeper.rules.engine import Alert, AlertState
from lightkeeper.rules.mute import Matchers, matches_all, parse_matcher


class RouteConfig(StrictModel):
    """Example (YAML)::

    - match: ["severity=critical"]
      channels: [pagerduty, oncall-mail]
      group_by: [alertname, monitor]
    """

    match: list[str] = Field(default_factory=list, description="Matchers; empty: every alert.")
    channels: list[str] = Field(min_length=1)
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname"], description="['...'] groups by every label."
    )
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(False, alias="continue", description="Also try the next routes.")

    _check = field_validator("match")(Matchers.check)


class RoutingConfig(StrictModel):
    group_wait: Duration = 0.0
    group_interval: Duration = 60.0
    repeat_interval: Duration = 4 * 3600.0
    routes: list[RouteConfig] = Field(default_factory=list)


@dataclass
class Group:
    key: str
    route: int
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)
    notified: dict[str, str] = field(default_factory=dict)  # fingerprint → firing | resolved
    next_flush: float | None = None
    last_flush: float | None = None
    last_notify: float | None = None

    def state_json(self) -> str:
        return json.dumps(
            {"notified": self.notified, "alerts": sorted(self.alerts), "labels": self.labels},
            sort_keys=True,
        )


@dataclass(frozen=True)
class GroupMessage:
    """What a group's channels are told at one flush."""

    group: str
    route: int
    channels: tuple[str, ...]
    kind: str  # firing | resolved | repeat
    new: tuple[Alert, ...]
    still: tuple[Alert, ...]
    resolved: tuple[Alert, ...]


class Router:
    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.routes = [(r, [parse_matcher(m) for m in r.match]) for r in config.routes]
        self.groups: dict[str, Group] = {}

    def _timing(self, route: int) -> tuple[float, float, float]:
        r = self.routes[route][0]
        c = self.config
        return (
            c.group_wait if r.group_wait is None else r.group_wait,
            c.group_interval if r.group_interval is None else r.group_interval,
            c.repeat_interval if r.repeat_interval is None else r.repeat_interval,
        )

    def route_of(self, alert: Alert) -> list[int]:
        chosen = []
        for index, (route, matchers) in enumerate(self.routes):
            if matches_all(matchers, alert.labels):
                chosen.append(index)
                if not route.continue_:
                    break
        return chosen

    def group_key(self, route: int, alert: Alert) -> tuple[str, dict[str, str]]:
        by = self.routes[route][0].group_by
        labels = dict(alert.labels) if "..." in by else {k: alert.labels.get(k, "") for k in by}
        text = json.dumps([route, labels], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32], labels

    def observe(self, alert: Alert, now: float) -> None:
        """An alert fired or resolved: put it in its groups and schedule their flush."""
        for route in self.route_of(alert):
            key, labels = self.group_key(route, alert)
            group = self.groups.get(key)
            wait, interval, _ = self._timing(route)
            if group is None:
                if alert.state is not AlertState.FIRING:
                    continue  # a resolve for a group nobody was told about
                group = self.groups[key] = Group(key, route, labels, next_flush=now + wait)
            group.alerts[alert.fingerprint] = alert
            self._schedule(group, now, interval)

    @staticmethod
    def _schedule(group: Group, now: float, interval: float) -> None:
        if group.next_flush is None:
            earliest = now if group.last_flush is None else group.last_flush + interval
            group.next_flush = max(now, earliest)

    def flush(
        self, now: float, muted: Callable[[Alert], str | None]
    ) -> tuple[list[GroupMessage], list[Group], list[str]]:
        """Messages due at ``now``: (messages, groups changed, groups finished)."""
        messages: list[GroupMessage] = []
        changed: list[Group] = []
        finished: list[str] = []
        for group in list(self.groups.values()):
            _, interval, repeat = self._timing(group.route)
            firing = [a for a in group.alerts.values() if a.state is AlertState.FIRING]
            audible = [a for a in firing if muted(a) is None]
            pending_news = any(group.notified.get(a.fingerprint) != "firing" for a in audible)
            if pending_news:
                self._schedule(group, now, interval)  # e.g. a silence just ended
            due = group.next_flush is not None and group.next_flush <= now
            repeat_due = (
                bool(audible)
                and group.last_notify is not None
                and now >= group.last_notify + repeat
            )
            if not due and not repeat_due:
                continue
            new = [a for a in audible if group.notified.get(a.fingerprint) != "firing"]
            still = [a for a in audible if group.notified.get(a.fingerprint) == "firing"]
            resolved = [
                a
                for a in group.alerts.values()
                if a.state is AlertState.RESOLVED and group.notified.get(a.fingerprint) == "firing"
            ]
            kind = "firing" if new else "resolved" if resolved else "repeat" if repeat_due else ""
            if kind:
                channels = tuple(self.routes[group.route][0].channels)
                messages.append(
                    GroupMessage(
                        group.key,
                        group.route,
                        channels,
                        kind,
                        tuple(new),
                        tuple(still),
                        tuple(resolved),
                    )
                )
                for a in new:
                    group.notified[a.fingerprint] = "firing"
                group.last_notify = now
            for a in [a for a in group.alerts.values() if a.state is AlertState.RESOLVED]:
                del group.alerts[a.fingerprint]
                group.notified.pop(a.fingerprint, None)
            group.last_flush = now if (kind or due) else group.last_flush
            group.next_flush = None
            if group.alerts:
                changed.append(group)
            else:
                del self.groups[group.key]
                finished.append(group.key)
        return messages, changed, finished

    def restore(
        self,
        groups: Iterable[tuple[str, int, str, float | None, float | None, float | None]],
        alerts: dict[str, Alert],
    ) -> None:
        """Groups as saved: (key, route, state JSON, next_flush, last_flush, last_notify)."""
        for key, route, state, next_flush, last_flush, last_notify in groups:
            if route >= len(self.routes):
                continue  # the config lost that route; its alerts route anew on change
            data: dict[str, Any] = json.loads(state)
            group = Group(
                key,
                route,
                data["labels"],
                notified=data["notified"],
                next_flush=next_flush,
                last_flush=last_flush,
                last_notify=last_notify,
            )
            group.alerts = {fp: alerts[fp] for fp in data["alerts"] if fp in alerts}
            self.groups[key] = group
