"""The record of what backups, verifications, drills and prunes did (``backup_runs``),
and the signals read from it: how old the newest good backup is, when one was last
verified, how the last run went, how long the last drill took."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from lightkeeper.store.tables import backup_runs

KINDS = ("backup", "verify", "drill", "prune", "restore")


@dataclass(frozen=True)
class Run:
    id: int
    job: str
    kind: str
    backup_id: str | None
    started: float
    finished: float
    ok: bool
    size: int | None
    seconds: float
    detail: dict[str, Any]


def record(
    engine: Engine,
    job: str,
    kind: str,
    started: float,
    finished: float,
    ok: bool,
    backup_id: str | None = None,
    size: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(backup_runs).values(
                job=job,
                kind=kind,
                backup_id=backup_id,
                started=started,
                finished=finished,
                ok=1 if ok else 0,
                size=size,
                seconds=max(finished - started, 0.0),
                detail=json.dumps(detail or {}, default=str),
            )
        )


def recent(engine: Engine, job: str | None = None, limit: int = 50) -> list[Run]:
    """Newest first."""
    query = select(backup_runs).order_by(backup_runs.c.finished.desc()).limit(limit)
    if job is not None:
        query = query.where(backup_runs.c.job == job)
    with engine.connect() as conn:
        return [_run(r) for r in conn.execute(query)]


def latest(engine: Engine, job: str, kind: str, ok: bool | None = None) -> Run | None:
    query = (
        select(backup_runs)
        .where(backup_runs.c.job == job, backup_runs.c.kind == kind)
        .order_by(backup_runs.c.finished.desc())
        .limit(1)
    )
    if ok is not None:
        query = query.where(backup_runs.c.ok == (1 if ok else 0))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _run(row) if row is not None else None


def verified_ids(engine: Engine, job: str) -> set[str]:
    """Backups of ``job`` whose verification passed (retention keeps the newest of them)."""
    query = select(backup_runs.c.backup_id).where(
        backup_runs.c.job == job, backup_runs.c.kind == "verify", backup_runs.c.ok == 1
    )
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(query) if r[0]}


@dataclass(frozen=True)
class JobSignals:
    """One job's figures as signals (labels {job}); None where there is nothing yet."""

    age_seconds: float | None
    last_verified_age_seconds: float | None
    last_result: float | None  # 1 the last backup run succeeded, 0 it failed
    last_verify_result: float | None  # 1 the last verification passed, 0 it failed
    rto_seconds: float | None

    def samples(self) -> Iterable[tuple[str, float]]:
        for name, value in (
            ("backup.age_seconds", self.age_seconds),
            ("backup.last_verified_age_seconds", self.last_verified_age_seconds),
            ("backup.last_result", self.last_result),
            ("backup.last_verify_result", self.last_verify_result),
            ("drill.rto_seconds", self.rto_seconds),
        ):
            if value is not None:
                yield name, value


def job_signals(engine: Engine, job: str, now: float, since_start: float) -> JobSignals:
    """``since_start``: a job that never succeeded counts its age from this moment (the
    first start of the service), so "no backup at all" also crosses the RPO."""
    good = latest(engine, job, "backup", ok=True)
    last = latest(engine, job, "backup")
    verified = latest(engine, job, "verify", ok=True)
    last_verify = latest(engine, job, "verify")
    drill = latest(engine, job, "drill")
    return JobSignals(
        age_seconds=now - (good.finished if good else since_start),
        last_verified_age_seconds=(now - verified.finished) if verified else None,
        last_result=(1.0 if last.ok else 0.0) if last else None,
        last_verify_result=(1.0 if last_verify.ok else 0.0) if last_verify else None,
        rto_seconds=drill.seconds if drill and drill.ok else None,
    )


def _run(row: Any) -> Run:
    return Run(
        id=row.id,
        job=row.job,
        kind=row.kind,
        backup_id=row.backup_id,
        started=row.started,
        finished=row.finished,
        ok=bool(row.ok),
        size=row.size,
        seconds=row.seconds,
        detail=json.loads(row.detail or "{}"),
    )
