"""Incident tests run on SQLite and PostgreSQL; the PostgreSQL database is created and
migrated once per session (half a second each otherwise) and emptied before each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lightkeeper.clock import ManualClock
from lightkeeper.store import Store
from tests.conftest import PG_ADMIN
from tests.incidents.helpers import at

TABLES = "incidents, incident_alerts, incident_events, outbox"


@pytest.fixture(scope="session")
def incidents_pg() -> Iterator[str]:
    name = f"lk_test_incidents_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}: {exc} (scripts/test starts it)")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    store = Store(url)
    store.migrate()
    store.close()
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url = str(request.getfixturevalue("incidents_pg"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def clock() -> ManualClock:
    """Tuesday 10 Nov 2026, 12:00 in London: ben's week in the test rotation."""
    return ManualClock(at("2026-11-10 12:00", "Europe/London"))
