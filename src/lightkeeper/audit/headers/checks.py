"""The Observatory's header tests besides CSP, cookies and SRI, one function each.

Each follows its file in mdn/mdn-http-observatory ``src/analyzer/tests/`` (npm 1.4.8; in
algorithm 5 only x-frame-options' *score* changed, see grade.py). A test returns
``(result, passed)``; "passed" is the Observatory's own pass flag, which is not the same as
a non-negative modifier (e.g. passive-content CSP passes at −10).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from lightkeeper.audit.headers.fetch import Retrieval

Outcome = tuple[str, bool]
# 15768000 s is six months, "but a lot of sites use 15552000, so a white lie is in order".
SIX_MONTHS = 15_552_000
_INT_PREFIX = re.compile(r"^\s*([+-]?\d+)")


def redirection(r: Retrieval, preloaded: Callable[[str], bool]) -> Outcome:
    """The http:// session's chain: absent → nothing to redirect; unverified (an https hop
    had a bad certificate) → invalid-cert; every hop's host preloaded → fine; no redirect →
    missing; ending on http → not-to-https; first hop to http → not-to-https-on-initial;
    first hop to another host → off-host (HSTS set there never reaches the typed host)."""
    session = r.http
    if session.response is None:
        return "redirection-not-needed-no-http", True
    if not session.response.verified:
        return "redirection-invalid-cert", False
    route = session.history
    hosts = [_host(h.url) for h in route]
    if all(preloaded(h) for h in hosts):
        return "redirection-all-redirects-preloaded", True
    if len(route) == 1:
        return "redirection-missing", False
    schemes = [urlsplit(h.url).scheme.lower() for h in route]
    if schemes[-1] != "https":
        return "redirection-not-to-https", False
    if schemes[1] == "http":
        return "redirection-not-to-https-on-initial-redirection", False
    if schemes[0] == "http" and hosts[0] != hosts[1]:
        return "redirection-off-host-from-http", False
    return "redirection-to-https", True


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


_GOOD_REFERRERS = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
_BAD_REFERRERS = ("origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade")


def referrer_policy(r: Retrieval) -> Outcome:
    """Header values then ``<meta name="referrer">`` joined; the last value a browser
    knows decides (Referrer Policy §8.1 "the last recognized token")."""
    assert r.auto.response is not None
    values = [*r.auto.response.headers.values("referrer-policy"), *r.page.meta_referrer]
    if not values:
        return "referrer-policy-not-implemented", True
    known = [
        t.strip().lower()
        for t in ", ".join(values).split(",")
        if t.strip().lower() in (*_GOOD_REFERRERS, *_BAD_REFERRERS)
    ]
    policy = known[-1] if known else ""
    if policy in _GOOD_REFERRERS:
        return "referrer-policy-private", True
    if policy in _BAD_REFERRERS:
        return "referrer-policy-unsafe", False
    return "referrer-policy-header-invalid", False


def _parse_int(text: str) -> int | None:
    """JavaScript ``parseInt(text, 10)``; None stands for NaN."""
    match = _INT_PREFIX.match(text)
    return int(match.group(1)) if match else None


def strict_transport_security(r: Retrieval, preloaded: Callable[[str], bool]) -> Outcome:
    """The https session's final response. A header holding ',' (sent twice) or without
    max-age is invalid. As in the JS, a max-age that is not a number (parseInt → NaN) is
    not "less than six months" and so counts as at least six months. A preloaded host
    (Chromium's list) passes whatever the header says."""
    response = r.https.response
    result = "hsts-not-implemented"
    if response is None:
        result = "hsts-not-implemented-no-https"
    elif not response.verified:
        result = "hsts-invalid-cert"
    elif header := response.headers.first("strict-transport-security"):
        data = header[:1024]
        max_age: int | None = None
        seen_max_age = False
        for parameter in (p.strip().lower() for p in data.split(";")):
            if parameter.startswith("max-age="):
                seen_max_age = True
                max_age = _parse_int(parameter[8:128])
        if "," in data or not seen_max_age:
            result = "hsts-header-invalid"
        elif max_age is not None and max_age < SIX_MONTHS:
            result = "hsts-implemented-max-age-less-than-six-months"
        else:
            result = "hsts-implemented-max-age-at-least-six-months"
    if response is not None and preloaded(r.hostname.lower()):
        result = "hsts-preloaded"
    passed = result in ("hsts-implemented-max-age-at-least-six-months", "hsts-preloaded")
    return result, passed


def x_content_type_options(r: Retrieval) -> Outcome:
    assert r.auto.response is not None
    header = r.auto.response.headers.first("x-content-type-options")
    if not header:
        return "x-content-type-options-not-implemented", False
    if header[:256].strip().lower() == "nosniff":
        return "x-content-type-options-nosniff", True
    return "x-content-type-options-header-invalid", False


def x_frame_options(r: Retrieval, csp_directives: dict[str, list[str]] | None) -> Outcome:
    """DENY/SAMEORIGIN pass; ALLOW-FROM passes (0) though browsers ignore it; a CSP
    ``frame-ancestors`` (in the combined policy the CSP test analysed) overrides all."""
    assert r.auto.response is not None
    header = r.auto.response.headers.first("x-frame-options")
    if not header:
        result = "x-frame-options-not-implemented"
    elif (value := header[:1024].strip().lower()) in ("deny", "sameorigin"):
        result = "x-frame-options-sameorigin-or-deny"
    elif value.startswith("allow-from"):
        result = "x-frame-options-allow-from-origin"
    else:
        result = "x-frame-options-header-invalid"
    if csp_directives and "frame-ancestors" in csp_directives:
        result = "x-frame-options-implemented-via-csp"
    return result, result not in (
        "x-frame-options-not-implemented",
        "x-frame-options-header-invalid",
    )


def cross_origin_resource_policy(r: Retrieval) -> Outcome:
    assert r.auto.response is not None
    header = r.auto.response.headers.first("cross-origin-resource-policy")
    if not header:
        return "corp-not-implemented", True
    value = header[:256].strip().lower()
    result = {
        "same-site": "corp-implemented-with-same-site",
        "same-origin": "corp-implemented-with-same-origin",
        "cross-origin": "corp-implemented-with-cross-origin",
    }.get(value, "corp-header-invalid")
    return result, result != "corp-header-invalid"


def cross_origin_resource_sharing(r: Retrieval) -> Outcome:
    """The preflight's ``Access-Control-Allow-Origin``: '*' is public, anything else
    restricted. The JS would call it universal access (−50) when the answer echoes the
    request's Origin with credentials allowed, but it reads the Origin from
    ``response.request.headers``, which Node's ClientRequest does not have, so that branch
    never fires in the Observatory; Lightkeeper scores as the Observatory does and reports
    the echo separately (see extras.py)."""
    if r.cors is None:
        return "cross-origin-resource-sharing-not-implemented", True
    acao = r.cors.headers.first("access-control-allow-origin")
    if not acao:
        return "cross-origin-resource-sharing-not-implemented", True
    if acao[:256].strip().lower() == "*":
        return "cross-origin-resource-sharing-implemented-with-public-access", True
    return "cross-origin-resource-sharing-implemented-with-restricted-access", True
