"""Secrets with a provider's own format: a fixed prefix and a random body.

Formats, as documented by the providers or by the scanners that track them (patterns here
are written for Lightkeeper, the sources are cited per detector):

- Anthropic: ``sk-ant-api03-`` + 93 characters + ``AA``; admin keys ``sk-ant-admin01-``;
  OAuth ``sk-ant-oat01-``/``sk-ant-ort01-`` (gitleaks ``rules/anthropic.go``).
- OpenAI: ``sk-proj-``, ``sk-svcacct-``, ``sk-admin-`` project/service/admin keys; the older
  ``sk-`` + 20 + ``T3BlbkFJ`` (base64 of "OpenAI") + 20 (gitleaks ``openai-api-key``).
- ElevenLabs: ``sk_`` + 48 hex (current), or 32 hex next to ``xi-api-key``/``elevenlabs``
  (trufflehog ``detectors/elevenlabs`` v2 and v1).
- Google API keys: ``AIza`` + 35 of ``[0-9A-Za-z_-]`` (gitleaks ``gcp-api-key``).
- GitHub: ``ghp_ gho_ ghu_ ghs_ ghr_`` + 36 base62, ``github_pat_`` + 82 (GitHub docs,
  "About authentication to GitHub", token formats; gitleaks ``github-*``).
- GitLab: ``glpat-`` + 20 (routable: longer, with ``.xxxxxxxxx``), ``gldt- glrt- glptt-
  glcbt- glft- glsoat- gloas- glagent- glimt- glffct-``, runner registration ``GR1348941``
  (GitLab docs "Token overview", "Token prefixes"; gitleaks ``gitlab-*``).
- Slack: ``xoxb- xoxp- xoxa- xoxr- xoxs- xoxo- xoxe-`` tokens, ``xapp-`` app tokens,
  ``xoxe.xoxp-``/``xoxe-`` configuration tokens, webhooks ``hooks.slack.com/services/T…/B…/…``
  (Slack docs "Token types", "Configuration tokens"; gitleaks ``slack-*``).
- Stripe: ``sk_live_``/``rk_live_`` secret and restricted keys, ``sk_test_`` test keys;
  bodies of 24 (legacy) or ~99 characters starting with the account's ``51…``.
- Clerk: ``sk_live_``/``sk_test_`` too (Clerk docs "API keys"; ``@clerk/shared`` keys.ts
  checks only the prefix). A body of 35-89 characters, or ``clerk`` on the line, tells it
  from Stripe.
- Sentry DSN: ``https://<32 hex public key>[:<32 hex secret>]@host/<project id>`` (Sentry
  docs "Data Source Name").
- Vercel: ``vcp_ vci_ vca_ vcr_ vck_`` (Vercel changelog "New token formats and secret
  scanning"); older tokens are 24 alphanumerics next to ``vercel`` (trufflehog
  ``detectors/vercel``).
- npm: ``npm_`` + 36 (npm docs "About access tokens"; gitleaks ``npm-access-token``).
- AWS: access key ids ``AKIA``/``ASIA``/``ABIA``/``ACCA`` + 16 base32 characters, the
  secret a 40-character base64 string (AWS IAM user guide; gitleaks ``aws-access-token``).
"""

from __future__ import annotations

import re

from lightkeeper.audit.findings import Severity
from lightkeeper.audit.secrets.base import (
    CONTEXT,
    Candidate,
    Context,
    Detector,
)
from lightkeeper.audit.secrets.noise import (
    NOT_SECRET_LAST_WORDS,
    PUBLIC_WORDS,
    char_classes,
    entropy,
    is_known_example,
    is_placeholder,
    key_words,
)

_LEFT = r"(?<![A-Za-z0-9_\-])"
_RIGHT = r"(?![A-Za-z0-9_\-])"


def _token(
    m: re.Match[str],
    rule: str,
    *,
    prefix: int,
    min_entropy: float = 3.0,
    severity: Severity | None = None,
) -> Candidate | None:
    """A prefixed token, if its body (after ``prefix`` characters) is not a stand-in."""
    value = m.group(0)
    body = value[prefix:]
    if is_placeholder(body) or is_known_example(value) or entropy(body) < min_entropy:
        return None
    return Candidate(rule, value, m.start(), m.end(), severity=severity)


def _prefixed(
    name: str,
    rule: str,
    keywords: tuple[str, ...],
    pattern: str,
    prefix: int,
    *,
    min_entropy: float = 3.0,
    flags: int = 0,
) -> Detector:
    regex = re.compile(_LEFT + pattern + _RIGHT, flags)
    return Detector(
        name=name,
        keywords=keywords,
        pattern=regex,
        check=lambda m, ctx: _token(m, rule, prefix=prefix, min_entropy=min_entropy),
    )


# --- AWS --------------------------------------------------------------------------------

# The 16 characters after the prefix are base32 (A-Z, 2-7): 0, 1, 8 and 9 never occur, so
# an upper-case identifier that starts ASIA/ACCA is not taken for a key (gitleaks
# aws-access-token uses the same alphabet).
_AWS_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])"
)
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_PAIR_LINES = 5  # how far from the key id (in lines) its secret may be
_PAIR_REACH = 2000  # and in characters, so a key id on a 5 MB minified line costs 4 KB


def aws_secret_shape(value: str) -> bool:
    """A 40-character AWS secret: base64 with both cases and a digit or ``/``/``+`` (which
    rules out 40-hex git SHAs and words), high entropy, not AWS's documented example."""
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_other = any(c.isdigit() or c in "/+" for c in value)
    return (
        has_lower
        and has_upper
        and has_other
        and entropy(value) >= 4.0
        and not is_placeholder(value)
    )


def _aws_secret_near(ctx: Context, start: int, end: int) -> re.Match[str] | None:
    """The nearest plausible secret key within ``_PAIR_LINES`` lines of the key id."""
    text = ctx.text
    floor, ceiling = max(0, start - _PAIR_REACH), min(len(text), end + _PAIR_REACH)
    lo = start
    for _ in range(_PAIR_LINES + 1):
        lo = text.rfind("\n", floor, lo - 1) + 1 if lo > floor else floor
        if lo <= floor:
            lo = floor
            break
    hi = end
    for _ in range(_PAIR_LINES + 1):
        nxt = text.find("\n", hi + 1, ceiling)
        if nxt < 0:
            hi = ceiling
            break
        hi = nxt
    best: re.Match[str] | None = None
    for m in _AWS_SECRET.finditer(text, lo, hi):
        if start <= m.start() < end or not aws_secret_shape(m.group(0)):
            continue
        if best is None or abs(m.start() - start) < abs(best.start() - start):
            best = m
    return best


def _aws_key(m: re.Match[str], ctx: Context) -> Candidate | None:
    key_id = m.group(0)
    if is_placeholder(key_id) or entropy(key_id[4:]) < 3.0:
        return None
    secret = _aws_secret_near(ctx, m.start(), m.end())
    if secret is None:
        # An id alone cannot sign requests, but it names the key to rotate.
        return Candidate("aws-access-key", key_id, m.start(), m.end(), severity=Severity.HIGH)
    return Candidate(
        "aws-access-key",
        f"{key_id}:{secret.group(0)}",
        m.start(),
        m.end(),
        preview=f"{key_id[:6]}…{key_id[-2:]} + {secret.group(0)[:4]}…",
        label="AWS access key pair",
        severity=Severity.CRITICAL,
        consumed=((secret.start(), secret.end()),),
    )


def _aws_secret_alone(m: re.Match[str], ctx: Context) -> Candidate | None:
    value = m.group(0)
    if not aws_secret_shape(value):
        return None
    return Candidate("aws-secret-access-key", value, m.start(), m.end(), priority=CONTEXT)


# --- Stripe and Clerk share sk_live_/sk_test_ ---------------------------------------------


def _stripe_or_clerk(m: re.Match[str], ctx: Context) -> Candidate | None:
    value = m.group(0)
    kind, mode, body = value.split("_", 2)
    if is_placeholder(body) or is_known_example(value):
        return None
    if entropy(body) < 3.0 or char_classes(body) < 2:
        return None
    lo, hi = ctx.around(m.start(), m.end(), 120, 40)
    line = ctx.text[lo:hi].lower()
    clerk = kind == "sk" and ("clerk" in line or ("stripe" not in line and 35 <= len(body) <= 89))
    live = mode == "live"
    if clerk:
        rule = "clerk-secret-key" if live else "clerk-test-key"
    else:
        rule = "stripe-secret-key" if live else "stripe-test-key"
    return Candidate(rule, value, m.start(), m.end())


# --- Sentry -------------------------------------------------------------------------------

_SENTRY = re.compile(
    r"https?://(?P<key>[0-9a-f]{32})(?::(?P<secret>[0-9a-f]{32}))?@"
    r"(?P<host>[A-Za-z0-9.\-]+(?::\d+)?)/(?:[\w\-.]+/)*(?P<project>\d+)(?![\w/])"
)


def _sentry(m: re.Match[str], ctx: Context) -> Candidate | None:
    key, secret = m.group("key"), m.group("secret")
    if is_placeholder(key) or entropy(key) < 3.0:
        return None
    value = f"{key}:{secret}" if secret else key
    preview = f"https://{key[:4]}…@{m.group('host')}/{m.group('project')}"
    # A DSN's public key only lets a client submit events (Sentry documents DSNs as safe
    # in browser code); the legacy secret half authenticates the API, hence the severity.
    severity = Severity.HIGH if secret else Severity.LOW
    return Candidate("sentry-dsn", value, m.start(), m.end(), preview=preview, severity=severity)


# --- Slack webhook, legacy Vercel and ElevenLabs (keyword nearby, value without prefix) --

_SLACK_WEBHOOK = re.compile(
    r"(?:https?://)?hooks\.slack\.com/(?P<path>(?:services|workflows|triggers)/"
    r"[A-Za-z0-9_+/\-]{20,200})"
)


# services/T<team id>/B<bot or app id>/<24-character secret> (Slack "Sending messages
# using incoming webhooks"); workflow and trigger URLs carry one opaque token.
_SLACK_SERVICE_PATH = re.compile(r"services/T[A-Z0-9]{6,}/[AB][A-Z0-9]{6,}/[A-Za-z0-9]{16,}")


def _slack_webhook(m: re.Match[str], ctx: Context) -> Candidate | None:
    path = m.group("path")
    if path.startswith("services/") and not _SLACK_SERVICE_PATH.fullmatch(path):
        return None
    tail = path.split("/", 1)[1]
    if is_placeholder(tail.replace("/", "")) or entropy(tail) < 3.0:
        return None
    preview = f"https://hooks.slack.com/{path[: len(path) // 3]}…"
    return Candidate("slack-webhook", path, m.start(), m.end(), preview=preview)


# "-" and "_" end the value too: team_<24> is a Vercel team id, not a token.
_VERCEL_LEGACY = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9]{24}(?![A-Za-z0-9_\-])")
_ASSIGNED_TO = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*)[\"'`\]]?[ \t]*(?:=|:=|:|=>)[ \t]*[\"'`]?$")


def _named_as_metadata(ctx: Context, start: int) -> bool:
    """True when the value at ``start`` is assigned to a name that says it is not a
    secret: ``VERCEL_ORG_ID: <24 characters>``, ``elevenlabs_model = "<32 hex>"``.

    The keyword-near detectors (legacy Vercel, legacy ElevenLabs) have only the keyword to
    go on, and Vercel's own deploy guide puts VERCEL_ORG_ID and VERCEL_PROJECT_ID (ids, 24
    characters for a personal account) beside VERCEL_TOKEN."""
    lo, _ = ctx.around(start, start, 80, 0)
    m = _ASSIGNED_TO.search(ctx.text, lo, start)
    if m is None:
        return False
    words = key_words(m.group(1))
    return bool(words) and (
        words[-1] in NOT_SECRET_LAST_WORDS or any(w in PUBLIC_WORDS for w in words)
    )


def _vercel_legacy(m: re.Match[str], ctx: Context) -> Candidate | None:
    value = m.group(0)
    # A token mixes digits with letters; a 24-letter word or identifier does not.
    if not any(c.isdigit() for c in value) or char_classes(value) < 2:
        return None
    if is_placeholder(value) or entropy(value) < 3.5 or _named_as_metadata(ctx, m.start()):
        return None
    return Candidate("vercel-token", value, m.start(), m.end(), priority=CONTEXT)


_HEX32 = re.compile(r"(?<![A-Za-z0-9])[a-f0-9]{32}(?![A-Za-z0-9])")


def _elevenlabs_legacy(m: re.Match[str], ctx: Context) -> Candidate | None:
    value = m.group(0)
    if is_placeholder(value) or entropy(value) < 3.0 or _named_as_metadata(ctx, m.start()):
        return None
    return Candidate("elevenlabs-api-key", value, m.start(), m.end(), priority=CONTEXT)


# Configuration tokens: access "xoxe.xoxp-1-" + 163-166 and refresh "xoxe-1-" + 146
# alphanumerics (Slack "Configuration tokens"; gitleaks slack-config-access-token and
# slack-config-refresh-token). Their body is opaque, with no numeric ids to check.
_SLACK_CONFIG_BODY = re.compile(r"\d-[A-Za-z0-9]{140,170}")


def _slack_token(m: re.Match[str], ctx: Context) -> Candidate | None:
    value = m.group(0)
    config = value.startswith(("xoxe.", "xoxe-"))
    kind, _, body = value.removeprefix("xoxe.").partition("-")
    parts = body.split("-")
    if config and _SLACK_CONFIG_BODY.fullmatch(body):
        pass  # an opaque body: only the entropy check below applies
    elif kind in ("xoxb", "xoxp", "xoxe"):
        # Bot and user tokens carry the workspace's and user's numeric ids, 8-14 digits
        # each: xoxb-<team>-<bot>-<secret>, xoxp-<team>-<user>-<id>-<secret>, and the legacy
        # bot token xoxb-<bot>-<18-26 alphanumerics> with one id (gitleaks
        # slack-legacy-bot-token). Docs examples use "1234".
        ids = sum(1 for p in parts if p.isdigit() and len(p) >= 8)
        legacy_bot = kind == "xoxb" and any(len(p) >= 18 and not p.isdigit() for p in parts)
        if ids < (1 if legacy_bot else 2):
            return None
    elif not re.search(r"\d{4,}", body) and len(parts) < 3:
        return None
    if is_placeholder(body.replace("-", "")) or entropy(body) < 3.0:
        return None
    return Candidate("slack-token", value, m.start(), m.end())


_GITLAB_PREFIXES = tuple(
    f"{p}-"
    for p in (
        "glpat",
        "gldt",
        "glrt",
        "glptt",
        "glcbt",
        "glft",
        "glsoat",
        "gloas",
        "glagent",
        "glimt",
        "glffct",
    )
)

DETECTORS: tuple[Detector, ...] = (
    _prefixed(
        "anthropic",
        "anthropic-api-key",
        ("sk-ant-api", "sk-ant-oat", "sk-ant-ort"),
        r"sk-ant-(?:api|oat|ort)\d\d-[A-Za-z0-9_\-]{32,300}",
        13,
    ),
    _prefixed(
        "anthropic-admin",
        "anthropic-admin-key",
        ("sk-ant-admin",),
        r"sk-ant-admin\d\d-[A-Za-z0-9_\-]{32,300}",
        15,
    ),
    _prefixed(
        "openai-project",
        "openai-api-key",
        ("sk-proj-", "sk-svcacct-", "sk-admin-"),
        r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,300}",
        8,
    ),
    Detector(
        name="openai-legacy",
        keywords=("t3blbkfj",),
        pattern=re.compile(
            _LEFT
            + r"sk-(?:[A-Za-z0-9_\-]*-)?[A-Za-z0-9_\-]{20,80}T3BlbkFJ[A-Za-z0-9_\-]{20,80}"
            + _RIGHT
        ),
        check=lambda m, ctx: _token(m, "openai-api-key", prefix=3),
        anchored=False,
        window=(240, 100),
    ),
    _prefixed("elevenlabs", "elevenlabs-api-key", ("sk_",), r"sk_[a-f0-9]{48}", 3, min_entropy=3.0),
    Detector(
        name="elevenlabs-legacy",
        keywords=("elevenlabs", "xi-api-key", "xi_api_key"),
        pattern=_HEX32,
        check=_elevenlabs_legacy,
        anchored=False,
        window=(0, 80),
    ),
    _prefixed("google", "google-api-key", ("aiza",), r"AIza[0-9A-Za-z_\-]{35}", 4, min_entropy=3.5),
    Detector(
        name="aws-access-key",
        keywords=("akia", "asia", "abia", "acca", "a3t"),
        pattern=_AWS_ID,
        check=_aws_key,
    ),
    Detector(
        name="aws-secret-access-key",
        keywords=("secret_access_key", "secretaccesskey", "secret-access-key", "aws_secret"),
        pattern=_AWS_SECRET,
        check=_aws_secret_alone,
        anchored=False,
        window=(0, 100),
    ),
    _prefixed(
        "github",
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        r"gh[pousr]_[A-Za-z0-9]{36,251}",
        4,
    ),
    _prefixed(
        "github-fine-grained",
        "github-token",
        ("github_pat_",),
        r"github_pat_[A-Za-z0-9_]{40,255}",
        11,
    ),
    _prefixed(
        "gitlab",
        "gitlab-token",
        _GITLAB_PREFIXES,
        r"gl(?:pat|dt|rt|ptt|cbt|ft|soat|oas|agent|imt|ffct)-[A-Za-z0-9_\-]{20,300}"
        r"(?:\.[0-9a-z]{9})?",
        6,
    ),
    # Runner registration tokens (deprecated in GitLab 16, still valid where enabled).
    _prefixed(
        "gitlab-runner-registration",
        "gitlab-token",
        ("gr1348941",),
        r"GR1348941[A-Za-z0-9_\-]{20,40}",
        9,
    ),
    Detector(
        name="slack-token",
        keywords=(
            "xoxb-",
            "xoxp-",
            "xoxa-",
            "xoxr-",
            "xoxs-",
            "xoxo-",
            "xoxe-",
            "xoxe.",
            "xapp-",
        ),
        pattern=re.compile(
            _LEFT + r"(?:xoxe\.)?(?:xox[abprsoe]|xapp)-[A-Za-z0-9\-]{10,250}" + _RIGHT
        ),
        check=_slack_token,
    ),
    Detector(
        name="slack-webhook",
        keywords=("hooks.slack.com",),
        pattern=_SLACK_WEBHOOK,
        check=_slack_webhook,
        anchored=False,
        window=(8, 240),
    ),
    Detector(
        name="stripe-clerk",
        keywords=("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        pattern=re.compile(_LEFT + r"[sr]k_(?:live|test)_[A-Za-z0-9]{16,247}" + _RIGHT),
        check=_stripe_or_clerk,
    ),
    Detector(
        name="sentry-dsn",
        keywords=("sentry", "dsn", "ingest"),
        pattern=_SENTRY,
        check=_sentry,
        anchored=False,
        window=(160, 160),
    ),
    _prefixed(
        "vercel",
        "vercel-token",
        ("vcp_", "vci_", "vca_", "vcr_", "vck_"),
        r"vc[piark]_[A-Za-z0-9]{20,120}",
        4,
    ),
    Detector(
        name="vercel-legacy",
        keywords=("vercel",),
        pattern=_VERCEL_LEGACY,
        check=_vercel_legacy,
        anchored=False,
        window=(0, 80),
    ),
    _prefixed("npm", "npm-token", ("npm_",), r"npm_[A-Za-z0-9]{36}", 4),
)
