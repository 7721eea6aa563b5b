"""Table-driven true and false positives for every secret detector.

Each true positive names the file it sits in (the file name decides the rules that apply:
``.env`` files, lock files, bundles), the text, the rule expected, its severity, and the
exact secret value that must be fingerprinted. Each false positive is text that must give
no finding at all: placeholders, references, lock-file hashes, UUIDs, digests, bundles.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from lightkeeper.audit.secrets.detect import detect
from lightkeeper.audit.secrets.preview import shown_characters
from lightkeeper.audit.secrets.rules import RULES
from tests.audit import test_secrets_tokens as t


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    build: Callable[[], tuple[str, str]]  # -> (file text, the secret it must fingerprint)
    rule: str
    severity: str
    line: int = 1


def _in(template: str, secret: Callable[[], str]) -> Callable[[], tuple[str, str]]:
    def build() -> tuple[str, str]:
        value = secret()
        return template.format(s=value), value

    return build


def _part(
    template: str, whole: Callable[[], str], part: Callable[[str], str]
) -> Callable[[], tuple[str, str]]:
    """Text with ``whole`` (a URL) in it, whose fingerprinted secret is ``part(whole)``."""

    def build() -> tuple[str, str]:
        value = whole()
        return template.format(s=value), part(value)

    return build


def _webhook_path(url: str) -> str:
    return url.split("hooks.slack.com/", 1)[1]


def _dsn_key(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0]


def _url_password(url: str) -> str:
    return url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]


def _db(scheme_user: str, host: str, seed: str) -> Callable[[], str]:
    return lambda: f"{scheme_user}:{t.password(seed)}@{host}"


# Rules whose secret is part of a larger match: the span covers the match (a URL).
_SPAN_IS_URL = ("database-url", "sentry-dsn", "slack-webhook")


TRUE_POSITIVES = [
    Case(
        "anthropic",
        "app.py",
        _in('client = Anthropic(api_key="{s}")\n', t.anthropic),
        "anthropic-api-key",
        "critical",
    ),
    Case(
        "anthropic-admin",
        "ops/admin.yaml",
        _in("anthropic:\n  admin_key: {s}\n", t.anthropic_admin),
        "anthropic-admin-key",
        "critical",
        line=2,
    ),
    Case(
        "openai-project",
        "src/ai.ts",
        _in("const openai = new OpenAI({{ apiKey: '{s}' }});", t.openai_project),
        "openai-api-key",
        "critical",
    ),
    Case(
        "openai-service-account",
        "worker.go",
        _in('key := "{s}"', t.openai_service),
        "openai-api-key",
        "critical",
    ),
    Case(
        "openai-legacy",
        "notebook.py",
        _in('openai.api_key = "{s}"', t.openai_legacy),
        "openai-api-key",
        "critical",
    ),
    Case(
        "elevenlabs",
        "voice.js",
        _in("headers['xi-api-key'] = '{s}';", t.elevenlabs),
        "elevenlabs-api-key",
        "critical",
    ),
    Case(
        "elevenlabs-legacy",
        "tts.py",
        _in('ELEVENLABS_API_KEY = "{s}"', lambda: t.rand(32, "el-legacy", t.HEX)),
        "elevenlabs-api-key",
        "critical",
    ),
    Case(
        "google",
        "index.html",
        _in('<script src="https://maps.googleapis.com/maps/api/js?key={s}"></script>', t.google),
        "google-api-key",
        "high",
    ),
    Case(
        "github-pat",
        ".github/workflows/ci.yml",
        _in("env:\n  GH_TOKEN: {s}\n", t.github),
        "github-token",
        "high",
        line=2,
    ),
    Case(
        "github-oauth",
        "cli.rb",
        _in("token = '{s}'", lambda: t.github("gho", "gho")),
        "github-token",
        "high",
    ),
    Case(
        "github-app",
        "app.py",
        _in('TOKEN = "{s}"', lambda: t.github("ghs", "ghs")),
        "github-token",
        "high",
    ),
    Case(
        "github-fine-grained",
        "deploy.sh",
        _in("curl -H 'Authorization: Bearer {s}' x", t.github_fine_grained),
        "github-token",
        "high",
    ),
    Case(
        "gitlab",
        ".gitlab-ci.yml",
        _in("variables:\n  PRIVATE_TOKEN: {s}\n", t.gitlab),
        "gitlab-token",
        "high",
        line=2,
    ),
    Case(
        "slack-bot",
        "bot.py",
        _in('slack = WebClient(token="{s}")', t.slack_bot),
        "slack-token",
        "high",
    ),
    Case(
        "slack-webhook",
        "notify.sh",
        _part("curl -X POST -d @msg.json {s}", t.slack_webhook, _webhook_path),
        "slack-webhook",
        "high",
    ),
    Case(
        "stripe-live",
        "billing.py",
        _in('stripe.api_key = "{s}"', t.stripe_live),
        "stripe-secret-key",
        "critical",
    ),
    Case(
        "stripe-restricted",
        "billing.rb",
        _in("Stripe.api_key = '{s}'", lambda: t.stripe_live("rk", "rk")),
        "stripe-secret-key",
        "critical",
    ),
    Case(
        "stripe-test",
        "tests/pay.py",
        _in('STRIPE_KEY = "{s}"', t.stripe_test),
        "stripe-test-key",
        "low",
    ),
    Case(
        "clerk-live",
        ".env.production",
        _in("CLERK_SECRET_KEY={s}\n", t.clerk),
        "clerk-secret-key",
        "critical",
    ),
    Case(
        "clerk-test",
        "middleware.ts",
        _in("const secretKey = '{s}';", lambda: t.clerk("test", "clerk-test")),
        "clerk-test-key",
        "low",
    ),
    Case(
        "sentry-dsn",
        "sentry.client.config.js",
        _part('Sentry.init({{ dsn: "{s}" }});', t.sentry_dsn, _dsn_key),
        "sentry-dsn",
        "low",
    ),
    Case(
        "sentry-dsn-secret",
        "settings.py",
        _part('SENTRY_DSN = "{s}"', lambda: t.sentry_dsn("sentry-legacy", secret=True), _dsn_key),
        "sentry-dsn",
        "high",
    ),
    Case(
        "vercel",
        "scripts/deploy.sh",
        _in("vercel deploy --token {s}", t.vercel),
        "vercel-token",
        "high",
    ),
    Case(
        "vercel-legacy",
        "deploy.sh",
        _in("export VERCEL_TOKEN={s}", t.vercel_legacy),
        "vercel-token",
        "high",
    ),
    Case(
        "npm", ".npmrc", _in("//registry.npmjs.org/:_authToken={s}\n", t.npm), "npm-token", "high"
    ),
    Case("pem-rsa", "certs/server.key", lambda: (k := t.pem("rsa"), k), "private-key", "critical"),
    Case("pem-ec", "keys/ec.pem", lambda: (k := t.pem("ec"), k), "private-key", "critical"),
    Case(
        "pem-pkcs8",
        "keys/pkcs8.pem",
        lambda: ("\n\n" + (k := t.pem("pkcs8")), k),
        "private-key",
        "critical",
        line=3,
    ),
    Case(
        "pem-encrypted",
        "keys/enc.pem",
        lambda: (k := t.pem("pkcs8", encrypted=True), k),
        "private-key",
        "high",
    ),
    Case(
        "openssh",
        "deploy/id_ed25519",
        lambda: (k := t.pem("openssh"), k),
        "private-key",
        "critical",
    ),
    Case("jwt", "api.test.ts", _in("const auth = `Bearer {s}`;", t.jwt), "jwt", "high"),
    Case(
        "jwt-supabase-anon",
        "supabase.ts",
        _in('createClient(url, "{s}")', lambda: t.jwt({"role": "anon", "iss": "supabase"})),
        "jwt",
        "low",
    ),
    Case(
        "postgres-url",
        "docker-compose.yml",
        _part(
            "DATABASE_URL: {s}/app", _db("postgres://app", "db.internal:5432", "pg"), _url_password
        ),
        "database-url",
        "high",
    ),
    Case(
        "postgres-driver-url",
        "alembic.ini",
        _part(
            "sqlalchemy.url = {s}/prod",
            _db("postgresql+psycopg://svc", "10.0.0.5", "pg2"),
            _url_password,
        ),
        "database-url",
        "high",
    ),
    Case(
        "mongodb-srv",
        "db.js",
        _part(
            "mongoose.connect('{s}/x')",
            _db("mongodb+srv://admin", "c0.mongodb.net", "mg"),
            _url_password,
        ),
        "database-url",
        "high",
    ),
    Case(
        "rediss",
        "cache.py",
        _part('REDIS_URL = "{s}"', _db("rediss://", "eu1.upstash.io:6379", "redis"), _url_password),
        "database-url",
        "high",
    ),
    Case(
        "mysql",
        "config.php",
        _part("$dsn = '{s}/shop';", _db("mysql://shop", "localhost", "mysql"), _url_password),
        "database-url",
        "high",
    ),
    Case(
        "amqp",
        "worker.env.yaml",
        _part("broker: {s}//", _db("amqp://celery", "rabbit:5672", "amqp"), _url_password),
        "database-url",
        "high",
    ),
    Case(
        "generic-python",
        "settings.py",
        _in('SECRET_KEY = "{s}"', t.password),
        "generic-secret",
        "medium",
    ),
    Case(
        "generic-yaml",
        "config/prod.yaml",
        _in("smtp:\n  password: {s}\n", lambda: t.password("smtp")),
        "generic-secret",
        "medium",
        line=2,
    ),
    Case(
        "generic-json",
        "credentials.json",
        _in('{{"client_secret": "{s}"}}', lambda: t.password("json")),
        "generic-secret",
        "medium",
    ),
    Case(
        "generic-dockerfile",
        "Dockerfile",
        _in("ENV API_TOKEN={s}", lambda: t.password("docker")),
        "generic-secret",
        "medium",
    ),
    Case(
        "generic-shell",
        "run.sh",
        _in("export DB_PASSWORD='{s}'", lambda: t.password("shell")),
        "generic-secret",
        "medium",
    ),
    Case(
        "generic-js-object",
        "client.js",
        _in("const cfg = {{ apiKey: '{s}' }};", lambda: t.password("js")),
        "generic-secret",
        "medium",
    ),
    Case(
        "generic-php",
        "db.php",
        _in("'password' => '{s}',", lambda: t.password("php")),
        "generic-secret",
        "medium",
    ),
    Case(
        "generic-go",
        "main.go",
        _in('token := "{s}"', lambda: t.rand(36, "go", t.B62)),
        "generic-secret",
        "medium",
    ),
    Case(
        "dotenv",
        ".env",
        _in("NODE_ENV=production\nPORT=3000\nSESSION_SECRET={s}\n", lambda: t.password("dotenv")),
        "dotenv",
        "high",
        line=3,
    ),
    Case(
        "dotenv-quoted-export",
        ".env.local",
        _in('export COOKIE_SIGNING_KEY="{s}"', lambda: t.rand(40, "dotenv-random")),
        "dotenv",
        "high",
    ),
    Case(
        "authorization-bearer",
        "docs/api.md",
        _in(
            'curl -H "Authorization: Bearer {s}" https://api.example.com/v1/me',
            lambda: t.rand(24, "bearer"),
        ),
        "generic-secret",
        "medium",
    ),
    Case(
        "authorization-bearer-symbols",
        "docs/api.rst",
        _in('curl -H "Authorization: Bearer {s}" https://api.example.com', t.password),
        "generic-secret",
        "medium",
    ),
    Case(
        "authorization-basic",
        "client.py",
        _in(
            'headers = {{"Authorization": "Basic {s}"}}',
            lambda: base64.b64encode(f"deploy:{t.password('basic')}".encode()).decode(),
        ),
        "generic-secret",
        "medium",
    ),
    Case(
        "ini-value-with-hash",
        "setup.cfg",
        _in("[smtp]\npassword = {s}\n", lambda: "Xy7#" + t.rand(14, "ini-hash")),
        "generic-secret",
        "medium",
        line=2,
    ),
]


@pytest.mark.parametrize("case", TRUE_POSITIVES, ids=lambda c: c.id)
def test_true_positive(case: Case) -> None:
    text, secret = case.build()
    hits = detect(text, case.path)
    assert len(hits) == 1, [(h.rule, h.preview) for h in hits]
    hit = hits[0]
    assert hit.rule == case.rule
    assert hit.rule in RULES
    assert hit.severity.label == case.severity
    assert hit.line == case.line
    assert not hit.allowed
    if case.rule == "private-key":
        assert hit.column == 1
        assert hit.secret.startswith(secret.splitlines()[0][11:-5])  # the PEM label
    else:
        assert hit.secret == secret
        span = text.splitlines()[hit.line - 1][hit.column - 1 : hit.end_column - 1]
        if case.rule in _SPAN_IS_URL:
            assert secret in span and "://" in span
        else:
            assert span == secret
    assert secret not in hit.preview
    if case.rule not in (*_SPAN_IS_URL, "private-key"):
        assert shown_characters(hit.preview) <= len(secret) / 3


def test_aws_key_pair_is_one_finding_on_the_key_id() -> None:
    key_id, secret = t.aws_id(), t.aws_secret()
    text = (
        "[default]\n"
        f"aws_access_key_id = {key_id}\n"
        f"aws_secret_access_key = {secret}\n"
        "region = eu-west-1\n"
    )
    hits = detect(text, ".aws/credentials")
    assert [(h.rule, h.line, h.severity.label) for h in hits] == [("aws-access-key", 2, "critical")]
    assert hits[0].secret == f"{key_id}:{secret}"
    assert hits[0].label == "AWS access key pair"
    assert secret not in hits[0].preview and key_id not in hits[0].preview


def test_aws_secret_found_before_its_key_id() -> None:
    text = f"AWS_SECRET_ACCESS_KEY={t.aws_secret('before')}\nAWS_ACCESS_KEY_ID={t.aws_id('b')}\n"
    hits = detect(text, "ci.env.sh")
    assert [(h.rule, h.line) for h in hits] == [("aws-access-key", 2)]


def test_aws_key_id_alone_and_secret_alone() -> None:
    alone = detect(f'access_key = "{t.aws_id("alone")}"', "main.tf")
    assert [(h.rule, h.severity.label) for h in alone] == [("aws-access-key", "high")]
    secret = detect(f"aws_secret_access_key: {t.aws_secret('alone')}", "values.yaml")
    assert [(h.rule, h.severity.label) for h in secret] == [("aws-secret-access-key", "critical")]


def test_dotenv_reports_each_real_value_once() -> None:
    text = (
        "# production settings\n"
        "NODE_ENV=production\n"
        "PORT=3000\n"
        "NEXT_PUBLIC_SITE_URL=https://example.com\n"
        f"STRIPE_SECRET_KEY={t.stripe_live('env')}\n"
        f"JWT_SECRET={t.password('jwt-secret')}\n"
        "DATABASE_PASSWORD=\n"
        "API_KEY=${API_KEY}\n"
        f'WEBHOOK_TOKEN="{t.password("webhook")}"  # rotated monthly\n'
    )
    hits = detect(text, "deploy/.env.production")
    assert [(h.rule, h.line) for h in hits] == [
        ("stripe-secret-key", 5),
        ("dotenv", 6),
        ("dotenv", 9),
    ]
    assert hits[2].secret == t.password("webhook")


def test_pem_key_inside_a_json_string_is_found_and_fingerprinted_like_the_file() -> None:
    key = t.pem("pkcs8")
    as_json = '{"type": "service_account", "private_key": "' + key.replace("\n", "\\n") + '"}'
    in_json = detect(as_json, "service-account.json")
    in_file = detect(key, "key.pem")
    assert [h.rule for h in in_json] == ["private-key"]
    assert in_json[0].secret == in_file[0].secret  # the same key material, the same secret


def test_inline_marker_marks_the_hit_allowed() -> None:
    hits = detect(f'TOKEN = "{t.github("ghp", "inline")}"  # lightkeeper:allow', "x.py")
    assert len(hits) == 1 and hits[0].allowed


# --- false positives ----------------------------------------------------------------------

_SHA512 = "sha512-" + t.rand(86, "integrity", t.B64) + "=="
_SHA1 = t.rand(40, "sha1", t.HEX)
_SHA256 = t.rand(64, "sha256", t.HEX)
_PNG = "iVBORw0KGgo" + t.rand(300, "png", t.B64)

FALSE_POSITIVES: list[tuple[str, str, Callable[[], str]]] = [
    (
        "placeholder-your-key",
        ".env.example",
        lambda: "ANTHROPIC_API_KEY=your_key_here\nOPENAI_API_KEY=sk-proj-...\n",
    ),
    ("placeholder-xxx", "README.md", lambda: "export ANTHROPIC_API_KEY=sk-ant-api03-" + "x" * 95),
    ("placeholder-angle", "docs/setup.md", lambda: 'api_key = "<token>"'),
    ("placeholder-changeme", "config.yaml", lambda: "password: changeme\nsecret: CHANGE_ME_PLEASE"),
    ("placeholder-example", "app.py", lambda: 'api_key = "example-key-1234567890"'),
    ("placeholder-dummy", "tests/conftest.py", lambda: 'password = "dummy-password-123"'),
    ("generic-test-word", "tests/test_api.py", lambda: 'token = "test-token-8f3kq9x2"'),
    ("generic-fake-word", "fixtures.py", lambda: 'password = "fakeP4ssw0rd!"'),
    (
        "aws-documented-example",
        "docs/aws.md",
        lambda: (
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        ),
    ),
    ("repeated-chars", "app.py", lambda: 'TOKEN = "ghp_' + "a" * 36 + '"'),
    ("sequential", "settings.py", lambda: 'SECRET_KEY = "1234567890abcdefghij"'),
    (
        "env-reference",
        "deploy.yml",
        lambda: "env:\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n  API_KEY: ${API_KEY}\n",
    ),
    ("jinja-reference", "templates/db.yml.j2", lambda: "password: {{ db_password }}"),
    (
        "python-environ",
        "settings.py",
        lambda: 'api_key = os.environ["OPENAI_API_KEY"]\ntoken = os.getenv("GH_TOKEN")',
    ),
    ("node-process-env", "server.ts", lambda: "const secret = process.env.STRIPE_SECRET_KEY!;"),
    ("function-call", "auth.py", lambda: "password = getpass.getpass('Password: ')"),
    ("attribute", "client.py", lambda: "self.token = token\napi_key = self.settings.api_key"),
    (
        "type-hint",
        "models.py",
        lambda: "secret_key: Optional[str] = None\npassword: str\ntoken: 'Optional[str]' = None",
    ),
    ("js-variable", "bundle.ts", lambda: "const token = session.accessToken;\nlet password = pw;"),
    (
        "package-lock",
        "package-lock.json",
        lambda: (
            '{"packages": {"node_modules/a": {"version": "1.0.0", "resolved": '
            '"https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "' + _SHA512 + '"}}}'
        ),
    ),
    (
        "yarn-lock",
        "yarn.lock",
        lambda: (
            f'a@^1.0.0:\n  version "1.0.0"\n  resolved "https://r/a.tgz#{_SHA1}"\n'
            f"  integrity {_SHA512}\n"
        ),
    ),
    (
        "pnpm-lock",
        "pnpm-lock.yaml",
        lambda: f"packages:\n  /a@1.0.0:\n    resolution: {{integrity: {_SHA512}}}\n",
    ),
    (
        "poetry-lock",
        "poetry.lock",
        lambda: f'files = [\n    {{file = "a-1.0.tar.gz", hash = "sha256:{_SHA256}"}},\n]\n',
    ),
    (
        "uv-lock",
        "uv.lock",
        lambda: f'sdist = {{ url = "https://f/a.tar.gz", hash = "sha256:{_SHA256}" }}\n',
    ),
    ("uuid", "app.py", lambda: 'api_key = "123e4567-e89b-12d3-a456-426614174000"\nid = "9b2e..."'),
    (
        "git-sha-and-digests",
        "release.py",
        lambda: f'commit = "{_SHA1}"\nsha256 = "{_SHA256}"\nchecksum: {_SHA256}\n',
    ),
    (
        "base64-image",
        "styles.css",
        lambda: f".logo {{ background: url(data:image/png;base64,{_PNG}); }}",
    ),
    (
        "base64-image-json",
        "manifest.json",
        lambda: f'{{"icon_token": "data:image/png;base64,{_PNG}"}}',
    ),
    (
        "minified-bundle",
        "static/app.min.js",
        lambda: (
            'var a={password:"Password",token:e.token,secret:n.secret,apiKey:"'
            + t.rand(30, "min")
            + '"};' * 50
        ),
    ),
    ("prose", "i18n/fr.json", lambda: '{"password": "Mot de passe", "token": "Jeton d\'accès"}'),
    (
        "jwt-io-sample",
        "README.md",
        lambda: t.jwt({"sub": "1234567890", "name": "John Doe", "iat": 1516239022}),
    ),
    ("jwt-unsigned", "auth.py", lambda: "token = '" + t.jwt(alg="none") + "'"),
    (
        "jwt-not-json",
        "blob.txt",
        lambda: "eyJ" + t.rand(30, "nj") + "." + t.rand(30, "nj2") + "." + t.rand(30, "nj3"),
    ),
    (
        "pem-placeholder",
        "docs/tls.md",
        lambda: "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    ),
    ("pem-header-constant", "pem.py", lambda: 'HEADER = "-----BEGIN PRIVATE KEY-----"'),
    (
        "db-defaults",
        "docker-compose.yml",
        lambda: (
            "DATABASE_URL: postgres://postgres:postgres@localhost:5432/app\n"
            "REDIS_URL: redis://:password@localhost:6379\n"
            "MYSQL_URL: mysql://root:root@127.0.0.1/test\n"
        ),
    ),
    (
        "db-reference",
        "settings.py",
        lambda: 'url = "postgresql://app:${DB_PASSWORD}@db/app"\nurl2 = f"postgres://{u}:{p}@h/d"',
    ),
    (
        "env-template",
        ".env.example",
        lambda: "SESSION_SECRET=" + t.rand(40, "template") + "\nSTRIPE_SECRET_KEY=sk_live_xxx\n",
    ),
    (
        "env-plain-settings",
        ".env",
        lambda: (
            "NODE_ENV=production\nPORT=3000\nLOG_LEVEL=info\nNEXT_PUBLIC_SITE_URL=https://a.io\n"
        ),
    ),
    (
        "not-secret-names",
        "config.py",
        lambda: (
            'max_tokens = 4096\ntokenizer = "cl100k_base"\n'
            'TOKEN_URL = "https://oauth2.googleapis.com/token"\n'
            'password_field = "user_password_2"\nSECRET_NAME = "prod/db/Credentials9"\n'
        ),
    ),
    (
        "publishable-key",
        "app.tsx",
        lambda: "const stripe = loadStripe('pk_live_" + t.rand(99, "pk") + "');",
    ),
    (
        "slack-docs-webhook",
        "docs/slack.md",
        lambda: "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    (
        "pagination-token",
        "api.json",
        lambda: (
            '{"NextToken": "' + t.rand(40, "next") + '", "PageToken": "' + t.rand(30, "p") + '"}'
        ),
    ),
    (
        "env-values-under-other-names",
        ".env",
        lambda: (
            f"CHECKSUM={_SHA256}\nINTEGRITY={_SHA512}\nBUILD_ID={t.rand(40, 'build')}\n"
            "STRIPE_PUBLISHABLE_KEY=pk_live_" + t.rand(24, "pk-env") + "\n"
        ),
    ),
    (
        "authorization-placeholders",
        "README.md",
        lambda: (
            'curl -H "Authorization: Bearer <token>" https://api.example.com\n'
            'curl -H "Authorization: Bearer $API_TOKEN" https://api.example.com\n'
            "The server answers 401 to a Bearer token that has expired.\n"
        ),
    ),
    (
        "url-query-in-docs",
        "README.md",
        lambda: (
            "[![codecov](https://codecov.io/gh/o/r/graph/badge.svg?token="
            + t.rand(10, "badge")
            + ")](https://codecov.io)"
        ),
    ),
    (
        "labelled-digests-under-secret-names",
        "fixtures.py",
        lambda: f'token = "{_SHA512}"\nsecret: "sha256:{_SHA256}"\n',
    ),
    (
        "slack-docs-token",
        "slack.py",
        lambda: "# slack://xoxb-1234-1234-" + t.rand(32, "slack-doc", t.HEX) + "\n",
    ),
    (
        "password-hashes",
        "users.yml",
        lambda: (
            'password: "$6$rounds=656000$' + t.rand(16, "salt") + "$" + t.rand(86, "h") + '"\n'
            "admin_password: $2b$12$" + t.rand(53, "bcrypt", t.B62 + "./") + "\n"
            'PASSWORD_HASH = "pbkdf2_sha256$600000$'
            + t.rand(22, "s2")
            + "$"
            + t.rand(44, "h2")
            + '"\n'
        ),
    ),
    (
        "authorization-examples",
        "tests/test_auth.py",
        lambda: (
            '"authorization": "Basic '
            + base64.b64encode(b"username:password").decode()
            + '",\ncurl -H "Authorization: Bearer '
            + _SHA256
            + '" https://x\n'
        ),
    ),
    (
        "your-value-here-line",
        "README.md",
        lambda: (
            'sentry_sdk.init("' + t.sentry_dsn("readme") + '")  # Your DSN here\n'
            'API_KEY = "' + t.password("readme") + '"  # replace with your key\n'
        ),
    ),
    (
        "non-ascii-prose",
        "messages.json",
        lambda: '{"The_parser_expected_a_token_here": "分析器预期在此处找到与标记匹配的内容。"}',
    ),
    ("css-selector", "site.css", lambda: ".multi-token:hover::after { content: 'x'; }"),
    (
        "documented-example-keys",
        "README.md",
        lambda: (
            "stripe.api_key = '" + "sk_test_" + "4eC39HqLyjWD" + "arjtT1zdp7dc" + "'\n"
            "curl -u " + "sk_test_" + "BQokikJOvBiI" + "2HlWgH4olfQ2" + ": https://api.stripe.com\n"
            "GITHUB_TOKEN=" + "ghp_" + "16C7e42F292c6912E77" + "10c838347Ae178B4a" + "\n"
        ),
    ),
]


@pytest.mark.parametrize(
    ("path", "build"),
    [(p, b) for _, p, b in FALSE_POSITIVES],
    ids=[i for i, _, _ in FALSE_POSITIVES],
)
def test_false_positive(path: str, build: Callable[[], str]) -> None:
    hits = detect(build(), path)
    assert hits == [], [(h.rule, h.preview, h.line) for h in hits]


def test_every_rule_has_a_true_positive_case() -> None:
    covered = {c.rule for c in TRUE_POSITIVES} | {"aws-access-key", "aws-secret-access-key"}
    assert covered == set(RULES)
