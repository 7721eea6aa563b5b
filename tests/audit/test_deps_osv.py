"""Advisory sources: offline exports (a folder, an ``all.zip`` built here the way OSV
publishes it, several at once, broken ones) and the OSV API client against ``fake_osv``."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lightkeeper.audit.deps.osv import (
    ApiUnavailable,
    DatabaseError,
    OfflineDatabase,
    OsvApi,
    Query,
)
from tests.audit.fake_osv import FakeOsv
from tests.conftest import free_port

OSV = Path(__file__).parent / "osv"


def build_all_zip(folder: Path, target: Path) -> Path:
    """Like osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip: one <ID>.json
    per record at the archive's top level."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for record in sorted(folder.glob("*.json")):
            archive.write(record, arcname=record.name)
    return target


def ids(advisories: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(a.id for a in advisories)


def test_folder_export() -> None:
    db = OfflineDatabase.load([OSV])
    assert db.loaded == 34 and db.withdrawn == 1 and not db.skipped  # 35 files, 1 withdrawn
    # GHSA-27h2 (withdrawn) is gone; GHSA-8cf7 covers the same range and stays
    assert ids(db.lookup("npm", "jsonwebtoken")) == ["GHSA-8cf7-32gw-wr33"]
    assert ids(db.lookup("npm", "lodash")) == ["GHSA-35jh-r3h4-6jhm", "GHSA-p6mc-m468-83gw"]
    assert ids(db.lookup("PyPI", "DJANGO")) == ["GHSA-2gwj-7jmv-h26r", "GHSA-jh3w-4vvf-mjgr"]
    assert ids(db.lookup("PyPI", "pyyaml")) == ["GHSA-8q59-q68h-6hv4"]  # record says PyYAML
    assert db.lookup("npm", "Lodash") == []  # npm names are exact
    assert db.lookup("PyPI", "lodash") == []  # ecosystems do not mix


def test_wanted_filter_keeps_only_named_packages() -> None:
    db = OfflineDatabase.load([OSV], wanted={("npm", "minimist"), ("PyPI", "requests")})
    assert db.loaded == 2
    assert ids(db.lookup("npm", "minimist")) == ["GHSA-xvch-5gv4-984h"]
    assert db.lookup("npm", "lodash") == []


def test_all_zip_export_equals_the_folder(tmp_path: Path) -> None:
    npm_zip = build_all_zip(OSV / "npm", tmp_path / "npm-all.zip")
    pypi_zip = build_all_zip(OSV / "PyPI", tmp_path / "pypi-all.zip")
    from_zips = OfflineDatabase.load([npm_zip, pypi_zip])
    from_folder = OfflineDatabase.load([OSV])
    assert (from_zips.loaded, from_zips.withdrawn) == (from_folder.loaded, from_folder.withdrawn)
    for key in from_folder.by_package:
        assert ids(from_zips.by_package[key]) == ids(from_folder.by_package[key])


def test_zip_and_folder_together_count_each_record_once(tmp_path: Path) -> None:
    npm_zip = build_all_zip(OSV / "npm", tmp_path / "all.zip")
    db = OfflineDatabase.load([npm_zip, OSV / "npm", OSV / "PyPI"])
    assert db.loaded == 34
    assert ids(db.lookup("npm", "node-fetch")) == ["GHSA-r683-j2x4-v87g"]


def test_broken_records_are_skipped_and_named(tmp_path: Path) -> None:
    (tmp_path / "good.json").write_bytes((OSV / "npm" / "GHSA-xvch-5gv4-984h.json").read_bytes())
    (tmp_path / "truncated.json").write_text('{"id": "GHSA-x", "affected": [')
    (tmp_path / "no-id.json").write_text('{"affected": []}')
    db = OfflineDatabase.load([tmp_path])
    assert db.loaded == 1
    assert sorted(s.split(": ", 1)[0].rsplit("/", 1)[1] for s in db.skipped) == [
        "no-id.json",
        "truncated.json",
    ]


def test_missing_export(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no such file or folder"):
        OfflineDatabase.load([tmp_path / "nope.zip"])


def test_not_a_zip(tmp_path: Path) -> None:
    fake = tmp_path / "all.zip"
    fake.write_text("this is not a zip archive")
    with pytest.raises(DatabaseError, match="not a zip archive"):
        OfflineDatabase.load([fake])


# ---- the API client against fake_osv ----


@pytest.fixture
def fake_osv() -> Iterator[FakeOsv]:
    server = FakeOsv(
        OSV,
        {
            ("npm", "lodash", "4.17.15"): ["GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm"],
            ("PyPI", "django", "3.2.12"): ["GHSA-2gwj-7jmv-h26r", "GHSA-jh3w-4vvf-mjgr"],
            ("npm", "minimist", "1.2.5"): ["GHSA-xvch-5gv4-984h"],
        },
        page_size=1,
    )
    yield server
    server.close()


def test_querybatch_with_pagination(fake_osv: FakeOsv) -> None:
    api = OsvApi(fake_osv.url, timeout=5)
    queries = [
        Query("npm", "lodash", "4.17.15"),
        Query("npm", "lodash", "4.17.21"),
        Query("PyPI", "django", "3.2.12"),
        Query("npm", "minimist", "1.2.5"),
    ]
    found = api.affected_ids(queries)
    assert found[queries[0]] == ["GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm"]
    assert found[queries[1]] == []
    assert found[queries[2]] == ["GHSA-2gwj-7jmv-h26r", "GHSA-jh3w-4vvf-mjgr"]
    assert found[queries[3]] == ["GHSA-xvch-5gv4-984h"]
    posts = [body for method, _, body in fake_osv.requests if method == "POST"]
    # page 1: all four queries; page 2: only the two with a next_page_token, with it
    assert [len(b["queries"]) for b in posts] == [4, 2]
    assert [q.get("page_token") for q in posts[1]["queries"]] == ["1", "1"]
    assert posts[0]["queries"][0] == {
        "package": {"ecosystem": "npm", "name": "lodash"},
        "version": "4.17.15",
    }


def test_records_are_fetched_once_each(fake_osv: FakeOsv) -> None:
    api = OsvApi(fake_osv.url, timeout=5)
    records = api.records(["GHSA-xvch-5gv4-984h", "GHSA-p6mc-m468-83gw", "GHSA-xvch-5gv4-984h"])
    assert sorted(r.id for r in records) == ["GHSA-p6mc-m468-83gw", "GHSA-xvch-5gv4-984h"]
    gets = sorted(path for method, path, _ in fake_osv.requests if method == "GET")
    assert gets == ["/v1/vulns/GHSA-p6mc-m468-83gw", "/v1/vulns/GHSA-xvch-5gv4-984h"]


def test_unknown_record_is_an_error(fake_osv: FakeOsv) -> None:
    with pytest.raises(ApiUnavailable, match="HTTP 404"):
        OsvApi(fake_osv.url, timeout=5).records(["GHSA-0000-0000-0000"])


def test_service_down(fake_osv: FakeOsv) -> None:
    fake_osv.mode = "down"
    with pytest.raises(ApiUnavailable, match=r"POST /v1/querybatch: HTTP 503"):
        OsvApi(fake_osv.url, timeout=5).affected_ids([Query("npm", "lodash", "4.17.15")])


def test_nothing_listening() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiUnavailable, match="ConnectError"):
        OsvApi(url, timeout=2).affected_ids([Query("npm", "lodash", "4.17.15")])


def test_prefilter_reads_escaped_names(tmp_path: Path) -> None:
    # JSON may write "/" as "\/"; the quick name check before decoding must still match
    text = (OSV / "npm" / "GHSA-67hx-6x53-jw92.json").read_text(encoding="utf-8")
    (tmp_path / "escaped.json").write_text(text.replace('"@babel/traverse"', '"@babel\\/traverse"'))
    db = OfflineDatabase.load([tmp_path], wanted={("npm", "@babel/traverse")})
    assert ids(db.lookup("npm", "@babel/traverse")) == ["GHSA-67hx-6x53-jw92"]
    assert OfflineDatabase.load([tmp_path], wanted={("npm", "lodash")}).loaded == 0
