"""Cron schedules in the config: five fields, checked at load, run in a time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from croniter import croniter
from pydantic import AfterValidator


def check_cron(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f"{value!r} is not a cron schedule; write 5 fields: minute hour day month "
            "weekday, e.g. '0 3 * * *' for 03:00 every day"
        )
    return value


CronSchedule = Annotated[str, AfterValidator(check_cron)]


def next_run(schedule: str, tz: str, after: float) -> float:
    """The first moment after ``after`` (epoch seconds) the schedule fires, read in ``tz``
    (so '0 3 * * *' is 03:00 local time on both sides of a DST change)."""
    start = datetime.fromtimestamp(after, ZoneInfo(tz))
    return float(croniter(schedule, start).get_next(datetime).timestamp())
