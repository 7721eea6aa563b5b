"""A mergeable quantile sketch with a relative-error guarantee (the DDSketch idea).

Values fall into logarithmic buckets ``ceil(log_γ(x))`` with ``γ = (1+α)/(1−α)``, so any
quantile is returned within ``α`` relative error and two sketches merge by adding bucket
counts — which is what lets a p95 over 5 minutes or 7 days be computed from one-minute
rollups. Reference: Masson, Rim, Lee, "DDSketch: a fast and fully-mergeable quantile
sketch with relative-error guarantees", VLDB 2019. Zero and negative values (latencies
and costs are not negative) are counted in one bucket of their own.
"""

from __future__ import annotations

import json
import math
from collections import Counter

ALPHA = 0.01
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
ZERO = "z"


class Sketch:
    __slots__ = ("bins", "count")

    def __init__(self, bins: dict[str, int] | None = None) -> None:
        self.bins: Counter[str] = Counter(bins or {})
        self.count = sum(self.bins.values())

    def add(self, value: float, count: int = 1) -> None:
        key = ZERO if value <= 0 else str(math.ceil(math.log(value) / _LOG_GAMMA))
        self.bins[key] += count
        self.count += count

    def merge(self, other: Sketch) -> None:
        self.bins.update(other.bins)
        self.count += other.count

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (0..1), within ALPHA relative error; None if empty."""
        if self.count == 0:
            return None
        rank = q * (self.count - 1)
        seen = 0
        for key in sorted(self.bins, key=_order):
            seen += self.bins[key]
            if seen > rank:
                if key == ZERO:
                    return 0.0
                index = int(key)
                # The bucket's representative value: 2γ^i / (γ + 1) halves the error.
                return 2 * _GAMMA**index / (_GAMMA + 1)
        return None  # unreachable: counts add up

    def dumps(self) -> str:
        return json.dumps(dict(self.bins), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Sketch:
        return cls(json.loads(text) if text else None)


def _order(key: str) -> float:
    return -math.inf if key == ZERO else int(key)
