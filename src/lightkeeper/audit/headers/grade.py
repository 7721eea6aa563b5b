"""The Observatory's score table, extra-credit rule and grade chart (algorithm version 5).

Facts from mdn/mdn-http-observatory: ``src/grader/charts.js`` (``SCORE_TABLE``,
``GRADE_CHART``, ``MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90``), ``src/grader/grader.js``
(``getGradeForScore``) and ``src/scanner/index.js`` (how modifiers add up), read in the
npm release 1.4.8 (algorithm 4). Algorithm 5 (v1.5.0, PR #332 "un-deprecated
x-frame-options and re-score") changed one number: ``x-frame-options-sameorigin-or-deny``
went from 0 to +5, because BCD no longer calls the header deprecated and the Firefox
security team asked that the Observatory "shouldn't prefer one over the other" (issue #270).
Nothing else in this file changed up to v1.6.3 as far as its changelog and PRs show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALGORITHM_VERSION = 5
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90

# The ten tests, in the order of ALL_TESTS in src/constants.js.
TEST_NAMES: tuple[str, ...] = (
    "content-security-policy",
    "cookies",
    "cross-origin-resource-sharing",
    "redirection",
    "referrer-policy",
    "strict-transport-security",
    "subresource-integrity",
    "x-content-type-options",
    "x-frame-options",
    "cross-origin-resource-policy",
)

TEST_TITLES: dict[str, str] = {
    "content-security-policy": "Content Security Policy (CSP)",
    "cookies": "Cookies",
    "cross-origin-resource-sharing": "Cross Origin Resource Sharing (CORS)",
    "redirection": "Redirection",
    "referrer-policy": "Referrer Policy",
    "strict-transport-security": "Strict Transport Security (HSTS)",
    "subresource-integrity": "Subresource Integrity",
    "x-content-type-options": "X-Content-Type-Options",
    "x-frame-options": "X-Frame-Options",
    "cross-origin-resource-policy": "Cross Origin Resource Policy",
}

# MDN guide per test (TEST_TOPIC_LINKS in charts.js), for SARIF helpUri.
TOPIC_LINKS: dict[str, str] = {
    "content-security-policy": "Web/Security/Practical_implementation_guides/CSP",
    "cookies": "Web/Security/Practical_implementation_guides/Cookies",
    "cross-origin-resource-policy": "Web/Security/Practical_implementation_guides/CORP",
    "cross-origin-resource-sharing": "Web/Security/Practical_implementation_guides/CORS",
    "redirection": "Web/Security/Practical_implementation_guides/TLS#http_redirections",
    "referrer-policy": "Web/Security/Practical_implementation_guides/Referrer_policy",
    "strict-transport-security": (
        "Web/Security/Practical_implementation_guides/TLS#http_strict_transport_security"
    ),
    "subresource-integrity": "Web/Security/Subresource_Integrity",
    "x-content-type-options": "Web/Security/Practical_implementation_guides/MIME_types",
    "x-frame-options": "Web/Security/Practical_implementation_guides/Clickjacking",
}
MDN = "https://developer.mozilla.org/en-US/docs/"

# result name → score modifier (SCORE_TABLE in charts.js, algorithm 5).
MODIFIERS: dict[str, int] = {
    # content-security-policy
    "csp-implemented-with-no-unsafe-default-src-none": 10,
    "csp-implemented-with-no-unsafe": 5,
    "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
    "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
    "csp-implemented-with-unsafe-eval": -10,
    "csp-implemented-with-unsafe-inline": -20,
    "csp-implemented-with-insecure-scheme": -20,
    "csp-header-invalid": -25,
    "csp-not-implemented": -25,
    "csp-not-implemented-but-reporting-enabled": -25,
    "csp-implemented-but-duplicate-directives": 0,
    # cookies
    "cookies-secure-with-httponly-sessions-and-samesite": 5,
    "cookies-secure-with-httponly-sessions": 0,
    "cookies-not-found": 0,
    "cookies-without-secure-flag-but-protected-by-hsts": -5,
    "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
    "cookies-without-secure-flag": -20,
    "cookies-samesite-flag-invalid": -20,
    "cookies-anticsrf-without-samesite-flag": -20,
    "cookies-session-without-httponly-flag": -30,
    "cookies-session-without-secure-flag": -40,
    # cross-origin-resource-sharing
    "cross-origin-resource-sharing-not-implemented": 0,
    "cross-origin-resource-sharing-implemented-with-public-access": 0,
    "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
    "cross-origin-resource-sharing-implemented-with-universal-access": -50,
    # redirection
    "redirection-all-redirects-preloaded": 0,
    "redirection-to-https": 0,
    "redirection-not-needed-no-http": 0,
    "redirection-off-host-from-http": -5,
    "redirection-not-to-https-on-initial-redirection": -10,
    "redirection-not-to-https": -20,
    "redirection-missing": -20,
    "redirection-invalid-cert": -20,
    # referrer-policy
    "referrer-policy-private": 5,
    "referrer-policy-not-implemented": 0,
    "referrer-policy-unsafe": -5,
    "referrer-policy-header-invalid": -5,
    # strict-transport-security
    "hsts-preloaded": 5,
    "hsts-implemented-max-age-at-least-six-months": 0,
    "hsts-implemented-max-age-less-than-six-months": -10,
    "hsts-not-implemented": -20,
    "hsts-header-invalid": -20,
    "hsts-not-implemented-no-https": -20,
    "hsts-invalid-cert": -20,
    # subresource-integrity
    "sri-implemented-and-all-scripts-loaded-securely": 5,
    "sri-implemented-and-external-scripts-loaded-securely": 5,
    "sri-not-implemented-response-not-html": 0,
    "sri-not-implemented-but-no-scripts-loaded": 0,
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
    "sri-not-implemented-but-external-scripts-loaded-securely": -5,
    "sri-implemented-but-external-scripts-not-loaded-securely": -20,
    "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
    # x-content-type-options
    "x-content-type-options-nosniff": 0,
    "x-content-type-options-not-implemented": -5,
    "x-content-type-options-header-invalid": -5,
    # x-frame-options (sameorigin-or-deny: 0 → +5 in algorithm 5)
    "x-frame-options-implemented-via-csp": 5,
    "x-frame-options-sameorigin-or-deny": 5,
    "x-frame-options-allow-from-origin": 0,
    "x-frame-options-not-implemented": -20,
    "x-frame-options-header-invalid": -20,
    # cross-origin-resource-policy
    "corp-header-invalid": -5,
    "corp-implemented-with-cross-origin": 0,
    "corp-implemented-with-same-origin": 10,
    "corp-implemented-with-same-site": 10,
    "corp-not-implemented": 0,
    # generic
    "html-not-parseable": -20,
}

# GRADE_CHART: the grade of a score rounded down to a multiple of 5, capped at 100.
_GRADES: dict[int, str] = {
    100: "A+", 95: "A", 90: "A", 85: "A-", 80: "B+", 75: "B", 70: "B", 65: "B-",
    60: "C+", 55: "C", 50: "C", 45: "C-", 40: "D+", 35: "D", 30: "D", 25: "D-",
    20: "F", 15: "F", 10: "F", 5: "F", 0: "F",
}  # fmt: skip
GRADES: tuple[str, ...] = ("A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F")


_PREFIXES = {
    "content-security-policy": "csp-",
    "cookies": "cookies-",
    "cross-origin-resource-sharing": "cross-origin-resource-sharing-",
    "redirection": "redirection-",
    "referrer-policy": "referrer-policy-",
    "strict-transport-security": "hsts-",
    "subresource-integrity": "sri-",
    "x-content-type-options": "x-content-type-options-",
    "x-frame-options": "x-frame-options-",
    "cross-origin-resource-policy": "corp-",
}
# Every result each test can give (the test's possibleResults), best first.
RESULTS_BY_TEST: dict[str, tuple[str, ...]] = {
    test: tuple(r for r in MODIFIERS if r.startswith(prefix)) for test, prefix in _PREFIXES.items()
}


def modifier(result: str) -> int:
    """The score modifier of a result name (0 for a name the table does not hold, as
    ``getScoreModifier`` does)."""
    return MODIFIERS.get(result, 0)


@dataclass(frozen=True, slots=True)
class Score:
    """A finished score. ``uncurved`` is 100 plus the negative modifiers only; ``bonus``
    the positive modifiers, counted into ``score`` only when ``uncurved`` ≥ 90."""

    score: int
    grade: str
    uncurved: int
    bonus: int

    @property
    def bonus_counted(self) -> bool:
        return self.uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT


def grade_for(score: int) -> str:
    """``getGradeForScore``: floor at 0, then the chart entry for the score rounded down to
    a multiple of 5 (scores above 100 grade as 100: A+)."""
    score = max(score, 0)
    return _GRADES[min(score - score % 5, 100)]


def total(modifiers: Iterable[int]) -> Score:
    """Start at 100, add every negative modifier; if that is still ≥ 90 add the bonuses too
    (scanner/index.js: "Only record the full score if the uncurved score already receives
    an A"); then floor at 0 and grade."""
    values = list(modifiers)
    uncurved = 100 + sum(m for m in values if m < 0)
    bonus = sum(m for m in values if m > 0)
    raw = uncurved + bonus if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved
    final = max(raw, 0)
    return Score(score=final, grade=grade_for(final), uncurved=uncurved, bonus=bonus)


def grade_rank(grade: str) -> int:
    """Position of a grade from best (0, A+) to worst; ValueError for an unknown grade."""
    normalized = grade.strip().upper()
    if normalized not in GRADES:
        raise ValueError(f"unknown grade {grade!r}: use one of {', '.join(GRADES)}")
    return GRADES.index(normalized)
