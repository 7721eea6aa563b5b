"""The JSONPath subset: a table of paths, what they find, and what is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lightkeeper.probes import jsonpath

DOCUMENT: dict[str, Any] = {
    "status": "healthy",
    "checks": [{"name": "db", "ok": True}, {"name": "cache", "ok": False}],
    "odd key": {"x-y": 1},
    "it's": "quoted",
    "nothing": None,
}

FOUND = [
    ("$", DOCUMENT),
    ("$.status", "healthy"),
    ("$.checks[0].name", "db"),
    ("$.checks[1].ok", False),
    ("$['odd key']['x-y']", 1),
    ('$["odd key"].x-y', 1),
    ("$['it\\'s']", "quoted"),
    ("$.nothing", None),
    ("$[ 'status' ]", "healthy"),
]


@pytest.mark.parametrize(("path", "value"), FOUND)
def test_found(path: str, value: Any) -> None:
    assert jsonpath.find(DOCUMENT, jsonpath.parse(path)) == value


MISSING = ["$.version", "$.checks[2]", "$.checks.name", "$.status[0]", "$.status.x", "$[0]"]


@pytest.mark.parametrize("path", MISSING)
def test_missing(path: str) -> None:
    assert jsonpath.find(DOCUMENT, jsonpath.parse(path)) is jsonpath.MISSING


def test_steps() -> None:
    assert jsonpath.parse("$.a[0]['b c'].d") == ("a", 0, "b c", "d")


INVALID = [
    ("status", "must start with '$'"),
    ("$.", "expected a member name"),
    ("$..status", "expected a member name"),
    ("$.checks[*]", "unexpected '['"),
    ("$.checks[-1]", "unexpected '['"),
    ("$.checks[0:2]", "unexpected '['"),
    ("$[?(@.ok)]", "unexpected '['"),
    ("$.a b", "unexpected ' '"),
    ("$['open", "unexpected '['"),
]


@pytest.mark.parametrize(("path", "message"), INVALID)
def test_invalid(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        jsonpath.parse(path)
