"""Bugsink, the ingest benchmark's anchor: its own venv, its single-server setup, SQLite.

Set up the way Bugsink's package and docs describe a single-server install (read from the
installed package, bugsink 2.6.2: `bugsink/conf_templates/singleserver.py.template`,
`bugsink/scripts/`, `bugsink/gunicorn.docker.conf.py`, and the Dockerfile's start command
`gunicorn --config bugsink/gunicorn.docker.conf.py … bugsink.wsgi ||| bugsink-runsnappea`;
https://bugsink.com/docs/single-server-production):

- `bugsink-create-conf --template=singleserver --base-dir=<tmp>`: SQLite for the data
  (`db.sqlite3`, WAL) and for the task queue (`snappea.sqlite3`), Snappea not eager (ingest
  writes the event to a file and queues a digest task; a separate `bugsink-runsnappea`
  process with 4 worker threads digests it into issues and events).
- Appended: no reverse proxy in front (the template assumes nginx; both servers here take
  plain HTTP on 127.0.0.1), `PHONEHOME` off (no traffic leaves the machine), and the
  per-project and installation quotas (1,000 events per 5 minutes by default, which would
  answer 429) raised far above the load, as Lightkeeper's are. The project's retention is
  raised from 10,000 events so that nothing is evicted during the run.
- `bugsink-manage migrate` and `migrate snappea --database=snappea`, then a team and the
  project (id 1, the benchmark's key) in `bugsink-manage shell`.
- gunicorn with the package's own `gunicorn.docker.conf.py` (sync workers, min(CPUs, 4) of
  them, i.e. 2 here), no access log (Lightkeeper logs none either), plus
  `bugsink-runsnappea`.

"Processed" is the number of rows in `events_event` (an event is there once digested, and
then shows in its issue); issues are rows in `issues_issue`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

from _ingest_servers import PROJECT_ID, Counts, IngestServer, launch, stop_tree, wait_http_ok
from _results import anchor_venv

BUGSINK_VERSION = "2.6.2"
DEFAULT_VENV = Path.home() / ".cache" / "lightkeeper-bench" / "bugsink-venv"

# Appended to the generated singleserver config; see the module docstring for why.
CONFIG_OVERRIDES = """

# -- lightkeeper bench/ingest.py: no proxy in front, nothing leaves the machine, no quota --
BUGSINK["BASE_URL"] = "http://127.0.0.1:{port}"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_X_REAL_IP = False
SECURE_PROXY_SSL_HEADER = None
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
BUGSINK["PHONEHOME"] = False
for _quota in (
    "MAX_EVENTS_PER_PROJECT_PER_5_MINUTES",
    "MAX_EVENTS_PER_PROJECT_PER_HOUR",
    "MAX_EVENTS_PER_PROJECT_PER_MONTH",
    "MAX_EVENTS_PER_5_MINUTES",
    "MAX_EVENTS_PER_HOUR",
    "MAX_EVENTS_PER_MONTH",
):
    BUGSINK[_quota] = 1_000_000_000
"""

CREATE_PROJECT = """
import uuid
from teams.models import Team
from projects.models import Project
team = Team.objects.create(name="bench")
project = Project.objects.create(
    team=team, name="bench", slug="bench", sentry_key=uuid.UUID(hex="{key}"),
    retention_max_event_count=1_000_000_000,
)
print("PROJECT", project.id)
"""


def ensure_venv(venv: Path, version: str = BUGSINK_VERSION) -> Path:
    """A venv with bugsink==version, made once and reused; returns its bin/ directory."""
    return anchor_venv(venv, "bugsink", version)


class BugsinkServer(IngestServer):
    name = "Bugsink"

    def __init__(self, venv: Path = DEFAULT_VENV, version: str = BUGSINK_VERSION) -> None:
        self.venv = venv
        self.version = version
        self.procs: list[subprocess.Popen[bytes]] = []
        self.db: sqlite3.Connection | None = None

    def _manage(self, *args: str, bin_dir: Path) -> str:
        done = subprocess.run(
            [str(bin_dir / "bugsink-manage"), *args],
            cwd=self.workdir,
            env={**os.environ, **self._env()},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bugsink-manage {' '.join(args)}:\n{done.stderr[-3000:]}")
        return done.stdout

    def _env(self) -> dict[str, str]:
        return {"DJANGO_SETTINGS_MODULE": "bugsink_conf", "PYTHONPATH": str(self.workdir)}

    def start(self, workdir: Path, port: int, key: str) -> None:
        self.workdir, self.port = workdir, port
        bin_dir = ensure_venv(self.venv, self.version)
        conf = workdir / "bugsink_conf.py"
        subprocess.run(
            [
                str(bin_dir / "bugsink-create-conf"),
                "--template=singleserver",
                f"--base-dir={workdir}",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--output-file={conf}",
            ],
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        conf.write_text(conf.read_text() + CONFIG_OVERRIDES.format(port=port))
        self._manage("migrate", "--verbosity=0", bin_dir=bin_dir)
        self._manage("migrate", "snappea", "--database=snappea", "--verbosity=0", bin_dir=bin_dir)
        out = self._manage(
            "shell", "-c", CREATE_PROJECT.format(key=uuid.UUID(hex=key).hex), bin_dir=bin_dir
        )
        if f"PROJECT {PROJECT_ID}" not in out:
            raise RuntimeError(f"the Bugsink project is not id {PROJECT_ID}: {out[-500:]}")

        package = subprocess.run(
            [
                str(bin_dir / "python"),
                "-c",
                "import bugsink, os; print(os.path.dirname(bugsink.__file__))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        log = workdir / "bugsink.log"
        env = self._env()
        self.procs = [
            launch(
                [
                    str(bin_dir / "gunicorn"),
                    "--config",
                    f"{package}/gunicorn.docker.conf.py",
                    f"--bind=127.0.0.1:{port}",
                    "bugsink.wsgi",
                ],
                workdir,
                log,
                env,
            ),
            launch([str(bin_dir / "bugsink-runsnappea")], workdir, log, env),
        ]
        wait_http_ok(f"http://127.0.0.1:{port}/health/ready", self.procs, log, timeout=120)
        # Read by the sampler thread too, never at the same time as by the main thread.
        self.db = sqlite3.connect(
            f"file:{workdir / 'db.sqlite3'}?mode=ro", uri=True, timeout=30, check_same_thread=False
        )

    def counts(self) -> Counts:
        assert self.db is not None
        events, issues = self.db.execute(
            "SELECT (SELECT count(*) FROM events_event WHERE project_id = ?),"
            " (SELECT count(*) FROM issues_issue WHERE project_id = ?)",
            (PROJECT_ID, PROJECT_ID),
        ).fetchone()
        return Counts(int(events), int(issues))

    def store_files(self) -> list[Path]:
        return [self.workdir / "db.sqlite3", self.workdir / "db.sqlite3-wal"]

    def backlog_bytes(self) -> int:
        """The task queue and the ingested-but-not-digested files (not counted as stored)."""
        files = [self.workdir / f"snappea.sqlite3{s}" for s in ("", "-wal")]
        files += [p for p in (self.workdir / "ingestion").rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files if p.exists())

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
            self.db = None
        for proc in self.procs:
            stop_tree(proc)
        self.procs = []
