"""Fixtures for the probe tests: a probe context, a silent listener, a private CA and
ChromaDB servers (the helpers behind them live in loopback.py)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lightkeeper.probes.base import ProbeContext

from .loopback import ChromaServer, Pki, closed_port, make_pki


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    context = ProbeContext()
    yield context
    await context.aclose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes TCP handshakes (the kernel's backlog) but never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield listener.getsockname()[1]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma") / "data", closed_port())
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def own_chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    """A Chroma server of the test's own, free to be stopped and restarted."""
    server = ChromaServer(tmp_path / "data", closed_port())
    server.start()
    yield server
    server.stop()
