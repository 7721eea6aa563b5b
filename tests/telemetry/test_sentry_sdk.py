"""The real sentry-sdk client against a real `lightkeeper up`: exceptions, messages,
transactions and sessions arrive, grouped into issues, scrubbed — with the SDK sending
brotli bodies (the `brotli` package importable) and gzip bodies (it is not)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Server, wait_for

pytestmark = pytest.mark.integration

KEY = "5f0c1ab2e3d4c5b6a7988796a5b4c3d2"

# Run in a child process: the SDK is global state, and "without brotli" must be a
# process in which `import brotli` fails, as on a machine without the package.
APP = r"""
import json, sys, time
if sys.argv[2] == "without-brotli":
    sys.modules["brotli"] = None  # `import brotli` now raises ImportError
import sentry_sdk

sentry_sdk.init(
    dsn=sys.argv[1], traces_sample_rate=1.0, release="web@1.4.2",
    environment="production", auto_session_tracking=False,
    transport_queue_size=1000,  # the default (100) would drop some of ours in the SDK
)

def charge(amount):
    return amount / 0

def lookup(key):
    return {}[key]

for i in range(100):
    try:
        charge(i)
    except ZeroDivisionError as exc:
        sentry_sdk.capture_exception(exc)
try:
    lookup("plan")
except KeyError as exc:
    sentry_sdk.capture_exception(exc)
sentry_sdk.capture_message("checkout slow")
sentry_sdk.capture_event({
    "message": "request with credentials",
    "level": "error",
    "request": {
        "url": "https://app.example/api/chat?token=abc123",
        "method": "POST",
        "headers": {"Cookie": "session=s3cr3t-cookie", "Authorization": "Bearer s3cr3t-bearer",
                    "User-Agent": "test"},
        "cookies": {"session": "s3cr3t-cookie"},
    },
})
with sentry_sdk.start_transaction(op="http.server", name="/api/chat") as tx:
    time.sleep(0.02)
    tx.set_http_status(200)
with sentry_sdk.start_transaction(op="http.server", name="/api/chat") as tx:
    tx.set_http_status(503)
scope = sentry_sdk.get_isolation_scope()
scope.start_session()
scope.end_session()
sentry_sdk.flush(timeout=10)
transport = sentry_sdk.get_client().transport
print(json.dumps({"compression": getattr(transport, "_compression_algo", "?")}))
"""


def telemetry_config(db: Path) -> str:
    return f"""
store: {{url: "sqlite:///{db}"}}
telemetry:
  projects:
    - {{name: web, id: 7, key: {KEY}}}
"""


def rows(db: Path, query: str) -> list[Any]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("brotli", ["with-brotli", "without-brotli"])
def test_the_real_sdk_reports_issues_transactions_and_sessions(
    server_factory: Any, tmp_path: Path, brotli: str
) -> None:
    db = tmp_path / "lk.db"
    server: Server = server_factory(telemetry_config(db))
    server.start()
    dsn = f"http://{KEY}@127.0.0.1:{server.port}/7"
    run = subprocess.run(
        [sys.executable, "-c", APP, dsn, brotli],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    compression = json.loads(run.stdout.strip().splitlines()[-1])["compression"]
    assert compression == ("br" if brotli == "with-brotli" else "gzip")

    def issues() -> list[Any]:
        found = rows(db, "SELECT title, count, method, status FROM telemetry_issues ORDER BY id")
        return found if len(found) >= 4 else []

    found = wait_for(issues, server=server)
    by_title = {r.title: r for r in found}  # type: ignore[attr-defined]
    assert by_title["ZeroDivisionError: division by zero"].count == 100
    assert by_title["ZeroDivisionError: division by zero"].method == "stacktrace"
    assert by_title["KeyError: 'plan'"].count == 1
    assert by_title["checkout slow"].count == 1
    assert by_title["request with credentials"].method == "message"
    assert len(found) == 4  # the 100 repeats are one issue; the others one each
    (events,) = rows(db, "SELECT count(*) FROM telemetry_events")
    assert events[0] == 103

    tags = rows(db, "SELECT key, value, count FROM telemetry_issue_tags WHERE key='release'")
    assert {(t.value, t.count) for t in tags} >= {("web@1.4.2", 100)}

    def minutes() -> dict[str, float]:
        query = """SELECT s.key, sum(m.sum) AS total FROM signal_minutes m
                   JOIN series s ON s.id = m.series_id GROUP BY s.key"""
        got = {r.key: r.total for r in rows(db, query)}
        wanted = ('http.requests{project="web"}', 'sessions.started{project="web"}')
        return got if all(k in got for k in wanted) else {}

    signals = wait_for(minutes, server=server)
    assert signals['http.requests{project="web"}'] == 2  # type: ignore[index]
    assert signals['http.errors{project="web",route="/api/chat"}'] == 1  # type: ignore[index]
    assert signals['errors.events{project="web"}'] == 103  # type: ignore[index]
    assert signals['sessions.started{project="web"}'] >= 1  # type: ignore[index]


def test_cookies_and_authorization_are_never_stored(server_factory: Any, tmp_path: Path) -> None:
    db = tmp_path / "lk.db"
    server: Server = server_factory(telemetry_config(db))
    server.start()
    dsn = f"http://{KEY}@127.0.0.1:{server.port}/7"
    subprocess.run(
        [sys.executable, "-c", APP, dsn, "with-brotli"], capture_output=True, timeout=60, check=True
    )
    wait_for(lambda: rows(db, "SELECT count(*) FROM telemetry_events")[0][0] >= 103, server=server)
    # Read every stored byte back the way the dashboard does, and look for the secrets.
    from lightkeeper.telemetry.store import decompress_event, sample_event

    stored = rows(
        db,
        "SELECT e.payload, i.sample FROM telemetry_events e "
        "JOIN telemetry_issues i ON i.id = e.issue_id",
    )
    texts = [json.dumps(decompress_event(r.payload, r.sample)) for r in stored]
    texts += [
        json.dumps(sample_event(r.sample)) for r in rows(db, "SELECT sample FROM telemetry_issues")
    ]
    credentialed = [t for t in texts if "request with credentials" in t]
    assert credentialed, "the event with a request was stored"
    for text in texts:
        assert "s3cr3t-cookie" not in text
        assert "s3cr3t-bearer" not in text
        assert "abc123" not in text
    event = json.loads(credentialed[0])
    headers = {k.lower() for k in event["request"]["headers"]}
    assert "cookie" not in headers and "authorization" not in headers
    assert "user-agent" in headers  # only what must go is gone
    assert "cookies" not in event["request"]
