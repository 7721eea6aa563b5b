"""PostgreSQL backups with pg_dump: a dump whose row counts come from its own snapshot,
restore, and verification by restoring into a scratch database and checking what came back.
"""

from __future__ import annotations

import logging
import re
import secrets as random_source
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lightkeeper.backup import command
from lightkeeper.backup.command import CommandError, mask_secrets
from lightkeeper.errors import LightkeeperError
from lightkeeper.redact import redact_text, redact_url

log = logging.getLogger(__name__)

DIRECTORY_NAME = "db"  # out_dir/db/ for -Fd
CUSTOM_NAME = "db.dump"  # out_dir/db.dump for -Fc
GLOBALS_NAME = "globals.sql"
SCRATCH_PREFIXES = ("lk_verify_", "lk_drill_")
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


class Manifest(Protocol):
    """What :func:`verify` needs from a dump's record: a :class:`DumpInfo` or a stored one."""

    @property
    def format(self) -> str: ...
    @property
    def tables(self) -> Sequence[TableStat]: ...


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`: ``ok`` exactly when ``problems`` is empty."""

    ok: bool
    problems: list[str]  # each names its table or query
    restore_seconds: float
    checks: list[str]  # what was checked, and what was skipped and why


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
def _session(dsn: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
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
    with _session(dsn) as conn:
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
    with _session(dsn) as conn:
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


def scratch_name(source_db: str, prefix: str = "lk_verify_") -> str:
    """A fresh database name, e.g. ``lk_verify_shop_20240501120000_a3f9`` (≤ 63 bytes).

    It always starts with ``lk_verify_`` (the only names :func:`drop_database` accepts) and
    carries the time and a random suffix, and is checked against ``source_db``: verifying
    drops the scratch database afterwards, so it must never be the database verified.
    """
    stem = re.sub(r"[^a-z0-9_]+", "_", source_db.lower()).strip("_")[:33] or "db"
    while True:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        name = f"{prefix}{stem}_{stamp}_{random_source.token_hex(2)}"
        if name != source_db:
            return name


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointed at database ``name`` on the same server, as the same user."""
    if "://" not in dsn:
        return make_conninfo(dsn, dbname=name)
    return urlunsplit(urlsplit(dsn)._replace(path="/" + quote(name, safe="")))


def create_database(admin_dsn: str, name: str) -> None:
    # template0: objects an admin added to template1 would collide with the restore.
    with _session(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop scratch database ``name``; refuses any name without a scratch prefix, so a
    mix-up can never drop a real database."""
    if not name.startswith(SCRATCH_PREFIXES):
        raise LightkeeperError(
            f"refusing to drop database {name!r}: only scratch databases"
            f" ({', '.join(SCRATCH_PREFIXES)}…) are dropped"
        )
    with _session(admin_dsn, autocommit=True) as conn:
        # FORCE (13+) ends leftover sessions, e.g. pg_restore workers after a timeout.
        force = " WITH (FORCE)" if conn.info.server_version >= 130000 else ""
        query = sql.SQL("DROP DATABASE IF EXISTS {}" + force)
        conn.execute(query.format(sql.Identifier(name)))


def verify(
    dump_dir: Path,
    info: Manifest,
    admin_dsn: str,
    *,
    queries: Sequence[str] = (),
    amcheck: bool = True,
    jobs: int = 2,
) -> VerifyResult:
    """Restore the dump into a scratch database on ``admin_dsn``'s server and check it:
    every table with the manifest's row count (and checksum, where it has one), pg_amcheck,
    and ``queries`` that must each return one truthy value. The scratch database is
    always dropped."""
    name = scratch_name(getattr(info, "database", "") or "db")
    scratch = with_database(admin_dsn, name)
    problems: list[str] = []
    checks: list[str] = []
    seconds = 0.0
    create_database(admin_dsn, name)
    try:
        try:
            seconds = restore(dump_dir, info.format, scratch, jobs=jobs)
        except CommandError as exc:
            problems.append(f"restore failed: {exc}")
            return VerifyResult(False, problems, seconds, checks)
        checks.append(f"restored into a scratch database in {seconds:.2f} s")
        _compare_tables(info.tables, scratch, problems, checks)
        if amcheck:
            _amcheck(scratch, name, jobs, problems, checks)
        _sanity_queries(scratch, queries, problems, checks)
    finally:
        drop_database(admin_dsn, name)
    log.info("verified dump in %s: %s", dump_dir, "; ".join(problems) or "ok")
    return VerifyResult(not problems, problems, seconds, checks)


def _compare_tables(
    expected: Sequence[TableStat], dsn: str, problems: list[str], checks: list[str]
) -> None:
    checksums = any(t.checksum for t in expected)
    _, restored, _ = inspect(dsn, checksums=checksums)
    found = {(t.schema, t.name): t for t in restored}
    for want in expected:
        label = f"{want.schema}.{want.name}"
        got = found.get((want.schema, want.name))
        if got is None:
            problems.append(f"table {label} is missing after restore")
        elif got.rows != want.rows:
            problems.append(f"table {label}: {got.rows} rows restored, {want.rows} dumped")
        elif want.checksum and got.checksum != want.checksum:
            problems.append(f"table {label}: checksum differs from the dump's")
    checks.append(f"row counts{' and checksums' if checksums else ''} of {len(expected)} tables")


def _amcheck(dsn: str, name: str, jobs: int, problems: list[str], checks: list[str]) -> None:
    try:
        program = command.find_program("pg_amcheck")
        with _session(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    except LightkeeperError as exc:  # no program, or no extension on this server
        checks.append(f"amcheck skipped: {exc}")
        return
    env, secrets = connection_env(dsn)
    # Exit 2 means corruption was found and reported on stdout; anything else is a failure
    # to check, which is a problem too.
    args = [program, "--no-password", "-j", str(jobs), name]
    try:
        result = command.run(args, env=env, secrets=secrets, ok_codes=(0, 2))
    except CommandError as exc:
        problems.append(f"amcheck failed: {exc}")
        return
    if result.returncode == 2:
        report = (result.stdout.decode(errors="replace") or result.stderr).strip()
        report = mask_secrets(report, secrets)
        problems.append(f"amcheck found corruption: {'; '.join(report.splitlines()[:5])}")
    checks.append("pg_amcheck on tables and btree indexes")


def _sanity_queries(
    dsn: str, queries: Sequence[str], problems: list[str], checks: list[str]
) -> None:
    if not queries:
        return
    with _session(dsn, autocommit=True) as conn:
        # A runaway query would hold the scratch database (and its disk) until someone looks.
        conn.execute("SET statement_timeout = '5min'")
        for query in queries:
            try:
                # bytes: a configured query is not a literal, and no parameters are bound.
                rows = conn.execute(query.encode()).fetchall()
            except psycopg.Error as exc:
                problems.append(f"query {query!r} failed: {redact_text(str(exc))}")
                continue
            if len(rows) != 1 or len(rows[0]) != 1:
                problems.append(f"query {query!r} must return one value, returned {len(rows)} rows")
            elif not rows[0][0]:
                problems.append(f"query {query!r} returned {rows[0][0]!r}")
            checks.append(f"query {query!r}")
