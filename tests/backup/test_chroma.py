"""Chroma backups against real ChromaDB servers (`chroma run` on loopback): export, restore
into another server and under a prefix, refusal and --force, verify, writes during export."""

from __future__ import annotations

import math
import random
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lightkeeper.backup.chroma import (
    ChromaDump,
    CollectionStat,
    export,
    inspect,
    restore,
)
from lightkeeper.backup.chroma_verify import verify
from lightkeeper.errors import LightkeeperError
from tests.probes.loopback import ChromaServer, closed_port

pytestmark = pytest.mark.integration

DB = "/api/v2/tenants/default_tenant/databases/{database}"
ALL = ["embeddings", "documents", "metadatas"]


def f32(value: float) -> float:
    """The float32 Chroma stores, as a Python float: test inputs round-trip exactly."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@dataclass
class Seed:
    """What went into a collection, to compare a restore with the inputs themselves."""

    space: str
    ids: list[str]
    embeddings: list[list[float]]
    documents: list[str | None]
    metadatas: list[dict[str, Any] | None]


def api(url: str, method: str, path: str, database: str = "default_database", **kw: Any) -> Any:
    response = httpx.request(method, url + DB.format(database=database) + path, timeout=30, **kw)
    assert response.is_success, response.text
    return response.json()


def collection(url: str, name: str, database: str = "default_database") -> dict[str, Any]:
    found: dict[str, Any] = api(url, "GET", f"/collections/{name}", database)
    return found


def names(url: str) -> list[str]:
    return sorted(c["name"] for c in api(url, "GET", "/collections?limit=1000"))


def add(url: str, coll_id: str, seed: Seed, database: str = "default_database") -> None:
    for start in range(0, len(seed.ids), 500):
        part = slice(start, start + 500)
        body = {
            "ids": seed.ids[part],
            "embeddings": seed.embeddings[part],
            "documents": seed.documents[part],
            "metadatas": seed.metadatas[part],
        }
        api(url, "POST", f"/collections/{coll_id}/add", database, json=body)


def make_seed(rng: random.Random, prefix: str, count: int, dim: int, space: str) -> Seed:
    return Seed(
        space=space,
        ids=[f"{prefix}-{i:05d}" for i in range(count)],
        embeddings=[[f32(rng.uniform(-1, 1)) for _ in range(dim)] for _ in range(count)],
        documents=[
            None if i % 7 == 0 else f"Prüfung №{i} — 東京 🚢 «{prefix}»" for i in range(count)
        ],
        metadatas=[
            None
            if i % 11 == 0
            else {"n": i, "score": i / 7, "ok": i % 2 == 0, "lang": "ελληνικά", "tags": ["a", "ß"]}
            for i in range(count)
        ],
    )


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ChromaServer, ChromaServer]]:
    source = ChromaServer(tmp_path_factory.mktemp("chroma-source") / "data", closed_port())
    target = ChromaServer(tmp_path_factory.mktemp("chroma-target") / "data", closed_port())
    source.start()
    try:
        target.start()
        yield source, target
    finally:
        source.stop()
        target.stop()


@pytest.fixture(scope="module")
def seeds(servers: tuple[ChromaServer, ChromaServer]) -> dict[str, Seed]:
    """docs (cosine, 1,500 x 384: two export pages), notes (l2 through legacy metadata),
    empty (inner product, no records)."""
    url = servers[0].url
    rng = random.Random(7)
    seeds = {
        "docs": make_seed(rng, "doc", 1500, 384, "cosine"),
        "notes": make_seed(rng, "note", 40, 8, "l2"),
        "empty": make_seed(rng, "none", 0, 4, "ip"),
    }
    bodies: dict[str, dict[str, Any]] = {
        "docs": {"configuration": {"hnsw": {"space": "cosine"}}, "metadata": {"team": "search"}},
        "notes": {"metadata": {"hnsw:space": "l2", "owner": "ops"}},
        "empty": {"configuration": {"hnsw": {"space": "ip"}}},
    }
    for name, seed in seeds.items():
        created = api(url, "POST", "/collections", json={"name": name, **bodies[name]})
        add(url, created["id"], seed)
    return seeds


@pytest.fixture(scope="module")
def dump(
    seeds: dict[str, Seed],
    servers: tuple[ChromaServer, ChromaServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ChromaDump, Path]:
    out = tmp_path_factory.mktemp("dump")
    return export(servers[0].url, out), out


@pytest.fixture(scope="module")
def restored(dump: tuple[ChromaDump, Path], servers: tuple[ChromaServer, ChromaServer]) -> str:
    """The dump restored into the second server; returns its URL."""
    target = servers[1].url
    assert restore(dump[1], target) == ["docs", "empty", "notes"]
    return target


def records(url: str, name: str) -> dict[str, tuple[Any, ...]]:
    """Every record of a collection: id -> (document, metadata, embedding as float32 bits)."""
    coll = collection(url, name)
    body = {"limit": 5000, "include": ALL}
    got = api(url, "POST", f"/collections/{coll['id']}/get", json=body)
    rows = zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True)
    return {row[0]: (row[1], row[2], bits(row[3])) for row in rows}


def bits(vector: list[float]) -> list[int]:
    """A float32 vector as the integers of its bit patterns (ordered like the floats, for
    positive and negative values apart), to count units in the last place."""
    raw = struct.unpack(f"<{len(vector)}i", struct.pack(f"<{len(vector)}f", *vector))
    return [value if value >= 0 else -(value & 0x7FFFFFFF) for value in raw]


def ulps(a: list[int], b: list[int]) -> int:
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0)


def close(got: dict[str, Any] | None, sent: dict[str, Any] | None) -> bool:
    """Metadata equal, but for the last bit of a float: Chroma's first write of a float
    may land one float64 unit off (what it stores then round-trips exactly)."""
    if got is None or sent is None:
        return got is sent
    return got.keys() == sent.keys() and all(
        got[k] == sent[k] if not isinstance(sent[k], float) else math.isclose(got[k], sent[k])
        for k in sent
    )


def by_name(stats: list[CollectionStat]) -> dict[str, CollectionStat]:
    return {stat.name: stat for stat in stats}


def test_export_writes_one_file_per_collection(
    dump: tuple[ChromaDump, Path], servers: tuple[ChromaServer, ChromaServer]
) -> None:
    result, out = dump
    assert result.files == [
        "collections/docs.jsonl",
        "collections/empty.jsonl",
        "collections/notes.jsonl",
    ]
    assert result.server_version
    stats = {stat.name: (stat.count, stat.dimension) for stat in result.collections}
    assert stats == {"docs": (1500, 384), "empty": (0, None), "notes": (40, 8)}
    lines = (out / "collections/docs.jsonl").read_bytes().splitlines()
    definition = orjson.loads(lines[0])
    assert (definition["name"], definition["count"], definition["dimension"]) == ("docs", 1500, 384)
    assert definition["configuration"]["hnsw"]["space"] == "cosine"
    assert definition["metadata"] == {"team": "search"}
    assert len(lines) == 1501
    assert list(orjson.loads(lines[1])) == ["id", "document", "metadata", "embedding"]
    # The checksum is the server's content, whoever computes it and in whatever order.
    assert inspect(servers[0].url) == result.collections


def test_restore_into_another_server_is_equal(
    dump: tuple[ChromaDump, Path],
    restored: str,
    seeds: dict[str, Seed],
    servers: tuple[ChromaServer, ChromaServer],
) -> None:
    for name, seed in seeds.items():
        coll = collection(restored, name)
        assert coll["configuration_json"]["hnsw"]["space"] == seed.space
        assert api(restored, "GET", f"/collections/{coll['id']}/count") == len(seed.ids)
    assert collection(restored, "notes")["metadata"] == {"hnsw:space": "l2", "owner": "ops"}
    # l2 and inner product: bit for bit, so the checksums agree.
    manifest, stats = by_name(dump[0].collections), by_name(inspect(restored))
    assert (stats["notes"], stats["empty"]) == (manifest["notes"], manifest["empty"])
    assert stats["docs"].count == 1500
    for name in ("docs", "notes"):
        seed = seeds[name]
        source, copy = records(servers[0].url, name), records(restored, name)
        assert copy.keys() == source.keys() == set(seed.ids)
        # cosine: Chroma itself hands vectors back rescaled, an ulp or two off.
        limit = 0 if seed.space == "l2" else 4
        for i, record_id in enumerate(seed.ids):
            document, metadata, embedding = copy[record_id]
            assert (document, metadata) == source[record_id][:2]
            assert document == seed.documents[i]
            assert close(metadata, seed.metadatas[i])
            assert ulps(embedding, source[record_id][2]) <= limit
            assert ulps(embedding, bits(seed.embeddings[i])) <= limit


def test_restore_with_prefix_into_the_same_server(
    dump: tuple[ChromaDump, Path], servers: tuple[ChromaServer, ChromaServer]
) -> None:
    url = servers[0].url
    try:
        assert restore(dump[1], url, prefix="copy-") == ["copy-docs", "copy-empty", "copy-notes"]
        copy = by_name(inspect(url, prefix="copy-"))
        manifest = by_name(dump[0].collections)
        assert (copy["notes"], copy["empty"]) == (manifest["notes"], manifest["empty"])
        assert copy["docs"].count == 1500
        assert inspect(url, collections=["docs", "empty", "notes"]) == dump[0].collections
    finally:
        for name in ("copy-docs", "copy-empty", "copy-notes"):
            httpx.delete(url + DB.format(database="default_database") + f"/collections/{name}")


def test_restore_creates_a_missing_database(
    dump: tuple[ChromaDump, Path], servers: tuple[ChromaServer, ChromaServer]
) -> None:
    url = servers[1].url
    assert restore(dump[1], url, database="elsewhere") == ["docs", "empty", "notes"]
    copy, manifest = by_name(inspect(url, database="elsewhere")), by_name(dump[0].collections)
    assert (copy["notes"], copy["empty"], copy["docs"].count) == (
        manifest["notes"],
        manifest["empty"],
        1500,
    )


def test_non_empty_target_is_refused_unless_forced(
    dump: tuple[ChromaDump, Path], restored: str
) -> None:
    notes = collection(restored, "notes")
    api(restored, "POST", f"/collections/{notes['id']}/delete", json={"ids": ["note-00001"]})
    with pytest.raises(LightkeeperError, match=r"'docs' already holds 1500 records.*--force"):
        restore(dump[1], restored)
    assert api(restored, "GET", f"/collections/{notes['id']}/count") == 39  # untouched
    assert restore(dump[1], restored, force=True) == ["docs", "empty", "notes"]
    assert by_name(inspect(restored))["notes"] == by_name(dump[0].collections)["notes"]


def test_verify_a_good_dump(
    dump: tuple[ChromaDump, Path], servers: tuple[ChromaServer, ChromaServer]
) -> None:
    url = servers[0].url
    before = names(url)
    result = verify(dump[1], dump[0].collections, url)
    assert result.ok, result.problems
    assert result.checks == [
        "docs: 1500 records intact, restored equal",
        "empty: 0 records intact, restored equal",
        "notes: 40 records intact, restored equal",
    ]
    assert result.restore_seconds > 0
    assert names(url) == before  # scratch collections gone


def test_verify_a_tampered_dump(
    dump: tuple[ChromaDump, Path], servers: tuple[ChromaServer, ChromaServer], tmp_path: Path
) -> None:
    url = servers[0].url
    before = names(url)
    shutil.copytree(dump[1], tmp_path / "dump")
    path = tmp_path / "dump/collections/notes.jsonl"
    lines = path.read_bytes().splitlines()
    record = orjson.loads(lines[5])
    record["embedding"][3] = f32(record["embedding"][3] + 0.25)
    lines[5] = orjson.dumps(record)
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = verify(tmp_path / "dump", dump[0].collections, url)
    assert not result.ok
    assert result.problems == [
        "notes: the dump's 40 records differ from the manifest's (changed since?)"
    ]
    assert "docs: 1500 records intact, restored equal" in result.checks
    assert names(url) == before


@pytest.fixture
def busy(servers: tuple[ChromaServer, ChromaServer]) -> tuple[str, str]:
    """A collection of 250 records in a database of its own; returns (URL, database)."""
    url = servers[0].url
    database = f"busy{random.randrange(10**6)}"
    httpx.post(url + "/api/v2/tenants/default_tenant/databases", json={"name": database})
    coll = api(url, "POST", "/collections", database, json={"name": "stream"})
    add(url, coll["id"], make_seed(random.Random(1), "s", 250, 4, "l2"), database)
    return url, database


def write_during_reads(
    monkeypatch: pytest.MonkeyPatch, url: str, database: str, times: int
) -> None:
    """After each of the first ``times`` page reads of "stream", a real write lands."""
    coll_id = collection(url, "stream", database)["id"]
    real_send = httpx.Client.send
    extra = iter(range(1000, 2000))

    def send(self: httpx.Client, request: httpx.Request, **kw: Any) -> httpx.Response:
        response = real_send(self, request, **kw)
        nonlocal times
        if request.url.path.endswith(f"{coll_id}/get") and times > 0:
            times -= 1
            i = next(extra)
            body = {"ids": [f"late-{i}"], "embeddings": [[1.0, 2.0, 3.0, float(i)]]}
            api(url, "POST", f"/collections/{coll_id}/add", database, json=body)
        return response

    monkeypatch.setattr(httpx.Client, "send", send)


def test_writes_during_export_are_read_again(
    busy: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, database = busy
    write_during_reads(monkeypatch, url, database, times=1)
    result = export(url, tmp_path, database=database, batch=100)
    assert [stat.count for stat in result.collections] == [251]
    assert len((tmp_path / "collections/stream.jsonl").read_bytes().splitlines()) == 252
    assert inspect(url, database=database) == result.collections


def test_writes_throughout_export_are_a_clear_error(
    busy: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, database = busy
    write_during_reads(monkeypatch, url, database, times=1000)
    with pytest.raises(LightkeeperError, match="'stream': writes went on during the backup"):
        export(url, tmp_path, database=database, batch=100)
    assert list((tmp_path / "collections").iterdir()) == []  # no half-written file left


def test_unreachable_server_is_a_clear_error(dump: tuple[ChromaDump, Path], tmp_path: Path) -> None:
    url = f"http://backup:s3cret@127.0.0.1:{closed_port()}"
    for attempt in (
        lambda: export(url, tmp_path),
        lambda: restore(dump[1], url),
        lambda: inspect(url),
    ):
        with pytest.raises(LightkeeperError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith("chroma at http://backup:***@127.0.0.1:")
        assert "ConnectError" in message
        assert "s3cret" not in message
    result = verify(dump[1], dump[0].collections, url)
    assert not result.ok
    assert "ConnectError" in result.problems[0]


def test_http_errors_carry_status_and_message(
    dump: tuple[ChromaDump, Path], servers: tuple[ChromaServer, ChromaServer], tmp_path: Path
) -> None:
    url = servers[0].url
    with pytest.raises(LightkeeperError, match=r"no collection named 'missing'"):
        export(url, tmp_path, collections=["docs", "missing"])
    with pytest.raises(LightkeeperError, match=r"no database 'nowhere' in tenant 'default_tenant'"):
        export(url, tmp_path, database="nowhere")
    with pytest.raises(LightkeeperError, match=r"no database 'default_database' in tenant 'x'"):
        inspect(url, tenant="x")
    # An invalid collection name: the server's own status and message come through.
    with pytest.raises(LightkeeperError, match=r"create '-docs': status 4\d\d: .*name"):
        restore(dump[1], url, prefix="-")
