"""Push monitor: pings judged against period or cron schedule, on a clock moved by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from lightkeeper.clock import ManualClock
from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.push import PushMonitor, PushProbe
from lightkeeper.types import ProbeResult, State

TOKEN = "tok_0123456789abcdef"
BERLIN = ZoneInfo("Europe/Berlin")


class PingLog:
    """The ping book as the /ping routes would fill it."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.pings: dict[str, tuple[float | None, float | None, str]] = {}

    def last_ping(self, monitor: str) -> tuple[float | None, float | None, str]:
        return self.pings.get(monitor, (None, None, ""))

    def ping(self, monitor: str, kind: str = "success") -> None:
        _, start, _ = self.last_ping(monitor)
        self.pings[monitor] = (self.clock.now(), start, kind)

    def start(self, monitor: str) -> None:
        ping, _, kind = self.last_ping(monitor)
        self.pings[monitor] = (ping, self.clock.now(), kind)


def monitor(**fields: Any) -> PushMonitor:
    return PushMonitor.model_validate({"name": "job", "type": "push", "token": TOKEN, **fields})


class Harness:
    def __init__(self, start: float = 1_700_000_000.0, **fields: Any) -> None:
        self.clock = ManualClock(start)
        self.book = PingLog(self.clock)
        self.probe = PushProbe(monitor(**fields), ProbeContext(clock=self.clock, pings=self.book))

    async def check(self) -> ProbeResult:
        return await self.probe.check()


async def test_heartbeat_lifecycle() -> None:
    job = Harness(period="5m", grace="1m")
    assert await job.check() == ProbeResult(State.PENDING, "waiting for the first ping")

    job.book.ping("job")
    job.clock.advance(30)
    result = await job.check()
    assert (result.state, result.reason) == (State.UP, "last ping 30s ago")
    assert result.metrics == {"last_ping_age_s": 30}
    assert result.latency_ms is None

    job.clock.advance(330)  # 6m after the ping: due at 5m, grace until 6m
    assert (await job.check()).state == State.UP
    job.clock.advance(60)
    late = await job.check()
    assert (late.state, late.reason) == (
        State.DOWN,
        "no ping for 7m 0s (expected every 5m, grace 1m)",
    )

    job.book.ping("job")
    assert (await job.check()).state == State.UP


async def test_reported_failure_is_down_at_once_until_success() -> None:
    job = Harness()
    job.book.ping("job", kind="fail")
    job.clock.advance(5)
    failed = await job.check()
    assert (failed.state, failed.reason) == (State.DOWN, "job reported failure 5s ago")
    job.book.ping("job")
    assert (await job.check()).state == State.UP


async def test_started_job_must_finish_within_grace() -> None:
    job = Harness(period="1h", grace="1m")
    job.book.start("job")
    job.clock.advance(30)
    assert (await job.check()).state == State.PENDING  # running, never finished before
    job.book.ping("job")
    job.clock.advance(600)
    job.book.start("job")
    job.clock.advance(45)
    assert (await job.check()).state == State.UP  # still within grace of its start
    job.clock.advance(75)
    stuck = await job.check()
    assert (stuck.state, stuck.reason) == (
        State.DOWN,
        "job started 2m 0s ago and has not finished (grace 1m)",
    )
    job.book.ping("job")
    assert (await job.check()).state == State.UP


async def test_cron_schedule_in_a_time_zone() -> None:
    ran = datetime(2023, 11, 14, 3, 0, 5, tzinfo=BERLIN).timestamp()
    job = Harness(start=ran, schedule="0 3 * * *", tz="Europe/Berlin", grace="30m")
    job.book.ping("job")
    next_day = datetime(2023, 11, 15, 3, 20, tzinfo=BERLIN).timestamp()
    job.clock.advance(next_day - ran)
    assert (await job.check()).state == State.UP  # due at 03:00, within the 30m grace
    job.clock.advance(11 * 60)
    late = await job.check()
    assert late.state == State.DOWN
    assert late.reason == (
        "no ping for 24h 30m (expected at 2023-11-15 03:00 Europe/Berlin "
        "per schedule '0 3 * * *', grace 30m)"
    )


async def test_without_a_ping_book_it_waits() -> None:
    probe = PushProbe(monitor(), ProbeContext(clock=ManualClock()))
    assert (await probe.check()).state == State.PENDING


def test_model_defaults_and_secrecy() -> None:
    config = monitor()
    assert PushMonitor.passive is True
    assert (config.interval, config.period, config.grace, config.tz) == (10, 60, 60, "UTC")
    assert TOKEN not in repr(config)
    assert TOKEN not in config.target()
    assert monitor(schedule="*/5 * * * *").target() == "schedule '*/5 * * * *' (UTC)"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token": "short"}, "at least 16 characters"),
        ({"token": "has/a/slash/in-it-0123"}, "String should match pattern"),  # lightkeeper:allow
        ({"schedule": "0 3 * *"}, "is not a cron schedule"),
        ({"schedule": "0 0 3 * * *"}, "is not a cron schedule"),
        ({"schedule": "61 3 * * *"}, "is not a cron schedule"),
        ({"schedule": "0 3 * * *", "period": "1d"}, "either period or schedule"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
        ({"period": 0}, "period must be more than 0s"),
    ],
)
def test_invalid_config(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        monitor(**fields)
