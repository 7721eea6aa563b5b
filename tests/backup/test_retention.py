"""Retention: restic's forget rules on an explicit calendar, as tables of exact kept sets.

Every expected set below was worked out by hand from the calendar (weekdays, ISO weeks, DST
change instants), not by calling decide(); the comments give the reasoning.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lightkeeper.backup.retention import Backup, Decision, RetentionPolicy, decide


def at(text: str) -> float:
    """'2026-03-29 23:30' read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def backups(*times: str) -> list[Backup]:
    """One backup per UTC time; its id is the time, so expected sets read as times."""
    return [Backup(t, at(t)) for t in times]


def daily(first: str, last: str, hhmm: str) -> list[Backup]:
    day, end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    out = []
    while day <= end:
        out.append(f"{day:%Y-%m-%d} {hhmm}")
        day += timedelta(days=1)
    return backups(*out)


def kept(policy: RetentionPolicy, given: list[Backup]) -> list[str]:
    return [d.backup.id for d in decide(policy, given) if d.keep]


def policy(**rules: object) -> RetentionPolicy:
    return RetentionPolicy.model_validate(rules)


SEED = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}
TWO_YEARS = daily("2024-11-26", "2026-11-25", "02:30")  # 731 backups, newest Wed 2026-11-25

# 7 daily: 25th..19th. Weekly (Mon–Sun): W48 → 25th, W47 → Sun 22nd, W46 → Sun 15th,
# W45 → Sun 8th. Monthly: the last day of each month back to December 2025.
TWO_YEARS_UTC = [
    *[f"2026-11-{d} 02:30" for d in (25, 24, 23, 22, 21, 20, 19)],
    "2026-11-15 02:30",
    "2026-11-08 02:30",
    *[
        f"{m} 02:30"
        for m in (
            "2026-10-31", "2026-09-30", "2026-08-31", "2026-07-31", "2026-06-30",
            "2026-05-31", "2026-04-30", "2026-03-31", "2026-02-28", "2026-01-31",
            "2025-12-31",
        )
    ],
]  # fmt: skip
# In Los Angeles 02:30 UTC is the evening before, so each backup belongs to the previous
# local day: a week's newest is Monday's backup (local Sunday), a month's newest is the
# backup of the 1st (local last day of the month before).
TWO_YEARS_LA = [
    *[f"2026-11-{d} 02:30" for d in (25, 24, 23, 22, 21, 20, 19)],
    "2026-11-16 02:30",
    "2026-11-09 02:30",
    *[f"2026-{m:02d}-01 02:30" for m in range(11, 0, -1)],
]

SCENARIOS = [
    # -- the seed's policy over two years of daily backups, three calendars -------------
    ("two years, UTC", SEED, TWO_YEARS, TWO_YEARS_UTC),
    # 02:30 UTC is 11:30 in Tokyo, the same day: the same set.
    ("two years, Tokyo", {**SEED, "tz": "Asia/Tokyo"}, TWO_YEARS, TWO_YEARS_UTC),
    ("two years, Los Angeles", {**SEED, "tz": "America/Los_Angeles"}, TWO_YEARS, TWO_YEARS_LA),
    # Only 3 years have backups, so keep_yearly: 5 has slots left at the oldest backup and
    # keeps it too (restic ≥ 0.16's oldest-snapshot rule).
    (
        "two years, yearly with the oldest rule",
        {"keep_yearly": 5},
        TWO_YEARS,
        ["2026-11-25 02:30", "2025-12-31 02:30", "2024-12-31 02:30", "2024-11-26 02:30"],
    ),
    # -- irregular: two backups a day, missing weeks (W11, W12) ---------------------------
    # Newest first: Mon 30 (W14), Sun 29 (W13), Wed 25 ×2 (W13), Mon 23 (W13), Wed 4 (W10),
    # Mon 2 ×2 (W10). Daily: 30, 29, 25-22:00. Weekly: W14, W13 (29th), W10 (4th) — empty
    # weeks use no slot.
    (
        "gaps, 3 daily + 3 weekly",
        {"keep_daily": 3, "keep_weekly": 3},
        backups(
            "2026-03-02 01:00", "2026-03-02 13:00", "2026-03-04 01:00", "2026-03-23 01:00",
            "2026-03-25 01:00", "2026-03-25 22:00", "2026-03-29 12:00", "2026-03-30 09:00",
        ),
        ["2026-03-30 09:00", "2026-03-29 12:00", "2026-03-25 22:00", "2026-03-04 01:00"],
    ),
    # Six days have backups, so keep_daily: 10 still has slots at the oldest backup, which
    # shares its day with a newer one: kept by the oldest rule. Only 25-01:00 goes.
    (
        "gaps, 10 daily keeps the oldest",
        {"keep_daily": 10},
        backups(
            "2026-03-02 01:00", "2026-03-02 13:00", "2026-03-04 01:00", "2026-03-23 01:00",
            "2026-03-25 01:00", "2026-03-25 22:00", "2026-03-29 12:00", "2026-03-30 09:00",
        ),
        [
            "2026-03-30 09:00", "2026-03-29 12:00", "2026-03-25 22:00", "2026-03-23 01:00",
            "2026-03-04 01:00", "2026-03-02 13:00", "2026-03-02 01:00",
        ],
    ),
    # -- Europe/London, clocks forward 2026-03-29 01:00 UTC ------------------------------
    # 23:30 UTC is 23:30 GMT up to the 28th, then 00:30 BST the next day: the backup of
    # the 30th (UTC) is London's 31 March, the one of the 31st is 1 April.
    (
        "London spring, UTC calendar",
        {"keep_daily": 3, "keep_monthly": 2},
        daily("2026-03-20", "2026-04-05", "23:30"),
        ["2026-04-05 23:30", "2026-04-04 23:30", "2026-04-03 23:30", "2026-03-31 23:30"],
    ),
    (
        "London spring, London calendar",
        {"keep_daily": 3, "keep_monthly": 2, "tz": "Europe/London"},
        daily("2026-03-20", "2026-04-05", "23:30"),
        ["2026-04-05 23:30", "2026-04-04 23:30", "2026-04-03 23:30", "2026-03-30 23:30"],
    ),
    # -- Europe/London, clocks back 2026-10-25 01:00 UTC ---------------------------------
    # The 24th's 23:30 UTC is 00:30 BST on the 25th; the 25th's is 23:30 GMT the same day:
    # one London day has both, the newer wins, and the fourth day is the 23rd's backup.
    (
        "London autumn, UTC calendar",
        {"keep_daily": 4},
        daily("2026-10-18", "2026-10-27", "23:30"),
        ["2026-10-27 23:30", "2026-10-26 23:30", "2026-10-25 23:30", "2026-10-24 23:30"],
    ),
    (
        "London autumn, London calendar",
        {"keep_daily": 4, "tz": "Europe/London"},
        daily("2026-10-18", "2026-10-27", "23:30"),
        ["2026-10-27 23:30", "2026-10-26 23:30", "2026-10-25 23:30", "2026-10-23 23:30"],
    ),
    # The repeated hour: 00:15–01:45 UTC on the 25th are all 01:xx on London's wall clock,
    # one hourly period; with a slot left the oldest of them is kept too.
    (
        "London repeated hour, UTC calendar",
        {"keep_hourly": 3},
        backups("2026-10-25 00:15", "2026-10-25 00:45", "2026-10-25 01:15",
                "2026-10-25 01:45", "2026-10-25 02:15"),
        ["2026-10-25 02:15", "2026-10-25 01:45", "2026-10-25 00:45"],
    ),
    (
        "London repeated hour, London calendar",
        {"keep_hourly": 3, "tz": "Europe/London"},
        backups("2026-10-25 00:15", "2026-10-25 00:45", "2026-10-25 01:15",
                "2026-10-25 01:45", "2026-10-25 02:15"),
        ["2026-10-25 02:15", "2026-10-25 01:45", "2026-10-25 00:15"],
    ),
    # -- America/New_York, clocks forward 2026-03-08 07:00 UTC ---------------------------
    # 04:30 UTC is 23:30 EST the day before, then 00:30 EDT the same day. UTC weeks end on
    # Sunday's backup (22nd... 1st, 8th, 15th, 20th); in New York, while on EST, Monday's
    # backup is Sunday: W09's newest is 2 March's. Four weeks have backups, so the fifth
    # slot keeps the oldest: in UTC by the oldest rule, in New York as week W08.
    (
        "New York spring weeks, UTC calendar",
        {"keep_weekly": 5},
        daily("2026-02-23", "2026-03-20", "04:30"),
        ["2026-03-20 04:30", "2026-03-15 04:30", "2026-03-08 04:30", "2026-03-01 04:30",
         "2026-02-23 04:30"],
    ),
    (
        "New York spring weeks, New York calendar",
        {"keep_weekly": 5, "tz": "America/New_York"},
        daily("2026-02-23", "2026-03-20", "04:30"),
        ["2026-03-20 04:30", "2026-03-15 04:30", "2026-03-08 04:30", "2026-03-02 04:30",
         "2026-02-23 04:30"],
    ),
    # -- America/New_York, clocks back 2026-11-01 06:00 UTC ------------------------------
    # 1 Nov 04:30 UTC is 00:30 EDT on the 1st; 2 Nov 04:30 UTC is 23:30 EST on the 1st.
    (
        "New York autumn, UTC calendar",
        {"keep_daily": 3},
        daily("2026-10-28", "2026-11-03", "04:30"),
        ["2026-11-03 04:30", "2026-11-02 04:30", "2026-11-01 04:30"],
    ),
    (
        "New York autumn, New York calendar",
        {"keep_daily": 3, "tz": "America/New_York"},
        daily("2026-10-28", "2026-11-03", "04:30"),
        ["2026-11-03 04:30", "2026-11-02 04:30", "2026-10-31 04:30"],
    ),
    # -- east and west of UTC: the same five backups around the end of March -------------
    # 31 Mar 06:00 / 13:30 / 15:30, 1 Apr 03:00 / 09:00 UTC. March's newest is:
    # UTC 15:30; Tokyo (+9) 13:30 (15:30 is 1 April 00:30); Sydney (+11, AEDT) 06:00
    # (13:30 is already 1 April 00:30); Los Angeles (−7, PDT) 1 Apr 03:00 (31 Mar 20:00).
    *[
        (
            f"month end, {zone}",
            {"keep_monthly": 2, "tz": zone},
            backups("2026-03-31 06:00", "2026-03-31 13:30", "2026-03-31 15:30",
                    "2026-04-01 03:00", "2026-04-01 09:00"),
            ["2026-04-01 09:00", march],
        )
        for zone, march in [
            ("UTC", "2026-03-31 15:30"),
            ("Asia/Tokyo", "2026-03-31 13:30"),
            ("Australia/Sydney", "2026-03-31 06:00"),
            ("America/Los_Angeles", "2026-04-01 03:00"),
        ]
    ],
    # -- Australia/Sydney, southern autumn: clocks back 2026-04-05 03:00 AEDT (16:00 UTC
    # on the 4th). 13:30 UTC is 00:30 the next day before, 23:30 the same day after: the
    # 4th's and 5th's backups are both Sydney's 5 April.
    (
        "Sydney DST end, Tokyo calendar",
        {"keep_daily": 3, "tz": "Asia/Tokyo"},
        daily("2026-04-03", "2026-04-06", "13:30"),
        ["2026-04-06 13:30", "2026-04-05 13:30", "2026-04-04 13:30"],
    ),
    (
        "Sydney DST end, Sydney calendar",
        {"keep_daily": 3, "tz": "Australia/Sydney"},
        daily("2026-04-03", "2026-04-06", "13:30"),
        ["2026-04-06 13:30", "2026-04-05 13:30", "2026-04-03 13:30"],
    ),
    # -- keep_within: relative to the newest backup (2020, long before now), strictly after
    (
        "within 3d of the newest, not of now",
        {"keep_within": "3d"},
        daily("2020-01-01", "2020-01-10", "02:30"),
        ["2020-01-10 02:30", "2020-01-09 02:30", "2020-01-08 02:30"],
    ),
    # 1 calendar day then 12 hours: after 2020-01-08 14:30.
    (
        "within 1d12h",
        {"keep_within": "1d12h"},
        daily("2020-01-01", "2020-01-10", "02:30"),
        ["2020-01-10 02:30", "2020-01-09 02:30"],
    ),
    # Noon in London daily across 29 March: three calendar days before 31 Mar 12:00 BST is
    # 28 Mar 12:00 GMT — that backup is on the line, so it goes. In UTC the line is 11:00
    # UTC on the 28th and the noon backup is inside.
    (
        "within 3d across DST, London",
        {"keep_within": "3d", "tz": "Europe/London"},
        backups("2026-03-27 12:00", "2026-03-28 12:00", "2026-03-29 11:00",
                "2026-03-30 11:00", "2026-03-31 11:00"),
        ["2026-03-31 11:00", "2026-03-30 11:00", "2026-03-29 11:00"],
    ),
    (
        "within 3d across DST, UTC",
        {"keep_within": "3d"},
        backups("2026-03-27 12:00", "2026-03-28 12:00", "2026-03-29 11:00",
                "2026-03-30 11:00", "2026-03-31 11:00"),
        ["2026-03-31 11:00", "2026-03-30 11:00", "2026-03-29 11:00", "2026-03-28 12:00"],
    ),
    # OR'ed with a calendar rule: 2 monthly adds December's newest.
    (
        "within 3d or 2 monthly",
        {"keep_within": "3d", "keep_monthly": 2},
        daily("2019-12-20", "2020-01-10", "02:30"),
        ["2020-01-10 02:30", "2020-01-09 02:30", "2020-01-08 02:30", "2019-12-31 02:30"],
    ),
    # -- keep_last -----------------------------------------------------------------------
    (
        "last 3",
        {"keep_last": 3},
        daily("2026-01-01", "2026-01-06", "02:30"),
        ["2026-01-06 02:30", "2026-01-05 02:30", "2026-01-04 02:30"],
    ),
    ("last 5 of 2", {"keep_last": 5}, daily("2026-01-01", "2026-01-02", "02:30"),
     ["2026-01-02 02:30", "2026-01-01 02:30"]),
    ("last unlimited", {"keep_last": -1}, daily("2026-01-01", "2026-01-04", "02:30"),
     ["2026-01-04 02:30", "2026-01-03 02:30", "2026-01-02 02:30", "2026-01-01 02:30"]),
    # -- -1: every day's newest, and the oldest by the oldest rule (slots never run out) ---
    (
        "daily unlimited",
        {"keep_daily": -1},
        backups("2026-01-01 08:00", "2026-01-01 20:00", "2026-01-02 08:00",
                "2026-01-02 20:00", "2026-01-03 08:00", "2026-01-03 20:00"),
        ["2026-01-03 20:00", "2026-01-02 20:00", "2026-01-01 20:00", "2026-01-01 08:00"],
    ),
    (
        "daily 'unlimited' as restic spells it",
        {"keep_daily": "unlimited"},
        backups("2026-01-02 08:00", "2026-01-02 20:00", "2026-01-03 20:00"),
        ["2026-01-03 20:00", "2026-01-02 20:00", "2026-01-02 08:00"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rules", "given", "expected"),
    [pytest.param(r, g, e, id=name) for name, r, g, e in SCENARIOS],
)
def test_kept_sets(rules: dict[str, object], given: list[Backup], expected: list[str]) -> None:
    assert kept(policy(**rules), given) == expected


SCENARIOS_BY_NAME = {name: given for name, _, given, _ in SCENARIOS}


def test_same_timestamps_differ_east_and_west() -> None:
    """The month-end table above really gives four different answers for one input."""
    answers = {
        zone: tuple(kept(policy(keep_monthly=2, tz=zone), SCENARIOS_BY_NAME[f"month end, {zone}"]))
        for zone in ("UTC", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles")
    }
    assert len(set(answers.values())) == 4


def reasons_of(decisions: list[Decision]) -> dict[str, tuple[str, ...]]:
    return {d.backup.id: d.reasons for d in decisions}


def test_reasons_name_rule_count_and_period() -> None:
    marked = [Backup(b.id, b.time, verified=b.id == "2026-11-23 02:30") for b in TWO_YEARS]
    got = reasons_of(decide(policy(**SEED), marked))
    assert got["2026-11-25 02:30"] == (
        "daily #1 (2026-11-25)",
        "weekly #1 (2026-W48)",
        "monthly #1 (2026-11)",
    )
    assert got["2026-11-23 02:30"] == ("daily #3 (2026-11-23)", "newest verified")
    assert got["2026-11-22 02:30"] == ("daily #4 (2026-11-22)", "weekly #2 (2026-W47)")
    assert got["2026-11-15 02:30"] == ("weekly #3 (2026-W46)",)
    assert got["2025-12-31 02:30"] == ("monthly #12 (2025-12)",)
    assert got["2026-11-18 02:30"] == ()


def test_reasons_order_within_last_calendar_oldest() -> None:
    given = backups("2026-01-01 08:00", "2026-01-01 20:00", "2026-01-02 08:00")
    got = reasons_of(decide(policy(keep_within="1d", keep_last=1, keep_hourly=5), given))
    assert got == {
        "2026-01-02 08:00": ("within 1d", "last #1", "hourly #1 (2026-01-02 08:00)"),
        "2026-01-01 20:00": ("within 1d", "hourly #2 (2026-01-01 20:00)"),
        "2026-01-01 08:00": ("hourly #3 (2026-01-01 08:00)",),
    }
    oldest = reasons_of(decide(policy(keep_daily=3), given))["2026-01-01 08:00"]
    assert oldest == ("oldest daily #3 (2026-01-01)",)


def test_hourly_periods_are_wall_clock_hours_in_the_policy_zone() -> None:
    given = backups("2026-10-25 00:15", "2026-10-25 01:15")
    got = reasons_of(decide(policy(keep_hourly=1, tz="Europe/London"), given))
    assert got["2026-10-25 01:15"] == ("hourly #1 (2026-10-25 01:00)",)  # 01:15 GMT


def test_the_newest_verified_backup_is_kept_whatever_the_policy() -> None:
    given = [
        Backup("old-verified", at("2026-01-01 02:30"), verified=True),
        Backup("older-verified", at("2025-12-01 02:30"), verified=True),
        *daily("2026-02-01", "2026-02-10", "02:30"),
    ]
    got = reasons_of(decide(policy(keep_last=2), given))
    assert got["old-verified"] == ("newest verified",)
    assert got["older-verified"] == ()
    assert [i for i, r in got.items() if r] == ["2026-02-10 02:30", "2026-02-09 02:30",
                                                  "old-verified"]  # fmt: skip


def test_identical_times_are_ordered_by_id() -> None:
    t = at("2026-01-01 02:30")
    given = [Backup("b", t), Backup("c", t), Backup("a", t)]
    assert [d.backup.id for d in decide(policy(keep_last=1), given)] == ["c", "b", "a"]
    assert kept(policy(keep_last=1), given) == ["c"]
    assert kept(policy(keep_daily=1), list(reversed(given))) == ["c"]


def test_nothing_to_decide() -> None:
    assert decide(policy(keep_daily=7), []) == []


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        decide(policy(keep_daily=7), [Backup("a", 1.0), Backup("a", 2.0)])


# -- the policy as config -----------------------------------------------------------------


def test_an_empty_policy_is_refused_with_the_fix() -> None:
    for empty in ({}, {"tz": "Europe/London"}):
        with pytest.raises(ValidationError) as caught:
            RetentionPolicy.model_validate(empty)
        text = str(caught.value)
        assert "an empty retention policy would delete every backup" in text
        assert "keep_daily: 7" in text


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"keep_daily": 0}, "at least 1, or -1 for unlimited"),
        ({"keep_weekly": -2}, "at least 1, or -1 for unlimited"),
        ({"keep_last": True}, "a number of backups"),
        ({"keep_within": "0s"}, "keep_within must be more than 0s"),
        ({"keep_within": "a week"}, "is not a duration"),
        ({"keep_daily": 7, "tz": "Mars/Olympus"}, "unknown time zone"),
        ({"keep_daily": 7, "keep_dayly": 3}, "Extra inputs are not permitted"),
    ],
)
def test_bad_policies_say_what_is_wrong(rules: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RetentionPolicy.model_validate(rules)


def test_policy_parses_restic_spellings_and_summarises() -> None:
    p = policy(keep_daily=7, keep_monthly="unlimited", keep_within="30d", tz="Europe/London")
    assert p.keep_monthly == -1
    assert p.keep_within == 30 * 86400
    assert p.summary() == "keep 7 daily, all monthly, within 30d of the newest (Europe/London)"


# -- properties ---------------------------------------------------------------------------

ZONES = [
    "UTC", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
    "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham",
]  # fmt: skip
COUNT = st.none() | st.just(-1) | st.integers(1, 12)
RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


@st.composite
def policies(draw: st.DrawFn) -> RetentionPolicy:
    rules: dict[str, object] = {r: draw(COUNT) for r in RULES}
    rules["keep_within"] = draw(st.none() | st.integers(1, 90 * 86400))
    rules["tz"] = draw(st.sampled_from(ZONES))
    if all(rules[r] is None for r in (*RULES, "keep_within")):
        rules[draw(st.sampled_from(RULES))] = draw(st.integers(1, 12))
    return RetentionPolicy.model_validate(rules)


START = int(at("2025-01-01 00:00"))
# Times from a few years, or from a handful of instants so that ties and shared periods
# are common.
TIMES = st.integers(START, START + 3 * 365 * 86400) | st.sampled_from(
    [START + k * 5400 for k in range(12)]
)


@st.composite
def backup_sets(draw: st.DrawFn) -> list[Backup]:
    rows = draw(st.lists(st.tuples(TIMES, st.booleans()), max_size=60))
    return [Backup(f"b{i:03d}", float(t), v) for i, (t, v) in enumerate(rows)]


@settings(max_examples=300, deadline=None)
@given(policies(), backup_sets(), st.randoms(use_true_random=False))
def test_properties(p: RetentionPolicy, given: list[Backup], rnd: random.Random) -> None:
    decisions = decide(p, given)
    by_id = {d.backup.id: d for d in decisions}

    # Every backup once, newest first (ties by id), nothing invented.
    assert sorted(by_id) == sorted(b.id for b in given)
    order = [(d.backup.time, d.backup.id) for d in decisions]
    assert order == sorted(order, reverse=True)
    assert all(d.keep == bool(d.reasons) for d in decisions)

    # Deterministic, whatever order the backups come in.
    shuffled = list(given)
    rnd.shuffle(shuffled)
    assert decide(p, shuffled) == decisions

    # The newest verified backup is never deleted; nor is the newest backup.
    verified = [d for d in decisions if d.backup.verified]
    if verified:
        assert verified[0].keep
        assert "newest verified" in verified[0].reasons
    if decisions:
        assert decisions[0].keep

    # keep_last n keeps the n newest.
    if p.keep_last is not None:
        n = len(decisions) if p.keep_last == -1 else min(p.keep_last, len(decisions))
        assert all(d.keep for d in decisions[:n])

    # A counted calendar rule keeps at most n backups, each the newest of its period
    # (the oldest-rule one excepted), in periods that are all different.
    zone = ZoneInfo(p.tz)
    fmt = {"hourly": "%Y-%m-%d %H:00", "daily": "%Y-%m-%d", "monthly": "%Y-%m", "yearly": "%Y"}
    for rule in ("hourly", "daily", "weekly", "monthly", "yearly"):
        n = getattr(p, f"keep_{rule}")
        if n is None:
            continue

        def period(b: Backup, rule: str = rule) -> str:
            t = datetime.fromtimestamp(b.time, zone)
            if rule == "weekly":
                year, week, _ = t.isocalendar()
                return f"{year}-W{week:02d}"
            return t.strftime(fmt[rule])

        hits = [(d, r) for d in decisions for r in d.reasons if r.split(" #")[0] == rule]
        if n != -1:
            oldest = sum(1 for d in decisions for r in d.reasons if r.startswith(f"oldest {rule}"))
            assert len(hits) + oldest <= n
        periods = [period(d.backup) for d, _ in hits]
        assert len(periods) == len(set(periods))
        for d, r in hits:
            assert r.endswith(f"({period(d.backup)})")
            first = next(x for x in decisions if period(x.backup) == period(d.backup))
            assert first is d
