"""Verifying a PostgreSQL dump: restore it into a scratch database and check what came back
(row counts, checksums, pg_amcheck, sanity queries); scratch databases are made and dropped here.
"""

from __future__ import annotations

import logging
import re
import secrets as random_source
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from lightkeeper.backup import command
from lightkeeper.backup.command import CommandError, mask_secrets
from lightkeeper.backup.postgres import TableStat, connection_env, inspect, restore, session
from lightkeeper.errors import LightkeeperError
from lightkeeper.redact import redact_text

log = logging.getLogger(__name__)

SCRATCH_PREFIXES = ("lk_verify_", "lk_drill_")


class Manifest(Protocol):
    """What :func:`verify` needs from a dump's record: a
    :class:`~lightkeeper.backup.postgres.DumpInfo` or a stored one."""

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
    with session(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop scratch database ``name``; refuses any name without a scratch prefix, so a
    mix-up can never drop a real database."""
    if not name.startswith(SCRATCH_PREFIXES):
        raise LightkeeperError(
            f"refusing to drop database {name!r}: only scratch databases"
            f" ({', '.join(SCRATCH_PREFIXES)}…) are dropped"
        )
    with session(admin_dsn, autocommit=True) as conn:
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
        with session(dsn, autocommit=True) as conn:
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
    with session(dsn, autocommit=True) as conn:
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
