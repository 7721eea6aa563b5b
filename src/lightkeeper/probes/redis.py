"""Redis probe: PING, then memory use against ``maxmemory``."""

from __future__ import annotations

import asyncio
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from lightkeeper.probes.base import MonitorBase, ProbeContext, Stopwatch, describe_error, timed_out
from lightkeeper.redact import redact_text, redact_url
from lightkeeper.types import Metric, ProbeResult


class RedisMonitor(MonitorBase):
    """A Redis server. Example: ``{name: cache, type: redis, url: "${REDIS_URL}"}``.

    Degraded when used memory reaches ``memory_warn_ratio`` of ``maxmemory``; a server
    without a limit (``maxmemory 0``) has no ratio, so only ``used_memory_bytes`` is kept.
    """

    type: Literal["redis"]
    url: str = Field(pattern=r"^(redis|rediss|unix)://", repr=False)
    memory_warn_ratio: float = Field(0.9, gt=0, le=1)

    @field_validator("url")
    @classmethod
    def _url_parses(cls, value: str) -> str:
        # redis-py is imported where it is used: a CLI command that never probes Redis
        # (`backup run` from cron) should not pay for loading it.
        from redis.asyncio.connection import parse_url

        try:
            parse_url(value)
        except ValueError as exc:
            # redis-py's message names the bad part only, never the password.
            raise ValueError(f"not a Redis URL: {exc}") from None
        return value

    def target(self) -> str:
        return redact_url(self.url)


class RedisProbe:
    def __init__(self, config: RedisMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx
        password = urlsplit(config.url).password
        self._secrets = (password,) if password else ()

    async def check(self) -> ProbeResult:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import AuthenticationError, RedisError

        config = self.config
        # A fresh client per check, closed after it: nothing lingers between checks, and
        # no retries, because a probe wants the first failure, not a hidden recovery.
        client = aioredis.Redis.from_url(
            config.url,
            socket_connect_timeout=config.timeout,
            socket_timeout=config.timeout,
            retry=Retry(NoBackoff(), 0),
        )
        watch = Stopwatch()
        try:
            async with asyncio.timeout(config.timeout):
                await client.ping()
                latency = watch.ms()
                info = await client.info("memory")
        except TimeoutError:
            return ProbeResult.down(timed_out(config.timeout))
        except AuthenticationError:
            return ProbeResult.down("authentication failed")
        except (RedisError, OSError) as exc:
            return ProbeResult.down(redact_text(describe_error(exc), self._secrets))
        finally:
            await client.aclose()
        used = int(info.get("used_memory", 0))
        limit = int(info.get("maxmemory", 0))
        metrics: dict[str, Metric] = {"used_memory_bytes": used}
        if not limit:
            return ProbeResult.up(f"{_size(used)} used, no maxmemory", latency, **metrics)
        ratio = used / limit
        metrics["memory_used_ratio"] = round(ratio, 4)
        reason = f"{_size(used)} of {_size(limit)} used ({ratio:.0%})"
        if ratio >= config.memory_warn_ratio:
            return ProbeResult.degraded(f"memory high: {reason}", latency, **metrics)
        return ProbeResult.up(reason, latency, **metrics)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
