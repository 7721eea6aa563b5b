"""Getting data back: verification into scratch, restore into a target, drills against RTO.

Scratch databases and collections are named ``lk_verify_…`` / ``lk_drill_…``: a name no
source can have, so a verification can never overwrite what it checks, and the cleanup
(always, in ``finally``) can never drop anything else.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from lightkeeper.backup import chroma, chroma_verify, pg_verify, postgres
from lightkeeper.backup.config import ChromaJob, FilesJob, PostgresJob
from lightkeeper.backup.errors import BackupError
from lightkeeper.backup.manifest import Manifest
from lightkeeper.redact import redact_url

if TYPE_CHECKING:
    from lightkeeper.backup.runner import Backups, Job, Outcome


@dataclass(frozen=True)
class _Dumped:
    """What pg_verify.verify needs of a dump, as the manifest recorded it."""

    format: str
    tables: list[postgres.TableStat]
    database: str  # names the scratch database: lk_verify_<database>_…


def _outcome(job: Job, kind: str, manifest: Manifest | None) -> Outcome:
    from lightkeeper.backup.runner import Outcome

    return Outcome(job.name, kind, False, manifest.id if manifest else None)


def _pick(backups: Backups, job: Job, backup_id: str | None) -> Manifest:
    listed = backups.backups(job)
    if not listed:
        raise BackupError(f"job {job.name!r} has no complete backup yet")
    if backup_id is None:
        return listed[0]
    for manifest in listed:
        if manifest.id == backup_id:
            return manifest
    raise BackupError(f"no backup {backup_id!r} of job {job.name!r}")


def admin_dsn(job: PostgresJob) -> str:
    """Where scratch databases are created: ``admin_dsn``, else the source's server."""
    return job.admin_dsn or pg_verify.with_database(job.dsn, "postgres")


def verify(backups: Backups, job: Job, backup_id: str | None = None) -> Outcome:
    manifest = _pick(backups, job, backup_id)
    started = backups.clock.now()
    clock = time.monotonic()
    outcome = _outcome(job, "verify", manifest)
    try:
        with backups.fetched(job, manifest) as (plain, problems):
            outcome.checks.append(f"{len(manifest.files)} files: size and sha256")
            if problems:
                outcome.problems = problems
            else:
                _verify_content(job, manifest, plain, outcome)
    except BackupError as exc:
        outcome.problems.append(str(exc))
    outcome.ok = not outcome.problems
    outcome.seconds = time.monotonic() - clock
    backups.record(outcome, started)
    return outcome


def _verify_content(job: Job, manifest: Manifest, plain: Path, outcome: Outcome) -> None:
    result: pg_verify.VerifyResult | chroma_verify.VerifyResult
    if isinstance(job, PostgresJob):
        result = pg_verify.verify(
            plain,
            _Dumped(
                manifest.details.get("format", "directory"),
                [
                    postgres.TableStat(t["schema"], t["name"], int(t["rows"]))
                    for t in manifest.tables
                ],
                manifest.details.get("database", job.name),
            ),
            admin_dsn(job),
            queries=job.verify.queries,
            amcheck=job.verify.amcheck,
            jobs=job.jobs,
        )
    elif isinstance(job, ChromaJob):
        expected = [chroma.CollectionStat(**c) for c in manifest.collections]
        result = chroma_verify.verify(
            plain, expected, job.url, tenant=job.tenant, database=job.database
        )
    else:
        outcome.checks.append("files: every file decrypted and decompressed")
        return
    outcome.checks += list(result.checks)
    outcome.problems += list(result.problems)
    outcome.details["restore_seconds"] = result.restore_seconds


def restore(backups: Backups, job: Job, manifest: Manifest, to: str, force: bool) -> Outcome:
    """Restore ``manifest`` into ``to`` (a database URL, a Chroma URL or a directory)."""
    started = backups.clock.now()
    clock = time.monotonic()
    outcome = _outcome(job, "restore", manifest)
    with backups.fetched(job, manifest) as (plain, problems):
        if problems:
            raise BackupError("the backup is damaged: " + "; ".join(problems))
        _restore_into(job, manifest, plain, to, force)
    outcome.ok = True
    outcome.seconds = time.monotonic() - clock
    outcome.details["to"] = redact_url(to)
    backups.record(outcome, started)
    return outcome


def _restore_into(job: Job, manifest: Manifest, plain: Path, to: str, force: bool) -> None:
    if isinstance(job, PostgresJob):
        if not force and _has_tables(to):
            raise BackupError(
                f"{redact_url(to)} already holds tables; restore into an empty database "
                "or pass --force to restore over it"
            )
        postgres.restore(
            plain, manifest.details.get("format", "directory"), to, jobs=job.jobs, clean=force
        )
    elif isinstance(job, ChromaJob):
        chroma.restore(plain, to, tenant=job.tenant, database=job.database, force=force)
    else:
        target = Path(to)
        if target.exists() and any(target.iterdir()) and not force:
            raise BackupError(f"{target} is not empty; pass --force to restore into it")
        shutil.copytree(plain / "files", target, dirs_exist_ok=True)


def _has_tables(dsn: str) -> bool:
    env_dsn = postgres.libpq_dsn(dsn)
    try:
        with psycopg.connect(env_dsn, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')"
            ).fetchone()
    except psycopg.Error as exc:
        raise BackupError(f"cannot reach {redact_url(dsn)}: {str(exc).strip()[:200]}") from None
    return bool(row and row[0])


def drill(backups: Backups, job: Job) -> Outcome:
    """Restore the newest backup into scratch as a real recovery would, timed, against RTO."""
    manifest = _pick(backups, job, None)
    started = backups.clock.now()
    clock = time.monotonic()
    outcome = _outcome(job, "drill", manifest)
    try:
        with backups.fetched(job, manifest) as (plain, problems):
            if problems:
                outcome.problems = problems
            else:
                _drill_restore(job, manifest, plain, outcome)
    except BackupError as exc:
        outcome.problems.append(str(exc))
    outcome.seconds = time.monotonic() - clock
    outcome.details.update(rto_seconds=job.rto, took_seconds=round(outcome.seconds, 3))
    if not outcome.problems and outcome.seconds > job.rto:
        outcome.problems.append(
            f"recovery took {outcome.seconds:.0f} s, over the RTO of {job.rto:.0f} s"
        )
    outcome.ok = not outcome.problems
    backups.record(outcome, started)
    return outcome


def _drill_restore(job: Job, manifest: Manifest, plain: Path, outcome: Outcome) -> None:
    if isinstance(job, PostgresJob):
        admin = admin_dsn(job)
        name = pg_verify.scratch_name(manifest.details.get("database", job.name), "lk_drill_")
        pg_verify.create_database(admin, name)
        try:
            postgres.restore(
                plain,
                manifest.details.get("format", "directory"),
                pg_verify.with_database(admin, name),
                jobs=job.jobs,
            )
            outcome.checks.append(f"restored into scratch database {name}")
        finally:
            pg_verify.drop_database(admin, name)
    elif isinstance(job, ChromaJob):
        prefix = f"lk_drill_{int(time.time())}_"
        created = chroma.restore(
            plain, job.url, tenant=job.tenant, database=job.database, prefix=prefix
        )
        try:
            outcome.checks.append(f"restored {len(created)} collections as {prefix}*")
        finally:
            chroma.delete_collections(job.url, created, tenant=job.tenant, database=job.database)
    elif isinstance(job, FilesJob):
        outcome.checks.append("files restored into a temporary directory")
