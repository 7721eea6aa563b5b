"""Range evaluation and fix advice: the real advisories in ``osv/`` (table-driven), range
edge cases written as OSV ranges, severities, and a property test of the advice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.audit.deps.advisories import Advisory, parse_advisory, rate
from lightkeeper.audit.deps.matching import PackageRanges
from lightkeeper.audit.deps.versions import InvalidVersion
from lightkeeper.audit.findings import Severity

OSV = Path(__file__).parent / "osv"


def load(advisory_id: str) -> Advisory:
    (path,) = OSV.glob(f"*/{advisory_id}.json")
    return parse_advisory(json.loads(path.read_text(encoding="utf-8")))


def verdict(advisory: Advisory, ecosystem: str, name: str, version: str) -> tuple[bool, str | None]:
    ranges = PackageRanges(ecosystem, advisory.entries_for(ecosystem, name))  # type: ignore[arg-type]
    result = ranges.verdict(version)
    return result.affected, result.fixed


# (advisory, ecosystem, package, installed version, affected?, advised fix) — the expected
# values are read off each record's ranges (see osv/README.md for a summary of them).
REAL = [
    # lodash prototype pollution: introduced 0, fixed 4.17.20 (lodash and lodash-es)
    ("GHSA-p6mc-m468-83gw", "npm", "lodash", "4.17.15", True, "4.17.20"),
    ("GHSA-p6mc-m468-83gw", "npm", "lodash", "4.17.19", True, "4.17.20"),
    ("GHSA-p6mc-m468-83gw", "npm", "lodash", "4.17.20", False, None),
    ("GHSA-p6mc-m468-83gw", "npm", "lodash-es", "4.17.15", True, "4.17.20"),
    ("GHSA-p6mc-m468-83gw", "npm", "underscore", "1.0.0", False, None),
    ("GHSA-35jh-r3h4-6jhm", "npm", "lodash", "4.17.20", True, "4.17.21"),
    ("GHSA-35jh-r3h4-6jhm", "npm", "lodash", "4.17.21", False, None),
    # minimist: [1.0.0, 1.2.6) and [0, 0.2.4)
    ("GHSA-xvch-5gv4-984h", "npm", "minimist", "1.2.5", True, "1.2.6"),
    ("GHSA-xvch-5gv4-984h", "npm", "minimist", "1.0.0", True, "1.2.6"),
    ("GHSA-xvch-5gv4-984h", "npm", "minimist", "0.0.8", True, "0.2.4"),
    ("GHSA-xvch-5gv4-984h", "npm", "minimist", "0.2.4", False, None),
    ("GHSA-xvch-5gv4-984h", "npm", "minimist", "0.9.0", False, None),  # between the ranges
    ("GHSA-xvch-5gv4-984h", "npm", "minimist", "1.2.6", False, None),
    # express: [0, 4.19.2) and the pre-release range [5.0.0-alpha.1, 5.0.0-beta.3)
    ("GHSA-rv95-896h-c2vc", "npm", "express", "4.19.1", True, "4.19.2"),
    ("GHSA-rv95-896h-c2vc", "npm", "express", "4.19.2", False, None),
    ("GHSA-rv95-896h-c2vc", "npm", "express", "5.0.0-alpha.1", True, "5.0.0-beta.3"),
    ("GHSA-rv95-896h-c2vc", "npm", "express", "5.0.0-beta.1", True, "5.0.0-beta.3"),
    ("GHSA-rv95-896h-c2vc", "npm", "express", "5.0.0-alpha.0", False, None),  # below alpha.1
    ("GHSA-rv95-896h-c2vc", "npm", "express", "5.0.0-beta.3", False, None),
    ("GHSA-rv95-896h-c2vc", "npm", "express", "5.0.0", False, None),
    # @babel/traverse: [0, 7.23.2), [8.0.0-alpha.0, 8.0.0-alpha.4); babel-traverse open-ended
    ("GHSA-67hx-6x53-jw92", "npm", "@babel/traverse", "7.23.1", True, "7.23.2"),
    ("GHSA-67hx-6x53-jw92", "npm", "@babel/traverse", "7.23.2", False, None),
    ("GHSA-67hx-6x53-jw92", "npm", "@babel/traverse", "8.0.0-alpha.2", True, "8.0.0-alpha.4"),
    ("GHSA-67hx-6x53-jw92", "npm", "@babel/traverse", "8.0.0-alpha.4", False, None),
    ("GHSA-67hx-6x53-jw92", "npm", "@babel/traverse", "8.0.0", False, None),
    ("GHSA-67hx-6x53-jw92", "npm", "babel-traverse", "6.26.0", True, None),
    # next: four ranges, the last introduced at 11.1.4
    ("GHSA-f82v-jwr5-mffw", "npm", "next", "14.1.0", True, "14.2.25"),
    ("GHSA-f82v-jwr5-mffw", "npm", "next", "12.3.4", True, "12.3.5"),
    ("GHSA-f82v-jwr5-mffw", "npm", "next", "11.1.3", False, None),
    ("GHSA-f82v-jwr5-mffw", "npm", "next", "13.5.9", False, None),
    ("GHSA-f82v-jwr5-mffw", "npm", "next", "15.2.3", False, None),
    ("GHSA-fr5h-rqp8-mj6g", "npm", "next", "14.1.0", True, "14.1.1"),
    ("GHSA-fr5h-rqp8-mj6g", "npm", "next", "13.3.0", False, None),
    # request: last_affected only — affected up to and including it, no fix
    ("GHSA-p8p7-x288-28g6", "npm", "request", "2.88.2", True, None),
    ("GHSA-p8p7-x288-28g6", "npm", "@cypress/request", "2.88.11", True, None),
    ("GHSA-p8p7-x288-28g6", "npm", "@cypress/request", "2.88.12", False, None),
    # node-fetch: "introduced 1.0 → 3.1.1" overlaps "0 → 2.6.7"; 2.6.7 fixes only one
    ("GHSA-r683-j2x4-v87g", "npm", "node-fetch", "2.6.1", True, "3.1.1"),
    ("GHSA-r683-j2x4-v87g", "npm", "node-fetch", "2.6.7", True, "3.1.1"),
    ("GHSA-r683-j2x4-v87g", "npm", "node-fetch", "0.9.0", True, "3.1.1"),
    ("GHSA-r683-j2x4-v87g", "npm", "node-fetch", "3.1.1", False, None),
    # ws: a range introduced at 2.1.0
    ("GHSA-3h5v-q93c-6h6q", "npm", "ws", "2.0.0", False, None),
    ("GHSA-3h5v-q93c-6h6q", "npm", "ws", "6.1.0", True, "6.2.3"),
    # PyPI: names per PEP 503, two-part bounds, normalised equality
    ("GHSA-2gwj-7jmv-h26r", "PyPI", "django", "3.2.12", True, "3.2.13"),
    ("GHSA-2gwj-7jmv-h26r", "PyPI", "Django", "2.2.27", True, "2.2.28"),
    ("GHSA-2gwj-7jmv-h26r", "PyPI", "DJANGO", "4.0.3", True, "4.0.4"),
    ("GHSA-2gwj-7jmv-h26r", "PyPI", "django", "3.2.13rc1", True, "3.2.13"),  # pre-release
    ("GHSA-2gwj-7jmv-h26r", "PyPI", "django", "2.1", False, None),
    ("GHSA-2gwj-7jmv-h26r", "PyPI", "django", "4.0.4", False, None),
    ("GHSA-jh3w-4vvf-mjgr", "PyPI", "django", "4.2.2", True, "4.2.3"),
    ("GHSA-j8r2-6x86-q33q", "PyPI", "requests", "2.28.0", True, "2.31.0"),
    ("GHSA-j8r2-6x86-q33q", "PyPI", "requests", "2.2.1", False, None),
    ("GHSA-8q59-q68h-6hv4", "PyPI", "pyyaml", "5.3.1", True, "5.4"),
    ("GHSA-8q59-q68h-6hv4", "PyPI", "PyYAML", "5.4.0", False, None),  # 5.4.0 == 5.4
    ("GHSA-pq7m-3gw7-gq5x", "PyPI", "ipython", "5.10", True, "5.11"),
    ("GHSA-pq7m-3gw7-gq5x", "PyPI", "ipython", "7.17.0", True, "7.31.1"),
    ("GHSA-pq7m-3gw7-gq5x", "PyPI", "ipython", "7.16.3", False, None),
    ("GHSA-v845-jxx5-vc9f", "PyPI", "urllib3", "1.26.16", True, "1.26.17"),
    ("GHSA-v845-jxx5-vc9f", "PyPI", "urllib3", "2.0.5", True, "2.0.6"),
    ("GHSA-v845-jxx5-vc9f", "PyPI", "urllib3", "1.26.20", False, None),
    ("GHSA-wj6h-64fc-37mp", "PyPI", "ecdsa", "0.18.0", True, None),  # last_affected, no fix
    ("GHSA-wj6h-64fc-37mp", "PyPI", "ecdsa", "0.19.0", False, None),
    ("GHSA-jfhm-5ghh-2f97", "PyPI", "cryptography", "41.0.5", True, "41.0.6"),
    ("GHSA-jfhm-5ghh-2f97", "PyPI", "cryptography", "3.0", False, None),
]


@pytest.mark.parametrize(("advisory", "eco", "name", "version", "affected", "fixed"), REAL)
def test_real_advisories(
    advisory: str, eco: str, name: str, version: str, affected: bool, fixed: str | None
) -> None:
    assert verdict(load(advisory), eco, name, version) == (affected, fixed)


def synthetic(
    *ranges: dict[str, Any], versions: list[str] | None = None, eco: str = "npm"
) -> Advisory:
    affected: dict[str, Any] = {
        "package": {"ecosystem": eco, "name": "pkg"},
        "ranges": list(ranges),
    }
    if versions is not None:
        affected["versions"] = versions
    return parse_advisory({"id": "TEST-1", "affected": [affected]})


def rng(*events: tuple[str, str], kind: str = "SEMVER") -> dict[str, Any]:
    return {"type": kind, "events": [{k: v} for k, v in events]}


EDGE = [
    # the OSV spec's "multiple range" example: [1.0.0, 1.0.2) and [3.0.0, 3.2.5) in one range
    (
        "two intervals, first",
        rng(
            ("introduced", "1.0.0"), ("fixed", "1.0.2"), ("introduced", "3.0.0"), ("fixed", "3.2.5")
        ),
        "1.0.1",
        True,
        "1.0.2",
    ),
    (
        "two intervals, gap",
        rng(
            ("introduced", "1.0.0"), ("fixed", "1.0.2"), ("introduced", "3.0.0"), ("fixed", "3.2.5")
        ),
        "2.0.0",
        False,
        None,
    ),
    (
        "two intervals, second",
        rng(
            ("introduced", "1.0.0"), ("fixed", "1.0.2"), ("introduced", "3.0.0"), ("fixed", "3.2.5")
        ),
        "3.2.4",
        True,
        "3.2.5",
    ),
    (
        "events out of order",
        rng(
            ("fixed", "3.2.5"), ("introduced", "3.0.0"), ("fixed", "1.0.2"), ("introduced", "1.0.0")
        ),
        "3.1.0",
        True,
        "3.2.5",
    ),
    ("introduced only: every version", rng(("introduced", "0")), "999.0.0", True, None),
    (
        "introduced 0 before pre-releases",
        rng(("introduced", "0"), ("fixed", "1.0.0")),
        "0.0.0-0",
        True,
        "1.0.0",
    ),
    ("fixed is exclusive", rng(("introduced", "0"), ("fixed", "2.1.214")), "2.1.214", False, None),
    (
        "last_affected is inclusive",
        rng(("introduced", "0"), ("last_affected", "2.1.214")),
        "2.1.214",
        True,
        None,
    ),
    (
        "above last_affected",
        rng(("introduced", "0"), ("last_affected", "2.1.214")),
        "2.1.215",
        False,
        None,
    ),
    ("limit: below it", rng(("introduced", "1.0.0"), ("limit", "2.0.0")), "1.5.0", True, None),
    ("limit: at it", rng(("introduced", "1.0.0"), ("limit", "2.0.0")), "2.0.0", False, None),
    ("limit *", rng(("introduced", "1.0.0"), ("limit", "*")), "9.0.0", True, None),
    (
        "introduced and fixed at once: empty",
        rng(("introduced", "1.0.0"), ("fixed", "1.0.0")),
        "1.0.0",
        False,
        None,
    ),
    (
        "pre-release bound",
        rng(("introduced", "2.0.0-rc.1"), ("fixed", "2.0.0")),
        "2.0.0-rc.2",
        True,
        "2.0.0",
    ),
    (
        "below a pre-release bound",
        rng(("introduced", "2.0.0-rc.1"), ("fixed", "2.0.0")),
        "2.0.0-beta.9",
        False,
        None,
    ),
    (
        "build metadata ignored",
        rng(("introduced", "0"), ("fixed", "1.2.3+build.7")),
        "1.2.3+other",
        False,
        None,
    ),
    (
        "ECOSYSTEM type for npm",
        rng(("introduced", "1.0"), ("fixed", "1.5"), kind="ECOSYSTEM"),
        "1.4.9",
        True,
        "1.5",
    ),
    (
        "GIT ranges are skipped",
        rng(("introduced", "abc123"), ("fixed", "def456"), kind="GIT"),
        "1.0.0",
        False,
        None,
    ),
]


@pytest.mark.parametrize(
    ("why", "range_", "version", "affected", "fixed"), EDGE, ids=[e[0] for e in EDGE]
)
def test_range_edges(
    why: str, range_: dict[str, Any], version: str, affected: bool, fixed: str | None
) -> None:
    assert verdict(synthetic(range_), "npm", "pkg", version) == (affected, fixed)


def test_several_ranges_are_or_ed() -> None:
    advisory = synthetic(
        rng(("introduced", "0"), ("fixed", "1.0.0")),
        rng(("introduced", "2.0.0"), ("fixed", "2.1.0")),
    )
    assert verdict(advisory, "npm", "pkg", "0.5.0") == (True, "1.0.0")
    assert verdict(advisory, "npm", "pkg", "2.0.5") == (True, "2.1.0")
    assert verdict(advisory, "npm", "pkg", "1.5.0") == (False, None)


def test_versions_list() -> None:
    advisory = synthetic(versions=["1.0.0", "1.0.1"], eco="PyPI")
    assert verdict(advisory, "PyPI", "pkg", "1.0.1") == (True, None)
    assert verdict(advisory, "PyPI", "pkg", "1.0") == (True, None)  # PEP 440: 1.0 == 1.0.0
    assert verdict(advisory, "PyPI", "pkg", "1.0.2") == (False, None)


def test_pypi_ranges_use_pep440() -> None:
    advisory = synthetic(
        rng(("introduced", "1!0"), ("fixed", "1!2.0.post1"), kind="ECOSYSTEM"), eco="PyPI"
    )
    assert verdict(advisory, "PyPI", "pkg", "1!2.0") == (True, "1!2.0.post1")
    assert verdict(advisory, "PyPI", "pkg", "5.0") == (False, None)  # epoch 0 < epoch 1


def test_unreadable_bound_skips_the_range_and_says_so() -> None:
    advisory = synthetic(
        rng(("introduced", "0"), ("fixed", "not a version")), rng(("introduced", "5.0.0"))
    )
    ranges = PackageRanges("npm", advisory.entries_for("npm", "pkg"))
    assert ranges.problems and "not a version" in ranges.problems[0]
    assert ranges.verdict("1.0.0").affected is False  # the unreadable range is not guessed at
    assert ranges.verdict("5.0.0").affected is True


@pytest.mark.parametrize(("eco", "version"), [("npm", "1.0"), ("npm", "latest"), ("PyPI", "nope!")])
def test_invalid_installed_version_raises(eco: str, version: str) -> None:
    advisory = synthetic(rng(("introduced", "0")), eco=eco)
    with pytest.raises(InvalidVersion):
        PackageRanges(eco, advisory.entries_for(eco, "pkg")).verdict(version)  # type: ignore[arg-type]


# ---- severity ----


@pytest.mark.parametrize(
    ("advisory", "severity", "basis"),
    [
        ("GHSA-p6mc-m468-83gw", Severity.HIGH, "database severity HIGH"),
        ("GHSA-67hx-6x53-jw92", Severity.CRITICAL, "database severity CRITICAL"),
        ("GHSA-8cf7-32gw-wr33", Severity.MEDIUM, "database severity MODERATE"),  # severity: []
        ("GHSA-3xgq-45jj-v275", Severity.LOW, "database severity LOW"),
    ],
)
def test_database_severity_first(advisory: str, severity: Severity, basis: str) -> None:
    rated = rate(load(advisory))
    assert (rated.severity, rated.basis) == (severity, basis)


def _without_db_severity(advisory_id: str, **changes: Any) -> Advisory:
    (path,) = OSV.glob(f"*/{advisory_id}.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["database_specific"].pop("severity")
    data.update(changes)
    return parse_advisory(data)


def test_cvss_v3_when_the_database_gives_no_word() -> None:
    # GHSA-r683's vector CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H scores 8.8: high
    rated = rate(_without_db_severity("GHSA-r683-j2x4-v87g"))
    assert (rated.severity, rated.score) == (Severity.HIGH, 8.8)
    assert rated.basis == "CVSS v3 base score 8.8"


def test_cvss_v4_only_is_unknown_reported_as_medium() -> None:
    v4 = [
        {
            "type": "CVSS_V4",
            "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        }
    ]
    rated = rate(_without_db_severity("GHSA-r683-j2x4-v87g", severity=v4))
    assert rated.severity is Severity.MEDIUM
    assert "CVSS_V4" in rated.basis and "reported as medium" in rated.basis


def test_empty_severity_list_is_unknown() -> None:
    # GHSA-wf5p ships `"severity": [ ]`; without its database word nothing is left
    rated = rate(_without_db_severity("GHSA-wf5p-g6vw-rhxx"))
    assert rated.severity is Severity.MEDIUM
    assert "gives no severity" in rated.basis


def test_package_level_severity_is_used() -> None:
    data = {
        "id": "TEST-2",
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "pkg"},
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}
                ],
                "ranges": [rng(("introduced", "0"))],
            }
        ],
    }
    advisory = parse_advisory(data)
    assert rate(advisory, advisory.entries_for("npm", "pkg")).severity is Severity.MEDIUM  # 5.3


# ---- property: the advice is the lowest recorded fixed version out of every range ----

_bounds = st.lists(st.integers(1, 30), min_size=1, max_size=8, unique=True)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(1, 30), st.booleans()), min_size=1, max_size=4
    ),
    st.integers(0, 31),
)
def test_advice_is_minimal_and_safe(intervals: list[tuple[int, int, bool]], installed: int) -> None:
    ranges = []
    for lo, length, last_affected in intervals:
        end = ("last_affected" if last_affected else "fixed", f"{lo + length}.0.0")
        start = "0" if lo == 0 else f"{lo}.0.0"
        ranges.append(rng(("introduced", start), end))
    advisory = synthetic(*ranges)
    packages = PackageRanges("npm", advisory.entries_for("npm", "pkg"))

    def affected(major: int) -> bool:
        return packages.verdict(f"{major}.0.0").affected

    # a brute-force reading of the same intervals over whole major versions
    def brute(major: int) -> bool:
        return any(lo <= major < lo + n or (last and major == lo + n) for lo, n, last in intervals)

    assert affected(installed) == brute(installed)
    result = packages.verdict(f"{installed}.0.0")
    if result.fixed is None:
        return
    fix = int(result.fixed.split(".")[0])
    assert fix > installed and not brute(fix)
    fixed_events = sorted({lo + n for lo, n, last in intervals if not last})
    # no recorded fixed version between installed and the advice is already safe
    assert not any(installed < f < fix and not brute(f) for f in fixed_events)
