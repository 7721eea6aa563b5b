"""Sending one notification to one Apprise URL, and telling a permanent failure from a retry.

What Apprise (2.x) tells us, read from its source:

- ``Apprise.instantiate(url)`` returns ``None`` for an unknown scheme or a URL its plugin
  rejects (missing token, invalid e-mail address …): nothing will ever make that URL
  work, so it is a **permanent** failure.
- ``Apprise.notify()`` returns an ``AppriseResult``; each service's attempts carry the
  log lines captured *for that call only* (a context variable, so concurrent sends in
  other threads do not mix in). Plugins that speak HTTP all log a refusal the same way,
  ``"Failed to send …: <reason>, error=<status>."``; a 4xx other than 408 and 429 means
  the request itself is wrong (bad token, unknown channel, malformed payload) and is
  **permanent**. Connection errors (``"A Connection error occurred …"``), 5xx, 408, 429
  and timeouts are **transient**. The e-mail plugin logs a refused recipient as
  ``"SMTP recipient … was refused: <code> …"``; SMTP 5xx codes are permanent by RFC 5321.
- Apprise's ``async_notify`` only runs the same blocking plugins in a thread pool, so the
  outbox calls :meth:`AppriseSender.send` through ``asyncio.to_thread`` instead.
- PagerDuty (``pagerduty://``) takes ``action=trigger|resolve`` and ``dedup=KEY`` as URL
  parameters, so every message gets its own URL carrying the alert's dedup key: the
  resolve closes the incident the trigger opened. ``+name=value`` parameters become the
  event's custom details and ``click`` its link, which carry the facts and the dashboard.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import apprise

from lightkeeper.notify.message import FACTS, Notification
from lightkeeper.redact import MASK, redact_text

log = logging.getLogger(__name__)

# Apprise logs whole URLs and payloads at DEBUG and some of its warnings quote tokens; our
# own log lines say what happened, redacted, so its records never reach our handlers.
logging.getLogger("apprise").propagate = False

SEND_TIMEOUT = 20.0  # one whole send, all Apprise's own waits included
MAX_ERROR = 500
RETRYABLE_4XX = frozenset({408, 429})  # request timeout, too many requests: try again later

_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
_SMTP_REFUSED = re.compile(r"\bwas refused: (\d{3})\b")
_SECRET_KEYS = re.compile(r"(pass|pwd|secret|token|key|auth|signature|sig|credential)", re.I)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one send: ``permanent`` failures are not retried."""

    ok: bool
    permanent: bool = False
    error: str | None = None


class Sender(Protocol):
    """Sends one message; may block (the outbox calls it in a worker thread)."""

    def send(self, url: str, n: Notification) -> Delivery: ...


def is_permanent(messages: list[str]) -> bool:
    """Whether Apprise's log lines for a failed send name a status no retry will fix."""
    for message in messages:
        if (m := _HTTP_STATUS.search(message)) is not None:
            code = int(m[1])
            if 400 <= code < 500 and code not in RETRYABLE_4XX:
                return True
        if (m := _SMTP_REFUSED.search(message)) is not None and m[1].startswith("5"):
            return True
    return False


@dataclass(slots=True)
class _Loaded:
    apprise: apprise.Apprise | None
    error: str | None
    lock: threading.Lock


class AppriseSender:
    """Sends through Apprise, one Apprise object per URL (kept: it holds the plugin's
    rate-limit state, so messages to one service keep the pace Apprise allows)."""

    def __init__(self, timeout: float = SEND_TIMEOUT) -> None:
        self._timeout = timeout
        self._asset = apprise.AppriseAsset(storage_mode="memory")  # nothing written to disk
        self._cache: dict[str, _Loaded] = {}
        self._cache_lock = threading.Lock()

    def warm_up(self, urls: Iterable[str]) -> None:
        """Load the channels before the first page: Apprise discovers its plugins on the
        first instantiate (about half a second), which would otherwise delay that page."""
        for url in urls:
            with self._cache_lock:
                if url not in self._cache:
                    self._cache[url] = self._load(url)

    def send(self, url: str, n: Notification) -> Delivery:
        message_url = _per_message_url(url, n)
        if message_url == url:
            with self._cache_lock:
                loaded = self._cache.get(url)
                if loaded is None:
                    loaded = self._cache[url] = self._load(url)
        else:
            loaded = self._load(message_url)
        if loaded.apprise is None:
            return Delivery(ok=False, permanent=True, error=loaded.error)
        with loaded.lock:
            result = loaded.apprise.notify(
                body=n.text(),
                title=n.title,
                notify_type=_notify_type(n),
                body_format=apprise.NotifyFormat.MARKDOWN,
                timeout=self._timeout,
            )
        if result:
            return Delivery(ok=True)
        messages = list(
            dict.fromkeys(e.message for e in result.logs() if e.level in ("WARNING", "ERROR"))
        )
        if not messages:
            messages = [
                f"no answer within {self._timeout:g}s"
                if result.status == apprise.AppriseResultStatus.TIMEOUT
                else f"failed ({result.status.name.lower()}, no detail from Apprise)"
            ]
        return Delivery(
            ok=False,
            permanent=is_permanent(messages),
            error=redact_error("; ".join(messages), url),
        )

    def _load(self, url: str) -> _Loaded:
        plugin, lines = _instantiate(url, self._asset)
        if plugin is None:
            return _Loaded(None, redact_error(_load_error(url, lines), url), threading.Lock())
        obj = apprise.Apprise(asset=self._asset)
        obj.add(plugin)
        return _Loaded(obj, None, threading.Lock())


def _notify_type(n: Notification) -> apprise.NotifyType:
    if n.kind == "resolved":
        return apprise.NotifyType.SUCCESS
    if n.kind in ("firing", "repeat"):
        severity = str(n.payload.get("severity", "critical"))
        return {"warning": apprise.NotifyType.WARNING, "info": apprise.NotifyType.INFO}.get(
            severity, apprise.NotifyType.FAILURE
        )
    return apprise.NotifyType.INFO


def _per_message_url(url: str, n: Notification) -> str:
    """The URL for this one message: PagerDuty gets the alert's dedup key and action."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "pagerduty":
        return url
    action = "resolve" if n.kind == "resolved" else "trigger"
    own = {"action": action, "dedup": n.dedup_key}
    # The facts also go as the event's custom details, and the dashboard as its link.
    own |= {f"+{k}": str(n.payload[k]) for k in FACTS if n.payload.get(k) not in (None, "")}
    if dashboard := n.payload.get("dashboard"):
        own["click"] = str(dashboard)
    kept = [p for p in parts.query.split("&") if p and unquote(p.partition("=")[0]) not in own]
    kept += [f"{quote(k, safe='+')}={quote(v, safe='')}" for k, v in own.items()]
    return urlunsplit(parts._replace(query="&".join(kept)))


# --- loading URLs quietly, and showing them without their secrets --------------------------


class _ThreadLines(logging.Handler):
    """Collects the Apprise log lines of one thread (other threads may be sending)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


@contextmanager
def _apprise_lines() -> Iterator[list[str]]:
    handler = _ThreadLines()
    logger = logging.getLogger("apprise")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def _instantiate(url: str, asset: apprise.AppriseAsset | None = None) -> tuple[Any, list[str]]:
    with _apprise_lines() as lines:
        plugin = apprise.Apprise.instantiate(url, asset=asset)
    return plugin, lines


def _load_error(url: str, lines: list[str]) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme or scheme not in apprise.NotificationManager():  # type: ignore[no-untyped-call]
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        return f"unsupported URL: {shown} is not an Apprise service"
    # The plugin's own complaint (bad token, bad address) minus its "Could not load" line.
    detail = [line for line in lines if not line.startswith("Could not load")]
    reason = "; ".join(detail) or "the service rejected the URL"
    return f"invalid {scheme}:// URL: {reason}"


@functools.lru_cache(maxsize=256)
def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of ``url`` that are secret: what Apprise hides in its privacy URL (tokens,
    keys, passwords, even a host when it is an API key), and secret-looking query values."""
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    segments = [unquote(s) for s in parts.path.split("/") if s]
    query = _query_pairs(parts.query)
    secrets: set[str] = {unquote(password)} if password else set()
    secrets |= {v for k, v in query if v and _SECRET_KEYS.search(k)}
    plugin, _ = _instantiate(url)
    if plugin is None:
        # Nothing tells which parts are secret, so all of them are.
        secrets |= {unquote(user), unquote(host), *segments}
        secrets |= {v for _, v in query if len(v) >= 8}
    else:
        private = str(plugin.url(privacy=True))
        shown = private + " " + unquote(private)
        private_args = {
            name
            for name, spec in {**plugin.template_args, **plugin.template_tokens}.items()
            if isinstance(spec, dict) and spec.get("private")
        }
        for token in (unquote(user), unquote(host), *segments):
            if token not in shown and _token_like(token):
                secrets.add(token)
        secrets |= {v for k, v in query if k in private_args or (v not in shown and _token_like(v))}
    return tuple(sorted((s for s in secrets if s), key=len, reverse=True))


def _query_pairs(query: str) -> list[tuple[str, str]]:
    # Not parse_qsl: Apprise gives "+" a meaning in keys (+Header=value), not "space".
    pairs = (p.partition("=") for p in query.split("&") if p)
    return [(unquote(k), unquote(v)) for k, _, v in pairs]


def _token_like(value: str) -> bool:
    # Apprise also leaves out defaults and rewrites native URLs (https://hooks.slack.com/…
    # becomes slack://…), so "not in the privacy URL" alone would hide plain words.
    return len(value) >= 16 or (len(value) >= 6 and any(c.isdigit() for c in value))


def describe_target(url: str) -> str:
    """``url`` safe to print: every secret part replaced by ``***``."""
    parts = urlsplit(url)
    secrets = set(url_secrets(url))

    def mask(value: str) -> str:
        return MASK if unquote(value) in secrets else value

    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    host, sep, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    netloc = (
        (mask(user) + (f":{MASK}" if colon and password else "") + at if at else "")
        + mask(host)
        + (sep + port)
    )
    path = "/".join(mask(s) if s else s for s in parts.path.split("/"))
    query = "&".join(
        f"{k}={MASK if v in secrets else quote(v, safe='@.,-_:')}"
        for k, v in _query_pairs(parts.query)
    )
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_error(text: str, url: str) -> str:
    """An error message fit for the store, the API and logs: no part of the URL's secrets."""
    secrets = url_secrets(url)
    # Quoted forms too: a plugin may log a token percent-encoded.
    secrets += tuple(quote(s, safe="") for s in secrets if quote(s, safe="") != s)
    masked = redact_text(text, secrets)
    for secret in secrets:  # redact_text skips values shorter than four characters
        if secret and len(secret) < 4:
            masked = re.sub(rf"(?<![\w.]){re.escape(secret)}(?![\w.])", MASK, masked)
    return masked[:MAX_ERROR]
