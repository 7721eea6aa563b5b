"""What the secret-scanner benchmark plants: real-looking secrets of every kind issue 6 names,
and decoys that a scanner should leave alone. Everything is generated from one seeded RNG.

No realistic secret literal is written in this file (GitHub push protection would stop the
commit, and rightly): each value is built at run time from its documented prefix and a
random body in the documented alphabet and length. Formats, with where they come from:

- Anthropic ``sk-ant-api03-`` + 93 of ``[A-Za-z0-9_-]`` + ``AA`` (gitleaks rule
  ``anthropic-api-key``).
- OpenAI ``sk-proj-`` / ``sk-svcacct-`` + 74 + ``T3BlbkFJ`` + 74 of ``[A-Za-z0-9_-]``, and
  the legacy ``sk-`` + 20 + ``T3BlbkFJ`` + 20 alphanumerics (gitleaks ``openai-api-key``).
- ElevenLabs ``sk_`` + 48 lowercase hex (keys quoted in public leak clean-ups), sent as
  ``xi-api-key``.
- Google API keys ``AIza`` + 35 of ``[A-Za-z0-9_-]`` (gitleaks ``gcp-api-key``).
- AWS access key id ``AKIA`` + 16 of ``[A-Z2-7]`` (gitleaks ``aws-access-token``) with its
  40-character secret ``[A-Za-z0-9/+]``; AWS's documented example pair ends in ``EXAMPLE``
  / ``EXAMPLEKEY`` (a decoy here, as in gitleaks' allowlist).
- GitHub ``ghp_`` + 36 alphanumerics (``github-pat``), ``github_pat_`` + 22 + ``_`` + 59
  (``github-fine-grained-pat``: 82 word characters); GitLab ``glpat-`` + 20 of
  ``[A-Za-z0-9_-]`` (``gitlab-pat``).
- Slack bot tokens ``xoxb-<10-13 digits>-<10-13 digits>-<24 alnum>`` and incoming
  webhooks ``https://hooks.slack.com/services/T…/B…/<24 alnum>`` (gitleaks
  ``slack-bot-token``, ``slack-webhook-url``).
- Stripe ``sk_live_`` / ``rk_live_`` + 24 (older) or 99 (newer) alphanumerics (gitleaks
  ``stripe-access-token``: ``[a-zA-Z0-9]{10,99}``); publishable ``pk_live_`` keys are
  public by design (Stripe's docs), so they are decoys.
- Clerk secret keys ``sk_live_`` + alphanumerics, named ``CLERK_SECRET_KEY`` (Clerk's
  docs: ``sk_test_`` / ``sk_live_``; publishable ``pk_…`` keys are public).
- Vercel access tokens: 24 alphanumerics with no prefix, so only the name says what they
  are (``VERCEL_TOKEN``; the kingfisher and trufflehog detectors need a "vercel" keyword).
- npm ``npm_`` + 36 alphanumerics (gitleaks ``npm-access-token``), also as
  ``//registry.npmjs.org/:_authToken=`` in ``.npmrc``.
- Sentry DSNs ``https://<32 hex>@o<id>.ingest[.us].sentry.io/<project id>``.
- PEM and OpenSSH private keys made by ``cryptography`` from seeded numbers (RSA 2048 from
  seeded primes, EC P-256 and Ed25519 from seeded scalars), so the same seed gives the same
  keys; JWTs are HS256 with a real HMAC-SHA256 signature (RFC 7519 §3.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"
BASE32 = string.ascii_uppercase + "234567"
AWS_SECRET_CHARS = ALNUM + "/+"


@dataclass(frozen=True)
class Plant:
    """One thing to plant. ``value`` is the literal (several lines for a PEM key); ``pair``
    is the second line of an AWS key pair (name, value), which counts as one secret;
    ``reference`` marks a value that is an expression, not a literal (``process.env.X``),
    which each syntax writes its own way; ``prefer`` names the file kinds it fits best."""

    kind: str
    positive: bool
    name: str
    value: str
    _: KW_ONLY
    pair: tuple[str, str] | None = None
    reference: bool = False
    comment_ok: bool = False  # a token whose format alone says what it is may sit in a comment
    prefer: tuple[str, ...] = ()

    @property
    def multiline(self) -> bool:
        return "\n" in self.value

    @property
    def preview(self) -> str:
        """At most 8 characters: enough to tell kinds apart, never the secret."""
        return self.value.strip()[:8]


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# -- positives ---------------------------------------------------------------------------------


def anthropic(rng: random.Random) -> Plant:
    value = "sk-ant-" + "api03-" + pick(rng, URLSAFE, 93) + "AA"
    name = rng.choice(["ANTHROPIC_API_KEY", "CLAUDE_API_KEY", "anthropic_key"])
    return Plant("anthropic", True, name, value, comment_ok=True)


def openai(rng: random.Random) -> Plant:
    marker = "T3Blbk" + "FJ"
    if rng.random() < 0.7:
        scope = rng.choice(["proj", "proj", "svcacct"])
        value = f"sk-{scope}-" + pick(rng, URLSAFE, 74) + marker + pick(rng, URLSAFE, 74)
    else:
        value = "sk-" + pick(rng, ALNUM, 20) + marker + pick(rng, ALNUM, 20)
    name = rng.choice(["OPENAI_API_KEY", "openai_api_key", "OPENAI_KEY"])
    return Plant("openai", True, name, value, comment_ok=True)


def elevenlabs(rng: random.Random) -> Plant:
    value = "sk_" + pick(rng, HEX, 48)
    return Plant("elevenlabs", True, rng.choice(["ELEVENLABS_API_KEY", "XI_API_KEY"]), value)


def google(rng: random.Random) -> Plant:
    value = "AI" + "za" + pick(rng, URLSAFE, 35)
    name = rng.choice(["GOOGLE_API_KEY", "YOUTUBE_API_KEY", "MAPS_API_KEY", "GEMINI_API_KEY"])
    return Plant("google", True, name, value, comment_ok=True)


def aws(rng: random.Random) -> Plant:
    key_id = "AK" + "IA" + pick(rng, BASE32, 16)
    secret = pick(rng, AWS_SECRET_CHARS, 40)
    return Plant("aws", True, "AWS_ACCESS_KEY_ID", key_id, pair=("AWS_SECRET_ACCESS_KEY", secret))


def github(rng: random.Random) -> Plant:
    if rng.random() < 0.6:
        value = rng.choice(["ghp", "gho", "ghs"]) + "_" + pick(rng, ALNUM, 36)
    else:
        value = "github" + "_pat_" + pick(rng, ALNUM, 22) + "_" + pick(rng, ALNUM, 59)
    name = rng.choice(["GITHUB_TOKEN", "GH_TOKEN", "github_token"])
    return Plant("github", True, name, value, comment_ok=True)


def gitlab(rng: random.Random) -> Plant:
    value = "gl" + "pat-" + pick(rng, URLSAFE, 20)
    return Plant(
        "gitlab", True, rng.choice(["GITLAB_TOKEN", "CI_JOB_TOKEN"]), value, comment_ok=True
    )


def slack(rng: random.Random) -> Plant:
    if rng.random() < 0.5:
        value = "xo" + "xb-" + pick(rng, string.digits, rng.randint(10, 13))
        value += "-" + pick(rng, string.digits, rng.randint(10, 13)) + "-" + pick(rng, ALNUM, 24)
        return Plant("slack", True, "SLACK_BOT_TOKEN", value, comment_ok=True)
    team = "T" + pick(rng, string.ascii_uppercase + string.digits, rng.randint(8, 10))
    hook = "B" + pick(rng, string.ascii_uppercase + string.digits, rng.randint(8, 10))
    value = f"https://hooks.slack.com/services/{team}/{hook}/" + pick(rng, ALNUM, 24)
    return Plant("slack", True, "SLACK_WEBHOOK_URL", value, comment_ok=True)


def stripe(rng: random.Random) -> Plant:
    body = pick(rng, ALNUM, 24) if rng.random() < 0.5 else "51" + pick(rng, ALNUM, 97)
    value = rng.choice(["sk", "sk", "rk"]) + "_live_" + body
    return Plant(
        "stripe", True, rng.choice(["STRIPE_SECRET_KEY", "stripe_api_key"]), value, comment_ok=True
    )


def clerk(rng: random.Random) -> Plant:
    value = "sk_" + "live_" + pick(rng, ALNUM, 42)
    return Plant("clerk", True, "CLERK_SECRET_KEY", value)


def vercel(rng: random.Random) -> Plant:
    return Plant("vercel", True, rng.choice(["VERCEL_TOKEN", "vercel_token"]), pick(rng, ALNUM, 24))


def npm(rng: random.Random) -> Plant:
    value = "np" + "m_" + pick(rng, ALNUM, 36)
    return Plant("npm", True, rng.choice(["NPM_TOKEN", "NODE_AUTH_TOKEN"]), value, comment_ok=True)


def sentry(rng: random.Random) -> Plant:
    region = rng.choice([".ingest", ".ingest", ".ingest.us"])
    value = (
        f"https://{pick(rng, HEX, 32)}@o{rng.randint(100000, 4999999)}{region}.sentry.io/"
        f"{rng.randint(1000000, 9999999)}"
    )
    return Plant("sentry", True, rng.choice(["SENTRY_DSN", "sentry_dsn"]), value)


def jwt(rng: random.Random) -> Plant:
    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    iat = rng.randint(1_700_000_000, 1_760_000_000)
    claims = {
        "sub": str(rng.randint(1, 10**6)),
        "name": rng.choice(["deploy-bot", "ci", "admin", "service"]),
        "role": rng.choice(["admin", "service", "user"]),
        "iat": iat,
        "exp": iat + rng.choice([3600, 86400, 31536000]),
    }
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    key = rng.randbytes(32)
    signature = b64url(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    name = rng.choice(["AUTH_TOKEN", "ACCESS_TOKEN", "SERVICE_JWT", "bearer_token"])
    return Plant("jwt", True, name, f"{header}.{payload}.{signature}")


def database_url(rng: random.Random) -> Plant:
    password = pick(rng, ALNUM, rng.randint(16, 28))
    user = rng.choice(["app", "admin", "deploy", "svc_orders", "postgres"])
    host = rng.choice(["db.internal", "10.0.3.17", "prod-db.c9akciq32.eu-west-1.rds.amazonaws.com"])
    scheme = rng.choice(["postgresql", "postgres", "mysql", "mongodb+srv", "redis", "rediss"])
    if scheme.startswith("redis"):
        value = f"{scheme}://:{password}@cache.internal:6379/0"
        if rng.random() < 0.5:
            host = "redis-12345.c1.us-east-1-2.ec2.cloud.redislabs.com"
            value = f"{scheme}://default:{password}@{host}:12345"
        name = "REDIS_URL"
    elif scheme == "mongodb+srv":
        cluster = "cluster0." + pick(rng, "abcdefghijklmnop", 5) + ".mongodb.net"
        value = f"{scheme}://{user}:{password}@{cluster}/app"
        name = "MONGO_URI"
    else:
        port = 3306 if scheme == "mysql" else 5432
        value = (
            f"{scheme}://{user}:{password}@{host}:{port}/{rng.choice(['app', 'orders', 'prod'])}"
        )
        name = rng.choice(["DATABASE_URL", "SQLALCHEMY_DATABASE_URI", "db_url"])
    return Plant("database-url", True, name, value)


def generic(rng: random.Random) -> Plant:
    name = rng.choice(
        [
            "password",
            "db_password",
            "DB_PASSWORD",
            "secret_key",
            "SECRET_KEY",
            "api_key",
            "apiKey",
            "auth_token",
            "client_secret",
            "access_token",
            "ADMIN_PASSWORD",
            "smtp_password",
            "webhook_secret",
        ]
    )
    if "password" in name.lower() and rng.random() < 0.5:
        value = pick(rng, ALNUM + "!#%*-_", rng.randint(14, 22))
    elif rng.random() < 0.5:
        value = pick(rng, HEX, rng.choice([32, 40, 64]))
    else:
        value = pick(rng, ALNUM, rng.randint(20, 40))
    return Plant("generic", True, name, value)


def private_key(rng: random.Random) -> Plant:
    style = rng.choice(["rsa", "rsa", "ec", "pkcs8", "openssh"])
    nopass = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    if style == "openssh":
        key = ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        text = key.private_bytes(pem, serialization.PrivateFormat.OpenSSH, nopass)
    elif style == "ec":
        scalar = rng.randrange(1, 2**255)
        key_ec = ec.derive_private_key(scalar, ec.SECP256R1())
        text = key_ec.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, nopass)
    else:
        key_rsa = seeded_rsa(rng)
        fmt = serialization.PrivateFormat
        text = key_rsa.private_bytes(
            pem, fmt.TraditionalOpenSSL if style == "rsa" else fmt.PKCS8, nopass
        )
    name = rng.choice(["PRIVATE_KEY", "SSH_PRIVATE_KEY", "signing_key", "TLS_KEY"])
    return Plant("private-key", True, name, text.decode().strip(), prefer=("py", "js", "yaml"))


def seeded_rsa(rng: random.Random, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key from seeded primes (Miller-Rabin, 40 rounds), since ``generate_private_key``
    takes no seed; e = 65537 as cryptography's own default."""
    e = 65537
    while True:
        p, q = seeded_prime(rng, bits // 2), seeded_prime(rng, bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e and (p * q).bit_length() == bits:
            break
    d = pow(e, -1, phi)
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key()


SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def seeded_prime(rng: random.Random, bits: int) -> int:
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if any(n % p == 0 for p in SMALL_PRIMES):
            continue
        if is_probable_prime(n, rng):
            return n


def is_probable_prime(n: int, rng: random.Random, rounds: int = 40) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


# -- decoys ------------------------------------------------------------------------------------

PLACEHOLDERS = [
    "your_key_here",
    "YOUR_API_KEY",
    "<token>",
    "<your-api-key>",
    "${API_TOKEN}",
    "changeme",
    "example",
    "replace-me",
    "xxxxxxxxxxxxxxxxxxxxxxxx",
    "********",
    "TODO",
    "{{ secret }}",
]


def placeholder(rng: random.Random) -> Plant:
    """Issue 6's list (`your_key_here`, `xxx…`, `<token>`, `${VAR}`, `changeme`, `example`),
    plus the same in a real key's shape: the prefix, then x's or a template."""
    if rng.random() < 0.5:
        name = rng.choice(["api_key", "API_TOKEN", "password", "secret", "auth_token", "apiKey"])
        value = rng.choice(PLACEHOLDERS)
        if value == "${API_TOKEN}":
            value = "${" + name.upper() + "}"
        return Plant("placeholder", False, name, value)
    shaped = [
        ("ANTHROPIC_API_KEY", "sk-ant-" + "x" * 8),
        ("ANTHROPIC_API_KEY", "sk-ant-api03-" + "x" * 24),
        ("OPENAI_API_KEY", "sk-proj-" + "X" * 32),
        ("OPENAI_API_KEY", "sk-" + "..."),
        ("GITHUB_TOKEN", "ghp_" + "x" * 36),
        ("AWS_ACCESS_KEY_ID", "AKIA" + "X" * 16),
        ("STRIPE_SECRET_KEY", "sk_live_" + "x" * 24),
        ("SLACK_BOT_TOKEN", "xoxb-your-bot-token"),
        ("GITLAB_TOKEN", "glpat-" + "x" * 20),
        ("NPM_TOKEN", "npm_" + "X" * 36),
        ("GOOGLE_API_KEY", "AIza" + "your-google-api-key"),
        ("SENTRY_DSN", "https://<key>@o0.ingest.sentry.io/0"),
        ("DATABASE_URL", "postgres://user:password@localhost:5432/db"),
        ("DATABASE_URL", "postgresql://${DB_USER}:${DB_PASSWORD}@${DB_HOST}/app"),
        ("REDIS_URL", "redis://:<password>@localhost:6379/0"),
    ]
    name, value = rng.choice(shaped)
    return Plant("placeholder", False, name, value)


def reference(rng: random.Random) -> Plant:
    """Secrets read from elsewhere (`password = get_password()`, `process.env.X`): the value is
    an expression, which the syntax writes in its own language."""
    name = rng.choice(
        ["password", "api_key", "OPENAI_API_KEY", "secret_key", "token", "STRIPE_SECRET_KEY"]
    )
    return Plant("reference", False, name, name, reference=True)


def aws_example(rng: random.Random) -> Plant:
    """AWS's documented example pair (IAM user guide), which gitleaks allowlists by its
    EXAMPLE suffix."""
    key_id = "AKIA" + "IOSFODNN7" + "EXAMPLE"
    secret = "/".join(["wJalrXUtnFEMI", "K7MDENG", "bPxRfiCY"]) + "EXAMPLEKEY"
    if rng.random() < 0.5:
        return Plant("aws-example", False, "aws_access_key_id", key_id)
    return Plant(
        "aws-example", False, "AWS_ACCESS_KEY_ID", key_id, pair=("AWS_SECRET_ACCESS_KEY", secret)
    )


def digest(rng: random.Random) -> Plant:
    data = rng.randbytes(64)
    algo = rng.choice(["sha256", "sha256", "sha1", "md5", "sha512"])
    value = hashlib.new(algo, data).hexdigest()
    name = rng.choice([f"{algo}", f"{algo}sum", "checksum", "digest", "etag", "content_hash"])
    return Plant("digest", False, name, value)


def git_sha(rng: random.Random) -> Plant:
    value = hashlib.sha1(rng.randbytes(40)).hexdigest()  # noqa: S324 - a git object id
    name = rng.choice(["commit", "revision", "GIT_SHA", "base_ref", "sha"])
    return Plant("git-sha", False, name, value)


def uuid_value(rng: random.Random) -> Plant:
    value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    name = rng.choice(["request_id", "trace_id", "tenant_id", "id", "correlation_id", "project_id"])
    return Plant("uuid", False, name, value)


def npm_integrity(rng: random.Random) -> Plant:
    value = "sha512-" + base64.b64encode(hashlib.sha512(rng.randbytes(64)).digest()).decode()
    return Plant("npm-integrity", False, "integrity", value, prefer=("json", "yaml"))


def base64_blob(rng: random.Random) -> Plant:
    """Base64 that is data, not a key: a data URI of a small image, a font subset."""
    raw = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(36, 90))
    body = base64.b64encode(raw).decode()
    if rng.random() < 0.6:
        return Plant(
            "base64-blob",
            False,
            rng.choice(["icon", "logo", "placeholder_image"]),
            "data:image/png;base64," + body,
        )
    return Plant("base64-blob", False, rng.choice(["font_data", "glyphs", "thumbnail"]), body)


def test_password(rng: random.Random) -> Plant:
    name = rng.choice(["password", "PASSWORD", "passwd", "secret", "token", "admin_password"])
    value = rng.choice(["test", "secret", "password", "dummy", "admin", "testpass", "foo"])
    return Plant("test-password", False, name, value)


def public_key(rng: random.Random) -> Plant:
    scalar = rng.randrange(1, 2**255)
    key = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
    text = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    name = rng.choice(["PUBLIC_KEY", "verify_key", "JWT_PUBLIC_KEY"])
    return Plant("public-key", False, name, text.strip(), prefer=("py", "js", "yaml"))


def publishable_key(rng: random.Random) -> Plant:
    if rng.random() < 0.5:
        return Plant(
            "publishable-key",
            False,
            "STRIPE_PUBLISHABLE_KEY",
            "pk_" + "live_" + pick(rng, ALNUM, 24),
        )
    return Plant(
        "publishable-key",
        False,
        "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY",
        "pk_" + "live_" + pick(rng, ALNUM, 40),
    )


Generator = Callable[[random.Random], Plant]

# Share of each kind among the positives and among the decoys (issue 6's list of detectors;
# the decoys of its "few false positives" paragraph and of the benchmark's brief).
POSITIVES: dict[str, tuple[Generator, int]] = {
    "anthropic": (anthropic, 16),
    "openai": (openai, 16),
    "elevenlabs": (elevenlabs, 12),
    "google": (google, 16),
    "aws": (aws, 16),
    "github": (github, 16),
    "gitlab": (gitlab, 12),
    "slack": (slack, 16),
    "stripe": (stripe, 14),
    "sentry": (sentry, 12),
    "clerk": (clerk, 10),
    "vercel": (vercel, 10),
    "npm": (npm, 12),
    "private-key": (private_key, 20),
    "jwt": (jwt, 14),
    "database-url": (database_url, 20),
    "generic": (generic, 40),
}
DECOYS: dict[str, tuple[Generator, int]] = {
    "placeholder": (placeholder, 70),
    "reference": (reference, 40),
    "aws-example": (aws_example, 12),
    "digest": (digest, 40),
    "git-sha": (git_sha, 20),
    "uuid": (uuid_value, 25),
    "npm-integrity": (npm_integrity, 20),
    "base64-blob": (base64_blob, 20),
    "test-password": (test_password, 25),
    "public-key": (public_key, 10),
    "publishable-key": (publishable_key, 8),
}


def scaled(table: dict[str, tuple[Generator, int]], total: int) -> dict[str, int]:
    """How many of each kind for ``total`` in all, keeping the shares (largest remainders)."""
    weights = {k: w for k, (_, w) in table.items()}
    whole = sum(weights.values())
    exact = {k: total * w / whole for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:left]:
        counts[k] += 1
    return counts
