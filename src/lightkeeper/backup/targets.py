"""Where backups are kept: a local directory here, an S3-compatible bucket in
:mod:`~lightkeeper.backup.s3`, both behind the :class:`Target` protocol.

A backup becomes visible only once its manifest is in place (a directory rename, or the
manifest uploaded after every file), so an interrupted run — even kill -9 — leaves at most an
unlisted leftover that ``sweep()`` removes. Listing and retention read manifests alone, and a
target never sees a decryption key.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Protocol

from lightkeeper.backup.artifact import TEMP_PREFIX, fsync_dir, sweepable, write_failure
from lightkeeper.backup.errors import BackupError
from lightkeeper.backup.manifest import MANIFEST, Manifest, is_backup_id, load_manifest

log = logging.getLogger(__name__)

DEFAULT_STAGING = Path(tempfile.gettempdir()) / "lightkeeper-staging"


class Target(Protocol):
    name: str

    def publish(self, staging: Path, manifest: Manifest) -> None:
        """Make a finished staging a listed backup, atomically; the staging is consumed."""

    def list(self, job: str | None = None) -> list[Manifest]:
        """Complete backups (manifest present and readable), newest first."""

    def fetch(self, backup_id: str, job: str, dest: Path) -> Path:
        """A local directory holding the backup's files and manifest."""

    def delete(self, backup_id: str, job: str) -> None:
        """Remove a backup, manifest first so a half-deleted one is never listed."""

    def sweep(self, older_than: float) -> int:
        """Remove leftovers of interrupted runs idle for ``older_than`` seconds; how many."""


def staging_root(target: Target, job: str) -> Path:
    """Where a :class:`~lightkeeper.backup.artifact.Staging` for ``job`` should live: beside
    the backups for a local target (so publishing is a rename), a local temp dir otherwise."""
    if isinstance(target, LocalTarget):
        return target.path / job
    return getattr(target, "staging_dir", DEFAULT_STAGING) / job


def newest_first(manifests: list[Manifest]) -> list[Manifest]:
    """What ``list()`` returns: newest first, ties broken by id."""
    return sorted(manifests, key=lambda m: (m.started, m.id), reverse=True)


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BackupError(f"cannot list {path}: {exc.strerror}") from exc


def sweep_staging(root: Path, older_than: float, now: float, published: bool) -> int:
    """Remove ``root/<job>/.tmp-<id>`` left by dead runs, and with ``published`` also
    ``root/<job>/<id>`` without a manifest (a delete that was interrupted)."""
    removed = 0
    for job_dir in _subdirs(root):
        for path in _subdirs(job_dir):
            leftover = path.name.removeprefix(TEMP_PREFIX)
            staged = leftover != path.name
            if not is_backup_id(leftover, job_dir.name) or job_dir.name.startswith("."):
                continue
            if not staged and (not published or (path / MANIFEST).exists()):
                continue
            if sweepable(path, older_than, now):
                shutil.rmtree(path, ignore_errors=True)
                log.info("swept %s, left by an interrupted backup", path)
                removed += 1
    return removed


class LocalTarget:
    """Backups in ``path/<job>/<backup_id>/{files…, manifest.json}``."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = Path(path)

    def publish(self, staging: Path, manifest: Manifest) -> None:
        job_dir = self.path / manifest.job
        final = job_dir / manifest.id
        if not (staging / MANIFEST).is_file():
            raise BackupError(f"{staging} has no {MANIFEST}: call Staging.finish() first")
        if staging.name != f"{TEMP_PREFIX}{manifest.id}" or staging.parent.resolve() != (
            job_dir.resolve()
        ):
            raise BackupError(f"{staging} is not staged for {final}: use staging_root()")
        try:
            # One rename on one filesystem: the backup appears whole, with its manifest, or not.
            os.rename(staging, final)
            fsync_dir(job_dir)
        except OSError as exc:
            if final.exists():
                raise BackupError(f"{final} already exists: backup ids must be new") from exc
            raise write_failure(exc, manifest.id, job_dir) from exc

    def list(self, job: str | None = None) -> list[Manifest]:
        jobs = [self.path / job] if job else [d for d in _subdirs(self.path) if d.name[0] != "."]
        found = []
        for job_dir in jobs:
            for path in _subdirs(job_dir):
                if path.name.startswith(".") or not (path / MANIFEST).exists():
                    continue  # being staged, half-deleted, or not a backup
                try:
                    manifest = load_manifest(path)
                except BackupError as exc:
                    log.warning("not listing %s: %s", path, exc)
                    continue
                if (manifest.job, manifest.id) == (job_dir.name, path.name):
                    found.append(manifest)
                else:
                    log.warning("not listing %s: its manifest is for %s", path, manifest.id)
        return newest_first(found)

    def fetch(self, backup_id: str, job: str, dest: Path) -> Path:
        """The backup's own directory (``dest`` is not used): read it, never change it."""
        path = self.path / job / backup_id
        if not (path / MANIFEST).is_file():
            raise BackupError(f"no complete backup {backup_id} of job {job} in {self.path}")
        return path

    def delete(self, backup_id: str, job: str) -> None:
        path = self.path / job / backup_id
        if not path.is_dir():
            raise BackupError(f"no backup {backup_id} of job {job} in {self.path}")
        try:
            (path / MANIFEST).unlink(missing_ok=True)
            shutil.rmtree(path)
        except OSError as exc:  # unlisted already; sweep() finishes the job
            raise BackupError(f"cannot delete {path}: {exc.strerror}") from exc

    def sweep(self, older_than: float, now: float | None = None) -> int:
        return sweep_staging(self.path, older_than, time.time() if now is None else now, True)
