"""SARIF and the shared report shape: what GitHub code scanning needs is there and valid."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from lightkeeper.audit.findings import Finding, Location, Report, Rule, Severity
from lightkeeper.audit.output import exit_code, render, text, write
from lightkeeper.audit.sarif import FINGERPRINT_KEY, to_sarif
from tests.audit.sarif_schema import validate


def _report() -> Report:
    rules = {
        "aws-access-key": Rule(
            "aws-access-key",
            "AWS access key",
            "An AWS access key id with its secret key.",
            help="Deactivate the key in IAM, then remove it from the code.",
            severity=Severity.CRITICAL,
            tags=("security", "secret"),
        ),
        "generic-secret": Rule("generic-secret", "Generic secret", "", severity=Severity.MEDIUM),
    }
    findings = [
        Finding(
            kind="secret",
            rule="aws-access-key",
            severity=Severity.CRITICAL,
            message="AWS access key AKIA…XY",
            fingerprint="f" * 64,
            location=Location("src/app config.py", 12, 5, 25),
            fix="Rotate it.",
            properties={"preview": "AKIA…XY", "commit": "abc", "tags": ("a", "b")},
        ),
        Finding(
            kind="secret",
            rule="generic-secret",
            severity=Severity.LOW,
            message="password assignment",
            fingerprint="e" * 64,
            location=Location("README.md", 3),
        ),
    ]
    return Report("secret", findings, rules, stats={"files": 2})


def test_sarif_is_valid_and_carries_what_github_reads() -> None:
    log = to_sarif([_report()])
    validate(log)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["aws-access-key", "generic-secret"]
    assert rules[0]["properties"]["security-severity"] == "9.5"  # critical: GitHub's > 9.0
    assert rules[0]["name"] == "AwsAccessKey"
    assert rules[0]["properties"]["tags"] == ["security", "secret"]  # a set: no repeats
    first, second = run["results"]
    assert first["ruleIndex"] == 0 and second["ruleIndex"] == 1
    assert first["level"] == "error" and second["level"] == "note"
    assert first["partialFingerprints"] == {FINGERPRINT_KEY: "f" * 64}
    location = first["locations"][0]["physicalLocation"]
    # Relative to the repository root and percent-encoded, as a URI must be.
    assert location["artifactLocation"] == {"uri": "src/app%20config.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 12, "startColumn": 5, "endColumn": 25}
    assert second["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}
    assert first["properties"]["tags"] == ["a", "b"]
    assert run["automationDetails"]["id"] == "lightkeeper/secrets/"


def test_every_kind_and_a_url_location_validate() -> None:
    header = Report(
        "header",
        [
            Finding(
                "header",
                "strict-transport-security",
                Severity.HIGH,
                "HSTS header missing",
                "1" * 64,
                Location("https://example.com/"),
            )
        ],
        {},
        summary={"score": 40, "grade": "D"},
    )
    deps = Report(
        "dependency",
        [Finding("dependency", "GHSA-p6mc-m468-83gw", Severity.HIGH, "lodash", "2" * 64)],
        {},
    )
    log = to_sarif([header, deps, Report("secret", [], {})])
    validate(log)
    assert log["runs"][0]["properties"] == {"score": 40, "grade": "D"}
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "https://example.com/"}
    }
    # A rule a finding names but nobody described is still declared, so ruleIndex holds.
    assert log["runs"][1]["tool"]["driver"]["rules"] == [
        {"id": "GHSA-p6mc-m468-83gw", "shortDescription": {"text": "GHSA-p6mc-m468-83gw"}}
    ]
    assert log["runs"][2]["results"] == []


def test_the_schema_check_can_fail() -> None:
    """The validator is a real check: a log GitHub would refuse is refused here too."""
    log = to_sarif([_report()])
    broken = copy.deepcopy(log)
    del broken["runs"][0]["tool"]
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_severity_parse_labels_and_order() -> None:
    assert Severity.parse("MODERATE") is Severity.MEDIUM
    assert Severity.parse(" High ") is Severity.HIGH
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    with pytest.raises(ValueError, match="use one of info, low, medium, high, critical"):
        Severity.parse("urgent")


def test_text_json_and_exit_codes(tmp_path: Path) -> None:
    report = _report()
    text = render(report, "text")
    assert "src/app config.py:12:5: critical: [aws-access-key] AWS access key AKIA…XY" in text
    assert "    fix: Rotate it." in text
    assert text.rstrip().endswith("2 secrets (1 critical, 1 low)")
    data = json.loads(render(report, "json"))
    assert data["kind"] == "secret" and data["counts"]["critical"] == 1
    assert data["findings"][0]["path"] == "src/app config.py"
    assert data["findings"][0]["preview"] == "AKIA…XY"
    assert exit_code(report, Severity.CRITICAL) == 1
    assert exit_code(Report("secret", report.findings[1:], {}), Severity.MEDIUM) == 0
    out = tmp_path / "out.sarif"
    write(report, "sarif", out)
    validate(json.loads(out.read_text()))
    assert not list(tmp_path.glob(".*.tmp"))
    assert render(Report("dependency", [], {}), "text") == "0 vulnerable dependencies\n"


def test_text_keeps_one_finding_on_one_line() -> None:
    """A file name with a newline or an escape sequence cannot forge or hide lines."""
    finding = Finding(
        "secret", "jwt", Severity.HIGH, "JWT eyJh…\x1b[2J", "0" * 64, Location("a\nb.py", 1, 1)
    )
    first = text(Report("secret", [finding], {})).splitlines()[0]
    assert first == "a\\nb.py:1:1: high: [jwt] JWT eyJh…\\x1b[2J"
