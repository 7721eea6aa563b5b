"""Push (heartbeat) monitor: a job pings us, and silence past its deadline is down.

Healthchecks.io semantics: the job calls ``/ping/<token>`` when it succeeds,
``/ping/<token>/fail`` when it fails and ``/ping/<token>/start`` when it begins. Those
routes record pings in the scheduler's ping book; this probe only judges them.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from lightkeeper.cron import check_cron, next_run
from lightkeeper.durations import Duration, format_duration, humanize
from lightkeeper.probes.base import MonitorBase, ProbeContext
from lightkeeper.types import ProbeResult, State
from lightkeeper.zones import TimeZoneName


class PushMonitor(MonitorBase):
    """A job that reports in. Examples (YAML):

        {name: nightly-backup, type: push, token: "${BACKUP_PING_TOKEN}",
         schedule: "0 3 * * *", tz: Europe/Berlin, grace: 30m}
        {name: worker, type: push, token: "${WORKER_PING_TOKEN}", period: 5m, grace: 1m}

    Without ``schedule`` the next ping is due ``period`` after the last one; with it, at
    the cron schedule's next time after the last ping (in ``tz``). Either way the monitor
    is down once ``grace`` has passed beyond that, at once when the job reports a failure,
    and when a started job has not finished within ``grace``.
    """

    passive: ClassVar[bool] = True

    type: Literal["push"]
    # Judging pings is cheap and a missed deadline should show soon, so look often.
    interval: Duration = Field(10.0, description="How often the pings are judged.")
    token: str = Field(
        min_length=16,
        pattern=r"^[A-Za-z0-9_.~\-]+$",
        repr=False,
        description="Secret part of the ping URL: /ping/<token>.",
    )
    period: Duration = Field(60.0, description="Expected time between pings.")
    grace: Duration = Field(60.0, description="Lateness tolerated before down.")
    schedule: str | None = Field(None, description="Cron expression (5 fields) instead of period.")
    tz: TimeZoneName = Field("UTC", description="IANA time zone the schedule is read in.")

    @field_validator("period")
    @classmethod
    def _period_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("period must be more than 0s")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _period_or_schedule(self) -> Self:
        if self.schedule is not None and "period" in self.model_fields_set:
            raise ValueError("give either period or schedule, not both")
        return self

    def target(self) -> str:
        if self.schedule is not None:
            return f"schedule '{self.schedule}' ({self.tz})"
        return f"every {format_duration(self.period)}"

    def due_after(self, last_ping: float) -> float:
        """When the ping after one received at ``last_ping`` is due (before grace)."""
        if self.schedule is None:
            return last_ping + self.period
        return next_run(self.schedule, self.tz, last_ping)

    def expectation(self, due: float) -> str:
        grace = format_duration(self.grace)
        if self.schedule is None:
            return f"expected every {format_duration(self.period)}, grace {grace}"
        at = datetime.fromtimestamp(due, ZoneInfo(self.tz)).strftime("%Y-%m-%d %H:%M")
        return f"expected at {at} {self.tz} per schedule '{self.schedule}', grace {grace}"


class PushProbe:
    def __init__(self, config: PushMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx

    async def check(self) -> ProbeResult:
        config = self.config
        now = self.ctx.clock.now()
        if self.ctx.pings is None:
            return ProbeResult(State.PENDING, "waiting for the first ping (no ping book)")
        last_ping, last_start, kind = self.ctx.pings.last_ping(config.name)
        started_since = last_start is not None and (last_ping is None or last_start > last_ping)
        if last_start is not None and started_since and now - last_start > config.grace:
            running = humanize(now - last_start)
            grace = format_duration(config.grace)
            return ProbeResult.down(
                f"job started {running} ago and has not finished (grace {grace})"
            )
        if last_ping is None:
            return ProbeResult(State.PENDING, "waiting for the first ping")
        age = now - last_ping
        metrics = {"last_ping_age_s": round(age, 3)}
        if kind == "fail":
            return ProbeResult.down(f"job reported failure {humanize(age)} ago", **metrics)
        due = config.due_after(last_ping)
        if now > due + config.grace:
            reason = f"no ping for {humanize(age)} ({config.expectation(due)})"
            return ProbeResult.down(reason, **metrics)
        return ProbeResult.up(f"last ping {humanize(age)} ago", **metrics)
