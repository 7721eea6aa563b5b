"""Lightkeeper's side of bench/backup.py: its config and its CLI, each command timed as a
user or a cron job would run it (a fresh `lightkeeper` process every time).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from _backup_pg import Timed, run_timed

LIGHTKEEPER = str(Path(sys.executable).with_name("lightkeeper"))
# The job per dump format; both dump the same database into the same local target.
JOBS = {"custom": "bench-fc", "directory": "bench-fd"}
# Rich prints to a pipe at 80 columns and may break a long line, so the patterns allow any
# whitespace between words.
_BACKUP_LINE = re.compile(r"backup\s+(\S+):\s+(.*?),\s+(\d+)\s+files,\s+([\d.]+)\s+s")
_OUTCOME_LINE = re.compile(r"(verify|restore)\s+(\S+):\s+ok\s+in\s+([\d.]+)\s+s")
_SCRATCH_RESTORE = re.compile(r"restored\s+into\s+a\s+scratch\s+database\s+in\s+([\d.]+)\s+s")


def config_text(workdir: Path, database_dsn: str, jobs: int) -> str:
    """The benchmark's Lightkeeper config (JSON strings are valid YAML scalars)."""
    q = json.dumps
    lines = [
        f"store: {{url: {q('sqlite:///' + str(workdir / 'lk.db'))}}}",
        "backups:",
        "  targets:",
        f"    local: {{type: local, path: {q(str(workdir / 'backups'))}}}",
        "  jobs:",
    ]
    for fmt, name in JOBS.items():
        lines += [
            f"    - name: {name}",
            "      type: postgres",
            f"      dsn: {q(database_dsn)}",
            f"      format: {fmt}",
            f"      jobs: {jobs}",
            "      target: local",
            "      verify: {after_backup: false}",
        ]
    return "\n".join(lines) + "\n"


class LightkeeperCli:
    """``lightkeeper`` with the benchmark's config; each method runs one command."""

    def __init__(self, config: Path, tmpdir: Path, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        # Its dump work directory goes under ours: the same disk as everything else, and
        # removed with it even if a run is killed half-way.
        self.env = {"TMPDIR": str(tmpdir)}

    def run(self, *args: str, config: bool = True) -> Timed:
        argv = [LIGHTKEEPER, *args] + (["--config", str(self.config)] if config else [])
        return run_timed(argv, env=self.env, timeout=self.timeout)

    def version(self) -> Timed:
        return self.run("version", config=False)

    def ready(self) -> str | None:
        """None when `lightkeeper backup --help` works; else what it printed."""
        result = self.run("backup", "--help", config=False)
        return None if result.ok else result.output()

    def backup(self, fmt: str) -> Timed:
        return self.run("backup", "run", JOBS[fmt], "--no-verify")

    def verify(self, fmt: str) -> Timed:
        return self.run("backup", "verify", "--latest", "--job", JOBS[fmt])

    def restore(self, backup_id: str, dsn: str) -> Timed:
        return self.run("restore", backup_id, "--to", dsn, "--yes")

    def list(self, fmt: str) -> tuple[Timed, list[dict[str, Any]] | None]:
        result = self.run("backup", "list", JOBS[fmt], "--json")
        try:
            listed = json.loads(result.stdout) if result.ok else None
        except ValueError:
            listed = None
        return result, listed if isinstance(listed, list) else None


def parse_backup(stdout: str) -> tuple[str, float] | None:
    """(backup id, Lightkeeper's own seconds) from `backup run`'s last line."""
    found = _BACKUP_LINE.search(stdout)
    return (found[1], float(found[4])) if found else None


def parse_outcome(stdout: str) -> float | None:
    """The seconds `verify` or `restore` printed with "ok in N s"."""
    found = _OUTCOME_LINE.search(stdout)
    return float(found[3]) if found else None


def parse_scratch_restore(stdout: str) -> float | None:
    """How long verify's restore into scratch took, from its check line."""
    found = _SCRATCH_RESTORE.search(stdout)
    return float(found[1]) if found else None


def manifest_size(manifest: dict[str, Any]) -> int | None:
    """A manifest's stored size: its ``size``, else the sum of its files' sizes."""
    if isinstance(manifest.get("size"), int):
        return int(manifest["size"])
    files = manifest.get("files")
    if isinstance(files, list) and files and all(isinstance(f, dict) for f in files):
        sizes = [f.get("size") for f in files]
        if all(isinstance(s, int) for s in sizes):
            return sum(int(s) for s in sizes if s is not None)
    return None
