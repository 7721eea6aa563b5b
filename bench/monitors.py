"""Benchmark: N HTTP monitors against a fast local target, in a real `lightkeeper up`.

Prints Lightkeeper's CPU and RSS, how closely each monitor keeps its interval, and the
latency of the monitors API and of the dashboard's first HTML at N monitors, beside the
figures measured for Uptime Kuma 2.5.3 on this machine and the goals. Run:

    .venv/bin/python bench/monitors.py --monitors 10000 --interval 60 --duration 180

The target answers in a separate process, so its CPU is not counted as Lightkeeper's.
Everything stays on 127.0.0.1; every loop is bounded in time. Raw figures go to
bench/results/ as JSON.
"""

from __future__ import annotations

import sys

# This directory holds secrets.py (the secret-scanner benchmark): first on the search path it
# would stand in for the standard library's `secrets`, which pydantic imports. Last, it won't.
sys.path.append(sys.path.pop(0))

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

LIGHTKEEPER = str(Path(sys.executable).with_name("lightkeeper"))
RESULTS_DIR = Path(__file__).parent / "results"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

# Uptime Kuma 2.5.3 on this machine, from the issue: 3,000 HTTP monitors at 20 s
# (150 checks/s) used 42 % of one core and 575-750 MB RSS; p99 deviation 0.44 s;
# no dashboard open.
KUMA_CHECKS_PER_S = 150.0
KUMA_CPU_PCT = 42.0
KUMA_CPU_MS_PER_CHECK = KUMA_CPU_PCT / 100 / KUMA_CHECKS_PER_S * 1000  # 2.8 ms
KUMA_RSS_MB = "575-750"
KUMA_P99_DEVIATION_S = 0.44

GOAL_P99_DEVIATION_S = 0.5
GOAL_RSS_MB = 300.0
GOAL_PAGE_MS = 300.0

# Endpoints whose latency is measured, with the label they are reported under.
PAGES = {
    "GET /api/v1/monitors": "/api/v1/monitors",
    "GET /api/v1/monitors?q=m09": "/api/v1/monitors?q=m09",
    "GET /api/v1/monitors?state=down": "/api/v1/monitors?state=down",
    "GET / (dashboard HTML)": "/",
}

# The target's one answer: keep-alive HTTP/1.1 200 with a tiny JSON body.
TARGET_BODY = b'{"status":"healthy"}'
TARGET_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(TARGET_BODY)).encode()
    + b"\r\nConnection: keep-alive\r\n\r\n"
    + TARGET_BODY
)


# -- the target (runs in its own process: `monitors.py --serve-target`) -----------------


class _TargetProtocol(asyncio.Protocol):
    """Answers every request on a connection with the fixed response, nothing parsed.

    Probes send GETs without a body, so each blank line ends one request.
    """

    served = 0

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance here.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._pending + data
        requests = buffer.count(b"\r\n\r\n")
        if requests and self._transport is not None:
            self._pending = buffer[buffer.rfind(b"\r\n\r\n") + 4 :]
            self._transport.write(TARGET_RESPONSE * requests)
            _TargetProtocol.served += requests
        else:
            self._pending = buffer[-65536:]


async def _serve_target(ports: int) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(_TargetProtocol, "127.0.0.1", 0, backlog=1024)
        for _ in range(ports)
    ]
    sys.stdout.write(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
    sys.stdout.write(f"served {_TargetProtocol.served}\n")
    sys.stdout.flush()


def serve_target(ports: int) -> None:
    try:
        import uvloop  # the cheapest loop there is, when installed

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve_target(ports))


# -- processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime, stime


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB: resident now, and the peak since the process started."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def system_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # up to steal; guest time is already inside user
    return (total - idle) / CLOCK_TICK, total / CLOCK_TICK


def stop_process(proc: subprocess.Popen[Any], grace: float = 20.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def start_target(workdir: Path, origins: int) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-target", "--origins", str(origins)],
        stdout=subprocess.PIPE,
        stderr=(workdir / "target.log").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    ports = proc.stdout.readline().split()  # the ports, once it listens
    if len(ports) != origins or not all(p.isdigit() for p in ports):
        stop_process(proc)
        raise SystemExit(f"the target did not start: {(workdir / 'target.log').read_text()}")
    return proc, [int(p) for p in ports]


def write_config(workdir: Path, monitors: int, interval: float, ports: list[int]) -> Path:
    lines = [
        f"store: {{url: 'sqlite:///{workdir}/lightkeeper.db'}}",
        "auth: none",
        "monitors:",
    ]
    every = f"interval: {interval:g}s, timeout: 5s"
    lines.extend(
        f"  - {{name: m{i:05d}, type: http,"
        f" url: 'http://127.0.0.1:{ports[i % len(ports)]}/m/{i}', {every}}}"
        for i in range(monitors)
    )
    path = workdir / "lightkeeper.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_lightkeeper(config: Path, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    log = (workdir / "lightkeeper.log").open("wb")
    return subprocess.Popen(
        [LIGHTKEEPER, "up", "--config", str(config), "--port", str(port)],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_healthy(
    client: httpx.Client, proc: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"lightkeeper up exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if client.get("/healthz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"lightkeeper up did not answer /healthz:\n{log.read_text()[-3000:]}")


# -- figures --------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile (the scheduler's own definition); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Spread:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(
            len(values),
            quantile(values, 0.5),
            quantile(values, 0.95),
            quantile(values, 0.99),
            quantile(values, 1.0),
        )


@dataclass
class IntervalDeviation:
    """|Δts - interval| over consecutive results of each monitor that end in the window.

    Each monitor's very first result is left out: the first round is deliberately
    compressed (spread over at most N/200 s), so its gap to the second is not a slip.
    """

    spread: Spread
    monitors_seen: int
    results_in_window: int
    states_in_window: dict[str, int]
    over_goal: int  # pairs off by more than the goal
    missed_slots: int  # pairs at least 1.5 intervals apart
    failure_reasons: dict[str, int]  # why results in the window were not up, top five
    check_latency_ms: Spread  # as the probes measured it, results in the window
    over_goal_by_10s: dict[int, int]  # pairs over the goal, by 10 s of the window they end in


def interval_deviation(db: Path, start: float, end: float, interval: float) -> IntervalDeviation:
    uri = f"file:{db}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        rows = conn.execute(
            "SELECT monitor_id, ts, state, reason, latency_ms FROM results"
            " WHERE ts <= ? ORDER BY monitor_id, ts",
            (end,),
        ).fetchall()
    by_monitor: dict[int, list[float]] = defaultdict(list)
    states: dict[str, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    latencies: list[float] = []
    for monitor_id, ts, state, reason, latency_ms in rows:
        by_monitor[monitor_id].append(ts)
        if ts >= start:
            states[state] += 1
            if latency_ms is not None:
                latencies.append(latency_ms)
            if state != "up":
                reasons[reason] += 1
    deviations: list[float] = []
    missed = 0
    over: dict[int, int] = defaultdict(int)
    for stamps in by_monitor.values():
        for before, after in itertools.pairwise(stamps[1:]):
            if after < start:
                continue
            gap = after - before
            deviations.append(abs(gap - interval))
            missed += gap >= 1.5 * interval
            if deviations[-1] > GOAL_P99_DEVIATION_S:
                over[int((after - start) // 10 * 10)] += 1
    return IntervalDeviation(
        spread=Spread.of(deviations),
        monitors_seen=len(by_monitor),
        results_in_window=sum(states.values()),
        states_in_window=dict(states),
        over_goal=sum(d > GOAL_P99_DEVIATION_S for d in deviations),
        missed_slots=missed,
        failure_reasons=dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5]),
        check_latency_ms=Spread.of(latencies),
        over_goal_by_10s=dict(sorted(over.items())),
    )


@dataclass
class PageLatency:
    ms: list[float] = field(default_factory=list)
    bytes: int = 0
    errors: list[str] = field(default_factory=list)


def timed_get(client: httpx.Client, path: str, into: PageLatency) -> None:
    started = time.perf_counter()
    try:
        response = client.get(path, timeout=30)
    except httpx.HTTPError as exc:
        into.errors.append(f"{type(exc).__name__}: {exc}")
        return
    took = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        into.errors.append(f"HTTP {response.status_code}")
        return
    into.ms.append(took)
    into.bytes = len(response.content)


# -- the run --------------------------------------------------------------------------


@dataclass
class Machine:
    cpus: int
    cpu_model: str
    python: str
    lightkeeper: str
    load_before: str
    load_after: str = ""


def machine(client_version: str) -> Machine:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return Machine(
        cpus=os.cpu_count() or 0,
        cpu_model=model,
        python=platform.python_version(),
        lightkeeper=client_version,
        load_before=load_average(),
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def git_revision() -> str:
    git = shutil.which("git")
    if git is None:
        return "?"
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"
    return f"{rev}{' + uncommitted src changes' if dirty else ''}"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lk-bench-"))
    target: subprocess.Popen[str] | None = None
    server: subprocess.Popen[bytes] | None = None
    report: dict[str, Any] = {}
    try:
        target, target_ports = start_target(workdir, args.origins)
        config = write_config(workdir, args.monitors, args.interval, target_ports)
        port = free_port()
        version = subprocess.run(
            [LIGHTKEEPER, "version"], capture_output=True, text=True
        ).stdout.strip()
        report["machine"] = asdict(machine(f"{version} ({git_revision()})"))
        report["setup"] = {
            "monitors": args.monitors,
            "interval_s": args.interval,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "origins": args.origins,
            "workdir": str(workdir),
        }
        print(
            f"{args.monitors} monitors at {args.interval:g}s against 127.0.0.1:{target_ports[0]}"
            f"{f' and {len(target_ports) - 1} more ports' if len(target_ports) > 1 else ''};"
            f" lightkeeper on :{port}; workdir {workdir}",
            flush=True,
        )

        launched = time.monotonic()
        server = start_lightkeeper(config, port, workdir)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        wait_healthy(client, server, workdir / "lightkeeper.log", timeout=120)
        report["startup_s"] = round(time.monotonic() - launched, 2)
        report["rss_after_start_mb"] = round(memory_mb(server.pid)[0], 1)
        print(f"up after {report['startup_s']} s; warming up for {args.warmup:g} s", flush=True)
        run_until(time.monotonic() + args.warmup, server)

        report.update(measure_window(args, client, server, target.pid))
        report["machine"]["load_after"] = load_average()
        client.close()

        stop_process(server)  # a clean stop flushes the last batch of results
        report["lightkeeper_exit_code"] = server.returncode
        deviation = interval_deviation(
            workdir / "lightkeeper.db",
            report["window"]["wall_start"],
            report["window"]["wall_end"],
            args.interval,
        )
        report["interval_deviation"] = asdict(deviation)
    finally:
        if server is not None:
            stop_process(server)
        if target is not None:
            stop_process(target, grace=5)
            out = target.stdout.read() if target.stdout else ""
            report["target_served"] = next(
                (int(w.split()[1]) for w in out.splitlines() if w.startswith("served")), None
            )
        if args.keep:
            print(f"kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def run_until(deadline: float, server: subprocess.Popen[bytes]) -> None:
    while (left := deadline - time.monotonic()) > 0:
        if server.poll() is not None:
            raise SystemExit(f"lightkeeper up exited during the run (code {server.returncode})")
        time.sleep(min(1.0, left))


def measure_window(
    args: argparse.Namespace,
    client: httpx.Client,
    server: subprocess.Popen[bytes],
    target_pid: int,
) -> dict[str, Any]:
    pid = server.pid
    before = client.get("/api/v1/scheduler").json()
    busy0, total0 = system_busy()
    cpu0, target0 = cpu_seconds(pid), cpu_seconds(target_pid)
    wall0, mono0 = time.time(), time.monotonic()
    end = mono0 + args.duration

    pages = {label: PageLatency() for label in PAGES}
    rss: list[float] = []
    request_cpu = 0.0  # Lightkeeper CPU while a page request was in flight
    request_wall = 0.0
    rounds = max(1, args.requests)
    every = args.duration / rounds
    next_round = mono0 + every / 2
    while (now := time.monotonic()) < end:
        if server.poll() is not None:
            raise SystemExit(f"lightkeeper up exited during the run (code {server.returncode})")
        rss.append(memory_mb(pid)[0])
        if now >= next_round:
            next_round += every
            for label, path in PAGES.items():
                c, w = cpu_seconds(pid), time.monotonic()
                timed_get(client, path, pages[label])
                request_cpu += cpu_seconds(pid) - c
                request_wall += time.monotonic() - w
        time.sleep(max(0.0, min(1.0, end - time.monotonic(), next_round - time.monotonic())))

    cpu1, target1 = cpu_seconds(pid), cpu_seconds(target_pid)
    mono1, wall1 = time.monotonic(), time.time()
    busy1, total1 = system_busy()
    rss_now, hwm = memory_mb(pid)
    after = client.get("/api/v1/scheduler").json()

    elapsed = mono1 - mono0
    cpu = cpu1 - cpu0
    checks = after["checks_started"] - before["checks_started"]
    # Page requests are served by the same process; estimate what the checks alone cost
    # by taking out the CPU used while requests were in flight, beyond the check rate.
    background_rate = (cpu - request_cpu) / max(1e-9, elapsed - request_wall)
    pages_cpu = max(0.0, request_cpu - background_rate * request_wall)
    # /proc/stat counts every core: busy share of all cores times the cores = cores busy.
    machine_cores = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)
    target_cpu = target1 - target0
    return {
        "window": {"wall_start": wall0, "wall_end": wall1, "elapsed_s": round(elapsed, 2)},
        "checks": checks,
        "checks_per_s": checks / elapsed,
        "slots_skipped": after["slots_skipped"] - before["slots_skipped"],
        "cpu_s": cpu,
        "cpu_pct_one_core": cpu / elapsed * 100,
        "cpu_ms_per_check": cpu / checks * 1000 if checks else None,
        "page_requests_cpu_s": pages_cpu,
        "cpu_ms_per_check_without_pages": (cpu - pages_cpu) / checks * 1000 if checks else None,
        "machine_busy_cores": machine_cores,
        "target_cpu_s": target_cpu,
        "other_processes_cores": max(0.0, machine_cores - (cpu + target_cpu) / elapsed),
        "rss_mb": {"median": quantile(rss, 0.5), "max": max([*rss, rss_now]), "end": rss_now},
        "rss_peak_vmhwm_mb": hwm,
        "scheduler": after,
        "pages": {
            label: {
                "ms": Spread.of(p.ms).__dict__,
                "bytes": p.bytes,
                "errors": p.errors[:5],
                "error_count": len(p.errors),
            }
            for label, p in pages.items()
        },
    }


# -- the report -----------------------------------------------------------------------


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else "ok" if ok else "MISSED"


def render(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["setup"]
    dev = report["interval_deviation"]["spread"]
    sched = report["scheduler"]
    rss = report["rss_mb"]
    per_check = report["cpu_ms_per_check"]
    rows: list[tuple[str, str, str, str, str]] = [
        (
            "checks/s",
            fmt(report["checks_per_s"], digits=1),
            fmt(KUMA_CHECKS_PER_S, digits=0),
            "",
            "",
        ),
        (
            "CPU, % of one core",
            fmt(report["cpu_pct_one_core"], " %", 1),
            fmt(KUMA_CPU_PCT, " %", 0),
            "",
            "",
        ),
        (
            "CPU per check",
            fmt(per_check, " ms"),
            fmt(KUMA_CPU_MS_PER_CHECK, " ms"),
            f"≤ {KUMA_CPU_MS_PER_CHECK:.2f} ms",
            verdict(None if per_check is None else per_check <= KUMA_CPU_MS_PER_CHECK),
        ),
        (
            "  same, page requests taken out",
            fmt(report["cpu_ms_per_check_without_pages"], " ms"),
            "(no dashboard)",
            "",
            "",
        ),
        (
            "RSS in window, max (median)",
            f"{rss['max']:.0f} MB ({rss['median']:.0f})",
            f"{KUMA_RSS_MB} MB",
            f"≤ {GOAL_RSS_MB:.0f} MB",
            verdict(rss["max"] <= GOAL_RSS_MB),
        ),
        ("RSS peak since start (VmHWM)", f"{report['rss_peak_vmhwm_mb']:.0f} MB", "", "", ""),
        (
            "interval deviation p50 / p99",
            f"{fmt(dev['p50'], ' s', 3)} / {fmt(dev['p99'], ' s', 3)}",
            f"p99 {KUMA_P99_DEVIATION_S:.2f} s",
            f"p99 ≤ {GOAL_P99_DEVIATION_S} s",
            verdict(None if dev["p99"] is None else dev["p99"] <= GOAL_P99_DEVIATION_S),
        ),
        ("  max; pairs", f"{fmt(dev['max'], ' s', 3)}; {dev['count']}", "", "", ""),
        (
            "start deviation p50 / p99 / max",
            f"{fmt(sched['deviation_p50_s'], '', 3)} / {fmt(sched['deviation_p99_s'], '', 3)}"
            f" / {fmt(sched['deviation_max_s'], ' s', 3)}",
            "",
            "",
            "",
        ),
    ]
    for label, page in report["pages"].items():
        ms = page["ms"]
        ok = None if ms["max"] is None else ms["max"] <= GOAL_PAGE_MS and not page["error_count"]
        rows.append(
            (
                f"{label} p50/p95/max",
                f"{fmt(ms['p50'], '', 1)} / {fmt(ms['p95'], '', 1)} / {fmt(ms['max'], ' ms', 1)}",
                "",
                f"≤ {GOAL_PAGE_MS:.0f} ms",
                verdict(ok),
            )
        )
    head = ("", "Lightkeeper", "Uptime Kuma 2.5.3", "goal", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    line = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - widths known at run time
    table = [line.format(*head), line.format(*("-" * w for w in widths))]
    table += [line.format(*r) for r in rows]
    iv = report["interval_deviation"]
    lat = iv["check_latency_ms"]
    notes = [
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}; Python {m['python']}; {m['lightkeeper']}",
        f"load average before {m['load_before']}, after {m['load_after']};"
        f" during the window the machine was busy {report['machine_busy_cores']:.2f} cores,"
        f" {report['other_processes_cores']:.2f} of them other processes",
        f"run: {s['monitors']} HTTP monitors at {s['interval_s']:g} s, timeout 5 s, SQLite,"
        f" {s.get('origins', 1)} target origin(s);"
        f" up in {report['startup_s']} s (RSS {report['rss_after_start_mb']} MB);"
        f" warm-up {s['warmup_s']:g} s; window {report['window']['elapsed_s']} s",
        f"checks in window {report['checks']} ({report['slots_skipped']} slots skipped);"
        f" results {iv['results_in_window']} {iv['states_in_window']};"
        f" pairs > {GOAL_P99_DEVIATION_S} s: {iv['over_goal']}; missed slots: {iv['missed_slots']}",
        f"check latency (probe-measured) p50/p99/max {fmt(lat['p50'], '', 1)} /"
        f" {fmt(lat['p99'], '', 1)} / {fmt(lat['max'], ' ms', 1)};"
        f" target served {report.get('target_served')} requests, {report['target_cpu_s']:.1f} s"
        " CPU in the window (not counted above)",
        "interval deviation: |Δts - interval| between consecutive results per monitor in the"
        " window (ts is stamped when a check ends, so it includes latency jitter);",
        "start deviation: the scheduler's own start-vs-slot delay over its last 50,000 starts"
        " (/api/v1/scheduler), in seconds.",
        f"CPU counts ~{sum(p['ms']['count'] for p in report['pages'].values())} page requests"
        f" served in the window (≈ {report['page_requests_cpu_s']:.2f} s of CPU).",
    ]
    failures = sum(n for state, n in iv["states_in_window"].items() if state != "up")
    if failures:
        notes.append(
            f"WARNING: {failures} results in the window were not up, so the run does not show"
            f" a healthy fleet: {iv['failure_reasons']}"
        )
    return "\n".join([*table, "", *notes])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--monitors", type=int, default=10_000, help="how many (default 10000)")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--duration", type=float, default=180.0, help="measured seconds")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before measuring (default: interval + 10, the first round is compressed)",
    )
    parser.add_argument(
        "--origins",
        type=int,
        default=1,
        help="target ports the monitors are spread over (default 1); many origins are like"
        " monitoring many hosts, where keep-alive connections are rarely reused",
    )
    parser.add_argument("--requests", type=int, default=30, help="requests per page measured")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve-target", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = args.interval + 10.0
    if args.warmup < args.interval:
        parser.error("--warmup must be at least one interval (the first round is compressed)")
    return args


def main(argv: Sequence[str] | None = None, out: Callable[[str], Any] = print) -> None:
    args = parse_args(argv)
    if args.serve_target:
        serve_target(args.origins)
        return
    report = measure(args)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = RESULTS_DIR / f"monitors-{args.monitors}x{args.interval:g}s-{stamp}.json"
    raw.write_text(json.dumps(report, indent=2) + "\n")
    out("")
    out(render(report))
    out(f"raw figures: {raw}")


if __name__ == "__main__":
    main()
