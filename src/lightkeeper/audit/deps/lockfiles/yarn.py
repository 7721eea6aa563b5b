"""Yarn's ``yarn.lock``: the classic v1 format and the YAML format of Yarn 2+ ("berry").

Classic (yarnpkg/yarn ``src/lockfile/parse.js``): ``#`` comments, indentation in steps of
two spaces, an entry per resolved package whose header lists every descriptor that resolved
to it (``"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":``), then ``version``,
``resolved``, ``integrity`` and ``dependencies:`` (``name "range"``) lines; strings may be
quoted (JSON escapes) or bare. An alias is written ``alias@npm:real@^4.2.0``.

Berry: a YAML mapping with ``__metadata``; each key is the comma-joined descriptors
(``"lodash@npm:^4.17.15, lodash@npm:^4.17.20"``), each value has ``version``, ``resolution``
(``lodash@npm:4.17.21`` — the real name before ``@npm:``), ``dependencies`` and
``linkType``. The project itself is an entry resolved with ``@workspace:``.

Direct dependencies come from the ``package.json`` beside the lock file and those of the
workspaces it lists, when there is one (dev = only ``devDependencies`` lead to it);
otherwise from berry's workspace entries, or, for classic, the entries no other entry
depends on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lightkeeper.audit.deps.lockfiles.manifest import read_package_json, workspace_manifests
from lightkeeper.audit.deps.lockfiles.model import (
    LockfileError,
    Package,
    Parsed,
    Unchecked,
    dev_only,
)
from lightkeeper.audit.deps.lockfiles.yamlfile import load_yaml
from lightkeeper.audit.deps.versions import InvalidVersion, SemVer

_FIX = "regenerate it with `yarn install`"
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^\s,:"]+(?::[^\s,"]+)*)\s*')


class _Entry:
    __slots__ = ("dependencies", "descriptors", "fields", "line")

    def __init__(self, descriptors: list[str], line: int) -> None:
        self.descriptors, self.line = descriptors, line
        self.fields: dict[str, str] = {}
        self.dependencies: dict[str, str] = {}


def _unquote(path: Path, line: int, token: str) -> str:
    if token.startswith('"'):
        try:
            value = json.loads(token)
        except json.JSONDecodeError:
            raise LockfileError(path, line, f"bad quoted string {token}; {_FIX}") from None
        return str(value)
    return token


def _descriptors(path: Path, line: int, header: str) -> list[str]:
    parts = []
    for raw in _split_commas(header):
        raw = raw.strip()
        if raw:
            parts.append(_unquote(path, line, raw))
    if not parts:
        raise LockfileError(path, line, f"an entry header names no package; {_FIX}")
    return parts


def _split_commas(text: str) -> list[str]:
    out, current, quoted = [], "", False
    for ch in text:
        if ch == '"' and not current.endswith("\\"):
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(current)
            current = ""
        else:
            current += ch
    out.append(current)
    return out


def _key_value(path: Path, line: int, body: str) -> tuple[str, str]:
    match = _TOKEN.match(body)
    if not match:
        raise LockfileError(path, line, f"cannot read {body.strip()!r}; {_FIX}")
    key = _unquote(path, line, match.group(1))
    rest = body[match.end() :].strip()
    return key, _unquote(path, line, rest) if rest else ""


def _parse_classic(path: Path, text: str) -> list[_Entry]:
    entries: list[_Entry] = []
    current: _Entry | None = None
    section: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent % 2:
            raise LockfileError(path, number, f"odd indentation (yarn uses two spaces); {_FIX}")
        if indent == 0:
            if not stripped.endswith(":"):
                raise LockfileError(path, number, f"expected an entry header ending in ':'; {_FIX}")
            current = _Entry(_descriptors(path, number, stripped[:-1]), number)
            entries.append(current)
            section = None
            continue
        if current is None:
            raise LockfileError(path, number, f"indented line before any entry; {_FIX}")
        if indent == 2:
            if stripped.endswith(":"):
                section = _unquote(path, number, stripped[:-1].strip())
                continue
            section = None
            key, value = _key_value(path, number, stripped)
            current.fields[key] = value
        elif section in ("dependencies", "optionalDependencies"):
            key, value = _key_value(path, number, stripped)
            current.dependencies[key] = value
    return entries


def _name_of(descriptor: str) -> str:
    at = descriptor.find("@", 1)
    return descriptor if at < 0 else descriptor[:at]


def _real(descriptor: str) -> str | None:
    """For ``alias@npm:real@^1``, the real package name."""
    spec = descriptor[len(_name_of(descriptor)) + 1 :]
    if spec.startswith("npm:") and "@" in spec[5:]:
        return _name_of(spec[4:])
    return None


def _classify(
    graph: dict[str, set[str]], entries: dict[str, str], folder: Path, fallback_roots: set[str]
) -> tuple[set[str], set[str]]:
    """(direct entry keys, dev-only entry keys) for entries keyed by their first descriptor;
    ``entries`` maps every descriptor to its entry key."""
    manifest = read_package_json(folder)
    if manifest is None:
        return fallback_roots, set()

    def roots(deps: dict[str, str]) -> set[str]:
        found = set()
        for name, spec in deps.items():
            for candidate in (f"{name}@{spec}", f"{name}@npm:{spec}"):
                if candidate in entries:
                    found.add(entries[candidate])
                    break
        return found

    # In a monorepo each workspace's own package.json names its direct dependencies.
    manifests = [manifest, *workspace_manifests(manifest)]
    prod = set().union(*(roots(m.prod) for m in manifests))
    dev = set().union(*(roots(m.dev) for m in manifests))
    return prod | dev, dev_only(graph, prod, dev)


def parse_yarn_lock(path: Path, text: str) -> Parsed:
    if "__metadata:" in text:
        return _parse_berry(path, text)
    entries = _parse_classic(path, text)
    by_descriptor: dict[str, str] = {}
    for entry in entries:
        for d in entry.descriptors:
            by_descriptor[d] = entry.descriptors[0]
    graph: dict[str, set[str]] = {}
    depended: set[str] = set()
    for entry in entries:
        edges = graph.setdefault(entry.descriptors[0], set())
        for name, spec in entry.dependencies.items():
            target = by_descriptor.get(f"{name}@{spec}")
            if target:
                edges.add(target)
                depended.add(target)
    fallback = {e.descriptors[0] for e in entries} - depended
    direct, dev = _classify(graph, by_descriptor, path.parent, fallback)
    out = Parsed()
    for entry in entries:
        key = entry.descriptors[0]
        name = _real(key) or _name_of(key)
        version = entry.fields.get("version", "")
        _add(out, path, entry.line, name, version, key in direct, key in dev)
    return out


def _add(
    out: Parsed, path: Path, line: int | None, name: str, version: str, direct: bool, dev: bool
) -> None:
    if not version:
        out.unchecked.append(Unchecked(path, line, name, "", "no version recorded"))
        return
    try:
        SemVer.parse(version)
    except InvalidVersion:
        out.unchecked.append(Unchecked(path, line, name, version, "not a registry version"))
        return
    out.packages.append(Package("npm", name, version, path, line, direct, dev))


def _parse_berry(path: Path, text: str) -> Parsed:
    data, lines = load_yaml(path, text, _FIX)
    if not isinstance(data, dict):
        raise LockfileError(path, 1, f"a Yarn 2+ lock file is a YAML mapping; {_FIX}")
    by_descriptor: dict[str, str] = {}
    for key in data:
        if key != "__metadata":
            for d in str(key).split(","):
                by_descriptor[d.strip()] = str(key)
    graph: dict[str, set[str]] = {}
    workspace_deps: set[str] = set()
    for key, entry in data.items():
        if key == "__metadata" or not isinstance(entry, dict):
            continue
        edges = graph.setdefault(str(key), set())
        deps = entry.get("dependencies")
        if isinstance(deps, dict):
            for name, spec in deps.items():
                target = by_descriptor.get(f"{name}@{spec}")
                if target:
                    edges.add(target)
        if "@workspace:" in str(entry.get("resolution", "")):
            workspace_deps |= edges
    direct, dev = _classify(graph, by_descriptor, path.parent, workspace_deps)
    out = Parsed()
    for key, entry in data.items():
        if key == "__metadata" or not isinstance(entry, dict):
            continue
        resolution = str(entry.get("resolution", ""))
        line = lines.get((str(key),))
        name = _name_of(resolution) if resolution else _name_of(str(key).split(",")[0])
        protocol = resolution[len(name) + 1 :].split(":", 1)[0] if resolution else "npm"
        if protocol in ("workspace", "link", "portal", "file", "exec"):
            continue  # the project itself, or a local folder: nothing from a registry
        if protocol not in ("npm", "patch"):
            version = str(entry.get("version", ""))
            out.unchecked.append(
                Unchecked(path, line, name, version, f"{protocol} source, not a registry release")
            )
            continue
        if protocol == "patch":
            # patch:lodash@npm%3A4.17.21#… — the patched package is still that release
            name = _name_of(resolution[len(name) + 7 :]) or name
        _add(
            out,
            path,
            line,
            name,
            str(entry.get("version", "")),
            str(key) in direct,
            str(key) in dev,
        )
    return out
