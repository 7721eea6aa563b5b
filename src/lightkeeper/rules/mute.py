"""What keeps a firing alert quiet: inhibition rules, silences and maintenance windows.

- An **inhibition** mutes alerts matching ``target`` while an alert matching ``source``
  fires with the same values for the ``equal`` labels (Alertmanager's inhibit_rules):
  ``database-down`` mutes the app's latency and error alerts.
- A **silence** (made from the API or CLI, stored) mutes alerts matching all its
  matchers between ``starts_at`` and ``ends_at``.
- A **maintenance window** (in the config) does the same, once (``start``/``end``) or on a
  cron ``schedule`` for a ``duration``, read in its time zone — so "Sundays 02:00–04:00
  Europe/London" stays 02:00 local across daylight-saving changes.
Muted alerts still change state; they are just not notified while muted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from lightkeeper.cron import CronSchedule
from lightkeeper.durations import Duration
from lightkeeper.probes.base import StrictModel
from lightkeeper.rules.engine import Alert, AlertState
from lightkeeper.rules.expr import Matcher
from lightkeeper.zones import TimeZoneName

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def parse_matcher(text: str) -> Matcher:
    """``label=value``, ``label!=value``, ``label=~regex`` or ``label!~regex``."""
    match = _MATCHER.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a matcher; write label=value, label!=value or label=~regex"
        )
    label, op, value = match.groups()
    value = value.strip('"')
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression in {text!r}: {exc}") from None
    return Matcher(label, op, value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


class Matchers(StrictModel):
    """A list of matcher strings, validated at load time."""

    @staticmethod
    def check(values: list[str]) -> list[str]:
        for value in values:
            parse_matcher(value)
        return values


class InhibitRule(StrictModel):
    """Example (YAML)::

    - source: ["alertname=database-down"]
      target: ["service=app"]
      equal: [env]
    """

    source: list[str] = Field(min_length=1)
    target: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)

    _check = field_validator("source", "target")(Matchers.check)


class MaintenanceWindow(StrictModel):
    """Example (YAML)::

    - name: sunday-db-maintenance
      matchers: ["service=db"]
      schedule: "0 2 * * SUN"
      duration: 2h
      tz: Europe/London
    - name: migration
      matchers: ["service=~app|db"]
      start: "2026-12-01T02:00"
      end: "2026-12-01T04:00"
      tz: UTC
    """

    name: str
    matchers: list[str] = Field(default_factory=list, description="Empty: every alert.")
    start: datetime | None = None
    end: datetime | None = None
    schedule: CronSchedule | None = Field(None, description="Cron: when each window opens.")
    duration: Duration | None = None
    tz: TimeZoneName = "UTC"

    _check = field_validator("matchers")(Matchers.check)

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        once = self.start is not None and self.end is not None
        recurring = self.schedule is not None and self.duration is not None
        if once == recurring:
            raise ValueError("give either start and end, or schedule and duration")
        if once and self.end <= self.start:  # type: ignore[operator]
            raise ValueError("end must be after start")
        return self

    def active(self, now: float) -> bool:
        zone = ZoneInfo(self.tz)
        local = datetime.fromtimestamp(now, zone)
        if self.start is not None and self.end is not None:
            start = self.start if self.start.tzinfo else self.start.replace(tzinfo=zone)
            end = self.end if self.end.tzinfo else self.end.replace(tzinfo=zone)
            return start <= local < end
        assert self.schedule is not None
        assert self.duration is not None
        # The last opening at or before now, in local wall-clock time: croniter walks the
        # zone's calendar, so a 02:00 window stays at 02:00 after a DST change.
        opened: datetime = croniter(self.schedule, local + timedelta(seconds=1)).get_prev(datetime)
        return now < opened.timestamp() + self.duration


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    author: str
    comment: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at


class Muter:
    """Decides, at a moment, whether an alert may be notified, and why not."""

    def __init__(
        self,
        inhibit: Iterable[InhibitRule] = (),
        maintenance: Iterable[MaintenanceWindow] = (),
    ) -> None:
        self.inhibit = [
            ([parse_matcher(m) for m in r.source], [parse_matcher(m) for m in r.target], r.equal)
            for r in inhibit
        ]
        self.maintenance = [(w, [parse_matcher(m) for m in w.matchers]) for w in maintenance]
        self.silences: list[Silence] = []

    def why_muted(self, alert: Alert, firing: Iterable[Alert], now: float) -> str | None:
        for silence in self.silences:
            if silence.active(now) and matches_all(silence.matchers, alert.labels):
                return f"silenced by #{silence.id} ({silence.author}: {silence.comment})"
        for window, matchers in self.maintenance:
            if matches_all(matchers, alert.labels) and window.active(now):
                return f"maintenance window {window.name}"
        for source, target, equal in self.inhibit:
            if not matches_all(target, alert.labels):
                continue
            for other in firing:
                if (
                    other.fingerprint != alert.fingerprint
                    and other.state is AlertState.FIRING
                    and matches_all(source, other.labels)
                    and all(other.labels.get(k) == alert.labels.get(k) for k in equal)
                ):
                    return f"inhibited by {other.rule}"
        return None
