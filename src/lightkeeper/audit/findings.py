"""The one shape every audit reports in: rules, findings, a report, and the exit code.

A finding never holds a whole secret: detectors put a redacted preview in ``message`` and
``properties`` and identify the secret by a fingerprint (a hash), which is what baselines
and SARIF's ``partialFingerprints`` compare.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["secret", "header", "dependency"]


class Severity(enum.IntEnum):
    """Ordered so that ``finding.severity >= fail_on`` decides the exit code."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """'high', 'HIGH', 'moderate' (GitHub's word for medium) → Severity; ValueError else."""
        name = text.strip().upper()
        name = {"MODERATE": "MEDIUM", "INFORMATIONAL": "INFO", "NONE": "INFO"}.get(name, name)
        try:
            return cls[name]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}: use one of {choices}") from None

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def sarif_level(self) -> str:
        """SARIF 2.1.0 §3.27.10 ``level``: error, warning or note."""
        if self >= Severity.HIGH:
            return "error"
        return "warning" if self >= Severity.MEDIUM else "note"

    @property
    def security_severity(self) -> str:
        """GitHub code scanning's ``security-severity`` property (a CVSS-like 0-10 score,
        which it maps back to critical > 9.0, high 7.0-8.9, medium 4.0-6.9, low 0.1-3.9)."""
        return {4: "9.5", 3: "8.0", 2: "5.5", 1: "2.0", 0: "0.0"}[int(self)]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: a file (path relative to the scanned root, 1-based line and
    column) or, for a header audit, the URL that was fetched (``path`` holds the URL)."""

    path: str
    line: int | None = None
    column: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A detector, an Observatory test or an advisory: what SARIF calls a reportingDescriptor."""

    id: str
    name: str
    description: str
    help: str = ""
    help_uri: str | None = None
    severity: Severity = Severity.MEDIUM
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem. ``fingerprint`` is stable across runs (and, for secrets, across files and
    commits holding the same secret); ``properties`` carry kind-specific detail that JSON
    and SARIF pass on (a secret's preview and commit, a package's version and fix, a header
    test's score modifier)."""

    kind: Kind
    rule: str
    severity: Severity
    message: str
    fingerprint: str
    location: Location | None = None
    fix: str = ""
    properties: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "rule": self.rule,
            "severity": self.severity.label,
            "message": self.message,
            "fingerprint": self.fingerprint,
        }
        if self.location is not None:
            data["path"] = self.location.path
            if self.location.line is not None:
                data["line"] = self.location.line
            if self.location.column is not None:
                data["column"] = self.location.column
        if self.fix:
            data["fix"] = self.fix
        data.update(self.properties)
        return data


@dataclass(slots=True)
class Report:
    """What one audit found. ``rules`` holds every rule a finding names (SARIF needs them);
    ``stats`` are figures for the summary line (files scanned, skipped, bytes, seconds);
    ``summary`` is kind-specific top-level data (a header audit's score and grade)."""

    kind: Kind
    findings: list[Finding]
    rules: dict[str, Rule]
    stats: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[Severity, int]:
        """Findings per severity, every severity present (zeros included)."""
        out = {s: 0 for s in Severity}
        for f in self.findings:
            out[f.severity] += 1
        return out

    def failed(self, fail_on: Severity) -> bool:
        """True when a finding is at or above ``fail_on``: the command then exits 1."""
        return any(f.severity >= fail_on for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        from lightkeeper import __version__

        return {
            "tool": "lightkeeper",
            "version": __version__,
            "kind": self.kind,
            **self.summary,
            "findings": [f.as_json() for f in self.findings],
            "counts": {s.label: n for s, n in self.counts().items()},
            "stats": self.stats,
        }
