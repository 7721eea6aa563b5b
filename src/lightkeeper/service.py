"""The running watcher: monitors with their live state, the scheduler, the writer, uptime.

``Service`` is what ``lightkeeper up`` runs and what the web app reads. It keeps the live
state of every monitor in memory (so the API and dashboard never wait on the database)
and writes every result and state change through :class:`ResultWriter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from lightkeeper.audit import runner as audit_runner
from lightkeeper.audit.config import AuditJob
from lightkeeper.audit.findings import Report
from lightkeeper.backup import runs as backup_runs
from lightkeeper.backup.runner import Backups
from lightkeeper.clock import Clock, SystemClock
from lightkeeper.config import LightkeeperConfig
from lightkeeper.cron import next_run
from lightkeeper.errors import StoreError
from lightkeeper.health import decide, overall
from lightkeeper.notify.outbox import Outbox
from lightkeeper.probes import build_probe
from lightkeeper.probes.base import Probe, ProbeContext, timed_out
from lightkeeper.rules.alerting import Alerting
from lightkeeper.rules.digest import build as build_digest
from lightkeeper.scheduler import TIMEOUT_GRACE, Schedulable, Scheduler
from lightkeeper.store import ResultRow, StateRow, Store, Uptime
from lightkeeper.store import alerting as signal_db
from lightkeeper.store.engine import describe_store_error
from lightkeeper.telemetry.service import Telemetry
from lightkeeper.types import Health, ProbeResult, State
from lightkeeper.writer import ResultWriter

log = logging.getLogger(__name__)
T = TypeVar("T")

SPARK_POINTS = 30
UPTIME_REFRESH = 60.0
PRUNE_EVERY = 3600.0
BACKUP_SIGNALS_EVERY = 60.0
AUDIT_FIRST_RUN = 5.0  # seconds after start: every audit runs once, then on its schedule


@dataclass(frozen=True)
class AuditResult:
    """An audit job's last run: its report, or why it could not run."""

    started: float
    finished: float
    report: Report | None
    error: str | None = None


@dataclass
class MonitorRuntime:
    """One monitor as the service runs it."""

    config: Any  # a MonitorBase subclass
    probe: Probe
    id: int
    row: StateRow
    history: deque[tuple[float, float | None, State]] = field(
        default_factory=lambda: deque(maxlen=SPARK_POINTS)
    )

    @property
    def name(self) -> str:
        return str(self.config.name)

    @property
    def interval(self) -> float:
        return float(self.config.interval)

    @property
    def timeout(self) -> float:
        return float(self.config.timeout)


class Service:
    def __init__(
        self, config: LightkeeperConfig, clock: Clock | None = None, store: Store | None = None
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.store = store or Store(config.store.url)
        self.context = ProbeContext(clock=self.clock, pings=self)
        self.outbox = Outbox(self.store, config.channels, self.clock) if config.channels else None
        self.alerting = Alerting(config, self.store, self.clock, self.outbox)
        self.signals = self.alerting.signals
        self.telemetry = (
            Telemetry(
                config.telemetry,
                self.store,
                self.clock,
                self.signals,
                self.alerting.engine.reads,
            )
            if config.telemetry.enabled
            else None
        )
        deciding = self.alerting.enabled
        self.writer = ResultWriter(
            self.store,
            self.clock,
            config.scheduler.write_interval,
            also=self.alerting.write_minutes if deciding else None,
            after=self.alerting.tick if deciding else None,
            due=self.alerting.engine.next_due if deciding else None,
        )
        self.backups = (
            Backups(config.backups, self.store.engine, self.clock) if config.backups.jobs else None
        )
        self.audit_results: dict[str, AuditResult] = {}
        self.monitors: dict[str, MonitorRuntime] = {}
        self.by_token: dict[str, MonitorRuntime] = {}
        self.uptime: dict[int, dict[str, Uptime]] = {}
        self.started_at = self.clock.now()
        self.scheduler: Scheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._opened = False
        self._stopped = False

    # life cycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Migrate the store and load every monitor's saved state (blocking; idempotent).

        `lightkeeper up` calls it before the server starts, so a store that cannot be
        reached is one clear error instead of a failed web-server start-up.
        """
        if self._opened:
            return
        self.store.migrate()
        now = self.clock.now()
        kinds = {m.name: m.type for m in self.config.monitors}
        ids = self.store.sync_monitors(kinds, now)
        saved = self.store.load_states()
        recent = self.store.recent_latencies(now - 86400, SPARK_POINTS)
        for monitor in self.config.monitors:
            mid = ids[monitor.name]
            row = saved.get(mid) or StateRow(mid, State.PENDING, now, "not checked yet")
            runtime = MonitorRuntime(monitor, build_probe(monitor, self.context), mid, row)
            runtime.history.extend((r.ts, r.latency_ms, r.state) for r in recent.get(mid, []))
            self.monitors[monitor.name] = runtime
            token = getattr(monitor, "token", None)
            if isinstance(token, str):
                self.by_token[token] = runtime
        self.uptime = self.store.uptime(now)
        if self.alerting.enabled:
            self.alerting.open()
        if self.telemetry is not None:
            self.telemetry.open()
        self._opened = True

    async def start(self) -> None:
        """Open the store if not yet done, then start checking, writing and refreshing."""
        await asyncio.to_thread(self.open)
        # What start-up built (config models, probes, imported modules) lives as long as
        # the process: take it out of the cycle collector's sight, or every full collection
        # walks it all (0.25-0.3 s at 10,000 monitors, a stall that delays checks).
        gc.collect()
        gc.freeze()
        self.scheduler = Scheduler(
            list(self.monitors.values()),
            self._run_check,
            self.clock,
            self.config.scheduler.concurrency,
        )
        self._spawn(self.scheduler.run(), "scheduler")
        self._spawn(self.writer.run(), "writer")
        if self.telemetry is not None:
            self._spawn(self.telemetry.run(), "telemetry")
        if self.outbox is not None:
            self._spawn(self.outbox.run(), "outbox")
            if self.config.digest.channels:
                self._spawn(self._digest_loop(), "digest")
        # The first refresh comes soon, so a fresh start shows uptime within seconds.
        self._spawn(self._every(UPTIME_REFRESH, self.refresh_uptime, first=5.0), "uptime")
        self._spawn(self._every(PRUNE_EVERY, self.prune, first=60.0), "prune")
        if self.backups is not None:
            for job in self.config.backups.jobs:
                self._spawn(self._backup_loop(job.name), f"backup-{job.name}")
            self._spawn(
                self._every(BACKUP_SIGNALS_EVERY, self.backup_signals, first=1.0), "backups"
            )
        for audit in self.config.audits.jobs:
            self._spawn(self._audit_loop(audit), f"audit-{audit.name}")

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"lightkeeper-{name}"))

    async def stop(self) -> None:
        """Stop checking, write what is queued, let go of the lead; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.writer.flush()
        if self.telemetry is not None:
            await self.telemetry.flush()
        await asyncio.to_thread(self.alerting.leadership.release)
        if self.outbox is not None:
            self.outbox.close()
        await self.context.aclose()
        await asyncio.to_thread(self.store.close)

    async def _every(self, seconds: float, job: Any, first: float | None = None) -> None:
        await asyncio.sleep(seconds if first is None else first)
        while True:
            try:
                await job()
            except Exception as exc:  # the store may be away; the next round tries again
                log.warning(
                    "%s failed: %s", getattr(job, "__name__", "job"), describe_store_error(exc)
                )
            await asyncio.sleep(seconds)

    # checks ---------------------------------------------------------------------------

    async def _run_check(self, item: Schedulable) -> None:
        runtime = self.monitors[item.name]
        self.record(runtime, await check_once(runtime.probe, runtime.timeout))

    def record(self, runtime: MonitorRuntime, result: ProbeResult, at: float | None = None) -> None:
        """Decide the monitor's new state and queue the result for the store."""
        now = self.clock.now() if at is None else at
        cfg = runtime.config
        runtime.row = decide(
            runtime.row, result, now, cfg.failures_before_down, cfg.successes_before_up
        )
        runtime.history.append((now, result.latency_ms, result.state))
        self._signal(runtime, result, now)
        self.writer.add(
            ResultRow(runtime.id, now, result.state, result.latency_ms, result.reason),
            replace(runtime.row),
        )

    def _signal(self, runtime: MonitorRuntime, result: ProbeResult, now: float) -> None:
        """What the check adds to the signals the rules read (only those some rule reads)."""
        labels = {"monitor": runtime.name, "type": runtime.config.type, **runtime.config.labels}
        record = self.signals.record
        record("monitor_down", labels, 1.0 if runtime.row.state is State.DOWN else 0.0, now)
        if result.state is not State.PENDING:
            record("probe_up", labels, 0.0 if result.state is State.DOWN else 1.0, now)
        if result.latency_ms is not None:
            record("probe_latency_ms", labels, result.latency_ms, now)
        for name, value in result.metrics.items():
            record(name, labels, float(value), now)

    # the daily digest -----------------------------------------------------------------

    async def _digest_loop(self) -> None:
        while True:
            now = self.clock.now()
            due = self.config.digest.next_run(now)
            await asyncio.sleep(due - now)
            try:
                await asyncio.to_thread(self.send_digest, due)
            except Exception as exc:  # the store may be away: tomorrow's will go
                log.warning("daily digest not written: %s", describe_store_error(exc))

    def send_digest(self, at: float) -> bool:
        """Write the digest for the day of ``at`` to the outbox, unless it already is.

        Only the leading process sends it (with several processes on one store).
        """
        assert self.outbox is not None
        if not self.alerting.leadership.check():
            return False
        cfg = self.config.digest
        key = f"digest-{cfg.date_of(at)}"
        digest = build_digest(self.config, self.store, at, self.alerting.incidents)
        with self.store.engine.begin() as conn:
            if self.outbox.has_key(conn, key):
                return False
            self.outbox.add(conn, digest.notifications(cfg.channels, cfg.date_of(at)), at)
        self.outbox.wake()
        return True

    # backups ----------------------------------------------------------------------------

    async def _backup_loop(self, name: str) -> None:
        """Run the job on its schedule (only the leading process), then apply retention."""
        assert self.backups is not None
        job = self.backups.job(name)
        while True:
            now = self.clock.now()
            await asyncio.sleep(max(next_run(job.schedule, job.tz, now) - now, 0.0))
            if not await asyncio.to_thread(self.alerting.leadership.check):
                continue
            try:
                await asyncio.to_thread(self.backups.run, name)
                await asyncio.to_thread(self.backups.prune, name)
            except Exception as exc:  # recorded by the runner; the next run tries again
                log.warning("backup %s failed: %s", name, describe_store_error(exc))
            await self.backup_signals()

    async def backup_signals(self) -> None:
        """Each job's backup age, verification, last result and drill time, as signals."""
        now = self.clock.now()
        for job in self.config.backups.jobs:
            figures = await asyncio.to_thread(
                backup_runs.job_signals, self.store.engine, job.name, now, self.started_at
            )
            for name, value in figures.samples():
                self.signals.record(name, {"job": job.name}, value, now)

    # audits ---------------------------------------------------------------------------

    async def _audit_loop(self, job: AuditJob) -> None:
        """Once soon after start — so the signals, and alerts on them, hold across a
        restart — then on the job's schedule; only the leading process runs audits."""
        due = self.clock.now() + AUDIT_FIRST_RUN
        while True:
            await asyncio.sleep(max(due - self.clock.now(), 0.0))
            if await asyncio.to_thread(self.alerting.leadership.check):
                await self.run_audit(job)
            due = next_run(job.schedule, job.tz, self.clock.now())

    async def run_audit(self, job: AuditJob) -> AuditResult:
        """Run one audit in a thread and record its signals (``audit.findings`` …)."""
        started = self.clock.now()
        try:
            # A run past its timeout is abandoned (its thread finishes on its own) and
            # counts as failed.
            report = await asyncio.wait_for(
                asyncio.to_thread(audit_runner.run_job, job, self.config.audits), job.timeout
            )
        except Exception as exc:
            reason = timed_out(job.timeout) if isinstance(exc, TimeoutError) else str(exc)
            log.warning("audit %s could not run: %s", job.name, reason)
            result = AuditResult(started, self.clock.now(), None, reason or type(exc).__name__)
            samples = list(audit_runner.failed_samples(job))
        else:
            result = AuditResult(started, self.clock.now(), report)
            samples = list(audit_runner.samples(job, report))
            log.info("audit %s: %d finding(s)", job.name, len(report.findings))
        self.audit_results[job.name] = result
        for name, labels, value in samples:
            self.signals.record(name, labels, value, result.finished)
        return result

    # push monitors (PingBook) ---------------------------------------------------------

    def last_ping(self, monitor: str) -> tuple[float | None, float | None, str]:
        row = self.monitors[monitor].row
        return row.last_ping, row.last_start, row.last_ping_kind

    def ping(self, token: str, kind: str) -> MonitorRuntime | None:
        """Record a ping ('success', 'fail' or 'start') from a job; None for an unknown token."""
        runtime = self.by_token.get(token)
        if runtime is None:
            return None
        now = self.clock.now()
        if kind == "start":
            runtime.row = replace(runtime.row, last_start=now)
            self.writer.add(None, replace(runtime.row))
            return runtime
        runtime.row = replace(runtime.row, last_ping=now, last_ping_kind=kind)
        if kind == "fail":
            result = ProbeResult.down("job reported failure")
        else:
            started = runtime.row.last_start
            took = (now - started) * 1000 if started and started <= now else None
            result = ProbeResult.up("ping received", latency_ms=took)
        # A reported failure is down at once: the job told us, nothing to debounce.
        if kind == "fail":
            runtime.row = replace(runtime.row, fail_streak=runtime.config.failures_before_down - 1)
        self.record(runtime, result, now)
        return runtime

    # reading --------------------------------------------------------------------------

    def health(self) -> Health:
        h = self.config.health
        return overall(
            ((rt.row.state, bool(rt.config.critical)) for rt in self.monitors.values()),
            h.degraded_when_down,
            h.unhealthy_when_down,
        )

    async def read(self, query: Callable[..., T], *args: Any) -> T:
        """Run a store query off the event loop; a store failure becomes a StoreError."""
        try:
            return await asyncio.to_thread(query, *args)
        except Exception as exc:
            raise StoreError(f"the store is unavailable: {describe_store_error(exc)}") from exc

    async def refresh_uptime(self) -> None:
        self.uptime = await asyncio.to_thread(self.store.uptime, self.clock.now())

    async def prune(self) -> None:
        r = self.config.retention
        removed = await asyncio.to_thread(
            self.store.prune, self.clock.now(), r.results, r.hourly, r.daily
        )
        if removed:
            log.info("pruned %d results older than the retention", removed)
        if self.telemetry is not None:
            await asyncio.to_thread(self.telemetry.prune)
        else:
            await asyncio.to_thread(self._prune_minutes, self.config.telemetry.retention.minutes)
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.prune, self.clock.now(), r.notifications)

    def _prune_minutes(self, keep: float) -> None:
        with self.store.engine.begin() as conn:
            signal_db.prune_minutes(conn, self.clock.now() - keep)


async def check_once(probe: Probe, limit: float) -> ProbeResult:
    """Run one check under a hard timeout; a probe that hangs or crashes is a DOWN result."""
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(probe.check(), limit + TIMEOUT_GRACE)
    except TimeoutError:
        return ProbeResult.down(timed_out(limit), (time.perf_counter() - started) * 1000)
    except Exception as exc:  # a probe bug: say so plainly instead of crashing the loop
        log.exception("probe raised")
        return ProbeResult.down(f"probe error: {type(exc).__name__}")
