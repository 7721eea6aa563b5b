"""What looks like a secret but is not: placeholders, references, identifiers, digests.

Every detector asks these questions of a candidate before it becomes a finding. The lists
come from the false positives other scanners document: gitleaks' global allowlist
(``config/gitleaks.toml``: ``${VAR}``, ``{{ var }}``, ``%VAR%``, ``$VAR``, runs of one
letter, ``.+EXAMPLE$`` for AWS) and its generic-rule stopwords, detect-secrets'
``KeywordDetector`` (values that are function calls or attribute chains are code, not
secrets), and AWS's documented example keys (IAM user guide, "Managing access keys").
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter

# AWS's documentation uses these two everywhere; they are published, not leaked.
# Published example values, copied from documentation into countless repositories: AWS's
# documented keys (IAM user guide, "Managing access keys") in clear since they say EXAMPLE
# anyway, and, as sha256 digests so that this file holds nothing a push-protection scanner
# would stop, Stripe's documentation test keys (sk_test_4eC3…, sk_test_BQok…), the GitHub
# docs' example tokens (ghp_16C7…, gho_16C7…), RFC 6749's example access and refresh
# tokens (§4.1.4: 2Yot…, tGzv…) and its example client credentials sent as HTTP Basic
# (§2.3.1, §4.3.2: czZC…, base64 of s6BhdRkqt3:gX1fBat3bV; oauthlib's docstrings hold it).
KNOWN_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    }
)
KNOWN_EXAMPLE_DIGESTS = frozenset(
    {
        "2cafc0970149a84f3b9e62eaf169f36f59907a3b3e31f7b82e68c69cd27f7326",
        "f2d6ca16515033e5dce14eba840b979d27b5cbae24bb3e5bf484339667f86397",
        "3543c50b0cb9cea8e55eb1f529b79f043cb250d485fde7b66cabbb5183add7da",
        "bc3ae723f57c6b9e3fd80b699fcc420f6074b0b1718039669d22631d508ac0a7",
        "6c96130f130ab0d6d158397e24d2bcc1c9a5e73ae081f6e983f1c7b545d24a4c",
        "00cf4c781dc37003f7c7dd7d4c9a6ef1e0f4c62d9a291aa8bc398774e3fefd32",
        "ca7459e2b26776de081b9a07e40227fd6cff232a1e3233ff6b6aa6d036ca9981",
    }
)

# Words that make any value a stand-in. Matched case-insensitively as substrings, so they
# are long enough (or distinctive enough) not to occur by chance in a random token body:
# a 40-character base62 body holds a given 7-letter word with probability ~1e-11.
_PLACEHOLDER_WORDS = tuple(
    [
        "your_",
        "your-",
        "yourkey",
        "yourtoken",
        "yoursecret",
        "yourpass",
        "xxxx",
        "****",
        "...",
        "…",
        "changeme",
        "change_me",
        "change-me",
        "changeit",
        "example",
        "placeholder",
        "dummy",
        "redacted",
        "replace_me",
        "replaceme",
        "replace-me",
        "insert_",
        "insert-",
        "put_your",
        "notasecret",
        "not_a_secret",
        "not-a-secret",
        "not-a-real",
        "not_a_real",
        "secret_here",
        "key_here",
        "token_here",
        "_here",
        "-here",
        "lorem",
        "sample",
    ]
)

# Extra words that disqualify a value found by the *generic* assignment rule, whose values
# carry no provider format to vouch for them ("test"/"fake" are fine inside a random
# 100-character key body but not in `password = "test1234"`).
_GENERIC_PLACEHOLDER_WORDS = tuple(
    [
        "test",
        "fake",
        "mock",
        "demo",
        "dev_",
        "default",
        "password",
        "passwd",
        "secret",
        "foobar",
        "admin",
        "qwerty",
        "hunter2",
        "letmein",
        "welcome",
        "todo",
        "fixme",
        "enter",
        "undefined",
        "none",
        "null",
        "token",
        "apikey",
        "api_key",
    ]
)

_KEYBOARD = ("qwerty", "asdfgh", "zxcvbn")

# ${VAR} ${{ secrets.X }} {{ var }} <%= x %> #{x} %(x)s %VAR% $VAR @VAR@ <token> [token]
_REFERENCE = re.compile(
    r"""^(?:
        \$\{.*\}                      # ${VAR}, ${VAR:-default}
      | \$\(.*\)                      # $(command)
      | \$[A-Za-z_][A-Za-z0-9_]*      # $VAR
      | \{\{.*\}\}                    # {{ var }}, ${{ secrets.X }} (after the $ case)
      | \{\.?[A-Za-z_][\w.]*\}        # {name} format fields, {.jsonpath}
      | <%.*%>                        # ERB / EJS
      | \#\{.*\}                      # Ruby interpolation
      | %\(?[A-Za-z_][\w]*\)?s?%?     # %(name)s, %VAR%
      | @[A-Za-z_][\w]*@              # @VAR@ (autoconf)
      | <[^<>]*>                      # <token>, <your-key>
      | \[[^\[\]]*\]                  # [token]
    )$""",
    re.VERBOSE | re.DOTALL,
)
# Code that fetches a secret instead of holding one.
_LOOKUPS = (
    "process.env",
    "import.meta.env",
    "os.environ",
    "os.getenv",
    "getenv(",
    "env(",
    "env[",
    "env.",
    "secrets.",
    "config.",
    "settings.",
    "vault:",
    "ssm:",
    "arn:aws:",
    "secretsmanager",
    "keyring.",
    "${",
    "{{",
)
_CALL = re.compile(r"[A-Za-z_$][\w$.]*\s*\(")
# f"{settings.key}", "{name}-{id}", "{t.token('x')": an interpolation, not a literal.
_INTERPOLATION = re.compile(r"\{[A-Za-z_][\w.]*(?:[(\[}]|$)")
# Jobs[-1].JobId, Optional[str], List[Token]: an expression or a type, not a value.
_INDEXING = re.compile(r"[A-Za-z_]\w*\[[^\]]*\]")
# self.api_key, config.secret, someVariable, SECRET_NAME, some-name: code, not a value.
_IDENTIFIER = re.compile(r"^[A-Za-z_$@][A-Za-z_$.\-]*$")
# .models.v1_token_review: a module path (relative imports, lazy-loading tables).
_MODULE_PATH = re.compile(r"^\.[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NUMBERISH = re.compile(r"^[\d\s.,:+\-_/]+$")
# Subresource Integrity (sha512-…), algorithm-prefixed digests (sha256:…), URNs. A bare hex
# string is not rejected: under a secret name (api_key = "<64 hex>") it is a key.
_DIGEST_PREFIX = re.compile(r"^(?:sha(?:1|224|256|384|512)|md5|blake2[bs]?|urn)[-:]", re.I)
# Password hashes (a leak of those is a different problem, and they are meant to be
# stored): crypt(3) ids $1$ $2a/b/y$ $5$ $6$ $y$ $gy$ $7$, PHC strings $argon2id$ $scrypt$
# $pbkdf2…$, and Django's "<algorithm>$<iterations>$<salt>$<hash>".
_PASSWORD_HASH = re.compile(
    r"^(?:\$(?:1|2[abxy]?|5|6|7|y|gy|argon2(?:id|i|d)|scrypt|pbkdf2[\w-]*|sha(?:256|512)?)\$"
    r"|(?:pbkdf2_sha(?:1|256)|bcrypt(?:_sha256)?|argon2|scrypt)\$)"
)
# Publishable keys (Stripe and Clerk pk_live_/pk_test_) are public by design: Stripe's
# "API keys" page says they go in client-side code; whatever name or header carries one.
_PUBLISHABLE = re.compile(r"^pk_(?:live|test)_")
# A hex string of a digest's length: MD5 32, SHA-1 40 (git), SHA-256 64, SHA-512 128.
HEX_DIGEST = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$")
_FILE_NAME = re.compile(
    r"\.(?:pem|key|crt|cer|p12|pfx|json|ya?ml|toml|txt|env|js|ts|py|rb|sh|html?|png|svg)$", re.I
)
_KEYWORD_VALUES = frozenset(
    {"true", "false", "null", "none", "nil", "undefined", "yes", "no", "on", "off", "required"}
)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character: about 5.95 for random base62, 4.0 for random
    hex, under 3 for words and most placeholders (Shannon, 1948)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def char_classes(value: str) -> int:
    """How many of lower case, upper case, digits and other characters ``value`` mixes."""
    lower = upper = digit = other = 0
    for ch in value:
        if ch.islower():
            lower = 1
        elif ch.isupper():
            upper = 1
        elif ch.isdigit():
            digit = 1
        else:
            other = 1
    return lower + upper + digit + other


def longest_run(value: str) -> int:
    """The longest run of one repeated character."""
    best = run = 0
    previous = ""
    for ch in value:
        run = run + 1 if ch == previous else 1
        previous = ch
        best = max(best, run)
    return best


def longest_sequence(value: str) -> int:
    """The longest run of consecutive ascending or descending characters (``abcdef``,
    ``123456``, ``987654``): typed by people, absent from random tokens (a 6-run occurs in
    a random 40-character base62 body with probability ~1e-9)."""
    best = up = down = 1
    for a, b in itertools.pairwise(value):
        step = ord(b) - ord(a)
        up = up + 1 if step == 1 else 1
        down = down + 1 if step == -1 else 1
        best = max(best, up, down)
    return best if value else 0


def is_known_example(value: str) -> bool:
    """True for a key published in documentation (see ``KNOWN_EXAMPLES``)."""
    if value in KNOWN_EXAMPLES or value.endswith("EXAMPLE") or value.endswith("EXAMPLEKEY"):
        return True
    return hashlib.sha256(value.encode()).hexdigest() in KNOWN_EXAMPLE_DIGESTS


def is_placeholder(value: str, *, generic: bool = False) -> bool:
    """True for stand-ins: ``your_key_here``, ``xxxx…``, ``<token>``, ``changeme``, AWS's
    documented example keys (and RFC 6749's tokens), a run of one character, ``1234…`` or
    ``abcd…``, too few distinct characters. ``generic`` adds words ("test", "fake",
    "password" …) that are only suspicious in values with no provider format behind them."""
    if is_known_example(value):
        return True
    lower = value.lower()
    if any(word in lower for word in _PLACEHOLDER_WORDS):
        return True
    if generic and any(word in lower for word in _GENERIC_PLACEHOLDER_WORDS):
        return True
    if any(seq in lower for seq in _KEYBOARD) or longest_sequence(lower) >= 6:
        return True
    if longest_run(value) >= 6:
        return True
    distinct = len(set(value))
    return distinct < 4 or (len(value) >= 16 and distinct < 8)


def is_reference(value: str) -> bool:
    """True when the value names a secret kept elsewhere: ``${VAR}``, ``{{ var }}``,
    ``process.env.X``, ``os.environ[...]``, ``<token>``, a function call."""
    stripped = value.strip()
    if _REFERENCE.match(stripped):
        return True
    lower = stripped.lower()
    if any(lookup in lower for lookup in _LOOKUPS):
        return True
    return bool(_CALL.match(stripped) or _INTERPOLATION.search(stripped))


def looks_like_code(value: str) -> bool:
    """An identifier or attribute chain (``self.token``, ``apiKey``, ``SECRET_NAME``), a
    language keyword, a number, a UUID, a path, a URL or a file name: not a secret value."""
    if value.lower() in _KEYWORD_VALUES:
        return True
    if _IDENTIFIER.match(value) or _UUID.match(value) or _NUMBERISH.match(value):
        return True
    if _INDEXING.search(value) or _MODULE_PATH.match(value):
        return True
    if value.startswith(("/", "./", "../", "~/", "http://", "https://", "file:", "data:")):
        return True
    return bool(_FILE_NAME.search(value))


def looks_random(value: str, *, min_length: int = 8) -> bool:
    """Enough length, character mix and entropy to be a credential rather than a word.

    Thresholds: at least two character classes, and ≥ 3.0 bits/char under 16 characters or
    ≥ 3.3 from 16 on (random hex of 32 scores ~3.8, a base64 key of 24 ~4.2, English words
    2.5-3.0). Values with whitespace are prose (labels, messages, i18n strings); gitleaks'
    generic rule excludes them the same way. Non-ASCII text is prose too.
    """
    if len(value) < min_length or not value.isascii() or any(ch.isspace() for ch in value):
        return False
    if char_classes(value) < 2:
        return False
    threshold = 3.0 if len(value) < 16 else 3.3
    return entropy(value) >= threshold


def is_digest(value: str) -> bool:
    """A labelled hash, not a credential: ``sha512-…`` (Subresource Integrity, npm's
    ``integrity``), ``sha256:…`` (pip/uv/poetry hashes), ``urn:uuid:…``, and password
    hashes (``$6$…``, ``$2b$…``, ``$argon2id$…``, ``pbkdf2_sha256$…``)."""
    return bool(_DIGEST_PREFIX.match(value) or _PASSWORD_HASH.match(value))


def is_real_generic_value(value: str) -> bool:
    """The full test for a value found only by its key name (``password = …``)."""
    return (
        not is_digest(value)
        and not _PUBLISHABLE.match(value)
        and not is_reference(value)
        and not looks_like_code(value)
        and not is_placeholder(value, generic=True)
        and looks_random(value, min_length=10)
    )


# Key-name words. A key is secret-named when one of its words (split on _ . - and camel
# case) is in SECRET_WORDS, or two adjacent words make one of SECRET_PAIRS, and its last word
# is not a qualifier that turns it into metadata (TOKEN_URL, SECRET_NAME, PASSWORD_LENGTH).
SECRET_WORDS = frozenset(
    [
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "authkey",
        "credential",
        "credentials",
        "dsn",
        "salt",
    ]
)
SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("auth", "key"),
        ("secret", "key"),
        ("session", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("app", "key"),
        ("role", "key"),
    }
)
NOT_SECRET_LAST_WORDS = frozenset(
    [
        "id",
        "ids",
        "name",
        "names",
        "file",
        "files",
        "path",
        "dir",
        "url",
        "uri",
        "endpoint",
        "host",
        "type",
        "types",
        "length",
        "len",
        "size",
        "count",
        "limit",
        "max",
        "min",
        "prefix",
        "suffix",
        "header",
        "field",
        "fields",
        "label",
        "placeholder",
        "hint",
        "policy",
        "regex",
        "pattern",
        "mode",
        "expiry",
        "expires",
        "expiration",
        "ttl",
        "timeout",
        "env",
        "var",
        "version",
        "format",
        "kind",
        "enabled",
        "required",
        "hash",
        "usage",
        "used",
        "ref",
        "arn",
        "error",
        "message",
        "input",
        "button",
        "index",
        "location",
        "param",
        "params",
        "option",
        "provider",
        "store",
        "manager",
        "service",
        "storage",
        "cache",
        "rotation",
        "algorithm",
        "alg",
        "reset",
        "confirmation",
        "confirm",
        "visible",
        "visibility",
        "strength",
        "validator",
        "validation",
        "schema",
        "status",
        "spec",
        "request",
        "requests",
        "response",
        "review",
        "projection",
        "filename",
        "class",
        "model",
        "module",
        "comment",
        "description",
    ]
)
# Tokens in the lexer and pagination senses: NextToken, ContinuationToken, page_token.
NOT_SECRET_TOKEN_QUALIFIERS = frozenset(
    [
        "next",
        "continuation",
        "page",
        "pagination",
        "cursor",
        "output",
        "input",
        "purchase",
        "client",
        "idempotency",
        "sync",
        "marker",
        "continue",
        "verification",
        "start",
        "end",
        "eof",
        "last",
        "first",
        "current",
        "prev",
        "previous",
        "lexer",
        "parser",
    ]
)
PUBLIC_WORDS = frozenset({"public", "publishable", "anon", "csrf", "xsrf", "pub"})
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def key_words(key: str) -> list[str]:
    """``client_secret`` → [client, secret]; ``apiKey`` → [api, key]; ``X-API-TOKEN`` → …"""
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", key):
        words.extend(w.lower() for w in _CAMEL.findall(part))
    return words


def is_secret_name(key: str) -> bool:
    """True for ``password``, ``DB_PASSWORD``, ``apiKey``, ``client_secret``,
    ``SECRET_KEY_BASE``; false for ``token_url``, ``SECRET_NAME``, ``publishable_key``,
    ``max_tokens``, ``tokenizer``."""
    words = key_words(key)
    if not words or words[-1] in NOT_SECRET_LAST_WORDS:
        return False
    if any(w in PUBLIC_WORDS for w in words):
        return False
    for before, word in itertools.pairwise(words):
        if word in ("token", "tokens") and before in NOT_SECRET_TOKEN_QUALIFIERS:
            return False
    if any(w in SECRET_WORDS for w in words):
        return True
    return any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))
