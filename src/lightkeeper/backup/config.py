"""What the ``backups:`` section of the config says: where backups go, and the jobs.

Example (YAML)::

    backups:
      targets:
        local: {type: local, path: /var/backups/lightkeeper}
        offsite:
          type: s3
          bucket: acme-backups
          endpoint_url: https://s3.eu-central-1.amazonaws.com
          access_key: ${S3_ACCESS_KEY}
          secret_key: ${S3_SECRET_KEY}
      jobs:
        - name: app-db
          type: postgres
          dsn: ${DATABASE_URL}
          schedule: "0 3 * * *"            # 03:00 in tz, every day
          tz: Europe/London
          target: offsite
          retention: {keep_daily: 7, keep_weekly: 4, keep_monthly: 12, tz: Europe/London}
          encrypt_to: [age1…]               # public keys; the secret one stays elsewhere
          identity: ${BACKUP_AGE_IDENTITY}  # for verify/restore; never written anywhere
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from lightkeeper.backup.retention import RetentionPolicy
from lightkeeper.cron import CronSchedule
from lightkeeper.durations import Duration
from lightkeeper.probes.base import StrictModel
from lightkeeper.zones import TimeZoneName

SEED_RETENTION = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 12}


class LocalTargetConfig(StrictModel):
    type: Literal["local"]
    path: str = Field(description="A directory; backups go to <path>/<job>/<backup id>/.")


class S3TargetConfig(StrictModel):
    type: Literal["s3"]
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = Field(None, description="For S3-compatible stores (MinIO, R2…).")
    region: str | None = None
    access_key: str | None = Field(None, description="From the environment: ${S3_ACCESS_KEY}.")
    secret_key: str | None = Field(None, description="From the environment: ${S3_SECRET_KEY}.")


TargetConfig = Annotated[LocalTargetConfig | S3TargetConfig, Field(discriminator="type")]


class VerifyConfig(StrictModel):
    after_backup: bool = Field(True, description="Verify each backup right after it is made.")
    queries: list[str] = Field(
        default_factory=list,
        description="Sanity queries run on the restored copy; each returns one true value, "
        "e.g. SELECT count(*) > 0 FROM users.",
    )
    amcheck: bool = Field(True, description="Run pg_amcheck on the restored copy if available.")


class JobBase(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="A short slug.")
    schedule: CronSchedule = Field("0 3 * * *", description="Cron, read in tz.")
    tz: TimeZoneName = "UTC"
    target: str = Field(description="A name under backups.targets.")
    retention: RetentionPolicy = Field(
        default_factory=lambda: RetentionPolicy.model_validate(SEED_RETENTION),
        description="Which backups to keep (restic's rules); default 7 daily, 4 weekly, "
        "12 monthly.",
    )
    encrypt_to: list[str] = Field(
        default_factory=list, description="age public keys (age1…) to encrypt backups to."
    )
    identity: str | None = Field(
        None,
        description="The age secret key (AGE-SECRET-KEY-1…) for verify and restore; from the "
        "environment, never stored beside the backups.",
    )
    rpo: Duration = Field(86400.0, description="Most data you accept to lose (backup age).")
    rto: Duration = Field(3600.0, description="Longest restore you accept (drills measure it).")
    timeout: Duration = Field(6 * 3600.0, description="A backup taking longer is stopped.")
    verify: VerifyConfig = Field(default_factory=VerifyConfig)

    @field_validator("encrypt_to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        for key in value:
            if not key.startswith("age1"):
                raise ValueError(
                    f"{key[:12]}… is not an age public key (age1…); "
                    "make a pair with `lightkeeper backup keygen`"
                )
        return value

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("AGE-SECRET-KEY-1"):
            raise ValueError("identity must be an age secret key (AGE-SECRET-KEY-1…)")
        return value


class PostgresJob(JobBase):
    type: Literal["postgres"]
    dsn: str = Field(description="The database to back up: ${DATABASE_URL}.")
    format: Literal["directory", "custom"] = Field(
        "directory", description="directory: parallel dump (-j); custom: one file."
    )
    jobs: int = Field(2, ge=1, le=64, description="pg_dump/pg_restore -j in directory format.")
    globals: bool = Field(False, description="Also pg_dumpall --globals-only (roles).")
    admin_dsn: str | None = Field(
        None,
        description="Where verify may create and drop scratch databases (default: the dsn's "
        "server, database postgres).",
    )


class ChromaJob(JobBase):
    type: Literal["chroma"]
    url: str = Field(description="The Chroma server, e.g. http://127.0.0.1:8000.")
    tenant: str = "default_tenant"
    database: str = "default_database"
    collections: list[str] | None = Field(None, description="Default: every collection.")
    token: str | None = Field(None, description="A bearer token, from the environment.")
    data_path: str | None = Field(
        None,
        description="The server's data directory: also copy its files, with the server "
        "stopped by stop_command and started again by start_command.",
    )
    stop_command: str | None = Field(None, description="e.g. systemctl stop chroma")
    start_command: str | None = Field(None, description="e.g. systemctl start chroma")

    @model_validator(mode="after")
    def _file_copy_stops_the_server(self) -> Self:
        if self.data_path is not None and not (self.stop_command and self.start_command):
            raise ValueError(
                "a file-level copy (data_path) needs stop_command and start_command: the "
                "files of a running Chroma server are not a consistent copy"
            )
        return self


class FilesJob(JobBase):
    type: Literal["files"]
    path: str = Field(description="A directory to back up.")


JobConfig = Annotated[PostgresJob | ChromaJob | FilesJob, Field(discriminator="type")]


class BackupsConfig(StrictModel):
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    jobs: list[JobConfig] = Field(default_factory=list)

    def job(self, name: str) -> PostgresJob | ChromaJob | FilesJob | None:
        return next((j for j in self.jobs if j.name == name), None)

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        found: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        for i, job in enumerate(self.jobs):
            if job.name in seen:
                found.append((("backups", "jobs", i, "name"), f"duplicate job name {job.name!r}"))
            seen.add(job.name)
            if job.target not in self.targets:
                known = ", ".join(sorted(self.targets)) or "none defined"
                found.append(
                    (
                        ("backups", "jobs", i, "target"),
                        f"no target {job.target!r} under backups.targets (targets: {known})",
                    )
                )
            if job.encrypt_to and job.identity is None and job.verify.after_backup:
                found.append(
                    (
                        ("backups", "jobs", i, "encrypt_to"),
                        "encrypted backups cannot be verified without the key: set identity: "
                        "${BACKUP_AGE_IDENTITY}, or verify: {after_backup: false}",
                    )
                )
        return found
