"""Retrieving a site the way the Observatory does before it scores it.

From mdn/mdn-http-observatory ``src/retriever/retriever.js``, ``session.js`` and ``url.js``
(npm 1.4.8; algorithm 5 did not change retrieval):

- two sessions at once, ``http://host[:http-port]/path`` and ``https://host[:https-port]/
  path``, each following up to 10 redirects (301, 302, 303, 307, 308) by GET and recording
  every hop, with a cookie jar of its own and one time budget for the whole chain;
- a certificate error makes a session start again without verification, and everything
  it then returns is marked unverified (the redirection and HSTS tests fail on it);
- the page scored (``auto``) is the https session's final response when https answered at
  all, else the http one's; without either the site "seems to be down";
- a CORS preflight (``OPTIONS`` with ``Origin: https://http-observatory.security.mozilla.org``
  and ``Access-Control-Request-Method: GET``) goes to the last URL of that session. Algorithm
  4 and 5 read no ``/crossdomain.xml`` or ``/clientaccesspolicy.xml`` any more.
- When verification was given up, ``/robots.txt`` is fetched through the session too and,
  as in session.js, becomes the last recorded URL: the preflight then goes there and both
  responses' cookies count. Both requests use axios' default ``validateStatus``: a non-2xx
  answer is no answer (not recorded; a preflight answered 405 is "no CORS").

Headers are read the way Node's HTTP parser hands them over: repeated headers joined with
", ", except ``Set-Cookie`` (kept apart) and the fields Node keeps only the first of.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from lightkeeper.audit.headers.cookies import CookieJar
from lightkeeper.audit.headers.page import HTML_TYPES, Page, parse_page
from lightkeeper.redact import redact_url

ACCEPT_PAGE = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_ROBOTS = "text/plain,*/*;q=0.8"
CORS_ORIGIN = "https://http-observatory.security.mozilla.org"
REDIRECTS = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 10
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:129.0) Gecko/20100101 Firefox/129.0 "
    "Observatory/129.0 Lightkeeper"
)
# Node's http parser keeps only the first of these when a response repeats them.
_FIRST_ONLY = frozenset(
    ("age", "authorization", "content-length", "content-type", "etag", "expires", "from",
     "host", "if-modified-since", "if-unmodified-since", "last-modified", "location",
     "max-forwards", "proxy-authorization", "referer", "retry-after", "server", "user-agent")
)  # fmt: skip


class HeaderAuditError(Exception):
    """The audit cannot run: bad input (``usage`` True, exit 3) or an unreachable site
    (exit 2). The message says what happened and what to do."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class HeaderOptions:
    """How to reach the site. ``http_port``/``https_port`` are the Observatory's options
    of the same name (the ports scanned besides the URL's own); ``ca_file`` adds a private
    CA to the system's trust; ``timeout`` bounds each session's whole redirect chain
    (the Observatory's 10 s abort timeout) and, once more, the robots.txt and CORS
    preflight requests after it; ``hsts_preloaded`` answers "is this host on the HSTS
    preload list" (default: Chromium's list from the ``hstspreload`` package)."""

    http_port: int | None = None
    https_port: int | None = None
    ca_file: Path | None = None
    timeout: float = 10.0
    max_body_bytes: int = 10 * 1024 * 1024
    hsts_preloaded: Callable[[str], bool] | None = None


class NodeHeaders:
    """Response headers as axios exposes them to the Observatory's tests."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._all: dict[str, list[str]] = {}
        for name, value in items:
            self._all.setdefault(name.lower(), []).append(value)

    def values(self, name: str) -> list[str]:
        """``getHttpHeaders``: Set-Cookie one by one, everything else as one joined value."""
        found = self._all.get(name.lower(), [])
        if not found or name.lower() == "set-cookie":
            return list(found)
        return [found[0]] if name.lower() in _FIRST_ONLY else [", ".join(found)]

    def first(self, name: str) -> str | None:
        """``getFirstHttpHeader``."""
        found = self.values(name)
        return found[0] if found else None

    def as_dict(self) -> dict[str, str]:
        return {name: "\n".join(self.values(name)) for name in self._all}


@dataclass(frozen=True, slots=True)
class Hop:
    url: str
    status: int


@dataclass
class Response:
    url: str
    status: int
    headers: NodeHeaders
    body: bytes
    verified: bool


@dataclass
class Session:
    """One of the two sessions. ``response`` is None when nothing answered (``error`` says
    why); ``history`` holds every hop, the final response included."""

    url: str
    jar: CookieJar = field(default_factory=CookieJar)
    history: list[Hop] = field(default_factory=list)
    response: Response | None = None
    verified: bool = True
    error: str | None = None


@dataclass
class Retrieval:
    """Everything the ten tests read."""

    hostname: str
    http: Session
    https: Session
    auto: Session
    page_url: str
    cors: Response | None
    page: Page
    is_html: bool


@dataclass(frozen=True, slots=True)
class Target:
    """What to scan: ``url`` as the user named it (normalized), its ``origin``, and the two
    URLs the sessions start from."""

    url: str
    hostname: str
    http_url: str
    https_url: str
    origin: str


def parse_target(url: str, options: HeaderOptions) -> Target:
    """``https://example.com/path``, ``http://127.0.0.1:8080`` or a bare host name. A port
    in the URL is the port of its scheme; the other scheme's port comes from the options
    (or its default). A bare ``host:port`` is refused: its port belongs to no scheme, and
    scanning ports 80 and 443 instead would score another server under this name. Errors
    quote the URL without its password or secret-looking query values."""
    text = url.strip()
    shown = repr(redact_url(text))
    if not text:
        raise HeaderAuditError("no URL given: pass one, e.g. https://example.com", usage=True)
    scheme_given = "://" in text
    try:
        parts = urlsplit(text if scheme_given else f"https://{text}")
    except ValueError as exc:
        raise HeaderAuditError(
            f"{shown} is not a valid URL ({exc}): pass one like https://example.com or "
            "https://[2001:db8::1]:8443/",
            usage=True,
        ) from None
    try:
        port = parts.port
    except ValueError as exc:
        raise HeaderAuditError(f"{shown} has an invalid port ({exc})", usage=True) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HeaderAuditError(
            f"{shown} is not an http(s) URL: pass one like https://example.com", usage=True
        )
    if port is not None and not scheme_given:
        bare = text.rstrip("/")
        raise HeaderAuditError(
            f"{shown} has a port but no scheme: add the scheme: http://{bare} or "
            f"https://{bare} (the other scheme's port goes in --http-port/--https-port)",
            usage=True,
        )
    if port == 0:
        raise HeaderAuditError(f"{shown}: port 0 in the URL is not a TCP port", usage=True)
    http_port, https_port = options.http_port, options.https_port
    if port is not None:
        if parts.scheme == "http" and http_port is None:
            http_port = port
        if parts.scheme == "https" and https_port is None:
            https_port = port
    for label, value in (("--http-port", http_port), ("--https-port", https_port)):
        if value is not None and not 0 < value < 65536:
            raise HeaderAuditError(f"{label} {value} is not a TCP port (1-65535)", usage=True)
    host = parts.hostname
    bracketed = f"[{host}]" if ":" in host else host
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    def build(scheme: str, port_: int | None) -> str:
        return f"{scheme}://{bracketed}{f':{port_}' if port_ else ''}{path}"

    origin = f"{parts.scheme}://{bracketed}{f':{port}' if port else ''}"
    given = redact_url(f"{origin}{path}")  # shown in reports; the sessions fetch it as given
    return Target(given, host, build("http", http_port), build("https", https_port), origin)


def tls_contexts(ca_file: Path | None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(verifying, not verifying). Verification trusts the system's CAs plus ``ca_file``."""
    verifying = ssl.create_default_context()
    if ca_file is not None:
        try:
            verifying.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise HeaderAuditError(
                f"--ca-file {ca_file}: cannot load it as PEM certificates ({exc}); "
                "pass the CA certificate that signed the site's certificate",
                usage=True,
            ) from None
    lax = ssl.create_default_context()
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    return verifying, lax


def is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe(exc: BaseException) -> str:
    """A one-line reason for a failed connection, without the traceback."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    if is_certificate_error(exc):
        return "certificate not trusted"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


async def _request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    accept: str,
    jar: CookieJar | None,
    limit: int,
    extra: dict[str, str] | None = None,
) -> Response:
    headers = {"Accept": accept, **(extra or {})}
    cookie = jar.header_for(url) if jar is not None else None
    if cookie:
        headers["Cookie"] = cookie
    async with client.stream(method, url, headers=headers) as reply:
        body = bytearray()
        async for chunk in reply.aiter_bytes():
            body += chunk
            if len(body) > limit:
                break
        node = NodeHeaders(reply.headers.multi_items())
    if jar is not None:
        jar.store(node.values("set-cookie"), url)
    return Response(url, reply.status_code, node, bytes(body), True)


async def _chain(
    session: Session, client: httpx.AsyncClient, verified: bool, limit: int
) -> Response:
    """The recording client: every hop into ``history`` and the jar, redirects by GET."""
    url, redirects = session.url, 0
    while True:
        response = await _request(client, "GET", url, ACCEPT_PAGE, session.jar, limit)
        session.history.append(Hop(url, response.status))
        location = response.headers.first("location")
        if response.status in REDIRECTS and redirects < MAX_REDIRECTS and location:
            url, redirects = urljoin(url, location.strip()), redirects + 1
            continue
        response.verified = verified
        return response


async def _follow(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    accept: str,
    jar: CookieJar | None,
    limit: int,
    extra: dict[str, str] | None = None,
) -> Response:
    """The plain client (axios' own redirect following, 10 at most): OPTIONS stays OPTIONS
    on 301/302/307/308, 303 turns it into GET (follow-redirects' rules)."""
    for _ in range(MAX_REDIRECTS + 1):
        response = await _request(client, method, url, accept, jar, limit, extra)
        location = response.headers.first("location")
        if response.status not in REDIRECTS or not location:
            return response
        method = "GET" if response.status == 303 else method
        url = urljoin(url, location.strip())
    raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


async def _open(
    url: str, clients: tuple[httpx.AsyncClient, httpx.AsyncClient], options: HeaderOptions
) -> Session:
    session = Session(url)
    try:
        async with asyncio.timeout(options.timeout):
            try:
                session.response = await _chain(session, clients[0], True, options.max_body_bytes)
            except httpx.HTTPError as exc:
                if not is_certificate_error(exc):
                    raise
                # session.js: retry without verification; the jar keeps what it had.
                session.history, session.verified = [], False
                session.response = await _chain(session, clients[1], False, options.max_body_bytes)
    except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, OSError, ValueError) as exc:
        session.response, session.error = None, describe(exc)
    return session


def _answered(response: Response) -> bool:
    """axios' default ``validateStatus`` (2xx), which the session's plain client keeps: any
    other status rejects, so session.js's ``get``/``options`` return null and the
    recording interceptor never sees the response."""
    return 200 <= response.status < 300


async def _preflight(
    session: Session, clients: tuple[httpx.AsyncClient, ...], limit: int
) -> Response | None:
    client = clients[0] if session.verified else clients[1]
    jar = None if session.verified else session.jar
    try:
        if not session.verified:
            robots = urljoin(session.url, "/robots.txt")
            reply = await _follow(client, "GET", robots, ACCEPT_ROBOTS, jar, limit)
            if _answered(reply):
                session.history.append(Hop(robots, reply.status))
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError):
        pass
    cors_url = session.history[-1].url if session.history else session.url
    extra = {"Access-Control-Request-Method": "GET", "Origin": CORS_ORIGIN}
    try:
        reply = await _follow(client, "OPTIONS", cors_url, ACCEPT_PAGE, jar, limit, extra)
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError):
        return None
    if not _answered(reply):
        return None
    if not session.verified:
        session.history.append(Hop(cors_url, reply.status))
    return reply


async def retrieve(target: Target, options: HeaderOptions) -> Retrieval:
    """Fetch both sessions, the preflight and the page; HeaderAuditError when neither
    session answered or the page's status is one the Observatory refuses to score."""
    verifying, lax = tls_contexts(options.ca_file)
    common: dict[str, object] = {
        "headers": {"User-Agent": USER_AGENT},
        "timeout": options.timeout,
        "follow_redirects": False,
        "trust_env": False,
    }
    async with (
        httpx.AsyncClient(verify=verifying, **common) as strict,  # type: ignore[arg-type]
        httpx.AsyncClient(verify=lax, **common) as loose,  # type: ignore[arg-type]
    ):
        clients = (strict, loose)
        http, https = await asyncio.gather(
            _open(target.http_url, clients, options), _open(target.https_url, clients, options)
        )
        auto = https if https.response is not None else http
        if auto.response is None:
            raise HeaderAuditError(
                f"{target.hostname} cannot be reached: {target.http_url} ({http.error}); "
                f"{target.https_url} ({https.error}). Check the URL and ports "
                "(--http-port, --https-port) and that the site is up."
            )
        status = auto.response.status
        if status < 200 or (status >= 400 and status not in (401, 403)):
            raise HeaderAuditError(
                f"{auto.response.url} answered HTTP {status}: the Observatory scores only "
                "pages that answer 2xx, 3xx, 401 or 403; scan a URL that serves a page"
            )
        page_url = auto.history[-1].url if auto.history else auto.url
        try:
            # Its own deadline: httpx's timeout bounds each read, so a server trickling a
            # byte at a time would otherwise hold the scan for as long as it likes.
            async with asyncio.timeout(options.timeout):
                cors = await _preflight(auto, clients, options.max_body_bytes)
        except TimeoutError:
            cors = None
    content_type = (auto.response.headers.first("content-type") or "").split(";")[0]
    is_html = content_type in HTML_TYPES
    body = auto.response.body.decode("utf-8", errors="replace") if is_html else ""
    return Retrieval(
        hostname=target.hostname,
        http=http,
        https=https,
        auto=auto,
        page_url=page_url,
        cors=cors,
        page=parse_page(body) if body else Page(),
        is_html=is_html,
    )
