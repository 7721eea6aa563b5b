"""Env probe: required variables set and well-formed, values never shown."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.env import EnvMonitor, EnvProbe
from lightkeeper.types import State

ANTHROPIC = "sk-ant-api03-abcdefghijklmnopqrstuvwx"
OPENAI = "sk-proj-abcdefghijklmnopqrstuvwx"
STRIPE = "sk_live_0123456789abcdef"


def monitor(**fields: Any) -> EnvMonitor:
    return EnvMonitor.model_validate({"name": "ai-keys", "type": "env", **fields})


KEYS = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]

SCENARIOS = [
    # (environment, config, state, reason)
    ({"ANTHROPIC_API_KEY": ANTHROPIC, "OPENAI_API_KEY": OPENAI}, {}, State.UP, "2 variables set"),
    ({"OPENAI_API_KEY": OPENAI}, {}, State.DOWN, "ANTHROPIC_API_KEY is not set"),
    ({}, {}, State.DOWN, "ANTHROPIC_API_KEY is not set; OPENAI_API_KEY is not set"),
    (
        {"ANTHROPIC_API_KEY": ANTHROPIC, "OPENAI_API_KEY": "pk-" + OPENAI},
        {},
        State.DOWN,
        "OPENAI_API_KEY is malformed (expected to start with sk-)",
    ),
    (
        {"ANTHROPIC_API_KEY": OPENAI, "OPENAI_API_KEY": OPENAI},
        {},
        State.DOWN,
        "ANTHROPIC_API_KEY is malformed (expected to start with sk-ant-)",
    ),
    (
        {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": OPENAI},
        {},
        State.DOWN,
        "ANTHROPIC_API_KEY is set but empty",
    ),
    (
        {"ANTHROPIC_API_KEY": ANTHROPIC + "\n", "OPENAI_API_KEY": OPENAI},
        {},
        State.DOWN,
        "ANTHROPIC_API_KEY has leading or trailing whitespace",
    ),
    # A configured format replaces the built-in one.
    (
        {"ANTHROPIC_API_KEY": "custom-proxy-key", "OPENAI_API_KEY": OPENAI},
        {"formats": {"ANTHROPIC_API_KEY": "^custom-"}},
        State.UP,
        "2 variables set",
    ),
    (
        {"STRIPE_KEY": STRIPE},
        {"require": ["STRIPE_KEY"], "formats": {"STRIPE_KEY": "^sk_(live|test)_"}},
        State.UP,
        "1 variable set",
    ),
    (
        {"STRIPE_KEY": "sk_prod_0123456789abcdef"},
        {"require": ["STRIPE_KEY"], "formats": {"STRIPE_KEY": "^sk_(live|test)_"}},
        State.DOWN,
        "STRIPE_KEY is malformed (expected to match ^sk_(live|test)_)",
    ),
]


@pytest.mark.parametrize(("environment", "fields", "state", "reason"), SCENARIOS)
async def test_scenarios(
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    fields: dict[str, Any],
    state: State,
    reason: str,
) -> None:
    for name in (*KEYS, "STRIPE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = monitor(**{"require": KEYS, **fields})
    result = await EnvProbe(config, ProbeContext()).check()
    assert (result.state, result.reason) == (state, reason)
    assert result.latency_ms is None
    assert result.metrics == {}
    for value in environment.values():
        if value.strip():
            for shown in (result.reason, str(result), repr(result), repr(config)):
                assert value.strip() not in shown


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"require": []}, "at least 1 item"),
        ({"require": ["NOT-A-NAME"]}, "is not an environment variable name"),
        ({"require": ["A"], "formats": {"A": "("}}, "format for A is not a valid regex"),
        ({"require": ["A"], "formats": {"B": "x"}}, "not in require: B"),
    ],
)
def test_invalid_config(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        monitor(**fields)


def test_target_lists_names() -> None:
    assert monitor(require=KEYS).target() == "ANTHROPIC_API_KEY, OPENAI_API_KEY"
