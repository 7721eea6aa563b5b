"""Run the ten Observatory tests on a retrieval, score them, and build the audit report.

A test becomes a finding when it fails or costs points; its severity comes from the
modifier (≤ −25 high, ≤ −10 medium, else low). Passing tests are not findings but are all
listed in ``summary["tests"]``. A finding's fingerprint is sha256 of the site's origin, the
test and the result, so the same problem keeps its identity across runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lightkeeper.audit.findings import Finding, Location, Report, Rule, Severity
from lightkeeper.audit.headers import advice, checks
from lightkeeper.audit.headers.cookies import COOKIES_PASS, cookies_result
from lightkeeper.audit.headers.csp import csp_test
from lightkeeper.audit.headers.extras import Extra, extras, seed_table
from lightkeeper.audit.headers.fetch import Retrieval, Target
from lightkeeper.audit.headers.grade import (
    ALGORITHM_VERSION,
    MDN,
    RESULTS_BY_TEST,
    TEST_NAMES,
    TEST_TITLES,
    TOPIC_LINKS,
    Score,
    modifier,
    total,
)
from lightkeeper.audit.headers.page import SRI_PASS, sri_result

OBSERVATORY = "mdn/mdn-http-observatory v1.6.3"


@dataclass(frozen=True, slots=True)
class TestOutcome:
    name: str
    result: str
    passed: bool
    modifier: int


def run_tests(r: Retrieval, preloaded: Callable[[str], bool]) -> list[TestOutcome]:
    """The ten tests in the Observatory's order."""
    assert r.auto.response is not None
    headers = r.auto.response.headers
    session_https = urlsplit(r.auto.url).scheme == "https"
    csp = csp_test(
        headers.values("content-security-policy"),
        r.page.meta_csp,
        bool(headers.first("content-security-policy-report-only")),
        session_https,
    )
    hsts = checks.strict_transport_security(r, preloaded)
    cookie = cookies_result(headers.values("set-cookie"), r.auto.jar.all(), hsts[1])
    sri = (
        sri_result(r.page, r.hostname, session_https)
        if r.is_html
        else "sri-not-implemented-response-not-html"
    )
    raw: dict[str, tuple[str, bool]] = {
        "content-security-policy": (csp.result, csp.passed),
        "cookies": (cookie, cookie in COOKIES_PASS),
        "cross-origin-resource-sharing": checks.cross_origin_resource_sharing(r),
        "redirection": checks.redirection(r, preloaded),
        "referrer-policy": checks.referrer_policy(r),
        "strict-transport-security": hsts,
        "subresource-integrity": (sri, sri in SRI_PASS),
        "x-content-type-options": checks.x_content_type_options(r),
        "x-frame-options": checks.x_frame_options(r, csp.directives),
        "cross-origin-resource-policy": checks.cross_origin_resource_policy(r),
    }
    return [TestOutcome(n, raw[n][0], raw[n][1], modifier(raw[n][0])) for n in TEST_NAMES]


def severity_for(mod: int) -> Severity:
    if mod <= -25:
        return Severity.HIGH
    return Severity.MEDIUM if mod <= -10 else Severity.LOW


def fingerprint(origin: str, test: str, result: str) -> str:
    return hashlib.sha256(f"{origin}\n{test}\n{result}".encode()).hexdigest()


def _rules() -> dict[str, Rule]:
    rules = {}
    for test in TEST_NAMES:
        worst = min(modifier(r) for r in RESULTS_BY_TEST[test])
        rules[f"observatory/{test}"] = Rule(
            id=f"observatory/{test}",
            name=f"Observatory: {TEST_TITLES[test]}",
            description=f"The Mozilla HTTP Observatory's {TEST_TITLES[test]} test "
            f"({OBSERVATORY}, algorithm {ALGORITHM_VERSION}).",
            help=advice.fix(test),
            help_uri=MDN + TOPIC_LINKS[test],
            severity=severity_for(worst),
            tags=("headers", "observatory"),
        )
    return rules


_EXTRA_RULES = {
    "permissions-policy": "Permissions-Policy restricts powerful features",
    "cors-origin-echo-with-credentials": "CORS does not echo any Origin with credentials",
}


def _extra_rule(extra: Extra) -> Rule:
    title = _EXTRA_RULES.get(extra.rule) or (
        f"Seed header {extra.properties.get('header', extra.rule)}"
        if extra.rule.startswith("seed/")
        else "Redirect chain ends"
    )
    return Rule(extra.rule, title, title + ".", help=extra.fix, severity=extra.severity,
                tags=("headers", "lightkeeper"))  # fmt: skip


def build_report(
    target: Target, r: Retrieval, outcomes: list[TestOutcome], seconds: float
) -> Report:
    score: Score = total(o.modifier for o in outcomes)
    location = Location(path=target.url)
    rules = _rules()
    findings: list[Finding] = []
    tests: list[dict[str, Any]] = []
    for o in outcomes:
        why, fix = advice.why(o.result), advice.fix(o.name)
        tests.append({"name": o.name, "pass": o.passed, "result": o.result,
                      "score_modifier": o.modifier, "why": why, "fix": fix})  # fmt: skip
        if o.passed and o.modifier >= 0:
            continue
        findings.append(
            Finding(
                kind="header",
                rule=f"observatory/{o.name}",
                severity=severity_for(o.modifier),
                message=f"{TEST_TITLES[o.name]}: {o.result} ({o.modifier:+d}). {why}",
                fingerprint=fingerprint(target.origin, o.name, o.result),
                location=location,
                fix=fix,
                properties={
                    "test": o.name,
                    "result": o.result,
                    "score_modifier": o.modifier,
                    "pass": o.passed,
                },
            )
        )
    for extra in extras(r):
        rules[extra.rule] = _extra_rule(extra)
        findings.append(
            Finding(
                kind="header",
                rule=extra.rule,
                severity=extra.severity,
                message=extra.message,
                fingerprint=fingerprint(target.origin, extra.rule, extra.message),
                location=location,
                fix=extra.fix,
                properties=extra.properties,
            )
        )
    assert r.auto.response is not None
    summary: dict[str, Any] = {
        "url": target.url,
        "page_url": r.page_url,
        "origin": target.origin,
        "score": score.score,
        "grade": score.grade,
        "algorithm_version": ALGORITHM_VERSION,
        "observatory": OBSERVATORY,
        "uncurved_score": score.uncurved,
        "bonus": score.bonus,
        "bonus_counted": score.bonus_counted,
        "tests_passed": sum(o.passed for o in outcomes),
        "tests_failed": sum(not o.passed for o in outcomes),
        "tests": tests,
        "seed_headers": seed_table(r),
        "next_config_snippet": advice.NEXT_CONFIG_SNIPPET,
        "status_code": r.auto.response.status,
        "verified": r.auto.verified,
        "http": _session_summary(r.http),
        "https": _session_summary(r.https),
        "response_headers": _redacted(r.auto.response.headers.as_dict()),
    }
    stats = {"seconds": round(seconds, 3), "requests": len(r.http.history) + len(r.https.history)}
    return Report(kind="header", findings=findings, rules=rules, stats=stats, summary=summary)


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    """Response headers for the report, cookie values masked: a session cookie is a secret.
    A pair without '=' is all value (RFC 6265bis §5.6: the name is empty), so nothing of it
    is kept; the attributes after the first ';' are."""
    if "set-cookie" in headers:
        headers["set-cookie"] = "\n".join(
            _masked_cookie(line) for line in headers["set-cookie"].split("\n")
        )
    return headers


def _masked_cookie(line: str) -> str:
    pair, sep, attributes = line.partition(";")
    name = pair.split("=", 1)[0].strip() if "=" in pair else ""
    return f"{name}=…{sep}{attributes}"


def _session_summary(session: Any) -> dict[str, Any]:
    return {
        "url": session.url,
        "reached": session.response is not None,
        "verified": session.verified if session.response is not None else None,
        "error": session.error,
        "route": [{"url": h.url, "status": h.status} for h in session.history],
    }
