"""TCP probe against real sockets on loopback: up, down, and back up."""

from __future__ import annotations

import socket

import pytest

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.tcp import TcpMonitor, TcpProbe
from lightkeeper.types import State

from .loopback import closed_port

pytestmark = pytest.mark.integration


def probe(port: int, ctx: ProbeContext, host: str = "127.0.0.1") -> TcpProbe:
    config = TcpMonitor.model_validate(
        {"name": "port", "type": "tcp", "host": host, "port": port, "timeout": "2s"}
    )
    return TcpProbe(config, ctx)


async def test_up_down_and_recovery(ctx: ProbeContext) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    up = await probe(port, ctx).check()
    assert (up.state, up.reason) == (State.UP, "connected")
    assert up.latency_ms is not None
    assert 0 < up.latency_ms < 1000

    listener.close()
    down = await probe(port, ctx).check()
    assert (down.state, down.reason) == (State.DOWN, "connection refused")

    with socket.create_server(("127.0.0.1", port)):
        again = await probe(port, ctx).check()
    assert again.state == State.UP


async def test_closed_port(ctx: ProbeContext) -> None:
    result = await probe(closed_port(), ctx).check()
    assert (result.state, result.reason) == (State.DOWN, "connection refused")


async def test_unknown_host(ctx: ProbeContext) -> None:
    result = await probe(80, ctx, host="no-such-host.invalid").check()
    assert result.state == State.DOWN
    assert result.reason == "host name not found (DNS)"


def test_target() -> None:
    config = TcpMonitor.model_validate({"name": "p", "type": "tcp", "host": "db", "port": 5432})
    assert config.target() == "db:5432"
