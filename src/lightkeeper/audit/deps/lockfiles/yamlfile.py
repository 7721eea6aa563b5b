"""Loading a YAML lock file and remembering the line of each key in its first two levels
(``packages: {"lodash@4.17.21": …}``), which is where a finding points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lightkeeper.audit.deps.lockfiles.model import LockfileError

# The C parser when PyYAML was built with libyaml: lock files run to tens of thousands of lines.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path, text: str, fix: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """The data and ``{(key,): line, (key, subkey): line}`` (1-based)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise LockfileError(path, line, f"not valid YAML ({exc.problem}); {fix}") from None
    except yaml.YAMLError as exc:
        raise LockfileError(path, None, f"not valid YAML ({exc}); {fix}") from None
    finally:
        loader.dispose()
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[(key,)] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.MappingNode):
                for sub_key, _ in value_node.value:
                    lines.setdefault((key, str(sub_key.value)), sub_key.start_mark.line + 1)
    return data, lines
