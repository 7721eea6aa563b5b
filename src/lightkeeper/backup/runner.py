"""Running the jobs: back up, verify, prune, restore, drill — each recorded with its values.

A backup is dumped into a work directory, staged under a temporary name (compressed,
encrypted, checksummed), and published with its manifest last; only then is it a backup.
Anything that fails on the way discards the staging and records the failure. A
verification fetches the backup as stored, checks every checksum, decrypts, restores into
scratch (a database or collections named so they can never be the source) and compares
with the manifest. A drill restores the newest backup of a job and measures the time
against the job's RTO.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from lightkeeper.backup import command, postgres, runs
from lightkeeper.backup.artifact import Staging, check, extract
from lightkeeper.backup.config import BackupsConfig, ChromaJob, FilesJob, PostgresJob
from lightkeeper.backup.errors import BackupError
from lightkeeper.backup.manifest import Manifest, new_backup_id
from lightkeeper.backup.retention import Backup, Decision, decide
from lightkeeper.backup.targets import LocalTarget, Target, staging_root
from lightkeeper.clock import Clock, SystemClock
from lightkeeper.redact import redact_url

log = logging.getLogger(__name__)

Job = PostgresJob | ChromaJob | FilesJob
SWEEP_AFTER = 3600.0  # seconds a leftover upload must be idle before it is removed
#: Told each phase as it starts ("dumping", "publishing", "verifying"), for a progress line.
Progress = Callable[[str], None]


@dataclass
class Outcome:
    """What a run, verification or drill found; ``ok`` and the values behind it."""

    job: str
    kind: str
    ok: bool
    backup_id: str | None = None
    seconds: float = 0.0
    size: int | None = None
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Backups:
    def __init__(
        self, config: BackupsConfig, engine: Engine | None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock or SystemClock()
        self._targets: dict[str, Target] = {}

    # lookups ---------------------------------------------------------------------------

    def job(self, name: str) -> Job:
        job = self.config.job(name)
        if job is None:
            known = ", ".join(j.name for j in self.config.jobs) or "none configured"
            raise BackupError(f"no backup job {name!r} (jobs: {known})")
        return job

    def target(self, name: str) -> Target:
        target = self._targets.get(name)
        if target is None:
            cfg = self.config.targets[name]
            if cfg.type == "local":
                target = LocalTarget(name, Path(cfg.path))
            else:
                from lightkeeper.backup.s3 import S3Target  # boto3 only when S3 is used

                target = S3Target(
                    name,
                    cfg.bucket,
                    cfg.prefix,
                    cfg.endpoint_url,
                    cfg.region,
                    cfg.access_key,
                    cfg.secret_key,
                )
            self._targets[name] = target
        return target

    def backups(self, job: Job) -> list[Manifest]:
        """The job's complete backups, newest first, from the target's manifests."""
        return self.target(job.target).list(job.name)

    def find(self, backup_id: str) -> tuple[Job, Manifest]:
        for job in self.config.jobs:
            if backup_id.startswith(job.name + "-"):
                for manifest in self.backups(job):
                    if manifest.id == backup_id:
                        return job, manifest
        raise BackupError(f"no backup {backup_id!r}; `lightkeeper backup list` shows them")

    # backing up ------------------------------------------------------------------------

    def run(
        self, name: str, verify: bool | None = None, progress: Progress | None = None
    ) -> Outcome:
        job = self.job(name)
        say = progress or (lambda _phase: None)
        started = self.clock.now()
        backup_id = new_backup_id(job.name, started)
        target = self.target(job.target)
        # What an interrupted run left (killed mid-dump, a half-finished upload) goes first;
        # a run still alive elsewhere holds a lock on its staging and is left alone.
        swept = target.sweep(older_than=SWEEP_AFTER)
        if swept:
            log.info("removed %d leftovers of interrupted %s backups", swept, job.name)
        staging = Staging(staging_root(target, job.name), backup_id, job.encrypt_to)
        try:
            # The dump goes inside the staging directory: on the same filesystem its files
            # are moved into the backup, not copied, and a killed run leaves one thing to sweep.
            work = staging.path / ".work"
            work.mkdir()
            say("dumping")
            manifest_fields = self._dump(job, work, staging)
            shutil.rmtree(work)
            say("publishing")
            manifest = Manifest(
                id=backup_id,
                job=job.name,
                kind=job.type,
                started=started,
                finished=self.clock.now(),
                files=staging.entries,
                encrypted_to=list(job.encrypt_to),
                **manifest_fields,
            )
            staging.finish(manifest)
            target.publish(staging.path, manifest)
        except BaseException as exc:
            staging.discard()
            self._record(job.name, "backup", started, False, backup_id, detail={"error": str(exc)})
            raise
        outcome = Outcome(
            job.name, "backup", True, backup_id, manifest.finished - started, manifest.size
        )
        outcome.details = {"files": len(manifest.files), "tables": len(manifest.tables)}
        self._record(job.name, "backup", started, True, backup_id, manifest.size, outcome.details)
        should_verify = job.verify.after_backup if verify is None else verify
        if should_verify:
            say("verifying")
            outcome.details["verify"] = self.verify(job.name, backup_id).ok
        return outcome

    def _dump(self, job: Job, work: Path, staging: Staging) -> dict[str, Any]:
        """Dump ``job`` into ``work`` and stage it; the manifest fields it yields."""
        if isinstance(job, PostgresJob):
            info = postgres.dump(
                job.dsn,
                work,
                format=job.format,
                jobs=job.jobs,
                globals=job.globals,
                timeout=job.timeout,
            )
            for name in info.files:
                # pg_dump compresses its own output; globals.sql is plain text.
                staging.add(work / name, name, compress=name.endswith(".sql"))
            return {
                "tool": info.tool_version,
                "server": info.server_version,
                "tables": [
                    {"schema": t.schema, "name": t.name, "rows": t.rows} for t in info.tables
                ],
                "details": {
                    "format": info.format,
                    "jobs": job.jobs,
                    "database": info.database,
                    "large_objects": info.large_objects,
                    "files": info.files,
                },
            }
        if isinstance(job, ChromaJob):
            from lightkeeper.backup import chroma  # httpx and the rest: Chroma jobs only

            dump = chroma.export(
                job.url,
                work,
                tenant=job.tenant,
                database=job.database,
                collections=job.collections,
                headers=_bearer(job.token),
            )
            for name in dump.files:
                staging.add(work / name, name, compress=True)
            if job.data_path is not None:
                _file_copy(job, staging)
            return {
                "details": {"file_copy": job.data_path is not None},
                "server": dump.server_version,
                "collections": [
                    {
                        "name": c.name,
                        "count": c.count,
                        "dimension": c.dimension,
                        "checksum": c.checksum,
                    }
                    for c in dump.collections
                ],
            }
        source = Path(job.path)
        if not source.is_dir():
            raise BackupError(f"{source} is not a directory; check backups.jobs[{job.name}].path")
        staging.add(source, "files", compress=True, keep_source=True)
        return {"details": {"path": str(source)}}

    # keeping -----------------------------------------------------------------------------

    def prune(self, name: str, dry_run: bool = False) -> list[Decision]:
        """Apply the job's retention; every backup with the rules that keep it (or none)."""
        job = self.job(name)
        verified = runs.verified_ids(self.engine, job.name) if self.engine is not None else set()
        listed = self.backups(job)
        decisions = decide(
            job.retention, [Backup(m.id, m.started, m.id in verified) for m in listed]
        )
        if dry_run:
            return decisions
        started = self.clock.now()
        deleted = [d.backup.id for d in decisions if not d.keep]
        target = self.target(job.target)
        for backup_id in deleted:
            target.delete(backup_id, job.name)
        self._record(job.name, "prune", started, True, detail={"deleted": deleted})
        return decisions

    # verifying, restoring, drilling: see recovery.py -----------------------------------

    def verify(self, name: str, backup_id: str | None = None) -> Outcome:
        from lightkeeper.backup.recovery import verify

        return verify(self, self.job(name), backup_id)

    def restore(self, backup_id: str, to: str, force: bool = False) -> Outcome:
        from lightkeeper.backup.recovery import restore

        job, manifest = self.find(backup_id)
        return restore(self, job, manifest, to, force)

    def drill(self, name: str) -> Outcome:
        from lightkeeper.backup.recovery import drill

        return drill(self, self.job(name))

    @contextmanager
    def fetched(self, job: Job, manifest: Manifest) -> Any:
        """The backup fetched, its checksums checked, decrypted and decompressed, in a
        temporary directory removed afterwards; (plain dir, checksum problems)."""
        with tempfile.TemporaryDirectory(prefix="lightkeeper-restore-") as tmp:
            local = self.target(job.target).fetch(manifest.id, job.name, Path(tmp) / "stored")
            problems = check(local, manifest)
            if problems:
                yield None, problems
                return
            if all(f.compression == "none" and not f.encrypted for f in manifest.files):
                yield local, []  # stored as is (pg_dump output) and just checked: no copy
                return
            plain = extract(local, manifest, Path(tmp) / "plain", job.identity)
            yield plain, []

    # recording -------------------------------------------------------------------------

    def _record(
        self,
        job: str,
        kind: str,
        started: float,
        ok: bool,
        backup_id: str | None = None,
        size: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        if self.engine is None:
            return
        try:
            runs.record(
                self.engine, job, kind, started, self.clock.now(), ok, backup_id, size, detail
            )
        except Exception as exc:  # the outcome stands; the record is what was lost
            log.warning("could not record the %s of %s: %s", kind, job, exc)

    def record(self, outcome: Outcome, started: float) -> None:
        detail = {"problems": outcome.problems, "checks": outcome.checks, **outcome.details}
        self._record(
            outcome.job, outcome.kind, started, outcome.ok, outcome.backup_id, outcome.size, detail
        )


def _file_copy(job: ChromaJob, staging: Staging) -> None:
    """The server's data directory as files, with the server stopped (a copy of a running
    server's files may not open: chroma#7090), and started again whatever happens."""
    assert job.data_path is not None
    assert job.stop_command is not None
    assert job.start_command is not None
    command.run(shlex.split(job.stop_command), timeout=120)
    try:
        staging.add(Path(job.data_path), "data", compress=True, keep_source=True)
    finally:
        command.run(shlex.split(job.start_command), timeout=120)
        _wait_until_up(job.url, headers=_bearer(job.token))


def _wait_until_up(url: str, headers: dict[str, str] | None, limit: float = 60.0) -> None:
    """The server answers its heartbeat again (verification reads it next)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BackupError(f"{redact_url(url)} did not come back within {limit:.0f} s of start_command")


def _bearer(token: str | None) -> dict[str, str] | None:
    return {"Authorization": f"Bearer {token}"} if token else None
