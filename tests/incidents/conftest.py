"""Incident tests run on SQLite and PostgreSQL; the PostgreSQL database is created and
migrated once per session (half a second each otherwise) and emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lightkeeper.clock import ManualClock
from lightkeeper.store import Store
from tests.conftest import reused_store_url
from tests.incidents.helpers import at

TABLES = "incidents, incident_alerts, incident_events, outbox"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return reused_store_url(request, tmp_path, TABLES)


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
