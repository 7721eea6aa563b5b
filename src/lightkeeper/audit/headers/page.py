"""What the Observatory reads from the page's HTML: ``<meta>`` policies and ``<script>`` tags,
and its Subresource Integrity test.

From mdn/mdn-http-observatory ``src/retriever/utils.js`` (``parseHttpEquivHeaders``: every
``<meta http-equiv="content-security-policy" content>`` is a policy; a ``<meta
name="referrer">`` sets the referrer policy, the last one winning) and
``src/analyzer/tests/subresource-integrity.js`` (npm 1.4.8, unchanged in algorithm 5). The
Observatory parses with jsdom; the standard library's HTMLParser finds the same elements in
ordinary pages once told what the HTML tokenizer knows: script contents are raw text in
both; so is the content of ``<title>``, ``<textarea>`` (RCDATA), ``<xmp>``, ``<iframe>``,
``<noembed>`` and ``<noframes>`` (RAWTEXT; HTML §13.2.6.4) outside SVG/MathML, where a
``<script src>`` is not a script; elements inside ``<template>`` are not in the document;
and a ``<script>`` inside ``<svg>`` or ``<math>`` is counted (``querySelectorAll`` finds
it) but has no ``src`` property, so the test skips it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from lightkeeper.audit.headers.cookies import registrable_domain

HTML_TYPES = ("text/html", "application/xhtml+xml")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")
_RELATIVE_PROTOCOL = re.compile(r"^//[^/]")
_FULL_URL = re.compile(r"^https?://")


@dataclass(frozen=True, slots=True)
class Script:
    src: str | None
    integrity: str | None


@dataclass
class Page:
    """The parts of an HTML page the tests read."""

    scripts: list[Script] = field(default_factory=list)
    meta_csp: list[str] = field(default_factory=list)
    meta_referrer: list[str] = field(default_factory=list)


_TEXT_ONLY = frozenset(("title", "textarea", "xmp", "iframe", "noembed", "noframes"))
_FOREIGN = frozenset(("svg", "math"))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._template_depth = 0
        self._foreign_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "template":
            self._template_depth += 1
        elif tag in _FOREIGN:
            self._foreign_depth += 1
        elif tag in _TEXT_ONLY and not self._foreign_depth:
            self.set_cdata_mode(tag)  # its content up to </tag> is text, not elements
        if self._template_depth:
            return
        values: dict[str, str] = {}
        for name, value in attrs:
            values.setdefault(name, value or "")  # the first of a repeated attribute wins
        if tag == "script":
            src = None if self._foreign_depth else values.get("src")
            self.page.scripts.append(Script(src, values.get("integrity")))
        elif tag == "meta":
            self._meta(values)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "template":
            self._template_depth -= 1
        elif tag in _FOREIGN:
            self._foreign_depth -= 1
        # A "/>" on <title/> or <textarea/> is ignored by HTML (§13.2.6.4): its text mode stays.

    def handle_endtag(self, tag: str) -> None:
        if tag == "template" and self._template_depth:
            self._template_depth -= 1
        elif tag in _FOREIGN and self._foreign_depth:
            self._foreign_depth -= 1

    def _meta(self, values: dict[str, str]) -> None:
        if "http-equiv" in values and "content" in values:
            content = values["content"]
            if content and values["http-equiv"].strip().lower() == "content-security-policy":
                self.page.meta_csp.append(content)
        elif values.get("name", "").strip().lower() == "referrer" and values.get("content"):
            self.page.meta_referrer = [values["content"]]


def parse_page(html: str) -> Page:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.page


def reflected_src(raw: str) -> str:
    """What jsdom's ``script.src`` returns with no document URL: an absolute URL
    serialized (http/https with scheme and host lower-cased and the slashes normalized), and
    anything relative unchanged (it cannot be resolved against about:blank)."""
    text = raw.strip(" \t\n\r\f")
    match = _SCHEME.match(text)
    if not match:
        return raw
    scheme = match.group(0)[:-1].lower()
    if scheme not in ("http", "https"):
        return text
    rest = text[match.end() :].lstrip("/\\")
    cut = re.search(r"[/?#\\]", rest)
    authority, path = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    path = path.replace("\\", "/")
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{authority.lower()}{path}"


def sri_result(page: Page, hostname: str, session_https: bool) -> str:
    """``subresourceIntegrityTest`` for an HTML page. A script is on a *secure origin* when
    its src is relative or a full URL on the scanned host's registrable domain (``tldts``
    ``parse().domain``: two IP hosts compare equal); a protocol-relative src (``//host``)
    is always foreign and never secure. The worst finding over all foreign scripts wins."""
    order = (
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-implemented-but-external-scripts-not-loaded-securely",
        "sri-not-implemented-but-external-scripts-loaded-securely",
        "sri-not-implemented-and-external-scripts-not-loaded-securely",
        "sri-not-implemented-response-not-html",
    )
    result: str | None = None

    def worse(new: str) -> None:
        nonlocal result
        if result is None or order.index(new) > order.index(result):
            result = new

    foreign = False
    site = registrable_domain(hostname)
    for script in page.scripts:
        if not script.src:
            continue
        src = reflected_src(script.src)
        integrity = script.integrity or None
        relative_protocol = bool(_RELATIVE_PROTOCOL.match(src))
        relative_origin = False
        if relative_protocol:
            same_site = True
        elif _FULL_URL.match(src):
            same_site = registrable_domain(urlsplit(src).hostname or "") == site
        else:
            relative_origin = same_site = True
        secure_origin = relative_origin or (same_site and not relative_protocol)
        if not secure_origin:
            foreign = True
        scheme = None if relative_protocol or relative_origin else urlsplit(src).scheme
        secure_scheme = scheme == "https" or (relative_origin and session_https)
        if not secure_origin:
            if integrity and not secure_scheme:
                worse("sri-implemented-but-external-scripts-not-loaded-securely")
            elif not integrity and secure_scheme:
                worse("sri-not-implemented-but-external-scripts-loaded-securely")
            elif not integrity:
                worse("sri-not-implemented-and-external-scripts-not-loaded-securely")
        elif integrity and secure_scheme and result is None:
            result = "sri-implemented-and-all-scripts-loaded-securely"
    if not page.scripts:
        return "sri-not-implemented-but-no-scripts-loaded"
    if result is None:
        if foreign:
            return "sri-implemented-and-external-scripts-loaded-securely"
        return "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
    return result


SRI_PASS = (
    "sri-implemented-and-all-scripts-loaded-securely",
    "sri-implemented-and-external-scripts-loaded-securely",
    "sri-not-implemented-response-not-html",
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
    "sri-not-implemented-but-no-scripts-loaded",
)
