"""Verifying a Chroma export: check each file against the manifest, restore into scratch
collections, compare record by record and with a nearest-neighbour query, then delete them.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import orjson

from lightkeeper.backup.chroma import (
    INCLUDE,
    Api,
    CollectionStat,
    Json,
    Tally,
    load_dump,
    read_dump,
    read_lines,
)
from lightkeeper.errors import LightkeeperError


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    problems: list[str]
    checks: list[str]
    restore_seconds: float


def verify(
    dump_dir: Path,
    expected: Sequence[CollectionStat],
    url: str,
    *,
    tenant: str = "default_tenant",
    database: str = "default_database",
    headers: Mapping[str, str] | None = None,
) -> VerifyResult:
    """Check each dump file against ``expected`` (the manifest's count and checksum), restore
    into scratch collections ``lk_verify_<utc time>_<4 hex>_<name>`` (so never the source),
    compare them with the dump record by record, query each for the nearest neighbour of its
    first record, and always delete the scratch collections."""
    prefix = f"lk_verify_{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(2)}_"
    problems: list[str] = []
    checks: list[str] = []
    restore_seconds = 0.0
    api = Api(url, tenant, database, headers)
    with api.client:
        try:
            dump = read_dump(dump_dir)
            paths = {definition["name"]: path for path, definition in dump}
            named = {want.name for want in expected}
            problems += [f"{name}: in the dump, not the manifest" for name in paths.keys() - named]
            problems += [f"{name}: in the manifest, not the dump" for name in named - paths.keys()]
            started = time.monotonic()
            api.open_database(create=True)
            load_dump(api, dump, prefix, False, 500)
            restore_seconds = time.monotonic() - started
            for want in expected:
                if want.name in paths:
                    found = _compare(api, prefix + want.name, want, paths[want.name])
                    problems += [f"{want.name}: {problem}" for problem in found]
                    if not found:
                        checks.append(f"{want.name}: {want.count} records intact, restored equal")
        except LightkeeperError as exc:
            problems.append(str(exc))
        finally:
            try:
                for coll in api.select(None, prefix):
                    api.delete(coll["name"])
            except LightkeeperError as exc:
                problems.append(f"scratch collections {prefix}* not deleted: {exc}")
    return VerifyResult(not problems, problems, checks, restore_seconds)


def _compare(api: Api, scratch: str, want: CollectionStat, path: Path) -> list[str]:
    """What is wrong with one collection: its dump file against the manifest, its restore
    against the dump (the first few differences), then a nearest-neighbour query."""
    tally = Tally()
    for record in read_lines(path, 1):
        tally.add(record)
    if (stat := tally.stat(want.name)) != want:
        return [f"the dump's {stat.count} records differ from the manifest's (changed since?)"]
    if (coll := api.find(scratch)) is None:
        return ["not restored"]
    if (count := api.count(coll)) != want.count:
        return [f"{count} records restored, the manifest says {want.count}"]
    problems: list[str] = []
    rows = read_lines(path, 1)
    while (chunk := list(islice(rows, 500))) and len(problems) < 3:
        ids = [record["id"] for record in chunk]
        restored = {got["id"]: got for got in api.records(coll, {"ids": ids, "include": INCLUDE})}
        problems += [
            f"record {r['id']!r} came back different"
            for r in chunk
            if not _same(r, restored.get(r["id"]))
        ]
    first = next(read_lines(path, 1), None)
    if problems or first is None:
        return problems
    body = {"query_embeddings": [first["embedding"]], "n_results": 5, "include": ["distances"]}
    answer = api.call("POST", f"{api.at(coll)}/query", f"query {scratch!r}", body)
    ids, distances = answer["ids"][0], answer["distances"][0]
    # Another record may share the embedding: a tie at the top distance counts as found.
    if first["id"] in ids and distances[ids.index(first["id"])] <= distances[0]:
        return []
    return [f"a query with {first['id']!r}'s embedding found {ids[:3]} nearest"]


def _same(want: Json, got: Json | None) -> bool:
    """Equal records, but for float32 rounding in the embedding: Chroma hands back a cosine
    collection's vectors rescaled, a unit or two in the last place off what was added."""
    if got is None:
        return False
    text = [
        orjson.dumps([r["document"], r["metadata"]], option=orjson.OPT_SORT_KEYS)
        for r in (want, got)
    ]
    a, b = want["embedding"] or [], got["embedding"] or []
    return text[0] == text[1] and len(a) == len(b) and math.dist(a, b) <= 1e-6 * math.hypot(*a)
