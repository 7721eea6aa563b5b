"""Running scan batches in worker processes, in order, with a bounded number in flight.

Regex matching holds the GIL, so threads would not help; processes do. A pool costs
~50 ms to start with ``fork`` and more with ``forkserver``, which is why callers run small
scans in-process. ``fork`` is used only while this process has a single thread (forking a
threaded process can copy a held lock into the child); otherwise ``forkserver``.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _context() -> BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def run_batches(work: Callable[[T], R], batches: Iterable[T], workers: int) -> Iterator[R]:
    """``work(batch)`` for every batch, results yielded in batch order.

    With ``workers`` ≤ 1 everything runs here. Otherwise at most ``2 × workers`` batches
    are in flight, so a long history streams through without being held in memory whole.
    """
    if workers <= 1:
        for batch in batches:
            yield work(batch)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        pending: deque[Future[R]] = deque()
        for batch in batches:
            pending.append(pool.submit(work, batch))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
