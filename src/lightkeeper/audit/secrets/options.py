"""How a secret scan is run and what it leaves out, and the step from a hit to a finding
(inline marker, config allowlist, baseline) shared by the file and history scanners."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lightkeeper.audit.findings import Finding, Location, Report
from lightkeeper.audit.secrets.config import Allowlist, SecretsAllow
from lightkeeper.audit.secrets.detect import Hit
from lightkeeper.audit.secrets.preview import fingerprint
from lightkeeper.audit.secrets.rules import RULES

MAX_FILE_SIZE = 5 * 1024 * 1024
# Not the project's own content: VCS metadata, installed dependencies, tool caches.
# Build output (dist/, build/, .next/) is scanned: a secret inlined into a bundle that is
# committed or deployed has leaked just the same. Pass skip_dirs to change either.
DEFAULT_SKIP_DIRS = frozenset(
    [
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".terraform",
    ]
)
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class SecretOptions:
    """Options of one scan.

    ``baseline``: fingerprints already known (not reported). ``max_file_size``: larger
    files are skipped and counted (``skipped_large``). ``jobs``: worker processes (None:
    one per CPU); small scans run in-process. ``skip_dirs``: directory names never entered.
    ``progress``: called with (done, total) as work completes (total None when unknown).
    """

    allow: SecretsAllow = field(default_factory=SecretsAllow)
    baseline: frozenset[str] = frozenset()
    max_file_size: int = MAX_FILE_SIZE
    jobs: int | None = None
    skip_dirs: frozenset[str] = DEFAULT_SKIP_DIRS
    progress: Progress | None = None

    def workers(self) -> int:
        return max(1, self.jobs if self.jobs is not None else (os.cpu_count() or 1))


class Collector:
    """Turns hits into findings, applying inline markers and the config allowlist as they
    come; the baseline is applied last so ``--write-baseline`` sees every finding."""

    def __init__(self, options: SecretOptions) -> None:
        self.allowlist = Allowlist.of(options.allow)
        self.baseline = options.baseline
        self.findings: list[Finding] = []
        self.suppressed: Counter[str] = Counter()

    def add(
        self,
        hit: Hit,
        path: str,
        line: int,
        properties: dict[str, Any] | None = None,
        note: str = "",
    ) -> Finding | None:
        if hit.allowed:
            self.suppressed["inline"] += 1
            return None
        if self.allowlist.allows(hit.rule, path, hit.secret):
            self.suppressed["config"] += 1
            return None
        props: dict[str, Any] = {"preview": hit.preview}
        props.update(properties or {})
        finding = Finding(
            kind="secret",
            rule=hit.rule,
            severity=hit.severity,
            message=f"{hit.label} {hit.preview}{note}",
            fingerprint=fingerprint(hit.rule, hit.secret),
            location=Location(path, line, hit.column, hit.end_column),
            fix=RULES[hit.rule].help,
            properties=props,
        )
        self.findings.append(finding)
        return finding

    def report(self, stats: dict[str, Any]) -> Report:
        reported = [f for f in self.findings if f.fingerprint not in self.baseline]
        stats = {
            **stats,
            "suppressed_inline": self.suppressed["inline"],
            "suppressed_config": self.suppressed["config"],
            "suppressed_baseline": len(self.findings) - len(reported),
        }
        rules = {f.rule: RULES[f.rule] for f in reported}
        return Report(kind="secret", findings=reported, rules=rules, stats=stats)
