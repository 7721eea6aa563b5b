"""PostgreSQL probe: connect, run a query, and watch how many connections are in use."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Literal, Self

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, field_validator, model_validator

from lightkeeper.probes.base import MonitorBase, ProbeContext, Stopwatch, describe_error, timed_out
from lightkeeper.redact import redact_text, redact_url
from lightkeeper.types import ProbeResult

# Only client sessions count against max_connections; pg_stat_activity also lists
# background workers (autovacuum, WAL writer...), which would inflate the ratio.
_CONNECTIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"


class PostgresMonitor(MonitorBase):
    """A PostgreSQL server. Example (YAML):

        {name: db, type: postgres, dsn: "${DATABASE_URL}",
         query: "SELECT count(*) > 0 FROM users", expect: "True"}

    ``expect`` is compared with the first column of the first row, both as text.
    Degraded when client connections reach ``max_connections_ratio`` of max_connections.
    """

    type: Literal["postgres"]
    dsn: str = Field(min_length=1, repr=False)
    query: str | None = Field(None, min_length=1)
    expect: str | None = None
    max_connections_ratio: float = Field(0.8, gt=0, le=1)

    @field_validator("expect", mode="before")
    @classmethod
    def _expect_as_text(cls, value: Any) -> Any:
        # YAML turns `expect: 1` into an int; the comparison is on text either way.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("dsn")
    @classmethod
    def _dsn_parses(cls, value: str) -> str:
        try:
            conninfo_to_dict(value)
        except psycopg.Error:
            # The message must not echo the DSN: it usually holds a password.
            raise ValueError(
                "not a PostgreSQL DSN; write postgresql://user:password@host:5432/dbname"
            ) from None
        return value

    @model_validator(mode="after")
    def _expect_needs_query(self) -> Self:
        if self.expect is not None and self.query is None:
            raise ValueError("expect needs a query whose first value it is compared with")
        return self

    def target(self) -> str:
        return redact_url(self.dsn)


class PostgresProbe:
    def __init__(self, config: PostgresMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx
        password = conninfo_to_dict(config.dsn).get("password")
        self._secrets = (str(password),) if password else ()

    async def check(self) -> ProbeResult:
        config = self.config
        watch = Stopwatch()
        try:
            async with asyncio.timeout(config.timeout):
                return await self._check(watch)
        except TimeoutError:
            return ProbeResult.down(timed_out(config.timeout))
        except (psycopg.Error, OSError) as exc:
            return ProbeResult.down(self._describe(exc))

    async def _check(self, watch: Stopwatch) -> ProbeResult:
        config = self.config
        connection = await psycopg.AsyncConnection.connect(
            config.dsn,
            # libpq wants whole seconds and treats less than 2 as 2.
            connect_timeout=max(2, math.ceil(config.timeout)),
            autocommit=True,
            application_name="lightkeeper",
        )
        async with connection:
            row = await (await connection.execute(config.query or "SELECT 1")).fetchone()
            latency = watch.ms()
            if config.query is not None and config.expect is not None:
                if row is None:
                    return ProbeResult.down(f"query returned no rows, expected {config.expect!r}")
                got = str(row[0])
                if got != config.expect:
                    reason = f"query returned {got!r}, expected {config.expect!r}"
                    return ProbeResult.down(reason, latency)
            used_row = await (await connection.execute(_CONNECTIONS_SQL)).fetchone()
            max_row = await (await connection.execute("SHOW max_connections")).fetchone()
        used = int(used_row[0]) if used_row else 0
        most = int(max_row[0]) if max_row else 0
        ratio = used / most if most else 0.0
        metrics = {
            "connections_used": used,
            "connections_max": most,
            "connections_ratio": round(ratio, 4),
        }
        if most and ratio >= config.max_connections_ratio:
            return ProbeResult.degraded(f"connections {used}/{most} in use", latency, **metrics)
        return ProbeResult.up(f"connections {used}/{most} in use", latency, **metrics)

    def _describe(self, exc: BaseException) -> str:
        """The server's own complaint ('database "x" does not exist'), never the DSN."""
        text = str(exc)
        if "FATAL:" in text:
            text = text.rsplit("FATAL:", 1)[1].strip().splitlines()[0]
        elif isinstance(exc, psycopg.DatabaseError) and exc.diag.message_primary:
            text = exc.diag.message_primary
        else:
            text = describe_error(exc)
        if isinstance(exc, psycopg.DatabaseError) and exc.sqlstate:
            text = f"query failed: {text}"
        return redact_text(text, self._secrets)
