"""The ``oncall:`` and ``incidents:`` sections of lightkeeper.yaml, and the cross-checks
that need the rest of the config (people, channels, rotations named elsewhere)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from lightkeeper.durations import Duration
from lightkeeper.probes.base import NAME_PATTERN, StrictModel
from lightkeeper.rules.engine import Severity
from lightkeeper.zones import TimeZoneName

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class Override(StrictModel):
    """Someone else holds the pager for a while. Times are local to the rotation's ``tz``
    unless they carry an offset. Example: ``{person: ben, start: "2026-12-24T00:00",
    end: "2026-12-27T00:00"}``."""

    person: str
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RotationConfig(StrictModel):
    """A rotation: ``people`` take turns, handing off ``daily`` or ``weekly`` at
    ``handoff_at`` local time (weekly ones on ``handoff_day``). ``people[0]`` holds the
    first shift, the one that contains ``start`` at ``handoff_at``; the rotation runs the
    same way before ``start``. Because hand-offs are read on the local calendar, a 09:00
    Monday hand-off stays 09:00 across daylight-saving changes. Example (YAML)::

    - name: primary
      tz: Europe/London
      handoff: weekly
      handoff_at: "09:00"
      handoff_day: monday
      people: [ana, ben, chen]
      start: 2026-11-02
      overrides:
        - {person: ben, start: "2026-12-24T00:00", end: "2026-12-27T00:00"}
      escalate_after: 15m
    """

    name: str = Field(pattern=NAME_PATTERN)
    tz: TimeZoneName = "UTC"
    handoff: Literal["daily", "weekly"] = "weekly"
    handoff_at: time = Field(time(9, 0), description='Local time of each hand-off, "HH:MM".')
    handoff_day: Weekday = "monday"
    people: list[str] = Field(min_length=1, description="In order; names under oncall.people.")
    start: date
    overrides: list[Override] = Field(default_factory=list)
    escalate_after: Duration | None = Field(
        900.0,
        description="An unacknowledged page goes to the next person after this; null: never.",
    )

    @field_validator("handoff_at", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 9:00 as the number 540 (base 60).
            raise ValueError('write the time in quotes, e.g. handoff_at: "09:00"')
        return value

    @field_validator("handoff_day", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("escalate_after")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("escalate_after must be more than 0s (or null: never escalate)")
        return value


class PersonConfig(StrictModel):
    """Someone who can be paged: the channels (names under ``channels:``) that reach them."""

    channels: list[str] = Field(min_length=1)


class OncallConfig(StrictModel):
    rotations: list[RotationConfig] = Field(default_factory=list)
    people: dict[str, PersonConfig] = Field(default_factory=dict)

    def rotation(self, name: str) -> RotationConfig | None:
        return next((r for r in self.rotations if r.name == name), None)


class IncidentsConfig(StrictModel):
    """Which alerts open incidents and who is paged. Example (YAML)::

    incidents:
      severities: [critical]
      group_by: [service]   # alerts sharing these label values join the open incident
      page: primary         # the rotation paged; default: the first rotation
    """

    enabled: bool = True
    severities: list[Severity] = Field(default_factory=lambda: [Severity.CRITICAL])
    group_by: list[str] = Field(
        default_factory=lambda: ["service"],
        description="A missing label counts as empty, as in Alertmanager's group_by.",
    )
    page: str | None = Field(None, description="Rotation to page; default: the first one.")


class HasIncidentConfig(Protocol):
    """What :func:`check` reads: the whole LightkeeperConfig satisfies it."""

    @property
    def oncall(self) -> OncallConfig: ...

    @property
    def incidents(self) -> IncidentsConfig: ...

    @property
    def channels(self) -> Mapping[str, Any]: ...


Problem = tuple[tuple[str | int, ...], str]


def check(config: HasIncidentConfig) -> list[Problem]:
    """Cross-references the models cannot check alone: (YAML path, message with a hint)."""
    problems: list[Problem] = []
    oncall, people = config.oncall, config.oncall.people
    seen: set[str] = set()
    for r, rotation in enumerate(oncall.rotations):
        at: tuple[str | int, ...] = ("oncall", "rotations", r)
        if rotation.name in seen:
            problems.append(((*at, "name"), f"duplicate rotation name {rotation.name!r}"))
        seen.add(rotation.name)
        for p, person in enumerate(rotation.people):
            if person not in people:
                problems.append(((*at, "people", p), _unknown_person(person, people)))
        for o, override in enumerate(rotation.overrides):
            if override.person not in people:
                problems.append(
                    ((*at, "overrides", o, "person"), _unknown_person(override.person, people))
                )
    for name, person_config in people.items():
        for c, channel in enumerate(person_config.channels):
            if channel not in config.channels:
                known = ", ".join(sorted(config.channels)) or "none yet"
                problems.append(
                    (
                        ("oncall", "people", name, "channels", c),
                        f"{name} is reached through unknown channel {channel!r}"
                        f"\n  hint: channels are defined under the top-level channels: ({known})",
                    )
                )
    page = config.incidents.page
    if page is not None and oncall.rotation(page) is None:
        known = ", ".join(r.name for r in oncall.rotations) or "none"
        problems.append(
            (
                ("incidents", "page"),
                f"incidents.page names unknown rotation {page!r}"
                f"\n  hint: rotations are defined under oncall.rotations ({known})",
            )
        )
    return problems


def _unknown_person(name: str, people: Mapping[str, PersonConfig]) -> str:
    known = ", ".join(sorted(people)) or "none yet"
    return (
        f"unknown person {name!r}"
        f"\n  hint: define them under oncall.people with their channels ({known})"
    )
