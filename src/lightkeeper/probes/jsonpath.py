"""A tiny JSONPath subset for HTTP checks: ``$.a.b``, ``$.items[0].name``, ``$['odd key']``.

Only plain member and index steps: no wildcards, filters or slices, so a path always
names at most one value and a mismatch can be reported as "$.status is 'degraded'".
"""

from __future__ import annotations

import re
from typing import Any, Final

Step = str | int

#: Returned by :func:`find` when the path names nothing in the document.
MISSING: Final = object()

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r"""\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")
_ESCAPE = re.compile(r"\\(.)")


def parse(path: str) -> tuple[Step, ...]:
    """Split a path into member names and list indexes; raise ValueError saying what is wrong."""
    if not path.startswith("$"):
        raise ValueError(f"JSONPath {path!r} must start with '$'")
    steps: list[Step] = []
    pos = 1
    while pos < len(path):
        if path[pos] == ".":
            name = _NAME.match(path, pos + 1)
            if name is None:
                raise ValueError(f"JSONPath {path!r}: expected a member name after '.' at {pos}")
            steps.append(name.group())
            pos = name.end()
        elif (index := _INDEX.match(path, pos)) is not None:
            steps.append(int(index.group(1)))
            pos = index.end()
        elif (quoted := _QUOTED.match(path, pos)) is not None:
            raw = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
            steps.append(_ESCAPE.sub(r"\1", raw))
            pos = quoted.end()
        else:
            raise ValueError(
                f"JSONPath {path!r}: unexpected {path[pos]!r} at {pos} "
                "(supported: $.name, $.list[0], $['key'])"
            )
    return tuple(steps)


def find(document: Any, steps: tuple[Step, ...]) -> Any:
    """The value the steps lead to, or :data:`MISSING`."""
    value = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return MISSING
        elif not isinstance(value, dict) or step not in value:
            return MISSING
        value = value[step]
    return value
