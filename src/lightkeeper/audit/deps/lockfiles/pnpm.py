"""pnpm's ``pnpm-lock.yaml``, lockfile versions 5.x, 6.x and 9.x.

Per pnpm's specification (pnpm/spec ``lockfile/6.0.md``, ``lockfile/9.0.md``, and
``dependency-path.md``):

- 9.x: ``packages`` maps a dependency ID ``name@version`` to facts about it; ``snapshots``
  maps a dependency path — the ID plus a peer suffix such as ``(react@18.2.0)``, nested as in
  ``button@1.0.0(react@16.0.0(react-dom@16.0.0))`` — to its resolved ``dependencies`` and
  ``optionalDependencies``; ``importers[dir].{dependencies,devDependencies,
  optionalDependencies}[name].version`` are each project's direct dependencies. There is no
  ``dev`` flag: a package is dev when only ``devDependencies`` lead to it.
- 6.x: ``packages`` keys are ``/name@version(peers)`` (or ``host/name@version`` for another
  registry) and carry ``dev: true|false`` (absent when both); a single project lists its
  direct dependencies at the top level, a workspace under ``importers``.
- 5.x: keys are ``/name/version_peers``.

Non-registry entries (``link:``, ``file:``, git, tarball URLs) are reported as not checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightkeeper.audit.deps.lockfiles.model import (
    LockfileError,
    Package,
    Parsed,
    Unchecked,
    dev_only,
)
from lightkeeper.audit.deps.lockfiles.yamlfile import load_yaml
from lightkeeper.audit.deps.versions import InvalidVersion, SemVer

_FIX = "regenerate it with `pnpm install --lockfile-only`"
_GROUPS = ("dependencies", "optionalDependencies", "devDependencies")


def _strip_peers(text: str) -> str:
    """``next@14.1.0(react@18.2.0)`` → ``next@14.1.0`` (6.x and 9.x peer suffixes)."""
    cut = text.find("(")
    return text[:cut] if cut >= 0 else text


def split_key(key: str, major: int) -> tuple[str, str]:
    """A package key of any lockfile version → (name, version)."""
    key = _strip_peers(key)
    if major < 6 and key.startswith("/"):
        name, _, version = key[1:].rpartition("/")  # 5.x: /name/version_peers, /@s/n/version
        return name, version.split("_", 1)[0]
    key = key.removeprefix("/")
    if not key.startswith("@") and "/" in key.split("@", 1)[0]:
        key = key.split("/", 1)[1]  # host/name@version: a package from another registry
    at = key.find("@", 1)
    if at < 0:
        return key, ""
    return key[:at], key[at + 1 :]


def _target(name: str, version: str, major: int) -> tuple[str, str] | None:
    """An importer's or snapshot's ``name: version`` → the (name, version) it resolves to;
    None for a workspace link or a local directory."""
    if version.startswith(("link:", "file:", "workspace:")):
        return None
    plain = _strip_peers(version)
    if major < 6 and not plain.startswith("/"):
        plain = plain.split("_", 1)[0]  # 5.x: 1.0.0_react@18.2.0
    if plain.startswith("/") or "@" in plain.lstrip("@"):
        return split_key(plain, major)  # an alias: "string-width@4.2.3" or "/string-width@4.2.3"
    return name, plain


def _dep_items(group: Any) -> list[tuple[str, str]]:
    out = []
    if isinstance(group, dict):
        for name, spec in group.items():
            if isinstance(spec, dict):
                spec = spec.get("version")
            if isinstance(name, str) and isinstance(spec, str | int | float):
                out.append((name, str(spec)))
    return out


def _non_registry(entry: Any, version: str) -> str | None:
    if isinstance(entry, dict):
        resolution = entry.get("resolution")
        if isinstance(resolution, dict):
            if resolution.get("type") in ("git", "directory"):
                return f"{resolution['type']} source, not a registry release"
            tarball = resolution.get("tarball")
            if isinstance(tarball, str) and tarball.startswith("file:"):
                return "local file source, not a registry release"
    try:
        SemVer.parse(version)
    except InvalidVersion:
        return "not a registry version"
    return None


def parse_pnpm_lock(path: Path, text: str) -> Parsed:
    data, lines = load_yaml(path, text, _FIX)
    if not isinstance(data, dict):
        raise LockfileError(path, 1, f"a pnpm-lock.yaml is a YAML mapping; {_FIX}")
    raw_version = str(data.get("lockfileVersion", "")).strip("'\"")
    try:
        major = int(float(raw_version.split(".")[0] or "x"))
    except ValueError:
        raise LockfileError(
            path,
            lines.get(("lockfileVersion",), 1),
            f"unknown lockfileVersion {raw_version!r}; {_FIX}",
        ) from None
    importers = data.get("importers")
    if not isinstance(importers, dict):
        importers = {".": {g: data.get(g) for g in _GROUPS}}
    prod_roots: set[tuple[str, str]] = set()
    dev_roots: set[tuple[str, str]] = set()
    for project in importers.values():
        if not isinstance(project, dict):
            continue
        for group in _GROUPS:
            for name, version in _dep_items(project.get(group)):
                target = _target(name, version, major)
                if target:
                    (dev_roots if group == "devDependencies" else prod_roots).add(target)

    packages = data.get("packages") or {}
    snapshots = data.get("snapshots") or {}
    if not isinstance(packages, dict) or not isinstance(snapshots, dict):
        raise LockfileError(path, lines.get(("packages",)), f"'packages' must be a mapping; {_FIX}")

    # Dependency graph over (name, version), from snapshots (9.x) or packages (5.x/6.x).
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for key, entry in (snapshots or packages).items():
        node = split_key(str(key), major)
        edges = graph.setdefault(node, set())
        if isinstance(entry, dict):
            for group in ("dependencies", "optionalDependencies"):
                for name, version in _dep_items(entry.get(group)):
                    target = _target(name, version, major)
                    if target:
                        edges.add(target)
    for key in packages:
        graph.setdefault(split_key(str(key), major), set())
    computed_dev = dev_only(graph, prod_roots, dev_roots)

    out = Parsed()
    seen: dict[tuple[str, str], int] = {}
    for key, entry in packages.items():
        name, version = split_key(str(key), major)
        if isinstance(entry, dict):
            raw_name = entry.get("name")
            name = raw_name if isinstance(raw_name, str) else name
            version = str(entry.get("version") or version)
        line = lines.get(("packages", str(key)))
        problem = _non_registry(entry, version)
        if problem:
            out.unchecked.append(Unchecked(path, line, name, version, problem))
            continue
        node = (name, version)
        direct = node in prod_roots or node in dev_roots
        if major >= 9 or not isinstance(entry, dict) or "dev" not in entry:
            dev = node in computed_dev
        else:
            dev = entry.get("dev") is True
        if node in seen:  # 6.x lists one entry per peer context: keep one, merge the flags
            index = seen[node]
            old = out.packages[index]
            out.packages[index] = Package(
                "npm", name, version, path, old.line, old.direct or direct, old.dev and dev
            )
            continue
        seen[node] = len(out.packages)
        out.packages.append(Package("npm", name, version, path, line, direct, dev))
    return out
