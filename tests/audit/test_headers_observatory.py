"""Every Observatory outcome that HTTP/HTTPS can produce, served by real servers on
127.0.0.1 and scanned by `audit headers`: each case states the results it expects, the
score and grade, and why (the rule from mdn/mdn-http-observatory v1.6.3, algorithm 5).

Scores follow scanner/index.js: start at 100, add the negative modifiers; only when that is
≥ 90 add the bonuses; floor at 0; grade from GRADE_CHART. The baseline site earns every
bonus it can without cookies or scripts: CSP default-src 'none' +10, Referrer-Policy +5,
X-Frame-Options via CSP frame-ancestors +5, CORP same-origin +10 = 130 (A+). Each case
changes one or two things from there.

Not producible here: cross-origin-resource-sharing-implemented-with-universal-access (the
Observatory reads the request's Origin from ``response.request.headers``, which Node's
ClientRequest lacks, so it never fires; the echo is Lightkeeper's extra finding instead) and
html-not-parseable (jsdom parses anything).

The second test runs the real Observatory 1.4.8 (algorithm 4) on the same servers and
compares every test result whose scoring algorithm 5 did not change: excluded are the CSP
and X-Frame-Options results of the case with two CSP headers (algorithm 5 splits them into
policies, PR #496) and the X-Frame-Options modifier of sameorigin-or-deny (0 → +5, PR #332),
for which the oracle's score is compared after that one re-scoring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lightkeeper.audit.findings import Report
from lightkeeper.audit.headers import HeaderOptions, audit_headers
from lightkeeper.audit.headers.grade import MODIFIERS, TEST_NAMES, total
from tests.audit import observatory_oracle
from tests.audit.header_servers import Scenario, Site, running_site, with_headers

BASE = {
    "content-security-policy": "csp-implemented-with-no-unsafe-default-src-none",
    "cookies": "cookies-not-found",
    "cross-origin-resource-sharing": "cross-origin-resource-sharing-not-implemented",
    "redirection": "redirection-to-https",
    "referrer-policy": "referrer-policy-private",
    "strict-transport-security": "hsts-implemented-max-age-at-least-six-months",
    "subresource-integrity": "sri-not-implemented-but-no-scripts-loaded",
    "x-content-type-options": "x-content-type-options-nosniff",
    "x-frame-options": "x-frame-options-implemented-via-csp",
    "cross-origin-resource-policy": "corp-implemented-with-same-origin",
}
CSP = "Content-Security-Policy"
NO_FA = ((CSP, "default-src 'none'"),)  # a CSP without frame-ancestors, so XFO shows


def page(head: str = "", body: str = "") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


@dataclass(frozen=True)
class Case:
    name: str
    reason: str
    score: int
    grade: str
    results: dict[str, str] = field(default_factory=dict)
    scenario: Scenario = field(default_factory=Scenario)

    @property
    def expected(self) -> dict[str, str]:
        return BASE | self.results


def case(name: str, reason: str, score: int, grade: str, results: dict[str, str] | None = None,
         **scenario: Any) -> Case:  # fmt: skip
    return Case(name, reason, score, grade, results or {}, Scenario(**scenario))


XFO_HEADER = {"x-frame-options": "x-frame-options-sameorigin-or-deny"}

CASES = [
    case("baseline", "no penalty; bonuses 10+5+5+10 all count", 130, "A+"),
    # --- content-security-policy ---------------------------------------------------------
    case("csp-no-unsafe", "default-src 'self' is safe but not 'none': +5 instead of +10",
         125, "A+", {"content-security-policy": "csp-implemented-with-no-unsafe"},
         headers=with_headers((CSP,), ((CSP, "default-src 'self'; frame-ancestors 'none'"),))),
    case("csp-style-inline", "'unsafe-inline' only in style-src: passes at 0, loses the +10",
         120, "A+", {"content-security-policy": "csp-implemented-with-unsafe-inline-in-style-src-only"},
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; style-src 'unsafe-inline'; "
                                             "frame-ancestors 'none'"),))),
    case("csp-passive-http", "http: img-src on an https page: passes at -10; 90 is still ≥ 90 so "
         "bonuses 5+5+10 count: 110", 110, "A+",
         {"content-security-policy": "csp-implemented-with-insecure-scheme-in-passive-content-only"},
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; img-src http://cdn.example.com; "
                                             "frame-ancestors 'none'"),))),
    case("csp-unsafe-eval", "'unsafe-eval' in script-src: -10 → 90, bonuses 20 count", 110, "A+",
         {"content-security-policy": "csp-implemented-with-unsafe-eval"},
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; script-src 'self' 'unsafe-eval'; "
                                             "frame-ancestors 'none'"),))),
    case("csp-unsafe-inline", "'unsafe-inline' in script-src: -20 → 80 < 90, no bonuses", 80, "B+",
         {"content-security-policy": "csp-implemented-with-unsafe-inline"},
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; script-src 'self' "
                                             "'unsafe-inline'; frame-ancestors 'none'"),))),
    case("csp-insecure-scheme", "http: script source on https: -20 → 80", 80, "B+",
         {"content-security-policy": "csp-implemented-with-insecure-scheme"},
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; script-src "
                                             "http://cdn.example.com; frame-ancestors 'none'"),))),
    case("csp-duplicate-directive", "default-src twice: unparsable -25; with no parsed policy XFO "
         "DENY counts (+5, ignored): 75", 75, "B",
         {"content-security-policy": "csp-header-invalid"} | XFO_HEADER,
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; default-src 'self'"),))),
    case("csp-strict-dynamic", "'strict-dynamic' without nonce/hash: invalid -25, but the policy "
         "was parsed so frame-ancestors still counts for XFO", 75, "B",
         {"content-security-policy": "csp-header-invalid"},
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; script-src 'strict-dynamic'; "
                                             "frame-ancestors 'none'"),))),
    case("csp-missing", "no CSP: -25 → 75; XFO DENY", 75, "B",
         {"content-security-policy": "csp-not-implemented"} | XFO_HEADER,
         headers=with_headers((CSP,))),
    case("csp-report-only", "Report-Only alone enforces nothing: -25", 75, "B",
         {"content-security-policy": "csp-not-implemented-but-reporting-enabled"} | XFO_HEADER,
         headers=with_headers((CSP,), (("Content-Security-Policy-Report-Only",
                                        "default-src 'none'"),))),
    case("csp-duplicate-report-uri", "a repeated report-uri is allowed but turns a pass into "
         "csp-implemented-but-duplicate-directives (0): bonuses 20", 120, "A+",
         {"content-security-policy": "csp-implemented-but-duplicate-directives"},
         headers=with_headers((CSP,), ((CSP, "default-src 'none'; frame-ancestors 'none'; "
                                             "report-uri /a; report-uri /b"),))),
    case("csp-meta", "a <meta http-equiv> policy counts like a header (+10); frame-ancestors is "
         "absent so XFO DENY counts (+5)", 130, "A+", XFO_HEADER,
         headers=with_headers((CSP,)),
         body=page("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">")),
    case("csp-meta-header-only", "frame-ancestors is ignored in <meta> (HTML spec), leaving no "
         "policy: -25", 75, "B", {"content-security-policy": "csp-not-implemented"} | XFO_HEADER,
         headers=with_headers((CSP,)),
         body=page("<meta http-equiv=\"Content-Security-Policy\" content=\"frame-ancestors 'none'\">")),
    case("csp-two-headers", "algorithm 5 splits 'default-src 'none', frame-ancestors 'none'' "
         "into two policies: default-src 'none' (+10) and frame-ancestors (XFO via CSP +5)",
         130, "A+", headers=with_headers((CSP,), ((CSP, "default-src 'none'"),
                                                 (CSP, "frame-ancestors 'none'")))),
    # --- cookies (set on the https page) -------------------------------------------------
    case("cookies-secure-samesite", "Secure, HttpOnly session, SameSite: +5", 135, "A+",
         {"cookies": "cookies-secure-with-httponly-sessions-and-samesite"},
         headers=with_headers(add=(("Set-Cookie", "sessionid=s3cr3t; Secure; HttpOnly; SameSite=Lax"),))),
    case("cookies-secure-no-samesite", "Secure + HttpOnly without SameSite: passes at 0", 130, "A+",
         {"cookies": "cookies-secure-with-httponly-sessions"},
         headers=with_headers(add=(("Set-Cookie", "sessionid=s3cr3t; Secure; HttpOnly"),))),
    case("cookies-insecure-hsts", "no Secure flag but HSTS passes: -5 → 95, bonuses 30", 125, "A+",
         {"cookies": "cookies-without-secure-flag-but-protected-by-hsts"},
         headers=with_headers(add=(("Set-Cookie", "theme=dark; SameSite=Lax"),))),
    case("cookies-session-insecure-hsts", "session cookie without Secure, HSTS on: -10 → 90 ≥ 90",
         120, "A+", {"cookies": "cookies-session-without-secure-flag-but-protected-by-hsts"},
         headers=with_headers(add=(("Set-Cookie", "sessionid=x; HttpOnly; SameSite=Lax"),))),
    case("cookies-insecure-no-hsts", "no Secure and no HSTS: cookies -20, HSTS -20 → 60", 60, "C+",
         {"cookies": "cookies-without-secure-flag",
          "strict-transport-security": "hsts-not-implemented"},
         headers=with_headers(("Strict-Transport-Security",),
                              (("Set-Cookie", "theme=dark; SameSite=Lax"),))),
    case("cookies-samesite-invalid", "SameSite=Bogus in the raw header: -20 → 80", 80, "B+",
         {"cookies": "cookies-samesite-flag-invalid"},
         headers=with_headers(add=(("Set-Cookie", "theme=dark; Secure; SameSite=Bogus"),))),
    case("cookies-samesite-none-insecure", "SameSite=None without Secure is invalid (worse than "
         "the HSTS-covered missing Secure): -20", 80, "B+",
         {"cookies": "cookies-samesite-flag-invalid"},
         headers=with_headers(add=(("Set-Cookie", "theme=dark; SameSite=None"),))),
    case("cookies-anticsrf", "csrf cookie without SameSite: -20", 80, "B+",
         {"cookies": "cookies-anticsrf-without-samesite-flag"},
         headers=with_headers(add=(("Set-Cookie", "csrftoken=x; Secure"),))),
    case("cookies-session-no-httponly", "session cookie readable by scripts: -30 → 70", 70, "B",
         {"cookies": "cookies-session-without-httponly-flag"},
         headers=with_headers(add=(("Set-Cookie", "sessionid=x; Secure; SameSite=Lax"),))),
    case("cookies-session-insecure-no-hsts", "session cookie without Secure and no HSTS: -40, "
         "HSTS -20 → 40", 40, "D+",
         {"cookies": "cookies-session-without-secure-flag",
          "strict-transport-security": "hsts-not-implemented"},
         headers=with_headers(("Strict-Transport-Security",),
                              (("Set-Cookie", "sessionid=x; HttpOnly; SameSite=Lax"),))),
    case("cookies-secure-prefix-dropped", "__Secure- without Secure is refused by the cookie jar "
         "(RFC 6265bis prefixes): no cookies", 130, "A+",
         headers=with_headers(add=(("Set-Cookie", "__Secure-sessionid=x; SameSite=Lax"),))),
    # --- cross-origin-resource-sharing (the OPTIONS preflight) ---------------------------
    case("cors-public", "Access-Control-Allow-Origin: * is public access, 0", 130, "A+",
         {"cross-origin-resource-sharing":
          "cross-origin-resource-sharing-implemented-with-public-access"},
         cors=(("Access-Control-Allow-Origin", "*"),)),
    case("cors-restricted", "a fixed origin is restricted access, 0", 130, "A+",
         {"cross-origin-resource-sharing":
          "cross-origin-resource-sharing-implemented-with-restricted-access"},
         cors=(("Access-Control-Allow-Origin", "https://example.com"),)),
    case("cors-echo", "Origin echoed with credentials: the Observatory still says restricted "
         "(see module docstring)", 130, "A+",
         {"cross-origin-resource-sharing":
          "cross-origin-resource-sharing-implemented-with-restricted-access"}, cors="echo"),
    # --- redirection (the http:// session) -----------------------------------------------
    case("redirection-missing", "http serves the page: -20", 80, "B+",
         {"redirection": "redirection-missing"}, http="serve"),
    case("redirection-not-to-https", "http → http and stays: -20", 80, "B+",
         {"redirection": "redirection-not-to-https"}, http="http-only"),
    case("redirection-http-hop", "http → http → https: -10 → 90, bonuses count", 120, "A+",
         {"redirection": "redirection-not-to-https-on-initial-redirection"}, http="http-hop"),
    case("redirection-off-host", "http://127.0.0.1 → https://localhost: -5", 125, "A+",
         {"redirection": "redirection-off-host-from-http"}, http="off-host"),
    case("redirection-invalid-cert", "the https certificate is from an unknown CA: redirection "
         "-20 and HSTS -20 (both need a valid chain) → 60", 60, "C+",
         {"redirection": "redirection-invalid-cert",
          "strict-transport-security": "hsts-invalid-cert"}, http="bad-cert", https="bad"),
    case("redirection-no-http", "nothing listens on http: no redirect needed, 0", 130, "A+",
         {"redirection": "redirection-not-needed-no-http"}, http_server="closed"),
    case("redirection-preloaded", "every hop's host (localhost) is preloaded: redirection 0 and "
         "HSTS preloaded +5", 135, "A+",
         {"redirection": "redirection-all-redirects-preloaded",
          "strict-transport-security": "hsts-preloaded"}, host="localhost"),
    case("redirect-loop", "http redirects to itself; after 10 redirects the chain ends on http: "
         "-20", 80, "B+", {"redirection": "redirection-not-to-https"}, http="loop"),
    # --- referrer-policy -----------------------------------------------------------------
    case("referrer-missing", "not implemented passes at 0: bonuses 25", 125, "A+",
         {"referrer-policy": "referrer-policy-not-implemented"},
         headers=with_headers(("Referrer-Policy",))),
    case("referrer-unsafe", "unsafe-url: -5 → 95; bonuses 10+5+10", 120, "A+",
         {"referrer-policy": "referrer-policy-unsafe"},
         headers=with_headers(("Referrer-Policy",), (("Referrer-Policy", "unsafe-url"),))),
    case("referrer-invalid", "no known token: -5", 120, "A+",
         {"referrer-policy": "referrer-policy-header-invalid"},
         headers=with_headers(("Referrer-Policy",), (("Referrer-Policy", "bogus"),))),
    case("referrer-meta-last", "header unsafe-url, then <meta name=referrer no-referrer>: the "
         "last known value wins, +5", 130, "A+",
         headers=with_headers(("Referrer-Policy",), (("Referrer-Policy", "unsafe-url"),)),
         body=page('<meta name="referrer" content="no-referrer">')),
    # --- strict-transport-security (the https session) -----------------------------------
    case("hsts-short", "max-age=86400 < 15552000: -10 → 90", 120, "A+",
         {"strict-transport-security": "hsts-implemented-max-age-less-than-six-months"},
         headers=with_headers(("Strict-Transport-Security",),
                              (("Strict-Transport-Security", "max-age=86400"),))),
    case("hsts-missing", "-20 → 80", 80, "B+",
         {"strict-transport-security": "hsts-not-implemented"},
         headers=with_headers(("Strict-Transport-Security",))),
    case("hsts-no-max-age", "no max-age: invalid -20", 80, "B+",
         {"strict-transport-security": "hsts-header-invalid"},
         headers=with_headers(("Strict-Transport-Security",),
                              (("Strict-Transport-Security", "includeSubDomains"),))),
    case("hsts-twice", "two headers arrive joined by ',': invalid -20", 80, "B+",
         {"strict-transport-security": "hsts-header-invalid"},
         headers=with_headers(add=(("Strict-Transport-Security", "max-age=63072000"),))),
    case("hsts-nan", "max-age=forever: parseInt gives NaN, which is not < six months, so the "
         "Observatory counts it as at least six months", 130, "A+",
         headers=with_headers(("Strict-Transport-Security",),
                              (("Strict-Transport-Security", "max-age=forever"),))),
    case("hsts-no-https", "https closed, http serves: HSTS impossible -20, no redirect -20", 60,
         "C+", {"strict-transport-security": "hsts-not-implemented-no-https",
                "redirection": "redirection-missing"}, http="serve", https="closed"),
    case("hsts-invalid-cert", "http closed, https with an untrusted certificate: -20", 80, "B+",
         {"strict-transport-security": "hsts-invalid-cert",
          "redirection": "redirection-not-needed-no-http"}, http_server="closed", https="bad"),
    # --- subresource-integrity -----------------------------------------------------------
    case("sri-same-origin-integrity", "own script with integrity over https: +5", 135, "A+",
         {"subresource-integrity": "sri-implemented-and-all-scripts-loaded-securely"},
         body=page(body='<script src="/app.js" integrity="sha384-abc"></script>')),
    case("sri-external-integrity", "third-party https script with integrity: +5", 135, "A+",
         {"subresource-integrity": "sri-implemented-and-external-scripts-loaded-securely"},
         body=page(body='<script src="https://cdn.example.net/x.js" integrity="sha384-abc" '
                        'crossorigin="anonymous"></script>')),
    case("sri-not-html", "JSON, not HTML: SRI does not apply, 0", 130, "A+",
         {"subresource-integrity": "sri-not-implemented-response-not-html"},
         content_type="application/json", body="{}"),
    case("sri-same-origin", "own and inline scripts only: 0", 130, "A+",
         {"subresource-integrity": "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"},
         body=page(body='<script src="/app.js"></script><script>start()</script>')),
    case("sri-external-no-integrity", "third-party https script without integrity: -5 → 95",
         125, "A+", {"subresource-integrity": "sri-not-implemented-but-external-scripts-loaded-securely"},
         body=page(body='<script src="https://cdn.example.net/x.js"></script>')),
    case("sri-integrity-over-http", "integrity but http: -20", 80, "B+",
         {"subresource-integrity": "sri-implemented-but-external-scripts-not-loaded-securely"},
         body=page(body='<script src="http://cdn.example.net/x.js" integrity="sha384-abc">'
                        "</script>")),
    case("sri-protocol-relative", "//cdn… without integrity is foreign and not secure: -50",
         50, "C", {"subresource-integrity":
                   "sri-not-implemented-and-external-scripts-not-loaded-securely"},
         body=page(body='<script src="//cdn.example.net/x.js"></script>')),
    # --- x-content-type-options ----------------------------------------------------------
    case("xcto-missing", "-5 → 95", 125, "A+",
         {"x-content-type-options": "x-content-type-options-not-implemented"},
         headers=with_headers(("X-Content-Type-Options",))),
    case("xcto-twice", "'nosniff, nosniff' is not nosniff: -5", 125, "A+",
         {"x-content-type-options": "x-content-type-options-header-invalid"},
         headers=with_headers(add=(("X-Content-Type-Options", "nosniff"),))),
    # --- x-frame-options (CSP without frame-ancestors) -----------------------------------
    case("xfo-deny", "DENY: +5 in algorithm 5 (0 before)", 130, "A+", XFO_HEADER,
         headers=with_headers((CSP,), NO_FA)),
    case("xfo-allow-from", "ALLOW-FROM passes at 0", 125, "A+",
         {"x-frame-options": "x-frame-options-allow-from-origin"},
         headers=with_headers((CSP, "X-Frame-Options"),
                              (*NO_FA, ("X-Frame-Options", "ALLOW-FROM https://example.com")))),
    case("xfo-missing", "-20 → 80", 80, "B+", {"x-frame-options": "x-frame-options-not-implemented"},
         headers=with_headers((CSP, "X-Frame-Options"), NO_FA)),
    case("xfo-twice", "'DENY, DENY' is invalid: -20", 80, "B+",
         {"x-frame-options": "x-frame-options-header-invalid"},
         headers=with_headers((CSP,), (*NO_FA, ("X-Frame-Options", "DENY")))),
    # --- cross-origin-resource-policy ----------------------------------------------------
    case("corp-same-site", "+10, like same-origin", 130, "A+",
         {"cross-origin-resource-policy": "corp-implemented-with-same-site"},
         headers=with_headers(("Cross-Origin-Resource-Policy",),
                              (("Cross-Origin-Resource-Policy", "same-site"),))),
    case("corp-cross-origin", "passes at 0: bonuses 20", 120, "A+",
         {"cross-origin-resource-policy": "corp-implemented-with-cross-origin"},
         headers=with_headers(("Cross-Origin-Resource-Policy",),
                              (("Cross-Origin-Resource-Policy", "cross-origin"),))),
    case("corp-invalid", "-5 → 95, bonuses 20", 115, "A+",
         {"cross-origin-resource-policy": "corp-header-invalid"},
         headers=with_headers(("Cross-Origin-Resource-Policy",),
                              (("Cross-Origin-Resource-Policy", "bogus"),))),
    case("corp-missing", "optional: 0", 120, "A+",
         {"cross-origin-resource-policy": "corp-not-implemented"},
         headers=with_headers(("Cross-Origin-Resource-Policy",))),
    # --- extra credit and floor ----------------------------------------------------------
    case("credit-below-90", "off-host -5 and short HSTS -10 → 85 < 90: the 30 bonus points "
         "are ignored", 85, "A-",
         {"redirection": "redirection-off-host-from-http",
          "strict-transport-security": "hsts-implemented-max-age-less-than-six-months"},
         http="off-host", headers=with_headers(("Strict-Transport-Security",),
                                               (("Strict-Transport-Security", "max-age=86400"),))),
    case("floor-at-zero", "http only, no headers, insecure session cookie and script: "
         "-25 -40 -20 -20 -50 -5 -20 = -180 → floored at 0", 0, "F",
         {"content-security-policy": "csp-not-implemented",
          "cookies": "cookies-session-without-secure-flag",
          "redirection": "redirection-missing",
          "referrer-policy": "referrer-policy-not-implemented",
          "strict-transport-security": "hsts-not-implemented-no-https",
          "subresource-integrity": "sri-not-implemented-and-external-scripts-not-loaded-securely",
          "x-content-type-options": "x-content-type-options-not-implemented",
          "x-frame-options": "x-frame-options-not-implemented",
          "cross-origin-resource-policy": "corp-not-implemented"},
         http="serve", https="closed", headers=(("Set-Cookie", "sessionid=x"),),
         body=page(body='<script src="//cdn.example.net/x.js"></script>')),
]  # fmt: skip
BY_NAME = {c.name: c for c in CASES}
PRELOADED = "localhost"


def _options(site: Site, name: str) -> HeaderOptions:
    http, https = site.ports_for(name)
    return HeaderOptions(http_port=http, https_port=https, ca_file=site.pki.ca, timeout=8,
                         hsts_preloaded=lambda host: host == PRELOADED)  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    scenarios = {c.name: c.scenario for c in CASES}
    yield from running_site(scenarios, tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def reports(site: Site) -> dict[str, Report]:
    """Every case scanned once, concurrently."""

    async def scan_all() -> list[Report]:
        return await asyncio.gather(*(audit_headers(site.url(c.name), _options(site, c.name))
                                      for c in CASES))  # fmt: skip

    return dict(zip(BY_NAME, asyncio.run(scan_all()), strict=True))


def _tests(report: Report) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in report.summary["tests"]}


def test_the_cases_cover_every_producible_result() -> None:
    seen = {r for c in CASES for r in c.expected.values()}
    unreachable = {"cross-origin-resource-sharing-implemented-with-universal-access",
                   "html-not-parseable"}  # fmt: skip
    assert set(MODIFIERS) - seen == unreachable


@pytest.mark.parametrize("name", list(BY_NAME))
def test_results_modifiers_score_and_grade(name: str, reports: dict[str, Report]) -> None:
    expected, report = BY_NAME[name], reports[name]
    tests = _tests(report)
    assert [t for t in tests] == list(TEST_NAMES)
    assert {n: t["result"] for n, t in tests.items()} == expected.expected, expected.reason
    assert report.summary["algorithm_version"] == 5
    assert (report.summary["score"], report.summary["grade"]) == (expected.score, expected.grade), (
        expected.reason
    )
    # The score is the sum the Observatory makes of the modifiers it lists per test.
    assert total(t["score_modifier"] for t in tests.values()).score == expected.score
    failing = {f.properties["test"] for f in report.findings if f.rule.startswith("observatory/")}
    assert failing == {n for n, t in tests.items() if not t["pass"] or t["score_modifier"] < 0}


def test_every_modifier_is_the_observatory_table() -> None:
    """charts.js SCORE_TABLE, algorithm 5, written out (X-Frame-Options DENY/SAMEORIGIN +5)."""
    assert MODIFIERS == {
        "csp-implemented-with-no-unsafe-default-src-none": 10, "csp-implemented-with-no-unsafe": 5,
        "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
        "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
        "csp-implemented-with-unsafe-eval": -10, "csp-implemented-with-unsafe-inline": -20,
        "csp-implemented-with-insecure-scheme": -20, "csp-header-invalid": -25,
        "csp-not-implemented": -25, "csp-not-implemented-but-reporting-enabled": -25,
        "csp-implemented-but-duplicate-directives": 0,
        "cookies-secure-with-httponly-sessions-and-samesite": 5,
        "cookies-secure-with-httponly-sessions": 0, "cookies-not-found": 0,
        "cookies-without-secure-flag-but-protected-by-hsts": -5,
        "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
        "cookies-without-secure-flag": -20, "cookies-samesite-flag-invalid": -20,
        "cookies-anticsrf-without-samesite-flag": -20,
        "cookies-session-without-httponly-flag": -30, "cookies-session-without-secure-flag": -40,
        "cross-origin-resource-sharing-not-implemented": 0,
        "cross-origin-resource-sharing-implemented-with-public-access": 0,
        "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
        "cross-origin-resource-sharing-implemented-with-universal-access": -50,
        "redirection-all-redirects-preloaded": 0, "redirection-to-https": 0,
        "redirection-not-needed-no-http": 0, "redirection-off-host-from-http": -5,
        "redirection-not-to-https-on-initial-redirection": -10, "redirection-not-to-https": -20,
        "redirection-missing": -20, "redirection-invalid-cert": -20,
        "referrer-policy-private": 5, "referrer-policy-not-implemented": 0,
        "referrer-policy-unsafe": -5, "referrer-policy-header-invalid": -5,
        "hsts-preloaded": 5, "hsts-implemented-max-age-at-least-six-months": 0,
        "hsts-implemented-max-age-less-than-six-months": -10, "hsts-not-implemented": -20,
        "hsts-header-invalid": -20, "hsts-not-implemented-no-https": -20, "hsts-invalid-cert": -20,
        "sri-implemented-and-all-scripts-loaded-securely": 5,
        "sri-implemented-and-external-scripts-loaded-securely": 5,
        "sri-not-implemented-response-not-html": 0, "sri-not-implemented-but-no-scripts-loaded": 0,
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
        "sri-not-implemented-but-external-scripts-loaded-securely": -5,
        "sri-implemented-but-external-scripts-not-loaded-securely": -20,
        "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
        "x-content-type-options-nosniff": 0, "x-content-type-options-not-implemented": -5,
        "x-content-type-options-header-invalid": -5,
        "x-frame-options-implemented-via-csp": 5, "x-frame-options-sameorigin-or-deny": 5,
        "x-frame-options-allow-from-origin": 0, "x-frame-options-not-implemented": -20,
        "x-frame-options-header-invalid": -20,
        "corp-header-invalid": -5, "corp-implemented-with-cross-origin": 0,
        "corp-implemented-with-same-origin": 10, "corp-implemented-with-same-site": 10,
        "corp-not-implemented": 0, "html-not-parseable": -20,
    }  # fmt: skip


# ---- the real Observatory as oracle ----------------------------------------------------

RESCORED = {"x-frame-options-sameorigin-or-deny": (0, 5)}  # algorithm 4 → 5 (PR #332)
SPLIT_CSP = {"csp-two-headers"}  # PR #496: several CSP headers are several policies


@pytest.fixture(scope="module")
def oracle(site: Site) -> dict[str, Any]:
    cases = []
    for c in CASES:
        http, https = site.ports_for(c.name)
        cases.append({"name": c.name, "host": c.scenario.host, "httpPort": http,
                      "httpsPort": https, "path": f"/{c.name}/"})  # fmt: skip
    return observatory_oracle.scan(cases, site.pki.ca)


def test_the_observatory_agrees(oracle: dict[str, Any], reports: dict[str, Report]) -> None:
    mismatches = []
    for c in CASES:
        theirs = oracle[c.name]
        assert "error" not in theirs, (c.name, theirs)
        ours = _tests(reports[c.name])
        adjusted = []
        for name in TEST_NAMES:
            t, o = theirs["tests"][name], ours[name]
            if c.name in SPLIT_CSP and name in ("content-security-policy", "x-frame-options"):
                adjusted.append(o["score_modifier"])
                continue
            if (t["result"], t["pass"]) != (o["result"], o["pass"]):
                mismatches.append((c.name, name, t["result"], o["result"]))
            old, new = RESCORED.get(t["result"], (t["modifier"], t["modifier"]))
            assert t["modifier"] == old and o["score_modifier"] == new, (c.name, name)
            adjusted.append(new)
        # Our grading of the Observatory's own modifiers gives its score and grade ...
        own = total(t["modifier"] for t in theirs["tests"].values())
        assert (own.score, own.grade) == (theirs["score"], theirs["grade"]), c.name
        # ... and after the algorithm-5 re-scoring, ours.
        assert total(adjusted).score == reports[c.name].summary["score"], c.name
    assert mismatches == []


def test_the_oracle_sees_what_algorithm_5_changed(oracle: dict[str, Any]) -> None:
    """1.4.8 parses two CSP headers as one policy (default-src gets ''none',' and
    'frame-ancestors' as sources: +5 only, and no frame-ancestors for XFO)."""
    two = oracle["csp-two-headers"]["tests"]
    assert two["content-security-policy"]["result"] == "csp-implemented-with-no-unsafe"
    assert two["x-frame-options"]["result"] == "x-frame-options-sameorigin-or-deny"
    assert oracle["xfo-deny"]["tests"]["x-frame-options"]["modifier"] == 0


def test_cross_check_every_modifier_with_the_package() -> None:
    """The package's SCORE_TABLE itself, read by node: equal to ours but for PR #332."""
    script = ("import { SCORE_TABLE } from './src/grader/charts.js';\n"
              "process.stdout.write(JSON.stringify(Object.fromEntries("
              "[...SCORE_TABLE].map(([k, v]) => [k, v.modifier]))));")  # fmt: skip
    theirs = observatory_oracle.run_script(script, None)
    assert {k: RESCORED.get(k, (v, v))[1] for k, v in theirs.items()} == MODIFIERS
