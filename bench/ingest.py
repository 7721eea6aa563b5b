"""Benchmark: Sentry-compatible event ingest, Lightkeeper beside Bugsink, in the same run.

    .venv/bin/python bench/ingest.py                      # 1, 4, 16 connections × 30 s each
    .venv/bin/python bench/ingest.py --duration 5 --only bugsink

Method
- Envelopes are captured from the real sentry-sdk (default transport, so brotli at the
  SDK's quality 4, default integrations) raising 20 exception types three in-app calls
  deep, plus a template for "new" errors (`_sentry_envelopes.py`). Before each timed phase
  the bodies are built from them: a fresh event id each, 90 % repeats of the 20 types,
  10 % new errors whose exception type nobody else has (so each is a new issue on either
  server: Bugsink groups by type and message, Lightkeeper by its own fingerprint of them).
  The SDK's headers (`X-Sentry-Auth`, `Content-Encoding: br`, …) go out unchanged.
- The client (`_http_load.py`) is raw asyncio on uvloop, one request in flight per
  connection, prebuilt bodies: ~10-25 µs of CPU per request, where `http.client` in
  threads took 60-100 µs (measured on this machine against a trivial server). On 2 cores
  the client takes the same small share from both servers.
- Each concurrency level runs for `--duration` seconds; then the benchmark waits until
  every accepted event is visible (the backlog drains) before the next level. A short
  warm-up (not counted) comes first. Servers run one after the other, never together.

Fairness: the same client, the same bodies in the same order, the same machine, both on
SQLite in a temporary directory on the same disk, quotas raised far above the load on
both, neither behind a proxy. What "processed" means:
- Lightkeeper: `events` of the project in `GET /api/v1/telemetry/projects` (stored, in
  an issue).
- Bugsink: rows in `events_event`. Bugsink answers the request once the envelope is
  written to a file and a digest task is queued; its Snappea worker makes the event and
  the issue later, so "accepted" and "processed" differ (`_bugsink.py` has its setup and
  where it comes from).

Figures, per level: accepted events/s (2xx responses finished in the window), processed
events/s in the window (stored events at its end minus at its start), how long after the
window the backlog took to drain and the end-to-end rate (events processed / (window +
drain)), request latency p50/p99 (write to last byte), peak RSS and PSS summed over the
server's processes (every 0.5 s), stored bytes per event (growth of the SQLite database +
WAL over events stored, the same for both; Lightkeeper's own `stored_bytes` beside it),
server CPU. At the end, the database size after the server stopped (WAL checkpointed)
per event stored. Raw figures go to bench/results/ as JSON; `--json` prints them.
"""

from __future__ import annotations

import sys

# This directory holds secrets.py (the secret-scanner benchmark): first on the search path it
# would stand in for the standard library's `secrets`, which pydantic imports. Last, it won't.
sys.path.append(sys.path.pop(0))

import argparse
import contextlib
import math
import os
import secrets
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _bugsink import BUGSINK_VERSION, DEFAULT_VENV, BugsinkServer
from _http_load import LoadResult, run_load
from _ingest_servers import (
    Counts,
    IngestServer,
    LightkeeperServer,
    process_tree,
    tree_cpu_seconds,
    tree_memory,
)
from _results import load_average, log, machine, publish, stop_cleanly
from _sentry_envelopes import BodyPool, Recorded, capture

MIB = 1024 * 1024

# Bugsink 2.6.2 measured on this machine, from the issue.
ANCHOR = {
    "accepted_per_s": "140-190",
    "processed_per_s": "70-95",
    "rss": "273 MiB",
    "bytes_per_event": "7.8 KB",
}
GOAL_PROCESSED_PER_S = 1000.0
GOAL_RSS_BYTES = 200 * 1000 * 1000  # 200 MB
GOAL_BYTES_PER_EVENT = 2000.0  # 2 KB

SAMPLE_EVERY_S = 0.5
# Right after the window, sample faster: a short drain is timed to 0.1 s, not 0.5 s.
SAMPLE_AFTER_WINDOW_S = 0.1
FAST_SAMPLING_FOR_S = 3.0
WARMUP_BODIES = 400


# -- sampling while a level runs -------------------------------------------------------------


@dataclass
class Sample:
    t: float  # time.monotonic()
    rss: int
    pss: int
    counts: Counts | None


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY_S: memory of the server's processes and its counts; one extra
    sample exactly at `window_end`, and faster ones for a while after it. The only caller
    of `server.counts()` while it runs."""

    def __init__(self, server: IngestServer, window_end: float) -> None:
        super().__init__(daemon=True, name="sampler")
        self.server = server
        self.window_end = window_end
        self.samples: list[Sample] = []
        self.at_window_end: Sample | None = None
        self.backlog_bytes: int | None = None  # at the window's end
        self.errors: list[str] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            now = time.monotonic()
            sample = self._sample()
            self.samples.append(sample)
            if self.at_window_end is None and now >= self.window_end:
                self.at_window_end = sample
                with contextlib.suppress(OSError):
                    self.backlog_bytes = self.server.backlog_bytes()
            just_after = self.window_end <= now < self.window_end + FAST_SAMPLING_FOR_S
            next_at += SAMPLE_AFTER_WINDOW_S if just_after else SAMPLE_EVERY_S
            if self.at_window_end is None and next_at > self.window_end:
                next_at = self.window_end
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))

    def _sample(self) -> Sample:
        t = time.monotonic()
        rss, pss = tree_memory(process_tree(self.server.pids()))
        try:
            counts: Counts | None = self.server.counts()
        except Exception as exc:  # a slow or failing count is a figure, not a crash
            self.errors.append(f"{type(exc).__name__}: {exc}")
            counts = None
        return Sample(t, rss, pss, counts)

    def latest_counts(self) -> Counts | None:
        for sample in reversed(self.samples):
            if sample.counts is not None:
                return sample.counts
        return None

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)


# -- one level --------------------------------------------------------------------------------


@dataclass
class LevelResult:
    concurrency: int
    window_s: float
    bodies_built: int
    sent: int
    accepted_in_window: int
    accepted_total: int
    statuses: dict[str, int]
    accepted_per_s: float
    processed_in_window: int
    processed_per_s: float
    processed_total: int
    drain_s: float | None  # None: not every accepted event became visible
    end_to_end_per_s: float | None
    latency_ms: dict[str, float | None]
    rss_peak: int
    pss_peak: int
    stored_file_growth: int
    bytes_per_event: float | None
    api_stored_growth: int | None
    api_bytes_per_event: float | None
    issues_created: int
    issues_expected: int
    server_cpu_s: float
    server_cores: float
    server_cpu_ms_per_event: float | None
    client_cpu_s: float
    machine_busy_cores: float
    pool_exhausted_after_s: float | None
    backlog_bytes: int | None  # the server's queue on disk at the window's end, if it has one
    count_errors: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def system_busy() -> float:
    """Busy CPU seconds of the whole machine, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Expectation:
    """Which repeated exception types a server has seen, to predict new issues."""

    seen_types: set[int] = field(default_factory=set)

    def issues_for(self, pool: BodyPool, sent: int) -> int:
        kinds = pool.kinds[:sent]
        repeat_types = {k for k in kinds if k >= 0}
        new = sum(1 for k in kinds if k < 0)
        fresh = len(repeat_types - self.seen_types)
        self.seen_types |= repeat_types
        return new + fresh


def run_level(
    server: IngestServer,
    headers: dict[str, str],
    pool: BodyPool,
    concurrency: int,
    duration: float,
    expectation: Expectation,
    args: argparse.Namespace,
) -> LevelResult:
    counts_before = server.counts()
    files_before = server.stored_file_bytes()
    cpu_before = tree_cpu_seconds(process_tree(server.pids()))
    busy_before = system_busy()
    client_before = time.process_time()
    started = time.monotonic()
    sampler = Sampler(server, window_end=started + duration)
    sampler.start()
    try:
        load = run_load(
            "127.0.0.1",
            server.port,
            server.ingest_path,
            headers,
            pool.bodies,
            concurrency,
            duration,
        )
        client_cpu = time.process_time() - client_before
        busy = system_busy() - busy_before
        window = load.window_end - load.started
        drain_s = wait_for_drain(sampler, counts_before.events + load.ok_total(), load, args)
    finally:
        sampler.stop()
    counts_after = server.counts()
    files_after = server.stored_file_bytes()
    cpu = tree_cpu_seconds(process_tree(server.pids())) - cpu_before
    at_end = sampler.at_window_end.counts if sampler.at_window_end else None
    processed_in_window = (at_end.events if at_end else counts_after.events) - counts_before.events
    processed_total = counts_after.events - counts_before.events
    busy_s = window + (drain_s if drain_s is not None else 0.0)
    latencies = [x * 1000 for x in load.latencies]
    growth = files_after - files_before
    api_growth = (
        counts_after.stored_bytes - counts_before.stored_bytes
        if counts_after.stored_bytes is not None and counts_before.stored_bytes is not None
        else None
    )
    return LevelResult(
        concurrency=concurrency,
        window_s=round(window, 3),
        bodies_built=len(pool.bodies),
        sent=load.sent,
        accepted_in_window=load.ok_in_window(),
        accepted_total=load.ok_total(),
        statuses=load.status_counts(),
        accepted_per_s=load.ok_in_window() / window,
        processed_in_window=processed_in_window,
        processed_per_s=processed_in_window / window,
        processed_total=processed_total,
        drain_s=drain_s,
        end_to_end_per_s=processed_total / busy_s if drain_s is not None else None,
        latency_ms={
            "p50": quantile(latencies, 0.5),
            "p99": quantile(latencies, 0.99),
            "max": quantile(latencies, 1.0),
        },
        rss_peak=max((s.rss for s in sampler.samples), default=0),
        pss_peak=max((s.pss for s in sampler.samples), default=0),
        stored_file_growth=growth,
        bytes_per_event=growth / processed_total if processed_total else None,
        api_stored_growth=api_growth,
        api_bytes_per_event=(
            api_growth / processed_total if api_growth is not None and processed_total else None
        ),
        issues_created=counts_after.issues - counts_before.issues,
        issues_expected=expectation.issues_for(pool, load.sent),
        server_cpu_s=round(cpu, 2),
        server_cores=cpu / busy_s,
        server_cpu_ms_per_event=cpu * 1000 / processed_total if processed_total else None,
        client_cpu_s=round(client_cpu, 2),
        machine_busy_cores=busy / window,
        pool_exhausted_after_s=(
            load.pool_exhausted_at - load.started if load.pool_exhausted_at else None
        ),
        backlog_bytes=sampler.backlog_bytes,
        count_errors=sampler.errors[:5],
        timeline=[
            {
                "t": round(s.t - started, 2),
                "rss_mib": round(s.rss / MIB, 1),
                "events": s.counts.events if s.counts else None,
            }
            for s in sampler.samples
        ],
    )


def wait_for_drain(
    sampler: Sampler, target: int, load: LoadResult, args: argparse.Namespace
) -> float | None:
    """Seconds after the window until `target` events are visible; None if that stalls."""
    last_change = time.monotonic()
    last_events = -1
    deadline = load.window_end + args.drain_timeout
    while time.monotonic() < deadline:
        counts = sampler.latest_counts()
        if counts is not None:
            if counts.events >= target:
                at = next(
                    (s.t for s in sampler.samples if s.counts and s.counts.events >= target),
                    time.monotonic(),
                )
                return max(0.0, at - load.window_end)
            if counts.events != last_events:
                last_events, last_change = counts.events, time.monotonic()
        if time.monotonic() - last_change > args.drain_stall:
            return None
        time.sleep(SAMPLE_EVERY_S / 2)
    return None


# -- one server, all levels -------------------------------------------------------------------


@dataclass
class ServerReport:
    name: str
    version: str
    startup_s: float = 0.0
    rss_idle: int = 0
    levels: list[LevelResult] = field(default_factory=list)
    events_stored: int = 0
    issues: int = 0
    db_at_start: int = 0
    db_after_stop: int = 0  # bytes of the database once the server stopped (WAL checkpointed)
    bytes_per_event_after_stop: float | None = None
    warmup_events: int = 0
    error: str | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_server(
    server: IngestServer,
    workdir: Path,
    key: str,
    recorded: list[Recorded],
    pools: Callable[[int], BodyPool],
    args: argparse.Namespace,
) -> ServerReport:
    workdir.mkdir()
    headers = recorded[0].headers
    report = ServerReport(server.name, server.version)
    try:
        launched = time.monotonic()
        log(f"{server.name}: starting in {workdir}")
        server.start(workdir, free_port(), key)
        report.version = server.version
        report.startup_s = round(time.monotonic() - launched, 2)
        report.rss_idle = tree_memory(process_tree(server.pids()))[0]
        report.db_at_start = server.stored_file_bytes()
        expectation = Expectation()
        if args.warmup > 0:
            log(f"{server.name} {server.version}: warm-up {args.warmup:g} s (not counted)")
            warm = run_level(server, headers, pools(0), 4, args.warmup, expectation, args)
            report.warmup_events = warm.processed_total
        for index, concurrency in enumerate(args.concurrency, start=1):
            pool = pools(index)
            log(f"{server.name}: concurrency {concurrency} for {args.duration:g} s")
            level = run_level(server, headers, pool, concurrency, args.duration, expectation, args)
            report.levels.append(level)
            log(
                f"  accepted {level.accepted_per_s:.0f}/s, processed {level.processed_per_s:.0f}/s"
                f" in the window, drained after {fmt(level.drain_s, ' s', 1)},"
                f" p50/p99 {fmt(level.latency_ms['p50'], '', 1)}/"
                f"{fmt(level.latency_ms['p99'], ' ms', 1)},"
                f" RSS {level.rss_peak / MIB:.0f} MiB, {fmt(level.bytes_per_event, ' B', 0)}/event"
            )
        final = server.counts()
        report.events_stored, report.issues = final.events, final.issues
    except (RuntimeError, OSError) as exc:
        report.error = str(exc)
        log(f"{server.name}: {exc}")
    finally:
        server.stop()
        report.version = server.version
    with contextlib.suppress(OSError, sqlite3.Error):
        server.checkpoint()
    report.db_after_stop = server.stored_file_bytes()
    counted = report.events_stored
    if counted and report.db_after_stop:
        report.bytes_per_event_after_stop = (report.db_after_stop - report.db_at_start) / counted
    return report


# -- the run ----------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lk-bench-ingest-"))
    key = secrets.token_hex(16)
    report: dict[str, Any] = {
        "machine": machine(),
        "setup": {
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "max_rate": args.max_rate,
            "new_share": args.new_share,
            "seed": args.seed,
            "workdir": str(workdir),
        },
        "anchor": {"name": f"Bugsink {BUGSINK_VERSION} (issue)", **ANCHOR},
        "servers": [],
    }
    try:
        log(f"capturing envelopes from sentry-sdk; workdir {workdir}")
        recorded = capture(key, workdir)
        built: dict[int, BodyPool] = {}

        def pools(index: int) -> BodyPool:
            # The same seed for the same level: both servers get the same bytes.
            if index not in built:
                count = WARMUP_BODIES if index == 0 else math.ceil(args.duration * args.max_rate)
                started = time.monotonic()
                built[index] = BodyPool.build(
                    recorded, count, args.seed * 1000 + index, args.new_share
                )
                pool = built[index]
                log(
                    f"built {count} bodies in {time.monotonic() - started:.1f} s"
                    f" ({sum(map(len, pool.bodies)) / count:.0f} B brotli,"
                    f" {pool.raw_bytes / count:.0f} B plain per envelope; {pool.new_issues} new)"
                )
            return built[index]

        report["envelopes"] = {
            "types": [r.exception_type for r in recorded],
            "headers": {k: v for k, v in recorded[0].headers.items() if k != "x-sentry-auth"},
            "plain_bytes": [len(r.envelope) for r in recorded],
        }
        servers: list[IngestServer] = []
        if args.only in (None, "lightkeeper"):
            servers.append(LightkeeperServer())
        if args.only in (None, "bugsink"):
            servers.append(BugsinkServer(args.bugsink_venv, args.bugsink_version))
        for server in servers:
            result = measure_server(
                server, workdir / server.name.lower(), key, recorded, pools, args
            )
            report["servers"].append(asdict(result))
        report["machine"]["load_after"] = load_average()
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


# -- output -----------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def level_rows(level: dict[str, Any] | None, missing: str) -> list[str]:
    """One server's column for one level, in the order of ROW_LABELS."""
    if level is None:
        return [missing] + [""] * (len(ROW_LABELS) - 1)
    lat = level["latency_ms"]
    api = level["api_bytes_per_event"]
    exhausted = level["pool_exhausted_after_s"]
    return [
        fmt(level["accepted_per_s"], "/s")
        + (f" (bodies ran out at {exhausted:.1f} s)" if exhausted is not None else ""),
        fmt(level["processed_per_s"], "/s"),
        fmt(level["drain_s"], " s", 1) if level["drain_s"] is not None else "not drained",
        fmt(level["end_to_end_per_s"], "/s"),
        f"{fmt(lat['p50'], '', 1)} / {fmt(lat['p99'], ' ms', 1)}",
        f"{level['rss_peak'] / MIB:.0f} MiB ({level['pss_peak'] / MIB:.0f})",
        fmt(level["bytes_per_event"], " B", 0) + (f" (API {api:,.0f} B)" if api else ""),
        f"{level['issues_created']} ({level['issues_expected']})",
        f"{level['server_cores']:.2f}; {fmt(level['server_cpu_ms_per_event'], ' ms', 2)}",
        f"{level['client_cpu_s'] / level['window_s']:.2f} cores",
        ", ".join(f"{k}: {v}" for k, v in level["statuses"].items()),
    ]


ROW_LABELS = [
    "accepted events/s",
    "processed events/s, in the window",
    "backlog drained after the window",
    "end to end: processed / (window + drain)",
    "latency p50 / p99",
    "peak RSS of its processes (PSS)",
    "stored per event (db + wal growth)",
    "issues created (expected)",
    "server CPU: cores; per event",
    "client CPU",
    "responses",
]
ANCHOR_ROWS = {
    0: ANCHOR["accepted_per_s"],
    1: ANCHOR["processed_per_s"],
    5: ANCHOR["rss"],
    6: ANCHOR["bytes_per_event"],
}
GOAL_ROWS = {3: "≥ 1,000/s", 5: "≤ 200 MB", 6: "≤ 2,000 B"}


def goal_checks(level: dict[str, Any]) -> dict[int, bool | None]:
    e2e = level["end_to_end_per_s"]
    per_event = level["bytes_per_event"]
    return {
        3: None if e2e is None else e2e >= GOAL_PROCESSED_PER_S,
        5: level["rss_peak"] <= GOAL_RSS_BYTES,
        6: None if per_event is None else per_event <= GOAL_BYTES_PER_EVENT,
    }


def table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - widths known at run time
    out = [line.format(*rows[0]), line.format(*("-" * w for w in widths))]
    return out + [line.format(*r).rstrip() for r in rows[1:]]


def render(report: dict[str, Any]) -> str:
    by_name = {s["name"]: s for s in report["servers"]}
    lk, bs = by_name.get("Lightkeeper"), by_name.get("Bugsink")
    bs_label = f"Bugsink {bs['version']}" if bs else "Bugsink"
    out: list[str] = []
    for index, concurrency in enumerate(report["setup"]["concurrency"]):
        lk_level = lk["levels"][index] if lk and index < len(lk["levels"]) else None
        bs_level = bs["levels"][index] if bs and index < len(bs["levels"]) else None
        checks = goal_checks(lk_level) if lk_level else {}
        head = (
            f"concurrency {concurrency}, {report['setup']['duration_s']:g} s",
            "Lightkeeper",
            bs_label,
            report["anchor"]["name"],
            "goal",
            "",
        )
        rows = [head]
        for i, (label, ours, theirs) in enumerate(
            zip(
                ROW_LABELS,
                level_rows(lk_level, missing_label(lk)),
                level_rows(bs_level, missing_label(bs)),
                strict=True,
            )
        ):
            rows.append(
                (
                    label,
                    ours,
                    theirs,
                    ANCHOR_ROWS.get(i, ""),
                    GOAL_ROWS.get(i, ""),
                    verdict(checks.get(i)),
                )
            )
        out += [*table(rows), ""]
    out += [*table(whole_run_rows(report, lk, bs, bs_label)), ""]
    out += goals_summary(lk)
    out += notes(report, lk, bs)
    return "\n".join(out)


def missing_label(server: dict[str, Any] | None) -> str:
    return "(not run)" if server is None else "(failed, see below)"


def whole_run_rows(
    report: dict[str, Any], lk: dict[str, Any] | None, bs: dict[str, Any] | None, bs_label: str
) -> list[tuple[str, ...]]:
    def column(server: dict[str, Any] | None) -> list[str]:
        if server is None or (server["error"] and not server["levels"]):
            return [missing_label(server), "", "", ""]
        peak = max((lv["rss_peak"] for lv in server["levels"]), default=0)
        return [
            f"{server['events_stored']:,} in {server['issues']:,} issues",
            fmt(server["bytes_per_event_after_stop"], " B"),
            f"{peak / MIB:.0f} MiB ({peak / 1e6:.0f} MB)" if peak else "—",
            f"{server['rss_idle'] / MIB:.0f} MiB; {server['startup_s']:g} s",
        ]

    ours, theirs = column(lk), column(bs)
    peak = max((lv["rss_peak"] for lv in lk["levels"]), default=0) if lk else 0
    per_event = lk["bytes_per_event_after_stop"] if lk else None
    return [
        ("whole run", "Lightkeeper", bs_label, report["anchor"]["name"], "goal", ""),
        ("events stored", ours[0], theirs[0], "", "", ""),
        (
            "stored per event, after stop (checkpointed)",
            ours[1],
            theirs[1],
            ANCHOR["bytes_per_event"],
            "≤ 2,000 B",
            verdict(None if per_event is None else per_event <= GOAL_BYTES_PER_EVENT),
        ),
        (
            "peak RSS over the run",
            ours[2],
            theirs[2],
            ANCHOR["rss"],
            "≤ 200 MB",
            verdict(peak <= GOAL_RSS_BYTES if peak else None),
        ),
        ("idle RSS after start; start-up", ours[3], theirs[3], "", "", ""),
    ]


def goals_summary(lk: dict[str, Any] | None) -> list[str]:
    if not lk or not lk["levels"]:
        return ["goals: Lightkeeper not measured" + (f" ({lk['error']})" if lk else ""), ""]
    levels = lk["levels"]
    best = max(levels, key=lambda lv: lv["end_to_end_per_s"] or 0.0)
    e2e = best["end_to_end_per_s"]
    rss = max(lv["rss_peak"] for lv in levels)
    per_event = lk["bytes_per_event_after_stop"]
    if per_event is None:
        per_event = levels[-1]["bytes_per_event"]
    return [
        "goals for Lightkeeper: "
        f"≥ 1,000 events/s processed end to end: {fmt(e2e, '/s')} at concurrency"
        f" {best['concurrency']} {verdict(None if e2e is None else e2e >= GOAL_PROCESSED_PER_S)};"
        f" RSS ≤ 200 MB: peak {rss / 1e6:.0f} MB {verdict(rss <= GOAL_RSS_BYTES)};"
        f" ≤ 2 KB stored per event: {fmt(per_event, ' B')} after stop"
        f" {verdict(None if per_event is None else per_event <= GOAL_BYTES_PER_EVENT)}",
        "",
    ]


def notes(report: dict[str, Any], *servers: dict[str, Any] | None) -> list[str]:
    m = report["machine"]
    s = report["setup"]
    lines = [
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}; Python {m['python']};"
        f" load average before {m['load_before']}, after {m.get('load_after', '?')}",
        f"run: concurrency {', '.join(map(str, s['concurrency']))}, {s['duration_s']:g} s each"
        f" after a {s['warmup_s']:g} s warm-up; bodies built for up to {s['max_rate']:g}/s;"
        f" {s['new_share']:.0%} new errors; seed {s['seed']}",
    ]
    env = report.get("envelopes")
    if env:
        plain = env["plain_bytes"]
        lines.append(
            f"envelopes: sentry-sdk, {len(env['types']) - 1} exception types + 1 new-error"
            f" template, {min(plain):,}-{max(plain):,} B plain; headers {env['headers']}"
        )
    for server in servers:
        if server is None:
            continue
        stored = server["bytes_per_event_after_stop"]
        line = (
            f"{server['name']} {server['version']}: up in {server['startup_s']} s,"
            f" idle RSS {server['rss_idle'] / MIB:.0f} MiB; {server['events_stored']:,} events in"
            f" {server['issues']:,} issues; database after stop"
            f" {server['db_after_stop'] / MIB:.1f} MiB (from {server['db_at_start'] / MIB:.1f}),"
            f" {fmt(stored, ' B')} per event"
        )
        backlogs = [lv["backlog_bytes"] for lv in server["levels"] if lv["backlog_bytes"]]
        if backlogs:
            line += f"; queue on disk at a window's end up to {max(backlogs) / MIB:.1f} MiB"
        if server.get("error"):
            line += f"; ERROR: {server['error'][:500]}"
        lines.append(line)
        for level in server["levels"]:
            busy = level["machine_busy_cores"]
            lines.append(
                f"  c={level['concurrency']}: sent {level['sent']:,}, accepted"
                f" {level['accepted_total']:,}, processed {level['processed_total']:,};"
                f" machine busy {busy:.2f} cores in the window"
                f" (server {level['server_cores']:.2f} incl. drain)"
                + (f"; count errors {level['count_errors']}" if level["count_errors"] else "")
            )
    lines += [
        "accepted: 2xx responses finished in the window; processed: events visible in issues"
        " (Lightkeeper: its telemetry API; Bugsink: rows in events_event);",
        "RSS (PSS): summed over the server's processes, sampled every 0.5 s (PSS splits pages"
        " forked workers share); stored per event: SQLite database + WAL growth / events"
        " stored (Bugsink's queue not counted).",
    ]
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 4, 16],
        help="connections per level, comma-separated (default 1,4,16)",
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per level (30)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, not counted (3)")
    parser.add_argument(
        "--max-rate",
        type=float,
        default=4000.0,
        help="bodies are built for this many requests/s per level (default 4000); a faster"
        " server runs out, which the output says",
    )
    parser.add_argument("--new-share", type=float, default=0.1, help="new errors (0.1)")
    parser.add_argument("--seed", type=int, default=1, help="for event ids and the mix (1)")
    parser.add_argument("--only", choices=["lightkeeper", "bugsink"], help="run one server")
    parser.add_argument(
        "--bugsink-venv",
        type=Path,
        default=DEFAULT_VENV,
        help=f"Bugsink's own venv, made on first use (default {DEFAULT_VENV})",
    )
    parser.add_argument("--bugsink-version", default=BUGSINK_VERSION, help=argparse.SUPPRESS)
    parser.add_argument(
        "--drain-timeout", type=float, default=600.0, help="max seconds to wait for a backlog"
    )
    parser.add_argument(
        "--drain-stall",
        type=float,
        default=30.0,
        help="give up on a backlog after this many seconds without progress (30)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: Callable[[str], Any] = print) -> None:
    args = parse_args(argv)
    stop_cleanly()  # an interrupt unwinds through the finally blocks that stop servers
    publish(measure(args), render, "ingest", args.json, out)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted; the servers were stopped")
        sys.exit(130)
