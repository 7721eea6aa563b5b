"""Redis probe against real servers: the shared one on 6379 and private ones to fill and stop."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.redis import RedisMonitor, RedisProbe
from lightkeeper.types import State

from .loopback import closed_port

pytestmark = pytest.mark.integration


class RedisServer:
    """A redis-server of the test's own, so maxmemory can be set without touching 6379."""

    def __init__(self, directory: Path, maxmemory: str = "2mb") -> None:
        self.directory = directory
        self.port = closed_port()
        self.maxmemory = maxmemory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # No persistence: each start is empty, and nothing is written outside tmp.
        options = ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        limits = ["--maxmemory", self.maxmemory]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", *options, *limits],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
                    client.ping()
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def probe(url: str, ctx: ProbeContext, **fields: object) -> RedisProbe:
    config = RedisMonitor.model_validate(
        {"name": "cache", "type": "redis", "url": url, "timeout": "2s", **fields}
    )
    return RedisProbe(config, ctx)


async def test_shared_server_is_up_with_memory_metric(ctx: ProbeContext) -> None:
    result = await probe("redis://127.0.0.1:6379", ctx).check()
    assert result.state == State.UP, result.reason
    assert result.metrics["used_memory_bytes"] > 0
    if "memory_used_ratio" not in result.metrics:  # the shared server has no maxmemory
        assert result.reason.endswith("used, no maxmemory")


async def test_memory_ratio_stop_and_recovery(own_redis: RedisServer, ctx: ProbeContext) -> None:
    up = await probe(own_redis.url, ctx).check()
    assert up.state == State.UP, up.reason
    assert 0 < up.metrics["memory_used_ratio"] < 0.9

    # Fill past 90% of the 2 MB limit; noeviction refuses writes once it is reached.
    with own_redis.client() as client:
        for key in range(200):
            try:
                client.set(f"filler:{key}", b"x" * 20_000)
            except redis.ResponseError:
                break
    full = await probe(own_redis.url, ctx).check()
    assert full.state == State.DEGRADED, full.reason
    assert full.metrics["memory_used_ratio"] >= 0.9
    assert full.reason.startswith("memory high: ")
    assert "of 2.0 MiB used" in full.reason

    # The same server is fine with a higher warning threshold.
    relaxed = await probe(own_redis.url, ctx, memory_warn_ratio=1.0).check()
    assert relaxed.state in (State.UP, State.DEGRADED)

    own_redis.stop()
    down = await probe(own_redis.url, ctx).check()
    assert (down.state, down.reason) == (State.DOWN, "connection refused")

    own_redis.start()
    again = await probe(own_redis.url, ctx).check()
    assert again.state == State.UP, again.reason


async def test_checks_leave_no_connections_behind(
    own_redis: RedisServer, ctx: ProbeContext
) -> None:
    for _ in range(5):
        assert (await probe(own_redis.url, ctx).check()).state == State.UP
    with own_redis.client() as client:
        assert client.info("clients")["connected_clients"] == 1  # just this one


async def test_password_never_shown(ctx: ProbeContext) -> None:
    url = f"redis://:s3cr3t-pw@127.0.0.1:{closed_port()}/0"  # lightkeeper:allow
    result = await probe(url, ctx).check()
    assert result.state == State.DOWN
    assert "s3cr3t-pw" not in str(result)
    config = RedisMonitor.model_validate({"name": "cache", "type": "redis", "url": url})
    assert "s3cr3t-pw" not in repr(config)
    assert "s3cr3t-pw" not in config.target()


async def test_silent_server_times_out(silent_port: int, ctx: ProbeContext) -> None:
    result = await probe(f"redis://127.0.0.1:{silent_port}", ctx, timeout="300ms").check()
    assert (result.state, result.reason) == (State.DOWN, "timed out after 300ms")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "String should match pattern"),
        (
            "redis://:s3cr3t-pw@127.0.0.1:port/0",  # lightkeeper:allow
            "not a Redis URL: Port could not be cast",
        ),
    ],
)
def test_invalid_url(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        RedisMonitor.model_validate({"name": "cache", "type": "redis", "url": url})
    assert "s3cr3t-pw" not in caught.value.errors()[0]["msg"]
