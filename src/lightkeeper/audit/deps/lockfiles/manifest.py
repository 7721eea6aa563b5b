"""The ``package.json`` beside a JavaScript lock file: which dependencies the project itself
asks for, and which of them are for development only."""

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

    def all_names(self) -> set[str]:
        return set(self.prod) | set(self.dev)


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
    return Manifest(path, prod, dev)
