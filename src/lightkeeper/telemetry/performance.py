"""A project's performance over a window, from the one-minute signal rollups: requests,
errors and latency per route and over time, RAG search latency, cache hit ratio, AI cost.

Charts have one point per minute up to 24 hours and one per hour beyond. Quantiles merge
the minutes' sketches (within 1 % of the exact value, see rules/sketch.py; a busy route's
p50/p95 over 7 or 30 days from a sample of its minutes, see SKETCH_BUDGET); rates and
ratios are sums over counts, never averages of averages. Which series belong to a project
is read from ``series.labels`` (``{"project": "web"}`` is the total, one more label such
as ``route`` a breakdown); every query then goes by series id and minute, the rollups'
primary key, so its cost follows the project's own data, not the whole table's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Connection, cast, func, select, true

from lightkeeper.rules.sketch import Sketch
from lightkeeper.store.tables import series, signal_minutes

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
WINDOWS = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
NAMES = (
    "http.requests",
    "http.error_rate",
    "http.latency_ms",
    "rag.search_ms",
    "cache.hit_ratio",
    "ai.cost_usd",
    "ai.tokens",
)
#: Routes whose latency quantiles are computed (the busiest): each costs a sketch a minute.
QUANTILE_ROUTES = 50
#: Minute sketches merged per route at most (two days' worth, ~0.1 s): over 7 or 30 days a
#: busy route's p50/p95 come from every n-th minute, evenly spread — a sample of minutes,
#: each with all its requests, instead of tens of thousands of sketches per route.
SKETCH_BUDGET = 2880
TOP_USERS = 20
CHUNK = 500  # series ids per IN (…): well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Window:
    """``name`` (1h, 24h, 7d, 30d) ending at the current minute or hour."""

    name: str
    now: float

    @property
    def step(self) -> float:
        return MINUTE if WINDOWS[self.name] <= DAY else HOUR

    @property
    def buckets(self) -> list[float]:
        last = self.now - self.now % self.step
        n = int(WINDOWS[self.name] // self.step)
        return [last - (n - 1 - i) * self.step for i in range(n)]

    @property
    def since(self) -> float:
        return self.buckets[0]


@dataclass
class _Series:
    """A project's series of one signal: the total's id and one id per label value."""

    total: int | None = None
    by: dict[str, dict[str, int]] = field(default_factory=dict)  # label → value → id


def _project_series(conn: Connection, project: str) -> dict[str, _Series]:
    # A LIKE narrows the scan; the exact project check is the JSON's (labels are sorted
    # JSON written by json.dumps, so the total is exactly {"project": "<name>"}).
    pattern = f"%{json.dumps('project')}: {json.dumps(project)}%"
    query = select(series.c.id, series.c.name, series.c.labels).where(
        series.c.name.in_(NAMES), series.c.labels.like(pattern)
    )
    found = {name: _Series() for name in NAMES}
    for sid, name, text in conn.execute(query):
        labels = json.loads(text)
        if labels.pop("project", None) != project:
            continue
        if not labels:
            found[name].total = sid
        elif len(labels) == 1:
            ((label, value),) = labels.items()
            found[name].by.setdefault(label, {})[value] = sid
    return found


@dataclass(frozen=True)
class _Sum:
    count: int = 0
    sum: float = 0.0
    minutes: int = 0


NONE = _Sum()


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ids = list(ids)
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _minutes(
    conn: Connection, ids: Iterable[int], since: float, *columns: Any, where: Any = None
) -> Iterator[Any]:
    m = signal_minutes
    for chunk in _chunks(ids):
        query = select(m.c.series_id, m.c.minute, *columns).where(
            m.c.series_id.in_(chunk), m.c.minute >= since
        )
        yield from conn.execute(query if where is None else query.where(where))


def _sums(conn: Connection, ids: Iterable[int], since: float) -> dict[int, _Sum]:
    """Per series: samples, their sum, and minutes (rows) in the window."""
    m = signal_minutes
    found: dict[int, _Sum] = {}
    for chunk in _chunks(ids):
        query = (
            select(m.c.series_id, func.sum(m.c.count), func.sum(m.c.sum), func.count())
            .where(m.c.series_id.in_(chunk), m.c.minute >= since)
            .group_by(m.c.series_id)
        )
        for sid, count, total, rows in conn.execute(query):
            found[sid] = _Sum(int(count or 0), float(total or 0.0), int(rows))
    return found


def _merged(texts: Iterable[str]) -> Sketch:
    """Minute sketches (JSON bins) added up; one parse of them all is faster than one each."""
    bins: Counter[str] = Counter()
    joined = ",".join(texts)
    if joined:
        for one in json.loads(f"[{joined}]"):
            bins.update(one)
    return Sketch(bins)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


@dataclass
class _Bucket:
    count: float = 0.0
    sum: float = 0.0


def performance(conn: Connection, project: str, window: str, now: float) -> dict[str, Any]:
    """Everything the performance page shows; see the module docstring."""
    w = Window(window, now)
    step, buckets, since = w.step, w.buckets, w.since
    ids = _project_series(conn, project)

    # The totals over time: samples and their sum per bucket; AI cost per day too.
    counted = ("http.requests", "http.error_rate", "cache.hit_ratio", "ai.cost_usd")
    name_of = {sid: n for n in counted if (sid := ids[n].total) is not None}
    per: dict[str, dict[float, _Bucket]] = {n: {} for n in counted}
    days: dict[float, float] = {}
    m = signal_minutes
    for sid, minute, count, total in _minutes(conn, name_of, since, m.c.count, m.c.sum):
        bucket = per[name_of[sid]].setdefault(minute - minute % step, _Bucket())
        bucket.count += count
        bucket.sum += total
        if name_of[sid] == "ai.cost_usd":
            days[minute - minute % DAY] = days.get(minute - minute % DAY, 0.0) + total

    def whole(name: str) -> _Bucket:
        return _Bucket(
            sum(b.count for b in per[name].values()), sum(b.sum for b in per[name].values())
        )

    def ratios(name: str) -> list[float | None]:
        """Sum over count per bucket: the share of 1s in a 0-or-1 signal."""
        return [_ratio(b.sum, b.count) if (b := per[name].get(t)) else None for t in buckets]

    # Latency over time: each bucket's minute sketches merged; the window's, all of them.
    timed = ("http.latency_ms", "rag.search_ms")
    sketched = {sid: n for n in timed if (sid := ids[n].total) is not None}
    texts: dict[str, dict[float, list[str]]] = {n: {} for n in timed}
    for sid, minute, text in _minutes(conn, sketched, since, m.c.sketch):
        texts[sketched[sid]].setdefault(minute - minute % step, []).append(text)
    merged = {n: {t: _merged(texts[n][t]) for t in texts[n]} for n in timed}
    overall = {n: Sketch() for n in timed}
    for n in timed:
        for sketch in merged[n].values():
            overall[n].merge(sketch)

    def p95(name: str) -> list[float | None]:
        return [s.quantile(0.95) if (s := merged[name].get(t)) else None for t in buckets]

    requests, failed, cache = (
        whole("http.requests"),
        whole("http.error_rate"),
        whole("cache.hit_ratio"),
    )
    first_day = since - since % DAY
    day_list = [first_day + i * DAY for i in range(int((now - first_day) // DAY) + 1)]
    return {
        "project": project,
        "window": window,
        "since": since,
        "until": now,
        "step": step,
        "series": {
            "t": buckets,
            "requests_per_min": [
                (b.count if (b := per["http.requests"].get(t)) else 0.0) * MINUTE / step
                for t in buckets
            ],
            "error_rate": ratios("http.error_rate"),
            "latency_p95_ms": p95("http.latency_ms"),
            "rag_p95_ms": p95("rag.search_ms"),
            "cache_hit_ratio": ratios("cache.hit_ratio"),
        },
        "totals": {
            "requests": int(requests.count),
            "errors": int(failed.sum),
            "error_rate": _ratio(failed.sum, failed.count),
            "latency_p50_ms": overall["http.latency_ms"].quantile(0.5),
            "latency_p95_ms": overall["http.latency_ms"].quantile(0.95),
            "rag_searches": overall["rag.search_ms"].count,
            "rag_p95_ms": overall["rag.search_ms"].quantile(0.95),
            "cache_hit_ratio": _ratio(cache.sum, cache.count),
            "ai_cost_usd": sum(days.values()),
        },
        "routes": _routes(conn, ids, since),
        "caches": _caches(conn, ids, since),
        "ai": {
            "days": [{"day": d, "cost_usd": days.get(d, 0.0)} for d in day_list],
            **_ai(conn, ids, since),
        },
    }


def _routes(conn: Connection, ids: dict[str, _Series], since: float) -> list[dict[str, Any]]:
    """Per route, busiest first: requests, errors, error rate, p50 and p95 latency."""
    by_route = {n: ids[n].by.get("route", {}) for n in NAMES if n.startswith("http.")}
    sums = _sums(conn, [sid for m in by_route.values() for sid in m.values()], since)
    routes: list[dict[str, Any]] = []
    for route in set(by_route["http.requests"]) | set(by_route["http.error_rate"]):
        requests = sums.get(by_route["http.requests"].get(route, -1), NONE)
        failed = sums.get(by_route["http.error_rate"].get(route, -1), NONE)
        routes.append(
            {
                "route": route,
                "requests": requests.count or failed.count,
                "errors": int(failed.sum),
                "error_rate": _ratio(failed.sum, failed.count),
                "p50_ms": None,
                "p95_ms": None,
            }
        )
    routes.sort(key=lambda r: (-r["requests"], r["route"]))
    latency = by_route["http.latency_ms"]
    wanted = {latency[r["route"]]: r for r in routes[:QUANTILE_ROUTES] if r["route"] in latency}
    # Beyond SKETCH_BUDGET minutes, every n-th minute (a route's n from its own minutes).
    every: dict[int, list[int]] = {}
    for sid in wanted:
        n = -(-sums.get(sid, NONE).minutes // SKETCH_BUDGET)
        every.setdefault(max(n, 1), []).append(sid)
    texts: dict[int, list[str]] = {sid: [] for sid in wanted}
    m = signal_minutes
    for n, sids in every.items():
        sampled = cast(m.c.minute, BigInteger) % int(n * MINUTE) == 0 if n > 1 else true()
        for sid, _minute, text in _minutes(conn, sids, since, m.c.sketch, where=sampled):
            texts[sid].append(text)
    for sid, row in wanted.items():
        sketch = _merged(texts[sid])
        row["p50_ms"], row["p95_ms"] = sketch.quantile(0.5), sketch.quantile(0.95)
    return routes


def _caches(conn: Connection, ids: dict[str, _Series], since: float) -> list[dict[str, Any]]:
    by_cache = ids["cache.hit_ratio"].by.get("cache", {})
    sums = _sums(conn, by_cache.values(), since)
    used = sorted(
        ((name, s) for name, sid in by_cache.items() if (s := sums.get(sid, NONE)).count),
        key=lambda pair: (-pair[1].count, pair[0]),
    )
    return [{"cache": c, "accesses": s.count, "hit_ratio": _ratio(s.sum, s.count)} for c, s in used]


def _ai(conn: Connection, ids: dict[str, _Series], since: float) -> dict[str, Any]:
    """AI cost per user (the top 20) and per model, with calls and tokens."""
    cost_by, tokens_by = ids["ai.cost_usd"].by, ids["ai.tokens"].by
    by_user, by_model = cost_by.get("user", {}), cost_by.get("model", {})
    tokens = tokens_by.get("model", {})
    sums = _sums(conn, [*by_user.values(), *by_model.values(), *tokens.values()], since)
    users = sorted(
        ((user, s) for user, sid in by_user.items() if (s := sums.get(sid, NONE)).count),
        key=lambda pair: (-pair[1].sum, pair[0]),
    )
    models = sorted(
        (
            (model, sums.get(by_model.get(model, -1), NONE), sums.get(tokens.get(model, -1), NONE))
            for model in set(by_model) | set(tokens)
        ),
        key=lambda m: (-m[1].sum, -m[2].sum, m[0]),
    )
    return {
        "users": [
            {"user": user, "cost_usd": s.sum, "calls": s.count} for user, s in users[:TOP_USERS]
        ],
        "models": [
            {
                "model": model,
                "cost_usd": priced.sum,
                "calls": max(priced.count, used.count),
                "tokens": int(used.sum),
            }
            for model, priced, used in models
            if priced.count or used.count
        ],
    }
