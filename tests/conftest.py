"""Shared fixtures: free ports, a controllable HTTP target, throwaway PostgreSQL databases,
and a real `lightkeeper up` process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest

PG_ADMIN = os.environ.get("LIGHTKEEPER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LIGHTKEEPER = str(Path(sys.executable).with_name("lightkeeper"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Target:
    """An HTTP server on 127.0.0.1 whose behaviour a test switches: ok, fail, slow, hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.hits = 0
        self.release = threading.Event()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                target.hits += 1
                mode = target.mode
                if mode == "hang":
                    target.release.wait(60)
                    return
                if mode == "slow":
                    time.sleep(0.3)
                status = 500 if mode == "fail" else 200
                body = json.dumps({"status": "healthy" if status == 200 else "error"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/health"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.close()


@contextlib.contextmanager
def scratch_database(prefix: str = "lk_test") -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards. Yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}: {exc} (scripts/test starts it)")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database() -> Iterator[str]:
    with scratch_database() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_pg() -> Iterator[str]:
    """One migrated database for a whole suite (migrating costs half a second a test);
    suites empty the tables they use with :func:`reused_store_url`."""
    from lightkeeper.store import Store

    with scratch_database("lk_test_shared") as url:
        store = Store(url)
        store.migrate()
        store.close()
        yield url


def reused_store_url(request: pytest.FixtureRequest, tmp_path: Path, tables: str) -> str:
    """For a ``store_url`` fixture over both backends: SQLite fresh, PostgreSQL shared
    with ``tables`` emptied first."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url = str(request.getfixturevalue("migrated_pg"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Store tests run on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return str(request.getfixturevalue("pg_database"))


class Server:
    """A real `lightkeeper up` process, for tests of what happens across processes."""

    def __init__(self, config: Path, port: int, workdir: Path) -> None:
        self.config, self.port, self.workdir = config, port, workdir
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self, timeout: float = 30) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [LIGHTKEEPER, "up", "--config", str(self.config), "--port", str(self.port)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"lightkeeper up exited: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503):
                    return
            time.sleep(0.1)
        raise AssertionError(f"lightkeeper up did not answer: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    servers: list[Server] = []

    def make(config_text: str) -> Server:
        path = tmp_path / "lightkeeper.yaml"
        path.write_text(config_text)
        server = Server(path, free_port(), tmp_path)
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


def wait_for(
    predicate: object, timeout: float = 15.0, interval: float = 0.1, server: Server | None = None
) -> object:
    """Poll ``predicate()`` until it returns something truthy; fail with its last value
    (and the tail of ``server``'s log, to see why)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()  # type: ignore[operator]
        if last:
            return last
        time.sleep(interval)
    log = f"\nserver log:\n{server.log.read_text()[-4000:]}" if server else ""
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r}){log}")


def have(program: str) -> bool:
    return shutil.which(program) is not None
