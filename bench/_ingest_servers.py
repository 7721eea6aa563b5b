"""The servers the ingest benchmark compares: what each must answer, and Lightkeeper's.

A server is started in a temporary directory, takes envelopes at `ingest_path`, says how
many events and issues it has stored (`counts()`), where its SQLite files are
(`store_files()`) and which processes are it (`pids()`; their children count too).
Bugsink's side is in `_bugsink.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

LIGHTKEEPER = str(Path(sys.executable).with_name("lightkeeper"))
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PROJECT_ID = 1


@dataclass(frozen=True)
class Counts:
    events: int  # stored and visible in issues
    issues: int
    stored_bytes: int | None = None  # the server's own figure, where it has one


class IngestServer(ABC):
    """One server under test; `start()` before anything else, `stop()` always."""

    name: str
    version: str = "?"
    port: int = 0
    workdir: Path

    ingest_path = f"/api/{PROJECT_ID}/envelope/"

    @abstractmethod
    def start(self, workdir: Path, port: int, key: str) -> None: ...

    @abstractmethod
    def counts(self) -> Counts: ...

    @abstractmethod
    def store_files(self) -> list[Path]:
        """The SQLite files events are stored in: database and write-ahead log."""

    @abstractmethod
    def pids(self) -> list[int]: ...

    @abstractmethod
    def stop(self) -> None: ...

    def backlog_bytes(self) -> int | None:
        """Accepted but not yet processed data on disk (a queue), if the server keeps one."""
        return None

    def stored_file_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.store_files() if p.exists())

    def checkpoint(self) -> None:
        """Once stopped: fold the WAL into the database, as a clean last close does (a
        server whose processes exit without closing leaves it), so the size is what is kept."""
        db = self.store_files()[0]
        if db.exists():
            with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# -- processes ------------------------------------------------------------------------------


def process_tree(roots: list[int]) -> list[int]:
    """The roots and all their live descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_memory(pids: list[int]) -> tuple[int, int]:
    """(sum of VmRSS, sum of Pss) in bytes. RSS counts pages forked workers share once per
    process; PSS divides each shared page among the processes that map it."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
    return rss, pss


def tree_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, all threads, plus their reaped children."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            total += sum(int(f) for f in fields[11:15]) / CLOCK_TICK
    return total


def launch(argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> Any:
    """A server process in its own session, so a Ctrl-C reaches only the benchmark, which
    then stops it (and `stop_tree` can reach the workers it forked)."""
    out: IO[bytes] = log.open("ab")
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=True,
    )


def stop_tree(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process, wait, then SIGKILL whatever is left of its session."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # forked workers left behind, if any


def wait_http_ok(url: str, procs: list[subprocess.Popen[bytes]], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 in {timeout:g} s:\n{log.read_text()[-3000:]}")


# -- Lightkeeper -----------------------------------------------------------------------------


class LightkeeperServer(IngestServer):
    """`lightkeeper up` with one telemetry project, SQLite in the temporary directory.

    Counts come from `GET /api/v1/telemetry/projects`:
    `{"projects": [{"name", "id", "events", "issues", "stored_bytes"}]}`.
    """

    name = "Lightkeeper"

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: httpx.Client | None = None

    def start(self, workdir: Path, port: int, key: str) -> None:
        self.workdir, self.port = workdir, port
        config = workdir / "lightkeeper.yaml"
        config.write_text(
            "\n".join(
                [
                    f"store: {{url: 'sqlite:///{workdir}/lk.db'}}",
                    f"server: {{host: 127.0.0.1, port: {port}}}",
                    "auth: none",
                    "telemetry:",
                    "  projects:",
                    f"    - {{name: bench, id: {PROJECT_ID}, key: '{key}',",
                    # per minute, far above the load: nothing is rate-limited
                    "       quota: {errors: 1000000, transactions: 1000000}}",
                    # keep every event, as Bugsink is told to: nothing is evicted in the run
                    "  retention: {max_events: 1000000000}",
                ]
            )
            + "\n"
        )
        said = subprocess.run(
            [LIGHTKEEPER, "version"], capture_output=True, text=True, check=False
        ).stdout.split()
        self.version = said[-1] if said else "?"  # "lightkeeper 0.1.0"
        log = workdir / "lightkeeper.log"
        self.proc = launch([LIGHTKEEPER, "up", "--config", str(config)], workdir, log)
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", [self.proc], log, timeout=120)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.counts()  # fails clearly when the telemetry API is missing

    def counts(self) -> Counts:
        assert self.client is not None
        response = self.client.get("/api/v1/telemetry/projects")
        if response.status_code != 200:
            raise RuntimeError(
                f"GET /api/v1/telemetry/projects answered {response.status_code}:"
                f" {response.text[:300]}"
            )
        for project in response.json()["projects"]:
            if project["id"] == PROJECT_ID:
                return Counts(project["events"], project["issues"], project.get("stored_bytes"))
        raise RuntimeError(f"no project {PROJECT_ID} in {json.dumps(response.json())[:300]}")

    def store_files(self) -> list[Path]:
        return [self.workdir / "lk.db", self.workdir / "lk.db-wal"]

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc is not None:
            stop_tree(self.proc)
            self.proc = None
