"""What a lock file parser returns: the packages it pins, what it could not check, and the
error raised for a lock file that cannot be read."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from lightkeeper.audit.deps.versions import Ecosystem
from lightkeeper.redact import MASK, redact_text

_BARE_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.\-]*://)[^/@\s:]+@")


def shown(text: str) -> str:
    """Text from a lock file made safe to print: an index URL or a git URL may carry a
    password or a token (``https://user:pass@…``, ``https://TOKEN@github.com/…``)."""
    return _BARE_USERINFO.sub(rf"\1{MASK}@", redact_text(text))


class LockfileError(ValueError):
    """A lock file that cannot be read; the message names the file, the line and the fix
    (with any credentials it quotes masked)."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {shown(message)}")
        self.path, self.line, self.message = path, line, message


@dataclass(frozen=True, slots=True)
class Package:
    """One pinned package: where it is written (1-based line, best effort) and how the project
    reaches it (``direct``: the project itself asks for it; ``dev``: only development
    dependencies lead to it)."""

    ecosystem: Ecosystem
    name: str
    version: str
    file: Path
    line: int | None
    direct: bool
    dev: bool
    location: str = ""  # npm's install location (node_modules/a/node_modules/b), if known


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A dependency that was seen but not checked, and why (not pinned, a git or path
    source, a version the ecosystem's rules do not accept)."""

    file: Path
    line: int | None
    name: str
    spec: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return shown(f"{where}: {self.name} {self.spec} ({self.reason})")


@dataclass(slots=True)
class Parsed:
    packages: list[Package] = field(default_factory=list)
    unchecked: list[Unchecked] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # files read (a requirements -r include)


N = TypeVar("N")


def reachable(graph: Mapping[N, Iterable[N]], roots: Iterable[N]) -> set[N]:
    """Every node reachable from ``roots`` (roots included), breadth first."""
    seen: set[N] = set()
    queue = deque(r for r in roots if r in graph)
    seen.update(queue)
    while queue:
        node = queue.popleft()
        for nxt in graph.get(node, ()):
            if nxt not in seen and nxt in graph:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def dev_only(
    graph: Mapping[N, Iterable[N]], prod_roots: Iterable[N], dev_roots: Iterable[N]
) -> set[N]:
    """Nodes that only development dependencies lead to — npm's and pnpm's meaning of
    ``dev: true`` (reachable from a dev root, not from any production root)."""
    from_dev: set[N] = reachable(graph, dev_roots)
    from_prod: set[N] = reachable(graph, prod_roots)
    return from_dev - from_prod
