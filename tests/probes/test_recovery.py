"""Each probe sees a target go down and come back: the same probe, the same target.

(TCP, Redis and ChromaDB recovery are in their own files, where the servers are stopped
and restarted; push recovery is in test_push.py.)
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.env import EnvMonitor, EnvProbe
from lightkeeper.probes.http import HttpMonitor, HttpProbe
from lightkeeper.probes.postgres import PostgresMonitor, PostgresProbe
from lightkeeper.probes.tls import TlsMonitor, TlsProbe
from lightkeeper.types import State
from tests.conftest import PG_ADMIN, Target

from .loopback import Pki
from .test_tls import TlsServer

pytestmark = pytest.mark.integration


async def test_http_recovers_from_errors_and_hangs(ctx: ProbeContext) -> None:
    target = Target()
    try:
        probe = HttpProbe(HttpMonitor(name="web", type="http", url=target.url, timeout=0.5), ctx)
        states = []
        for mode in ("ok", "fail", "ok", "hang", "ok"):
            target.mode = mode
            if mode == "ok":
                target.release.set()
            else:
                target.release.clear()
            result = await probe.check()
            states.append((result.state, result.reason))
        assert [s for s, _ in states] == [State.UP, State.DOWN, State.UP, State.DOWN, State.UP]
        assert states[1][1] == "status 500, expected 2xx or 3xx"
        assert states[3][1] == "timed out after 500ms"
    finally:
        target.close()


async def test_postgres_recovers_when_the_database_appears(ctx: ProbeContext) -> None:
    name = f"lk_recover_{uuid.uuid4().hex[:8]}"
    dsn = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    probe = PostgresProbe(PostgresMonitor(name="db", type="postgres", dsn=dsn, timeout=5), ctx)
    missing = await probe.check()
    assert missing.state is State.DOWN
    assert f'database "{name}" does not exist' in missing.reason
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        assert (await probe.check()).state is State.UP
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    assert (await probe.check()).state is State.DOWN


async def test_tls_recovers_when_the_certificate_is_renewed(pki: Pki, ctx: ProbeContext) -> None:
    server = TlsServer(pki.expired)
    try:
        probe = TlsProbe(
            TlsMonitor(
                name="cert",
                type="tls",
                host="localhost",
                port=server.port,
                ca_file=str(pki.ca_file),
                timeout=5,
            ),
            ctx,
        )
        expired = await probe.check()
        assert expired.state is State.DOWN
        assert expired.reason.startswith("certificate expired 3 days ago")
        server.context.load_cert_chain(pki.valid.cert, pki.valid.key)  # the renewal
        renewed = await probe.check()
        assert renewed.state is State.UP
        assert renewed.metrics["cert_days_left"] == pytest.approx(90, abs=1)
    finally:
        server.close()


async def test_env_recovers_when_the_variable_is_set(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    probe = EnvProbe(EnvMonitor(name="keys", type="env", require=["ANTHROPIC_API_KEY"]), ctx)
    assert (await probe.check()).reason == "ANTHROPIC_API_KEY is not set"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "not-a-key")
    malformed = await probe.check()
    assert malformed.state is State.DOWN and "malformed" in malformed.reason
    assert "not-a-key" not in malformed.reason
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-" + "x" * 40)
    assert (await probe.check()).state is State.UP
