"""PostgreSQL restarting under a running `lightkeeper up`: probing goes on, /healthz says
the store is in trouble, and the results held meanwhile reach the database once it is back.

The test runs its own throwaway PostgreSQL cluster (initdb + pg_ctl on a free port), so
stopping it cannot disturb the machine's shared server that other tests use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import Server, Target, free_port, wait_for

pytestmark = pytest.mark.integration

# Trust auth ignores it; it must still never be echoed.
PASSWORD = "s3cret-never-shown"  # lightkeeper:allow
OS_USER = "postgres"  # initdb refuses to run as root

CONFIG = """\
store: {{url: "{url}"}}
monitors:
  - {{name: web, type: http, url: "{target}", interval: 1s, timeout: 1s}}
  - {{name: api, type: http, url: "{target}", interval: 1s, timeout: 1s}}
"""


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), if any."""
    found = [
        d
        for d in Path("/usr/lib/postgresql").glob("*/bin")
        if (d / "initdb").exists() and (d / "pg_ctl").exists()
    ]
    found.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    return found[-1] if found else None


@dataclass
class Cluster:
    """A private PostgreSQL cluster in a temporary directory, run as the postgres user."""

    bindir: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, password: str = "") -> str:
        auth = f"postgres:{password}" if password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/postgres"

    def run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One wrapper for every pg_* command: the right user, captured output, a timeout."""
        as_user = ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*as_user, str(self.bindir / program), *args],
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{program} {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def init(self) -> None:
        # UTF8 explicitly: under the C locale initdb would pick SQL_ASCII, whose text
        # psycopg hands back as bytes.
        self.run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "pg.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return self.run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="lk-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER, OS_USER)
    root.chmod(0o700)
    pg = Cluster(bindir, root, free_port())
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            if pg.running():
                pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return list(conn.execute(sql, params).fetchall())


def counts_by_monitor(url: str) -> dict[str, int]:
    rows = query(
        url,
        "SELECT m.name, count(r.id) FROM monitors m LEFT JOIN results r ON r.monitor_id = m.id"
        " GROUP BY m.name",
    )
    return {str(name): int(n) for name, n in rows}


def healthz(server: Server) -> tuple[int, dict[str, Any]]:
    response = server.get("/healthz")
    assert PASSWORD not in response.text
    body: dict[str, Any] = response.json()
    return response.status_code, body


def test_postgres_restart_under_a_running_server(
    cluster: Cluster, target: Target, server_factory: Callable[[str], Server]
) -> None:
    db = cluster.url()
    server = server_factory(CONFIG.format(url=cluster.url(PASSWORD), target=target.url))
    server.start()
    try:
        wait_for(lambda: sorted(counts_by_monitor(db).values())[0] >= 2)
        assert healthz(server)[0] == 200

        cluster.stop()
        outage_from = time.time()

        def store_failing() -> dict[str, Any] | None:
            code, body = healthz(server)
            return body if code == 503 and not body["store"]["ok"] else None

        body = wait_for(store_failing)
        assert isinstance(body, dict)
        store = body["store"]
        assert store["backend"] == "postgresql"
        assert store["error"], store
        assert store["failing_since"] is not None
        assert body["scheduler"]["running"] is True

        # Probing goes on without the store: the target breaks and the monitors see it.
        target.mode = "fail"

        def both_down() -> dict[str, Any] | None:
            listing = server.get("/api/v1/monitors", params={"state": "down"}).json()
            return listing if listing["total"] == 2 else None

        listing = wait_for(both_down)
        assert isinstance(listing, dict)
        assert all(item["last_check"] > outage_from for item in listing["items"])
        status = server.get("/api/v1/status")
        assert status.status_code == 503  # two monitors down: unhealthy, and it says why
        assert {m["name"]: m["state"] for m in status.json()["monitors"]} == {
            "web": "down",
            "api": "down",
        }
        assert status.json()["checked_at"] > outage_from
        code, body = healthz(server)
        assert code == 503
        assert body["store"]["queued_results"] > 0

        outage_to = time.time()
        cluster.start()

        wait_for(lambda: healthz(server)[0] == 200, timeout=30)
    finally:
        # Stopped gracefully, the server writes what it still holds before the checks below.
        server.stop()

    # Everything probed during the outage reached the database, failures included.
    during = query(
        db,
        "SELECT m.name, r.state, count(*) FROM results r JOIN monitors m ON m.id = r.monitor_id"
        " WHERE r.ts > %s AND r.ts < %s GROUP BY m.name, r.state",
        outage_from,
        outage_to,
    )
    seen = {(str(name), str(state)): int(n) for name, state, n in during}
    for name in ("web", "api"):
        assert seen.get((name, "down"), 0) >= 2, seen

    # Nothing was written twice by the retries, and the rollups agree with the raw rows.
    duplicates = query(
        db, "SELECT monitor_id, ts FROM results GROUP BY monitor_id, ts HAVING count(*) > 1"
    )
    assert duplicates == []
    raw = query(
        db,
        "SELECT monitor_id, count(*), count(*) FILTER (WHERE state = 'up'),"
        " count(*) FILTER (WHERE state = 'degraded'), count(*) FILTER (WHERE state = 'down')"
        " FROM results WHERE state <> 'pending' GROUP BY monitor_id ORDER BY monitor_id",
    )
    for period in (3600, 86400):
        rolled = query(
            db,
            "SELECT monitor_id, sum(checks), sum(up), sum(degraded), sum(down) FROM rollups"
            " WHERE period = %s GROUP BY monitor_id ORDER BY monitor_id",
            period,
        )
        assert [tuple(int(v) for v in r) for r in rolled] == [
            tuple(int(v) for v in r) for r in raw
        ], period
