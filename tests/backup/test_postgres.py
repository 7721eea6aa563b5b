"""PostgreSQL dump, restore and verification against the real server and the real pg_dump:
round trips of a database with schemas, sequences, views and large objects; row counts
from the dump's own snapshot; verification that catches tampering and always cleans up."""

from __future__ import annotations

import gzip
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from lightkeeper.backup import command
from lightkeeper.backup.command import CommandError
from lightkeeper.backup.pg_verify import drop_database, scratch_name, verify, with_database
from lightkeeper.backup.postgres import (
    DumpInfo,
    PostgresError,
    connection_env,
    dump,
    inspect,
    restore,
)
from lightkeeper.errors import LightkeeperError
from tests.conftest import PG_ADMIN, free_port, scratch_database

pytestmark = pytest.mark.integration

SOURCE_SCHEMA = '''
CREATE SCHEMA billing;
CREATE SCHEMA analytics;
CREATE TABLE public.users (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    profile jsonb,
    avatar bytea,
    created timestamptz NOT NULL,
    tags text[]
);
INSERT INTO users (email, profile, avatar, created, tags)
SELECT 'user' || i || '@example.com', jsonb_build_object('n', i, 'name', 'Üser ' || i),
       decode(md5(i::text), 'hex'), timestamptz '2024-01-01 00:00+00' + i * interval '37 min',
       ARRAY['t' || i % 7, 'x']
FROM generate_series(1, 3000) i;
CREATE SEQUENCE billing.invoice_no START 1000;
CREATE TABLE billing.invoices (
    id bigint PRIMARY KEY DEFAULT nextval('billing.invoice_no'),
    user_id int NOT NULL REFERENCES public.users (id),
    amount numeric(12, 2) NOT NULL,
    issued date,
    lines int[]
);
INSERT INTO billing.invoices (user_id, amount, issued, lines)
SELECT 1 + i % 3000, round(i * 1.37, 2), date '2024-01-01' + i % 365, ARRAY[i, i + 1]
FROM generate_series(1, 5000) i;
SELECT setval('billing.invoice_no', 7777);
CREATE TABLE billing.empty (id int);
CREATE TABLE analytics.events (
    id bigserial PRIMARY KEY, kind text, payload jsonb, at timestamptz, score double precision
);
INSERT INTO analytics.events (kind, payload, at, score)
SELECT 'k' || i % 5, jsonb_build_object('i', i), now() - i * interval '1 s', i / 3.0
FROM generate_series(1, 4000) i;
-- A quoted name, and a column called "t" like the alias in the checksum query.
CREATE TABLE analytics."Mixed ""Case""" (t int, note text);
INSERT INTO analytics."Mixed ""Case""" VALUES (1, 'one'), (2, NULL);
CREATE VIEW billing.revenue AS SELECT user_id, sum(amount) AS total FROM billing.invoices GROUP BY 1;
CREATE MATERIALIZED VIEW analytics.kinds AS SELECT kind, count(*) AS n FROM analytics.events GROUP BY 1;
SELECT lo_from_bytea(0, 'a small large object'), lo_from_bytea(0, decode(repeat('ab', 300000), 'hex'));
'''
EXPECTED_ROWS = {
    ("public", "users"): 3000,
    ("billing", "invoices"): 5000,
    ("billing", "empty"): 0,
    ("analytics", "events"): 4000,
    ("analytics", 'Mixed "Case"'): 2,
}


def query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql.encode())
        return cursor.fetchall() if cursor.description else []


def lk_verify_databases(marker: str) -> list[str]:
    return [r[0] for r in query(PG_ADMIN, "SELECT datname FROM pg_database") if marker in r[0]]


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    with scratch_database("lk_test_src") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SOURCE_SCHEMA.encode())
        yield url


@pytest.fixture(scope="module")
def dumps(
    source: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, DumpInfo]]:
    base = tmp_path_factory.mktemp("dumps")
    return {
        "directory": (base / "d", dump(source, base / "d", globals=True)),
        "custom": (base / "c", dump(source, base / "c", format="custom", jobs=1)),
    }


def fingerprint(dsn: str) -> dict[str, Any]:
    """Everything a restore must bring back, read the same way from both databases."""
    _, tables, large_objects = inspect(dsn, checksums=True)
    return {
        "tables": tables,
        "large_objects": large_objects,
        "lo_content": query(dsn, "SELECT md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY 1"),
        "sequence": query(dsn, "SELECT last_value FROM billing.invoice_no"),
        "view": query(dsn, "SELECT count(*), sum(total) FROM billing.revenue"),
        "matview": query(dsn, "SELECT sum(n) FROM analytics.kinds"),
    }


@pytest.mark.parametrize("fmt", ["directory", "custom"])
def test_dump_and_restore_bring_everything_back(
    fmt: str, source: str, dumps: dict[str, tuple[Path, DumpInfo]]
) -> None:
    out_dir, info = dumps[fmt]
    assert info.format == fmt
    assert info.database == source.rsplit("/", 1)[1]
    assert re.fullmatch(r"\d+\.\d+", info.tool_version)
    assert info.server_version == inspect(source)[0]
    assert {(t.schema, t.name): t.rows for t in info.tables} == EXPECTED_ROWS
    assert info.large_objects == 2
    assert all((out_dir / f).is_file() for f in info.files)
    if fmt == "directory":
        assert "db/toc.dat" in info.files and "globals.sql" in info.files
        assert any(f.endswith(".dat.gz") for f in info.files)  # pg_dump's own gzip on 15
        assert "CREATE ROLE postgres" in (out_dir / "globals.sql").read_text()
    else:
        assert info.files == ["db.dump"]

    with scratch_database("lk_test_restore") as target:
        seconds = restore(out_dir, fmt, target)
        assert seconds > 0
        assert fingerprint(target) == fingerprint(source)
        # The identity sequence came back too: the next user does not collide.
        assert query(
            target, "INSERT INTO users (email, created) VALUES ('n@x', now()) RETURNING id"
        ) == [(3001,)]
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            query(target, "INSERT INTO billing.invoices (user_id, amount) VALUES (999999, 1)")


def test_row_counts_come_from_the_dumps_own_snapshot(tmp_path: Path) -> None:
    """Rows inserted while pg_dump runs are in neither the dump nor its counts."""
    with scratch_database("lk_test_busy") as url:
        query(url, "CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())")
        query(url, "INSERT INTO ticks (at) SELECT now() FROM generate_series(1, 20000)")
        stop = threading.Event()
        inserted = [0]

        def insert_until_stopped() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                while not stop.is_set():
                    conn.execute("INSERT INTO ticks DEFAULT VALUES")
                    inserted[0] += 1

        writer = threading.Thread(target=insert_until_stopped)
        writer.start()
        try:
            while inserted[0] < 50:  # the writer is running before the snapshot is taken
                threading.Event().wait(0.01)
            info = dump(url, tmp_path / "busy")
            before_stop = inserted[0]
        finally:
            stop.set()
            writer.join()
        live = query(url, "SELECT count(*) FROM ticks")[0][0]
        dumped = next(t.rows for t in info.tables if t.name == "ticks")
        assert 20000 < dumped < live
        assert before_stop > 50  # the writer kept writing while pg_dump ran
        with scratch_database("lk_test_busy_restore") as target:
            restore(tmp_path / "busy", "directory", target)
            assert query(target, "SELECT count(*) FROM ticks")[0][0] == dumped


def test_checksums_ignore_row_order_and_see_every_change(pg_database: str) -> None:
    query(
        pg_database,
        "CREATE TABLE a (t int, v text); CREATE TABLE b (t int, v text);"
        " INSERT INTO a SELECT i, 'v' || i FROM generate_series(1, 100) i;"
        " INSERT INTO b SELECT i, 'v' || i FROM generate_series(100, 1, -1) i;",
    )
    stats = {t.name: t for t in inspect(pg_database, checksums=True)[1]}
    assert stats["a"].checksum == stats["b"].checksum
    assert stats["a"].rows == stats["b"].rows == 100
    query(pg_database, "UPDATE b SET v = 'changed' WHERE t = 50")
    changed = {t.name: t for t in inspect(pg_database, checksums=True)[1]}
    assert changed["a"].checksum == stats["a"].checksum
    assert changed["b"].checksum != stats["b"].checksum
    assert inspect(pg_database)[1][0].checksum is None  # only computed when asked


def test_verify_passes_a_good_dump_and_drops_its_scratch_database(
    dumps: dict[str, tuple[Path, DumpInfo]],
) -> None:
    out_dir, info = dumps["directory"]
    result = verify(out_dir, info, PG_ADMIN, queries=["SELECT count(*) = 3000 FROM users"])
    assert result.ok, result.problems
    assert result.problems == []
    assert result.restore_seconds > 0
    assert any("row counts of 5 tables" in c for c in result.checks)
    assert "pg_amcheck on tables and btree indexes" in result.checks
    assert "query 'SELECT count(*) = 3000 FROM users'" in result.checks
    assert lk_verify_databases(f"lk_verify_{info.database}") == []


def test_verify_compares_checksums_when_the_manifest_has_them(
    source: str, dumps: dict[str, tuple[Path, DumpInfo]]
) -> None:
    out_dir, info = dumps["custom"]
    tables = inspect(source, checksums=True)[1]
    good = verify(out_dir, replace(info, tables=tables), PG_ADMIN, amcheck=False)
    assert good.ok, good.problems
    assert "row counts and checksums of 5 tables" in good.checks
    wrong = [replace(t, checksum="0" * 32) if t.name == "events" else t for t in tables]
    bad = verify(out_dir, replace(info, tables=wrong), PG_ADMIN, amcheck=False)
    assert bad.problems == ["table analytics.events: checksum differs from the dump's"]


def data_file(out_dir: Path, schema: str, table: str) -> Path:
    toc = command.run([command.find_program("pg_restore"), "-l", str(out_dir / "db")]).stdout
    found = re.search(rf"^(\d+);.* TABLE DATA {schema} {table} ", toc.decode(), re.M)
    assert found, toc
    return out_dir / "db" / f"{found[1]}.dat.gz"


@pytest.fixture
def tampered(dumps: dict[str, tuple[Path, DumpInfo]], tmp_path: Path) -> tuple[Path, DumpInfo]:
    out_dir, info = dumps["directory"]
    shutil.copytree(out_dir, tmp_path / "copy")
    return tmp_path / "copy", replace(info, database=f"lkt_{uuid.uuid4().hex[:8]}")


def test_verify_names_a_table_whose_data_file_is_garbage(tampered: tuple[Path, DumpInfo]) -> None:
    out_dir, info = tampered
    data_file(out_dir, "billing", "invoices").write_bytes(b"\x00garbage\n" * 100)
    result = verify(out_dir, info, PG_ADMIN)
    assert not result.ok
    assert len(result.problems) == 1
    assert result.problems[0].startswith("restore failed: pg_restore failed (exit 1)")
    assert 'table "invoices"' in result.problems[0]
    assert lk_verify_databases(info.database) == []


def test_verify_names_a_table_that_lost_rows(tampered: tuple[Path, DumpInfo]) -> None:
    """A data file that still restores cleanly but holds fewer rows: only the manifest's
    counts can tell."""
    out_dir, info = tampered
    path = data_file(out_dir, "analytics", "events")
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:10]) + b"\\.\n"))
    result = verify(out_dir, info, PG_ADMIN)
    assert result.problems == ["table analytics.events: 10 rows restored, 4000 dumped"]
    assert lk_verify_databases(info.database) == []


def test_verify_reports_each_failing_sanity_query(tampered: tuple[Path, DumpInfo]) -> None:
    out_dir, info = tampered
    queries = [
        "SELECT count(*) > 0 FROM users",
        "SELECT count(*) > 10000 FROM users",
        "SELECT id FROM users LIMIT 2",
        "SELECT * FROM no_such_table",
    ]
    result = verify(out_dir, info, PG_ADMIN, queries=queries, amcheck=False)
    assert not result.ok
    assert result.problems[0] == "query 'SELECT count(*) > 10000 FROM users' returned False"
    assert result.problems[1] == (
        "query 'SELECT id FROM users LIMIT 2' must return one value, returned 2 rows"
    )
    assert result.problems[2].startswith("query 'SELECT * FROM no_such_table' failed: ")
    assert "no_such_table" in result.problems[2]
    assert len(result.problems) == 3
    assert lk_verify_databases(info.database) == []


@pytest.mark.parametrize("name", ["postgres", "lk_test_keep", "verify_lk_x", "LK_VERIFY_x", ""])
def test_drop_database_refuses_anything_but_scratch_names(name: str, source: str) -> None:
    with pytest.raises(LightkeeperError, match="refusing to drop database"):
        drop_database(PG_ADMIN, name)
    with pytest.raises(LightkeeperError, match="refusing to drop database"):
        drop_database(PG_ADMIN, source.rsplit("/", 1)[1])
    assert query(source, "SELECT 1") == [(1,)]


@pytest.mark.parametrize(
    "source_db",
    ["shop", "Shop-Prod.2024", "lk_verify_shop", "x" * 63, "ünïcode db", "___"],
)
def test_scratch_names_are_fresh_prefixed_and_short(source_db: str) -> None:
    names = {scratch_name(source_db) for _ in range(20)}
    assert len(names) == 20
    for name in names:
        assert re.fullmatch(r"lk_verify_[a-z0-9_]+_\d{14}_[0-9a-f]{4}", name), name
        assert len(name.encode()) <= 63
        assert name != source_db


@pytest.mark.parametrize(
    ("dsn", "env", "secrets"),
    [
        (
            "postgresql://app:s3cr%40t@db.internal:6432/shop?sslmode=require&application_name=lk",  # lightkeeper:allow
            {
                "PGUSER": "app",
                "PGPASSWORD": "s3cr@t",
                "PGHOST": "db.internal",
                "PGPORT": "6432",
                "PGDATABASE": "shop",
                "PGSSLMODE": "require",
                "PGAPPNAME": "lk",
            },
            ["s3cr@t"],
        ),
        ("postgres://app@h/db", {"PGUSER": "app", "PGHOST": "h", "PGDATABASE": "db"}, []),
        (
            "postgresql+psycopg://app:pw@h:5/db",
            {"PGUSER": "app", "PGPASSWORD": "pw", "PGHOST": "h", "PGPORT": "5", "PGDATABASE": "db"},
            ["pw"],
        ),
        ("postgresql://h1:5,h2:6/db", {"PGHOST": "h1,h2", "PGPORT": "5,6", "PGDATABASE": "db"}, []),
        (
            "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
            {"PGHOST": "/var/run/postgresql", "PGDATABASE": "db"},
            [],
        ),
        (
            "host=h dbname=d connect_timeout=3",
            {"PGHOST": "h", "PGDATABASE": "d", "PGCONNECT_TIMEOUT": "3"},
            [],
        ),
    ],
)
def test_connection_env(dsn: str, env: dict[str, str], secrets: list[str]) -> None:
    assert connection_env(dsn) == ({"PGCONNECT_TIMEOUT": "10", **env}, secrets)


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        (
            "postgresql://app:pw@h/db?keepalives=1",
            "parameter 'keepalives' has no libpq environment",
        ),
        ("postgresql://app:pw@h/db?nonsense=1", "invalid DSN postgresql://app:***@h/db"),
    ],
)
def test_connection_env_refuses_what_it_cannot_pass(dsn: str, message: str) -> None:
    with pytest.raises(PostgresError, match=re.escape(message)):
        connection_env(dsn)


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql://app:pw@h:5/shop?sslmode=require",
            "postgresql://app:pw@h:5/lk_verify_x?sslmode=require",
        ),
        ("postgresql+psycopg://h/shop", "postgresql+psycopg://h/lk_verify_x"),
        ("postgresql://h", "postgresql://h/lk_verify_x"),
        ("host=h dbname=shop", "dbname=lk_verify_x host=h"),
    ],
)
def test_with_database(dsn: str, expected: str) -> None:
    assert with_database(dsn, "lk_verify_x") == expected


def test_unreachable_server_or_unknown_user_never_shows_the_password(tmp_path: Path) -> None:
    password = "Sup3r-Secret-Pw"
    closed = f"postgresql://app:{password}@127.0.0.1:{free_port()}/shop"
    unknown_user = (
        f"postgresql://lk_nobody_{uuid.uuid4().hex[:6]}:{password}@127.0.0.1:5432/postgres"
    )
    for dsn in (closed, unknown_user):
        with pytest.raises(PostgresError) as caught:
            dump(dsn, tmp_path / "never")
        assert password not in str(caught.value)
        assert "postgresql://app:***@" in str(caught.value) or "lk_nobody_" in str(caught.value)
        with pytest.raises(CommandError) as failed:
            restore(tmp_path, "custom", dsn)
        assert password not in str(failed.value) and password not in failed.value.stderr
        assert str(failed.value).startswith("pg_restore failed (exit 1)")


def test_globals_need_a_superuser_and_say_so(pg_database: str, tmp_path: Path) -> None:
    role = f"lk_test_role_{uuid.uuid4().hex[:8]}"
    query(PG_ADMIN, f"CREATE ROLE {role} LOGIN")
    try:
        as_role = pg_database.replace("postgres@", f"{role}@", 1)
        with pytest.raises(CommandError) as caught:
            dump(as_role, tmp_path / "out", globals=True)
        assert caught.value.program == "pg_dumpall"
        assert "permission denied" in str(caught.value)
        assert "only be dumped by a superuser" in str(caught.value)
    finally:
        query(PG_ADMIN, f"DROP ROLE {role}")


def test_dump_timeout_kills_pg_dump(source: str, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"^pg_dump timed out after 0.001 s"):
        dump(source, tmp_path / "slow", timeout=0.001)
