"""The dependency audit (`lightkeeper audit deps [PATH]`): pinned packages from lock files,
matched against OSV advisories (the OSV API, or an offline export), optionally joined by
``npm audit --json`` output, reported as findings with a severity and an upgrade.

    report = audit_deps(Path("."), DepsOptions(osv_db=[Path("npm-all.zip")]))

Errors carry an exit code: :class:`DepsUnavailable` (2) when the OSV API cannot be reached
and no offline export was given, :class:`DepsInputError` (3) for a bad path, lock file,
export or npm audit file.
"""

from __future__ import annotations

from lightkeeper.audit.deps.audit import (
    DepsError,
    DepsInputError,
    DepsOptions,
    DepsUnavailable,
    audit_deps,
)

__all__ = ["DepsError", "DepsInputError", "DepsOptions", "DepsUnavailable", "audit_deps"]
