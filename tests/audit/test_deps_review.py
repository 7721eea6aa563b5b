"""Second-review regressions for `audit deps`:

- Yarn workspaces: a dependency that a workspace's own ``package.json`` declares is direct
  (and dev when only ``devDependencies`` ask for it), for classic and berry lock files made
  by the real tools (``lockfiles/yarn-*-workspaces``; Yarn's "workspaces" field is the
  list of folder globs, or ``{"packages": [...]}`` in Yarn 1's nohoist form);
- an offline export that is damaged (a member that does not inflate, a truncated download)
  and a ``pyproject.toml`` beside a ``poetry.lock`` that is not the expected shape are
  input errors naming the file and the fix — never a traceback.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from lightkeeper.audit.deps import DepsInputError, DepsOptions, audit_deps
from lightkeeper.audit.deps.commands import audit_deps_command
from lightkeeper.audit.deps.lockfiles import LockfileError, parse
from tests.audit.test_deps_command import run_json

HERE = Path(__file__).parent
LOCKS = HERE / "lockfiles"
OSV = HERE / "osv"


def _flags(lockfile: Path) -> dict[tuple[str, str], tuple[bool, bool]]:
    return {(p.name, p.version): (p.direct, p.dev) for p in parse(lockfile).packages}


# packages/api declares lodash (dependencies) and minimist 1.2.0 (devDependencies); the
# root declares mkdirp 0.5.1 (devDependencies), which pulls minimist 0.0.8.
WORKSPACE_FLAGS = {
    ("lodash", "4.17.20"): (True, False),
    ("minimist", "1.2.0"): (True, True),
    ("mkdirp", "0.5.1"): (True, True),
    ("minimist", "0.0.8"): (False, True),
}


@pytest.mark.parametrize("fixture", ["yarn-classic-workspaces", "yarn-berry-workspaces"])
def test_yarn_workspace_dependencies_are_direct(fixture: str) -> None:
    assert _flags(LOCKS / fixture / "yarn.lock") == WORKSPACE_FLAGS


def test_workspaces_in_yarn1_object_form(tmp_path: Path) -> None:
    shutil.copytree(LOCKS / "yarn-classic-workspaces", tmp_path / "p")
    root = tmp_path / "p" / "package.json"
    root.write_text(
        root.read_text().replace(
            '"workspaces":["packages/*"]', '"workspaces":{"packages":["packages/*"],"nohoist":[]}'
        )
    )
    assert '"nohoist"' in root.read_text()
    assert _flags(tmp_path / "p" / "yarn.lock") == WORKSPACE_FLAGS


def _export(target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in sorted((OSV / "npm").glob("*.json")):
            archive.write(record, arcname=record.name)
    return target


def test_a_member_that_does_not_inflate_is_an_input_error(tmp_path: Path) -> None:
    data = bytearray(_export(tmp_path / "npm-all.zip").read_bytes())
    data[200:260] = bytes(60)  # inside the first member's deflate stream
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    with pytest.raises(DepsInputError) as info:
        audit_deps(LOCKS / "npm-v3", DepsOptions(osv_db=[damaged]))
    message = str(info.value)
    assert str(damaged) in message and "GHSA-" in message  # the archive and the member
    assert "download it again" in message
    out, err = io.StringIO(), io.StringIO()
    code = audit_deps_command(LOCKS / "npm-v3", osv_db=[damaged], stdout=out, stderr=err)
    assert code == 3 and err.getvalue().startswith("error: ") and "Traceback" not in err.getvalue()


def test_a_truncated_download_says_so(tmp_path: Path) -> None:
    whole = _export(tmp_path / "npm-all.zip").read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DepsInputError, match=r"truncated or damaged.*download it again"):
        audit_deps(LOCKS / "npm-v3", DepsOptions(osv_db=[cut]))


@pytest.mark.parametrize(
    ("pyproject", "says"),
    [
        ("tool = 1\n", "[tool] must be a table"),
        ("[tool.poetry]\ngroup = 1\n", "[tool.poetry.group] must be a table"),
        ("[tool.poetry.group]\ndev = 1\n", "[tool.poetry.group.dev] must be a table"),
        ("[project]\ndependencies = 1\n", "[project] dependencies must be a list"),
    ],
)
def test_a_misshapen_pyproject_is_named(tmp_path: Path, pyproject: str, says: str) -> None:
    shutil.copy(LOCKS / "poetry" / "poetry.lock", tmp_path / "poetry.lock")
    (tmp_path / "pyproject.toml").write_text(pyproject)
    with pytest.raises(LockfileError) as info:
        parse(tmp_path / "poetry.lock")
    assert str(tmp_path / "pyproject.toml") in str(info.value) and says in str(info.value)


def test_a_pyproject_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    shutil.copy(LOCKS / "poetry" / "poetry.lock", tmp_path / "poetry.lock")
    (tmp_path / "pyproject.toml").write_bytes(b"\xff\xfe[project]\n")
    with pytest.raises(LockfileError, match=r"pyproject\.toml: cannot be read"):
        parse(tmp_path / "poetry.lock")


def test_an_npm_audit_advisory_known_by_its_cve_merges_with_the_osv_one(tmp_path: Path) -> None:
    """npm 6 names this lodash advisory by npm's number and its CVE; OSV by its GHSA id with
    the CVE as an alias (GHSA-p6mc-m468-83gw, CVE-2020-8203): one finding, both sources."""
    (tmp_path / "yarn.lock").write_text(
        '# yarn lockfile v1\n\nlodash@^4.17.0:\n  version "4.17.15"\n'
    )
    audit = {
        "advisories": {
            "1523": {
                "id": 1523,
                "module_name": "lodash",
                "severity": "high",
                "title": "Prototype Pollution",
                "url": "https://npmjs.com/advisories/1523",
                "cves": ["CVE-2020-8203"],
                "vulnerable_versions": "<4.17.19",
                "patched_versions": ">=4.17.19",
                "findings": [{"version": "4.17.15", "paths": ["lodash"]}],
            }
        }
    }
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(audit))
    _, report, _ = run_json(tmp_path, npm_audit_json=path)
    merged = [f for f in report["findings"] if f["rule"] == "GHSA-p6mc-m468-83gw"]
    assert [f["sources"] for f in merged] == [["osv", "npm-audit"]]
    assert not [f for f in report["findings"] if f["rule"] == "NPM-1523"]
