"""Finding lock files under a path and reading each with the parser for its name.

A new format is one module plus one line in :data:`PARSERS`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from lightkeeper.audit.deps.lockfiles.model import (
    LockfileError,
    Package,
    Parsed,
    Unchecked,
)
from lightkeeper.audit.deps.lockfiles.npm import parse_package_lock
from lightkeeper.audit.deps.lockfiles.pnpm import parse_pnpm_lock
from lightkeeper.audit.deps.lockfiles.pylock import parse_poetry_lock, parse_uv_lock
from lightkeeper.audit.deps.lockfiles.requirements import parse_requirements
from lightkeeper.audit.deps.lockfiles.yarn import parse_yarn_lock

__all__ = ["PARSERS", "LockfileError", "Package", "Parsed", "Unchecked", "discover", "parse"]

Parser = Callable[[Path, str], Parsed]

PARSERS: dict[str, Parser] = {
    "package-lock.json": parse_package_lock,
    "npm-shrinkwrap.json": parse_package_lock,
    "pnpm-lock.yaml": parse_pnpm_lock,
    "yarn.lock": parse_yarn_lock,
    "poetry.lock": parse_poetry_lock,
    "uv.lock": parse_uv_lock,
    "requirements*.txt": parse_requirements,
}
# Folders never holding the project's own lock files (installed trees, VCS data, venvs).
SKIP_DIRS = frozenset(
    {"node_modules", ".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".tox", ".nox"}
)
_REQUIREMENTS = re.compile(r"^requirements.*\.txt$", re.IGNORECASE)


def parser_for(path: Path) -> Parser | None:
    name = path.name
    if name in PARSERS:
        return PARSERS[name]
    if _REQUIREMENTS.match(name):
        return PARSERS["requirements*.txt"]
    return None


def supported() -> str:
    return ", ".join(PARSERS)


def discover(path: Path) -> list[Path]:
    """Lock files at ``path`` (a file, or a folder searched recursively), sorted. npm reads
    ``npm-shrinkwrap.json`` instead of ``package-lock.json`` when both are present."""
    if path.is_file():
        return [path]
    found: list[Path] = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        here = Path(folder)
        for name in sorted(files):
            candidate = here / name
            if name == "package-lock.json" and "npm-shrinkwrap.json" in files:
                continue
            if parser_for(candidate) is not None:
                found.append(candidate)
    return found


def parse(path: Path) -> Parsed:
    """Read one lock file; :class:`LockfileError` names the file and line of any problem."""
    parser = parser_for(path)
    if parser is None:
        raise LockfileError(path, None, f"not a supported lock file (supported: {supported()})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LockfileError(
            path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise LockfileError(path, None, f"cannot be read ({exc.strerror})") from None
    return parser(path, text)
