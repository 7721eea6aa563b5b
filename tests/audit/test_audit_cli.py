"""The three audit commands as CI runs them: a real `lightkeeper` process, exit codes, SARIF
that validates, the config's allowlist, and no whole secret in anything printed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.audit.sarif_schema import validate
from tests.audit.test_audit_service import LOCKFILES, OSV, anthropic_key
from tests.conftest import LIGHTKEEPER
from tests.probes.loopback import closed_port


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIGHTKEEPER, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def test_scan_secrets_exit_codes_sarif_allowlist_and_baseline(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "fixtures").mkdir(parents=True)
    key = anthropic_key()
    (app / "settings.py").write_text(f'KEY = "{key}"\n')
    (app / "clean.py").write_text('KEY = os.environ["KEY"]\n')

    found = run("scan", "secrets", str(app), "--format", "sarif")
    assert found.returncode == 1, found.stderr
    log = json.loads(found.stdout)
    validate(log)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "anthropic-api-key"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "settings.py"
    assert key not in found.stdout + found.stderr

    # The config's allowlist: the file moves under an allowed path → nothing to report.
    (app / "settings.py").rename(app / "fixtures" / "settings.py")
    config = tmp_path / "lightkeeper.yaml"
    config.write_text('audits:\n  allow: {paths: ["fixtures/**"]}\n')
    allowed = run("scan", "secrets", str(app), "--config", str(config))
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "0 secrets" in allowed.stdout

    # A baseline holds today's findings: only new ones fail the build.
    baseline = tmp_path / "baseline.json"
    wrote = run("scan", "secrets", str(app), "--write-baseline", str(baseline))
    assert wrote.returncode == 0 and key not in baseline.read_text()
    assert run("scan", "secrets", str(app), "--baseline", str(baseline)).returncode == 0
    (app / "new.py").write_text(f'OTHER = "{anthropic_key()}"\n')
    new = run("scan", "secrets", str(app), "--baseline", str(baseline), "--format", "json")
    assert new.returncode == 1
    assert [f["path"] for f in json.loads(new.stdout)["findings"]] == ["new.py"]

    bad = run("scan", "secrets", str(app), "--format", "xml")
    assert bad.returncode == 3 and "--format" in bad.stderr and "Traceback" not in bad.stderr
    missing = run("scan", "secrets", str(tmp_path / "nowhere"))
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    not_git = run("scan", "secrets", str(app), "--history")
    assert not_git.returncode == 3 and "Traceback" not in not_git.stderr


def test_audit_deps_offline_and_exit_codes(tmp_path: Path) -> None:
    lock = str(LOCKFILES / "npm-v3")
    found = run("audit", "deps", lock, "--osv-db", str(OSV), "--format", "sarif")
    assert found.returncode == 1, found.stderr
    log = json.loads(found.stdout)
    validate(log)
    assert any(r["ruleId"].startswith("GHSA-") for r in log["runs"][0]["results"])
    quiet = run("audit", "deps", lock, "--osv-db", str(OSV), "--fail-on", "none")
    assert quiet.returncode == 0 and "vulnerable dependenc" in quiet.stdout
    corrupt = tmp_path / "package-lock.json"
    corrupt.write_text('{"lockfileVersion": 3, "packages": ')
    broken = run("audit", "deps", str(corrupt), "--osv-db", str(OSV))
    assert broken.returncode == 3 and "package-lock.json" in broken.stderr
    assert "Traceback" not in broken.stderr
    away = run("audit", "deps", lock, "--api-url", f"http://127.0.0.1:{closed_port()}")
    assert away.returncode == 2 and "--osv-db" in away.stderr


def test_audit_headers_unreachable_and_usage() -> None:
    port = closed_port()
    away = run("audit", "headers", f"http://127.0.0.1:{port}/", "--format", "json")
    assert away.returncode == 2 and "cannot be reached" in away.stderr
    bad = run("audit", "headers", "http://127.0.0.1:1/", "--min-grade", "Z")
    assert bad.returncode == 3 and "Traceback" not in bad.stderr
    groups = run("audit")
    assert "headers" in groups.stdout and "deps" in groups.stdout


def test_this_repository_holds_no_secret(tmp_path: Path) -> None:
    """Dogfood: every tracked file of this checkout, scanned as CI would. Test credentials
    in the tests carry `lightkeeper:allow`; planted secrets are built at run time."""
    repo = Path(__file__).resolve().parents[2]
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    copy = tmp_path / "repo"
    for name in listed.stdout.decode().split("\0"):
        source = repo / name
        if name and source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy / name)
    scan = run("scan", "secrets", str(copy), "--format", "json")
    found = [f"{f['path']}:{f['line']} {f['rule']}" for f in json.loads(scan.stdout)["findings"]]
    assert scan.returncode == 0 and found == [], found
