"""Which backups to keep: restic's ``forget`` rules, on calendars of an explicit time zone.

A policy is parsed from a job's ``retention:`` key and applied by :func:`decide`, which
returns every backup (newest first) with the rules that keep it, or none when it goes::

    retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 12, tz: Europe/London}

Semantics — those of restic's ``ApplyPolicy`` (``internal/restic/snapshot_policy.go``,
now ``internal/data/snapshot_policy.go``) and its manual page "Removing backup snapshots"
(``doc/060_forget.rst``):

* Backups are sorted newest first; equal times are ordered by id, the greater id counting
  as the newer (restic leaves ties in listing order; we want the same answer every run).
* ``keep_last: n`` keeps the ``n`` newest backups.
* ``keep_hourly/daily/weekly/monthly/yearly: n`` walk newest → oldest and keep a backup
  when its period differs from that of the last backup the rule kept, until ``n`` periods
  have one: the newest backup of each of the last ``n`` hours / days / ISO weeks
  (Monday–Sunday, ``2026-W48``, as Go's ``Time.ISOWeek``) / months / years *that have a
  backup*. Empty periods are not counted: a week without backups does not use a slot.
* ``-1`` (or ``unlimited``) means no limit: every period keeps its newest backup (restic
  ≥ 0.16, restic#2565; restic 0.14, Debian 12's, ignores a negative count, and with
  ``--keep-daily -1`` as the only rule it removed every snapshot when we tried). ``0`` is
  refused here rather than meaning "unused": leave the rule out.
* The oldest-backup rule (restic ≥ 0.16: restic#3624, PR #4366, documented by PR #4600):
  when a counted rule still has slots left at the oldest backup, it keeps the oldest
  backup too, even in a period it already has, and uses a slot — so ``keep_yearly: 3``
  over the first months of backups keeps the first backup as well as the newest. Its
  reason then reads ``oldest …`` (restic says ``oldest daily snapshot`` since PR #5039).
  A rule whose slots ran out does not apply it (a -1 rule always does); restic 0.14 has
  no such rule.
* ``keep_within: 30d`` keeps every backup taken strictly after "the newest backup's time
  minus 30d" — relative to the newest backup, not to now (restic's
  ``latest.AddDate(-y, -m, -d).Add(-h)`` and ``After``). Whole days are calendar days on
  the policy zone's wall clock (``3d`` before 12:00 BST is 12:00 GMT), the rest is exact
  time. Restic does the day arithmetic in whatever zone Go gives the newest snapshot's
  stored time: the local zone when the offsets match, but UTC for a zero offset, so a
  London host's ``240d`` counts 24-hour days from a winter snapshot and calendar days from
  a summer one. Restic also ignores future-dated snapshots when it looks for the newest;
  :func:`decide` has no clock and takes the newest as given.
* Rules are OR'ed: a backup is kept when any rule keeps it, and lists every one that does.
* Calendars are those of ``tz``: each UTC time is converted to the policy's zone before it
  is bucketed. Restic instead buckets by the offset stored with each snapshot, the taking
  machine's zone (restic#2233; restic#1306 on the zone it shows), so snapshots taken around
  a DST change, or from machines in other zones, land in surprising days. Here a day in
  Europe/London is 23 or 25 hours long on the change days; the repeated autumn hour is one
  hourly period, as on the wall clock (and as restic's ``YYYYMMDDHH`` buckets).
* Ours, on top of restic: the newest *verified* backup is always kept ("newest verified"),
  and a policy with no rule at all is refused (restic keeps everything for an empty
  policy; a config that says nothing about retention is more likely a mistake).

Example, ``keep_daily: 2, keep_weekly: 2`` in UTC over backups on Wed 25, Tue 24 and
Mon 23 Nov 2026 and Sun 22 Nov: the 25th is daily #1 and weekly #1 (2026-W48), the 24th
daily #2, the 23rd goes (W48 already has its newest), the 22nd is weekly #2 (2026-W47).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from lightkeeper.durations import Duration, format_duration
from lightkeeper.probes.base import StrictModel
from lightkeeper.zones import TimeZoneName

UNLIMITED = -1
EMPTY_POLICY = (
    "an empty retention policy would delete every backup; set keep_daily: 7 (or keep_last, "
    "keep_hourly, keep_weekly, keep_monthly, keep_yearly, keep_within), e.g. "
    "{keep_daily: 7, keep_weekly: 4, keep_monthly: 12}"
)


def _parse_count(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number of backups, or -1 (unlimited)")
    if isinstance(value, str) and value.strip().lower() == "unlimited":
        return UNLIMITED
    return value


def _check_count(value: int) -> int:
    if value == UNLIMITED or value >= 1:
        return value
    raise ValueError("must be at least 1, or -1 for unlimited (to turn the rule off, leave it out)")


Count = Annotated[int, BeforeValidator(_parse_count), AfterValidator(_check_count)]


@dataclass(frozen=True)
class Backup:
    """What retention needs to know of one backup."""

    id: str
    time: float  # UTC epoch seconds: when it was taken
    verified: bool = False


@dataclass(frozen=True)
class Decision:
    """One backup's verdict and every rule that keeps it (empty when it is deleted)."""

    backup: Backup
    keep: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class _Calendar:
    rule: str  # "daily": the name in reasons, and keep_<rule> on the policy
    period: Callable[[datetime], str]  # the bucket; its text is also the label in reasons

    def bucket(self, local: datetime, _position: int) -> str:
        return self.period(local)


def _iso_week(t: datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


# In restic's order, which is also the order of the reasons.
_CALENDARS = (
    _Calendar("hourly", lambda t: t.strftime("%Y-%m-%d %H:00")),
    _Calendar("daily", lambda t: t.strftime("%Y-%m-%d")),
    _Calendar("weekly", _iso_week),
    _Calendar("monthly", lambda t: t.strftime("%Y-%m")),
    _Calendar("yearly", lambda t: t.strftime("%Y")),
)


class RetentionPolicy(StrictModel):
    """Which backups to keep, by restic's ``forget`` rules (see the module docstring)."""

    keep_last: Count | None = Field(None, description="Keep the n newest backups (-1: all).")
    keep_hourly: Count | None = Field(
        None, description="The newest backup of each of the last n hours that have one."
    )
    keep_daily: Count | None = Field(
        None, description="The newest backup of each of the last n days that have one."
    )
    keep_weekly: Count | None = Field(
        None, description="The newest backup of each of the last n ISO weeks that have one."
    )
    keep_monthly: Count | None = Field(
        None, description="The newest backup of each of the last n months that have one."
    )
    keep_yearly: Count | None = Field(
        None, description="The newest backup of each of the last n years that have one."
    )
    keep_within: Duration | None = Field(
        None, description="Every backup taken within this long before the newest one."
    )
    tz: TimeZoneName = Field("UTC", description="The calendar hours, days… are counted in.")

    @field_validator("keep_within")
    @classmethod
    def _within_positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("keep_within must be more than 0s: leave it out to disable it")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> RetentionPolicy:
        if self.keep_last is None and self.keep_within is None and not self._counts():
            raise ValueError(EMPTY_POLICY)
        return self

    def _counts(self) -> list[tuple[_Calendar, int]]:
        counts = ((c, getattr(self, f"keep_{c.rule}")) for c in _CALENDARS)
        return [(c, n) for c, n in counts if n is not None]

    def summary(self) -> str:
        """One line for listings: 'keep 7 daily, within 30d of the newest (Europe/London)'."""
        parts = [
            f"{'all' if n == UNLIMITED else n} {rule}"
            for rule, n in [("last", self.keep_last)] + [(c.rule, n) for c, n in self._counts()]
            if n is not None
        ]
        if self.keep_within is not None:
            parts.append(f"within {format_duration(self.keep_within)} of the newest")
        return f"keep {', '.join(parts)} ({self.tz})"


def _within_cutoff(newest: datetime, within: float) -> float:
    """The instant a backup must be after: whole days back on the wall clock (restic's
    AddDate), then the rest as exact time."""
    days, rest = divmod(within, 86400.0)
    return (newest - timedelta(days=int(days))).timestamp() - rest


@dataclass
class _Tally:
    """One counted rule while :func:`decide` walks the backups."""

    rule: str
    left: int  # slots left; -1: unlimited
    period: Callable[[datetime, int], str]  # (local time, position) -> bucket
    labelled: bool  # whether reasons show the period ("daily #1 (2026-11-25)")
    kept: int = 0
    last: str | None = None

    def keeps(self, local: datetime, position: int, oldest: bool) -> str | None:
        if self.left == 0:
            return None
        period = self.period(local, position)
        is_new = period != self.last
        if not is_new and not oldest:
            return None
        self.kept += 1
        self.last = period
        if self.left > 0:
            self.left -= 1
        label = f"{self.rule} #{self.kept}" + (f" ({period})" if self.labelled else "")
        return label if is_new else f"oldest {label}"


def decide(policy: RetentionPolicy, backups: Iterable[Backup]) -> list[Decision]:
    """Every backup, newest first, with the rules that keep it; an empty list keeps nothing."""
    ordered = sorted(backups, key=lambda b: (b.time, b.id), reverse=True)
    if len({b.id for b in ordered}) != len(ordered):
        raise ValueError("backup ids must be unique")
    if not ordered:
        return []

    zone = ZoneInfo(policy.tz)
    tallies = [_Tally(cal.rule, n, cal.bucket, labelled=True) for cal, n in policy._counts()]
    if policy.keep_last is not None:
        # Every position is a period of its own, so the rule simply counts.
        tallies.insert(0, _Tally("last", policy.keep_last, lambda _t, i: str(i), labelled=False))
    cutoff, within_label = None, ""
    if policy.keep_within is not None:
        newest = datetime.fromtimestamp(ordered[0].time, zone)
        cutoff = _within_cutoff(newest, policy.keep_within)
        within_label = f"within {format_duration(policy.keep_within)}"
    newest_verified = next((b for b in ordered if b.verified), None)

    decisions: list[Decision] = []
    for i, backup in enumerate(ordered):
        local = datetime.fromtimestamp(backup.time, zone)
        reasons: list[str] = []
        if cutoff is not None and backup.time > cutoff:
            reasons.append(within_label)
        for tally in tallies:
            reason = tally.keeps(local, i, oldest=i == len(ordered) - 1)
            if reason is not None:
                reasons.append(reason)
        if backup is newest_verified:
            reasons.append("newest verified")
        decisions.append(Decision(backup, bool(reasons), tuple(reasons)))
    return decisions
