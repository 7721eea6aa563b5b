"""YAML with positions: every value remembers its FILE:LINE:COLUMN for error messages.

``${VAR}`` and ``${VAR:-default}`` are replaced from the environment while loading, so an
unset variable is reported at the exact scalar that names it. ``$${`` writes a literal
``${``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BAD_VAR = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})[^}]*\}?")


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class Located:
    """The loaded data plus where each path in it came from."""

    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    problems: list[tuple[Mark, str]] = field(default_factory=list)

    def mark(self, path: Path, prefer_key: bool = False) -> Mark:
        """The position of ``path``, or of its nearest ancestor that exists."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            table = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            for positions in table:
                if prefix in positions:
                    return positions[prefix]
        return Mark(1, 1)


class YamlSyntaxError(Exception):
    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace ``${VAR}`` / ``${VAR:-default}``; return the text and the unset names."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is not None:
                return default
            missing.append(name)
            return ""
        return value

    return _VAR.sub(replace, text), missing


def load_yaml(text: str, env: Mapping[str, str] | None = None) -> Located:
    """Parse ``text``; raise :class:`YamlSyntaxError` for broken YAML."""
    environ = os.environ if env is None else env
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark and "stream end" in (exc.problem or ""):
            mark = exc.context_mark  # "got end of file" points nowhere useful; the opener does
        where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        raise YamlSyntaxError(where, f"YAML syntax error: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Mark(1, 1), f"YAML syntax error: {exc}") from None
    located = Located(data=None)
    if root is None:
        located.data = {}
        return located
    constructor = yaml.SafeLoader("")
    located.data = _build(root, (), located, constructor, environ)
    return located


def _build(
    node: yaml.Node,
    path: Path,
    located: Located,
    constructor: yaml.SafeLoader,
    env: Mapping[str, str],
) -> Any:
    located.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)  # resolves YAML merge keys (<<: *anchor)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                located.problems.append((_mark(key_node), "mapping keys must be plain strings"))
                continue
            key_path = (*path, key if isinstance(key, str | int) else str(key))
            if key in result:
                located.problems.append(
                    (_mark(key_node), f"duplicate key {key!r}; each key may appear once")
                )
            located.keys[key_path] = _mark(key_node)
            result[key] = _build(value_node, key_path, located, constructor, env)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, index), located, constructor, env)
            for index, item in enumerate(node.value)
        ]
    value = constructor.construct_object(node, deep=True)
    if isinstance(value, str) and "$" in value:
        bad = _BAD_VAR.search(value.replace("$${", ""))
        if bad:
            located.problems.append(
                (
                    _mark(node),
                    f"malformed variable {bad.group(0)!r}; write ${{NAME}} or ${{NAME:-default}}",
                )
            )
        value, missing = interpolate(value, env)
        for name in missing:
            located.problems.append(
                (
                    _mark(node),
                    f"environment variable {name} is not set"
                    f"\n  hint: export {name}=…, or give a default: ${{{name}:-value}}",
                )
            )
    return value
