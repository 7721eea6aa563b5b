"""What never reaches storage: credentials, cookies and (optionally) e-mail addresses in events.

Runs on every event before it is stored, as the seed's Sentry `beforeSend` did (it deleted
`request.cookies` and the Authorization header), but on our side so every app gets it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

FILTERED = "[Filtered]"

# Substrings: "DB_PASSWORD", "x-auth-token" and "stripe_secret_key" all match.
DEFAULT_KEYS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "refresh_token",
        "jwt",
        "auth",
        "authorization",
        "credentials",
        "private_key",
        "session",
        "sessionid",
        "csrf",
        "csrftoken",
        "xsrf",
        "cookie",
        "set-cookie",
        "dsn",
        "credit_card",
        "card_number",
        "cvv",
    }
)

# Dropped whole rather than filtered: their presence is not worth keeping either.
_DROPPED_HEADERS = frozenset(
    {"cookie", "set-cookie", "authorization", "proxy-authorization", "x-sentry-auth", "x-api-key"}
)
# Package names such as "oauthlib" or "django-rest-auth" are not secrets.
_NOT_SCRUBBED = frozenset({"modules", "sdk", "debug_meta"})
# Hostile nesting must not exhaust the stack; what lies deeper is dropped, not stored unseen.
_MAX_DEPTH = 20

# Matches start only where a run of their characters starts and repeats are bounded, so a
# megabyte of "a.a.a" with one "@" or "://" costs one pass, not a pass per position.
_EMAIL = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+", re.I | re.A
)
# Where [name, value] lists stand in for mappings (the SDKs send both shapes). Elsewhere a
# two-item list is data: a fingerprint ["auth", "timeout"] or two lines of source code.
_PAIR_LISTS = frozenset({"headers", "query_string", "tags", "data", "env", "cookies"})
# name=value in a query string, a URL or a log line ("login failed: password=hunter2").
_PARAM = re.compile(r"(?:^|(?<=[?&;\s]))([^=&#?;\s]+)=([^&#;\s]*)")
# The password in scheme://user:password@host, wherever a URL appears (DATABASE_URL=...).
_URL_PASSWORD = re.compile(
    r"((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}://[^:/@\s]{0,256}:)([^@/\s]{1,256})(@)", re.IGNORECASE
)


def scrub(
    event: dict[str, Any], keys: Iterable[str] = DEFAULT_KEYS, emails: bool = False
) -> dict[str, Any]:
    """Remove credentials from `event` in place and return it.

    Drops `request.cookies` and the Cookie, Set-Cookie, (Proxy-)Authorization, X-Sentry-Auth
    and X-Api-Key headers. Anywhere else a mapping key or a [name, value] pair whose name
    contains one of `keys` (case-insensitive, "-" and "_" alike) has its value replaced by
    "[Filtered]"; so does `name=value` text with such a name in any string (query strings,
    URLs, log lines), and the password in `scheme://user:password@host`. With `emails`,
    addresses in any string become "[email]" and `user.email` is removed.
    """
    if not isinstance(event, dict):
        return event
    scrubber = _scrubber(frozenset(keys), emails)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        if "headers" in request:
            request["headers"] = _drop_headers(request["headers"])
    user = event.get("user")
    if emails and isinstance(user, dict):
        user.pop("email", None)
    for key, value in event.items():
        if key not in _NOT_SCRUBBED:
            event[key] = scrubber.value(key, value, 1)
    return event


def _drop_headers(headers: Any) -> Any:
    if isinstance(headers, dict):
        return {k: v for k, v in headers.items() if not _is_dropped_header(k)}
    if isinstance(headers, list):
        return [pair for pair in headers if not (_is_pair(pair) and _is_dropped_header(pair[0]))]
    return headers


def _is_dropped_header(name: Any) -> bool:
    return isinstance(name, str) and name.strip().lower().replace("_", "-") in _DROPPED_HEADERS


def _is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str)


def _canonical(name: str) -> str:
    return name.lower().replace("-", "_")


#: Key names whose verdict a scrubber remembers: events repeat the same few hundred keys.
_REMEMBERED = 10_000


@functools.lru_cache(maxsize=16)
def _scrubber(keys: frozenset[str], emails: bool) -> _Scrubber:
    return _Scrubber(keys, emails)


class _Scrubber:
    def __init__(self, keys: Iterable[str], emails: bool) -> None:
        self.keys = tuple({_canonical(k) for k in keys if isinstance(k, str) and k})
        self.emails = emails
        self._verdicts: dict[str, bool] = {}

    def sensitive(self, name: str) -> bool:
        verdict = self._verdicts.get(name)
        if verdict is None:
            canonical = _canonical(unquote_plus(name))
            verdict = any(key in canonical for key in self.keys)
            if len(self._verdicts) >= _REMEMBERED:
                self._verdicts.clear()
            self._verdicts[name] = verdict
        return verdict

    def value(self, name: str, value: Any, depth: int) -> Any:
        """`value`, found under the key `name`, scrubbed."""
        kind = type(value)  # exact types first: this runs for every value of every event
        if kind is str:
            return self.text(value) if ("=" in value or "://" in value or "@" in value) else value
        if kind is int or kind is float or kind is bool or value is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, tuple):  # not from JSON, but a caller may build events by hand
            value = list(value)
        if not isinstance(value, dict | list):
            return value
        if depth >= _MAX_DEPTH:
            return FILTERED
        if isinstance(value, dict):
            sensitive = self.sensitive
            for key, item in value.items():
                if type(key) is not str:
                    value[key] = self.value("", item, depth + 1)
                elif sensitive(key):
                    value[key] = FILTERED
                elif type(item) is str and not ("=" in item or "://" in item or "@" in item):
                    continue  # nothing in it to filter
                else:
                    value[key] = self.value(key, item, depth + 1)
            return value
        pairs = name in _PAIR_LISTS
        for index, item in enumerate(value):
            if pairs and _is_pair(item):
                filtered = self.sensitive(item[0])
                item_value = FILTERED if filtered else self.value(item[0], item[1], depth + 1)
                value[index] = [item[0], item_value]
            else:
                value[index] = self.value(name, item, depth + 1)
        return value

    def text(self, text: str) -> str:
        if "://" in text:
            text = _URL_PASSWORD.sub(rf"\1{FILTERED}\3", text)
        if "=" in text:
            text = _PARAM.sub(self._param, text)
        if self.emails and "@" in text:
            text = _EMAIL.sub("[email]", text)
        return text

    def _param(self, match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{name}={FILTERED}" if self.sensitive(name) else match.group(0)
