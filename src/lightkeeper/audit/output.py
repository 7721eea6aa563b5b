"""Writing a report as text (people), JSON (scripts) or SARIF (GitHub code scanning).

Text goes to the terminal as one line per finding, ``path:line:col: severity rule message``,
the shape editors and CI log viewers link; a summary line ends it. JSON is
:meth:`Report.as_json`; SARIF is :func:`lightkeeper.audit.sarif.to_sarif`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal, TextIO

from lightkeeper.audit.findings import Report, Severity
from lightkeeper.audit.sarif import to_sarif

Format = Literal["text", "json", "sarif"]
FORMATS: tuple[Format, ...] = ("text", "json", "sarif")
NOUNS = {
    "secret": ("secret", "secrets"),
    "header": ("header finding", "header findings"),
    "dependency": ("vulnerable dependency", "vulnerable dependencies"),
}


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif([report]), indent=2, ensure_ascii=False) + "\n"
    return text(report)


def text(report: Report) -> str:
    lines = []
    for f in report.findings:
        where = f"{_printable(str(f.location))}: " if f.location is not None else ""
        lines.append(f"{where}{f.severity.label}: [{f.rule}] {_printable(f.message)}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def _printable(text: str) -> str:
    """One finding, one line: control characters (a file named ``a\nb.py``, an escape
    sequence in a message) are shown escaped, never acted on by the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def summary(report: Report) -> str:
    counts = report.counts()
    found = ", ".join(f"{n} {s.label}" for s, n in sorted(counts.items(), reverse=True) if n)
    total = len(report.findings)
    one, many = NOUNS[report.kind]
    head = f"{total} {one if total == 1 else many}"
    return head + (f" ({found})" if found else "")


def write(report: Report, fmt: Format, output: Path | None, stream: TextIO = sys.stdout) -> None:
    """To ``output`` (written whole, then renamed into place) or to ``stream``."""
    body = render(report, fmt)
    if output is None:
        stream.write(body)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(output)


def exit_code(report: Report, fail_on: Severity) -> int:
    """0 when nothing at or above ``fail_on`` was found, else 1 (3 is kept for usage errors)."""
    return 1 if report.failed(fail_on) else 0
