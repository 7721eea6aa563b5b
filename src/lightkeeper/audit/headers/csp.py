"""Content-Security-Policy: the Observatory's policy parser and its CSP test.

Written from mdn/mdn-http-observatory ``src/analyzer/cspParser.js`` and
``src/analyzer/tests/csp.js`` (npm 1.4.8), with the one algorithm-5 change to this test:
PR #496 (v1.6.x, "split CSP headers into policies") splits every raw
``Content-Security-Policy`` value on "," before parsing, because HTTP clients join repeated
headers with ", " (RFC 9110 §5.3) and each piece is a policy of its own. Its
``splitCspHeaders`` is applied to the header values *and* to the ``<meta http-equiv>``
contents, and it only trims the pieces: an empty one (a trailing comma) stays, and
``parseCsp`` refuses it as an invalid policy (see ``split_policies``).

Several policies are combined the way the Observatory does (not the way a browser
enforces them): a directive of a later policy keeps only the sources that a source of an
earlier policy path-matches, found by sorting sources with ``Intl.Collator("en")`` and
comparing neighbours. The sort order matters for which neighbours meet, so ``_collation_key``
reproduces ICU's root order for ASCII.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

SHORTEST_POLICY = len("img-src") - 1
DISALLOWED_IN_META = ("frame-ancestors", "report-uri", "sandbox")
ALLOWED_DUPLICATES = ("report-uri", "report-to")
DUPLICATE_WARNINGS = "_observatory_duplicate_key_warnings"

DANGEROUSLY_BROAD = frozenset(
    ("ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*")
)
UNSAFE_INLINE = frozenset(("'unsafe-inline'", "data:"))
BROAD_OR_INLINE = DANGEROUSLY_BROAD | UNSAFE_INLINE
PASSIVE = ("img-src", "media-src")
NONCES_HASHES = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")

# Printable ASCII in the order of Intl.Collator("en").compare (ICU root collation,
# punctuation non-ignorable), as Node 20 sorts it; lower and upper case share a weight.
_ICU_ORDER = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_RANK = {c: i for i, c in enumerate(_ICU_ORDER)}


class CspParseError(ValueError):
    """The policy list cannot be parsed: the test answers ``csp-header-invalid``."""


def _collation_key(text: str) -> list[int]:
    return [_RANK.get(c, 1000 + ord(c)) for c in text.lower()]


@dataclass(slots=True)
class _Source:
    source: str
    index: int
    keep: bool


_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")


def _decode_component(piece: str) -> str:
    """``decodeURIComponent``, which throws (and so fails the whole parse) on a malformed
    escape or invalid UTF-8."""
    if _BAD_ESCAPE.search(piece):
        raise CspParseError(f"malformed escape in {piece!r}")
    try:
        return unquote_to_bytes(piece).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CspParseError(f"invalid UTF-8 escape in {piece!r}") from exc


def _path_part_match(a: str, b: str) -> bool:
    """``pathPartMatch``: does source ``a`` (from an earlier policy) cover ``b``?"""
    if not a:
        return True
    if a == "/" and not b:
        return True
    exact = not a.endswith("/")
    parts_a, parts_b = a.split("/"), b.split("/")
    if len(parts_a) > len(parts_b) or (exact and len(parts_a) != len(parts_b)):
        return False
    if not exact:
        parts_a.pop()
    return all(
        _decode_component(x) == _decode_component(y) for x, y in zip(parts_a, parts_b, strict=False)
    )


def parse_csp(policies: list[str]) -> dict[str, set[str]]:
    """``parseCsp``: directive → sources (lower-cased; an empty ``*-src`` is ``'none'``).
    Raises CspParseError for a policy shorter than six characters or a repeated directive
    (a repeated report-uri/report-to is allowed and noted under ``DUPLICATE_WARNINGS``)."""
    clean = [p.replace("\r", "").replace("\n", "").strip() for p in policies]
    if not clean:
        return {}
    for policy in clean:
        if not policy or len(policy) < SHORTEST_POLICY:
            raise CspParseError(f"invalid policy: {policy!r}")
    csp: dict[str, list[_Source]] = {}
    duplicates: set[str] = set()
    for index, policy in enumerate(clean):
        seen: set[str] = set()
        for entry in policy.split(";"):
            tokens = entry.split()
            if not tokens:
                continue
            directive = tokens[0].lower()
            if directive in seen:
                if directive not in ALLOWED_DUPLICATES:
                    raise CspParseError(f"duplicate directive {directive} in policy {index}")
                duplicates.add(directive)
            seen.add(directive)
            values = [_Source(t.lower(), index, index == 0) for t in tokens[1:]]
            if not values and directive.endswith("-src"):
                values = [_Source("'none'", index, index == 0)]
            combined = values if index == 0 else [*csp.get(directive, []), *values]
            combined.sort(key=lambda s: _collation_key(s.source))
            for prev, cur in itertools.pairwise(combined):
                if cur.index == prev.index and cur.source.startswith(prev.source):
                    cur.keep = False  # same policy: the longer source is superfluous
                if cur.index != prev.index and _path_part_match(prev.source, cur.source):
                    cur.keep = True  # a source must exist in both policies to count
            csp[directive] = [s for s in combined if s.keep]
            if index == 0 and len(policies) > 1:
                for source in csp[directive]:
                    source.keep = False
    final = {d: ({s.source for s in srcs} or {"'none'"}) for d, srcs in csp.items()}
    if duplicates:
        final[DUPLICATE_WARNINGS] = duplicates
    return final


def parse_csp_meta(policies: list[str]) -> dict[str, set[str]]:
    """``parseCspMeta``: as parse_csp, without the directives HTML forbids in a meta
    element (frame-ancestors, report-uri, sandbox: HTML §4.2.5.3)."""
    parsed = parse_csp(policies)
    for directive in DISALLOWED_IN_META:
        parsed.pop(directive, None)
    return parsed


def split_policies(values: list[str]) -> list[str]:
    """Algorithm 5's ``splitCspHeaders``: each header value or meta content split on ','
    and trimmed. Empty pieces are kept on purpose, as the Observatory keeps them
    (``v.split(",").map((s) => s.trim())``): ``default-src 'none',`` is two policies, the
    second empty, and the whole list is then ``csp-header-invalid``."""
    return [piece.strip() for value in values for piece in value.split(",")]


@dataclass(frozen=True, slots=True)
class CspOutcome:
    """``result`` and ``passed`` as the Observatory reports them; ``directives`` is the
    combined policy (``output.data``), None when no policy was analysed."""

    result: str
    passed: bool
    directives: dict[str, list[str]] | None = None


def _nonce_or_hash(sources: set[str]) -> bool:
    return any(s.startswith(NONCES_HASHES) for s in sources)


_PASSING = (
    "csp-implemented-with-no-unsafe",
    "csp-implemented-with-no-unsafe-default-src-none",
    "csp-implemented-with-unsafe-inline-in-style-src-only",
    "csp-implemented-with-insecure-scheme-in-passive-content-only",
)


def csp_test(
    header_values: list[str] | None, meta: list[str], report_only: bool, https: bool
) -> CspOutcome:
    """``contentSecurityPolicyTest``. ``header_values`` are the page's CSP header values
    (None when there was no page), ``meta`` its ``<meta http-equiv>`` policies,
    ``report_only`` whether a Content-Security-Policy-Report-Only header was sent, ``https``
    whether the scanned session started on https (insecure-scheme checks apply only then).
    The first matching rule in the order below decides the result."""
    if header_values is None:
        return CspOutcome("csp-not-implemented", False)
    headers, meta = split_policies(header_values), split_policies(meta)
    try:
        csp = parse_csp([*headers, *meta])
    except CspParseError:
        return CspOutcome("csp-header-invalid", False)
    try:
        header_only = parse_csp(headers)
    except CspParseError:
        header_only = {}
    try:
        meta_only = parse_csp_meta(meta)
    except CspParseError:
        meta_only = {}
    if not header_only and not meta_only:
        # A meta tag holding only header-only directives counts as no policy at all.
        absent = "csp-not-implemented-but-reporting-enabled" if report_only else None
        return CspOutcome(absent or "csp-not-implemented", False)

    result: str | None = None
    script_src = csp.get("script-src") or csp.get("default-src") or {"*"}
    style_src = csp.get("style-src") or csp.get("default-src") or {"*"}
    object_src = csp.get("object-src") or csp.get("default-src") or {"*"}
    # These are the parsed sets themselves: removals below show in csp too, as in the JS.
    for sources in (script_src, style_src):
        if _nonce_or_hash(sources) and "'unsafe-inline'" in sources:
            sources.discard("'unsafe-inline'")
    if _nonce_or_hash(script_src) and "'strict-dynamic'" in script_src:
        for source in list(script_src):
            if source.startswith(tuple(DANGEROUSLY_BROAD)) or source in (
                "'self'",
                "'unsafe-inline'",
            ):
                script_src.discard(source)
    elif "'strict-dynamic'" in script_src:
        result = "csp-header-invalid"  # strict-dynamic without a nonce or hash

    active = [s for d, srcs in csp.items() if d not in PASSIVE and d != "script-src" for s in srcs]
    active.extend(script_src)
    passive = [s for d in PASSIVE for s in (csp.get(d) or csp.get("default-src") or set())]
    insecure = ("http:", "ftp:")

    def first(candidate: str) -> None:
        nonlocal result
        if result is None:
            result = candidate

    if script_src & BROAD_OR_INLINE or object_src & DANGEROUSLY_BROAD:
        first("csp-implemented-with-unsafe-inline")
    if https and any(s.startswith(insecure) for s in active):
        first("csp-implemented-with-insecure-scheme")
    if "'unsafe-eval'" in script_src | style_src:
        first("csp-implemented-with-unsafe-eval")
    if https and any(s.startswith(insecure) for s in passive):
        first("csp-implemented-with-insecure-scheme-in-passive-content-only")
    if style_src & BROAD_OR_INLINE:
        first("csp-implemented-with-unsafe-inline-in-style-src-only")
    default_src = csp.get("default-src")
    if default_src is not None and default_src == {"'none'"}:
        first("csp-implemented-with-no-unsafe-default-src-none")
    else:
        first("csp-implemented-with-no-unsafe")
    assert result is not None
    passed = result in _PASSING
    if passed and DUPLICATE_WARNINGS in csp:
        result = "csp-implemented-but-duplicate-directives"
    directives = {d: sorted(s) for d, s in csp.items() if d != DUPLICATE_WARNINGS}
    return CspOutcome(result, passed, directives)
