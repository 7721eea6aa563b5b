"""Chroma probe against real ChromaDB servers started by `chroma run` on loopback."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from lightkeeper.probes.base import ProbeContext
from lightkeeper.probes.chroma import ChromaMonitor, ChromaProbe
from lightkeeper.types import State

from .loopback import ChromaServer

pytestmark = pytest.mark.integration

COLLECTIONS = "/api/v2/tenants/default_tenant/databases/default_database/collections"


def monitor(url: str, **fields: Any) -> ChromaMonitor:
    return ChromaMonitor.model_validate(
        {"name": "vectors", "type": "chroma", "url": url, "timeout": "5s", **fields}
    )


def make_collection(url: str, records: int) -> str:
    """A new collection with ``records`` tiny vectors, made through Chroma's HTTP API."""
    name = f"docs-{uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{url}{COLLECTIONS}", json={"name": name}, timeout=10)
    created.raise_for_status()
    if records:
        added = httpx.post(
            f"{url}{COLLECTIONS}/{created.json()['id']}/add",
            json={
                "ids": [f"r{i}" for i in range(records)],
                "embeddings": [[float(i), 1.0, 0.5] for i in range(records)],
                "documents": [f"document {i}" for i in range(records)],
            },
            timeout=10,
        )
        added.raise_for_status()
    return name


async def test_heartbeat_up(chroma_url: str, ctx: ProbeContext) -> None:
    result = await ChromaProbe(monitor(chroma_url), ctx).check()
    assert (result.state, result.reason) == (State.UP, "heartbeat ok")
    assert result.latency_ms is not None


async def test_collection_count_and_read_latency(chroma_url: str, ctx: ProbeContext) -> None:
    name = make_collection(chroma_url, records=3)
    result = await ChromaProbe(monitor(chroma_url + "/", collection=name), ctx).check()
    assert result.state == State.UP, result.reason
    assert result.reason == f"collection '{name}' has 3 records"
    assert result.metrics["collection_count"] == 3
    assert result.metrics["query_latency_ms"] > 0


async def test_empty_collection(chroma_url: str, ctx: ProbeContext) -> None:
    name = make_collection(chroma_url, records=0)
    result = await ChromaProbe(monitor(chroma_url, collection=name), ctx).check()
    assert result.state == State.UP
    assert result.metrics["collection_count"] == 0


async def test_missing_collection_is_down(chroma_url: str, ctx: ProbeContext) -> None:
    result = await ChromaProbe(monitor(chroma_url, collection="docs"), ctx).check()
    assert (result.state, result.reason) == (State.DOWN, "collection 'docs' not found")


async def test_unknown_tenant_is_down(chroma_url: str, ctx: ProbeContext) -> None:
    name = make_collection(chroma_url, records=1)
    config = monitor(chroma_url, collection=name, tenant="nobody")
    result = await ChromaProbe(config, ctx).check()
    assert result.state == State.DOWN
    assert result.reason == f"collection '{name}' not found"


async def test_not_chroma_is_down(ctx: ProbeContext, chroma_url: str) -> None:
    # Some other HTTP server on the address (here: Chroma's own API under a wrong base).
    result = await ChromaProbe(monitor(chroma_url + "/nothing"), ctx).check()
    assert result.state == State.DOWN
    assert result.reason.startswith("heartbeat returned status 404")


async def test_stopped_server_is_down_then_recovers(
    own_chroma: ChromaServer, ctx: ProbeContext
) -> None:
    name = make_collection(own_chroma.url, records=2)
    config = monitor(own_chroma.url, collection=name)
    assert (await ChromaProbe(config, ctx).check()).state == State.UP

    own_chroma.stop()
    down = await ChromaProbe(config, ctx).check()
    assert (down.state, down.reason) == (State.DOWN, "connection refused")

    own_chroma.start()  # same port, same data directory
    again = await ChromaProbe(config, ctx).check()
    assert again.state == State.UP, again.reason
    assert again.metrics["collection_count"] == 2


def test_headers_stay_out_of_repr() -> None:
    config = monitor("http://127.0.0.1:8000", headers={"x-chroma-token": "tok-123456"})
    assert "tok-123456" not in repr(config)
    assert config.target() == "http://127.0.0.1:8000"


def test_invalid_url() -> None:
    with pytest.raises(ValidationError, match="Invalid port"):
        monitor("http://127.0.0.1:port")
