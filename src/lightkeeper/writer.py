"""Batches results into the store, and holds them while the store is away.

Results are kept in memory between writes (one second by default). When the store fails
(PostgreSQL restarting, a locked disk) the batch stays queued and is retried with
backoff; the newest state per monitor wins; ``status()`` tells /healthz what is wrong.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from lightkeeper.clock import Clock
from lightkeeper.store import ResultRow, StateRow, Store
from lightkeeper.store.engine import describe_store_error

log = logging.getLogger(__name__)

MIN_WAIT = 0.05  # seconds between early writes, at least
MAX_QUEUED = 2_000_000  # about 400 MB of results: past this the oldest are dropped, loudly


@dataclass
class WriterStatus:
    ok: bool
    queued: int
    error: str | None
    failing_since: float | None
    last_write: float | None
    dropped: int


class ResultWriter:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        interval: float = 1.0,
        also: Callable[[Connection], None] | None = None,
        after: Callable[[], Awaitable[None]] | None = None,
        due: Callable[[], float | None] | None = None,
    ) -> None:
        self._store = store
        self._also = also  # more to write in each batch's transaction (signal minutes)
        self._after = after  # what runs after each successful write (rule evaluation)
        self._due = due  # when the next decision is due (epoch seconds), if sooner
        self._clock = clock
        self._interval = interval
        self._rows: list[ResultRow] = []
        self._states: dict[int, StateRow] = {}
        self._error: str | None = None
        self._failing_since: float | None = None
        self._last_write: float | None = None
        self._dropped = 0
        self._lock = asyncio.Lock()

    def add(self, row: ResultRow | None, state: StateRow) -> None:
        if row is not None:
            self._rows.append(row)
            if len(self._rows) > MAX_QUEUED:
                excess = len(self._rows) - MAX_QUEUED
                del self._rows[:excess]
                self._dropped += excess
                log.error("store unreachable too long: dropped %d oldest results", excess)
        self._states[state.monitor_id] = state

    async def run(self) -> None:
        """Write every ``interval`` — measured from the start of the last write, so the work
        does not stretch the cadence — and early when ``due()`` says a decision is due
        (an alert's ``for`` elapsing), so it is taken within moments, not a cycle later."""
        loop = asyncio.get_running_loop()
        backoff = self._interval
        last = loop.time()
        while True:
            wait = backoff - (loop.time() - last)
            if backoff == self._interval and self._due is not None:
                due = self._due()
                if due is not None:
                    # A little after the moment, and never a busy loop of tiny waits.
                    wait = min(wait, max(due - self._clock.now() + 0.005, MIN_WAIT))
            await asyncio.sleep(max(wait, 0.0))
            last = loop.time()
            ok = await self.flush()
            backoff = self._interval if ok else min(max(backoff * 2, 1.0), 15.0)
            if ok and self._after is not None:
                try:
                    await self._after()
                except Exception as exc:  # the store may have gone between the two
                    log.warning("after the write: %s", describe_store_error(exc))

    async def flush(self) -> bool:
        """Write what is queued; False (and everything kept) if the store failed."""
        async with self._lock:
            if not self._rows and not self._states and self._also is None:
                return True
            rows, states = self._rows, self._states
            self._rows, self._states = [], {}
            try:
                await asyncio.to_thread(
                    self._store.write_batch, rows, list(states.values()), self._also
                )
            except Exception as exc:  # any driver error: keep the data, report, retry
                self._rows = rows + self._rows
                for monitor_id, state in states.items():
                    self._states.setdefault(monitor_id, state)
                if self._error is None:
                    self._failing_since = self._clock.now()
                    log.warning("store write failed, will retry: %s", describe_store_error(exc))
                self._error = describe_store_error(exc)
                return False
            if self._error is not None:
                log.warning("store is back; wrote %d queued results", len(rows))
            self._error = None
            self._failing_since = None
            self._last_write = self._clock.now()
            return True

    def status(self) -> WriterStatus:
        return WriterStatus(
            ok=self._error is None,
            queued=len(self._rows),
            error=self._error,
            failing_since=self._failing_since,
            last_write=self._last_write,
            dropped=self._dropped,
        )
