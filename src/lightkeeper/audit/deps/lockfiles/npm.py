"""npm's ``package-lock.json`` and ``npm-shrinkwrap.json`` (same format).

Per npm's documentation (docs/lib/content/configuring-npm/package-lock-json.md in npm/cli):
lockfileVersion 2 (npm 7–8) and 3 (npm 9+) hold a ``packages`` map from install location to
descriptor — ``""`` is the root project, ``node_modules/a/node_modules/b`` a nested copy,
a folder such as ``packages/api`` a workspace, and an entry with ``link: true`` a symlink whose
target is listed separately. Descriptors carry ``version``, ``resolved``, ``dev`` (strictly a
dev dependency), ``optional``, ``devOptional`` (dev *and* optional of a non-dev: not strictly
dev), ``inBundle`` and, for an alias (``"x": "npm:y@1"``), the real ``name``. Version 1
(npm 5–6) holds only the nested ``dependencies`` tree, which v2 keeps beside ``packages`` for
old clients; it is read only when ``packages`` is absent.

Direct dependencies are those a project (the root or a workspace) lists in its
``dependencies``, ``devDependencies``, ``optionalDependencies`` or ``peerDependencies``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lightkeeper.audit.deps.lockfiles.manifest import DEP_FIELDS, read_package_json
from lightkeeper.audit.deps.lockfiles.model import LockfileError, Package, Parsed, Unchecked
from lightkeeper.audit.deps.versions import InvalidVersion, SemVer

_KEY_LINE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"\s*:\s*\{')
_NM = "node_modules/"


def load_json(path: Path, text: str, fix: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockfileError(path, exc.lineno, f"not valid JSON ({exc.msg}); {fix}") from None


def parse_package_lock(path: Path, text: str) -> Parsed:
    data = load_json(path, text, "regenerate it with `npm install --package-lock-only`")
    if not isinstance(data, dict):
        raise LockfileError(path, 1, "a package-lock.json is a JSON object")
    packages = data.get("packages")
    if isinstance(packages, dict):
        return _parse_packages(path, text, packages)
    if packages is not None:
        raise LockfileError(path, _first_line(text, "packages"), "'packages' must be an object")
    deps = data.get("dependencies")
    if isinstance(deps, dict):
        return _parse_v1(path, text, deps)
    raise LockfileError(
        path,
        1,
        "neither 'packages' (lockfileVersion 2/3) nor 'dependencies' (lockfileVersion 1) is "
        "there; regenerate it with `npm install --package-lock-only`",
    )


def _first_line(text: str, key: str) -> int | None:
    needle = f'"{key}"'
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return number
    return None


def _key_lines(text: str) -> dict[str, int]:
    """First line of every ``"KEY": {`` in the file (package locations are unique strings)."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _KEY_LINE.match(line)
        if match:
            lines.setdefault(match.group(1), number)
    return lines


def _declared(entry: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(entry, dict):
        for fld in DEP_FIELDS:
            deps = entry.get(fld)
            if isinstance(deps, dict):
                names.update(deps)
    return names


def _split(location: str) -> tuple[str, str]:
    """``packages/api/node_modules/a/node_modules/@s/b`` → (project ``packages/api``,
    installed name ``@s/b``)."""
    project = location.split(_NM, 1)[0].rstrip("/") if not location.startswith(_NM) else ""
    return project, location.rsplit(_NM, 1)[1]


def _source_problem(entry: dict[str, Any]) -> str | None:
    resolved = entry.get("resolved")
    if isinstance(resolved, str):
        if resolved.startswith(("git+", "git:", "github:")):
            return "git source, not a registry release"
        if resolved.startswith("file:"):
            return "local file source, not a registry release"
    return None


def _parse_packages(path: Path, text: str, packages: dict[str, Any]) -> Parsed:
    lines = _key_lines(text)
    projects = {loc: _declared(entry) for loc, entry in packages.items() if _NM not in f"{loc}/"}
    out = Parsed()
    for location, entry in packages.items():
        if _NM not in location or not isinstance(entry, dict) or entry.get("link"):
            continue
        project, installed_as = _split(location)
        raw_name = entry.get("name")
        name = raw_name if isinstance(raw_name, str) else installed_as
        version = entry.get("version")
        line = lines.get(location)
        if not isinstance(version, str) or not version:
            out.unchecked.append(Unchecked(path, line, name, "", "no version recorded"))
            continue
        problem = _source_problem(entry)
        if problem:
            out.unchecked.append(Unchecked(path, line, name, version, problem))
            continue
        top_level = location == (f"{project}/" if project else "") + f"{_NM}{installed_as}"
        direct = top_level and (
            installed_as in projects.get(project, set())
            or (
                project == ""
                and any(
                    installed_as in declared and f"{ws}/{_NM}{installed_as}" not in packages
                    for ws, declared in projects.items()
                    if ws
                )
            )
        )
        out.packages.append(
            Package("npm", name, version, path, line, direct, bool(entry.get("dev")), location)
        )
    return out


def _parse_v1(path: Path, text: str, deps: dict[str, Any]) -> Parsed:
    manifest = read_package_json(path.parent)
    direct_names = manifest.all_names() if manifest else set()
    text_lines = text.splitlines()
    out = Parsed()

    def find(key: str, start: int) -> int | None:
        needle = re.compile(rf'^\s*"{re.escape(key)}"\s*:\s*\{{')
        for index in range(start, len(text_lines)):
            if needle.match(text_lines[index]):
                return index + 1
        return None

    def walk(tree: dict[str, Any], prefix: str, start: int) -> None:
        for key, entry in tree.items():
            if not isinstance(entry, dict):
                continue
            line = find(key, start)
            location = f"{prefix}{_NM}{key}"
            name, version = key, entry.get("version")
            if isinstance(version, str) and version.startswith("npm:"):
                # an alias: "npm:real-name@1.2.3"
                real, _, version = version[4:].rpartition("@")
                name = real or key
            if not isinstance(version, str) or not version:
                out.unchecked.append(Unchecked(path, line, name, "", "no version recorded"))
            else:
                try:
                    SemVer.parse(version)
                except InvalidVersion:
                    out.unchecked.append(
                        Unchecked(path, line, name, version, "not a registry version")
                    )
                else:
                    direct = not prefix and key in direct_names
                    dev = bool(entry.get("dev"))
                    out.packages.append(
                        Package("npm", name, version, path, line, direct, dev, location)
                    )
            nested = entry.get("dependencies")
            if isinstance(nested, dict):
                walk(nested, f"{location}/", (line or start + 1) - 1)

    walk(deps, "", 0)
    return out
