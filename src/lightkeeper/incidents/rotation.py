"""Who is on call when: a rotation's shifts on its local calendar, overrides on top, and
the order an unacknowledged page escalates in.

Hand-offs are found on the local calendar (``handoff_at`` on each day or each
``handoff_day``), then turned into instants, so a 09:00 hand-off stays 09:00 local on both
sides of a daylight-saving change. A ``handoff_at`` repeated by a clock going back hands
off at its first occurrence; one skipped by a clock going forward, an hour later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from lightkeeper.incidents.config import WEEKDAYS, RotationConfig


@dataclass(frozen=True, slots=True)
class Shift:
    """``person`` holds the pager from ``starts_at`` until ``ends_at`` (epoch seconds)."""

    person: str
    starts_at: float
    ends_at: float
    override: bool = False


class Rotation:
    """A :class:`RotationConfig` that answers questions about time."""

    def __init__(self, config: RotationConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.tz)
        self.people = list(config.people)
        self.overrides = [
            (o.person, self._instant(o.start), self._instant(o.end)) for o in config.overrides
        ]

    @property
    def name(self) -> str:
        return self.config.name

    def _instant(self, moment: datetime) -> float:
        local = moment if moment.tzinfo else moment.replace(tzinfo=self.zone)
        return local.timestamp()

    def _handoff(self, day: date) -> float:
        """The instant of the hand-off on ``day`` (fold=0: a repeated time's first occurrence)."""
        return datetime.combine(day, self.config.handoff_at, tzinfo=self.zone).timestamp()

    def _week_start(self, day: date) -> date:
        """The latest hand-off day at or before ``day``."""
        weekday = WEEKDAYS.index(self.config.handoff_day)
        return day - timedelta(days=(day.weekday() - weekday) % 7)

    def scheduled(self, now: float) -> Shift:
        """The regular shift at ``now``, overrides ignored."""
        day = datetime.fromtimestamp(now, self.zone).date()
        if now < self._handoff(day):
            day -= timedelta(days=1)  # before today's hand-off: still yesterday's shift
        if self.config.handoff == "daily":
            first, index, length = day, (day - self.config.start).days, 1
        else:
            first = self._week_start(day)
            index = (first - self._week_start(self.config.start)).days // 7
            length = 7
        person = self.people[index % len(self.people)]
        return Shift(person, self._handoff(first), self._handoff(first + timedelta(days=length)))

    def shift_at(self, now: float) -> Shift:
        """Who holds the pager at ``now``: the first override covering it, else the rota."""
        for person, start, end in self.overrides:
            if start <= now < end:
                return Shift(person, start, end, override=True)
        regular = self.scheduled(now)
        starts = max([regular.starts_at] + [e for _, s, e in self.overrides if e <= now])
        ends = min([regular.ends_at] + [s for _, s, _ in self.overrides if s > now])
        return Shift(regular.person, starts, ends)

    def who_is_on_call(self, now: float) -> str:
        return self.shift_at(now).person

    def upcoming(self, now: float, count: int) -> list[Shift]:
        """The current shift and the ``count - 1`` after it (for `lightkeeper oncall`)."""
        shifts: list[Shift] = []
        at = now
        while len(shifts) < count:
            shift = self.shift_at(at)
            shifts.append(shift)
            at = shift.ends_at
        return shifts

    def next_after(self, person: str) -> str:
        """The person after ``person`` in the rotation's order, wrapping round; someone
        outside the rotation (an override) is followed by the first person."""
        if person not in self.people:
            return self.people[0]
        return self.people[(self.people.index(person) + 1) % len(self.people)]

    def escalation_order(self, now: float) -> list[str]:
        """Who is paged for an incident opened at ``now``, in order, each once: whoever is
        on call, then the rotation from the person after the scheduled one. With
        people [ana, ben, chen] and ben scheduled: ben, chen, ana. With dan overriding
        ben: dan, chen, ana, ben."""
        order = [self.who_is_on_call(now)]
        scheduled = self.scheduled(now).person
        start = self.people.index(scheduled)
        for step in range(1, len(self.people) + 1):
            person = self.people[(start + step) % len(self.people)]
            if person not in order:
                order.append(person)
        return order


def who_is_on_call(rotation: RotationConfig, now: float) -> str:
    return Rotation(rotation).who_is_on_call(now)


def next_after(rotation: RotationConfig, person: str) -> str:
    return Rotation(rotation).next_after(person)
