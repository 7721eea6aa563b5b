"""Durations as people write them in YAML: ``500ms``, ``30s``, ``5m``, ``1h``, ``7d``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


def parse_duration(value: Any) -> float:
    """Return seconds. Numbers are taken as seconds; ``1h30m`` adds its parts."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {type(value).__name__}")
    text = value.strip().replace(" ", "")
    if not _WHOLE.match(text):
        raise ValueError(
            f"{value!r} is not a duration; write a number and a unit: 500ms, 30s, 5m, 1h, 7d"
        )
    return sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 90 → '90s', 300 → '5m', 0.5 → '500ms'."""
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    for unit in ("w", "d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def humanize(seconds: float) -> str:
    """A rounded, readable span for messages: '6 days', '3h 20m', '45s'."""
    seconds = abs(seconds)
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 3600:
        h, rest = divmod(int(seconds), 3600)
        return f"{h}h {rest // 60}m"
    if seconds >= 60:
        m, s = divmod(int(seconds), 60)
        return f"{m}m {s}s"
    return f"{seconds:.0f}s"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: 500ms, 30s, 5m, 1h, 7d (a bare number is seconds).",
        }
    ),
]
