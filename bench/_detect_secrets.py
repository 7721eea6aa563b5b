"""detect-secrets, the secret benchmark's anchor: its own venv, one repository-style scan.

The command is ``detect-secrets scan --all-files -n .`` run in the corpus directory:

- ``--all-files``: without it, detect-secrets scans only files that git tracks, and the
  corpus is not a git repository (``detect_secrets/core/scan.py`` ``get_files_to_scan``).
- ``-n`` (``--no-verify``): no network calls to check whether a secret is live; nothing
  leaves this machine, and Lightkeeper does not verify either.
- Default plugins (all 27 of 1.5.0) and default filters; it runs a worker per CPU
  (``SecretsCollection.scan_files``: ``multiprocessing.Pool(cpu_count())``), as
  Lightkeeper runs a worker process per CPU.

What it skips by default: files whose extension is in ``IGNORED_FILE_EXTENSIONS`` (``.css``,
``.svg``, ``.map``, ``.lock`` …) — the corpus holds none, and ``scanned_files`` asks the
installed detect-secrets itself which files it would read, to count its bytes.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from pathlib import Path

from _results import anchor_venv
from _secrets_score import ToolRun

DS_VERSION = "1.5.0"
DEFAULT_VENV = Path.home() / ".cache" / "lightkeeper-bench" / "detect-secrets-venv"

# Run with detect-secrets' own interpreter: the files its scan would read, after its
# default file filters (the extension list), as it walks them.
LIST_FILES = """
import json, os, sys
from detect_secrets.core.scan import get_files_to_scan
from detect_secrets.filters.heuristic import is_non_text_file
files = list(get_files_to_scan(".", should_scan_all_files=True))
kept = [f for f in files if not is_non_text_file(f)]
print(json.dumps({
    "walked": len(files),
    "files": len(kept),
    "bytes": sum(os.path.getsize(f) for f in kept),
    "skipped": sorted(set(files) - set(kept))[:50],
}))
"""


def ensure_venv(venv: Path, version: str = DS_VERSION) -> Path:
    """A venv with detect-secrets==version, made once and reused; returns its bin/."""
    return anchor_venv(venv, "detect-secrets", version)


def scanned_files(bin_dir: Path, root: Path) -> dict[str, object]:
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", LIST_FILES],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def scan(bin_dir: Path, root: Path, timeout: float) -> ToolRun:
    """``detect-secrets scan --all-files -n .`` in ``root``, timed as a whole command."""
    listing = scanned_files(bin_dir, root)
    cmd = [str(bin_dir / "detect-secrets"), "scan", "--all-files", "-n", "."]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=root, capture_output=True, text=True, check=False, timeout=timeout
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    notes = [
        f"walked {listing['walked']} files, skipped by extension: {listing['skipped'] or 'none'}"
    ]
    if done.returncode != 0:
        return ToolRun([], wall, cpu, 0, 0, notes, f"exit {done.returncode}: {done.stderr[-1500:]}")
    baseline = json.loads(done.stdout)
    findings = [
        (path, int(item["line_number"]), str(item["type"]))
        for path, items in baseline["results"].items()
        for item in items
    ]
    return ToolRun(
        findings, wall, cpu, int(str(listing["files"])), int(str(listing["bytes"])), notes
    )
