"""How a secret is shown (redacted) and identified (fingerprinted) without being revealed."""

from __future__ import annotations

import hashlib
import re

# The part of a token that names its kind, shown whole: it tells a reader which provider to
# rotate at and is public (documented) anyway. The body after it is what is redacted.
_KNOWN_PREFIX = re.compile(
    r"^(?:sk-ant-[a-z]+\d\d-|sk-(?:proj|svcacct|admin)-|[sr]k_(?:live|test)_|gh[pousr]_"
    r"|github_pat_|gl[a-z]{1,5}-|xox[a-z]-|xapp-|npm_|vc[piark]_|AIza|sk_|sk-)"
)
ELLIPSIS = "…"


def fingerprint(rule: str, secret: str) -> str:
    """sha256 hex of ``rule:secret``: the same secret in another file, commit or run gives
    the same fingerprint, and the fingerprint gives nothing of the secret away."""
    return hashlib.sha256(f"{rule}:{secret}".encode()).hexdigest()


def redact(secret: str) -> str:
    """A preview that shows at most a third of ``secret``.

    Long secrets show their head (the provider prefix plus two characters, or 6 characters
    when there is no known prefix) and their last 2 characters: ``sk-ant-api03-Ab…9x``.
    Secrets under 18 characters show only a head of a third of their length: ``hun…``.
    """
    n = len(secret)
    budget = n // 3
    if budget < 6:
        return secret[:budget] + ELLIPSIS
    prefix = _KNOWN_PREFIX.match(secret)
    head = max(6, (prefix.end() + 2) if prefix else 0)
    head = min(head, budget - 2)
    return secret[:head] + ELLIPSIS + secret[-2:]


def shown_characters(preview: str) -> int:
    """How many characters of a secret a preview made by :func:`redact` reveals."""
    return len(preview.replace(ELLIPSIS, ""))
