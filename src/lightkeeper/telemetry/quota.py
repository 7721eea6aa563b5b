"""Per-project quotas, enforced when a request arrives — never by dropping what was accepted.

Each project has a budget per category and clock minute (``QuotaConfig``). A request
asks for all its items at once: if any category would go over, nothing is taken and the
request is answered 429 with ``Retry-After`` (seconds to the next minute) and
``X-Sentry-Rate-Limits`` naming the exhausted categories, which Sentry SDKs obey
(https://develop.sentry.dev/sdk/expected-features/rate-limiting/): they hold back
those categories until then. Whatever was answered 200 is stored.

The counts live in this process: with several processes on one PostgreSQL store each
enforces the quota on what it receives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from lightkeeper.telemetry.config import ProjectConfig

MINUTE = 60.0

#: Our categories → the names Sentry SDKs know (an error limit also covers "default").
SENTRY_NAMES = {
    "error": "error;default",
    "transaction": "transaction",
    "session": "session",
    "event": "",
}


@dataclass(frozen=True)
class Refusal:
    categories: tuple[str, ...]
    retry_after: int

    def headers(self) -> dict[str, str]:
        names = [SENTRY_NAMES[c] for c in self.categories if SENTRY_NAMES[c]]
        limits = ",".join(f"{self.retry_after}:{n}:project:quota_exceeded" for n in names)
        headers = {"Retry-After": str(self.retry_after)}
        if limits:
            headers["X-Sentry-Rate-Limits"] = limits
        return headers

    @property
    def message(self) -> str:
        return f"quota exceeded for {', '.join(self.categories)}; retry after {self.retry_after} s"


class Quotas:
    def __init__(self) -> None:
        self._minute: float = -1.0
        self._used: dict[tuple[int, str], int] = {}

    def take(self, project: ProjectConfig, wanted: Mapping[str, int], now: float) -> Refusal | None:
        """Take ``wanted`` (category → items) from this minute's budget, all or nothing."""
        minute = now - now % MINUTE
        if minute != self._minute:
            self._minute, self._used = minute, {}
        over = tuple(
            c
            for c, n in wanted.items()
            if n and self._used.get((project.id, c), 0) + n > project.quota.limit(c)
        )
        if over:
            return Refusal(over, max(1, math.ceil(minute + MINUTE - now)))
        for c, n in wanted.items():
            if n:
                self._used[(project.id, c)] = self._used.get((project.id, c), 0) + n
        return None

    def give_back(self, project: ProjectConfig, taken: Mapping[str, int], now: float) -> None:
        """A request that was counted but then failed to be stored (a 5xx) costs nothing."""
        if now - now % MINUTE != self._minute:
            return
        for c, n in taken.items():
            key = (project.id, c)
            if key in self._used:
                self._used[key] = max(0, self._used[key] - n)
