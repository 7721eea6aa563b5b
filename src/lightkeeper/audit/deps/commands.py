"""`lightkeeper audit deps [PATH]` as a plain function the CLI wraps: arguments in, report
out (text, JSON or SARIF), exit code back.

Exit codes: 0 nothing at or above ``--fail-on``; 1 a finding at or above it; 2 no advisory
source (the OSV API is out of reach and no ``--osv-db`` was given); 3 a usage or input
error (bad path, corrupt lock file — the message names the file and line —, bad export or
npm audit file).

``--fail-on`` defaults to ``high``: a build fails for high and critical advisories, the
levels GitHub rates as needing prompt action, while moderate and low ones are reported
without blocking (a transitive moderate advisory with no fix would otherwise block every
build until upstream moves). ``none`` never fails; ``low`` fails on anything rated.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from lightkeeper.audit.deps import DepsError, DepsOptions, audit_deps
from lightkeeper.audit.findings import Report, Severity
from lightkeeper.audit.output import FORMATS, write

DEFAULT_FAIL_ON = "high"
NOTE_LIMIT = 20  # not-checked lines shown on stderr; all are in the JSON stats


def parse_fail_on(text: str | Severity | None) -> Severity | None:
    """'none' → None (never fail); otherwise a severity; ValueError names the choices."""
    if text is None or isinstance(text, Severity):
        return text
    if text.strip().lower() == "none":
        return None
    try:
        return Severity.parse(text)
    except ValueError:
        choices = ", ".join(["none", *(s.label for s in Severity)])
        raise ValueError(f"--fail-on {text!r}: use one of {choices}") from None


def _notes(report: Report, stderr: TextIO) -> None:
    stats = report.stats
    not_checked = stats.get("not_checked")
    if isinstance(not_checked, list) and not_checked:
        stderr.write(f"note: {len(not_checked)} dependencies not checked:\n")
        for line in not_checked[:NOTE_LIMIT]:
            stderr.write(f"  {line}\n")
        if len(not_checked) > NOTE_LIMIT:
            stderr.write(f"  … and {len(not_checked) - NOTE_LIMIT} more (see --format json)\n")
    for problem in stats.get("range_problems") or []:
        stderr.write(f"note: advisory range skipped: {problem}\n")
    lockfiles = stats.get("lockfiles") or []
    if not lockfiles:
        stderr.write(
            "note: no lock files found (package-lock.json, pnpm-lock.yaml, yarn.lock, "
            "requirements*.txt, poetry.lock, uv.lock)\n"
        )


def audit_deps_command(
    path: Path,
    fmt: str = "text",
    output: Path | None = None,
    fail_on: str | Severity | None = DEFAULT_FAIL_ON,
    osv_db: Sequence[Path] = (),
    npm_audit_json: Path | None = None,
    offline: bool = False,
    api_url: str | None = None,
    *,
    timeout: float = 10.0,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the audit and write the report; return the exit code (see the module docstring).
    ``offline`` forbids the API: it then needs ``osv_db``."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if fmt not in FORMATS:
        err.write(f"error: --format {fmt!r}: use one of {', '.join(FORMATS)}\n")
        return 3
    try:
        threshold = parse_fail_on(fail_on)
    except ValueError as exc:
        err.write(f"error: {exc}\n")
        return 3
    if offline and not osv_db:
        err.write("error: --offline needs --osv-db PATH (an OSV all.zip or a folder of OSV JSON)\n")
        return 3
    options = DepsOptions(
        osv_db=list(osv_db), api_url=api_url, npm_audit_json=npm_audit_json, timeout=timeout
    )
    try:
        report = audit_deps(path, options)
    except DepsError as exc:
        err.write(f"error: {exc}\n")
        return exc.exit_code
    try:
        write(report, fmt, output, out)
    except OSError as exc:
        err.write(f"error: cannot write {output}: {exc.strerror}\n")
        return 3
    _notes(report, err)
    if threshold is None:
        return 0
    return 1 if report.failed(threshold) else 0
