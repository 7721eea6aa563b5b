"""The pieces of the header audit, table by table: grading, the CSP parser and the cookie
jar (both also checked against the Observatory's own code run by node), Permissions-Policy,
structured fields, target URLs and header joining."""

from __future__ import annotations

from typing import Any

import pytest

from lightkeeper.audit.headers.cookies import CookieJar
from lightkeeper.audit.headers.csp import CspParseError, parse_csp, split_policies
from lightkeeper.audit.headers.extras import permissions_problems
from lightkeeper.audit.headers.fetch import (
    HeaderAuditError,
    HeaderOptions,
    NodeHeaders,
    parse_target,
)
from lightkeeper.audit.headers.grade import grade_for, grade_rank, total
from lightkeeper.audit.headers.page import parse_page, reflected_src
from lightkeeper.audit.headers.structured import StructuredFieldError, Token, parse_dictionary
from tests.audit import observatory_oracle

# GRADE_CHART rows and their edges: a score grades as its value rounded down to a multiple
# of 5, capped at 100.
GRADES = [
    (145, "A+"), (100, "A+"), (99, "A"), (95, "A"), (90, "A"), (89, "A-"), (85, "A-"),
    (84, "B+"), (80, "B+"), (79, "B"), (70, "B"), (69, "B-"), (65, "B-"), (64, "C+"),
    (60, "C+"), (59, "C"), (50, "C"), (49, "C-"), (45, "C-"), (44, "D+"), (40, "D+"),
    (39, "D"), (30, "D"), (29, "D-"), (25, "D-"), (24, "F"), (5, "F"), (0, "F"), (-30, "F"),
]  # fmt: skip


@pytest.mark.parametrize(("score", "grade"), GRADES)
def test_grade_chart(score: int, grade: str) -> None:
    assert grade_for(score) == grade


@pytest.mark.parametrize(
    ("modifiers", "score", "grade"),
    [
        ([], 100, "A+"),
        ([10, 5, 5, 10], 130, "A+"),  # no penalty: every bonus counts
        ([-10, 10, 5], 105, "A+"),  # 90 is enough for extra credit
        ([-5, -10, 10, 5], 85, "A-"),  # 85 < 90: bonuses ignored
        ([-25, 10, 5, 5], 75, "B"),  # a missing CSP blocks every bonus
        ([-50, -40, -25, -20], 0, "F"),  # -35 floors at 0
        ([-50, -40, -25, -20, 30], 0, "F"),  # bonuses never lift a floored score
    ],
)
def test_extra_credit_and_floor(modifiers: list[int], score: int, grade: str) -> None:
    result = total(modifiers)
    assert (result.score, result.grade) == (score, grade)
    assert result.bonus_counted == (result.uncurved >= 90)


def test_grade_rank_orders_and_refuses_unknown_grades() -> None:
    assert grade_rank("A+") < grade_rank("a") < grade_rank("B") < grade_rank("F")
    with pytest.raises(ValueError, match="unknown grade 'E'"):
        grade_rank("E")


# ---- CSP parser: ours against the package's parseCsp ------------------------------------

CSP_LISTS: list[list[str]] = [
    ["default-src 'none'"],
    ["default-src 'none'; script-src 'self' https://mozilla.org"],
    ["DEFAULT-SRC 'SELF'; Img-Src https://A.example"],
    ["default-src; img-src"],  # empty source lists are 'none'
    ["default-src 'self'; default-src 'none'"],  # repeated directive: invalid
    ["report-uri /a; report-uri /b; default-src 'none'"],  # allowed duplicate, noted
    ["img"],  # shorter than the shortest directive: invalid
    ["default-src 'self' https://a.example/x/", "default-src https://a.example/x/y.js"],
    ["default-src https://a.example/x/y.js", "default-src https://a.example/x/"],
    ["script-src 'self' https://a.example", "script-src 'self'", "script-src 'none'"],
    ["default-src 'self'", "script-src https://cdn.example"],  # only in the 2nd: none
    ["default-src https://a.example/a_b https://a.example/a-b https://a.example/a.b",
     "default-src https://a.example/a-b https://a.example/ab"],  # collation order matters
    ["default-src https://a.example/%zz", "default-src https://a.example/%zz"],  # bad escape
    ["default-src https://a.example/caf%C3%A9/", "default-src https://a.example/café/x"],
    ["script-src 'self' 'self' https://a.example https://a.example/path"],
]  # fmt: skip

NODE_CSP = """
import { parseCsp } from "./src/analyzer/cspParser.js";
const lists = JSON.parse(process.argv[2]);
process.stdout.write(JSON.stringify(lists.map((list) => {
  try {
    const csp = parseCsp(list);
    return Object.fromEntries([...csp].map(([k, v]) => [k, [...v].sort()]));
  } catch (e) { return "error"; }
})));
"""


def _ours(policies: list[str]) -> Any:
    try:
        return {k: sorted(v) for k, v in parse_csp(policies).items()}
    except CspParseError:
        return "error"


def test_csp_parser_matches_the_observatory() -> None:
    theirs = observatory_oracle.run_script(NODE_CSP, CSP_LISTS)
    assert [_ours(policies) for policies in CSP_LISTS] == theirs


def test_csp_headers_split_into_policies_in_algorithm_5() -> None:
    # splitCspHeaders trims and keeps the empty piece after a trailing comma.
    assert split_policies(["default-src 'none', frame-ancestors 'none'", "img-src 'self',"]) == [
        "default-src 'none'", "frame-ancestors 'none'", "img-src 'self'", ""]  # fmt: skip


# ---- cookie jar: ours against tough-cookie's --------------------------------------------

SET_COOKIES = [
    ("sessionid=1; Secure; HttpOnly; SameSite=Lax", "https://www.example.com/a/b"),
    ("noequals", "https://www.example.com/"),
    ("=novalue", "https://www.example.com/"),
    ("__Secure-a=1", "https://www.example.com/"),
    ("__Secure-b=1; Secure", "http://www.example.com/"),
    ("__Host-c=1; Secure; Path=/", "https://www.example.com/"),
    ("__Host-d=1; Secure; Path=/; Domain=example.com", "https://www.example.com/"),
    ("e=1; Domain=.example.com; Path=/x", "https://www.example.com/"),
    ("f=1; Domain=com", "https://www.example.com/"),
    ("g=1; Domain=other.org", "https://www.example.com/"),
    ("h=1; Domain=127.0.0.1", "https://127.0.0.1/"),
    ("i=1; SameSite=Bogus; Max-Age=0", "https://www.example.com/"),
    ("sessionid=2; SameSite=None", "https://www.example.com/a/b"),  # replaces the first
    ("j=1; Path=relative", "https://www.example.com/deep/path/page"),
    ("k=1; Domain=sub.localhost", "http://sub.localhost/"),
]

NODE_JAR = """
import { CookieJar } from "tough-cookie";
const jar = new CookieJar();
for (const [cookie, url] of JSON.parse(process.argv[2])) {
  jar.setCookieSync(cookie, url, { ignoreError: true });
}
process.stdout.write(JSON.stringify(jar.serializeSync().cookies.map((c) => [
  c.key, c.domain, c.path, !!c.secure, !!c.httpOnly, c.sameSite ?? null, !!c.hostOnly])));
"""


def test_cookie_jar_matches_tough_cookie() -> None:
    theirs = observatory_oracle.run_script(NODE_JAR, SET_COOKIES)
    jar = CookieJar()
    for header, url in SET_COOKIES:
        jar.store([header], url)
    ours = [[c.key, c.domain, c.path, c.secure, c.http_only, c.same_site, c.host_only]
            for c in jar.cookies.values()]  # fmt: skip
    assert sorted(ours) == sorted(theirs)


# ---- Permissions-Policy and structured fields -------------------------------------------


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ("camera=(), microphone=(self), geolocation=()", []),  # the seed's value
        ('camera=(self "https://meet.example"), microphone=(), geolocation=(self)', []),
        ("camera=*, microphone=(), geolocation=()", ["camera is allowed for every origin (*)"]),
        ("camera=(*), microphone=(), geolocation=()", ["camera is allowed for every origin (*)"]),
        (
            "microphone=(), geolocation=()",
            ["camera is not listed (its default allowlist is 'self')"],
        ),
        ("camera=(, microphone=()", ["not a structured-field dictionary"]),
        ("Camera=()", ["not a structured-field dictionary"]),  # keys are lower-case
    ],
)
def test_permissions_policy(value: str, problems: list[str]) -> None:
    found = permissions_problems(value)
    assert len(found) >= len(problems)
    for want, got in zip(problems, found, strict=False):
        assert got.startswith(want)
    if not problems:
        assert found == []


def test_structured_dictionary_values() -> None:
    parsed = parse_dictionary('a=(self "https://x.example");p=1, b=?0, c, d=-1.5, e=:aGk=:, f=tok')
    assert parsed["a"] == ([(Token("self"), {}), ("https://x.example", {})], {"p": 1})
    assert parsed["b"] == (False, {})
    assert parsed["c"] == (True, {})
    assert parsed["d"] == (-1.5, {})
    assert parsed["e"] == (b"aGk=", {})
    assert parsed["f"] == (Token("tok"), {})
    for bad in ("a=(x", 'a="unterminated', "a=1,", "a=1 b=2", 'a="\\x"'):
        with pytest.raises(StructuredFieldError):
            parse_dictionary(bad)


# ---- inputs and plumbing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "http_url", "https_url"),
    [
        ("https://example.com", HeaderOptions(), "http://example.com/", "https://example.com/"),
        ("example.com/app?x=1", HeaderOptions(), "http://example.com/app?x=1",
         "https://example.com/app?x=1"),
        ("http://127.0.0.1:8080", HeaderOptions(https_port=8443), "http://127.0.0.1:8080/",
         "https://127.0.0.1:8443/"),
        ("https://127.0.0.1:8443/", HeaderOptions(http_port=8080), "http://127.0.0.1:8080/",
         "https://127.0.0.1:8443/"),
        ("http://[::1]:81/", HeaderOptions(), "http://[::1]:81/", "https://[::1]/"),
    ],
)  # fmt: skip
def test_parse_target(url: str, options: HeaderOptions, http_url: str, https_url: str) -> None:
    target = parse_target(url, options)
    assert (target.http_url, target.https_url) == (http_url, https_url)


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("", HeaderOptions(), "no URL given"),
        ("ftp://example.com", HeaderOptions(), "is not an http(s) URL"),
        ("http://example.com:99999", HeaderOptions(), "invalid port"),
        ("https://example.com", HeaderOptions(http_port=0), "--http-port 0 is not a TCP port"),
    ],
)
def test_parse_target_refuses(url: str, options: HeaderOptions, message: str) -> None:
    with pytest.raises(
        HeaderAuditError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as info:
        parse_target(url, options)
    assert info.value.usage


def test_headers_are_joined_as_node_joins_them() -> None:
    headers = NodeHeaders([("X-Frame-Options", "DENY"), ("x-frame-options", "DENY"),
                           ("Content-Type", "text/html"), ("content-type", "text/plain"),
                           ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])  # fmt: skip
    assert headers.first("x-frame-options") == "DENY, DENY"
    assert headers.first("Content-Type") == "text/html"  # Node keeps the first
    assert headers.values("set-cookie") == ["a=1", "b=2"]
    assert headers.first("missing") is None


@pytest.mark.parametrize(
    ("raw", "reflected"),
    [
        ("/app.js", "/app.js"),
        ("//cdn.example/x.js", "//cdn.example/x.js"),
        ("HTTPS://CDN.Example/X.js", "https://cdn.example/X.js"),
        ("https://cdn.example", "https://cdn.example/"),
        ("https:cdn.example/x.js", "https://cdn.example/x.js"),
        ("data:text/javascript,1", "data:text/javascript,1"),
    ],
)
def test_script_src_reflects_like_jsdom(raw: str, reflected: str) -> None:
    assert reflected_src(raw) == reflected


def test_page_parsing_skips_templates_and_reads_metas() -> None:
    page = parse_page(
        "<head><meta http-equiv='Content-Security-Policy' content=\"default-src 'none'\">"
        "<meta name=Referrer content=unsafe-url><meta name=referrer content=no-referrer>"
        "</head><body><template><script src=/t.js></script></template>"
        "<script src=/a.js integrity=sha384-x></script><script>inline</script></body>"
    )
    assert page.meta_csp == ["default-src 'none'"]
    assert page.meta_referrer == ["no-referrer"]
    assert [(s.src, s.integrity) for s in page.scripts] == [("/a.js", "sha384-x"), (None, None)]
