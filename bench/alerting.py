"""Benchmark: deciding and telling — rule evaluation, for-to-webhook latency, outbox rate.

Three parts, each printed beside its anchor and goal:

1. **Evaluation** (in this process): N rules over N signals (one rule per series, a mix
   of ``max(…) over 1m``, ``p95(…) over 5m`` and ``monitor_down{…} == 1``), the cycle
   time and CPU of ``Engine.evaluate``; the same for ONE rule over N series; and the
   whole ``Alerting.tick`` on a real SQLite store while 1 % of the alerts change state.
2. **Latency** (a real ``lightkeeper up``): K HTTP monitors against a target in another
   process, one rule each (``for`` ≈ 2 s), a JSON webhook receiver in a third process
   that stamps arrivals; targets fail and recover in rounds. For each alert: arrival −
   (pending_since + for). Alertmanager's default group_wait (30 s) is the anchor.
3. **Outbox** (in this process): notifications through ``Outbox.run`` and the real
   Apprise sender to a receiver process, on one channel and on four at once; and a few
   e-mails to a local SMTP sink, where Apprise's own throttle sets the pace.

    .venv/bin/python bench/alerting.py --rules 10000

Everything stays on 127.0.0.1; every wait is bounded. Raw figures go to bench/results/.
"""

from __future__ import annotations

import sys

# This directory holds secrets.py (the secret-scanner benchmark): first on the search path it
# would stand in for the standard library's `secrets`, which pydantic imports. Last, it won't.
sys.path.append(sys.path.pop(0))

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import httpx

from monitors import (
    LIGHTKEEPER,
    RESULTS_DIR,
    Spread,
    cpu_seconds,
    fmt,
    free_port,
    git_revision,
    load_average,
    machine,
    stop_process,
    system_busy,
    verdict,
    wait_healthy,
)

# The goal: from a rule's `for` elapsing to the webhook receiving the message.
GOAL_LATENCY_S = 1.0
# Alertmanager's default group_wait: a new group waits this long before its first
# notification, after Prometheus' evaluation (default evaluation_interval 1m) sent it.
AM_GROUP_WAIT_S = 30.0
AM_EVALUATION_INTERVAL_S = 60.0
# Rules are evaluated after every write of results, by default every second, on the
# event loop: a cycle that takes longer than that falls behind and delays checks.
CADENCE_S = 1.0

LATENCY_THRESHOLD_MS = 3000.0
TITLE = re.compile(r"^\[(FIRING|RESOLVED)[^\]]*\] (\S+)")


def monitor_name(i: int) -> str:
    return f"m{i:05d}"


# -- helper processes: a target that fails on command, a receiver that stamps arrivals ----


class _SwitchTarget(asyncio.Protocol):
    """``GET /m/<i>``: 200, or 500 while monitor i is failing. Keep-alive, nothing else."""

    failing: set[int] = set()  # one target per process

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        out = []
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
            path = head.split(b"\r\n", 1)[0].split(b" ")[1]
            tail = path.rsplit(b"/", 1)[-1]
            bad = tail.isdigit() and int(tail) in _SwitchTarget.failing
            body = b'{"status":"error"}' if bad else b'{"status":"healthy"}'
            status = b"500 Internal Server Error" if bad else b"200 OK"
            out.append(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


class _Receiver(asyncio.Protocol):
    """Takes POSTs with a Content-Length body, answers 200 and appends
    ``[time.time(), path, title]`` to a file, one JSON line per message."""

    log: Any = None

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return  # the rest of the body is on its way
            body = self._buffer[end + 4 : end + 4 + length]
            self._buffer = self._buffer[end + 4 + length :]
            arrived = time.time()
            path = head.split(" ", 2)[1]
            try:
                title = str(json.loads(body).get("title", ""))
            except ValueError:
                title = ""
            _Receiver.log.write(json.dumps([arrived, path, title]) + "\n")
            _Receiver.log.flush()
            if self._transport is not None:
                self._transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def _serve(kind: str, arg: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if kind == "target":
        server = await loop.create_server(_SwitchTarget, "127.0.0.1", 0, backlog=1024)

        def command() -> None:  # "fail 1 2 3" / "ok 1 2 3" on stdin, answered "done"
            line = sys.stdin.readline()
            if not line:
                stop.set()
                return
            verb, *ids = line.split()
            chosen = {int(i) for i in ids}
            if verb == "fail":
                _SwitchTarget.failing |= chosen
            else:
                _SwitchTarget.failing -= chosen
            sys.stdout.write("done\n")
            sys.stdout.flush()

        loop.add_reader(sys.stdin.fileno(), command)
    else:
        _Receiver.log = Path(arg).open("a")  # noqa: SIM115 - open for the process' life
        server = await loop.create_server(_Receiver, "127.0.0.1", 0, backlog=1024)
    sys.stdout.write(f"{server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    await stop.wait()
    server.close()


def serve(kind: str, arg: str) -> None:
    try:
        import uvloop  # the cheapest loop there is, when installed

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(kind, arg))


def start_helper(workdir: Path, *argv: str) -> tuple[subprocess.Popen[str], int]:
    """This script in another process (``--serve …``); returns it and the port it took."""
    name = argv[1]
    proc = subprocess.Popen(
        [sys.executable, __file__, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(workdir / f"{name}.log").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    if not port.isdigit():
        stop_process(proc, grace=5)
        raise SystemExit(f"the {name} did not start: {(workdir / f'{name}.log').read_text()}")
    return proc, int(port)


def start_smtp_sink(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """aiosmtpd's Sink handler (accepts and drops every message) in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "smtp.log").open("w"),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return proc, port
        time.sleep(0.1)
    stop_process(proc, grace=5)
    raise SystemExit(f"the SMTP sink did not start: {(workdir / 'smtp.log').read_text()}")


class Arrivals:
    """Reads the receiver's file as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def poll(self) -> list[tuple[float, str, str]]:
        with self.path.open() as f:
            f.seek(self._offset)
            text = f.read()
        complete = text[: text.rfind("\n") + 1]
        self._offset += len(complete.encode())
        return [cast(tuple[float, str, str], tuple(json.loads(x))) for x in complete.splitlines()]

    def collect(
        self, status: str, rules: set[str], timeout: float, what: str, extra: list[str]
    ) -> dict[str, float]:
        """Wait until every rule's ``status`` message arrived: rule → arrival time.
        Any other message (a duplicate, a late one) goes to ``extra``."""
        got: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(rules):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what} ({len(got)} came)")
            for ts, _, title in self.poll():
                m = TITLE.match(title)
                if m and m[1] == status and m[2] in rules and m[2] not in got:
                    got[m[2]] = ts
                else:
                    extra.append(title)
            time.sleep(0.02)
        return got


# -- part 1: evaluation -------------------------------------------------------------------


def rule_expr(i: int) -> str:
    m = monitor_name(i)
    kind = i % 3
    if kind == 0:
        return f'max(probe_latency_ms{{monitor="{m}"}}) over 1m > {LATENCY_THRESHOLD_MS:g}'
    if kind == 1:
        return f'p95(probe_latency_ms{{monitor="{m}"}}) over 5m > {LATENCY_THRESHOLD_MS:g}'
    return f'monitor_down{{monitor="{m}"}} == 1'


def rule_dicts(n: int, services: int = 0) -> list[dict[str, Any]]:
    """One rule per series; with ``services``, each carries one of that many ``service``
    labels, which is what incidents group by (without it, every critical alert joins
    one incident)."""
    return [
        {
            "name": f"r{i:05d}",
            "severity": "critical" if i % 3 == 2 else "warning",
            "expr": rule_expr(i),
            "for": "0s" if i % 3 == 2 else "5m",
            "labels": {"service": f"s{i % services:03d}"} if services else {},
            "annotations": {"summary": "{{ labels.monitor }} at {{ value }}"},
        }
        for i in range(n)
    ]


class Feed:
    """Samples as monitors would write them: each series every ``period`` seconds."""

    def __init__(
        self,
        record: Callable[[str, dict[str, str], float, float], None],
        n: int,
        only_down: bool = False,
    ) -> None:
        self.record = record
        self.n = n
        self.only_down = only_down  # every series is monitor_down (the one-rule case)
        self.rng = random.Random(7)
        self.down: set[int] = set()

    def sample(self, i: int, ts: float) -> None:
        labels = {"monitor": monitor_name(i), "type": "http"}
        if self.only_down or i % 3 == 2:
            self.record("monitor_down", labels, 1.0 if i in self.down else 0.0, ts)
        else:
            self.record("probe_latency_ms", labels, self.rng.lognormvariate(4.0, 0.5), ts)

    def history(self, now: float, minutes: float, period: int) -> int:
        count = 0
        for step in range(int(minutes * 60) // period, 0, -1):
            ts = now - step * period
            for i in range(self.n):
                self.sample(i, ts + (i % period))
                count += 1
        return count

    def second(self, now: float, tick: int, period: int) -> None:
        for i in range(tick % period, self.n, period):
            self.sample(i, now)


@dataclass
class Cycles:
    count: int
    wall_ms: Spread
    cpu_ms: Spread
    cpu_ms_mean: float
    stopped_by_budget: bool
    full_gc: int  # full (generation 2) collections inside measured cycles
    full_gc_max_ms: float | None


class CycleTimer:
    """Wall and CPU time of each measured cycle, and the full garbage collections that
    ran inside them (the store's minutes are many small objects; a full collection walks
    them all)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.full_gc_ms: list[float] = []
        self._measuring = False
        self._gc_started = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._measuring and info["generation"] == 2:
            self.full_gc_ms.append((time.perf_counter() - self._gc_started) * 1000)

    @contextlib.contextmanager
    def cycle(self, counted: bool = True) -> Iterator[None]:
        gc.callbacks.append(self._on_gc)
        self._measuring = counted
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            if counted:
                self.cpu.append(time.process_time() - c)
                self.wall.append(time.perf_counter() - w)
            self._measuring = False
            gc.callbacks.remove(self._on_gc)

    def result(self, wanted: int) -> Cycles:
        return Cycles(
            len(self.wall),
            Spread.of([w * 1000 for w in self.wall]),
            Spread.of([c * 1000 for c in self.cpu]),
            sum(self.cpu) / len(self.cpu) * 1000 if self.cpu else 0.0,
            len(self.wall) < wanted,
            len(self.full_gc_ms),
            max(self.full_gc_ms, default=None),
        )


def time_engine(engine: Any, feed: Feed, now: float, args: argparse.Namespace) -> Cycles:
    """Engine.evaluate once a second (of the engine's time), new samples in between."""
    timer = CycleTimer()
    budget_end = time.monotonic() + args.budget
    engine.evaluate(now)  # warm-up: the first cycle builds the alert map
    tick = 0
    while len(timer.wall) < args.cycles and time.monotonic() < budget_end:
        tick += 1
        feed.second(now + tick, tick, args.period)
        with timer.cycle():
            engine.evaluate(now + tick)
    return timer.result(args.cycles)


def measure_engine(args: argparse.Namespace, now: float) -> dict[str, Any]:
    from lightkeeper.rules.engine import Engine, RuleConfig
    from lightkeeper.rules.signals import SignalStore

    n = args.rules
    report: dict[str, Any] = {}

    built = time.perf_counter()
    rules = [RuleConfig.model_validate(d) for d in rule_dicts(n)]
    engine = Engine(rules, SignalStore())
    engine.signals = SignalStore(keep=engine.lookback() + 120, names=engine.signal_names())
    feed = Feed(engine.signals.record, n)
    samples = feed.history(now, args.minutes, args.period)
    report["setup"] = {
        "rules": n,
        "series": len(engine.signals.series),
        "samples": samples,
        "built_s": round(time.perf_counter() - built, 2),
    }
    print(
        f"  {n} rules over {len(engine.signals.series)} series, {samples} samples"
        f" ({report['setup']['built_s']} s to build); cycles…",
        flush=True,
    )
    report["per_series"] = asdict(time_engine(engine, feed, now, args))

    site_down = {"name": "site-down", "severity": "critical", "expr": "monitor_down == 1"}
    one = Engine([RuleConfig.model_validate(site_down)], SignalStore())
    one.signals = SignalStore(keep=one.lookback() + 120, names=one.signal_names())
    feed_one = Feed(one.signals.record, n, only_down=True)
    feed_one.history(now, args.minutes, args.period)
    report["one_rule_series"] = len(one.signals.series)
    report["one_rule"] = asdict(time_engine(one, feed_one, now, args))
    return report


async def _ticks(alerting: Any, clock: Any, feed: Feed, args: argparse.Namespace) -> Cycles:
    """Alerting.tick once a second; each second ``change`` of the alerts change state."""
    downs = list(range(2, args.rules, 3))
    flips = max(1, round(args.rules * args.change / 2))  # as many fire as resolve
    hold = 10  # seconds a series stays down
    if flips * (hold + 1) > len(downs):
        raise SystemExit("--change is too large for the number of monitor_down rules")
    rng = random.Random(11)
    rng.shuffle(downs)
    healthy = deque(downs)
    bad: deque[tuple[int, int]] = deque()  # (monitor, tick it went down)
    timer = CycleTimer()
    budget_end = time.monotonic() + args.budget
    warmup = hold + 2  # until as many resolve per second as fire
    tick = 0
    while len(timer.wall) < args.ticks and time.monotonic() < budget_end:
        tick += 1
        clock.advance(1.0)
        now = clock.now()
        while bad and bad[0][1] <= tick - hold:
            i, _ = bad.popleft()
            feed.down.discard(i)
            healthy.append(i)
            feed.sample(i, now)
        for _ in range(flips):
            i = healthy.popleft()
            feed.down.add(i)
            bad.append((i, tick))
            feed.sample(i, now)
        feed.second(now, tick, args.period)
        with timer.cycle(counted=tick > warmup):
            await alerting.tick()
    return timer.result(args.ticks)


def measure_tick(
    args: argparse.Namespace, now: float, workdir: Path, incidents: bool
) -> dict[str, Any]:
    """The whole decide step on a real SQLite store: evaluate, route, commit, outbox rows
    (and, with ``incidents``, open and join incidents for the critical alerts)."""
    from sqlalchemy import func, select

    from lightkeeper.clock import ManualClock
    from lightkeeper.config import LightkeeperConfig
    from lightkeeper.notify.outbox import Outbox
    from lightkeeper.rules.alerting import Alerting
    from lightkeeper.store import Store
    from lightkeeper.store.tables import outbox

    config = LightkeeperConfig.model_validate(
        {
            "store": {"url": f"sqlite:///{workdir}/tick-{incidents}.db"},
            "channels": {"hook": {"url": "json://127.0.0.1:9/never-sent"}},
            "alerts": rule_dicts(args.rules, args.services),
            "incidents": {"enabled": incidents},
            # group_interval 1s: a resolve is told at the tick it happens, so every
            # state change in the window costs its whole price (default: within 1m).
            "routing": {"group_interval": "1s", "routes": [{"channels": ["hook"]}]},
        }
    )
    store = Store(config.store.url)
    store.migrate()
    clock = ManualClock(now)
    box = Outbox(store, config.channels, clock)  # rows are written, never delivered here
    alerting = Alerting(config, store, clock, box)
    alerting.open()
    feed = Feed(alerting.signals.record, args.rules)
    feed.history(now, args.minutes, args.period)
    print(
        f"  Alerting.tick on SQLite, {args.change:.0%} of alerts changing per second,"
        f" incidents {'on' if incidents else 'off'}…",
        flush=True,
    )
    cycles = asyncio.run(_ticks(alerting, clock, feed, args))
    with store.engine.connect() as conn:
        rows = int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())
    active = len(alerting.engine.active())
    store.close()
    return {"cycles": asdict(cycles), "outbox_rows": rows, "active_alerts_at_end": active}


# -- part 2: latency in a real `lightkeeper up` ---------------------------------------------


def rule_for(i: int, args: argparse.Namespace) -> float:
    """Spread over [for, for + spread) so the evaluation cadence is met at every phase."""
    steps = 10
    return round(float(args.for_) + float(args.for_spread) * (i % steps) / steps, 3)


def latency_config(workdir: Path, args: argparse.Namespace, target: int, receiver: int) -> Path:
    k = args.monitors
    lines = [
        f"store: {{url: 'sqlite:///{workdir}/lightkeeper.db'}}",
        "auth: none",
    ]
    if args.write_interval is not None:
        lines.append(f"scheduler: {{write_interval: {args.write_interval:g}s}}")
    lines.append("monitors:")
    lines += [
        f"  - {{name: {monitor_name(i)}, type: http, url: 'http://127.0.0.1:{target}/m/{i}',"
        " interval: 1s, timeout: 1s, failures_before_down: 1}"
        for i in range(k)
    ]
    lines += ["channels:", f"  hook: {{url: 'json://127.0.0.1:{receiver}/alerts'}}", "alerts:"]
    lines += [
        f"  - {{name: down-{monitor_name(i)}, severity: critical,"
        f" expr: 'monitor_down{{monitor=\"{monitor_name(i)}\"}} == 1', for: {rule_for(i, args):g}s,"
        " annotations: {summary: '{{ labels.monitor }} is down', runbook: runbooks/site-down.md}}"
        for i in range(k)
    ]
    # group_interval 1s: the resolve of a round arrives before the next round starts (a
    # new group's first message waits only for group_wait, 0s by default, either way).
    lines += ["routing:", "  group_interval: 1s", "  routes:", "    - {channels: [hook]}"]
    path = workdir / "lightkeeper.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def command(target: subprocess.Popen[str], verb: str, ids: Sequence[int]) -> float:
    """Tell the target to fail or recover these monitors; the time it took effect."""
    assert target.stdin is not None
    assert target.stdout is not None
    target.stdin.write(f"{verb} {' '.join(map(str, ids))}\n")
    target.stdin.flush()
    if target.stdout.readline().strip() != "done":
        raise SystemExit("the target stopped answering")
    return time.time()


def measure_latency(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lk-bench-alerting-"))
    procs: list[subprocess.Popen[Any]] = []
    server: subprocess.Popen[bytes] | None = None
    report: dict[str, Any] = {"workdir": str(workdir)}
    try:
        target, target_port = start_helper(workdir, "--serve", "target", "-")
        procs.append(target)
        arrivals_file = workdir / "arrivals.jsonl"
        arrivals_file.touch()
        receiver, receiver_port = start_helper(workdir, "--serve", "receiver", str(arrivals_file))
        procs.append(receiver)
        config = latency_config(workdir, args, target_port, receiver_port)
        port = free_port()
        log = (workdir / "lightkeeper.log").open("wb")
        server = subprocess.Popen(
            [LIGHTKEEPER, "up", "--config", str(config), "--port", str(port)],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        wait_healthy(client, server, workdir / "lightkeeper.log", timeout=60)
        k = args.monitors
        wait_for(
            lambda: client.get("/api/v1/monitors", params={"state": "up"}).json()["total"] == k,
            30,
            "every monitor up",
        )
        fors = {f"down-{monitor_name(i)}": rule_for(i, args) for i in range(k)}
        arrivals = Arrivals(arrivals_file)
        samples: list[dict[str, Any]] = []
        resolves: list[float] = []
        warmup: list[float] = []
        extra: list[str] = []
        cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
        # Round 0 warms up and is not counted: the first message after start loads
        # Apprise's plugins (a few hundred ms, once).
        for round_no in range(-1, args.rounds):
            if server.poll() is not None:
                raise SystemExit(f"lightkeeper up exited (code {server.returncode})")
            # Odd rounds: every target fails at once (one outage, K alerts together).
            # Even rounds: one after another over --stagger seconds (a few per tick).
            mode = "burst" if round_no < 0 or round_no % 2 == 0 else "staggered"
            if mode == "burst":
                flipped = dict.fromkeys(range(k), command(target, "fail", range(k)))
            else:
                flipped = {}
                start = time.monotonic()
                for i in range(k):
                    time.sleep(max(0.0, start + i * args.stagger / k - time.monotonic()))
                    flipped[i] = command(target, "fail", [i])
            what = f"round {round_no + 1}: {k} firing messages"
            firing = arrivals.collect("FIRING", set(fors), 60, what, extra)
            items = client.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
            for item in items:
                rule = item["rule"]
                if rule not in firing:
                    continue
                if round_no < 0:
                    warmup.append(firing[rule] - item["pending_since"] - fors[rule])
                    continue
                due = item["pending_since"] + fors[rule]
                samples.append(
                    {
                        "round": round_no + 1,
                        "mode": mode,
                        "rule": rule,
                        "for_s": fors[rule],
                        "latency_s": firing[rule] - due,
                        "evaluation_wait_s": item["fired_at"] - due,
                        "delivery_s": firing[rule] - item["fired_at"],
                        "since_flip_s": firing[rule] - flipped[int(rule.rsplit("m", 1)[1])],
                    }
                )
            recovered = command(target, "ok", range(k))
            what = f"round {round_no + 1}: {k} resolve messages"
            resolved = arrivals.collect("RESOLVED", set(fors), 60, what, extra)
            if round_no >= 0:
                resolves += [ts - recovered for ts in resolved.values()]
            wait_for(
                lambda: client.get("/api/v1/alerts").json()["total"] == 0, 30, "no active alerts"
            )
            time.sleep(1.5)  # past group_interval, so the next round's groups are new
            done = "warm-up" if round_no < 0 else f"{round_no + 1}/{args.rounds} ({mode})"
            print(f"  round {done}: {k} firing, {k} resolved", flush=True)
        report["lightkeeper_cpu_pct"] = (
            (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - wall0) * 100
        )
        client.close()
        latencies = [s["latency_s"] for s in samples]
        report.update(
            {
                "monitors": k,
                "rounds": args.rounds,
                "for_s": sorted(set(fors.values())),
                "write_interval_s": args.write_interval,
                "alerts": len(samples),
                "latency_s": asdict(Spread.of(latencies)),
                "latency_by_mode_s": {
                    mode: asdict(Spread.of([s["latency_s"] for s in samples if s["mode"] == mode]))
                    for mode in ("burst", "staggered")
                },
                "evaluation_wait_s": asdict(Spread.of([s["evaluation_wait_s"] for s in samples])),
                "delivery_s": asdict(Spread.of([s["delivery_s"] for s in samples])),
                "since_flip_s": asdict(Spread.of([s["since_flip_s"] for s in samples])),
                "resolve_since_recovery_s": asdict(Spread.of(resolves)),
                "warmup_latency_s": asdict(Spread.of(warmup)),
                "unexpected_messages": extra[:20],
                "unexpected_count": len(extra),
                "samples": samples,
            }
        )
    finally:
        if server is not None:
            stop_process(server)
        for proc in procs:
            stop_process(proc, grace=5)
        if args.keep:
            print(f"  kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


# -- part 3: outbox throughput --------------------------------------------------------------


def notification(channel: str, i: int) -> Any:
    from lightkeeper.notify.message import Notification

    m = monitor_name(i)
    body = (
        f"FIRING down-{m} (critical) — monitor={m}, type=http\n  {m} is down\n"
        f'  value 1, threshold 1: monitor_down{{monitor="{m}"}} == 1\n'
        "  since 2026-11-27 12:00:00 UTC\n  runbook: http://lk.example/runbooks/site-down\n"
        f"  dashboard: http://lk.example/ui/monitors/{m}"
    )
    return Notification(
        channel,
        "firing",
        f"bench-{i}",
        f"[FIRING:1] down-{m} (critical)",
        body,
        {"value": 1.0, "threshold": 1.0, "severity": "critical", "monitor": m},
    )


async def _drain(box: Any, expected: int, timeout: float) -> float:
    """Run the outbox until ``expected`` rows are no longer pending; the seconds it took."""
    started = time.perf_counter()
    runner = asyncio.create_task(box.run())
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            counts = await asyncio.to_thread(box.counts)
            if counts.pending == 0:
                break
        return time.perf_counter() - started
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        box.close()


def outbox_run(
    workdir: Path, name: str, urls: dict[str, str], per_channel: int, timeout: float
) -> dict[str, Any]:
    from sqlalchemy import func, select

    from lightkeeper.clock import SystemClock
    from lightkeeper.notify.channels import ChannelConfig
    from lightkeeper.notify.outbox import SENT, Outbox
    from lightkeeper.store import Store
    from lightkeeper.store.tables import outbox

    store = Store(f"sqlite:///{workdir}/{name}.db")
    store.migrate()
    channels = {c: ChannelConfig(url=u) for c, u in urls.items()}
    box = Outbox(store, channels, SystemClock())
    rows = [notification(c, i) for i in range(per_channel) for c in channels]
    box.enqueue(rows)
    total = len(rows)
    c0 = time.process_time()
    seconds = asyncio.run(_drain(box, total, timeout))
    cpu = time.process_time() - c0
    with store.engine.connect() as conn:
        by_status: dict[str, int] = dict(
            conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        )
        first, last = conn.execute(
            select(func.min(outbox.c.sent_at), func.max(outbox.c.sent_at))
        ).one()
    store.close()
    sent = int(by_status.get(SENT, 0))
    return {
        "channels": len(channels),
        "notifications": total,
        "sent": sent,
        "statuses": {str(k): int(v) for k, v in by_status.items()},
        "seconds": seconds,
        "per_s": sent / seconds if seconds else None,
        "between_first_and_last_sent_s": (last - first) if sent > 1 else None,
        "cpu_s": cpu,
        "cpu_ms_per_notification": cpu / sent * 1000 if sent else None,
    }


def measure_outbox(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lk-bench-outbox-"))
    procs: list[subprocess.Popen[Any]] = []
    report: dict[str, Any] = {}
    try:
        arrivals_file = workdir / "arrivals.jsonl"
        arrivals_file.touch()
        receiver, port = start_helper(workdir, "--serve", "receiver", str(arrivals_file))
        procs.append(receiver)
        n = args.notifications
        print(f"  {n} notifications, one JSON channel…", flush=True)
        report["one_channel"] = outbox_run(
            workdir, "one", {"hook": f"json://127.0.0.1:{port}/c0"}, n, args.budget
        )
        print(f"  {n} notifications over {args.channels} JSON channels…", flush=True)
        report["channels"] = outbox_run(
            workdir,
            "many",
            {f"hook{c}": f"json://127.0.0.1:{port}/c{c}" for c in range(args.channels)},
            n // args.channels,
            args.budget,
        )
        report["receiver_got"] = len(Arrivals(arrivals_file).poll())
        if args.mail:
            smtp, smtp_port = start_smtp_sink(workdir)
            procs.append(smtp)
            print(f"  {args.mail} e-mails to a local SMTP sink (Apprise throttles)…", flush=True)
            url = (
                f"mailto://lightkeeper@127.0.0.1:{smtp_port}"
                "?from=lightkeeper@example.com&to=oncall@example.com"
            )
            report["mail"] = outbox_run(workdir, "mail", {"mail": url}, args.mail, 120)
        report["apprise_throttle_s"] = apprise_throttles()
    finally:
        for proc in procs:
            stop_process(proc, grace=5)
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def apprise_throttles() -> dict[str, float]:
    """Apprise's minimum seconds between two sends of one plugin object, per scheme."""
    import apprise

    urls = {
        "json": "json://127.0.0.1/a",
        "mailto": "mailto://u:p@127.0.0.1?from=a@example.com&to=b@example.com",
        "slack": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "pagerduty": "pagerduty://integrationkey@apikey",
        "discord": "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "ntfy": "ntfy://topic",
        "opsgenie": "opsgenie://apikey",
        "tgram": "tgram://123456789:abcdefg_hijklmnop/12315544/",
    }
    out: dict[str, float] = {}
    for scheme, url in urls.items():
        plugin = apprise.Apprise.instantiate(url)
        if plugin is not None:
            out[scheme] = float(plugin.request_rate_per_sec)
    return out


@contextlib.contextmanager
def cores_busy(into: dict[str, dict[str, float]], part: str) -> Iterator[None]:
    """How many cores the whole machine kept busy during a part, and this process: the
    machine is shared, and other suites running at the same time move the figures."""
    busy0, total0 = system_busy()
    cpu0, wall0 = time.process_time(), time.monotonic()
    yield
    busy1, total1 = system_busy()
    into[part] = {
        "machine": (busy1 - busy0) / max(1e-9, total1 - total0) * (os.cpu_count() or 1),
        "this_process": (time.process_time() - cpu0) / max(1e-9, time.monotonic() - wall0),
    }


# -- the report -----------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str, str]] = []
    m = report["machine"]
    if "engine" in report:
        e = report["engine"]
        n, series = e["setup"]["rules"], e["setup"]["series"]
        for label, c in (
            (f"Engine.evaluate, {n} rules / {series} series", e["per_series"]),
            (f"Engine.evaluate, 1 rule / {e['one_rule_series']} series", e["one_rule"]),
        ):
            rows.append(cycle_row(label, c))
            rows.append(cpu_row(c))
    for key, what in (("tick", "incidents on"), ("tick_no_incidents", "incidents off")):
        if key in report:
            change = report["args"]["change"]
            label = f"Alerting.tick, {change:.0%} change/s, {what}"
            rows.append(cycle_row(label, report[key]["cycles"]))
            rows.append(cpu_row(report[key]["cycles"]))
    if "latency" in report:
        lat = report["latency"]
        s = lat["latency_s"]
        ok = None if s["p99"] is None else s["p99"] <= GOAL_LATENCY_S
        rows.append(
            (
                f"for elapsed → webhook, p50 / p99 ({lat['alerts']} alerts)",
                f"{fmt(s['p50'], ' s', 3)} / {fmt(s['p99'], ' s', 3)}",
                f"≥ {AM_GROUP_WAIT_S:g} s (group_wait)",
                f"p99 ≤ {GOAL_LATENCY_S:g} s",
                verdict(ok),
            )
        )
        rows.append(("  max", fmt(s["max"], " s", 3), "", "", ""))
        for mode, x in lat["latency_by_mode_s"].items():
            what = "all at once" if mode == "burst" else "one by one"
            rows.append(
                (
                    f"  targets failing {what}: p50 / p99 / max",
                    f"{fmt(x['p50'], '', 3)} / {fmt(x['p99'], '', 3)} / {fmt(x['max'], ' s', 3)}",
                    "",
                    "",
                    "",
                )
            )
        for key, label in (
            ("evaluation_wait_s", "  of which: wait for the evaluation, p50 / p99"),
            ("delivery_s", "  of which: fired → webhook, p50 / p99"),
        ):
            x = lat[key]
            rows.append((label, f"{fmt(x['p50'], ' s', 3)} / {fmt(x['p99'], ' s', 3)}", "", "", ""))
        x = lat["since_flip_s"]
        rows.append(
            (
                "target fails → webhook, p50 / p99",
                f"{fmt(x['p50'], ' s', 2)} / {fmt(x['p99'], ' s', 2)}",
                "",
                "",
                "",
            )
        )
    if "outbox" in report:
        o = report["outbox"]
        for key, label in (("one_channel", "1 JSON channel"), ("channels", "")):
            r = o[key]
            name = label or f"{r['channels']} JSON channels"
            rows.append(
                (
                    f"outbox → receiver, {name}",
                    f"{fmt(r['per_s'], '/s', 0)} ({r['sent']}/{r['notifications']})",
                    "",
                    "",
                    "",
                )
            )
            rows.append(
                ("  CPU per notification", fmt(r["cpu_ms_per_notification"], " ms"), "", "", "")
            )
        if "mail" in o:
            r = o["mail"]
            gap = r["between_first_and_last_sent_s"]
            rows.append(
                (
                    "outbox → SMTP, 1 e-mail channel",
                    f"{fmt(r['per_s'], '/s', 2)} ({r['sent']}/{r['notifications']};"
                    f" {fmt(gap / max(1, r['sent'] - 1) if gap else None, ' s', 1)} apart)",
                    "",
                    "",
                    "",
                )
            )
    head = ("", "Lightkeeper", "Alertmanager (defaults)", "goal", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    line = "  ".join("{:<%d}" % w for w in widths)  # noqa: UP031 - widths known at run time
    table = [line.format(*head), line.format(*("-" * w for w in widths))]
    table += [line.format(*r) for r in rows]
    a = report["args"]
    notes = [
        f"machine: {m['cpus']} CPUs, {m['cpu_model']}; Python {m['python']}; {m['lightkeeper']}",
        f"load average before {m['load_before']}, after {m['load_after']}; cores busy"
        " (whole machine / this process): "
        + ", ".join(
            f"{part} {b['machine']:.2f} / {b['this_process']:.2f}"
            for part, b in report.get("cores_busy", {}).items()
        ),
    ]
    if "engine" in report:
        e = report["engine"]["setup"]
        notes.append(
            f"evaluation: {e['rules']} rules (⅓ max over 1m, ⅓ p95 over 5m, ⅓ monitor_down == 1),"
            f" {a['minutes']:g} min of samples every {a['period']} s per series, all false;"
            f" cycles once a simulated second, {a['cycles']} wanted, time budget {a['budget']:g} s"
            " per part; CPU is time.process_time()"
        )
    if "tick" in report:
        t = report["tick"]
        notes.append(
            f"tick: same rules, SQLite store, {a['change']:.0%} of the rules change state every"
            f" second (half fire, half resolve; group_interval 1s so each is notified at once);"
            f" {t['active_alerts_at_end']} alerts active, {t['outbox_rows']} outbox rows written;"
            f" incidents group by service, {a['services'] or 'no'} services"
        )
    if "latency" in report:
        lat = report["latency"]
        wi = lat["write_interval_s"]
        low, high = lat["for_s"][0], lat["for_s"][-1]
        fors = f"{low:g}" if low == high else f"{low:g}–{high:g}"
        notes.append(
            f"latency: {lat['monitors']} HTTP monitors at 1 s, failures_before_down 1, one rule"
            f" each with for {fors} s, {lat['rounds']} rounds of"
            f" fail/recover (all targets at once, or one by one over {a['stagger']:g} s);"
            f" write_interval {'1 s (default)' if wi is None else f'{wi:g} s'};"
            f" latency = arrival − (pending_since + for), arrival stamped by the receiver"
        )
        r = lat["resolve_since_recovery_s"]
        w = lat["warmup_latency_s"]
        notes.append(
            f"  warm-up round (not counted; the first message loads Apprise's plugins):"
            f" p50/max {fmt(w['p50'], '', 3)} / {fmt(w['max'], ' s', 3)}"
        )
        notes.append(
            f"  target recovers → resolve at the webhook p50/p99 {fmt(r['p50'], '', 2)} /"
            f" {fmt(r['p99'], ' s', 2)}; lightkeeper used {lat['lightkeeper_cpu_pct']:.1f} % of"
            f" a core; unexpected messages: {lat['unexpected_count']}"
        )
        notes.append(
            f"  anchor: Alertmanager waits group_wait ({AM_GROUP_WAIT_S:g} s by default) before a"
            f" new group's first message, after Prometheus' rule evaluation (every"
            f" {AM_EVALUATION_INTERVAL_S:g} s by default) noticed the `for` had elapsed"
        )
    if "outbox" in report:
        o = report["outbox"]
        notes.append(
            "outbox: Outbox.run with the real Apprise sender, SQLite, rows enqueued first;"
            f" receiver got {o['receiver_got']} JSON messages; Apprise's minimum seconds"
            f" between sends per plugin object: {o['apprise_throttle_s']}"
        )
    return "\n".join([*table, "", *notes])


def cycle_row(label: str, c: dict[str, Any]) -> tuple[str, str, str, str, str]:
    w = c["wall_ms"]
    ok = None if w["p99"] is None else w["p99"] <= CADENCE_S * 1000
    more = " (budget)" if c["stopped_by_budget"] else ""
    if c["full_gc"]:
        more += f"; {c['full_gc']} full GC, ≤ {c['full_gc_max_ms']:.0f} ms"
    return (
        f"{label}, p50 / p99 / max",
        f"{fmt(w['p50'], '', 1)} / {fmt(w['p99'], '', 1)} / {fmt(w['max'], ' ms', 1)}"
        f" ({c['count']}{more})",
        "",
        f"p99 < {CADENCE_S * 1000:.0f} ms",
        verdict(ok),
    )


def cpu_row(c: dict[str, Any]) -> tuple[str, str, str, str, str]:
    mean = c["cpu_ms_mean"]
    return (
        "  CPU per cycle, mean; % of a core at 1/s",
        f"{mean:.1f} ms; {mean / (CADENCE_S * 1000) * 100:.1f} %",
        "",
        "",
        "",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--parts", default="eval,tick,latency,outbox", help="which to run")
    parser.add_argument("--rules", type=int, default=10_000, help="rules = series (10000)")
    parser.add_argument("--minutes", type=float, default=6.0, help="sample history per series")
    parser.add_argument("--period", type=int, default=10, help="seconds between samples")
    parser.add_argument("--cycles", type=int, default=30, help="evaluation cycles measured")
    parser.add_argument("--ticks", type=int, default=30, help="Alerting.tick cycles measured")
    parser.add_argument("--change", type=float, default=0.01, help="share changing per tick")
    parser.add_argument(
        "--services", type=int, default=100, help="service labels over the rules (0: none)"
    )
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per part, at most")
    parser.add_argument("--monitors", type=int, default=50, help="latency: monitors/rules")
    parser.add_argument("--rounds", type=int, default=4, help="latency: fail/recover rounds")
    parser.add_argument("--for", dest="for_", type=float, default=2.0, help="latency: for, s")
    parser.add_argument(
        "--for-spread", type=float, default=1.0, help="latency: fors spread over this (s)"
    )
    parser.add_argument(
        "--stagger", type=float, default=10.0, help="latency: staggered rounds span (s)"
    )
    parser.add_argument("--write-interval", type=float, default=None, help="default: 1s")
    parser.add_argument("--notifications", type=int, default=2000, help="outbox: how many")
    parser.add_argument("--channels", type=int, default=4, help="outbox: parallel channels")
    parser.add_argument("--mail", type=int, default=3, help="outbox: e-mails (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the latency run's directory")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: Callable[[str], Any] = print) -> None:
    args = parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return
    parts = set(args.parts.split(","))
    version = subprocess.run([LIGHTKEEPER, "version"], capture_output=True, text=True)
    report: dict[str, Any] = {
        "machine": asdict(machine(f"{version.stdout.strip()} ({git_revision()})")),
        "args": {k: v for k, v in vars(args).items() if k != "serve"},
    }
    print(f"load average {report['machine']['load_before']}", flush=True)
    now = float(int(time.time()))
    busy: dict[str, dict[str, float]] = {}
    if "eval" in parts:
        print("evaluation:", flush=True)
        with cores_busy(busy, "evaluation"):
            report["engine"] = measure_engine(args, now)
    if "tick" in parts:
        workdir = Path(tempfile.mkdtemp(prefix="lk-bench-tick-"))
        try:
            with cores_busy(busy, "tick"):
                report["tick"] = measure_tick(args, now, workdir, incidents=True)
                report["tick_no_incidents"] = measure_tick(args, now, workdir, incidents=False)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if "latency" in parts:
        print("latency (lightkeeper up):", flush=True)
        with cores_busy(busy, "latency"):
            report["latency"] = measure_latency(args)
    if "outbox" in parts:
        print("outbox:", flush=True)
        with cores_busy(busy, "outbox"):
            report["outbox"] = measure_outbox(args)
    report["cores_busy"] = busy
    report["machine"]["load_after"] = load_average()
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = RESULTS_DIR / f"alerting-{args.rules}r-{args.monitors}m-{stamp}.json"
    raw.write_text(json.dumps(report, indent=2) + "\n")
    out("")
    out(render(report))
    out(f"raw figures: {raw}")


if __name__ == "__main__":
    main()
