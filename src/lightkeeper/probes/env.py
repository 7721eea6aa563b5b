"""Environment probe: required variables (API keys and the like) are set and well-formed.

Only variable *names* ever leave this module: a value is read, judged and dropped, never
put in a reason, a metric or the config.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from lightkeeper.probes.base import MonitorBase, ProbeContext
from lightkeeper.types import ProbeResult

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class KnownFormat:
    """A shape a well-known variable must have, and how to say so when it does not."""

    pattern: str
    expected: str


#: Shapes checked without configuration; a ``formats`` entry for the same name wins.
KNOWN_FORMATS: dict[str, KnownFormat] = {
    "ANTHROPIC_API_KEY": KnownFormat(r"^sk-ant-", "to start with sk-ant-"),
    "OPENAI_API_KEY": KnownFormat(r"^sk-", "to start with sk-"),
}


class EnvMonitor(MonitorBase):
    """Variables this process needs. Example (YAML):

        {name: ai-keys, type: env, require: [ANTHROPIC_API_KEY, OPENAI_API_KEY],
         formats: {STRIPE_KEY: "^sk_(live|test)_"}}

    A ``formats`` regex is searched in the value (anchor it with ``^...$`` to match
    the whole value). Down if any variable is unset, empty, padded with whitespace or
    malformed.
    """

    type: Literal["env"]
    # The environment does not flap: a missing variable is down at the first check.
    failures_before_down: int = Field(1, ge=1, le=100)
    require: list[str] = Field(min_length=1)
    formats: dict[str, str] = Field(default_factory=dict)

    @field_validator("require")
    @classmethod
    def _names_are_variables(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _VARIABLE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value

    @field_validator("formats")
    @classmethod
    def _formats_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"format for {name} is not a valid regex: {exc}") from None
        return value

    @model_validator(mode="after")
    def _formats_for_required_names(self) -> Self:
        stray = sorted(set(self.formats) - set(self.require))
        if stray:
            raise ValueError(f"formats given for variables not in require: {', '.join(stray)}")
        return self

    def target(self) -> str:
        return ", ".join(self.require)

    def format_for(self, name: str) -> KnownFormat | None:
        if name in self.formats:
            pattern = self.formats[name]
            return KnownFormat(pattern, f"to match {pattern}")
        return KNOWN_FORMATS.get(name)


class EnvProbe:
    def __init__(self, config: EnvMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx

    async def check(self) -> ProbeResult:
        problems = [p for name in self.config.require if (p := self._problem(name))]
        if problems:
            return ProbeResult.down("; ".join(problems))
        count = len(self.config.require)
        return ProbeResult.up(f"{count} variable{'s' if count != 1 else ''} set")

    def _problem(self, name: str) -> str | None:
        value = os.environ.get(name)
        if value is None:
            return f"{name} is not set"
        if not value:
            return f"{name} is set but empty"
        if value != value.strip():
            return f"{name} has leading or trailing whitespace"
        shape = self.config.format_for(name)
        if shape is not None and not re.search(shape.pattern, value):
            return f"{name} is malformed (expected {shape.expected})"
        return None
