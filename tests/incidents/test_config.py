"""The oncall: and incidents: sections: the issue's example loads, mistakes say what to fix,
and check() finds the cross-references that point nowhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

import pytest
from pydantic import ValidationError

from lightkeeper.incidents.config import IncidentsConfig, OncallConfig, check
from lightkeeper.rules.engine import Severity
from lightkeeper.yamlpos import load_yaml

EXAMPLE = """
oncall:
  rotations:
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
  people:
    ana: {channels: [ana-sms, ana-mail]}
    ben: {channels: [ben-mail]}
    chen: {channels: [chen-mail]}
incidents:
  severities: [critical]
  group_by: [service]
  page: primary
"""


@dataclass
class Config:
    """Stands in for LightkeeperConfig: the three sections check() reads."""

    oncall: OncallConfig
    incidents: IncidentsConfig = field(default_factory=IncidentsConfig)
    channels: Mapping[str, Any] = field(default_factory=dict)


def test_the_issue_example_loads() -> None:
    data = load_yaml(EXAMPLE, {}).data
    oncall = OncallConfig.model_validate(data["oncall"])
    settings = IncidentsConfig.model_validate(data["incidents"])
    [primary] = oncall.rotations
    assert primary.handoff_at == time(9, 0) and primary.start == date(2026, 11, 2)
    assert primary.escalate_after == 900.0 and primary.overrides[0].person == "ben"
    assert settings.severities == [Severity.CRITICAL] and settings.page == "primary"
    channels: dict[str, object] = {c: {} for c in ("ana-sms", "ana-mail", "ben-mail", "chen-mail")}
    assert check(Config(oncall, settings, channels)) == []


def test_defaults() -> None:
    settings = IncidentsConfig()
    assert settings.enabled and settings.severities == [Severity.CRITICAL]
    assert settings.group_by == ["service"] and settings.page is None
    rotation = OncallConfig.model_validate(
        {"rotations": [{"name": "r", "people": ["a"], "start": "2026-11-02"}]}
    ).rotations[0]
    assert (rotation.tz, rotation.handoff, rotation.handoff_day) == ("UTC", "weekly", "monday")
    assert rotation.handoff_at == time(9, 0) and rotation.escalate_after == 900.0


BASE = {"name": "primary", "people": ["ana"], "start": "2026-11-02"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"handoff_at": 540}, 'write the time in quotes, e.g. handoff_at: "09:00"'),
        ({"handoff_at": "25:00"}, "handoff_at"),
        ({"tz": "Europe/Lundon"}, "unknown time zone 'Europe/Lundon'"),
        ({"handoff": "hourly"}, "'daily' or 'weekly'"),
        ({"handoff_day": "mon"}, "'monday'"),
        ({"people": []}, "at least 1 item"),
        ({"escalate_after": "0s"}, "escalate_after must be more than 0s"),
        ({"escalate_after": "soon"}, "is not a duration"),
        (
            {
                "overrides": [
                    {"person": "ana", "start": "2026-12-27T00:00", "end": "2026-12-24T00:00"}
                ]
            },
            "end must be after start",
        ),
        ({"name": "has space"}, "should match pattern"),
        ({"pager": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_mistakes_say_what_to_fix(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OncallConfig.model_validate({"rotations": [{**BASE, **fields}]})
    assert message in str(caught.value)


def test_handoff_day_is_case_insensitive_and_null_never_escalates() -> None:
    rotation = OncallConfig.model_validate(
        {"rotations": [{**BASE, "handoff_day": "Friday", "escalate_after": None}]}
    ).rotations[0]
    assert rotation.handoff_day == "friday" and rotation.escalate_after is None


def test_check_points_at_each_dangling_name() -> None:
    oncall = OncallConfig.model_validate(
        {
            "rotations": [
                {
                    **BASE,
                    "people": ["ana", "bob"],
                    "overrides": [
                        {"person": "zed", "start": "2026-12-24T00:00", "end": "2026-12-25T00:00"}
                    ],
                },
                {**BASE},
            ],
            "people": {"ana": {"channels": ["ana-mail", "ana-sms"]}},
        }
    )
    problems = check(Config(oncall, IncidentsConfig(page="secondary"), {"ana-mail": {}}))
    paths = [path for path, _ in problems]
    assert paths == [
        ("oncall", "rotations", 0, "people", 1),
        ("oncall", "rotations", 0, "overrides", 0, "person"),
        ("oncall", "rotations", 1, "name"),
        ("oncall", "people", "ana", "channels", 1),
        ("incidents", "page"),
    ]
    messages = dict(problems)
    assert messages[("oncall", "rotations", 0, "people", 1)].startswith("unknown person 'bob'")
    assert "define them under oncall.people" in messages[("oncall", "rotations", 0, "people", 1)]
    assert messages[("oncall", "rotations", 1, "name")] == "duplicate rotation name 'primary'"
    assert "unknown channel 'ana-sms'" in messages[("oncall", "people", "ana", "channels", 1)]
    assert "(ana-mail)" in messages[("oncall", "people", "ana", "channels", 1)]
    assert "unknown rotation 'secondary'" in messages[("incidents", "page")]
