"""Second-review regressions for `audit headers`, each against the fact it checks:

- algorithm 5's CSP split (mdn/mdn-http-observatory ``src/analyzer/tests/csp.js``,
  ``splitCspHeaders``: every header *and* ``<meta http-equiv>`` value is split on "," and
  each piece trimmed, empty pieces kept — ``parseCsp`` then refuses an empty policy);
- ``<meta>`` elements with an empty ``content`` are no policy (``src/retriever/utils.js``
  ``parseHttpEquivHeaders`` in 1.4.8 skips an empty value), checked against the real
  Observatory 1.4.8 on the same servers;
- the fetch layer: a slow CORS preflight cannot stretch a scan past ``--timeout``; a
  scheme-less ``host:port`` is refused rather than scanned on ports 80/443; malformed URLs
  and credentials in them get a clear, redacted error;
- no cookie value reaches the report, even from a ``Set-Cookie`` without a name.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lightkeeper.audit.findings import Report
from lightkeeper.audit.headers import HeaderAuditError, HeaderOptions, audit_headers
from lightkeeper.audit.headers.csp import csp_test, split_policies
from lightkeeper.audit.headers.fetch import parse_target
from lightkeeper.audit.headers.page import parse_page
from lightkeeper.audit.output import render
from tests.audit import observatory_oracle
from tests.audit.header_servers import Scenario, Site, running_site, with_headers

CSP = "Content-Security-Policy"


def page(head: str) -> str:
    return f"<!doctype html><html><head>{head}</head><body>ok</body></html>"


# ---- algorithm 5: CSP values split into policies, empty pieces kept -------------------


@pytest.mark.parametrize(
    ("values", "policies"),
    [
        (["default-src 'none', frame-ancestors 'none'"], ["default-src 'none'",
                                                          "frame-ancestors 'none'"]),
        (["img-src 'self',"], ["img-src 'self'", ""]),  # a trailing comma: an empty policy
        (["a, , b"], ["a", "", "b"]),
    ],
)  # fmt: skip
def test_split_keeps_empty_policies_as_the_observatory_does(
    values: list[str], policies: list[str]
) -> None:
    assert split_policies(values) == policies


@pytest.mark.parametrize(
    ("headers", "meta", "result", "frame_ancestors"),
    [
        # splitCspHeaders("default-src 'none',") → ["default-src 'none'", ""]; parseCsp
        # throws "Invalid policy" on "" → csp-header-invalid (−25), and no data for XFO.
        (["default-src 'none'; frame-ancestors 'none',"], [], "csp-header-invalid", False),
        # A <meta> value is split too: two policies, default-src 'none' (+10) and
        # frame-ancestors (combined policy data, so XFO counts it) — unsplit, default-src
        # would hold "'none'," and "frame-ancestors" as sources (+5 only).
        ([], ["default-src 'none', frame-ancestors 'none'"],
         "csp-implemented-with-no-unsafe-default-src-none", True),
        ([], ["default-src 'none',"], "csp-header-invalid", False),
    ],
)  # fmt: skip
def test_csp_policies_as_algorithm_5_reads_them(
    headers: list[str], meta: list[str], result: str, frame_ancestors: bool
) -> None:
    outcome = csp_test(headers, meta, False, True)
    assert outcome.result == result
    assert bool(outcome.directives and "frame-ancestors" in outcome.directives) == frame_ancestors


def test_empty_meta_contents_are_skipped() -> None:
    """1.4.8's parseHttpEquivHeaders pushes a CSP ``content`` and sets a referrer only
    when the value is non-empty (``if (content && …)``, ``if (attr)``), so an empty one is
    no policy at all (the oracle test below confirms it on a real page)."""
    found = parse_page(
        '<meta http-equiv="Content-Security-Policy" content=""><meta name="referrer" content="">'
    )
    assert (found.meta_csp, found.meta_referrer) == ([], [])


@pytest.mark.parametrize(
    ("html", "scripts"),
    [
        ("<textarea><script src=/a.js></script></textarea><script src=/b.js></script>",
         [("/b.js", None)]),
        ("<title>x <script src=/a.js></script></title>", []),
        ("<iframe><script src=/a.js></script></iframe>", []),
        # In SVG, <title> is an ordinary element and <script> has no src property.
        ("<svg><title><script src=/a.js></script></title></svg>", [(None, None)]),
        ("<svg/><script src=/b.js></script>", [("/b.js", None)]),
        ("<math><script src=/a.js></script></math><script src=/b.js></script>",
         [(None, None), ("/b.js", None)]),
    ],
)  # fmt: skip
def test_scripts_as_an_html_parser_sees_them(html: str, scripts: list[tuple[Any, Any]]) -> None:
    assert [(s.src, s.integrity) for s in parse_page(html).scripts] == scripts


# ---- real servers: the same cases scanned, and compared with the Observatory ----------

SCENARIOS = {
    "trailing-comma": Scenario(
        headers=with_headers((CSP,), ((CSP, "default-src 'none'; frame-ancestors 'none',"),))
    ),
    "meta-split": Scenario(
        headers=with_headers((CSP,)),
        body=page(
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none', frame-ancestors 'none'\">"
        ),
    ),
    "meta-csp-empty": Scenario(
        headers=with_headers((CSP,)),
        body=page('<meta http-equiv="Content-Security-Policy" content="">'),
    ),
    "meta-referrer-empty": Scenario(
        headers=with_headers(("Referrer-Policy",)),
        body=page('<meta name="referrer" content="">'),
    ),
    "nameless-cookie": Scenario(
        headers=with_headers(add=(("Set-Cookie", "t0ps3cr3tnameless; Secure; HttpOnly"),))
    ),
    # The preflight answers 405 but still sends Access-Control-Allow-Origin: *.
    "cors-405": Scenario(cors=(("Access-Control-Allow-Origin", "*"),), options_status=405),
    # Markup that jsdom does not read as a script element with a src: text inside
    # <textarea>/<title> (RCDATA), an SVG <script> (SVGScriptElement has no .src).
    "sri-textarea": Scenario(
        body=page(
            "<title>t</title></head><body><textarea>"
            '<script src="http://cdn.example.net/x.js"></script>'
            "</textarea>"
        )
    ),
    "sri-title": Scenario(
        body=page('<title><script src="http://cdn.example.net/x.js"></script></title>')
    ),
    "sri-svg": Scenario(
        body=page('</head><body><svg><script src="https://cdn.example.net/x.js"></script></svg>')
    ),
    # Untrusted certificate: robots.txt (404 here) is fetched through the session first.
    "cors-unverified": Scenario(
        http="bad-cert", https="bad", cors=(("Access-Control-Allow-Origin", "*"),)
    ),
}
# (test, result) per case, from the Observatory's code; "oracle" cases are also what the
# Observatory 1.4.8 package answers on the same servers (nothing there changed in 5).
EXPECTED: dict[str, dict[str, str]] = {
    "trailing-comma": {"content-security-policy": "csp-header-invalid",
                       "x-frame-options": "x-frame-options-sameorigin-or-deny"},
    "meta-split": {"content-security-policy": "csp-implemented-with-no-unsafe-default-src-none",
                   "x-frame-options": "x-frame-options-implemented-via-csp"},
    "meta-csp-empty": {"content-security-policy": "csp-not-implemented"},
    "meta-referrer-empty": {"referrer-policy": "referrer-policy-not-implemented"},
    # tough-cookie refuses a Set-Cookie without "=" in strict mode: nothing in the jar.
    "nameless-cookie": {"cookies": "cookies-not-found"},
    # session.js sends the preflight with axios' default validateStatus (2xx only): any
    # other answer rejects, options() returns null, and the test sees no CORS at all.
    "cors-405": {"cross-origin-resource-sharing": "cross-origin-resource-sharing-not-implemented"},
    # The same rule keeps a 404 robots.txt out of redirectHistory, so the preflight still
    # goes to the page (which answers * ), not to /robots.txt.
    "cors-unverified": {"cross-origin-resource-sharing":
                        "cross-origin-resource-sharing-implemented-with-public-access",
                        "strict-transport-security": "hsts-invalid-cert"},
    "sri-textarea": {"subresource-integrity": "sri-not-implemented-but-no-scripts-loaded"},
    "sri-title": {"subresource-integrity": "sri-not-implemented-but-no-scripts-loaded"},
    # Counted as a script (querySelectorAll finds it) but skipped for want of a src.
    "sri-svg": {"subresource-integrity":
                "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"},
}  # fmt: skip
ORACLE_CASES = (
    "meta-csp-empty", "meta-referrer-empty", "nameless-cookie", "cors-405", "cors-unverified",
    "sri-textarea", "sri-title", "sri-svg",
)  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from running_site(SCENARIOS, tmp_path_factory.mktemp("pki"))


def _options(site: Site, name: str) -> HeaderOptions:
    http, https = site.ports_for(name)
    return HeaderOptions(http, https, site.pki.ca, 8, hsts_preloaded=lambda _host: False)


@pytest.fixture(scope="module")
def reports(site: Site) -> dict[str, Report]:
    async def scan_all() -> list[Report]:
        return await asyncio.gather(
            *(audit_headers(site.url(n), _options(site, n)) for n in SCENARIOS)
        )

    return dict(zip(SCENARIOS, asyncio.run(scan_all()), strict=True))


def _results(report: Report) -> dict[str, str]:
    return {t["name"]: t["result"] for t in report.summary["tests"]}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_scanned_results(name: str, reports: dict[str, Report]) -> None:
    results = _results(reports[name])
    assert {k: results[k] for k in EXPECTED[name]} == EXPECTED[name]


def test_the_observatory_agrees_on_empty_metas_and_nameless_cookies(
    site: Site, reports: dict[str, Report]
) -> None:
    cases = []
    for name in ORACLE_CASES:
        http, https = site.ports_for(name)
        cases.append({"name": name, "host": "127.0.0.1", "httpPort": http, "httpsPort": https,
                      "path": f"/{name}/"})  # fmt: skip
    theirs = observatory_oracle.scan(cases, site.pki.ca)
    for name in ORACLE_CASES:
        oracle = {test: t["result"] for test, t in theirs[name]["tests"].items()}
        assert oracle == _results(reports[name]), name


def test_no_cookie_value_in_any_output(reports: dict[str, Report]) -> None:
    report = reports["nameless-cookie"]
    for fmt in ("json", "sarif"):
        assert "t0ps3cr3tnameless" not in render(report, fmt)
    assert "t0ps3cr3tnameless" not in json.dumps(report.summary)


# ---- fetch layer ----------------------------------------------------------------------


class _SlowPreflight(BaseHTTPRequestHandler):
    """A page that answers at once and a CORS preflight that trickles one byte every
    quarter second for 15 s: each read is quick, so only a total deadline stops it."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"<!doctype html><title>t</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        try:
            for _ in range(60):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.25)
        except OSError:
            pass  # the scanner gave up and closed the connection

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_preflight() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowPreflight)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_a_trickling_preflight_cannot_outlast_the_timeout(slow_preflight: int) -> None:
    from tests.conftest import free_port

    options = HeaderOptions(https_port=free_port(), timeout=1.5)
    started = time.monotonic()
    report = asyncio.run(audit_headers(f"http://127.0.0.1:{slow_preflight}/", options))
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"took {elapsed:.1f}s with --timeout 1.5"
    results = _results(report)  # the page was scored; the preflight counts as no answer
    assert results["cross-origin-resource-sharing"] == (
        "cross-origin-resource-sharing-not-implemented"
    )


@pytest.mark.parametrize(
    ("url", "message", "absent"),
    [
        # Without a scheme a port has no session to belong to; scanning 80/443 instead
        # would score another server under this URL's name.
        ("127.0.0.1:8080", "add the scheme: http://127.0.0.1:8080 or https://127.0.0.1:8080",
         None),
        ("localhost:3000/app", "http://localhost:3000/app", None),
        ("https://[::1", "is not a valid URL", None),
        ("http://127.0.0.1:0/", "port 0 in the URL is not a TCP port", None),
        ("ftp://deploy:hunter2secret@example.com/", "is not an http(s) URL", "hunter2secret"),
        ("https://deploy:hunter2secret@[::1", "is not a valid URL", "hunter2secret"),
    ],
)  # fmt: skip
def test_bad_targets_are_refused_clearly(url: str, message: str, absent: str | None) -> None:
    with pytest.raises(HeaderAuditError) as info:
        parse_target(url, HeaderOptions())
    assert info.value.usage and message in str(info.value)
    if absent:
        assert absent not in str(info.value)


def test_a_secret_query_value_is_not_shown_in_the_report_url() -> None:
    target = parse_target("https://example.com/status?token=abcd1234secret&x=1", HeaderOptions())
    assert "abcd1234secret" not in target.url and "x=1" in target.url
    assert target.https_url.endswith("?token=abcd1234secret&x=1")  # still fetched as given
