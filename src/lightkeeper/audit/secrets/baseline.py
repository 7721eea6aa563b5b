"""Baselines: the fingerprints of secrets already known, so a scan reports only new ones.

The file is JSON (written by ``--write-baseline``)::

    {"tool": "lightkeeper", "kind": "secret", "version": 1,
     "findings": [{"fingerprint": "9f2c…", "rule": "github-token", "path": "ci.yml", "line": 4}]}

Only ``fingerprint`` counts when reading (rule, path and line help a reviewer); a plain
list of fingerprints and a Lightkeeper JSON report (``lightkeeper scan secrets --format
json``) are accepted too. A baseline holds hashes, never secrets, so it can be committed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lightkeeper.audit.findings import Finding
from lightkeeper.errors import LightkeeperError

VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BaselineError(LightkeeperError):
    """The baseline file cannot be read or is not a baseline."""


def read_baseline(path: Path) -> frozenset[str]:
    """The fingerprints in ``path``; :class:`BaselineError` names the file and the fix."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(
            f"baseline {path} does not exist: create it with --write-baseline {path}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"baseline {path} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{path}:{exc.lineno}:{exc.colno}: baseline is not valid JSON ({exc.msg}):"
            " regenerate it with --write-baseline"
        ) from None
    entries = data.get("findings") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise BaselineError(
            f"baseline {path} has no 'findings' list: regenerate it with --write-baseline"
        )
    fingerprints: set[str] = set()
    for index, entry in enumerate(entries):
        value = entry.get("fingerprint") if isinstance(entry, dict) else entry
        if not isinstance(value, str) or not _SHA256.match(value):
            raise BaselineError(
                f"baseline {path}: findings[{index}] is not a sha256 fingerprint"
                " (64 hex characters): regenerate the file with --write-baseline"
            )
        fingerprints.add(value)
    return frozenset(fingerprints)


def write_baseline(path: Path, findings: list[Finding]) -> int:
    """Write the fingerprints of ``findings`` (once each, sorted) and return how many."""
    seen: dict[str, dict[str, Any]] = {}
    for f in findings:
        if f.fingerprint in seen:
            continue
        entry: dict[str, Any] = {"fingerprint": f.fingerprint, "rule": f.rule}
        if f.location is not None:
            entry["path"] = f.location.path
            if f.location.line is not None:
                entry["line"] = f.location.line
        if "commit" in f.properties:
            entry["commit"] = f.properties["commit"]
        seen[f.fingerprint] = entry
    body = {
        "tool": "lightkeeper",
        "kind": "secret",
        "version": VERSION,
        "findings": [seen[k] for k in sorted(seen)],
    }
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc}") from None
    return len(seen)
