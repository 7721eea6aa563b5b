"""``lightkeeper scan secrets``: the command as a plain function the CLI wraps.

Exit codes: 0 nothing found (at or above ``fail_on``), 1 something found, 3 a usage or
input error (a message on stderr naming the problem and the fix, never a traceback).
``--write-baseline`` writes the fingerprints of everything found and exits 0.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from lightkeeper.audit.findings import Report, Severity
from lightkeeper.audit.output import FORMATS, exit_code, write
from lightkeeper.audit.secrets import baseline as baseline_file
from lightkeeper.audit.secrets.config import SecretsAllow
from lightkeeper.audit.secrets.history import scan_history
from lightkeeper.audit.secrets.options import Progress, SecretOptions
from lightkeeper.audit.secrets.scanner import scan_paths
from lightkeeper.errors import LightkeeperError

USAGE_ERROR = 3
_PREFIX = "lightkeeper scan secrets: "


def scan_secrets(
    path: Path | None = None,
    *,
    history: bool = False,
    since: str | None = None,
    fmt: str = "text",
    baseline: Path | None = None,
    write_baseline: Path | None = None,
    output: Path | None = None,
    allow: SecretsAllow | None = None,
    fail_on: Severity = Severity.INFO,
    jobs: int | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Scan ``path`` (default: the current directory) or, with ``history``/``since``, its
    git history; write the report; return the exit code. ``since`` implies ``history``.

    ``baseline``: a file of known fingerprints (only new findings are reported);
    ``write_baseline``: write the fingerprints of everything found there instead of a
    report, and return 0. ``allow`` comes from the config's ``audits.allow``."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if fmt not in FORMATS:
        err.write(f"{_PREFIX}unknown --format {fmt!r}: use one of {', '.join(FORMATS)}\n")
        return USAGE_ERROR
    if jobs is not None and jobs < 1:
        err.write(f"{_PREFIX}--jobs must be 1 or more (got {jobs})\n")
        return USAGE_ERROR
    root = path if path is not None else Path(".")
    try:
        known = (
            baseline_file.read_baseline(baseline)
            if baseline is not None and write_baseline is None
            else frozenset()
        )
        with _progress(err, "commits" if history or since else "files") as progress:
            options = SecretOptions(
                allow=allow or SecretsAllow(), baseline=known, jobs=jobs, progress=progress
            )
            report = _scan(root, options, history or since is not None, since)
        if write_baseline is not None:
            count = baseline_file.write_baseline(write_baseline, report.findings)
            err.write(f"{_PREFIX}wrote {count} fingerprint(s) to {write_baseline}\n")
            return 0
        write(report, fmt, output, stream=out)
    except LightkeeperError as exc:
        err.write(f"{_PREFIX}{exc}\n")
        return USAGE_ERROR
    except OSError as exc:
        target = output if output is not None else root
        err.write(f"{_PREFIX}cannot write or read {target}: {exc.strerror or exc}\n")
        return USAGE_ERROR
    return exit_code(report, fail_on)


def _scan(root: Path, options: SecretOptions, history: bool, since: str | None) -> Report:
    if history:
        return scan_history(root, options, since)
    return scan_paths(root, options)


@contextlib.contextmanager
def _progress(err: TextIO, unit: str) -> Iterator[Progress | None]:
    """A Rich progress bar on ``err`` when it is a terminal; nothing otherwise (CI logs
    and pipes stay clean)."""
    if not err.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(file=err)
    columns = (TextColumn(f"scanning {unit}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scan", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
