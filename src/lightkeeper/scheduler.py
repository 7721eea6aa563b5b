"""Runs due checks: evenly spread, bounded in concurrency, each under a hard timeout.

Monitors that share an interval are laid on an even lattice across it (the i-th of n
starts at ``i/n`` of the interval), so 10,000 monitors at 60 s make a steady ~167 checks
per second rather than a burst each minute. The first round starts within seconds of
start-up, spread at no more than :data:`FIRST_ROUND_RATE` starts a second, so a fresh
dashboard fills quickly; from the second check on each monitor keeps to its slot.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lightkeeper.clock import Clock

log = logging.getLogger(__name__)

FIRST_ROUND_RATE = 200.0  # checks started per second at most in the first round
TIMEOUT_GRACE = 0.5  # seconds past a probe's own timeout before the scheduler cuts it off


class Schedulable(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def interval(self) -> float: ...


@dataclass
class SchedulerStats:
    """Scheduling quality, for /api/v1/scheduler and the benchmark."""

    started: int = 0
    skipped: int = 0  # slots skipped because the previous check was still running
    deviations: deque[float] = field(default_factory=lambda: deque(maxlen=50_000))

    def quantile(self, q: float) -> float | None:
        if not self.deviations:
            return None
        ordered = sorted(self.deviations)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(order=True)
class _Slot:
    due: float
    seq: int
    index: int = field(compare=False)


class Scheduler:
    """Calls ``run_check(item, deviation)`` for every item on its interval until stopped."""

    def __init__(
        self,
        items: Sequence[Schedulable],
        run_check: Callable[[Schedulable], Awaitable[None]],
        clock: Clock,
        concurrency: int,
    ) -> None:
        self._items = list(items)
        self._run_check = run_check
        self._clock = clock
        self._limit = asyncio.Semaphore(concurrency)
        self._busy: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._anchor: list[float] = [0.0] * len(self._items)
        self.stats = SchedulerStats()

    def lay_out(self, start: float) -> list[_Slot]:
        groups: dict[float, list[int]] = defaultdict(list)
        for index, item in enumerate(self._items):
            groups[item.interval].append(index)
        seq = itertools.count()
        heap: list[_Slot] = []
        for interval, indexes in groups.items():
            indexes.sort(key=lambda i: self._items[i].name)
            n = len(indexes)
            first_round = min(interval, n / FIRST_ROUND_RATE)
            for position, index in enumerate(indexes):
                self._anchor[index] = start + interval * position / n
                heap.append(_Slot(start + first_round * position / n, next(seq), index))
        heapq.heapify(heap)
        return heap

    def next_due(self, index: int, after: float) -> float:
        """The item's next lattice slot at least half an interval after ``after``."""
        interval = self._items[index].interval
        anchor = self._anchor[index]
        k = math.ceil((after + interval / 2 - anchor) / interval)
        return anchor + max(k, 1) * interval

    async def run(self) -> None:
        heap = self.lay_out(self._clock.monotonic())
        seq = itertools.count(len(heap))
        try:
            while heap:
                delay = heap[0].due - self._clock.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                slot = heapq.heappop(heap)
                heapq.heappush(
                    heap, _Slot(self.next_due(slot.index, slot.due), next(seq), slot.index)
                )
                if slot.index in self._busy:
                    self.stats.skipped += 1
                    continue
                self._busy.add(slot.index)
                task = asyncio.create_task(self._check(slot.index, slot.due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _check(self, index: int, due: float) -> None:
        try:
            async with self._limit:
                self.stats.deviations.append(self._clock.monotonic() - due)
                self.stats.started += 1
                await self._run_check(self._items[index])
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in one probe must not stop the others
            log.exception("check of %s failed unexpectedly", self._items[index].name)
        finally:
            self._busy.discard(index)
