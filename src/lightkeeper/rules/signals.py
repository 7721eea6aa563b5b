"""Signals: named, labelled numbers over time, kept as one-minute rollups.

Every source (probes now; telemetry, backups, deploys and audits later) calls
:meth:`SignalStore.record`. Only signals some rule reads are kept. Each series keeps one
:class:`Minute` per minute (count, sum, min, max, last value and a quantile sketch), in
memory for the longest window the rules need and in the ``signal_minutes`` table, written
with the results it came from; windowed aggregations (avg, min, max, sum, count, rate,
quantiles) over any window are computed from those minutes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lightkeeper.rules.sketch import Sketch

MINUTE = 60.0


def series_key(name: str, labels: Mapping[str, str]) -> str:
    """``name{a="1",b="2"}`` with labels sorted: one spelling per series."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}"


@dataclass
class Minute:
    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last: float = math.nan
    last_ts: float = -math.inf
    sketch: Sketch = field(default_factory=Sketch)

    def add(self, value: float, ts: float) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if ts >= self.last_ts:
            self.last, self.last_ts = value, ts
        self.sketch.add(value)


@dataclass
class Series:
    key: str
    name: str
    labels: dict[str, str]
    minutes: dict[float, Minute] = field(default_factory=dict)

    def between(self, start: float, end: float) -> list[Minute]:
        """The minutes that overlap (start, end]."""
        first = math.floor(start / MINUTE) * MINUTE
        return [m for t, m in self.minutes.items() if first <= t <= end]

    def latest(self) -> Minute | None:
        return self.minutes[max(self.minutes)] if self.minutes else None


@dataclass(frozen=True)
class MinuteRow:
    """A minute as stored: the whole aggregate, replaced on every write of that minute."""

    key: str
    name: str
    labels: str  # JSON
    minute: float
    count: int
    sum: float
    min: float
    max: float
    last: float
    sketch: str


class SignalStore:
    """Minute rollups of the signals rules read, with what is not yet written marked dirty."""

    def __init__(self, keep: float = 3600.0, names: Iterable[str] | None = None) -> None:
        self.keep = keep
        self.names: set[str] | None = set(names) if names is not None else None
        self.series: dict[str, Series] = {}
        self._by_name: dict[str, list[Series]] = {}
        # (name, label, value) → series: a rule on one monitor must not scan them all.
        self._by_label: dict[tuple[str, str, str], list[Series]] = {}
        self._dirty: set[tuple[str, float]] = set()

    def wants(self, name: str) -> bool:
        return self.names is None or name in self.names

    def record(
        self, name: str, labels: Mapping[str, str], value: float, ts: float, write: bool = True
    ) -> None:
        """Add a sample; ``write=False`` keeps it in memory only (another store writes it)."""
        if not self.wants(name) or math.isnan(value):
            return
        series = self._series(name, labels)
        minute = math.floor(ts / MINUTE) * MINUTE
        bucket = series.minutes.get(minute)
        if bucket is None:
            bucket = series.minutes[minute] = Minute()
        bucket.add(value, ts)
        if write:
            self._dirty.add((series.key, minute))

    def _series(self, name: str, labels: Mapping[str, str]) -> Series:
        key = series_key(name, labels)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series(key, name, dict(labels))
            self._by_name.setdefault(name, []).append(series)
            for label, value in series.labels.items():
                self._by_label.setdefault((name, label, value), []).append(series)
        return series

    def select(self, name: str) -> list[Series]:
        return self._by_name.get(name, [])

    def with_label(self, name: str, label: str, value: str) -> list[Series]:
        """The series of ``name`` whose ``label`` is ``value``, in :meth:`select`'s order."""
        return self._by_label.get((name, label, value), [])

    def take_dirty(self) -> list[MinuteRow]:
        """The minutes changed since the last call, as rows to write (and now clean)."""
        rows = []
        for key, minute in self._dirty:
            series = self.series[key]
            m = series.minutes.get(minute)
            if m is None:
                continue
            rows.append(
                MinuteRow(
                    key,
                    series.name,
                    json.dumps(series.labels, sort_keys=True),
                    minute,
                    m.count,
                    m.sum,
                    m.min,
                    m.max,
                    m.last,
                    m.sketch.dumps(),
                )
            )
        self._dirty.clear()
        return rows

    def restore(self, rows: Iterable[MinuteRow]) -> None:
        """Load minutes written before a restart, so windows span it."""
        for row in rows:
            series = self._series(row.name, json.loads(row.labels))
            series.minutes[row.minute] = Minute(
                row.count,
                row.sum,
                row.min,
                row.max,
                row.last,
                row.minute,
                Sketch.loads(row.sketch),
            )

    def undo_take(self, rows: Iterable[MinuteRow]) -> None:
        """A write failed: mark those minutes dirty again."""
        self._dirty.update((r.key, r.minute) for r in rows)

    def prune(self, now: float, drop_empty: bool = False) -> None:
        """Forget minutes past ``keep``; with ``drop_empty``, series left with none too
        (telemetry labels such as a user come and go; their series must not pile up)."""
        horizon = now - self.keep - MINUTE
        for series in self.series.values():
            for minute in [t for t in series.minutes if t < horizon]:
                del series.minutes[minute]
        if drop_empty:
            gone = {k for k, s in self.series.items() if not s.minutes}
            if gone:
                self._forget(gone)

    def _forget(self, keys: set[str]) -> None:
        for key in keys:
            del self.series[key]
        self._by_name = {
            n: kept
            for n, ss in self._by_name.items()
            if (kept := [s for s in ss if s.key not in keys])
        }
        self._by_label = {
            k: kept
            for k, ss in self._by_label.items()
            if (kept := [s for s in ss if s.key not in keys])
        }
