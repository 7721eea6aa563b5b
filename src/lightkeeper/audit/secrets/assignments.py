"""Secrets known only by the name they are given: ``password = "…"`` in code and config,
the values of a committed ``.env`` file, and the credential of an ``Authorization`` header.

The generic rule follows gitleaks' ``generic-api-key`` shape (a secret-sounding key, an
assignment operator ``= : := => ?=``, an optionally quoted value) and detect-secrets'
``KeywordDetector`` (quoted values in code, bare values in config); what makes a value
"look real" is :func:`lightkeeper.audit.secrets.noise.is_real_generic_value`.
"""

from __future__ import annotations

import base64
import binascii
import re

from lightkeeper.audit.secrets.base import (
    GENERIC,
    Candidate,
    Context,
    Detector,
    FileKind,
)
from lightkeeper.audit.secrets.noise import (
    HEX_DIGEST,
    entropy,
    is_placeholder,
    is_real_generic_value,
    is_reference,
    is_secret_name,
)

_KEY_CHARS = re.compile(r"[A-Za-z0-9_.\-]")
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?:password|passwd|passphrase|pwd|secret|token|api[_.\-]?key|access[_.\-]?key
      |private[_.\-]?key|auth[_.\-]?key|credentials?)
    [A-Za-z0-9_.\-]{0,64}             # the rest of the key: _KEY, _BASE, s (bounded:
                                      # in a long base64url run, each keyword hit would
                                      # otherwise scan to the run's end, O(n²) per run)
    (?P<close>["'`\]]?)[ \t]*        # a closing quote or bracket: "password": / ['token'] =
    (?P<op>=|:=|:|=>|\?=|\|\|=)(?![=>:])  # = := : => ?= ||=, not == => or C++ ::
    (?P<space>[ \t]*)
    (?:"(?P<dq>[^"\\\n]{1,300})"
      |'(?P<sq>[^'\\\n]{1,300})'
      |`(?P<bq>[^`\\\n]{1,300})`
      |(?P<bare>[^\s"'`,;()\[\]{}<>]{1,300})(?=[\s"'`,;)\]}]|$)
    )
    """
)
_MARKUP = frozenset({".css", ".scss", ".sass", ".less", ".html", ".htm", ".xml", ".svg"})
_KEY_END = re.compile(r"[\"'`\]\s:=?|>]")


_KEY_REACH = 128  # no real key name is longer; bounds the walk back in a long token run


def _key_start(text: str, pos: int) -> int:
    floor = max(0, pos - _KEY_REACH)
    while pos > floor and _KEY_CHARS.match(text, pos - 1):
        pos -= 1
    return pos


def _assignment(m: re.Match[str], ctx: Context) -> Candidate | None:
    group = next(g for g in ("dq", "sq", "bq", "bare") if m.group(g) is not None)
    value = m.group(group)
    # A bare "key:value" is YAML only with a space after the colon and JSON only with a
    # quoted key; without either it is a URL's userinfo (brevo://APIKey:From) or CSS.
    if m.group("op") == ":" and not m.group("close") and not m.group("space"):
        return None
    # In code an unquoted value is a variable or expression (token = self.token), never a
    # literal; and CSS/markup bare values are selectors and styles.
    if group == "bare" and (ctx.kind.is_code or ctx.kind.extension in _MARKUP):
        return None
    key_start = _key_start(ctx.text, m.start())
    # AWS::SecretsManager::Secret (a type name), ?token= / &token= (a URL in docs or a
    # badge: provider-format tokens in URLs are still found by their own rules).
    if key_start > 0 and ctx.text[key_start - 1] in ":?&/":
        return None
    key = _KEY_END.split(ctx.text[key_start : m.end()], 1)[0]
    if not is_secret_name(key):
        return None
    # A JWT is the JWT rule's to judge (it rejects unsigned tokens and jwt.io's sample).
    if value.startswith("eyJ") and value.count(".") == 2:
        return None
    if not is_real_generic_value(value):
        return None
    start = m.start(group)
    return Candidate("generic-secret", value, start, start + len(m.group(group)), priority=GENERIC)


def _generic_scope(kind: FileKind) -> bool:
    # .env files have their own rule; templates, lock files and bundles are noise here.
    return not (kind.is_dotenv or kind.is_env_template or kind.is_lock or kind.is_minified)


GENERIC_DETECTOR = Detector(
    name="generic-secret",
    keywords=(
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "api.key",
        "accesskey",
        "access_key",
        "access-key",
        "privatekey",
        "private_key",
        "private-key",
        "authkey",
        "auth_key",
        "auth-key",
        "credential",
    ),
    pattern=_ASSIGNMENT,
    check=_assignment,
    scope=_generic_scope,
)

# --- .env files ---------------------------------------------------------------------------

_ENV_LINE = re.compile(
    r"^[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*(?P<value>[^\n]*)$",
    re.M,
)


def _env_value(raw: str) -> tuple[str, int]:
    """The value of a dotenv line (quotes removed, `` # comment`` dropped) and its offset
    in ``raw``."""
    raw = raw.rstrip("\r")
    if raw[:1] in ("'", '"', "`"):
        quote = raw[0]
        end = raw.find(quote, 1)
        return (raw[1:end] if end > 0 else raw[1:]), 1
    comment = re.search(r"[ \t]#", raw)
    if comment:
        raw = raw[: comment.start()]
    return raw.strip(), 0


def dotenv_candidates(ctx: Context) -> list[Candidate]:
    """One candidate per real value in a committed ``.env`` file.

    Real means: under a secret-named key (``*_KEY``, ``*_SECRET``, ``*_TOKEN``,
    ``*_PASSWORD``, ``*_DSN``…; see :func:`is_secret_name`), not empty, not a reference or
    placeholder, at least 8 characters with 2.5 bits/char of entropy. Plain settings
    (``PORT=3000``, ``NODE_ENV=production``) and values under other names (a checksum, an
    id, an integrity hash) are not secrets; provider-format secrets under any name are
    found by their own rules.
    """
    found: list[Candidate] = []
    for m in _ENV_LINE.finditer(ctx.text):
        if not is_secret_name(m.group("key")):
            continue
        value, offset = _env_value(m.group("value"))
        if not value or is_reference(value) or is_placeholder(value, generic=True):
            continue
        if len(value) < 8 or entropy(value) < 2.5 or value.startswith(("http://", "https://")):
            continue
        start = m.start("value") + offset
        found.append(Candidate("dotenv", value, start, start + len(value), priority=GENERIC))
    return found


# --- Authorization headers ----------------------------------------------------------------

_AUTHORIZATION = re.compile(
    r"(?i:(?P<scheme>bearer|basic|token))[ \t]+(?P<value>[^\s\"'`<>]{16,500})"
)


def _authorization(m: re.Match[str], ctx: Context) -> Candidate | None:
    """``Authorization: Bearer <token>`` (RFC 6750 §2.1) and ``Basic <base64(user:pass)>``
    (RFC 7617) in curl lines, HTTP examples and configs, where no key name is at hand."""
    lo, _ = ctx.around(m.start(), m.start(), 40, 0)
    if "authorization" not in ctx.text[lo : m.start()].lower():
        return None
    value = m.group("value").rstrip(".,;)")
    if value.startswith("eyJ") or not is_real_generic_value(value):
        return None  # a JWT is the JWT rule's; the rest must look random
    # With no name to go on, a bare digest-length hex string is as likely a checksum.
    if HEX_DIGEST.match(value):
        return None
    if m.group("scheme").lower() == "basic" and not _basic_credentials(value):
        return None
    start = m.start("value")
    return Candidate("generic-secret", value, start, start + len(value), priority=GENERIC)


def _basic_credentials(value: str) -> bool:
    """True when ``value`` is base64 of ``user:password`` with a password that is not a
    stand-in (``username:password``, ``user:pass``)."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    if not sep or not password.isprintable():
        return False
    return not is_placeholder(password, generic=True) and password != user and len(password) >= 6


AUTHORIZATION_DETECTOR = Detector(
    name="authorization-header",
    keywords=("bearer ", "basic ", "token "),
    pattern=_AUTHORIZATION,
    check=_authorization,
)
