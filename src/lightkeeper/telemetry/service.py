"""The telemetry side of the running service: the group-commit writer, signals, retention.

The web layer (``web/ingest_api.py``) decodes a request and calls one of the entry points
here; each returns only once what it brought is committed — events, issue counters and
the signal minutes it changed, in one transaction — or raises :class:`StoreError`
(answered 503, with the quota given back: nothing was accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkeeper.clock import Clock
from lightkeeper.errors import StoreError
from lightkeeper.rules.signals import MinuteRow, SignalStore
from lightkeeper.store import Store
from lightkeeper.store import alerting as signal_db
from lightkeeper.store.engine import describe_store_error
from lightkeeper.telemetry import store as db
from lightkeeper.telemetry.config import ProjectConfig, TelemetryConfig
from lightkeeper.telemetry.envelope import IngestError
from lightkeeper.telemetry.ingest import Decoded, Processor
from lightkeeper.telemetry.quota import Quotas
from lightkeeper.telemetry.signals import NAMES, TelemetrySignals
from lightkeeper.telemetry.store import EventRecord, IssueCache, Written

log = logging.getLogger(__name__)

FLUSH_EVERY = 1.0  # signal minutes without events are written at least this often
MAX_BATCH = 2000  # events per transaction, at most
PRUNE_MEMORY_EVERY = 60.0


@dataclass
class _Waiting:
    records: list[EventRecord]
    done: asyncio.Future[None]
    minutes: bool  # whether its answer must also wait for the signal minutes it changed


@dataclass
class Counters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # status → requests


class Telemetry:
    def __init__(
        self,
        config: TelemetryConfig,
        store: Store,
        clock: Clock,
        rules: SignalStore,
        reads: Callable[[str, Mapping[str, str]], bool] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.signals = TelemetrySignals(rules, reads)
        self.processor = Processor(config, self.signals)
        self.quotas = Quotas()
        self.cache = IssueCache()
        self.counters = Counters()
        self._names = {p.id: p.name for p in config.projects}
        self._series_ids: dict[str, int] = {}
        self._queue: list[_Waiting] = []
        self._wake = asyncio.Event()
        self._error: str | None = None
        self._minutes_written = 0.0

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def open(self) -> None:
        """Reload the last minutes, so the one spanning a restart is added to, not replaced."""
        since = self.clock.now() - 180.0
        with self.store.engine.connect() as conn:
            self.signals.restore(signal_db.load_minutes(conn, since, NAMES))

    # entry points (the web layer) ------------------------------------------------------

    async def envelope(self, project: ProjectConfig, decoded: Decoded) -> None:
        """Store a Sentry envelope's events and record its transactions and sessions."""
        now = self.clock.now()
        self._take(project, decoded.cost, now)
        try:
            records = [self.processor.event(project, e, now) for e in decoded.events]
            for tx in decoded.transactions:
                self.processor.transaction(project, tx, now)
            self.processor.sessions(project, decoded, now)
            # Error events are what the answer promises; the minutes they count go out
            # with the next write (within FLUSH_EVERY). Transactions and sessions are only
            # minutes: their answer waits for those.
            only_events = not (decoded.transactions or decoded.sessions or decoded.aggregates)
            await self.commit(records, minutes=not only_events)
        except StoreError:
            self.quotas.give_back(project, decoded.cost, now)
            raise

    async def counted(self, project: ProjectConfig, items: int) -> None:
        """App events and OTLP: the caller records the signals after this takes the quota;
        :meth:`commit` then writes them."""
        self._take(project, {"event": items}, self.clock.now())

    def _take(self, project: ProjectConfig, cost: dict[str, int], now: float) -> None:
        refusal = self.quotas.take(project, cost, now)
        if refusal is not None:
            self.counters.refused[429] = self.counters.refused.get(429, 0) + 1
            raise IngestError(429, refusal.message, refusal.headers())

    async def commit(self, records: list[EventRecord] | None = None, minutes: bool = True) -> None:
        """Wait until ``records`` (and, with ``minutes``, the signal minutes recorded so far)
        are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(records or [], done, minutes))
        self.counters.received += len(records or [])
        self._wake.set()
        await done

    # the writer ------------------------------------------------------------------------

    async def run(self) -> None:
        """Write whenever something is queued (and at least every second); retention is
        the service's hourly prune."""
        last_prune = self.clock.now()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_EVERY)
            self._wake.clear()
            ok = await self.flush()
            if not ok:
                await asyncio.sleep(1.0)  # the store is away: don't spin
            if self.clock.now() - last_prune >= PRUNE_MEMORY_EVERY:
                last_prune = self.clock.now()
                self.signals.prune(last_prune)

    async def flush(self) -> bool:
        """Write what is queued in as many transactions as MAX_BATCH asks; False on failure."""
        ok = True
        while True:
            waiting: list[_Waiting] = []
            size = 0
            while self._queue and (not waiting or size + len(self._queue[0].records) <= MAX_BATCH):
                w = self._queue.pop(0)
                waiting.append(w)
                size += len(w.records)
            now = self.clock.now()
            due = not waiting or any(w.minutes for w in waiting)
            if due or now - self._minutes_written >= FLUSH_EVERY:
                minutes = self.signals.take_dirty()
                self._minutes_written = now
            else:
                minutes = []
            if not waiting and not minutes:
                return ok
            records = [r for w in waiting for r in w.records]
            try:
                written = await asyncio.to_thread(self._write, records, minutes)
            except Exception as exc:
                self.signals.undo_take(minutes)
                self.cache.forget()
                self._series_ids.clear()
                self._error = describe_store_error(exc)
                log.warning("telemetry write failed: %s", self._error)
                failure = StoreError(f"the store is unavailable: {self._error}")
                for w in waiting:
                    if not w.done.done():
                        w.done.set_exception(failure)
                return False
            self._error = None
            self.counters.stored += written.stored
            self.counters.duplicates += written.duplicates
            now = self.clock.now()
            for project_id, _issue in written.new_issues:
                self.signals.new_issue(self._names.get(project_id, str(project_id)), now)
            for project_id, _issue in written.regressions:
                self.signals.regression(self._names.get(project_id, str(project_id)), now)
            for w in waiting:
                if not w.done.done():
                    w.done.set_result(None)
            if not self._queue:
                if written.new_issues or written.regressions:
                    self._wake.set()  # their signals go out with the next write
                return ok

    def _write(self, records: list[EventRecord], minutes: list[MinuteRow]) -> Written:
        with self.store.engine.begin() as conn:
            written = db.write_events(conn, records, self.cache) if records else Written()
            signal_db.write_minutes(conn, minutes, self._series_ids)
        return written

    @property
    def error(self) -> str | None:
        return self._error

    # retention -------------------------------------------------------------------------

    def prune(self) -> int:
        now = self.clock.now()
        r = self.config.retention
        deleted = 0
        with self.store.engine.begin() as conn:
            for project in self.config.projects:
                deleted += db.prune(conn, project.id, now, r.max_age, r.max_events)
            signal_db.prune_minutes(conn, now - r.minutes)
        self.cache.forget()
        self.signals.prune(now)
        if deleted:
            log.info("telemetry retention deleted %d events", deleted)
        return deleted

    def status(self) -> dict[str, Any]:
        return {
            "ok": self._error is None,
            "error": self._error,
            "queued": sum(len(w.records) for w in self._queue),
            "stored": self.counters.stored,
        }
