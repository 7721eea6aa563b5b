"""Python project lock files in TOML: Poetry's ``poetry.lock`` and uv's ``uv.lock``.

Both list ``[[package]]`` tables with ``name`` and ``version``.

- ``poetry.lock``: dependencies of a package in ``[package.dependencies]`` (name → constraint
  or table). Lock format 2.1 (Poetry 2) records ``groups = ["main", …]`` per package, older
  files ``category = "main" | "dev"``. Direct dependencies come from the ``pyproject.toml``
  beside it: ``[tool.poetry.dependencies]`` (without ``python``),
  ``[tool.poetry.group.<g>.dependencies]`` (dev unless the group is ``main``), the old
  ``[tool.poetry.dev-dependencies]``, and PEP 621 ``[project] dependencies``; without it, the
  packages no other package depends on.
- ``uv.lock`` (uv's docs, "The lockfile"): every package has a ``source`` — ``registry``,
  ``git``, ``url``, ``path``, ``directory``, or ``editable``/``virtual`` for the project and
  its workspace members. The project's ``dependencies`` and ``optional-dependencies`` are its
  direct production dependencies, ``[package.dev-dependencies]`` its dependency groups.

A package is dev when only development dependencies lead to it. Only registry packages are
checked; git, URL and path sources are reported as not checked.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from lightkeeper.audit.deps.lockfiles.model import (
    LockfileError,
    Package,
    Parsed,
    Unchecked,
    dev_only,
)
from lightkeeper.audit.deps.versions import InvalidVersion, normalize_name, parse_pep440

_TOML_AT = re.compile(r"\(at line (\d+)")


def load_toml(path: Path, text: str, fix: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_AT.search(str(exc))
        line = int(match.group(1)) if match else None
        raise LockfileError(path, line, f"not valid TOML ({exc}); {fix}") from None


def _package_lines(text: str) -> list[int]:
    """The line of each ``[[package]]`` header, in order (tomllib keeps array order)."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "[[package]]"]


def _tables(path: Path, data: dict[str, Any], fix: str) -> list[dict[str, Any]]:
    packages = data.get("package", [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise LockfileError(path, None, f"'[[package]]' entries must be tables; {fix}")
    return packages


def _norm(name: Any) -> str:
    return normalize_name("PyPI", str(name))


def _emit(
    out: Parsed,
    path: Path,
    line: int | None,
    table: dict[str, Any],
    direct: bool,
    dev: bool,
) -> None:
    name, version = str(table.get("name", "")), str(table.get("version", ""))
    if not name or not version:
        out.unchecked.append(Unchecked(path, line, name or "?", version, "no name or version"))
        return
    try:
        parse_pep440(version)
    except InvalidVersion:
        out.unchecked.append(Unchecked(path, line, name, version, "not a PEP 440 version"))
        return
    out.packages.append(Package("PyPI", name, version, path, line, direct, dev))


def _names_of(requirements: Iterable[Any]) -> set[str]:
    names = set()
    for item in requirements:
        if isinstance(item, str):
            try:
                names.add(_norm(Requirement(item).name))
            except InvalidRequirement:
                continue
        elif isinstance(item, dict) and "name" in item:
            names.add(_norm(item["name"]))
    return names


def _table(path: Path, data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``data[k1][k2]…`` as a table (empty when absent); LockfileError naming the TOML
    key when it is something else, since guessing would misjudge direct dependencies."""
    node: Any = data
    for depth, key in enumerate(keys, 1):
        node = node.get(key, {})
        if not isinstance(node, dict):
            where = ".".join(keys[:depth])
            raise LockfileError(path, None, f"[{where}] must be a table; fix pyproject.toml")
    return dict(node)


def _list(path: Path, table: dict[str, Any], key: str, where: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise LockfileError(path, None, f"[{where}] {key} must be a list; fix pyproject.toml")
    return value


def _pyproject_roots(folder: Path) -> tuple[set[str], set[str]] | None:
    """(production, development) direct dependency names from ``pyproject.toml``."""
    path = folder / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(path, None, f"cannot be read ({exc})") from None
    data = load_toml(path, text, "fix pyproject.toml")
    prod: set[str] = set()
    dev: set[str] = set()
    project = _table(path, data, "project")
    prod |= _names_of(_list(path, project, "dependencies", "project"))
    extras = _table(path, data, "project", "optional-dependencies")
    for extra in extras:
        prod |= _names_of(_list(path, extras, extra, "project.optional-dependencies"))
    groups = _table(path, data, "dependency-groups")
    for group in groups:
        dev |= _names_of(_list(path, groups, group, "dependency-groups"))
    deps = _table(path, data, "tool", "poetry", "dependencies")
    prod |= {_norm(n) for n in deps if n != "python"}
    dev |= {_norm(n) for n in _table(path, data, "tool", "poetry", "dev-dependencies")}
    for name in _table(path, data, "tool", "poetry", "group"):
        declared = _table(path, data, "tool", "poetry", "group", name, "dependencies")
        (prod if name == "main" else dev).update(_norm(n) for n in declared)
    return prod, dev


def parse_poetry_lock(path: Path, text: str) -> Parsed:
    fix = "regenerate it with `poetry lock`"
    tables = _tables(path, load_toml(path, text, fix), fix)
    lines = _package_lines(text)
    graph = {
        _norm(t.get("name")): {_norm(d) for d in (t.get("dependencies") or {})} for t in tables
    }
    roots = _pyproject_roots(path.parent)
    prod_roots: set[str]
    dev_roots: set[str]
    if roots is None:
        depended = set().union(*graph.values()) if graph else set()
        prod_roots, dev_roots = set(graph) - depended, set()
    else:
        prod_roots, dev_roots = roots
    computed_dev = dev_only(graph, prod_roots, dev_roots)
    out = Parsed()
    for index, table in enumerate(tables):
        name = _norm(table.get("name"))
        groups = table.get("groups")
        if isinstance(groups, list) and groups:
            dev = "main" not in groups
        elif table.get("category") in ("main", "dev"):
            dev = table["category"] == "dev"
        else:
            dev = name in computed_dev
        source = table.get("source")
        line = lines[index] if index < len(lines) else None
        if isinstance(source, dict) and source.get("type") in ("git", "directory", "file", "url"):
            kind = source["type"]
            out.unchecked.append(
                Unchecked(
                    path,
                    line,
                    str(table.get("name")),
                    str(table.get("version", "")),
                    f"{kind} source, not a registry release",
                )
            )
            continue
        _emit(out, path, line, table, name in prod_roots | dev_roots, dev)
    return out


def _uv_deps(value: Any) -> set[str]:
    return {_norm(d["name"]) for d in value or [] if isinstance(d, dict) and "name" in d}


def parse_uv_lock(path: Path, text: str) -> Parsed:
    fix = "regenerate it with `uv lock`"
    tables = _tables(path, load_toml(path, text, fix), fix)
    lines = _package_lines(text)
    graph: dict[str, set[str]] = {}
    prod_roots: set[str] = set()
    dev_roots: set[str] = set()
    projects: set[int] = set()
    for index, table in enumerate(tables):
        name = _norm(table.get("name"))
        edges = graph.setdefault(name, set())
        edges |= _uv_deps(table.get("dependencies"))
        for extra in (table.get("optional-dependencies") or {}).values():
            edges |= _uv_deps(extra)
        source = table.get("source") or {}
        if isinstance(source, dict) and ("editable" in source or "virtual" in source):
            projects.add(index)
            prod_roots |= _uv_deps(table.get("dependencies"))
            for extra in (table.get("optional-dependencies") or {}).values():
                prod_roots |= _uv_deps(extra)
            for group in (table.get("dev-dependencies") or {}).values():
                dev_roots |= _uv_deps(group)
    computed_dev = dev_only(graph, prod_roots, dev_roots)
    out = Parsed()
    for index, table in enumerate(tables):
        if index in projects:
            continue
        line = lines[index] if index < len(lines) else None
        source = table.get("source") or {}
        kind = next(iter(source), "registry") if isinstance(source, dict) else "registry"
        if kind != "registry":
            out.unchecked.append(
                Unchecked(
                    path,
                    line,
                    str(table.get("name")),
                    str(table.get("version", "")),
                    f"{kind} source, not a registry release",
                )
            )
            continue
        name = _norm(table.get("name"))
        _emit(out, path, line, table, name in prod_roots | dev_roots, name in computed_dev)
    return out
