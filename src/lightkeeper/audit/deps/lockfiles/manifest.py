"""The ``package.json`` beside a JavaScript lock file: which dependencies the project itself
asks for, and which of them are for development only — its own and, in a monorepo, those
of its workspaces (npm's and Yarn's ``workspaces`` field: a list of folder globs, or Yarn
1's ``{"packages": [globs], "nohoist": [...]}``; a glob starting with ``!`` excludes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lightkeeper.audit.deps.lockfiles.model import LockfileError

# npm's package.json fields that declare dependencies (docs: configuring-npm/package-json).
DEP_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
PROD_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")


@dataclass(frozen=True, slots=True)
class Manifest:
    path: Path
    prod: dict[str, str]  # name → range, from dependencies/optional/peer
    dev: dict[str, str]  # devDependencies
    workspaces: tuple[str, ...] = ()  # folder globs, relative to the manifest's folder

    def all_names(self) -> set[str]:
        return set(self.prod) | set(self.dev)


def _workspace_globs(value: object) -> tuple[str, ...]:
    if isinstance(value, dict):
        value = value.get("packages")
    if not isinstance(value, list):
        return ()
    return tuple(g for g in value if isinstance(g, str) and g.strip())


def workspace_manifests(root: Manifest) -> list[Manifest]:
    """The manifests of ``root``'s workspaces, in folder order (each folder once; folders
    without a ``package.json`` and anything under ``node_modules`` are skipped)."""
    base = root.path.parent
    include: dict[Path, None] = {}
    exclude: set[Path] = set()
    for pattern in root.workspaces:
        negated = pattern.startswith("!")
        glob = pattern[1:] if negated else pattern
        try:
            found = [p for p in base.glob(glob.strip().rstrip("/")) if p.is_dir()]
        except ValueError:  # an absolute or otherwise unusable pattern: not a workspace
            continue
        for folder in found:
            if "node_modules" in folder.relative_to(base).parts:
                continue
            if negated:
                exclude.add(folder)
            else:
                include.setdefault(folder)
    manifests = []
    for folder in sorted(f for f in include if f not in exclude and f != base):
        manifest = read_package_json(folder)
        if manifest is not None:
            manifests.append(manifest)
    return manifests


def read_package_json(folder: Path) -> Manifest | None:
    path = folder / "package.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LockfileError(path, exc.lineno, f"not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockfileError(path, None, f"cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise LockfileError(path, 1, "a package.json is a JSON object")
    prod: dict[str, str] = {}
    dev: dict[str, str] = {}
    for fld in DEP_FIELDS:
        deps = data.get(fld)
        if not isinstance(deps, dict):
            continue
        target = dev if fld == "devDependencies" else prod
        for name, spec in deps.items():
            if isinstance(name, str):
                target[name] = spec if isinstance(spec, str) else ""
    return Manifest(path, prod, dev, _workspace_globs(data.get("workspaces")))
