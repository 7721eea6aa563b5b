"""The PostgreSQL side of bench/backup.py: the pgbench database, the plain tools, and the
one timed way to run a command (its own process group, killed whole if we are stopped).
"""

from __future__ import annotations

import contextlib
import glob
import os
import resource
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from _ingest_servers import process_tree

# libpq's environment variables for the DSN keys the benchmark uses: the plain tools get
# the connection the way Lightkeeper hands it to them (environment, not argv).
ENV_KEYS = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
}
PGBENCH_ACCOUNTS_PER_SCALE = 100_000
RESTORE_DB = "lk_bench_restore"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# -- commands -----------------------------------------------------------------------------


@dataclass
class Timed:
    """One command's wall time (``time.perf_counter`` around start to exit) and output."""

    argv: list[str]
    seconds: float
    returncode: int | None  # None: killed for its timeout
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def output(self, limit: int = 4000) -> str:
        """stdout and stderr as they came, cut to ``limit`` characters from the end."""
        text = "\n".join(s.rstrip() for s in (self.stdout, self.stderr) if s.strip())
        return text if len(text) <= limit else "…" + text[-limit:]


def run_timed(
    argv: list[str], env: dict[str, str] | None = None, timeout: float | None = None
) -> Timed:
    """Run ``argv`` and time it. When we are interrupted or it times out, it is stopped
    with everything it started (pg_dump's -j workers, Lightkeeper's pg_dump)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_tree(proc)
        out, err = proc.communicate()
        seconds = time.perf_counter() - started
        note = f"\n(killed: timed out after {timeout:g} s)"
        return Timed(argv, seconds, None, out.decode(errors="replace"), err.decode() + note)
    except BaseException:
        stop_tree(proc)
        raise
    seconds = time.perf_counter() - started
    return Timed(
        argv, seconds, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    )


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child and every process under it, SIGKILL to what is left after 10 s.
    The whole tree, not the process group: Lightkeeper starts pg_dump in a session of its
    own. The tree is taken before the first signal, while the child still holds it."""
    tree = {proc.pid, *process_tree([proc.pid])}
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is None:
            tree |= set(process_tree([proc.pid]))
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reaps our child, so it stops counting as alive
            if not any(running(pid) for pid in tree):
                return
            time.sleep(0.05)


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def find_program(name: str) -> str:
    """PATH first, then the newest /usr/lib/postgresql/<major>/bin — the lookup Lightkeeper
    uses, so both sides run the very same binary (on Debian, /usr/bin/pg_dump is the
    pg_wrapper script in front of it)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parent.parent.name.split(".")[0]),
    )
    if not candidates:
        raise SystemExit(f"{name} not found on PATH or in /usr/lib/postgresql/*/bin")
    return candidates[-1]


def tool_version(program: str) -> str:
    out = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def children_cpu_seconds() -> float:
    """User + system CPU of every child we have waited for, and of theirs: a command's
    whole process tree once it has exited (pg_dump's -j workers, Lightkeeper's pg_dump)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postgres_cpu_seconds() -> float:
    """CPU used so far by the PostgreSQL server on this machine: every live `postgres`
    process, plus what the postmaster's exited children used (backends that are gone)."""
    procs: dict[int, tuple[int, list[int]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm != "postgres":
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        procs[int(entry.name)] = (int(fields[1]), [int(x) for x in fields[11:15]])
    ticks = 0
    for ppid, (utime, stime, cutime, cstime) in procs.values():
        ticks += utime + stime
        if ppid not in procs:  # the postmaster: its reaped children count too
            ticks += cutime + cstime
    return ticks / CLOCK_TICK


def tree_bytes(path: Path) -> int:
    """Bytes in the file at ``path``, or in all files under it."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- the server ---------------------------------------------------------------------------


class Server:
    """The PostgreSQL server at ``dsn`` (a URL without a database, or with one that is only
    used to connect for administration)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.admin = self.database_dsn("postgres")

    def database_dsn(self, name: str) -> str:
        return urlunsplit(urlsplit(self.dsn)._replace(path="/" + quote(name, safe="")))

    def env(self, database: str) -> dict[str, str]:
        """libpq environment for ``database`` on this server."""
        params = conninfo_to_dict(self.database_dsn(database))
        return {ENV_KEYS[k]: str(v) for k, v in params.items() if k in ENV_KEYS}

    def query(self, database: str, text: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_dsn(database), autocommit=True) as conn:
            cur = conn.execute(text, args or None)
            return cur.fetchall() if cur.description else []

    def execute(self, database: str, statement: sql.Composable | str) -> None:
        with psycopg.connect(self.database_dsn(database), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def version(self) -> str:
        return str(self.query("postgres", "SELECT version()")[0][0])

    def exists(self, name: str) -> bool:
        return bool(self.query("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", name))

    def databases(self, prefix: str) -> set[str]:
        rows = self.query(
            "postgres", "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", prefix
        )
        return {str(r[0]) for r in rows}

    def create(self, name: str) -> None:
        # template0, as Lightkeeper creates its scratch databases: nothing extra to collide.
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
        self.execute("postgres", statement)

    def drop(self, name: str) -> None:
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self.execute("postgres", statement.format(sql.Identifier(name)))

    def size(self, name: str) -> int:
        return int(self.query("postgres", "SELECT pg_database_size(%s)", name)[0][0])

    def checkpoint(self) -> None:
        """Write out what the last run left dirty, so no checkpoint lands in the next one."""
        self.execute("postgres", "CHECKPOINT")

    def pgbench_scale(self, name: str) -> int | None:
        """The scale of the pgbench database ``name``, or None when it is not a complete one
        (missing tables, or accounts not matching the branches)."""
        try:
            rows = self.query(
                name,
                "SELECT (SELECT count(*) FROM pgbench_branches),"
                " (SELECT count(*) FROM pgbench_accounts)",
            )
        except psycopg.Error:
            return None
        branches, accounts = int(rows[0][0]), int(rows[0][1])
        return branches if accounts == branches * PGBENCH_ACCOUNTS_PER_SCALE else None

    def tables(self, name: str) -> list[dict[str, Any]]:
        rows = self.query(
            name,
            "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 3 DESC",
        )
        return [{"name": r[0], "rows_estimate": int(r[1]), "bytes": int(r[2])} for r in rows]

    def pgbench_init(self, name: str, scale: int, filler: str) -> float:
        """Create ``name`` afresh with ``pgbench -i -s scale`` (client-side data generation,
        primary keys, vacuumed); with ``filler`` "random", pgbench_accounts.filler (blank
        padding, so the dump compresses ~55:1) gets 64 random hex digits a row instead,
        and the table is rewritten to its old size. Returns the seconds it took, and
        labels the database so ``--reuse`` knows what it holds."""
        started = time.perf_counter()
        self.drop(name)
        self.create(name)
        argv = [find_program("pgbench"), "-i", "-q", "-s", str(scale), name]
        result = run_timed(argv, env=self.env(name))
        if not result.ok:
            raise SystemExit(f"pgbench -i failed:\n{result.output()}")
        if filler == "random":
            self.execute(
                name,
                "UPDATE pgbench_accounts SET filler = md5(random()::text) || md5(random()::text)",
            )
            self.execute(name, "VACUUM FULL pgbench_accounts")
        label = sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(self.label_for(scale, filler))
        )
        self.execute(name, label)
        return time.perf_counter() - started

    @staticmethod
    def label_for(scale: int, filler: str) -> str:
        return f"lk-bench-backup: pgbench scale {scale}, filler {filler}"

    def label(self, name: str) -> str | None:
        rows = self.query(
            "postgres",
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            name,
        )
        return str(rows[0][0]) if rows and rows[0][0] is not None else None
