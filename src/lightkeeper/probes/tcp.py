"""TCP probe: the port accepts a connection; latency is the time to connect."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from lightkeeper.probes.base import MonitorBase, ProbeContext, Stopwatch, describe_error, timed_out
from lightkeeper.types import ProbeResult


class TcpMonitor(MonitorBase):
    """A TCP port. Example: ``{name: smtp, type: tcp, host: mail.example.com, port: 25}``."""

    type: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)

    def target(self) -> str:
        return f"{self.host}:{self.port}"


class TcpProbe:
    def __init__(self, config: TcpMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx

    async def check(self) -> ProbeResult:
        watch = Stopwatch()
        try:
            async with asyncio.timeout(self.config.timeout):
                _, writer = await asyncio.open_connection(self.config.host, self.config.port)
        except TimeoutError:
            return ProbeResult.down(timed_out(self.config.timeout))
        except OSError as exc:
            return ProbeResult.down(describe_error(exc))
        latency = watch.ms()
        # Nothing is sent, so there is nothing to wait for on close.
        writer.transport.abort()
        return ProbeResult.up("connected", latency)
