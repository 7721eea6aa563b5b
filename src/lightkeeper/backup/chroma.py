"""Chroma backups through the HTTP API: export every collection and restore it anywhere;
:mod:`~lightkeeper.backup.chroma_verify` checks an export in scratch collections.

Nothing backs up ChromaDB itself (chroma#1061, #4238) and its on-disk index can break after
a crash (chroma#7090), so the portable copy is the records: ids, embeddings, documents and
metadatas, read with the v2 API (checked against chromadb 1.5's own /openapi.json) and written
as one JSON-lines file per collection that any Chroma server can take back.

Consistency caveat: Chroma has no snapshots. Each collection is read page by page with its
count taken before and after; a changed count, a short read or an id seen twice means writes
went on, and the collection is read again (three attempts in all). An update that keeps the
count (an upsert of an existing id) cannot be seen this way: pause writers, or take the
file-level copy with the server stopped, when that matters.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import orjson

from lightkeeper.errors import LightkeeperError
from lightkeeper.redact import redact_text, redact_url

Json = dict[str, Any]
_ATTEMPTS = 3
_FIELDS = ("id", "document", "metadata", "embedding")  # a record line, in this order
INCLUDE = [f"{key}s" for key in _FIELDS[1:]]


@dataclass(frozen=True)
class CollectionStat:
    """What a collection holds; ``checksum`` does not depend on record order (``Tally``)."""

    name: str
    count: int
    dimension: int | None
    checksum: str


@dataclass(frozen=True)
class ChromaDump:
    files: list[str]  # relative to the export's out_dir, e.g. "collections/docs.jsonl"
    server_version: str
    collections: list[CollectionStat]
    seconds: float


class Api:
    """One Chroma database over HTTP; every failure is a LightkeeperError naming the URL."""

    def __init__(
        self,
        url: str,
        tenant: str,
        database: str,
        headers: Mapping[str, str] | None,
        timeout: float = 30.0,
    ) -> None:
        self.where, self.secrets = redact_url(url), tuple((headers or {}).values())
        base = url.rstrip("/") + "/api/v2"
        self.client = httpx.Client(base_url=base, headers=headers, timeout=timeout)
        self.tenant, self.database = tenant, database
        self.root = f"/tenants/{quote(tenant, safe='')}/databases/{quote(database, safe='')}"

    def call(
        self, method: str, path: str, what: str, body: Any = None, tolerate: tuple[int, ...] = ()
    ) -> Any:
        """The decoded answer; None for a status in ``tolerate``."""
        content = None if body is None else orjson.dumps(body)
        kind = {"content-type": "application/json"} if content else None
        try:
            response = self.client.request(method, path, content=content, headers=kind)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self.error(f"{what}: {type(exc).__name__}: {exc}") from None
        if response.status_code in tolerate:
            return None
        if not response.is_success:
            raise self.error(f"{what}: status {response.status_code}: {response.text[:300]}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise self.error(f"{what}: the answer is not JSON (a Chroma 1.x server?)") from None

    def error(self, message: str) -> LightkeeperError:
        return LightkeeperError(redact_text(f"chroma at {self.where}: {message}", self.secrets))

    def open_database(self, create: bool = False) -> None:
        # Listing the collections of a database that does not exist answers [] (not 404).
        if self.call("GET", self.root, "database", tolerate=(404,)) is not None:
            return
        if not create:
            raise self.error(f"no database {self.database!r} in tenant {self.tenant!r}")
        path = self.root.rsplit("/", 1)[0]  # /tenants/{tenant}/databases
        self.call("POST", path, "create database", {"name": self.database})

    def select(self, names: Sequence[str] | None, prefix: str = "") -> list[Json]:
        """The named collections (each ``prefix + name``), or every one starting with prefix."""
        if names is not None:
            found = {name: self.find(prefix + name) for name in names}
            if missing := [repr(name) for name, coll in found.items() if coll is None]:
                raise self.error(f"no collection named {', '.join(missing)}")
            return [coll for coll in found.values() if coll is not None]
        listed: list[Json] = []
        while page := self.call(
            "GET", f"{self.root}/collections?limit=100&offset={len(listed)}", "list collections"
        ):
            listed.extend(page)
        return sorted((c for c in listed if c["name"].startswith(prefix)), key=lambda c: c["name"])

    def find(self, name: str) -> Json | None:
        # GET and DELETE .../collections/{x} take a name; the record routes take the id.
        path = f"{self.root}/collections/{quote(name, safe='')}"
        found: Json | None = self.call("GET", path, f"collection {name!r}", tolerate=(404,))
        return found

    def delete(self, name: str) -> None:
        self.call("DELETE", f"{self.root}/collections/{quote(name, safe='')}", f"delete {name!r}")

    def create(self, definition: Json, name: str) -> Json:
        """A collection like ``definition``: from its schema (which holds the index settings)
        if the server takes it, else from its configuration. The server refuses the two at
        once, and a schema beside legacy ``hnsw:*`` metadata."""
        body = {"name": name, "metadata": definition.get("metadata")}
        path, what = f"{self.root}/collections", f"create {name!r}"
        if definition.get("schema") is not None:
            with_schema = {**body, "schema": definition["schema"]}
            if made := self.call("POST", path, what, with_schema, tolerate=(400, 422)):
                return dict(made)
        body["configuration"] = definition.get("configuration")
        return dict(self.call("POST", path, what, body))

    def count(self, coll: Json) -> int:
        return int(self.call("GET", f"{self.at(coll)}/count", f"count {coll['name']!r}"))

    def records(self, coll: Json, body: Json) -> list[Json]:
        """``get`` with ``body`` (ids, or limit and offset), as record lines."""
        page = self.call("POST", f"{self.at(coll)}/get", f"read {coll['name']!r}", body)
        columns = [page.get(key) or [None] * len(page["ids"]) for key in INCLUDE]
        rows = zip(page["ids"], *columns, strict=True)
        return [dict(zip(_FIELDS, row, strict=True)) for row in rows]

    def at(self, coll: Json) -> str:
        return f"{self.root}/collections/{quote(str(coll['id']), safe='')}"


class Tally:
    """Record digests by id: sha256 of the id, document and metadata as canonical JSON, then
    the embedding as little-endian float32 (what Chroma stores). The checksum hashes them in
    id order, so it does not depend on the order the server returned records in."""

    def __init__(self) -> None:
        self.digests: dict[str, bytes] = {}
        self.dimension: int | None = None

    def add(self, record: Json) -> bool:
        """False if the id was seen already."""
        if record["id"] in self.digests:
            return False
        text = orjson.dumps([record[key] for key in _FIELDS[:3]], option=orjson.OPT_SORT_KEYS)
        vector = record["embedding"] or []
        if self.dimension is None and record["embedding"] is not None:
            self.dimension = len(vector)
        digest = hashlib.sha256(text + b"\0" + struct.pack(f"<{len(vector)}f", *vector))
        self.digests[record["id"]] = digest.digest()
        return True

    def stat(self, name: str) -> CollectionStat:
        total = hashlib.sha256()
        for record_id in sorted(self.digests):
            total.update(self.digests[record_id])
        return CollectionStat(name, len(self.digests), self.dimension, total.hexdigest())


def _read_once(
    api: Api, coll: Json, label: str, batch: int, out: IO[bytes] | None
) -> CollectionStat | None:
    """Every record of ``coll`` (to ``out``, after a definition line); None if writes went on."""
    before = api.count(coll)
    if out is not None:
        keys = {"metadata": "metadata", "configuration": "configuration_json", "schema": "schema"}
        definition = {"name": coll["name"], **{k: coll.get(v) for k, v in keys.items()}}
        out.write(orjson.dumps({**definition, "dimension": coll.get("dimension"), "count": before}))
        out.write(b"\n")
    tally = Tally()
    while True:
        body = {"limit": batch, "offset": len(tally.digests), "include": INCLUDE}
        page = api.records(coll, body)
        for record in page:
            if not tally.add(record):
                return None  # the pages shifted under us
            if out is not None:
                out.write(orjson.dumps(record) + b"\n")
        if len(page) < batch:
            break
    if len(tally.digests) != before or api.count(coll) != before:
        return None
    return tally.stat(label)


def _read(api: Api, coll: Json, label: str, batch: int, path: Path | None = None) -> CollectionStat:
    """``_read_once`` until the counts and the records agree; to ``path`` if given."""
    for _ in range(_ATTEMPTS):
        if path is None:
            stat = _read_once(api, coll, label, batch, None)
        else:
            part = path.with_name(path.name + ".part")
            try:
                with part.open("wb") as out:
                    stat = _read_once(api, coll, label, batch, out)
                if stat is not None:
                    part.replace(path)
            finally:
                part.unlink(missing_ok=True)
        if stat is not None:
            return stat
    raise LightkeeperError(
        f"chroma collection {coll['name']!r}: writes went on during the backup (its records "
        f"changed during each of {_ATTEMPTS} reads); pause the writers, or stop the server "
        "and take a file-level copy"
    )


def export(
    url: str,
    out_dir: Path,
    *,
    tenant: str = "default_tenant",
    database: str = "default_database",
    collections: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    batch: int = 1000,
    timeout: float = 30.0,
) -> ChromaDump:
    """Write ``collections/<name>.jsonl`` under ``out_dir`` for each collection (all of them
    by default): a definition line, then one ``{id, document, metadata, embedding}`` line per
    record in the server's order. Embeddings are kept exactly as the API returns them."""
    started = time.monotonic()
    (out_dir / "collections").mkdir(parents=True, exist_ok=True)
    api = Api(url, tenant, database, headers, timeout)
    with api.client:
        version = str(api.call("GET", "/version", "version"))
        api.open_database()
        files: list[str] = []
        stats: list[CollectionStat] = []
        for coll in api.select(collections):
            files.append(f"collections/{coll['name']}.jsonl")
            stats.append(_read(api, coll, coll["name"], batch, out_dir / files[-1]))
    return ChromaDump(files, version, stats, time.monotonic() - started)


def read_lines(path: Path, start: int = 0) -> Iterator[Json]:
    """The JSON lines of a dump file from line ``start`` (0: the definition, 1: records)."""
    with path.open("rb") as stream:
        for number, line in enumerate(stream):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise LightkeeperError(f"{path}:{number + 1}: not a JSON line") from None
            if number >= start:
                yield record


def read_dump(dump_dir: Path) -> list[tuple[Path, Json]]:
    """Each collection file with its definition (first) line."""
    dump = [
        (path, next(read_lines(path), None))
        for path in sorted(dump_dir.glob("collections/*.jsonl"))
    ]
    if not dump:
        raise LightkeeperError(f"{dump_dir / 'collections'}: no *.jsonl files to restore")
    if empty := [str(path) for path, definition in dump if definition is None]:
        raise LightkeeperError(f"empty collection files: {', '.join(empty)}")
    return [(path, definition) for path, definition in dump if definition is not None]


def restore(
    dump_dir: Path,
    url: str,
    *,
    tenant: str = "default_tenant",
    database: str = "default_database",
    prefix: str = "",
    force: bool = False,
    headers: Mapping[str, str] | None = None,
    batch: int = 500,
) -> list[str]:
    """Create ``prefix + name`` for each dumped collection, like the original (metadata,
    configuration and so the distance function), and add its records. Returns the names.

    A target that already holds records is refused (nothing is touched) unless ``force``,
    which deletes and recreates it; an empty one is recreated so its settings match. A
    missing database is created."""
    api = Api(url, tenant, database, headers)
    with api.client:
        api.open_database(create=True)
        return load_dump(api, read_dump(dump_dir), prefix, force, batch)


def load_dump(
    api: Api, dump: list[tuple[Path, Json]], prefix: str, force: bool, batch: int
) -> list[str]:
    """:func:`restore` through an open ``api``, from what :func:`read_dump` read."""
    targets = [prefix + definition["name"] for _, definition in dump]
    for target in targets:
        found = api.find(target)
        if found is not None and not force and (records := api.count(found)):
            raise api.error(
                f"collection {target!r} already holds {records} records; restore refuses to "
                "replace it (use --force to delete and recreate it)"
            )
    for (path, definition), target in zip(dump, targets, strict=True):
        if api.find(target) is not None:
            api.delete(target)
        add = f"{api.at(api.create(definition, target))}/add"
        rows, added = read_lines(path, 1), 0
        while chunk := list(islice(rows, batch)):
            body = {f"{key}s": [record[key] for record in chunk] for key in _FIELDS}
            api.call("POST", add, f"add to {target!r}", body)
            added += len(chunk)
        if added != definition["count"]:
            raise LightkeeperError(
                f"{path}: {added} records, its first line says {definition['count']}"
            )
    return targets


def inspect(
    url: str,
    *,
    tenant: str = "default_tenant",
    database: str = "default_database",
    collections: Sequence[str] | None = None,
    prefix: str = "",
    headers: Mapping[str, str] | None = None,
) -> list[CollectionStat]:
    """Read collections back and checksum them as ``export`` does. With ``prefix``, only
    collections named ``prefix + name``, reported as ``name`` (to compare with a manifest).

    A restored cosine collection will not match its manifest bit for bit: Chroma hands back
    cosine vectors rescaled, a float32 unit or two off what was added
    (:func:`~lightkeeper.backup.chroma_verify.verify` allows it)."""
    api = Api(url, tenant, database, headers)
    with api.client:
        api.open_database()
        selected = api.select(collections, prefix)
        return [_read(api, coll, coll["name"][len(prefix) :], 1000) for coll in selected]


def delete_collections(
    url: str,
    names: Sequence[str],
    *,
    tenant: str = "default_tenant",
    database: str = "default_database",
    headers: Mapping[str, str] | None = None,
) -> None:
    """Delete collections by name (a drill's scratch copies); a missing one is fine."""
    api = Api(url, tenant, database, headers)
    with api.client:
        for name in names:
            if api.find(name) is not None:
                api.delete(name)
