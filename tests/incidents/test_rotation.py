"""Who is on call when: daily and weekly hand-offs across both DST changes in London,
overrides, and the order a page escalates in."""

from __future__ import annotations

import pytest

from lightkeeper.incidents.rotation import Rotation, next_after, who_is_on_call
from tests.incidents.helpers import at, oncall

LONDON = "Europe/London"


def rotation(**fields: object) -> Rotation:
    return Rotation(oncall(**fields).rotations[0])


# (rotation fields, instant, zone of the instant, who is on call)
SCENARIOS = [
    # weekly, Monday 09:00 London, from Monday 2026-11-02: ana, ben, chen, ana …
    ({}, "2026-11-02 09:00", LONDON, "ana"),
    ({}, "2026-11-09 08:59", LONDON, "ana"),
    ({}, "2026-11-09 09:00", LONDON, "ben"),
    ({}, "2026-11-16 09:00", LONDON, "chen"),
    ({}, "2026-11-23 09:00", LONDON, "ana"),
    # before `start` the rotation runs backwards: the week of 26 Oct is chen's, of 19 Oct ben's
    ({}, "2026-11-02 08:59", LONDON, "chen"),
    # autumn: clocks go back on Sunday 25 Oct; Monday's hand-off is still 09:00 local (09:00
    # UTC, not 08:00 UTC as it was the week before)
    ({}, "2026-10-19 07:59", "UTC", "ana"),
    ({}, "2026-10-19 08:00", "UTC", "ben"),
    ({}, "2026-10-26 08:30", "UTC", "ben"),
    ({}, "2026-10-26 09:00", "UTC", "chen"),
    # spring: clocks go forward on Sunday 28 Mar 2027; Monday's 09:00 is 08:00 UTC
    ({}, "2027-03-29 07:59", "UTC", "chen"),
    ({}, "2027-03-29 08:00", "UTC", "ana"),
    # a weekly rotation handing off on another day
    ({"handoff_day": "Wednesday"}, "2026-11-04 08:59", LONDON, "ana"),
    ({"handoff_day": "Wednesday"}, "2026-11-04 09:00", LONDON, "ben"),
    # daily at 09:00 across the autumn change: Saturday ana, Sunday ben, Monday chen
    ({"handoff": "daily", "start": "2026-10-24"}, "2026-10-24 08:00", "UTC", "ana"),
    ({"handoff": "daily", "start": "2026-10-24"}, "2026-10-25 08:30", "UTC", "ana"),
    ({"handoff": "daily", "start": "2026-10-24"}, "2026-10-25 09:00", "UTC", "ben"),
    ({"handoff": "daily", "start": "2026-10-24"}, "2026-10-26 09:00", LONDON, "chen"),
    # daily across the spring change: 09:00 BST is 08:00 UTC
    ({"handoff": "daily", "start": "2027-03-27"}, "2027-03-28 07:59", "UTC", "ana"),
    ({"handoff": "daily", "start": "2027-03-27"}, "2027-03-28 08:00", "UTC", "ben"),
    # a hand-off at 01:30, a time that happens twice on 25 Oct: the first one counts, and
    # the repeated hour does not hand back
    (
        {"handoff": "daily", "handoff_at": "01:30", "start": "2026-10-24"},
        "2026-10-25 00:29",
        "UTC",
        "ana",
    ),
    (
        {"handoff": "daily", "handoff_at": "01:30", "start": "2026-10-24"},
        "2026-10-25 00:30",
        "UTC",
        "ben",
    ),
    (
        {"handoff": "daily", "handoff_at": "01:30", "start": "2026-10-24"},
        "2026-10-25 01:10",
        "UTC",
        "ben",
    ),
    # … and a time that does not exist on 28 Mar 2027: the hand-off comes an hour later
    (
        {"handoff": "daily", "handoff_at": "01:30", "start": "2027-03-27"},
        "2027-03-28 01:29",
        "UTC",
        "ana",
    ),
    (
        {"handoff": "daily", "handoff_at": "01:30", "start": "2027-03-27"},
        "2027-03-28 01:30",
        "UTC",
        "ben",
    ),
    # overrides: first match wins, local to the rotation unless they carry an offset
    (
        {"overrides": [{"person": "ana", "start": "2026-12-24T00:00", "end": "2026-12-27T00:00"}]},
        "2026-12-23 23:59",
        LONDON,
        "ben",
    ),
    (
        {"overrides": [{"person": "ana", "start": "2026-12-24T00:00", "end": "2026-12-27T00:00"}]},
        "2026-12-24 00:00",
        LONDON,
        "ana",
    ),
    (
        {"overrides": [{"person": "ana", "start": "2026-12-24T00:00", "end": "2026-12-27T00:00"}]},
        "2026-12-27 00:00",
        LONDON,
        "ben",
    ),
    (
        {"overrides": [{"person": "chen", "start": "2026-07-01T10:00", "end": "2026-07-01T12:00"}]},
        "2026-07-01 09:30",
        "UTC",  # 10:30 BST
        "chen",
    ),
    (
        {
            "overrides": [
                {
                    "person": "chen",
                    "start": "2026-07-01T10:00+00:00",
                    "end": "2026-07-01T12:00+00:00",
                }
            ]
        },
        "2026-07-01 09:30",
        "UTC",
        "ana",
    ),
]


@pytest.mark.parametrize(("fields", "when", "zone", "person"), SCENARIOS)
def test_who_is_on_call(fields: dict[str, object], when: str, zone: str, person: str) -> None:
    config = oncall(**fields).rotations[0]
    assert who_is_on_call(config, at(when, zone)) == person


def test_the_shift_over_a_dst_change_is_25_or_23_hours_long() -> None:
    autumn = rotation(handoff="daily", start="2026-10-24").shift_at(at("2026-10-25 06:00", LONDON))
    assert autumn.person == "ana"
    assert autumn.ends_at - autumn.starts_at == 25 * 3600
    spring = rotation(handoff="daily", start="2027-03-27").shift_at(at("2027-03-28 06:00", LONDON))
    assert spring.person == "ana"
    assert spring.ends_at - spring.starts_at == 23 * 3600


def test_an_override_splits_a_shift() -> None:
    r = rotation(
        overrides=[{"person": "ana", "start": "2026-12-24T00:00", "end": "2026-12-27T00:00"}]
    )
    shifts = r.upcoming(at("2026-12-22 12:00", LONDON), 4)
    assert [(s.person, s.override) for s in shifts] == [
        ("ben", False),
        ("ana", True),
        ("ben", False),
        ("chen", False),
    ]
    assert shifts[0].starts_at == at("2026-12-21 09:00", LONDON)
    assert shifts[0].ends_at == shifts[1].starts_at == at("2026-12-24 00:00", LONDON)
    assert shifts[1].ends_at == shifts[2].starts_at == at("2026-12-27 00:00", LONDON)
    assert shifts[2].ends_at == shifts[3].starts_at == at("2026-12-28 09:00", LONDON)


@pytest.mark.parametrize(
    ("person", "following"),
    [("ana", "ben"), ("ben", "chen"), ("chen", "ana"), ("dan", "ana")],
)
def test_next_after(person: str, following: str) -> None:
    assert next_after(oncall().rotations[0], person) == following


def test_escalation_order_starts_with_whoever_is_on_call() -> None:
    plain = rotation()
    assert plain.escalation_order(at("2026-11-10 12:00", LONDON)) == ["ben", "chen", "ana"]
    covered = rotation(
        overrides=[{"person": "ana", "start": "2026-11-10T00:00", "end": "2026-11-11T00:00"}]
    )
    # ana covers ben's week for a day: ana first, then the rota from after ben
    assert covered.escalation_order(at("2026-11-10 12:00", LONDON)) == ["ana", "chen", "ben"]
    alone = rotation(people=["ana"])
    assert alone.escalation_order(at("2026-11-10 12:00", LONDON)) == ["ana"]
