"""Where OSV records come from: an offline export, or the OSV API.

Offline (``--osv-db``): a per-ecosystem ``all.zip`` as published at
``https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip`` (one ``<ID>.json``
per record), a folder of OSV JSON files (searched recursively, e.g. ``npm/GHSA-….json``),
a single JSON file, or several of these. Records are indexed by (ecosystem, package name);
withdrawn records are dropped.

Online: the OSV API (https://google.github.io/osv.dev/api/). ``POST /v1/querybatch`` takes
``{"queries": [{"package": {"ecosystem", "name"}, "version"}, …]}`` (at most 1000) and
answers ``{"results": [{"vulns": [{"id", "modified"}], "next_page_token"?}, …]}`` in query
order — an empty object for a clean package; a result with ``next_page_token`` has more
pages, fetched by repeating that query with ``page_token``. Full records come from
``GET /v1/vulns/{id}``.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lightkeeper.audit.deps.advisories import Advisory, AdvisoryError, parse_advisory
from lightkeeper.audit.deps.versions import Ecosystem, normalize_name

DEFAULT_API_URL = "https://api.osv.dev"
BATCH_LIMIT = 1000  # the API's documented maximum per querybatch
MAX_PAGES = 50
EXPORT_URL = "https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip"


class DatabaseError(ValueError):
    """An ``--osv-db`` that cannot be used (missing, not a zip or folder, corrupt zip)."""


class ApiUnavailable(RuntimeError):
    """The OSV API could not be reached or did not answer usefully."""


PackageKey = tuple[Ecosystem, str]


@dataclass(slots=True)
class OfflineDatabase:
    """OSV records loaded from exports, indexed by (ecosystem, normalised name)."""

    by_package: dict[PackageKey, list[Advisory]] = field(default_factory=lambda: defaultdict(list))
    loaded: int = 0
    withdrawn: int = 0
    skipped: list[str] = field(default_factory=list)  # "file: reason" for unreadable records

    def lookup(self, ecosystem: Ecosystem, name: str) -> list[Advisory]:
        return list(self.by_package.get((ecosystem, normalize_name(ecosystem, name)), ()))

    def add(self, advisory: Advisory, wanted: set[PackageKey] | None) -> None:
        if advisory.withdrawn:
            self.withdrawn += 1
            return
        keys = advisory.packages()
        if wanted is not None:
            keys &= wanted
        if not keys:
            return
        self.loaded += 1
        for key in keys:
            self.by_package[key].append(advisory)

    @classmethod
    def load(cls, paths: Iterable[Path], wanted: set[PackageKey] | None = None) -> OfflineDatabase:
        """Read every export in ``paths``. Only records naming a ``wanted`` package are kept
        (an npm ``all.zip`` holds tens of thousands), unless ``wanted`` is None."""
        db = cls()
        seen: set[str] = set()
        names = {name for _, name in wanted} if wanted is not None else None
        for path in paths:
            for source, payload in _records(path):
                if names is not None and not _may_name(payload, names):
                    continue
                try:
                    advisory = parse_advisory(json.loads(payload))
                except (json.JSONDecodeError, UnicodeDecodeError, AdvisoryError) as exc:
                    db.skipped.append(f"{source}: {exc}")
                    continue
                if advisory.id in seen:
                    continue  # the same record in two exports
                seen.add(advisory.id)
                db.add(advisory, wanted)
        return db


# A cheap look at a record's "name" strings before decoding it: an npm export holds well
# over a hundred thousand records (most of them malicious-package reports), of which a
# project needs a handful. Over-inclusive on purpose ("name" also appears in credits).
_NAME_FIELD = re.compile(rb'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _may_name(payload: bytes, names: set[str]) -> bool:
    for raw in _NAME_FIELD.findall(payload):
        text = raw.decode("utf-8", "replace").replace("\\/", "/")  # JSON may write \/
        if text in names or normalize_name("PyPI", text) in names:
            return True
    return False


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DatabaseError(f"--osv-db {path}: cannot be read ({exc.strerror})") from None


def _records(path: Path) -> Iterator[tuple[str, bytes]]:
    if not path.exists():
        raise DatabaseError(
            f"--osv-db {path}: no such file or folder; give an OSV export ({EXPORT_URL}) "
            "or a folder of OSV JSON files"
        )
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            yield str(file), _read(file)
        for file in sorted(path.rglob("*.zip")):
            yield from _records(file)
        return
    if path.suffix == ".json":
        yield str(path), _read(path)
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        # A zip's directory is at its end, so a cut-off download looks like no zip at all.
        raise DatabaseError(
            f"--osv-db {path}: not a zip archive, or a truncated or damaged one: download it "
            f"again ({EXPORT_URL}), or give a folder of OSV JSON files or one .json record"
        ) from None
    except OSError as exc:
        raise DatabaseError(f"--osv-db {path}: cannot be read ({exc.strerror})") from None
    with archive:
        for info in archive.infolist():
            if info.filename.endswith(".json") and not info.is_dir():
                yield f"{path}!{info.filename}", _member(archive, info, path)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """One record's bytes. A damaged member fails its CRC check (BadZipFile), its inflate
    (zlib.error) or ends early (EOFError): the archive as a whole cannot be trusted."""
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DatabaseError(
            f"--osv-db {path}: member {info.filename} is damaged ({exc}); download it again "
            f"({EXPORT_URL})"
        ) from None


@dataclass(frozen=True, slots=True)
class Query:
    ecosystem: Ecosystem
    name: str
    version: str


class OsvApi:
    """A small client of the OSV API; ``base_url`` lets tests and mirrors stand in."""

    def __init__(
        self, base_url: str | None = None, timeout: float = 10.0, workers: int = 8
    ) -> None:
        self.base_url = (base_url or DEFAULT_API_URL).rstrip("/")
        self.timeout = timeout
        self.workers = workers

    def _fail(
        self, what: str, exc: Exception | None = None, status: int | None = None
    ) -> ApiUnavailable:
        why = f"HTTP {status}" if status is not None else type(exc).__name__ if exc else "no answer"
        detail = f" ({exc})" if exc and str(exc) else ""
        return ApiUnavailable(
            f"the OSV API at {self.base_url} did not answer {what}: {why}{detail}"
        )

    def _post(self, client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = client.post(f"{self.base_url}/v1/querybatch", json=body)
        except httpx.HTTPError as exc:
            raise self._fail("POST /v1/querybatch", exc) from None
        if response.status_code != 200:
            raise self._fail("POST /v1/querybatch", status=response.status_code)
        try:
            data = response.json()
        except ValueError as exc:
            raise self._fail("POST /v1/querybatch with JSON", exc) from None
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise self._fail("POST /v1/querybatch with a 'results' list")
        return data

    def affected_ids(self, queries: list[Query]) -> dict[Query, list[str]]:
        """The ids of the vulnerabilities the API says affect each query."""
        found: dict[Query, list[str]] = {q: [] for q in queries}
        with httpx.Client(timeout=self.timeout) as client:
            for start in range(0, len(queries), BATCH_LIMIT):
                batch = queries[start : start + BATCH_LIMIT]
                pending: list[tuple[Query, str | None]] = [(q, None) for q in batch]
                for _ in range(MAX_PAGES):
                    if not pending:
                        break
                    body = {"queries": [_query_json(q, token) for q, token in pending]}
                    results = self._post(client, body)["results"]
                    if len(results) != len(pending):
                        raise self._fail("with one result per query")
                    next_round: list[tuple[Query, str | None]] = []
                    for (query, _), result in zip(pending, results, strict=True):
                        result = result if isinstance(result, dict) else {}
                        for vuln in result.get("vulns") or []:
                            if isinstance(vuln, dict) and isinstance(vuln.get("id"), str):
                                found[query].append(vuln["id"])
                        token = result.get("next_page_token")
                        if isinstance(token, str) and token:
                            next_round.append((query, token))
                    pending = next_round
        return found

    def records(self, ids: Iterable[str]) -> list[Advisory]:
        """Full records for ``ids`` (fetched in parallel; each id once)."""
        unique = sorted(set(ids))
        if not unique:
            return []
        with httpx.Client(timeout=self.timeout) as client:

            def fetch(vuln_id: str) -> Advisory:
                url = f"{self.base_url}/v1/vulns/{vuln_id}"
                try:
                    response = client.get(url)
                except httpx.HTTPError as exc:
                    raise self._fail(f"GET /v1/vulns/{vuln_id}", exc) from None
                if response.status_code != 200:
                    raise self._fail(f"GET /v1/vulns/{vuln_id}", status=response.status_code)
                try:
                    return parse_advisory(response.json())
                except (ValueError, AdvisoryError) as exc:
                    raise self._fail(f"GET /v1/vulns/{vuln_id} with an OSV record", exc) from None

            with ThreadPoolExecutor(max_workers=min(self.workers, len(unique))) as pool:
                return list(pool.map(fetch, unique))


def _query_json(query: Query, token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "package": {"ecosystem": query.ecosystem, "name": query.name},
        "version": query.version,
    }
    if token:
        body["page_token"] = token
    return body
