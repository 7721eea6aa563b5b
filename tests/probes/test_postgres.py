"""PostgreSQL probe against the real server on 127.0.0.1:5432 (trust auth, user postgres)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.postgres import PostgresMonitor, PostgresProbe
from lightkeeper.types import State

from .loopback import closed_port

pytestmark = pytest.mark.integration

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "s3cr3t-pw"


def monitor(dsn: str = DSN, **fields: Any) -> PostgresMonitor:
    return PostgresMonitor.model_validate(
        {"name": "db", "type": "postgres", "dsn": dsn, "timeout": "5s", **fields}
    )


async def test_up_with_connection_metrics(ctx: ProbeContext) -> None:
    result = await PostgresProbe(monitor(), ctx).check()
    assert result.state == State.UP, result.reason
    used, most = result.metrics["connections_used"], result.metrics["connections_max"]
    assert 1 <= used <= most
    assert result.metrics["connections_ratio"] == pytest.approx(used / most, abs=1e-4)
    assert result.reason == f"connections {used}/{most} in use"
    assert result.latency_ms is not None


async def test_connections_near_the_limit_are_degraded(ctx: ProbeContext) -> None:
    result = await PostgresProbe(monitor(max_connections_ratio=0.001), ctx).check()
    assert result.state == State.DEGRADED
    assert result.reason.startswith("connections ")


@pytest.mark.parametrize(
    ("query", "expect", "state", "reason"),
    [
        ("SELECT 1", "1", State.UP, None),
        ("SELECT 1", 1, State.UP, None),
        ("SELECT 'ok'", "ok", State.UP, None),
        ("SELECT 1 = 1", "True", State.UP, None),
        ("SELECT 2", "1", State.DOWN, "query returned '2', expected '1'"),
        ("SELECT 1 WHERE false", "1", State.DOWN, "query returned no rows, expected '1'"),
        ("SELECT * FROM no_such_table", None, State.DOWN, "query failed: relation"),
    ],
)
async def test_query_and_expect(
    ctx: ProbeContext, query: str, expect: Any, state: State, reason: str | None
) -> None:
    fields: dict[str, Any] = {"query": query}
    if expect is not None:
        fields["expect"] = expect
    result = await PostgresProbe(monitor(**fields), ctx).check()
    assert result.state == state, result.reason
    if reason is not None:
        assert result.reason.startswith(reason)


async def test_wrong_port_is_connection_refused(ctx: ProbeContext) -> None:
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{closed_port()}/postgres"
    result = await PostgresProbe(monitor(dsn), ctx).check()
    assert (result.state, result.reason) == (State.DOWN, "connection refused")


async def test_missing_database_names_it_and_hides_the_password(ctx: ProbeContext) -> None:
    dsn = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/nope"
    config = monitor(dsn)
    result = await PostgresProbe(config, ctx).check()
    assert result.state == State.DOWN
    assert result.reason == 'database "nope" does not exist'
    for shown in (result.reason, str(result), repr(config), config.target()):
        assert PASSWORD not in shown
    assert config.target() == "postgresql://postgres:***@127.0.0.1:5432/nope"


async def test_silent_server_times_out(silent_port: int, ctx: ProbeContext) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{silent_port}/postgres"
    result = await PostgresProbe(monitor(dsn, timeout="500ms"), ctx).check()
    assert (result.state, result.reason) == (State.DOWN, "timed out after 500ms")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"expect": "1"}, "expect needs a query"),
        ({"dsn": "not a dsn"}, "not a PostgreSQL DSN"),
        ({"max_connections_ratio": 1.5}, "less than or equal to 1"),
    ],
)
def test_invalid_config(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        monitor(**fields)
