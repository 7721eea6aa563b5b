"""Version ordering: SemVer 2.0.0 precedence for npm, PEP 440 for PyPI, and the checks
around them (strict/loose parsing, breaking upgrades, name normalisation)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.audit.deps.versions import (
    InvalidVersion,
    SemVer,
    is_breaking,
    normalize_name,
    parse_pep440,
)

# semver.org §11's own example chain, then more cases from the rules it states.
SEMVER_ASCENDING = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1-0",
    "1.0.1",
    "1.1.0-alpha",
    "1.1.0",
    "1.10.0",
    "2.0.0-0",
    "2.0.0-0.0",
    "2.0.0-1",
    "2.0.0-10",
    "2.0.0-a",
    "2.0.0-a-b",
    "2.0.0-b",
    "2.0.0",
    "10.0.0",
]


def test_semver_precedence_follows_the_spec_chain() -> None:
    parsed = [SemVer.parse(v) for v in SEMVER_ASCENDING]
    for lower, higher in itertools.pairwise(parsed):
        assert lower < higher, (str(lower), str(higher))
    assert sorted(reversed(parsed)) == parsed


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.0+build.1", "1.0.0+build.2"),  # build metadata ignored (§10)
        ("1.0.0-rc.1+sha.5114f85", "1.0.0-rc.1"),
        ("v1.2.3", "1.2.3"),  # node-semver accepts a leading v / =
        ("=1.2.3", "1.2.3"),
        (" 1.2.3 ", "1.2.3"),
    ],
)
def test_semver_equal(a: str, b: str) -> None:
    assert SemVer.parse(a) == SemVer.parse(b)
    assert hash(SemVer.parse(a)) == hash(SemVer.parse(b))


@pytest.mark.parametrize(
    "text",
    ["1.0", "1", "01.0.0", "1.02.0", "1.0.0-01", "1.0.0-", "1.0.0+", "1.0.0-a..b", "latest", ""],
)
def test_semver_strict_rejects(text: str) -> None:
    with pytest.raises(InvalidVersion):
        SemVer.parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.0", "1.0.0"), ("2", "2.0.0"), ("3.1.1", "3.1.1"), ("8.0.0-alpha.0", "8.0.0-alpha.0")],
)
def test_semver_loose_fills_missing_parts(text: str, expected: str) -> None:
    # GHSA-r683-j2x4-v87g has `introduced: "1.0"`, which must read as 1.0.0.
    assert SemVer.parse(text, loose=True) == SemVer.parse(expected)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0", "1.0.0"),
        ("1.0.0", "1.0.0.0"),
        ("1!1.0", "1!1.0.0"),
        ("1.0.0-rc1", "1.0.0rc1"),
        ("1.0.0.post0", "1.0.0-post0"),
        ("v2.0", "2.0"),
    ],
)
def test_pep440_normalisation(a: str, b: str) -> None:
    assert parse_pep440(a) == parse_pep440(b)


def test_pep440_ordering() -> None:
    ascending = [
        "1.0.dev0",
        "1.0a1",
        "1.0a2.dev1",
        "1.0a2",
        "1.0b1",
        "1.0rc1",
        "1.0",
        "1.0+local.1",
        "1.0.post1.dev0",
        "1.0.post1",
        "1.1",
        "2.2.28",
        "3.2",
        "3.2.13",
        "1!0.1",
    ]
    parsed = [parse_pep440(v) for v in ascending]
    assert sorted(parsed) == parsed


def test_pep440_rejects_garbage() -> None:
    with pytest.raises(InvalidVersion):
        parse_pep440("not-a-version")


@pytest.mark.parametrize(
    ("ecosystem", "installed", "target", "breaking"),
    [
        ("npm", "4.17.15", "4.17.21", False),
        ("npm", "2.6.1", "3.1.1", True),
        ("npm", "0.21.1", "0.21.4", False),
        ("npm", "0.21.1", "1.6.0", True),
        ("npm", "0.0.8", "0.2.4", True),  # ^0.0.8 is <0.0.9
        ("npm", "0.2.1", "0.3.0", True),  # ^0.2.1 is <0.3.0
        ("npm", "5.0.0-beta.1", "5.0.0-beta.3", False),
        ("PyPI", "3.2.12", "3.2.20", False),
        ("PyPI", "3.2.12", "4.0.4", True),
        ("PyPI", "1!1.0", "2.0", True),
    ],
)
def test_breaking_upgrades(ecosystem: str, installed: str, target: str, breaking: bool) -> None:
    assert is_breaking(ecosystem, installed, target) is breaking  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ecosystem", "name", "expected"),
    [
        ("PyPI", "Django", "django"),
        ("PyPI", "PyYAML", "pyyaml"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("PyPI", "typing__extensions", "typing-extensions"),
        ("PyPI", "A-_.b", "a-b"),
        ("npm", "@babel/traverse", "@babel/traverse"),
        ("npm", "JSONStream", "JSONStream"),  # npm names are exact
    ],
)
def test_names(ecosystem: str, name: str, expected: str) -> None:
    assert normalize_name(ecosystem, name) == expected  # type: ignore[arg-type]


# ---- property test: our ordering against a literal reading of semver.org §11 ----

_alnum = st.text(alphabet="abcxyz-", min_size=1, max_size=3)
_ident = st.one_of(
    st.integers(0, 12).map(str),
    _alnum,
    st.builds(lambda n, s: f"{n}{s}", st.integers(0, 9), _alnum),
)
_pre = st.lists(_ident, min_size=0, max_size=3)
_versions = st.builds(
    lambda ma, mi, pa, pre, build: (
        f"{ma}.{mi}.{pa}"
        + (("-" + ".".join(pre)) if pre else "")
        + ("+b" + str(build) if build is not None else "")
    ),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    _pre,
    st.one_of(st.none(), st.integers(0, 9)),
)


def _spec_compare(a: str, b: str) -> int:
    """semver.org §11 step by step, written independently of SemVer._key."""
    a, b = a.split("+")[0], b.split("+")[0]
    a_core, _, a_pre = a.partition("-")
    b_core, _, b_pre = b.partition("-")
    for x, y in zip(map(int, a_core.split(".")), map(int, b_core.split(".")), strict=True):
        if x != y:
            return -1 if x < y else 1
    if a_pre == b_pre:
        return 0
    if not a_pre:
        return 1
    if not b_pre:
        return -1
    xs, ys = a_pre.split("."), b_pre.split(".")
    for x, y in zip(xs, ys, strict=False):
        if x == y:
            continue
        x_num, y_num = x.isdigit(), y.isdigit()
        if x_num and y_num:
            return -1 if int(x) < int(y) else 1
        if x_num != y_num:
            return -1 if x_num else 1
        return -1 if x < y else 1
    if len(xs) == len(ys):
        return 0
    return -1 if len(xs) < len(ys) else 1


@settings(max_examples=400, deadline=None)
@given(_versions, _versions)
def test_semver_order_matches_the_spec(a: str, b: str) -> None:
    pa, pb = SemVer.parse(a), SemVer.parse(b)
    expected = _spec_compare(a, b)
    assert (pa < pb) == (expected < 0)
    assert (pa == pb) == (expected == 0)
    assert (pa > pb) == (expected > 0)


# ---- optional: the real node-semver as an oracle ----


@pytest.fixture(scope="module")
def node_semver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node/npm not installed")
    folder = tmp_path_factory.mktemp("node-semver")
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "semver@7"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"npm install semver failed (registry unreachable?): {done.stderr[-300:]}")
    return folder


def test_ordering_agrees_with_node_semver(node_semver: Path) -> None:
    versions = [*SEMVER_ASCENDING, "1.0.0-alpha.10", "1.0.0-alpha.9", "1.0.0-x-y-z.--", "0.0.0-0"]
    versions += [
        "4.17.20",
        "4.17.21",
        "8.0.0-alpha.0",
        "8.0.0-alpha.4",
        "5.0.0-alpha.1",
        "5.0.0-beta.3",
    ]
    script = (
        "const semver = require('semver');"
        "const v = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify(v.slice().sort(semver.compare)));"
    )
    done = subprocess.run(
        ["node", "-e", script, json.dumps(versions)],
        cwd=node_semver,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    theirs = json.loads(done.stdout)
    ours = [str(v) for v in sorted(SemVer.parse(v) for v in versions)]
    assert ours == theirs
