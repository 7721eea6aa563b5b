"""The `lightkeeper audit headers` command as a plain function the CLI wraps.

Exit codes: 0 when the grade is at least ``min_grade`` and no finding is at or above
``fail_on``; 1 otherwise; 2 when the site cannot be reached or scored at all; 3 for a usage
error. Defaults: ``min_grade`` B (a score of 70: the Observatory's "B" starts there and a
missing CSP alone already costs 25) and ``fail_on`` high (a single −25 or worse problem, or
credentialed CORS echo, fails the run even on a good grade).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from lightkeeper.audit.findings import Report, Severity
from lightkeeper.audit.headers import HeaderAuditError, HeaderOptions, audit_headers_sync
from lightkeeper.audit.headers.grade import TEST_TITLES, grade_rank
from lightkeeper.audit.output import FORMATS, Format, write

DEFAULT_MIN_GRADE = "B"
DEFAULT_FAIL_ON = "high"


def audit_headers_command(
    url: str,
    fmt: str = "text",
    output: Path | None = None,
    fail_on: str | None = DEFAULT_FAIL_ON,
    min_grade: str | None = DEFAULT_MIN_GRADE,
    http_port: int | None = None,
    https_port: int | None = None,
    ca_file: Path | None = None,
    timeout: float = 10.0,
    stream: TextIO = sys.stdout,
    errors: TextIO = sys.stderr,
) -> int:
    """Scan, write the report (text, json or sarif, to ``output`` or ``stream``) and return
    the exit code. ``fail_on``/``min_grade`` None switch that condition off."""
    try:
        if fmt not in FORMATS:
            raise HeaderAuditError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}", usage=True)
        threshold = Severity.parse(fail_on) if fail_on else None
        rank = grade_rank(min_grade) if min_grade else None
        if ca_file is not None and not ca_file.is_file():
            raise HeaderAuditError(f"--ca-file {ca_file}: no such file", usage=True)
        options = HeaderOptions(http_port, https_port, ca_file, timeout)
        report = audit_headers_sync(url, options)
    except HeaderAuditError as exc:
        errors.write(f"error: {exc}\n")
        return 3 if exc.usage else 2
    except ValueError as exc:  # Severity.parse / grade_rank name the bad value and choices
        errors.write(f"error: {exc}\n")
        return 3
    form: Format = fmt
    if form == "text":
        body = render_text(report)
        if output is None:
            stream.write(body)
        else:
            output.write_text(body, encoding="utf-8")
    else:
        write(report, form, output, stream)
    return exit_code(report, threshold, rank)


def exit_code(report: Report, fail_on: Severity | None, min_rank: int | None) -> int:
    if fail_on is not None and report.failed(fail_on):
        return 1
    if min_rank is not None and grade_rank(report.summary["grade"]) > min_rank:
        return 1
    return 0


def render_text(report: Report) -> str:
    """A table per test (pass, result, modifier, why), the score line, then the fixes and
    the extra findings."""
    s = report.summary
    lines = [
        f"Security headers of {s['url']} (page scored: {s['page_url']}; Observatory algorithm "
        f"{s['algorithm_version']})",
        "",
    ]
    width = max(len(t["result"]) for t in s["tests"])
    for t in s["tests"]:
        mark = "pass" if t["pass"] else "FAIL"
        lines.append(f"  {mark}  {t['result']:<{width}}  {t['score_modifier']:+4d}  {t['why']}")
    bonus = "counted" if s["bonus_counted"] else "not counted (score without them is below 90)"
    lines += [
        "",
        f"Score {s['score']}/100, grade {s['grade']} "
        f"({s['tests_passed']}/10 tests passed; bonus +{s['bonus']} {bonus})",
    ]
    fixes = [t for t in s["tests"] if not t["pass"] or t["score_modifier"] < 0]
    if fixes:
        lines += ["", "How to fix:"]
        lines += [f"  - {TEST_TITLES[t['name']]}: {t['fix']}" for t in fixes]
    extra = [f for f in report.findings if not f.rule.startswith("observatory/")]
    if extra:
        lines += ["", "Also (not part of the score):"]
        for f in extra:
            lines.append(f"  - {f.severity.label}: {f.message}")
            if f.fix:
                lines.append(f"    fix: {f.fix}")
    if fixes or extra:
        lines += ["", "The reference platform's headers, for next.config.ts:", ""]
        lines += ["  " + line for line in s["next_config_snippet"].splitlines()]
    return "\n".join(lines) + "\n"
