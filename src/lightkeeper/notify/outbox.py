"""The persistent notification outbox: every message is a row before it is sent.

Delivery claims due rows with a short lease (``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several Lightkeeper processes never take the same row), sends them in
worker threads, then marks them sent, schedules a retry with backoff, or fails them for
good. A crash between writing and sending loses nothing: the row is still pending, or
its lease runs out and another process (or the restarted one) sends it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Row, delete, func, insert, or_, select, update

from lightkeeper.clock import Clock
from lightkeeper.notify.channels import ChannelConfig
from lightkeeper.notify.message import Notification
from lightkeeper.notify.sender import SEND_TIMEOUT, Delivery, Sender
from lightkeeper.store import Store
from lightkeeper.store.engine import describe_store_error
from lightkeeper.store.tables import outbox

log = logging.getLogger(__name__)

LEASE = 30.0  # seconds a claimed row is ours; past it another process may take it
# A send starts only while this much of the lease is left, so a slow send never runs past
# the lease into a second process sending the same row.
SEND_BUDGET = SEND_TIMEOUT + 5.0
POLL = 0.5
BATCH = 100
SEND_THREADS = 8
PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a failed notification again, and when to give up.

    The n-th failed attempt waits ``base × 2^(n-1)`` seconds, at most ``cap``, plus up
    to ``jitter`` of that so many rows failing together do not retry together. A row
    still unsent ``max_age`` seconds after it was written fails for good. With the
    defaults: 5 s, 10 s, 20 s, 40 s … 15 min, 15 min …, giving up after 24 h.
    """

    base: float = 5.0
    cap: float = 900.0
    jitter: float = 0.1
    max_age: float = 86400.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1 is the first)."""
        plain = min(self.base * 2.0 ** max(attempts - 1, 0), self.cap)
        return float(plain * (1 + self.jitter * rng.random()))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt did to a row: ``status`` is its status afterwards."""

    id: int
    channel: str
    status: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FailedNotification:
    id: int
    channel: str
    kind: str
    dedup_key: str
    title: str
    attempts: int
    last_error: str | None
    created_at: float


@dataclass(slots=True)
class ChannelCounts:
    pending: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int
    failed: int
    oldest_pending_age: float | None  # seconds; None when nothing is pending
    channels: dict[str, ChannelCounts] = field(default_factory=dict)


class Outbox:
    """Writes notifications as rows and delivers them; see the module docstring."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, ChannelConfig],
        clock: Clock,
        sender: Sender | None = None,
        *,
        retry: RetryPolicy | None = None,
        lease: float = LEASE,
        batch: int = BATCH,
        poll: float = POLL,
        rng: random.Random | None = None,
    ) -> None:
        if lease <= SEND_BUDGET:
            raise ValueError(f"the lease ({lease:g}s) must outlast one send ({SEND_BUDGET:g}s)")
        if sender is None:
            from lightkeeper.notify.sender import AppriseSender

            sender = AppriseSender()
        self.store = store
        self.channels = dict(channels)
        self.clock = clock
        self.sender = sender
        self.retry = retry or RetryPolicy()
        self.lease = lease
        self.batch = batch
        self.poll = poll
        self._rng = rng or random.Random()  # jitter, not security
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None

    # writing --------------------------------------------------------------------------

    def add(
        self, conn: sa.Connection, notifications: Iterable[Notification], now: float
    ) -> list[int]:
        """Insert rows inside the caller's transaction; return their ids in order.

        The alert engine writes its state change and its notifications in one
        transaction, so a crash can never leave one without the other.
        """
        rows = [self._row(n, now) for n in notifications]
        if not rows:
            return []
        result = conn.execute(
            insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True), rows
        )
        return [int(r.id) for r in result]

    def has_key(self, conn: sa.Connection, dedup_key: str) -> bool:
        """Whether a notification with this key was ever written (e.g. today's digest)."""
        found = conn.execute(
            select(outbox.c.id).where(outbox.c.dedup_key == fit_key(dedup_key)).limit(1)
        )
        return found.first() is not None

    def enqueue(self, notifications: Iterable[Notification], now: float | None = None) -> list[int]:
        """Insert rows in a transaction of their own; return their ids."""
        at = self.clock.now() if now is None else now
        with self.store.engine.begin() as conn:
            return self.add(conn, notifications, at)

    def _row(self, n: Notification, now: float) -> dict[str, Any]:
        if n.channel not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none"
            raise ValueError(f"unknown channel {n.channel!r} (configured: {known})")
        return {
            "channel": n.channel,
            "kind": n.kind,
            "dedup_key": fit_key(n.dedup_key),
            "title": n.title,
            "body": n.body,
            "payload": json.dumps(n.payload, default=str, sort_keys=True),
            "created_at": now,
            "due_at": now,
            "attempts": 0,
            "status": PENDING,
        }

    # delivering -----------------------------------------------------------------------

    async def send_test(self, channel: str) -> Outcome:
        """Write a test message for ``channel`` and deliver it at once (`notify test`).

        It goes through the outbox like any message, so the test exercises the real path;
        a failed test is not retried (see :meth:`_finish`).
        """
        now = self.clock.now()
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
        n = Notification(
            channel=channel,
            kind="test",
            dedup_key=f"test:{channel}:{uuid.uuid4().hex[:12]}",
            title=f"Lightkeeper test message for {channel}",
            body=f"This is a test from Lightkeeper on {socket.gethostname()} at {when}. "
            f"If you can read it, the channel {channel!r} works.",
            payload={"test": True},
        )
        (row_id,) = await asyncio.to_thread(self.enqueue, [n], now)
        outcomes = await self.deliver([row_id])
        if not outcomes:  # another process claimed it first: it is on its way
            return Outcome(row_id, channel, PENDING, "queued; another Lightkeeper is sending it")
        return outcomes[0]

    def wake(self) -> None:
        """Deliver new rows now instead of at the next poll (safe from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._event.set()
        else:
            loop.call_soon_threadsafe(self._event.set)

    async def deliver_due(self) -> int:
        """Claim every due row, send, record the outcomes; return how many were handled."""
        return len(await self._deliver(None))

    async def deliver(self, ids: Collection[int]) -> list[Outcome]:
        """Deliver these rows now if they are due and unclaimed (`notify test` uses it)."""
        return await self._deliver(ids)

    async def _deliver(self, ids: Collection[int] | None) -> list[Outcome]:
        lease, rows = await asyncio.to_thread(self.claim, ids, ())
        groups = [self._send_group(group, lease) for group in _by_channel(rows).values()]
        results = await asyncio.gather(*groups, return_exceptions=True)
        outcomes: list[Outcome] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            outcomes.extend(result)
        return outcomes

    async def run(self) -> None:
        """Deliver forever: poll every ``poll`` seconds, at once after :meth:`wake`.

        A channel that is slow (a receiver timing out) keeps its own rows waiting and
        nobody else's: each channel is sent by its own task, and a round claims rows only
        for channels that are idle in this process.
        """
        self._loop = asyncio.get_running_loop()
        warm_up = getattr(self.sender, "warm_up", None)
        if callable(warm_up):
            try:
                await asyncio.to_thread(warm_up, [c.url for c in self.channels.values()])
            except Exception:  # a channel that cannot load reports it when used
                log.exception("outbox: loading the channels failed")
        busy: dict[str, asyncio.Task[list[Outcome]]] = {}
        wait = self.poll
        try:
            while True:
                self._event.clear()
                try:
                    lease, rows = await asyncio.to_thread(self.claim, None, set(busy))
                    wait = self.poll
                except Exception as exc:  # the store is away: keep trying, slower
                    log.warning("outbox: cannot claim rows: %s", describe_store_error(exc))
                    rows, wait = [], min(wait * 2, 15.0)
                for channel, group in _by_channel(rows).items():
                    busy[channel] = asyncio.create_task(
                        self._send_group(group, lease), name=f"lightkeeper-notify-{channel}"
                    )
                waker = asyncio.ensure_future(self._event.wait())
                await asyncio.wait(
                    [waker, *busy.values()], timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                waker.cancel()
                # Whatever woke us, claim again: a channel that finished may have the next
                # row of a dedup queue due (a resolve right behind its trigger).
                for channel, task in list(busy.items()):
                    if not task.done():
                        continue
                    del busy[channel]
                    if (error := task.exception()) is not None:
                        log.warning(
                            "outbox: delivery to %s stopped: %s",
                            channel,
                            describe_store_error(error),
                        )
        finally:
            for task in busy.values():
                task.cancel()

    def close(self) -> None:
        """Stop the send threads (a send in flight finishes; its row is recorded)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def claim(
        self, ids: Collection[int] | None = None, busy: Collection[str] = ()
    ) -> tuple[float, list[Row[Any]]]:
        """Lease the oldest due rows, at most one per channel and dedup key; return the
        lease's end (it identifies our claim) and the rows. ``busy`` channels are skipped.

        A row waits while an older row of its channel and dedup key is pending (even one
        waiting for a retry), so a resolve never overtakes its trigger.
        """
        now = self.clock.now()
        lease = now + self.lease
        # The head of each (channel, dedup key) queue is its oldest pending row; only a
        # head may be claimed. One GROUP BY finds them all: a NOT EXISTS per candidate
        # scanned every pending row for each one, so a backlog of 4,000 rows took 3 s.
        heads = (
            select(func.min(outbox.c.id))
            .where(outbox.c.status == PENDING)
            .group_by(outbox.c.channel, outbox.c.dedup_key)
        )
        row = outbox.alias("candidate")
        due = (
            select(row.c.id)
            .where(
                row.c.id.in_(heads.scalar_subquery()),
                row.c.status == PENDING,
                row.c.due_at <= now,
                or_(row.c.lease_until.is_(None), row.c.lease_until <= now),
            )
            .order_by(row.c.id)
            .limit(self.batch)
        )
        if ids is not None:
            due = due.where(row.c.id.in_(list(ids)))
        if busy:
            due = due.where(row.c.channel.not_in(list(busy)))
        if self.store.dialect == "postgresql":
            # Rows another process is claiming right now are skipped, not waited for.
            due = due.with_for_update(skip_locked=True)
        # One statement: on SQLite it is atomic by itself, with no read-then-write window.
        claim = (
            update(outbox)
            .where(outbox.c.id.in_(due.scalar_subquery()))
            .values(lease_until=lease)
            .returning(*outbox.c)
        )
        with self.store.engine.begin() as conn:
            rows = sorted(conn.execute(claim), key=lambda r: int(r.id))
        return lease, rows

    async def _send_group(self, rows: list[Row[Any]], lease: float) -> list[Outcome]:
        if self._pool is None:
            # Sends get their own threads: a receiver that hangs must not starve the store
            # calls that go through the default executor.
            self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="lightkeeper-notify")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._send_rows, rows, lease)

    def _send_rows(self, rows: list[Row[Any]], lease: float) -> list[Outcome]:
        """Send one channel's claimed rows in order (runs in a worker thread)."""
        outcomes: list[Outcome] = []
        for row in rows:
            now = self.clock.now()
            age = now - row.created_at
            channel = self.channels.get(row.channel)
            if age >= self.retry.max_age:
                span = _span(self.retry.max_age)
                error = (
                    f"gave up after {span}: {row.last_error}"
                    if row.last_error
                    else f"not sent within {span}: gave up"
                )
                delivery = Delivery(ok=False, permanent=True, error=error)
                outcomes.append(self._finish(row, lease, delivery, attempted=False))
            elif channel is None:
                delivery = Delivery(
                    ok=False, permanent=True, error=f"channel {row.channel!r} is not configured"
                )
                outcomes.append(self._finish(row, lease, delivery, attempted=False))
            elif lease - now < SEND_BUDGET:
                outcomes.append(self._release(row, lease))
            else:
                outcomes.append(self._finish(row, lease, self._send(channel.url, row)))
        return outcomes

    def _send(self, url: str, row: Row[Any]) -> Delivery:
        n = Notification(
            channel=row.channel,
            kind=row.kind,
            dedup_key=row.dedup_key,
            title=row.title,
            body=row.body,
            payload=json.loads(row.payload or "{}"),
        )
        try:
            return self.sender.send(url, n)
        except Exception as exc:  # a sender bug must not stop delivery of everything else
            log.exception("outbox: sender raised for notification #%d", row.id)
            return Delivery(ok=False, error=f"sender error: {type(exc).__name__}")

    def _finish(
        self, row: Row[Any], lease: float, delivery: Delivery, attempted: bool = True
    ) -> Outcome:
        now = self.clock.now()
        attempts = int(row.attempts) + (1 if attempted else 0)
        values: dict[str, Any] = {"attempts": attempts, "lease_until": None}
        if delivery.ok:
            values |= {"status": SENT, "sent_at": now, "last_error": None}
        else:
            error = delivery.error or "failed (no detail)"
            values["last_error"] = error
            give_up = now - row.created_at >= self.retry.max_age
            # A test is someone waiting at a terminal for the answer, not a page to chase.
            if delivery.permanent or give_up or row.kind == "test":
                if give_up and attempted:
                    error = f"gave up after {_span(self.retry.max_age)}: {error}"
                values |= {"status": FAILED, "last_error": error}
                # A failed test is reported to whoever ran it; it is not an incident.
                level = logging.INFO if row.kind == "test" else logging.ERROR
                log.log(level, "notification #%d to %s failed: %s", row.id, row.channel, error)
            else:
                delay = self.retry.delay(attempts, self._rng)
                values |= {"status": PENDING, "due_at": now + delay}
                log.warning(
                    "notification #%d to %s failed (attempt %d), next try in %.0fs: %s",
                    row.id,
                    row.channel,
                    attempts,
                    delay,
                    error,
                )
        with self.store.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id, outbox.c.lease_until == lease)
                .values(**values)
            )
        if not done.rowcount:
            # Our lease ran out and another process took the row: it records the outcome.
            log.warning("notification #%d: lease lost before its outcome was recorded", row.id)
        return Outcome(int(row.id), row.channel, values["status"], values.get("last_error"))

    def _release(self, row: Row[Any], lease: float) -> Outcome:
        with self.store.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id, outbox.c.lease_until == lease)
                .values(lease_until=None)
            )
        return Outcome(int(row.id), row.channel, PENDING)

    # reading --------------------------------------------------------------------------

    def failures(self, limit: int = 20) -> list[FailedNotification]:
        """The most recent notifications that failed for good, newest first."""
        query = (
            select(outbox)
            .where(outbox.c.status == FAILED)
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        with self.store.engine.connect() as conn:
            return [
                FailedNotification(
                    id=int(r.id),
                    channel=r.channel,
                    kind=r.kind,
                    dedup_key=r.dedup_key,
                    title=r.title,
                    attempts=int(r.attempts),
                    last_error=r.last_error,
                    created_at=float(r.created_at),
                )
                for r in conn.execute(query)
            ]

    def counts(self) -> OutboxCounts:
        """Pending and failed rows per channel, and how long the oldest pending has waited."""
        query = (
            select(
                outbox.c.channel,
                outbox.c.status,
                func.count().label("n"),
                func.min(outbox.c.created_at).label("oldest"),
            )
            .where(outbox.c.status.in_([PENDING, FAILED]))
            .group_by(outbox.c.channel, outbox.c.status)
        )
        channels: dict[str, ChannelCounts] = defaultdict(ChannelCounts)
        oldest: float | None = None
        with self.store.engine.connect() as conn:
            for r in conn.execute(query):
                counts = channels[r.channel]
                if r.status == PENDING:
                    counts.pending = int(r.n)
                    oldest = r.oldest if oldest is None else min(oldest, r.oldest)
                else:
                    counts.failed = int(r.n)
        return OutboxCounts(
            pending=sum(c.pending for c in channels.values()),
            failed=sum(c.failed for c in channels.values()),
            oldest_pending_age=None if oldest is None else max(self.clock.now() - oldest, 0.0),
            channels=dict(channels),
        )

    def prune(self, now: float, keep: float) -> int:
        """Delete sent and failed rows written more than ``keep`` seconds ago."""
        with self.store.engine.begin() as conn:
            removed = conn.execute(
                delete(outbox).where(
                    outbox.c.status.in_([SENT, FAILED]), outbox.c.created_at < now - keep
                )
            )
        return int(removed.rowcount or 0)


def fit_key(key: str, limit: int = 128) -> str:
    """``key`` if it fits the column, else a prefix and a hash of the whole: the same key
    always gives the same result, so a trigger and its resolve still match."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: limit - 17]}~{digest}"


def _by_channel(rows: list[Row[Any]]) -> dict[str, list[Row[Any]]]:
    groups: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        groups[row.channel].append(row)
    return dict(groups)


def _span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
