"""Time, injected: the engine asks a clock instead of the system so tests run in milliseconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock; what results are stamped with)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (what schedules are laid on)."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock tests move by hand: ``clock.advance(300)`` is five minutes later."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
