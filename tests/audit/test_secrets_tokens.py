"""Secret builders for the secret-scanner tests, and tests of redaction, fingerprints and
the "is this noise" helpers.

Every secret is assembled at runtime from a prefix and a body drawn from a RNG seeded with
a name (``random.Random(str)`` is deterministic across runs and test orders), so this
repository holds no string a push-protection scanner would take for a live credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from lightkeeper.audit.secrets.noise import (
    entropy,
    is_placeholder,
    is_real_generic_value,
    is_reference,
    is_secret_name,
    longest_sequence,
)
from lightkeeper.audit.secrets.preview import fingerprint, redact, shown_characters

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = B62 + "+/"
URLSAFE = B62 + "-_"


def rand(n: int, seed: str, alphabet: str = B62) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def anthropic(seed: str = "anthropic") -> str:
    return "sk-ant-" + "api03-" + rand(93, seed, URLSAFE) + "AA"


def anthropic_admin(seed: str = "anthropic-admin") -> str:
    return "sk-ant-" + "admin01-" + rand(93, seed, URLSAFE) + "AA"


def openai_project(seed: str = "openai") -> str:
    return "sk-" + "proj-" + rand(74, seed, URLSAFE) + "T3Blbk" + "FJ" + rand(74, seed + "2")


def openai_service(seed: str = "openai-svc") -> str:
    return "sk-" + "svcacct-" + rand(58, seed, URLSAFE) + "T3Blbk" + "FJ" + rand(58, seed + "2")


def openai_legacy(seed: str = "openai-legacy") -> str:
    return "sk-" + rand(20, seed) + "T3Blbk" + "FJ" + rand(20, seed + "2")


def elevenlabs(seed: str = "elevenlabs") -> str:
    return "sk" + "_" + rand(48, seed, HEX)


def google(seed: str = "google") -> str:
    return "AI" + "za" + "Sy" + rand(33, seed, URLSAFE)


def aws_id(seed: str = "aws-id") -> str:
    return "AK" + "IA" + rand(16, seed, string.ascii_uppercase + "234567")


def aws_secret(seed: str = "aws-secret") -> str:
    return rand(40, seed, B64)


def github(prefix: str = "ghp", seed: str = "github") -> str:
    return prefix + "_" + rand(36, seed)


def github_fine_grained(seed: str = "github-pat") -> str:
    return "github" + "_pat_" + rand(22, seed) + "_" + rand(59, seed + "2")


def gitlab(seed: str = "gitlab") -> str:
    return "gl" + "pat-" + rand(20, seed, URLSAFE)


def slack_bot(seed: str = "slack") -> str:
    return (
        "xo"
        + "xb-"
        + rand(12, seed, string.digits)
        + "-"
        + rand(13, seed + "2", string.digits)
        + "-"
        + rand(24, seed + "3")
    )


def slack_webhook(seed: str = "slack-hook") -> str:
    upper = string.ascii_uppercase + string.digits
    return (
        "https://hooks."
        + "slack.com/services/T"
        + rand(10, seed, upper)
        + "/B"
        + rand(10, seed + "2", upper)
        + "/"
        + rand(24, seed + "3")
    )


def stripe_live(seed: str = "stripe", kind: str = "sk") -> str:
    return kind + "_live_" + "51" + rand(97, seed)


def stripe_test(seed: str = "stripe-test") -> str:
    return "sk" + "_test_" + rand(24, seed)


def clerk(mode: str = "live", seed: str = "clerk") -> str:
    return "sk" + f"_{mode}_" + rand(42, seed)


def sentry_dsn(seed: str = "sentry", secret: bool = False) -> str:
    key = rand(32, seed, HEX)
    userinfo = key + (":" + rand(32, seed + "s", HEX) if secret else "")
    return f"https://{userinfo}@o4504.ingest.sentry.io/4504123"


def vercel(seed: str = "vercel") -> str:
    return "vc" + "p_" + rand(56, seed)


def vercel_legacy(seed: str = "vercel-legacy") -> str:
    return rand(24, seed)


def npm(seed: str = "npm") -> str:
    return "np" + "m_" + rand(36, seed)


def password(seed: str = "password") -> str:
    """A strong password-like value: letters, digits and symbols that need no escaping in
    a URL's userinfo (RFC 3986 unreserved and sub-delims), no whitespace."""
    return rand(18, seed, B62 + "!*+-=^~_")


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(payload: dict[str, object] | None = None, alg: str = "HS256", seed: str = "jwt") -> str:
    claims = payload if payload is not None else {"sub": "user_8812", "exp": 1999999999}
    signature = rand(43, seed, URLSAFE) if alg != "none" else ""
    return _b64({"alg": alg, "typ": "JWT"}) + "." + _b64(claims) + "." + signature


def pem(kind: str = "rsa", encrypted: bool = False) -> str:
    """A freshly generated private key in PEM (or OpenSSH) text."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if kind == "rsa":
        # 1024 bits keeps the test fast; the key exists only to be found.
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    elif kind == "pkcs8":
        key = ec.generate_private_key(ec.SECP256R1())
        fmt = serialization.PrivateFormat.PKCS8
    else:  # openssh
        key = ed25519.Ed25519PrivateKey.generate()
        fmt = serialization.PrivateFormat.OpenSSH
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(b"correct horse")
        if encrypted
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


# --- redaction and fingerprints -----------------------------------------------------------

SAMPLES = [
    anthropic(),
    openai_legacy(),
    github(),
    stripe_test(),
    aws_secret(),
    password(),
    "hunter2hunter2",
    "short",
    "ab",
]


@pytest.mark.parametrize("secret", SAMPLES, ids=lambda s: f"len{len(s)}")
def test_preview_never_reveals_more_than_a_third(secret: str) -> None:
    preview = redact(secret)
    assert preview != secret
    assert secret not in preview
    assert shown_characters(preview) <= len(secret) / 3
    assert "…" in preview


def test_preview_keeps_the_provider_prefix_and_the_last_two() -> None:
    key = anthropic()
    assert redact(key) == key[:15] + "…" + key[-2:]  # "sk-ant-api03-" + 2, then 2
    assert redact("hunter2hunter2") == "hunt…"  # 14 characters: a third is 4, no tail


def test_fingerprint_is_sha256_of_rule_and_secret() -> None:
    key = github()
    expected = hashlib.sha256(f"github-token:{key}".encode()).hexdigest()
    assert fingerprint("github-token", key) == expected
    assert fingerprint("github-token", key) != fingerprint("generic-secret", key)


# --- noise helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("your_key_here", True),
        ("xxxxxxxxxxxxxxxxxxxx", True),
        ("<your-token>", True),
        ("changeme", True),
        ("AKIAIOSFODNN7EXAMPLE", True),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", True),
        ("aaaaaaaaaaaa", True),
        ("abcdefghij", True),
        ("1234567890", True),
        ("sk-REDACTED", True),
        (rand(40, "placeholder-check"), False),
        (aws_secret(), False),
    ],
)
def test_placeholders(value: str, expected: bool) -> None:
    assert is_placeholder(value) is expected


def test_generic_values_reject_test_and_fake_words_that_tokens_may_contain() -> None:
    assert is_placeholder("test-9f8Kq2LmZx", generic=True)
    assert is_placeholder("fakeP4ssw0rd!xyz", generic=True)
    assert not is_placeholder("test-9f8Kq2LmZx")  # inside a provider token body: allowed


@pytest.mark.parametrize(
    "value",
    [
        "${API_KEY}",
        "${{ secrets.GITHUB_TOKEN }}",
        "{{ vault_password }}",
        "process.env.STRIPE_SECRET_KEY",
        "os.environ['TOKEN']",
        "os.getenv('TOKEN')",
        "get_secret('db')",
        "%(password)s",
        "$DB_PASSWORD",
        "<token>",
    ],
)
def test_references_are_not_values(value: str) -> None:
    assert is_reference(value)


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("apiKey", True),
        ("client_secret", True),
        ("SECRET_KEY_BASE", True),
        ("x-api-token", True),
        ("token_url", False),
        ("SECRET_NAME", False),
        ("publishable_key", False),
        ("max_tokens", False),
        ("tokenizer", False),
        ("NextToken", False),
        ("password_length", False),
        ("keyboard", False),
    ],
)
def test_secret_names(key: str, secret: bool) -> None:
    assert is_secret_name(key) is secret


def test_real_generic_values_need_length_mix_and_entropy() -> None:
    assert is_real_generic_value(password())
    # Hex under a secret name is a key (the name decides; a checksum has another name).
    assert is_real_generic_value(rand(64, "hex-secret", HEX))
    assert not is_real_generic_value("sha512-" + rand(86, "sri", B64) + "==")
    assert not is_real_generic_value("sha256:" + rand(64, "pip-hash", HEX))
    assert not is_real_generic_value("Passwort")  # a word
    assert not is_real_generic_value("Enter your password")  # prose
    assert not is_real_generic_value("self.api_key")  # code
    assert not is_real_generic_value("123e4567-e89b-12d3-a456-426614174000")  # a UUID
    assert not is_real_generic_value("Optional[str]")  # a type


def test_entropy_and_sequences() -> None:
    assert entropy("aaaa") == 0.0
    assert entropy(rand(64, "entropy")) > 5.0
    assert longest_sequence("xx123456yy") == 6
    assert longest_sequence("zyxwvu") == 6
