"""PostgreSQL backups with pg_dump: a dump whose row counts come from its own snapshot, and
restore. Verifying a dump in a scratch database is :mod:`~lightkeeper.backup.pg_verify`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lightkeeper.backup import command
from lightkeeper.backup.command import CommandError, mask_secrets
from lightkeeper.errors import LightkeeperError
from lightkeeper.redact import redact_text, redact_url

DIRECTORY_NAME = "db"  # out_dir/db/ for -Fd
CUSTOM_NAME = "db.dump"  # out_dir/db.dump for -Fc
GLOBALS_NAME = "globals.sql"
_ENV_VARS = {o.keyword.decode(): o.envvar.decode() for o in pq.Conninfo.get_defaults() if o.envvar}
# Row text must not depend on server or database settings (a restore target may have
# another TimeZone), and long counts must survive a role's statement/idle timeouts.
_SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3"
    " -c bytea_output=hex -c statement_timeout=0 -c idle_in_transaction_session_timeout=0"
)


class PostgresError(LightkeeperError):
    """PostgreSQL could not be reached or refused a query; the message names the DSN
    without its password."""


@dataclass(frozen=True)
class TableStat:
    """One table's exact row count and, when asked for, an order-independent checksum."""

    schema: str
    name: str
    rows: int
    checksum: str | None = None


@dataclass(frozen=True)
class DumpInfo:
    """What :func:`dump` wrote (``files`` relative to its ``out_dir``) and what it held."""

    files: list[str]
    format: str
    tool_version: str
    server_version: str
    database: str
    tables: list[TableStat]
    large_objects: int
    seconds: float


def libpq_dsn(dsn: str) -> str:
    # SQLAlchemy's postgresql+psycopg:// is the same URL to libpq once the driver is dropped.
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", dsn)


def _params(dsn: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(libpq_dsn(dsn))
    except psycopg.Error as exc:
        raise PostgresError(f"invalid DSN {redact_url(dsn)}: {redact_text(str(exc))}") from None


def connection_env(dsn: str) -> tuple[dict[str, str], list[str]]:
    """libpq environment variables for ``dsn`` (URL or key=value), and the secrets to mask.

    Tools get the password as PGPASSWORD, never on their command line where ``ps`` shows
    it. PGCONNECT_TIMEOUT defaults to 10 s so an unreachable host fails instead of hanging.
    """
    env = {"PGCONNECT_TIMEOUT": "10"}
    for key, value in _params(dsn).items():
        if key == "fallback_application_name":
            continue
        if key not in _ENV_VARS:
            raise PostgresError(
                f"DSN {redact_url(dsn)}: parameter {key!r} has no libpq environment variable,"
                " so pg_dump cannot be given it safely; remove it from the DSN"
            )
        env[_ENV_VARS[key]] = str(value)
    return env, [env["PGPASSWORD"]] if env.get("PGPASSWORD") else []


@contextmanager
def session(dsn: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose row text does not depend on server settings and whose long queries
    outlive a role's timeouts (``_SESSION_OPTIONS``); failures are PostgresErrors."""
    params = _params(dsn)
    params.setdefault("connect_timeout", 10)
    params["options"] = f"{params.get('options', '')} {_SESSION_OPTIONS}".strip()
    secrets = [str(params.get("password") or "")]
    try:
        with psycopg.connect(**params, autocommit=autocommit) as conn:
            yield conn
    except psycopg.Error as exc:
        # `from None`: the chained driver exception is not needed and is one less place a
        # connection string could surface.
        raise PostgresError(f"{redact_url(dsn)}: {mask_secrets(str(exc), secrets)}") from None


def _table_stats(conn: psycopg.Connection[Any], checksums: bool) -> list[TableStat]:
    names = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND n.nspname <> 'information_schema'"
        " AND n.nspname !~ '^pg_(catalog$|toast|temp_)' ORDER BY 1, 2"
    ).fetchall()
    # Sums of row hashes rather than string_agg(... ORDER BY ...): no sort, constant memory,
    # and no 1 GB value limit (string_agg needs 32 bytes a row). Two 64-bit halves of each
    # md5 keep accidental collisions out of reach; duplicate rows still count.
    checked = sql.SQL(
        "SELECT count(*), md5(count(*) || ':' || coalesce(sum(a), 0) || ':' || coalesce(sum(b), 0))"
        " FROM (SELECT ('x' || left(h, 16))::bit(64)::bigint::numeric AS a,"
        " ('x' || right(h, 16))::bit(64)::bigint::numeric AS b"
        " FROM (SELECT md5(ROW(t.*)::text) AS h FROM {} t) hashes) parts"
    )
    counted = sql.SQL("SELECT count(*), NULL FROM {}")
    stats = []
    for schema, name in names:
        query = (checked if checksums else counted).format(sql.Identifier(schema, name))
        rows, checksum = conn.execute(query).fetchone() or (0, None)
        stats.append(TableStat(schema, name, int(rows), checksum))
    return stats


def _large_objects(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    return int(row[0]) if row else 0


def inspect(dsn: str, checksums: bool = False) -> tuple[str, list[TableStat], int]:
    """(server version, exact row counts of every ordinary table outside the system
    schemas, number of large objects), all from one consistent snapshot."""
    with session(dsn) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        version = str(row[0]).split()[0] if row else ""
        return version, _table_stats(conn, checksums), _large_objects(conn)


def _tool_version(program: str) -> str:
    out = command.run([program, "--version"]).stdout.decode()
    found = re.search(r"\)\s*(\S+)", out)  # "pg_dump (PostgreSQL) 15.20 (Debian ...)"
    return found[1] if found else out.strip()


def _major(version: str) -> int:
    found = re.match(r"\d+", version)
    return int(found[0]) if found else 0


def dump(
    dsn: str,
    out_dir: Path,
    *,
    format: Literal["directory", "custom"] = "directory",
    jobs: int = 2,
    globals: bool = False,
    timeout: float | None = None,
) -> DumpInfo:
    """Dump the database at ``dsn`` into ``out_dir`` (``db/`` or ``db.dump``, plus
    ``globals.sql`` with ``globals``). Row counts are taken in the snapshot pg_dump used,
    so they match the dump exactly however busy the database is."""
    if format not in ("directory", "custom"):
        raise LightkeeperError(f"unknown dump format {format!r}: use directory or custom")
    env, secrets = connection_env(dsn)
    pg_dump = command.find_program("pg_dump")
    tool_version = _tool_version(pg_dump)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (DIRECTORY_NAME if format == "directory" else CUSTOM_NAME)
    started = time.monotonic()
    with session(dsn) as conn:
        # This transaction stays open until the counts are done: pg_dump and its -j workers
        # import its snapshot, and the counts below read the very same one.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute(
            "SELECT pg_export_snapshot(), current_setting('server_version'), current_database()"
        ).fetchone()
        assert row is not None
        snapshot, server_version, database = str(row[0]), str(row[1]).split()[0], str(row[2])
        args = [pg_dump, "--no-password", f"--snapshot={snapshot}", "-f", str(target)]
        args += ["-Fd", "-j", str(jobs)] if format == "directory" else ["-Fc"]
        if _major(tool_version) >= 16:
            args += ["-Z", "zstd:3"]  # 16+ has zstd: faster and smaller than the gzip default
        command.run(args, env=env, secrets=secrets, timeout=timeout)
        tables = _table_stats(conn, checksums=False)
        large_objects = _large_objects(conn)
    written = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
    if globals:
        _dump_globals(env, secrets, out_dir / GLOBALS_NAME, timeout)
        written.append(out_dir / GLOBALS_NAME)
    return DumpInfo(
        files=[str(p.relative_to(out_dir)) for p in written],
        format=format,
        tool_version=tool_version,
        server_version=server_version,
        database=database,
        tables=tables,
        large_objects=large_objects,
        seconds=time.monotonic() - started,
    )


def _dump_globals(
    env: dict[str, str], secrets: list[str], path: Path, timeout: float | None
) -> None:
    args = [command.find_program("pg_dumpall"), "--no-password", "--globals-only", "-f", str(path)]
    if "PGDATABASE" in env:  # pg_dumpall ignores PGDATABASE and would try "postgres"
        args += ["-l", env["PGDATABASE"]]
    try:
        command.run(args, env=env, secrets=secrets, timeout=timeout)
    except CommandError as exc:
        if "permission denied" not in exc.stderr:
            raise
        raise CommandError(
            f"{exc} — roles and tablespaces (globals) can only be dumped by a superuser:"
            " connect as one or turn globals off",
            program=exc.program,
            returncode=exc.returncode,
            stderr=exc.stderr,
        ) from None


def restore(
    dump_dir: Path,
    info_format: str,
    target_dsn: str,
    *,
    jobs: int = 2,
    create: bool = False,
    clean: bool = False,
    timeout: float | None = None,
) -> float:
    """Restore what :func:`dump` wrote in ``dump_dir`` into ``target_dsn``'s database and
    return the seconds it took. Stops at the first error. With ``create`` the target is
    only the database to connect to, and the archive's own database is created. With
    ``clean`` the archive's objects are dropped first (restoring over existing data)."""
    if info_format not in ("directory", "custom"):
        raise LightkeeperError(f"unknown dump format {info_format!r}: use directory or custom")
    env, secrets = connection_env(target_dsn)
    if "PGDATABASE" not in env:
        raise PostgresError(f"DSN {redact_url(target_dsn)} names no database to restore into")
    source = dump_dir / (DIRECTORY_NAME if info_format == "directory" else CUSTOM_NAME)
    args = [command.find_program("pg_restore"), "--no-password", "--exit-on-error"]
    args += ["--no-owner", "--no-privileges", "-j", str(jobs)]
    # A one-key conninfo as -d: the database name, never the password, reaches argv.
    args += ["--create"] if create else []
    args += ["--clean", "--if-exists"] if clean else []
    args += ["-d", make_conninfo(dbname=env["PGDATABASE"]), str(source)]
    return command.run(args, env=env, secrets=secrets, timeout=timeout).seconds
