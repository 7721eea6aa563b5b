"""Finding secrets in one text: an Aho–Corasick keyword prefilter, then only the detectors
whose keyword occurs, tried only where it occurs, then overlaps settled.

The prefilter is the technique gitleaks and trufflehog use (one pass of a multi-pattern
automaton over the lower-cased text, Aho & Corasick 1975); it is what keeps the cost of
40 detectors close to the cost of one pass over the bytes. Anchored detectors run their
regex exactly at the keyword (``Pattern.match(text, pos)``), the others in a small window
around it, so a long minified line costs no more than its keyword hits.
"""

from __future__ import annotations

import bisect
import re
import string
from collections import defaultdict
from dataclasses import dataclass

import ahocorasick  # type: ignore[import-not-found]

from lightkeeper.audit.findings import Severity
from lightkeeper.audit.secrets.assignments import dotenv_candidates
from lightkeeper.audit.secrets.base import Candidate, Context, FileKind
from lightkeeper.audit.secrets.preview import redact
from lightkeeper.audit.secrets.rules import DETECTORS, RULES

ALLOW_MARKER = "lightkeeper:allow"
# "# Your DSN here", "<- your key here", "replace with your token": the line says the value
# is an example. Only for values with no provider format to vouch for them: a prefixed,
# high-entropy token (sk-ant-…, ghp_…, sk_live_…) or a private key is real whatever the
# comment beside it says, and `api_key = "sk-…"  # put your key here` is how notebooks leak.
_EXAMPLE_LINE = re.compile(r"\byour\b[^\n]{0,40}\bhere\b|\breplace (?:this|it|with)\b", re.I)
_EXAMPLE_LINE_RULES = frozenset({"generic-secret", "dotenv", "database-url", "sentry-dsn", "jwt"})
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_NEWLINE = re.compile("\n")


def _build_automaton() -> ahocorasick.Automaton:
    by_keyword: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for index, detector in enumerate(DETECTORS):
        for keyword in detector.keywords:
            by_keyword[keyword.lower()].append((index, len(keyword)))
    automaton = ahocorasick.Automaton()
    for keyword, entries in by_keyword.items():
        automaton.add_word(keyword, tuple(entries))
    automaton.make_automaton()
    return automaton


_AUTOMATON = _build_automaton()


@dataclass(frozen=True, slots=True)
class Hit:
    """A secret found in a text, located (1-based line and columns within that text) and
    already redacted for display. ``secret`` stays inside Lightkeeper: it is fingerprinted
    and matched against allowlist patterns, never written out. ``allowed`` is True when
    the line carries an inline ``lightkeeper:allow`` marker."""

    rule: str
    secret: str
    preview: str
    label: str
    severity: Severity
    line: int
    column: int
    end_column: int
    allowed: bool


def candidates(text: str, kind: FileKind) -> list[Candidate]:
    """Every candidate the detectors accept in ``text``, overlaps settled."""
    ctx = Context(text, kind)
    found: dict[tuple[str, int, int], Candidate] = {}
    if kind.is_dotenv:
        for c in dotenv_candidates(ctx):
            found[(c.rule, c.start, c.end)] = c
    lower = text.lower()
    if len(lower) != len(text):  # a few non-ASCII letters change length when lowered
        lower = text.translate(_ASCII_LOWER)
    applies: dict[int, bool] = {}
    for end, entries in _AUTOMATON.iter(lower):
        for index, length in entries:
            detector = DETECTORS[index]
            if index not in applies:
                applies[index] = detector.scope(kind)
            if not applies[index]:
                continue
            start = end - length + 1
            if detector.anchored:
                m = detector.pattern.match(text, start)
                matches = [m] if m else []
            else:
                lo, hi = ctx.around(start, end + 1, *detector.window)
                matches = list(detector.pattern.finditer(text, lo, hi))
            for m in matches:
                c = detector.check(m, ctx)
                if c is not None:
                    found.setdefault((c.rule, c.start, c.end), c)
    return _settle(list(found.values()))


def _settle(found: list[Candidate]) -> list[Candidate]:
    """Keep the most specific candidate where several claim the same characters."""
    found.sort(key=lambda c: (-c.priority, c.start, -(c.end - c.start)))
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Candidate] = []
    for c in found:
        if any(_taken(starts, ends, s, e) for s, e in c.spans):
            continue
        kept.append(c)
        for s, e in c.spans:
            i = bisect.bisect_left(starts, s)
            starts.insert(i, s)
            ends.insert(i, e)
    kept.sort(key=lambda c: c.start)
    return kept


def _taken(starts: list[int], ends: list[int], s: int, e: int) -> bool:
    i = bisect.bisect_right(starts, s)
    if i > 0 and ends[i - 1] > s:
        return True
    return i < len(starts) and starts[i] < e


def detect(text: str, path: str) -> list[Hit]:
    """The secrets in ``text`` (the content of ``path``, relative, forward slashes)."""
    kind = FileKind.of(path, text)
    found = candidates(text, kind)
    if not found:
        return []
    line_starts: list[int] | None = None
    if len(found) > 8:
        line_starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]
    # Per line: its end, whether it reads as an example, whether it carries the marker
    # (computed once: a minified line can hold many hits and megabytes of text).
    lines: dict[int, tuple[int, bool, bool]] = {}
    hits: list[Hit] = []
    for c in found:
        if line_starts is not None:
            line = bisect.bisect_right(line_starts, c.start)
            line_start = line_starts[line - 1]
        else:
            line = text.count("\n", 0, c.start) + 1
            line_start = text.rfind("\n", 0, c.start) + 1
        if line not in lines:
            line_end = text.find("\n", c.start)
            if line_end < 0:
                line_end = len(text)
            lines[line] = (
                line_end,
                _EXAMPLE_LINE.search(text, line_start, line_end) is not None,
                text.find(ALLOW_MARKER, line_start, line_end) >= 0,
            )
        line_end, example, allowed = lines[line]
        if example and c.rule in _EXAMPLE_LINE_RULES:
            continue
        rule = RULES[c.rule]
        hits.append(
            Hit(
                rule=c.rule,
                secret=c.secret,
                preview=c.preview or redact(c.secret),
                label=c.label or rule.name,
                severity=c.severity or rule.severity,
                line=line,
                column=c.start - line_start + 1,
                end_column=min(c.end, line_end) - line_start + 1,
                allowed=allowed,
            )
        )
    return hits
