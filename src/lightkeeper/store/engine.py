"""Opening the store: SQLite (WAL, busy timeout) or PostgreSQL (psycopg 3), then migrating."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lightkeeper.errors import ConfigError, StoreError
from lightkeeper.redact import redact_text, redact_url

MIGRATIONS = Path(__file__).parent / "migrations"


def dialect_insert(dialect: str, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT DO UPDATE, for SQLite or PostgreSQL."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def normalize_url(url: str) -> str:
    """Accept the URLs people paste: postgres://, postgresql:// → the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def open_engine(url: str) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            [
                f"store.url: {redact_url(url)!r} is not a database URL"
                "\n  hint: use sqlite:///path/to/lightkeeper.db or postgresql://user@host:5432/db"
            ]
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            pool_timeout=10,
            connect_args={"connect_timeout": 5, "application_name": "lightkeeper"},
        )
    raise ConfigError(
        [
            f"store.url: {parsed.get_backend_name()} is not supported"
            "\n  hint: use sqlite:///path.db (embedded) or postgresql://user@host/db"
        ]
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the dashboard read while the scheduler writes; NORMAL sync is durable
        # across a process crash (kill -9), which is the failure we promise to survive.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


#: The newest migration under migrations/versions (a test checks it is alembic's head).
HEAD = "0005"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; run on every start)."""
    if _at_head(engine):
        return  # the common case, and alembic costs a fifth of a second to import and ask
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # A second engine on ":memory:" would open another, empty database: not for those.
    on_file = engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")
    target = _transactional_sqlite(engine) if on_file else engine
    try:
        with target.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except Exception as exc:
        raise StoreError(f"cannot open the store: {describe_store_error(exc)}") from exc
    finally:
        if target is not engine:
            target.dispose()


def _transactional_sqlite(engine: Engine) -> Engine:
    """An engine on the same SQLite file whose transactions include DDL.

    Python's sqlite3 driver commits before every CREATE/ALTER on its own, so a migration
    killed half-way (kill -9 of a first `lightkeeper backup run`) would leave tables without
    the version stamp, and every later start would fail on "table already exists". Driving
    BEGIN ourselves (SQLAlchemy's pysqlite notes, "Serializable isolation / Savepoints /
    Transactional DDL") makes the whole upgrade one transaction: all of it or none.
    """
    migrating = create_engine(engine.url, connect_args={"timeout": 30})

    @event.listens_for(migrating, "connect")
    def _manual(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver stops issuing BEGIN/COMMIT
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(migrating, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock up front, once

    return migrating


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
            )
    except Exception:  # no table yet, or the store is away: let the migration say which
        return False


def describe_store_error(exc: BaseException) -> str:
    """The driver's first line (not SQLAlchemy's wrapper), with any password masked."""
    cause: Any = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return redact_text(first)[:300]
