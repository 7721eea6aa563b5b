"""Cookies as the Observatory keeps them, and its ``cookies`` test.

The Observatory (mdn/mdn-http-observatory ``src/retriever/session.js``) stores every
``Set-Cookie`` of a session's redirect chain in a tough-cookie 5 ``CookieJar`` (through
http-cookie-agent, errors ignored) and its test (``src/analyzer/tests/cookies.js``) reads
``jar.serializeSync().cookies``: every stored cookie, expired ones included. What decides
whether a cookie is stored at all is tough-cookie's ``Cookie.parse`` (strict mode: a name
and ``=`` are required, control characters refuse the cookie) and ``setCookie``: a
``Domain`` that is a public suffix or does not domain-match the host refuses it (RFC 6265
§5.3 steps 5-6), ``__Secure-`` and ``__Host-`` prefixes are enforced silently (RFC 6265bis
§4.1.3), and a cookie replaces one with the same name, domain and path. Nothing refuses a
``Secure`` cookie sent over plain HTTP. ``SameSite`` other than Strict/Lax/None is stored
as absent; the raw-header check in the test catches it instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

# RFC 6761 names tough-cookie treats as public suffixes of their own (allowSpecialUseDomain).
_SPECIAL_USE = ("local", "example", "invalid", "localhost", "test")
_SPECIAL_SINGLE = ("localhost", "invalid")
_CONTROL = {chr(c) for c in range(0x20)}
# COOKIES_TO_DELETE in cookies.js (mozilla/http-observatory#282).
_IGNORED_NAMES = ("heroku-session-affinity",)


@dataclass(slots=True)
class Cookie:
    """The attributes the test reads. ``same_site`` is 'strict', 'lax', 'none' or None."""

    key: str
    value: str
    domain: str = ""
    path: str = "/"
    secure: bool = False
    http_only: bool = False
    same_site: str | None = None
    host_only: bool = True
    expired: bool = False


@cache
def _psl(icann_only: bool) -> PublicSuffixList:
    return PublicSuffixList(only_icann=icann_only)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def registrable_domain(host: str, *, private: bool = False) -> str | None:
    """The registrable domain ("example.co.uk" for "www.example.co.uk") from the Public
    Suffix List, ICANN section only unless ``private`` (as tldts' ``getDomain``); None for
    an IP address or a bare public suffix."""
    host = host.lower().rstrip(".")
    if not host or is_ip(host):
        return None
    found = _psl(not private).privatesuffix(host)
    return str(found) if found else None


def _domain_suffix(domain: str) -> str | None:
    """tough-cookie ``getPublicSuffix`` (which returns the registrable domain) for a
    ``Domain`` attribute: None means the cookie names a public suffix and is refused."""
    labels = domain.split(".")
    if labels[-1] in _SPECIAL_USE:
        if len(labels) > 1:
            return f"{labels[-2]}.{labels[-1]}"
        if labels[-1] in _SPECIAL_SINGLE:
            return labels[-1]
    return registrable_domain(domain, private=True)


def _domain_match(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: identical, or a dot-aligned suffix of a host that is not an IP."""
    if host == domain:
        return True
    return host.endswith("." + domain) and not is_ip(host)


def _default_path(path: str) -> str:
    """RFC 6265 §5.1.4."""
    if not path.startswith("/") or path.count("/") <= 1:
        return "/"
    return path[: path.rindex("/")]


def parse(header: str) -> Cookie | None:
    """One ``Set-Cookie`` value, tough-cookie 5 strict mode; None when refused."""
    text = header.strip()
    for terminator in ("\n", "\r", "\0"):
        text = text.split(terminator, 1)[0]
    pair, _, attributes = text.partition(";")
    eq = pair.find("=")
    if eq <= 0:
        return None
    key, value = pair[:eq].strip(), pair[eq + 1 :].strip()
    if _CONTROL & set(key + value):
        return None
    cookie = Cookie(key=key, value=value, path="")
    for item in attributes.split(";"):
        name, sep, raw = item.strip().partition("=")
        name = name.strip().lower()
        val = raw.strip() if sep else ""
        if name == "max-age" and val and val.lstrip("-").isdigit() and val[:1] in "-0123456789":
            cookie.expired = int(val) <= 0
        elif name == "domain" and val:
            domain = val[1:] if val.startswith(".") else val  # one leading dot only
            cookie.domain = domain.lower() if domain else cookie.domain
        elif name == "path":
            cookie.path = val if val.startswith("/") else ""
        elif name == "secure":
            cookie.secure = True
        elif name == "httponly":
            cookie.http_only = True
        elif name == "samesite":
            low = val.lower()
            cookie.same_site = low if low in ("strict", "lax", "none") else None
    return cookie


@dataclass
class CookieJar:
    """A session's cookies keyed by (domain, path, name), in the order first stored."""

    cookies: dict[tuple[str, str, str], Cookie] = field(default_factory=dict)

    def store(self, headers: list[str], url: str) -> None:
        """Every ``Set-Cookie`` of a response to ``url``, each refused silently as
        tough-cookie's ``setCookie(…, {ignoreError: true})`` would."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        for header in headers:
            cookie = parse(header)
            if cookie is None:
                continue
            if cookie.domain:
                if _domain_suffix(cookie.domain) is None and ":" not in cookie.domain:
                    continue
                if not _domain_match(host, cookie.domain):
                    continue
                cookie.host_only = False
            else:
                cookie.domain = host
            if not cookie.path:
                cookie.path = _default_path(parts.path)
            if cookie.key.startswith("__Secure-") and not cookie.secure:
                continue
            if cookie.key.startswith("__Host-") and not (
                cookie.secure and cookie.host_only and cookie.path == "/"
            ):
                continue
            self.cookies[(cookie.domain, cookie.path, cookie.key)] = cookie

    def header_for(self, url: str) -> str | None:
        """The ``Cookie`` request header for ``url`` (live cookies that match its host,
        path and scheme), so a site that sets a cookie on one hop sees it on the next."""
        parts = urlsplit(url)
        host, path = (parts.hostname or "").lower(), parts.path or "/"
        chosen = [
            f"{c.key}={c.value}"
            for c in self.cookies.values()
            if not c.expired
            and (host == c.domain if c.host_only else _domain_match(host, c.domain))
            and (path == c.path or path.startswith(c.path.rstrip("/") + "/"))
            and (parts.scheme == "https" or not c.secure)
        ]
        return "; ".join(chosen) or None

    def all(self) -> list[Cookie]:
        """``serializeSync().cookies`` filtered as the test does (no name, Heroku's)."""
        return [c for c in self.cookies.values() if c.key and c.key not in _IGNORED_NAMES]


def _invalid_same_site(raw: str) -> bool:
    """``containsInvalidSameSiteCookie``: a SameSite attribute with no value or a value
    other than lax/strict/none. Split on '=' and keep the second piece, as the JS does."""
    for part in raw.strip().split(";"):
        pieces = part.strip().split("=")
        if pieces[0].strip().lower() == "samesite":
            value = pieces[1] if len(pieces) > 1 else ""
            if not value or value.strip().lower() not in ("lax", "strict", "none"):
                return True
    return False


# From best to worst: a later entry overrides an earlier one (``onlyIfWorse``).
_ORDER = (
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
)


def _worse(new: str, old: str | None) -> str:
    return new if old is None or _ORDER.index(new) > _ORDER.index(old) else old


def cookies_result(raw_set_cookie: list[str], cookies: list[Cookie], hsts_pass: bool) -> str:
    """The ``cookies`` test. ``raw_set_cookie`` are the final page's Set-Cookie values (only
    they are checked for a malformed SameSite), ``cookies`` the session jar, ``hsts_pass``
    whether the HSTS test passed (which softens a missing Secure flag). A session cookie is
    one whose name contains "login" or "sess"; an anti-CSRF one contains "csrf"."""
    result: str | None = None
    for raw in raw_set_cookie:
        if _invalid_same_site(raw):
            result = _worse("cookies-samesite-flag-invalid", result)
    if not cookies:
        return "cookies-not-found"
    missing_same_site = False
    for c in cookies:
        name = c.key.lower()
        session = "login" in name or "sess" in name
        if not c.secure and c.same_site == "none":
            result = _worse("cookies-samesite-flag-invalid", result)
        if not c.secure:
            result = _worse(
                "cookies-without-secure-flag-but-protected-by-hsts"
                if hsts_pass
                else "cookies-without-secure-flag",
                result,
            )
        if "csrf" in name and not c.same_site:
            result = _worse("cookies-anticsrf-without-samesite-flag", result)
        if session and not c.secure:
            result = _worse(
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts_pass
                else "cookies-session-without-secure-flag",
                result,
            )
        if session and not c.http_only:
            result = _worse("cookies-session-without-httponly-flag", result)
        missing_same_site = missing_same_site or not c.same_site
    if result is not None:
        return result
    if missing_same_site:
        return "cookies-secure-with-httponly-sessions"
    return "cookies-secure-with-httponly-sessions-and-samesite"


COOKIES_PASS = (
    "cookies-not-found",
    "cookies-secure-with-httponly-sessions-and-samesite",
    "cookies-secure-with-httponly-sessions",
)
