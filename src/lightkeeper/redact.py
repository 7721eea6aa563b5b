"""Keep secrets out of logs, errors, the API and the dashboard.

DSNs lose their password (``postgresql://app:***@db/x``), query strings lose values of
keys that look secret, and known token shapes (Anthropic, OpenAI, Slack, GitHub) are
masked wherever they appear in free text.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_KEYS = re.compile(r"(pass|pwd|secret|token|key|auth|signature|sig|credential)", re.I)
_USERINFO = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I
)
_TOKENS = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}|sk-(?:proj-)?[A-Za-z0-9_\-]{16,}|xox[abprs]-[A-Za-z0-9\-]{8,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
)
_KV = re.compile(r"\b(password|passwd|pwd|secret|token|api[_-]?key)=([^\s&;]+)", re.I)


def redact_url(url: str) -> str:
    """A URL or DSN safe to show: no password, no secret-looking query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_KEYS.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Free text with credentials in URLs, ``password=…`` pairs and token shapes masked.

    ``secrets`` are exact values (e.g. from the environment) to mask wherever they occur.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _KV.sub(lambda m: f"{m[1]}={MASK}", text)
    return _TOKENS.sub(MASK, text)
