"""`lightkeeper audit headers URL`: the Mozilla HTTP Observatory score of a site, plus the
reference platform's own header list and Permissions-Policy.

The score is the one mdn/mdn-http-observatory v1.6.3 computes (algorithm version 5): ten
tests with the same result names and modifiers, bonuses counted only when the score
without them is at least 90, a floor at 0 and the same grade chart. ``grade.py`` holds the
numbers, ``fetch.py`` the retrieval, ``csp.py``/``cookies.py``/``page.py``/``checks.py``
the tests, ``extras.py`` what Lightkeeper checks besides, ``scan.py`` the report.
"""

from __future__ import annotations

import asyncio
import time
import warnings

from lightkeeper.audit.findings import Report
from lightkeeper.audit.headers.fetch import HeaderAuditError, HeaderOptions, parse_target, retrieve
from lightkeeper.audit.headers.scan import build_report, run_tests

__all__ = ["HeaderAuditError", "HeaderOptions", "audit_headers", "audit_headers_sync"]


def _default_preloaded(host: str) -> bool:
    """Chromium's HSTS preload list as packaged by ``hstspreload`` (the Observatory reads
    the same list from its conf/hsts-preload.json)."""
    from hstspreload import in_hsts_preload  # type: ignore[import-untyped]

    try:
        with warnings.catch_warnings():  # it opens its data with a deprecated importlib API
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(in_hsts_preload(host.lower()))
    except UnicodeEncodeError:  # a non-IDNA host name cannot be on the list
        return False


async def audit_headers(url: str, options: HeaderOptions | None = None) -> Report:
    """Scan ``url`` and return the header report. Raises HeaderAuditError (``usage`` set
    for bad input) when the site cannot be scanned."""
    options = options or HeaderOptions()
    if options.timeout <= 0:
        raise HeaderAuditError(f"timeout must be positive, got {options.timeout}", usage=True)
    started = time.monotonic()
    target = parse_target(url, options)
    retrieval = await retrieve(target, options)
    outcomes = run_tests(retrieval, options.hsts_preloaded or _default_preloaded)
    return build_report(target, retrieval, outcomes, time.monotonic() - started)


def audit_headers_sync(url: str, options: HeaderOptions | None = None) -> Report:
    """:func:`audit_headers` for callers without an event loop (the CLI)."""
    return asyncio.run(audit_headers(url, options))
