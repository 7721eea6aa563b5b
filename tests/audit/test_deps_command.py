"""`audit deps` end to end: every lock file format against the real advisories (offline from
a folder and from an ``all.zip``), the OSV API path against ``fake_osv``, npm audit output
folded in, the finding's shape, and every exit code."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightkeeper.audit.deps import DepsOptions, DepsUnavailable, audit_deps
from lightkeeper.audit.deps.commands import audit_deps_command
from lightkeeper.audit.findings import Severity
from tests.audit.fake_osv import FakeOsv
from tests.conftest import free_port

HERE = Path(__file__).parent
OSV = HERE / "osv"
LOCKS = HERE / "lockfiles"


def run(path: Path, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = audit_deps_command(path, *args, stdout=out, stderr=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def run_json(path: Path, **kwargs: Any) -> tuple[int, dict[str, Any], str]:
    kwargs.setdefault("osv_db", [OSV])
    code, out, err = run(path, "json", **kwargs)
    return code, json.loads(out), err


def triples(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["rule"], f["package"], f["version"]) for f in report["findings"]}


# What each fixture pins against osv/ — see lockfiles/README.md; reasons in comments.
EXPECTED = {
    "npm-v3": {
        ("GHSA-67hx-6x53-jw92", "@babel/traverse", "8.0.0-alpha.2"),  # pre-release range
        ("GHSA-xvch-5gv4-984h", "minimist", "1.2.5"),  # via the alias next-auth-stub
        ("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.15"),
        ("GHSA-p6mc-m468-83gw", "lodash", "4.17.15"),
        ("GHSA-r683-j2x4-v87g", "node-fetch", "2.6.1"),
        ("GHSA-9wv6-86v2-598j", "path-to-regexp", "3.2.0"),  # transitive, from express 5 beta
        ("GHSA-rv95-896h-c2vc", "express", "5.0.0-beta.1"),  # 5.0.0-alpha.1 ≤ v < 5.0.0-beta.3
        # minimist 1.2.8 is fixed: nothing for it
    },
    "npm-v2-workspaces": {
        ("GHSA-xvch-5gv4-984h", "minimist", "0.0.8"),  # nested under mkdirp
        ("GHSA-grv7-fg5c-xmjg", "braces", "3.0.2"),
        ("GHSA-3h5v-q93c-6h6q", "ws", "7.4.0"),
        ("GHSA-jchw-25xp-jwwc", "follow-redirects", "1.15.3"),
        ("GHSA-8cf7-32gw-wr33", "jsonwebtoken", "8.5.1"),  # the withdrawn GHSA-27h2 is not here
    },
    "pnpm-v9": {
        ("GHSA-f82v-jwr5-mffw", "next", "14.1.0"),
        ("GHSA-fr5h-rqp8-mj6g", "next", "14.1.0"),
        ("GHSA-c2qf-rxjj-qqgw", "semver", "7.5.1"),
        ("GHSA-3xgq-45jj-v275", "cross-spawn", "7.0.3"),
    },
    "pnpm-v6": {
        ("GHSA-r683-j2x4-v87g", "node-fetch", "2.6.7"),  # the stored overlapping range
        ("GHSA-9wv6-86v2-598j", "path-to-regexp", "0.1.7"),
        ("GHSA-r628-mhmh-qjhw", "tar", "6.1.0"),
        ("GHSA-rv95-896h-c2vc", "express", "4.18.2"),
        # lodash-es 4.17.21 is fixed for both lodash advisories
    },
    "yarn-classic": {
        ("GHSA-67hx-6x53-jw92", "@babel/traverse", "7.23.0"),
        ("GHSA-xvch-5gv4-984h", "minimist", "1.2.5"),
        ("GHSA-wf5p-g6vw-rhxx", "axios", "0.21.1"),
        ("GHSA-8cf7-32gw-wr33", "jsonwebtoken", "8.5.1"),
    },
    "yarn-berry": {
        ("GHSA-3h5v-q93c-6h6q", "ws", "8.17.0"),
        ("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.19"),
        ("GHSA-p6mc-m468-83gw", "lodash", "4.17.19"),
        ("GHSA-9wv6-86v2-598j", "path-to-regexp", "0.1.7"),
        ("GHSA-c2qf-rxjj-qqgw", "semver", "6.3.0"),
    },
    # packages/api declares lodash 4.17.20 and (dev) minimist 1.2.0; the root's mkdirp
    # brings minimist 0.0.8 (test_deps_review checks the direct/dev flags).
    "yarn-classic-workspaces": {
        ("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.20"),
        ("GHSA-xvch-5gv4-984h", "minimist", "1.2.0"),
        ("GHSA-xvch-5gv4-984h", "minimist", "0.0.8"),
    },
    "yarn-berry-workspaces": {
        ("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.20"),
        ("GHSA-xvch-5gv4-984h", "minimist", "1.2.0"),
        ("GHSA-xvch-5gv4-984h", "minimist", "0.0.8"),
    },
    "uv": {
        ("GHSA-2gwj-7jmv-h26r", "django", "3.2.12"),
        ("GHSA-jh3w-4vvf-mjgr", "django", "3.2.12"),
        ("GHSA-8q59-q68h-6hv4", "pyyaml", "5.3.1"),
        ("GHSA-wj6h-64fc-37mp", "ecdsa", "0.18.0"),  # last_affected: no fix
        ("GHSA-j8r2-6x86-q33q", "requests", "2.28.0"),
        # urllib3 1.26.20 is past 1.26.17
    },
    "poetry": {
        ("GHSA-jh3w-4vvf-mjgr", "django", "4.2.2"),
        ("GHSA-r9hx-vwmv-q579", "setuptools", "65.5.0"),
        ("GHSA-2g68-c3qc-8985", "werkzeug", "2.3.0"),
        ("GHSA-h5c8-rqwp-cp95", "jinja2", "3.1.2"),
        # pillow 10.2.0 is fixed
    },
    "pip": {
        ("GHSA-8q59-q68h-6hv4", "PyYAML", "5.3.1"),
        ("GHSA-2gwj-7jmv-h26r", "django", "3.2.12"),
        ("GHSA-jh3w-4vvf-mjgr", "django", "3.2.12"),
        ("GHSA-wj6h-64fc-37mp", "ecdsa", "0.18.0"),
        ("GHSA-2g68-c3qc-8985", "Werkzeug", "2.3.0"),
        ("GHSA-j8r2-6x86-q33q", "requests", "2.28.0"),
    },
}


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_every_format_offline(fixture: str) -> None:
    code, report, _ = run_json(LOCKS / fixture)
    assert triples(report) == EXPECTED[fixture]
    assert code == 1  # each fixture has a high or critical finding
    assert report["stats"]["source"] == "offline"


def test_whole_tree_from_all_zip_matches_the_folder(tmp_path: Path) -> None:
    archives = []
    for eco in ("npm", "PyPI"):
        target = tmp_path / f"{eco}-all.zip"
        with zipfile.ZipFile(target, "w") as archive:
            for record in sorted((OSV / eco).glob("*.json")):
                archive.write(record, arcname=record.name)
        archives.append(target)
    _, from_zip, _ = run_json(LOCKS, osv_db=archives)
    _, from_folder, _ = run_json(LOCKS)
    assert from_zip["findings"] == from_folder["findings"]
    expected = {t for fixture in EXPECTED.values() for t in fixture}
    assert triples(from_zip) == expected
    assert from_zip["stats"]["advisories_loaded"] == from_folder["stats"]["advisories_loaded"]
    assert len(from_zip["stats"]["lockfiles"]) == 12


def test_finding_shape() -> None:
    code, report, _ = run_json(LOCKS / "npm-v3")
    assert code == 1
    lodash = next(f for f in report["findings"] if f["rule"] == "GHSA-p6mc-m468-83gw")
    lock = (LOCKS / "npm-v3" / "package-lock.json").read_text().splitlines()
    assert lodash == {
        "kind": "dependency",
        "rule": "GHSA-p6mc-m468-83gw",
        "severity": "high",
        "message": "lodash 4.17.15 (direct): Prototype Pollution in lodash "
        "(GHSA-p6mc-m468-83gw, CVE-2020-8203); fixed in 4.17.20",
        "fingerprint": hashlib.sha256(b"npm:lodash:4.17.15:GHSA-p6mc-m468-83gw").hexdigest(),
        "path": "package-lock.json",
        "line": lock.index('    "node_modules/lodash": {') + 1,
        # 4.17.20 fixes this advisory, but GHSA-35jh needs 4.17.21: advise the one that fixes both
        "fix": "upgrade lodash to 4.17.21",
        "ecosystem": "npm",
        "package": "lodash",
        "version": "4.17.15",
        "direct": True,
        "dev": False,
        "advisory": "GHSA-p6mc-m468-83gw",
        "aliases": ["CVE-2020-8203"],
        "fixed": "4.17.20",
        "upgrade_to": "4.17.21",
        "url": "https://osv.dev/vulnerability/GHSA-p6mc-m468-83gw",
        "severity_basis": "database severity HIGH",
        "sources": ["osv"],
    }
    assert report["counts"] == {"critical": 2, "high": 4, "medium": 1, "low": 0, "info": 0}


def test_text_output_marks_direct_transitive_dev_and_majors() -> None:
    code, out, _ = run(LOCKS / "npm-v3", "text", osv_db=[OSV])
    assert code == 1
    assert "@babel/traverse 8.0.0-alpha.2 (direct, dev):" in out
    assert "path-to-regexp 3.2.0 (transitive):" in out
    assert "fix: upgrade node-fetch to 3.1.1 (a major version change from 2.6.1" in out
    assert out.rstrip().endswith("7 vulnerable dependencies (2 critical, 4 high, 1 medium)")
    first = out.splitlines()[0]
    assert first.startswith("package-lock.json:") and ": critical: [GHSA-" in first


def test_rules_carry_the_advisory() -> None:
    report = audit_deps(LOCKS / "uv", DepsOptions(osv_db=[OSV]))
    rule = report.rules["GHSA-wj6h-64fc-37mp"]
    assert rule.name == "Minerva timing attack on P-256 in python-ecdsa"
    assert rule.help_uri == "https://osv.dev/vulnerability/GHSA-wj6h-64fc-37mp"
    assert rule.help.startswith("No fixed version is recorded")
    assert rule.severity is Severity.HIGH
    assert len(rule.description) <= 1002
    assert (
        report.rules["GHSA-j8r2-6x86-q33q"].help == "Upgrade to a fixed version: requests 2.31.0."
    )
    finding = next(f for f in report.findings if f.rule == "GHSA-wj6h-64fc-37mp")
    assert finding.message.endswith("no fix available")
    assert finding.fix.startswith("no fixed version of ecdsa is recorded")


def test_sarif_renders() -> None:
    code, out, _ = run(LOCKS / "pnpm-v9", "sarif", osv_db=[OSV])
    sarif = json.loads(out)
    (run_,) = sarif["runs"]
    assert len(run_["results"]) == 4 and code == 1


def test_clean_project_exits_0(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "django==4.2.3\nrequests==2.31.0\nurllib3==1.26.17\n"
    )
    code, out, err = run(tmp_path, "text", osv_db=[OSV])
    assert (code, out) == (0, "0 vulnerable dependencies\n")
    assert err == ""


# ---- --fail-on ----


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [
        ("none", 0),
        ("critical", 0),
        ("high", 0),
        ("moderate", 1),
        ("medium", 1),
        ("low", 1),
        ("info", 1),
    ],
)
def test_fail_on(tmp_path: Path, fail_on: str, code: int) -> None:
    # requests 2.28.0 alone: one MODERATE advisory (GHSA-j8r2)
    (tmp_path / "requirements.txt").write_text("requests==2.28.0\n")
    assert run(tmp_path, "json", osv_db=[OSV], fail_on=fail_on)[0] == code


def test_default_fail_on_is_high(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.28.0\n")
    assert run(tmp_path, "json", osv_db=[OSV])[0] == 0
    (tmp_path / "requirements.txt").write_text(
        "requests==2.28.0\nflask==2.2.4\n"
    )  # GHSA-m2qf: HIGH
    assert run(tmp_path, "json", osv_db=[OSV])[0] == 1


# ---- usage and input errors: exit 3, a message naming the place ----


def test_bad_fail_on() -> None:
    code, _, err = run(LOCKS / "uv", "text", osv_db=[OSV], fail_on="severe")
    assert (
        code == 3
        and "--fail-on 'severe': use one of none, info, low, medium, high, critical" in err
    )


def test_bad_format() -> None:
    code, _, err = run(LOCKS / "uv", "xml", osv_db=[OSV])
    assert code == 3 and "--format 'xml'" in err


def test_corrupt_lock_file_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "requirements.txt").write_text("requests==2.31.0\n")
    (tmp_path / "package-lock.json").write_text('{\n  "lockfileVersion": 3,\n  "packages": {,\n}\n')
    code, out, err = run(tmp_path, "text", osv_db=[OSV])
    assert code == 3 and out == ""
    assert f"error: {tmp_path / 'package-lock.json'}:3: not valid JSON" in err
    assert "Traceback" not in err


def test_missing_path(tmp_path: Path) -> None:
    code, _, err = run(tmp_path / "nowhere", "text", osv_db=[OSV])
    assert code == 3 and "no such file or folder" in err


def test_unsupported_file(tmp_path: Path) -> None:
    (tmp_path / "Gemfile.lock").write_text("GEM\n")
    code, _, err = run(tmp_path / "Gemfile.lock", "text", osv_db=[OSV])
    assert code == 3 and "not a supported lock file" in err and "pnpm-lock.yaml" in err


def test_missing_export(tmp_path: Path) -> None:
    code, _, err = run(LOCKS / "uv", "text", osv_db=[tmp_path / "npm-all.zip"])
    assert code == 3 and "--osv-db" in err and "no such file or folder" in err


def test_offline_needs_a_database() -> None:
    code, _, err = run(LOCKS / "uv", "text", offline=True)
    assert code == 3 and "--offline needs --osv-db" in err


def test_invalid_versions_are_reported_not_fatal(tmp_path: Path) -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"dependencies": {"lodash": "*", "odd": "*"}},
            "node_modules/lodash": {"version": "4.17.15"},
            "node_modules/odd": {"version": "1.0"},
        },
    }
    text = json.dumps(lock, indent=2)
    (tmp_path / "package-lock.json").write_text(text)
    line = text.splitlines().index('    "node_modules/odd": {') + 1
    code, report, err = run_json(tmp_path)
    assert code == 1 and {f["package"] for f in report["findings"]} == {"lodash"}
    (note,) = report["stats"]["not_checked"]
    assert (
        note
        == f"package-lock.json:{line}: odd 1.0 ('1.0' is not a SemVer version (MAJOR.MINOR.PATCH[-pre][+build]))"
    )
    assert "note: 1 dependencies not checked" in err


def test_unpinned_counted_and_noted() -> None:
    code, report, err = run_json(LOCKS / "pip")
    assert code == 1 and report["stats"]["unpinned"] == 3
    assert (
        "requirements-dev.txt:10: flask <3,>=2.2 (not pinned, not checked)"
        in report["stats"]["not_checked"]
    )
    assert "flask <3,>=2.2 (not pinned, not checked)" in err


# ---- the OSV API path ----


@pytest.fixture
def fake_osv() -> Iterator[FakeOsv]:
    # What api.osv.dev answers for the uv fixture's pins (recorded by hand from the records'
    # ranges), plus a withdrawn record that the service still returns for jsonwebtoken.
    server = FakeOsv(
        OSV,
        {
            ("PyPI", "django", "3.2.12"): ["GHSA-2gwj-7jmv-h26r", "GHSA-jh3w-4vvf-mjgr"],
            ("PyPI", "pyyaml", "5.3.1"): ["GHSA-8q59-q68h-6hv4"],
            ("PyPI", "ecdsa", "0.18.0"): ["GHSA-wj6h-64fc-37mp"],
            ("PyPI", "requests", "2.28.0"): ["GHSA-j8r2-6x86-q33q"],
            ("npm", "jsonwebtoken", "8.5.1"): ["GHSA-27h2-hvpr-p74q", "GHSA-8cf7-32gw-wr33"],
        },
        page_size=1,
    )
    yield server
    server.close()


def test_api_mode(fake_osv: FakeOsv) -> None:
    code, report, _ = run_json(LOCKS / "uv", osv_db=[], api_url=fake_osv.url)
    assert triples(report) == EXPECTED["uv"]
    assert report["stats"]["source"] == "api" and report["source"] == "api"
    assert code == 1
    # the same findings as offline, fixes included
    _, offline, _ = run_json(LOCKS / "uv")
    assert report["findings"] == offline["findings"]


def test_api_mode_drops_withdrawn(fake_osv: FakeOsv, tmp_path: Path) -> None:
    (tmp_path / "yarn.lock").write_text(
        '# yarn lockfile v1\n\njsonwebtoken@8.5.1:\n  version "8.5.1"\n'
    )
    code, report, _ = run_json(tmp_path, osv_db=[], api_url=fake_osv.url)
    assert triples(report) == {("GHSA-8cf7-32gw-wr33", "jsonwebtoken", "8.5.1")}
    assert report["stats"]["withdrawn_ignored"] == 1
    assert code == 0  # GHSA-8cf7 is MODERATE, below the default --fail-on high


def test_api_unreachable_exits_2_and_names_osv_db() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(LOCKS / "uv", "text", api_url=url, timeout=2)
    assert code == 2 and out == ""
    assert f"the OSV API at {url} did not answer POST /v1/querybatch: ConnectError" in err
    assert "--osv-db PATH" in err and "all.zip" in err


def test_api_down_raises_for_the_service_caller(fake_osv: FakeOsv) -> None:
    fake_osv.mode = "down"
    with pytest.raises(DepsUnavailable, match="HTTP 503"):
        audit_deps(LOCKS / "uv", DepsOptions(api_url=fake_osv.url, timeout=2))


# ---- npm audit --json folded in ----


def test_npm_audit_json_is_merged() -> None:
    code, report, _ = run_json(LOCKS / "npm-v3", npm_audit_json=LOCKS / "npm-v3" / "npm-audit.json")
    assert code == 1
    by_key = {(f["rule"], f["package"], f["version"]): f for f in report["findings"]}
    # same GHSA id for the same installed package: one finding, both sources
    assert len([k for k in by_key if k[0] == "GHSA-p6mc-m468-83gw"]) == 1
    assert by_key[("GHSA-p6mc-m468-83gw", "lodash", "4.17.15")]["sources"] == ["osv", "npm-audit"]
    # the alias node_modules/next-auth-stub maps back to minimist 1.2.5
    assert by_key[("GHSA-xvch-5gv4-984h", "minimist", "1.2.5")]["sources"] == ["osv", "npm-audit"]
    # an advisory only npm knows: located through the lock file, npm's severity and fix
    redos = by_key[("GHSA-29mw-wpgm-hmr9", "lodash", "4.17.15")]
    assert redos["severity"] == "medium" and redos["sources"] == ["npm-audit"]
    assert (
        redos["path"] == "package-lock.json"
        and redos["line"] == by_key[("GHSA-p6mc-m468-83gw", "lodash", "4.17.15")]["line"]
    )
    assert redos["fix"] == "upgrade lodash to 4.17.21"
    assert redos["message"].startswith(
        "lodash 4.17.15 (direct): Regular Expression Denial of Service (ReDoS) in lodash"
    )
    assert (
        redos["fingerprint"]
        == hashlib.sha256(b"npm:lodash:4.17.15:GHSA-29mw-wpgm-hmr9").hexdigest()
    )
    assert len(report["findings"]) == 8  # the 7 OSV findings + 1 from npm audit
    assert report["stats"]["npm_audit_advisories"] == 6


def test_npm_audit_json_without_lock_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    code, report, _ = run_json(tmp_path, npm_audit_json=LOCKS / "npm-v3" / "npm-audit.json")
    p2r = next(f for f in report["findings"] if f["rule"] == "GHSA-9wv6-86v2-598j")
    assert p2r["message"].startswith("path-to-regexp >=2.0.0 <3.3.0 (transitive): ")
    assert "path" not in p2r
    assert p2r["fix"] == "upgrade express to 5.1.0, which brings a fixed path-to-regexp"
    assert code == 1


def test_npm6_audit_format(tmp_path: Path) -> None:
    (tmp_path / "yarn.lock").write_text(
        '# yarn lockfile v1\n\nminimist@^1.2.0:\n  version "1.2.5"\n'
    )
    audit = {
        "actions": [],
        "advisories": {
            "1179": {
                "id": 1179,
                "module_name": "minimist",
                "severity": "low",
                "title": "Prototype Pollution",
                "url": "https://npmjs.com/advisories/1179",
                "cves": [],
                "vulnerable_versions": "<0.2.1 || >=1.0.0 <1.2.3",
                "patched_versions": ">=0.2.1 <1.0.0 || >=1.2.3",
                "findings": [{"version": "1.2.5", "paths": ["minimist"]}],
            },
            "1500": {
                "id": 1500,
                "github_advisory_id": "GHSA-xvch-5gv4-984h",
                "module_name": "minimist",
                "severity": "critical",
                "title": "Prototype Pollution in minimist",
                "url": "https://github.com/advisories/GHSA-xvch-5gv4-984h",
                "cves": ["CVE-2021-44906"],
                "vulnerable_versions": "<1.2.6",
                "patched_versions": ">=1.2.6",
                "findings": [{"version": "1.2.5", "paths": ["minimist"]}],
            },
        },
        "metadata": {"vulnerabilities": {"low": 1, "critical": 1}},
    }
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(audit))
    _, report, _ = run_json(tmp_path, npm_audit_json=path)
    rules = sorted((f["rule"], f["sources"][-1]) for f in report["findings"])
    assert rules == [("GHSA-xvch-5gv4-984h", "npm-audit"), ("NPM-1179", "npm-audit")]
    npm_only = next(f for f in report["findings"] if f["rule"] == "NPM-1179")
    assert npm_only["fix"] == "upgrade minimist to a version matching >=0.2.1 <1.0.0 || >=1.2.3"
    assert npm_only["line"] == 3


def test_npm_audit_json_errors(tmp_path: Path) -> None:
    bad = tmp_path / "audit.json"
    bad.write_text('{"auditReportVersion": 2,\n "vulnerabilities": {,}}')
    code, _, err = run(LOCKS / "uv", "text", osv_db=[OSV], npm_audit_json=bad)
    assert code == 3 and f"{bad}:2: not JSON" in err
    bad.write_text('{"something": "else"}')
    code, _, err = run(LOCKS / "uv", "text", osv_db=[OSV], npm_audit_json=bad)
    assert code == 3 and "neither 'vulnerabilities' (npm 7+) nor 'advisories' (npm 6)" in err


def test_api_membership_is_trusted(tmp_path: Path) -> None:
    # OSV.dev also matches on each record's enumerated versions; when it says a release is
    # affected and the ranges we read do not place it, the API's word stands (with no fix
    # we could derive from the ranges).
    server = FakeOsv(OSV, {("npm", "lodash", "4.17.21"): ["GHSA-35jh-r3h4-6jhm"]})
    try:
        (tmp_path / "yarn.lock").write_text(
            '# yarn lockfile v1\n\nlodash@^4:\n  version "4.17.21"\n'
        )
        code, report, _ = run_json(tmp_path, osv_db=[], api_url=server.url)
    finally:
        server.close()
    (finding,) = report["findings"]
    assert (finding["rule"], finding["fixed"], code) == ("GHSA-35jh-r3h4-6jhm", None, 1)


def test_credentials_in_lock_files_are_never_printed(tmp_path: Path) -> None:
    token, password = "s3cr3tT0kenValue42", "hunter2hunter2"  # lightkeeper:allow (a test value)
    (tmp_path / "requirements.txt").write_text(
        f"--index-url https://ci:{password}@pypi.internal.example/simple\n"
        f"-e git+https://{token}@github.com/acme/tools.git#egg=tools\n"
        f"acme-lib @ https://deploy:{password}@files.example/acme_lib-1.0-py3-none-any.whl\n"
        "requests==2.28.0\n"
    )
    for fmt in ("text", "json", "sarif"):
        _, out, err = run(tmp_path, fmt, osv_db=[OSV])
        assert token not in out + err and password not in out + err
        assert "acme-lib" in out + err  # still reported as not checked, with the URL masked
    (tmp_path / "requirements.txt").write_text(
        f"acme-lib @@ https://deploy:{password}@files.example/x\n"
    )
    code, _, err = run(tmp_path, "text", osv_db=[OSV])
    assert code == 3 and "requirements.txt:1: not a requirement" in err and password not in err
