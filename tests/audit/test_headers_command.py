"""`audit headers` as a command: exit codes, text/JSON/SARIF output, fingerprints, the
seed and Permissions-Policy extras, and sites that cannot be scanned (unreachable, a
redirect loop, an error page, an untrusted certificate) — against real servers on
127.0.0.1."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightkeeper.audit.headers import HeaderOptions, audit_headers_sync
from lightkeeper.audit.headers.commands import audit_headers_command
from tests.audit import sarif_schema
from tests.audit.header_servers import Scenario, Site, running_site, with_headers

SEED = (
    ("X-DNS-Prefetch-Control", "on"),
    ("X-XSS-Protection", "1; mode=block"),
    ("Permissions-Policy", "camera=(), microphone=(self), geolocation=()"),
)
SEED_HSTS = (("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),)
SCENARIOS = {
    # Every Observatory bonus and the seed's whole list: nothing to report.
    "clean": Scenario(headers=with_headers(("Strict-Transport-Security",), SEED + SEED_HSTS)),
    "baseline": Scenario(),
    "no-csp": Scenario(headers=with_headers(("Content-Security-Policy",))),
    "cookie": Scenario(headers=with_headers(add=(("Set-Cookie", "sessionid=t0ps3cr3tvalue"),))),
    "echo": Scenario(cors="echo", headers=with_headers(add=SEED)),
    "loop": Scenario(http="loop"),
    "open-features": Scenario(
        headers=with_headers(add=(("Permissions-Policy", "camera=*, geolocation=()"),))
    ),
    "broken-features": Scenario(headers=with_headers(add=(("Permissions-Policy", "camera=("),))),
    "json": Scenario(content_type="application/json", body='{"ok": true}'),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from running_site(SCENARIOS, tmp_path_factory.mktemp("pki"))


def run(site: Site, name: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    http, https = site.ports_for(name)
    kwargs = {"http_port": http, "https_port": https, "ca_file": site.pki.ca, "timeout": 8} | kwargs
    code = audit_headers_command(site.url(name), *args, stream=out, errors=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def scan(site: Site, name: str) -> Any:
    http, https = site.ports_for(name)
    return audit_headers_sync(site.url(name), HeaderOptions(http, https, site.pki.ca, 8))


def test_clean_site_exits_0_with_no_findings(site: Site) -> None:
    code, out, err = run(site, "clean")
    assert (code, err) == (0, "")
    assert "Score 130/100, grade A+ (10/10 tests passed; bonus +30 counted)" in out
    assert "How to fix" not in out and "Also (not part of the score)" not in out
    assert scan(site, "clean").findings == []


def test_text_report_lists_tests_score_fixes_and_snippet(site: Site) -> None:
    code, out, _ = run(site, "no-csp")
    assert code == 1  # csp-not-implemented is -25: a high finding
    assert "FAIL  csp-not-implemented" in out and "-25" in out
    assert "Score 75/100, grade B" in out and "not counted (score without them is below 90)" in out
    assert "Content Security Policy (CSP): Send a Content-Security-Policy" in out
    assert "{ key: 'X-DNS-Prefetch-Control', value: 'on' }," in out
    assert "async headers()" in out


@pytest.mark.parametrize(
    ("name", "kwargs", "code"),
    [
        ("baseline", {}, 0),  # A+, only low/medium extras
        ("no-csp", {}, 1),  # a high finding
        ("no-csp", {"fail_on": None}, 0),  # 75 is B: meets the default minimum grade
        ("no-csp", {"fail_on": None, "min_grade": "A"}, 1),
        ("baseline", {"fail_on": "medium"}, 1),  # Permissions-Policy missing is medium
        ("baseline", {"fail_on": None, "min_grade": None}, 0),
        ("echo", {}, 1),  # credentialed CORS echo is high though the score is A+
    ],
)
def test_exit_codes(site: Site, name: str, kwargs: dict[str, Any], code: int) -> None:
    assert run(site, name, **kwargs)[0] == code


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "xml"}, "--format 'xml': use one of text, json, sarif"),
        ({"fail_on": "severe"}, "unknown severity 'severe'"),
        ({"min_grade": "E"}, "unknown grade 'E'"),
        ({"ca_file": Path("/nonexistent/ca.pem")}, "--ca-file /nonexistent/ca.pem: no such file"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"http_port": 70000}, "--http-port 70000 is not a TCP port"),
    ],
)
def test_usage_errors_exit_3(site: Site, kwargs: dict[str, Any], message: str) -> None:
    code, out, err = run(site, "baseline", **kwargs)
    assert (code, out) == (3, "")
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_ca_file_that_is_not_pem_exits_3(site: Site, tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    code, _, err = run(site, "baseline", ca_file=bogus)
    assert code == 3 and "cannot load it as PEM certificates" in err


def test_unreachable_site_exits_2(site: Site) -> None:
    code, out, err = run(site, "baseline", http_port=site.closed_port, https_port=site.closed_port)
    assert (code, out) == (2, "")
    assert "127.0.0.1 cannot be reached" in err and "--http-port" in err


def test_error_page_exits_2(site: Site) -> None:
    # /missing/ is not a scenario: the server answers 404, which the Observatory won't score.
    out, err = io.StringIO(), io.StringIO()
    code = audit_headers_command(f"http://127.0.0.1:{site.http_port}/missing/",
                                 https_port=site.https_port, ca_file=site.pki.ca, stream=out,
                                 errors=err)  # fmt: skip
    assert code == 2 and "answered HTTP 404" in err.getvalue()


def test_untrusted_certificate_is_a_result_not_a_crash(site: Site) -> None:
    # Without --ca-file the private CA is not trusted: scored as the Observatory scores it.
    code, out, _ = run(site, "baseline", ca_file=None)
    assert code == 1
    assert "FAIL  hsts-invalid-cert" in out and "FAIL  redirection-invalid-cert" in out


def test_redirect_loop_is_reported(site: Site) -> None:
    report = scan(site, "loop")
    tests = {t["name"]: t["result"] for t in report.summary["tests"]}
    assert tests["redirection"] == "redirection-not-to-https"
    loop = [f for f in report.findings if f.rule == "redirect-loop/http"]
    assert loop and "still redirecting after 10 redirects" in loop[0].message
    assert len(report.summary["http"]["route"]) == 11


def test_non_html_page(site: Site) -> None:
    report = scan(site, "json")
    tests = {t["name"]: t["result"] for t in report.summary["tests"]}
    assert tests["subresource-integrity"] == "sri-not-implemented-response-not-html"


def test_extras_do_not_change_the_score(site: Site) -> None:
    echo = scan(site, "echo")
    assert echo.summary["score"] == 130
    rules = {f.rule: f for f in echo.findings}
    assert rules["cors-origin-echo-with-credentials"].severity.label == "high"
    assert "permissions-policy" not in rules and "seed/x-dns-prefetch-control" not in rules
    base = scan(site, "baseline")
    assert {f.rule for f in base.findings} == {
        "seed/x-dns-prefetch-control", "seed/x-xss-protection",
        "seed/strict-transport-security", "permissions-policy"}  # fmt: skip
    seed = {row["header"]: row["ok"] for row in base.summary["seed_headers"]}
    assert seed == {"X-DNS-Prefetch-Control": False, "Strict-Transport-Security": False,
                    "X-Frame-Options": True, "X-Content-Type-Options": True,
                    "X-XSS-Protection": False, "Referrer-Policy": True,
                    "Permissions-Policy": False}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "severity", "text"),
    [
        ("baseline", "medium", "no Permissions-Policy header"),
        ("open-features", "medium", "camera is allowed for every origin (*)"),
        ("broken-features", "medium", "not a structured-field dictionary"),
    ],
)
def test_permissions_policy_findings(site: Site, name: str, severity: str, text: str) -> None:
    finding = next(f for f in scan(site, name).findings if f.rule == "permissions-policy")
    assert finding.severity.label == severity and text in finding.message
    assert "camera=(), microphone=(self), geolocation=()" in finding.fix


def test_json_report(site: Site, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    code, out, _ = run(site, "cookie", "json", target)
    assert (code, out) == (1, "")
    data = json.loads(target.read_text())
    assert data["kind"] == "header" and data["algorithm_version"] == 5
    assert (data["score"], data["grade"]) == (70, "B")  # session cookie without HttpOnly: -30
    assert data["tests"][0]["name"] == "content-security-policy"
    assert {"name", "pass", "result", "score_modifier", "why", "fix"} <= set(data["tests"][1])
    cookie = next(f for f in data["findings"] if f["rule"] == "observatory/cookies")
    assert cookie["severity"] == "high"
    assert cookie["path"] == site.url("cookie")  # the URL asked for
    assert data["page_url"] == f"https://127.0.0.1:{site.https_port}/cookie/"  # the page scored
    assert "t0ps3cr3tvalue" not in target.read_text()  # the cookie's value is never shown


def test_sarif_report_validates(site: Site) -> None:
    code, out, _ = run(site, "cookie", "sarif")
    assert code == 1
    log = json.loads(out)
    sarif_schema.validate(log)
    run_ = log["runs"][0]
    assert run_["automationDetails"]["id"] == "lightkeeper/headers/"
    assert run_["properties"]["grade"] == "B"
    assert "t0ps3cr3tvalue" not in out
    results = {r["ruleId"]: r for r in run_["results"]}
    assert results["observatory/cookies"]["level"] == "error"
    assert results["observatory/cookies"]["properties"]["score_modifier"] == -30


def test_fingerprints_are_stable_and_per_origin(site: Site) -> None:
    first, second = scan(site, "no-csp"), scan(site, "no-csp")
    prints = [f.fingerprint for f in first.findings]
    assert prints == [f.fingerprint for f in second.findings]
    assert len(set(prints)) == len(prints)
    other = audit_headers_sync(
        f"http://localhost:{site.http_port}/no-csp/",
        HeaderOptions(site.http_port, site.https_port, site.pki.ca, 8),
    )
    assert not set(prints) & {f.fingerprint for f in other.findings}
