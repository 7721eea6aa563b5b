"""The secret rules: what each finding means and how to fix it, and every detector.

Severity follows what a leaked value unlocks: critical for live cloud, LLM and payment keys
and for private keys (money or infrastructure at once), high for tokens and database URLs
(code, data, deploys), medium for generic ``password = …`` values (unknown scope), low for
test-mode keys and public-by-design values (Sentry client DSNs, Supabase anon JWTs).
"""

from __future__ import annotations

from lightkeeper.audit.findings import Rule, Severity
from lightkeeper.audit.secrets import assignments, providers, structures
from lightkeeper.audit.secrets.base import Detector

_THEN = (
    " Then remove it from the code (and from git history if it was pushed: rotating is what"
    " makes the old value harmless) and read it from the environment or a secret manager."
)


def _rule(
    rule_id: str,
    name: str,
    severity: Severity,
    description: str,
    rotate: str,
    uri: str | None = None,
    tags: tuple[str, ...] = (),
) -> Rule:
    return Rule(
        id=rule_id,
        name=name,
        description=description,
        help=rotate + _THEN,
        help_uri=uri,
        severity=severity,
        tags=("secret", *tags),
    )


_CRIT, _HIGH, _MED, _LOW = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _rule(
            "anthropic-api-key",
            "Anthropic API key",
            _CRIT,
            "An Anthropic API key (sk-ant-api03-…) bills Claude usage to its workspace.",
            "Delete the key in the Anthropic Console (Settings → API keys) and create a new one.",
            "https://console.anthropic.com/settings/keys",
            ("llm",),
        ),
        _rule(
            "anthropic-admin-key",
            "Anthropic admin API key",
            _CRIT,
            "An Anthropic Admin API key (sk-ant-admin01-…) manages the organisation's members,"
            " workspaces and keys.",
            "Delete the admin key in the Anthropic Console (Settings → Admin keys).",
            "https://console.anthropic.com/settings/admin-keys",
            ("llm",),
        ),
        _rule(
            "openai-api-key",
            "OpenAI API key",
            _CRIT,
            "An OpenAI API key (sk-proj-…, sk-svcacct-…, sk-admin-… or a legacy sk-…) bills"
            " usage to its project.",
            "Revoke the key on the OpenAI platform (API keys) and create a new one.",
            "https://platform.openai.com/api-keys",
            ("llm",),
        ),
        _rule(
            "elevenlabs-api-key",
            "ElevenLabs API key",
            _CRIT,
            "An ElevenLabs API key spends the account's voice-generation credits.",
            "Delete the key in ElevenLabs (Profile → API keys) and create a new one.",
            "https://elevenlabs.io/app/settings/api-keys",
            ("llm",),
        ),
        _rule(
            "google-api-key",
            "Google API key",
            _HIGH,
            "A Google API key (AIza…) calls every API enabled on its Cloud project (Maps,"
            " YouTube, Gemini) unless it is restricted.",
            "Regenerate or delete the key in Google Cloud (APIs & Services → Credentials) and"
            " add API and referrer restrictions to its successor.",
            "https://console.cloud.google.com/apis/credentials",
            ("cloud",),
        ),
        _rule(
            "aws-access-key",
            "AWS access key",
            _CRIT,
            "An AWS access key id (AKIA…/ASIA…) and, when found beside it, its secret access"
            " key: together they sign requests as the IAM user or role.",
            "Deactivate and delete the key in IAM (aws iam update-access-key, then"
            " delete-access-key), review CloudTrail for its use, and prefer an IAM role.",
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
            ("cloud",),
        ),
        _rule(
            "aws-secret-access-key",
            "AWS secret access key",
            _CRIT,
            "An AWS secret access key (40 base64 characters) assigned to an AWS secret name.",
            "Find its access key id in IAM, deactivate and delete it, and review CloudTrail.",
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
            ("cloud",),
        ),
        _rule(
            "github-token",
            "GitHub token",
            _HIGH,
            "A GitHub token (ghp_ personal, github_pat_ fine-grained, gho_ OAuth, ghu_/ghs_ app,"
            " ghr_ refresh) acts on repositories with its owner's rights.",
            "Revoke it in GitHub (Settings → Developer settings → tokens, or the app's page).",
            "https://github.com/settings/tokens",
            ("vcs",),
        ),
        _rule(
            "gitlab-token",
            "GitLab token",
            _HIGH,
            "A GitLab token (glpat- personal, gldt- deploy, glrt- runner, glptt- trigger …).",
            "Revoke it in GitLab (User settings → Access tokens, or the project's settings).",
            "https://docs.gitlab.com/ee/security/tokens/",
            ("vcs",),
        ),
        _rule(
            "slack-token",
            "Slack token",
            _HIGH,
            "A Slack token (xoxb- bot, xoxp- user, xapp- app …) reads and posts in the workspace.",
            "Revoke it (auth.revoke, or reinstall the app from api.slack.com/apps).",
            "https://api.slack.com/authentication/token-types",
            ("chat",),
        ),
        _rule(
            "slack-webhook",
            "Slack webhook URL",
            _HIGH,
            "A Slack incoming-webhook URL posts into its channel without further auth.",
            "Remove the webhook in the Slack app's Incoming Webhooks page and create another.",
            "https://api.slack.com/messaging/webhooks",
            ("chat",),
        ),
        _rule(
            "stripe-secret-key",
            "Stripe live secret key",
            _CRIT,
            "A Stripe live secret or restricted key (sk_live_/rk_live_) moves real money.",
            "Roll the key in the Stripe Dashboard (Developers → API keys → Roll key).",
            "https://dashboard.stripe.com/apikeys",
            ("payment",),
        ),
        _rule(
            "stripe-test-key",
            "Stripe test key",
            _LOW,
            "A Stripe test-mode key (sk_test_/rk_test_): no real money, but the test account's"
            " data and settings.",
            "Roll the test key in the Stripe Dashboard (test mode → API keys).",
            "https://dashboard.stripe.com/test/apikeys",
            ("payment",),
        ),
        _rule(
            "clerk-secret-key",
            "Clerk secret key",
            _CRIT,
            "A Clerk production secret key (sk_live_…) has full Backend API access: every"
            " user, session and organisation of the instance.",
            "Roll the secret key in the Clerk Dashboard (Configure → API keys).",
            "https://dashboard.clerk.com/last-active?path=api-keys",
            ("auth",),
        ),
        _rule(
            "clerk-test-key",
            "Clerk development secret key",
            _LOW,
            "A Clerk development instance secret key (sk_test_…): test users only.",
            "Roll the secret key of the development instance in the Clerk Dashboard.",
            "https://dashboard.clerk.com/last-active?path=api-keys",
            ("auth",),
        ),
        _rule(
            "sentry-dsn",
            "Sentry DSN",
            _LOW,
            "A Sentry DSN. Its public key only lets clients submit events (Sentry documents"
            " DSNs as safe in browser code); a legacy DSN with a secret part is high.",
            "If it is a server-side DSN, revoke it in Sentry (Project → Client Keys) and make"
            " a new one.",
            "https://docs.sentry.io/concepts/key-terms/dsn-explainer/",
            ("monitoring",),
        ),
        _rule(
            "vercel-token",
            "Vercel token",
            _HIGH,
            "A Vercel access token (vcp_/vci_/vca_/vcr_/vck_, or a 24-character legacy token)"
            " deploys, reads environment variables and changes domains.",
            "Delete the token in Vercel (Account settings → Tokens).",
            "https://vercel.com/account/tokens",
            ("deploy",),
        ),
        _rule(
            "npm-token",
            "npm access token",
            _HIGH,
            "An npm access token (npm_…) publishes packages as its owner.",
            "Revoke it (npm token revoke, or npmjs.com → Access Tokens).",
            "https://docs.npmjs.com/revoking-access-tokens",
            ("supply-chain",),
        ),
        _rule(
            "private-key",
            "Private key",
            _CRIT,
            "A PEM or OpenSSH private key (RSA, EC, DSA, PKCS #8, OpenSSH, PGP). Encrypted"
            " keys are high: a passphrase still protects them.",
            "Treat the key pair as compromised: revoke its certificate or remove its public"
            " key from authorized_keys/deploy keys, and generate a new pair.",
            "https://www.rfc-editor.org/rfc/rfc7468",
            ("crypto",),
        ),
        _rule(
            "jwt",
            "JSON Web Token",
            _HIGH,
            "A signed JWT: a bearer credential until it expires (Supabase anon keys, public"
            " by design, are low).",
            "Revoke the session or rotate the signing key so the token stops verifying.",
            "https://www.rfc-editor.org/rfc/rfc7519",
        ),
        _rule(
            "database-url",
            "Database URL with a password",
            _HIGH,
            "A PostgreSQL, MySQL, MongoDB, Redis or AMQP connection URL with its password.",
            "Change the database user's password (ALTER ROLE … PASSWORD, CONFIG SET"
            " requirepass, the provider's console).",
            None,
            ("database",),
        ),
        _rule(
            "generic-secret",
            "Hard-coded secret",
            _MED,
            "A value that looks random, assigned to a name like password, secret, token or"
            " api_key, or sent in an Authorization header (Bearer or Basic).",
            "Rotate the credential at whatever issued it.",
        ),
        _rule(
            "dotenv",
            "Secret in a committed .env file",
            _HIGH,
            "A .env file holds a deployment's secrets and belongs in .gitignore; only"
            " .env.example (with placeholders) should be committed.",
            "Rotate each value, delete the file from the repository, add .env* (except"
            " .env.example) to .gitignore.",
        ),
    )
}

DETECTORS: tuple[Detector, ...] = (
    *structures.DETECTORS,
    *providers.DETECTORS,
    assignments.GENERIC_DETECTOR,
    assignments.AUTHORIZATION_DETECTOR,
)
