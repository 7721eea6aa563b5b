"""The scheduler: even spreading, bounded concurrency, and hard timeouts that isolate hangs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from itertools import pairwise

import pytest

from lightkeeper.clock import SystemClock
from lightkeeper.config import parse_config
from lightkeeper.scheduler import Schedulable, Scheduler
from lightkeeper.service import Service
from lightkeeper.store import Store
from lightkeeper.types import State
from tests.conftest import Target


@dataclass
class Item:
    name: str
    interval: float
    timeout: float = 1.0


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_slots_are_laid_evenly_over_each_interval() -> None:
    async def check(item: Schedulable) -> None:
        pass

    items = [Item(f"m{i:02}", interval=60.0) for i in range(1000)] + [Item("solo", interval=5.0)]
    scheduler = Scheduler(items, check, SystemClock(), concurrency=10)
    slots = [s for s in scheduler.lay_out(100.0) if s.index < 1000]
    first = sorted(slot.due for slot in slots)
    # The first round of 1,000 monitors starts within 1000/200 = 5 s, evenly.
    assert first[0] == 100.0
    assert first[-1] < 105.0
    # From then on monitor i holds slot 100 + 60·i/1000 of every minute: 60 ms apart.
    seconds = sorted(scheduler.next_due(slot.index, slot.due) for slot in slots)
    gaps = [b - a for a, b in pairwise(seconds)]
    assert min(gaps) == pytest.approx(0.06) and max(gaps) == pytest.approx(0.06)
    # Each next slot is one interval after the previous one once in step.
    assert scheduler.next_due(5, 160.3) == pytest.approx(220.3)
    assert scheduler.next_due(1000, 100.0) == pytest.approx(105.0)


async def test_checks_run_on_their_slots() -> None:
    starts: dict[str, list[float]] = {}

    async def check(item: Schedulable) -> None:
        starts.setdefault(item.name, []).append(time.monotonic())

    items = [Item(f"m{i:02}", interval=1.0) for i in range(20)]
    scheduler = Scheduler(items, check, SystemClock(), concurrency=50)
    await run_for(scheduler, 3.2)
    for times in starts.values():
        assert len(times) >= 3
        # Loose bounds: a loaded CI machine may stall the loop; bench/ measures precisely.
        steady = [b - a for a, b in pairwise(times[1:])]
        assert all(abs(s - 1.0) < 0.3 for s in steady), steady
    p50 = scheduler.stats.quantile(0.5)
    assert p50 is not None
    assert p50 < 0.05


async def test_concurrency_is_bounded() -> None:
    running = 0
    peak = 0

    async def check(item: Schedulable) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.3)
        running -= 1

    items = [Item(f"m{i}", interval=1.0) for i in range(30)]
    scheduler = Scheduler(items, check, SystemClock(), concurrency=5)
    await run_for(scheduler, 1.0)
    assert peak == 5


async def test_a_slot_is_skipped_while_the_previous_check_runs() -> None:
    async def check(item: Schedulable) -> None:
        await asyncio.sleep(2.5)

    scheduler = Scheduler([Item("slow", interval=1.0)], check, SystemClock(), concurrency=5)
    await run_for(scheduler, 2.2)
    assert scheduler.stats.started == 1 and scheduler.stats.skipped >= 1


@pytest.mark.integration
async def test_a_hanging_target_delays_no_other_monitor(tmp_path: object, target: Target) -> None:
    """Acceptance: a target that accepts and never answers costs only its own timeout."""
    hanging = Target()
    hanging.mode = "hang"
    try:
        monitors = "\n".join(
            f"  - {{name: fast-{i}, type: http, url: '{target.url}', interval: 1s, timeout: 1s}}"
            for i in range(8)
        )
        config = parse_config(
            f"monitors:\n{monitors}\n"
            f"  - {{name: hang, type: http, url: '{hanging.url}', interval: 2s, timeout: 1500ms,"
            " failures_before_down: 1}\n",
            "test.yaml",
            {},
        )
        service = Service(config, store=Store(f"sqlite:///{tmp_path}/s.db"))
        await service.start()
        try:
            await asyncio.sleep(5.0)
            stats = service.scheduler.stats  # type: ignore[union-attr]
            # The hang's own timeout is 1.5 s; no other check may start anywhere near that late.
            assert stats.quantile(1.0) < 0.5, "a check started late behind the hanging one"
            for i in range(8):
                history = service.monitors[f"fast-{i}"].history
                assert len(history) >= 4, f"fast-{i} was checked {len(history)} times in 5 s"
                # From the second check on (the first round is quick, then each keeps its
                # slot) checks finish one interval apart, the hang notwithstanding.
                times = [t for t, _, _ in history][1:]
                assert max(b - a for a, b in pairwise(times)) < 1.2
            hang = service.monitors["hang"].row
            assert hang.state is State.DOWN and hang.reason.startswith("timed out after 1.5s")
        finally:
            await service.stop()
    finally:
        hanging.close()
