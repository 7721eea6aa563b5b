"""Scanning trees with real files: what is scanned and skipped, suppression (inline marker,
config allowlist, baseline), the three output formats, and the command's exit codes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from lightkeeper.audit.output import render
from lightkeeper.audit.secrets import (
    SecretOptions,
    SecretsAllow,
    scan_paths,
    scan_secrets,
)
from lightkeeper.audit.secrets import scanner as scanner_module
from lightkeeper.audit.secrets.config import glob_to_regex
from tests.audit import test_secrets_tokens as t
from tests.audit.sarif_schema import validate


def plant(root: Path) -> dict[str, str]:
    """A small project with one secret per file; returns {relative path: secret}."""
    secrets = {
        "app/settings.py": t.anthropic("scan-anthropic"),
        "deploy/ci.yml": t.github("ghp", "scan-github"),
        "web/src/billing.ts": t.stripe_live("scan-stripe"),
        "infra/db.env.yaml": t.password("scan-db"),
        "keys/deploy.pem": t.pem("ec"),
    }
    files = {
        "app/settings.py": f'import os\n\nANTHROPIC_API_KEY = "{secrets["app/settings.py"]}"\n',
        "deploy/ci.yml": f"jobs:\n  build:\n    env:\n      GH_TOKEN: {secrets['deploy/ci.yml']}\n",
        "web/src/billing.ts": f"export const stripe = new Stripe('{secrets['web/src/billing.ts']}');\n",
        "infra/db.env.yaml": f"url: postgres://app:{secrets['infra/db.env.yaml']}@db:5432/app\n",
        "keys/deploy.pem": secrets["keys/deploy.pem"],
        "README.md": "Set ANTHROPIC_API_KEY=your_key_here before running.\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return secrets


EXPECTED = [
    ("app/settings.py", 3, "anthropic-api-key"),
    ("deploy/ci.yml", 4, "github-token"),
    ("infra/db.env.yaml", 1, "database-url"),
    ("keys/deploy.pem", 1, "private-key"),
    ("web/src/billing.ts", 1, "stripe-secret-key"),
]


def located(report_findings: list) -> list[tuple[str, int, str]]:  # type: ignore[type-arg]
    return [(f.location.path, f.location.line, f.rule) for f in report_findings]


def test_scan_finds_each_secret_at_its_place(tmp_path: Path) -> None:
    plant(tmp_path)
    report = scan_paths(tmp_path)
    assert located(report.findings) == EXPECTED
    assert report.stats["files"] == 6
    assert report.stats["bytes"] == sum(
        p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()
    )
    assert report.stats["skipped_binary"] == 0 and report.stats["skipped_large"] == 0
    assert report.stats["seconds"] >= 0
    assert set(report.rules) == {rule for _, _, rule in EXPECTED}


def test_binary_and_large_files_are_skipped_and_counted(tmp_path: Path) -> None:
    key = t.github("ghp", "binary")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + key.encode())
    (tmp_path / "dump.sql").write_text("x" * 5000 + f"\ntoken = '{key}'\n")
    (tmp_path / "ok.py").write_text(f"token = '{t.github('ghp', 'small')}'\n")
    report = scan_paths(tmp_path, SecretOptions(max_file_size=4096))
    assert located(report.findings) == [("ok.py", 1, "github-token")]
    assert report.stats["skipped_binary"] == 1
    assert report.stats["skipped_large"] == 1
    assert report.stats["files"] == 1


def test_symlinks_and_dependency_dirs_are_not_entered(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.txt").write_text(t.github("ghp", "outside") + "\n")
    root = tmp_path / "project"
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text(f"k='{t.npm('dep')}'\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f"url = https://x:{t.github('ghp', 'git')}@github.com\n")
    os.symlink(outside / "leak.txt", root / "link.txt")
    os.symlink(outside, root / "linked-dir")
    (root / "main.py").write_text("print('clean')\n")
    report = scan_paths(root)
    assert report.findings == []
    assert report.stats["files"] == 1
    # Dependencies are scanned when asked to.
    deps = scan_paths(root, SecretOptions(skip_dirs=frozenset({".git"})))
    assert located(deps.findings) == [("node_modules/pkg/index.js", 1, "npm-token")]


def test_a_single_file_can_be_scanned(tmp_path: Path) -> None:
    plant(tmp_path)
    report = scan_paths(tmp_path / "deploy" / "ci.yml")
    assert located(report.findings) == [("ci.yml", 4, "github-token")]


def test_parallel_scan_equals_serial_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(40):
        plant(tmp_path / f"p{i}")
    serial = scan_paths(tmp_path, SecretOptions(jobs=1))
    monkeypatch.setattr(scanner_module, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(scanner_module, "POOL_MIN_FILES", 1)
    monkeypatch.setattr(scanner_module, "BATCH_FILES", 16)
    done: list[tuple[int, int | None]] = []
    pooled = scan_paths(tmp_path, SecretOptions(jobs=2, progress=lambda d, n: done.append((d, n))))
    assert [f.as_json() for f in pooled.findings] == [f.as_json() for f in serial.findings]
    assert len(pooled.findings) == 40 * len(EXPECTED)
    assert done[-1] == (240, 240)


# --- suppression --------------------------------------------------------------------------


def test_inline_marker_suppresses_and_is_counted(tmp_path: Path) -> None:
    key = t.github("ghp", "inline")
    (tmp_path / "a.py").write_text(f"TOKEN = '{key}'  # lightkeeper:allow (revoked test token)\n")
    (tmp_path / "b.js").write_text(f"// lightkeeper:allow is per line\nconst t = '{key}';\n")
    report = scan_paths(tmp_path)
    assert located(report.findings) == [("b.js", 2, "github-token")]
    assert report.stats["suppressed_inline"] == 1


def test_config_allowlist_by_path_rule_and_pattern(tmp_path: Path) -> None:
    plant(tmp_path)
    (tmp_path / "tests" / "fixtures").mkdir(parents=True)
    (tmp_path / "tests" / "fixtures" / "keys.py").write_text(f"K = '{t.github('ghp', 'fx')}'\n")
    allow = SecretsAllow(
        paths=["tests/fixtures/**", "*.pem"],
        rules=["database-url"],
        patterns=["^sk_live_51"],
    )
    report = scan_paths(tmp_path, SecretOptions(allow=allow))
    assert located(report.findings) == [
        ("app/settings.py", 3, "anthropic-api-key"),
        ("deploy/ci.yml", 4, "github-token"),
    ]
    # Paths are not even opened; rule and pattern matches are counted as suppressed.
    assert report.stats["suppressed_config"] == 2
    assert report.stats["files"] == 5


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("*.pem", "keys/deploy.pem", True),
        ("*.pem", "deploy.pem", True),
        ("fixtures", "tests/fixtures/a.py", True),
        ("tests/fixtures/**", "tests/fixtures/deep/a.py", True),
        ("tests/fixtures/**", "src/tests/fixtures/a.py", False),
        ("/docs", "docs/a.md", True),
        ("docs/", "docs/a.md", True),
        ("docs/*.md", "docs/a.md", True),
        ("docs/*.md", "docs/sub/a.md", False),  # * does not cross a slash
        ("**/secrets.yaml", "a/b/secrets.yaml", True),
        ("**/secrets.yaml", "secrets.yaml", True),
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/pkg/app.py", False),
        ("file?.txt", "file1.txt", True),
        ("file[!0-9].txt", "file1.txt", False),
        ("file[!0-9].txt", "fileA.txt", True),
    ],
)
def test_allow_path_globs(glob: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(glob).match(path)) is matches


def test_allowlist_validation_errors_name_the_fix() -> None:
    with pytest.raises(ValidationError, match="did you mean 'github-token'"):
        SecretsAllow(rules=["githb-token"])
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        SecretsAllow(patterns=["sk_live_(["])
    with pytest.raises(ValidationError, match="unclosed"):
        SecretsAllow(paths=["keys/[abc.pem"])
    with pytest.raises(ValidationError, match="Extra inputs"):
        SecretsAllow.model_validate({"path": ["x"]})


def test_baseline_reports_only_new_secrets(tmp_path: Path) -> None:
    plant(tmp_path)
    baseline = tmp_path.parent / f"{tmp_path.name}-baseline.json"
    err = io.StringIO()
    assert scan_secrets(tmp_path, write_baseline=baseline, stderr=err) == 0
    assert "wrote 5 fingerprint(s)" in err.getvalue()
    written = json.loads(baseline.read_text())
    assert len(written["findings"]) == 5
    assert all(len(e["fingerprint"]) == 64 for e in written["findings"])

    out = io.StringIO()
    assert scan_secrets(tmp_path, baseline=baseline, fmt="json", stdout=out) == 0
    data = json.loads(out.getvalue())
    assert data["findings"] == [] and data["stats"]["suppressed_baseline"] == 5

    # The same known secret in a new file is still known; a new secret is not.
    known = t.github("ghp", "scan-github")
    (tmp_path / "copy.yml").write_text(f"token: {known}\n")
    (tmp_path / "new.py").write_text(f"K = '{t.npm('new')}'\n")
    out = io.StringIO()
    assert scan_secrets(tmp_path, baseline=baseline, fmt="json", stdout=out) == 1
    assert [(f["path"], f["rule"]) for f in json.loads(out.getvalue())["findings"]] == [
        ("new.py", "npm-token")
    ]


def test_baseline_errors_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "baseline.json"
    bad.write_text('{"findings": [\n  "not-a-fingerprint"\n')
    err = io.StringIO()
    assert scan_secrets(tmp_path, baseline=bad, stderr=err) == 3
    assert f"{bad}:3:1: baseline is not valid JSON" in err.getvalue()
    bad.write_text('{"findings": ["abc"]}')
    err = io.StringIO()
    assert scan_secrets(tmp_path, baseline=bad, stderr=err) == 3
    assert "findings[0] is not a sha256 fingerprint" in err.getvalue()
    err = io.StringIO()
    assert scan_secrets(tmp_path, baseline=tmp_path / "missing.json", stderr=err) == 3
    assert "--write-baseline" in err.getvalue()


# --- outputs and the command --------------------------------------------------------------


def test_no_output_format_contains_a_whole_secret(tmp_path: Path) -> None:
    secrets = plant(tmp_path)
    report = scan_paths(tmp_path)
    assert len(report.findings) == len(secrets)
    pem_lines = [line for line in secrets["keys/deploy.pem"].splitlines() if "-----" not in line]
    for fmt in ("text", "json", "sarif"):
        body = render(report, fmt)  # type: ignore[arg-type]
        for secret in secrets.values():
            assert secret not in body, fmt
        for line in pem_lines:
            assert line not in body, fmt
    validate(json.loads(render(report, "sarif")))


def test_json_output_is_the_benchmark_contract(tmp_path: Path) -> None:
    plant(tmp_path)
    out = io.StringIO()
    assert scan_secrets(tmp_path, fmt="json", stdout=out) == 1
    data = json.loads(out.getvalue())
    assert data["kind"] == "secret"
    assert {"files", "bytes", "seconds", "skipped_binary", "skipped_large"} <= set(data["stats"])
    first = data["findings"][0]
    assert {
        "rule",
        "path",
        "line",
        "column",
        "fingerprint",
        "preview",
        "severity",
        "message",
    } <= set(first)
    assert [(f["path"], f["line"], f["rule"]) for f in data["findings"]] == [
        (p, line, rule) for p, line, rule in EXPECTED
    ]
    assert first["message"].startswith("Anthropic API key sk-ant-api03-")


def test_text_output_lines_and_output_file(tmp_path: Path) -> None:
    plant(tmp_path)
    target = tmp_path.parent / f"{tmp_path.name}.sarif"
    assert scan_secrets(tmp_path, fmt="sarif", output=target) == 1
    validate(json.loads(target.read_text()))
    out = io.StringIO()
    assert scan_secrets(tmp_path, stdout=out) == 1
    text = out.getvalue()
    assert (
        "app/settings.py:3:22: critical: [anthropic-api-key] Anthropic API key sk-ant-api03-"
        in text
    )
    assert text.rstrip().endswith("5 secrets (3 critical, 2 high)")


def test_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("print('hello')\n")
    assert scan_secrets(tmp_path, stdout=io.StringIO()) == 0
    (tmp_path / "test_pay.py").write_text(f"KEY = '{t.stripe_test()}'\n")
    assert scan_secrets(tmp_path, stdout=io.StringIO()) == 1
    from lightkeeper.audit.findings import Severity

    assert scan_secrets(tmp_path, stdout=io.StringIO(), fail_on=Severity.HIGH) == 0

    err = io.StringIO()
    assert scan_secrets(tmp_path / "nope", stderr=err) == 3
    assert "does not exist" in err.getvalue()
    err = io.StringIO()
    assert scan_secrets(tmp_path, fmt="xml", stderr=err) == 3
    assert "use one of text, json, sarif" in err.getvalue()
    err = io.StringIO()
    assert scan_secrets(tmp_path, output=tmp_path / "no" / "dir" / "r.json", stderr=err) == 3
    assert "cannot write" in err.getvalue()
