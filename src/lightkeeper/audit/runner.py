"""Running a configured audit job, and what its report becomes as signals.

Signals, per job (label ``audit``):
- ``audit.findings{audit, kind, severity}``: findings of each severity, zeros included, so a
  rule such as ``audit.findings{kind="dependency", severity="critical"} > 0`` resolves when
  the last one is fixed;
- ``audit.last_result{audit}``: 1 when the audit ran, 0 when it could not (unreachable site,
  unreadable path, OSV database away) — a failed run never reads as "nothing found";
- ``audit.header_score{audit}``: the Observatory score of a headers job (0-100+).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lightkeeper.audit.config import (
    AuditJob,
    AuditsConfig,
    DepsAuditJob,
    HeadersAuditJob,
    SecretsAuditJob,
)
from lightkeeper.audit.findings import Report

Sample = tuple[str, dict[str, str], float]


def run_job(job: AuditJob, audits: AuditsConfig) -> Report:
    """One run, blocking (the service calls it in a thread). Raises LightkeeperError (or
    OSError) with a readable message when the audit cannot run at all."""
    if isinstance(job, SecretsAuditJob):
        return _secrets(job, audits)
    if isinstance(job, HeadersAuditJob):
        return _headers(job)
    return _deps(job)


def _secrets(job: SecretsAuditJob, audits: AuditsConfig) -> Report:
    from lightkeeper.audit.secrets import SecretOptions, read_baseline, scan_history, scan_paths

    baseline = read_baseline(Path(job.baseline)) if job.baseline else frozenset()
    options = SecretOptions(allow=audits.allow, baseline=baseline)
    if job.history:
        return scan_history(Path(job.path), options)
    return scan_paths(Path(job.path), options)


def _headers(job: HeadersAuditJob) -> Report:
    from lightkeeper.audit.headers import HeaderOptions, audit_headers_sync

    options = HeaderOptions(
        http_port=job.http_port,
        https_port=job.https_port,
        ca_file=Path(job.ca_file) if job.ca_file else None,
        timeout=min(job.timeout, 60.0),
    )
    return audit_headers_sync(job.url, options)


def _deps(job: DepsAuditJob) -> Report:
    from lightkeeper.audit.deps import DepsOptions, audit_deps

    options = DepsOptions(
        osv_db=[Path(p) for p in job.osv_db],
        npm_audit_json=Path(job.npm_audit_json) if job.npm_audit_json else None,
    )
    return audit_deps(Path(job.path), options)


def samples(job: AuditJob, report: Report) -> Iterator[Sample]:
    labels = {"audit": job.name}
    for severity, n in report.counts().items():
        yield (
            "audit.findings",
            {**labels, "kind": report.kind, "severity": severity.label},
            float(n),
        )
    yield "audit.last_result", labels, 1.0
    score = report.summary.get("score")
    if report.kind == "header" and isinstance(score, int | float):
        yield "audit.header_score", labels, float(score)


def failed_samples(job: AuditJob) -> Iterator[Sample]:
    """A run that could not complete: the result is 0; findings keep their last values."""
    yield "audit.last_result", {"audit": job.name}, 0.0
