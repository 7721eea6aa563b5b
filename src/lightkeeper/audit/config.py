"""What the ``audits:`` section of the config says: the secret-scan allowlist, and audit jobs
that ``lightkeeper up`` runs on a schedule, whose results become the signal ``audit.findings``.

Example (YAML)::

    audits:
      allow:                          # also read by `lightkeeper scan secrets`
        paths: ["tests/fixtures/**"]
        rules: [jwt]
        patterns: ["^sk_test_"]
      jobs:
        - name: repo-secrets
          type: secrets
          path: /srv/app              # relative paths are read from this file's directory
          schedule: "0 4 * * *"
        - name: site-headers
          type: headers
          url: https://learnwithavi.com
          schedule: "*/30 * * * *"
        - name: app-deps
          type: deps
          path: /srv/app
          osv_db: [/var/lib/osv]      # offline OSV exports; without it the OSV API is asked
          schedule: "0 5 * * *"

Every job also runs once shortly after start, so its signals exist (and an alert on them
stays firing) across a restart.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Literal

from pydantic import Field

from lightkeeper.audit.secrets.config import SecretsAllow
from lightkeeper.cron import CronSchedule
from lightkeeper.durations import Duration
from lightkeeper.probes.base import StrictModel
from lightkeeper.zones import TimeZoneName


class AuditJobBase(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="A short slug.")
    schedule: CronSchedule = Field("0 4 * * *", description="Cron, read in tz.")
    tz: TimeZoneName = "UTC"
    timeout: Duration = Field(600.0, gt=0, description="How long one run may take.")


class SecretsAuditJob(AuditJobBase):
    type: Literal["secrets"]
    path: str = Field(description="A directory (a git repository for history: true).")
    history: bool = Field(False, description="Scan every commit of every branch, not the tree.")
    baseline: str | None = Field(None, description="A baseline file: report only new secrets.")


class HeadersAuditJob(AuditJobBase):
    type: Literal["headers"]
    url: str = Field(pattern=r"^https?://", description="The site, e.g. https://example.com.")
    ca_file: str | None = Field(None, description="A private CA to trust (PEM).")
    http_port: int | None = Field(None, ge=1, le=65535, description="Port for http:// (80).")
    https_port: int | None = Field(None, ge=1, le=65535, description="Port for https:// (443).")


class DepsAuditJob(AuditJobBase):
    type: Literal["deps"]
    path: str = Field(description="A lock file or a directory holding lock files.")
    osv_db: list[str] = Field(
        default_factory=list,
        description="Offline OSV exports (all.zip or directories of OSV JSON); "
        "none: the OSV API is asked.",
    )
    npm_audit_json: str | None = Field(None, description="`npm audit --json` output to fold in.")


AuditJob = Annotated[SecretsAuditJob | HeadersAuditJob | DepsAuditJob, Field(discriminator="type")]
KIND = {"secrets": "secret", "headers": "header", "deps": "dependency"}


class AuditsConfig(StrictModel):
    allow: SecretsAllow = Field(
        default_factory=SecretsAllow,
        description="What the secret scan never reports: paths, rules, patterns.",
    )
    jobs: list[AuditJob] = Field(default_factory=list)

    def job(self, name: str) -> SecretsAuditJob | HeadersAuditJob | DepsAuditJob | None:
        return next((j for j in self.jobs if j.name == name), None)

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        found: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        for i, job in enumerate(self.jobs):
            if job.name in seen:
                found.append((("audits", "jobs", i, "name"), f"duplicate audit name {job.name!r}"))
            seen.add(job.name)
        return found

    def relative_to(self, base: FsPath) -> AuditsConfig:
        """Paths in jobs read from ``base`` (the config file's directory), not from
        wherever `lightkeeper up` happens to be started."""

        def fix(path: str | None) -> str | None:
            return None if path is None else str((base / path).resolve())

        jobs: list[AuditJob] = []
        for job in self.jobs:
            if isinstance(job, SecretsAuditJob):
                job = job.model_copy(update={"path": fix(job.path), "baseline": fix(job.baseline)})
            elif isinstance(job, DepsAuditJob):
                update = {
                    "path": fix(job.path),
                    "osv_db": [fix(p) for p in job.osv_db],
                    "npm_audit_json": fix(job.npm_audit_json),
                }
                job = job.model_copy(update=update)
            elif job.ca_file is not None:
                job = job.model_copy(update={"ca_file": fix(job.ca_file)})
            jobs.append(job)
        return self.model_copy(update={"jobs": jobs})
