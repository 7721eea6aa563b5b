"""Time zones in the config: an IANA name, checked when the file is loaded."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name like Europe/London"
        ) from None
    return value


TimeZoneName = Annotated[str, AfterValidator(check_zone)]
