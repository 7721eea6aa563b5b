"""SARIF 2.1.0 (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/) for GitHub code scanning.

What GitHub reads (docs.github.com, "SARIF support for code scanning"): ``runs[].tool.driver``
with ``rules`` (``id``, descriptions, ``help``, ``properties.tags`` and
``properties.security-severity``), ``results`` with ``ruleId``, ``message.text``, one
``physicalLocation`` whose ``artifactLocation.uri`` is relative to the repository root, a
``region`` with a 1-based ``startLine``, and ``partialFingerprints`` to follow an alert across
commits. One run per report; ``automationDetails.id`` keeps secrets, headers and deps apart
when the three are uploaded for the same commit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from lightkeeper.audit.findings import Finding, Report, Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "lightkeeper/v1"
CATEGORY = {"secret": "secrets", "header": "headers", "dependency": "deps"}


def to_sarif(reports: list[Report]) -> dict[str, Any]:
    """One SARIF log with a run per report."""
    from lightkeeper import __version__

    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [_run(report, __version__) for report in reports],
    }


def _run(report: Report, version: str) -> dict[str, Any]:
    rule_ids = sorted({f.rule for f in report.findings} | set(report.rules))
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    rules = [_rule(report.rules.get(rule_id), rule_id) for rule_id in rule_ids]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "Lightkeeper",
                "version": version,
                "semanticVersion": version,
                "rules": rules,
            }
        },
        "automationDetails": {"id": f"lightkeeper/{CATEGORY[report.kind]}/"},
        "results": [_result(f, index[f.rule]) for f in report.findings],
    }
    if report.summary:
        run["properties"] = dict(report.summary)
    return run


def _rule(rule: Rule | None, rule_id: str) -> dict[str, Any]:
    if rule is None:  # a finding whose producer did not describe its rule: still valid SARIF
        return {"id": rule_id, "shortDescription": {"text": rule_id}}
    data: dict[str, Any] = {
        "id": rule.id,
        "name": _pascal(rule.name),
        "shortDescription": {"text": rule.name},
        "fullDescription": {"text": rule.description or rule.name},
        "defaultConfiguration": {"level": rule.severity.sarif_level},
        "properties": {
            # A set in SARIF (uniqueItems): "security" once, whoever else names it.
            "tags": list(dict.fromkeys(("security", *rule.tags))),
            "security-severity": rule.severity.security_severity,
            "precision": "high",
        },
    }
    if rule.help:
        data["help"] = {"text": rule.help, "markdown": rule.help}
    if rule.help_uri:
        data["helpUri"] = rule.help_uri
    return data


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    text = finding.message if not finding.fix else f"{finding.message} Fix: {finding.fix}"
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": finding.severity.sarif_level,
        "message": {"text": text},
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"severity": finding.severity.label, **_plain(finding.properties)},
    }
    if finding.location is not None:
        result["locations"] = [_location(finding)]
    return result


def _location(finding: Finding) -> dict[str, Any]:
    assert finding.location is not None
    loc = finding.location
    if "://" in loc.path:  # a URL (header audit): as it is
        artifact: dict[str, Any] = {"uri": loc.path}
    else:
        artifact = {"uri": quote(loc.path.replace("\\", "/")), "uriBaseId": "%SRCROOT%"}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if loc.line is not None:
        region: dict[str, Any] = {"startLine": max(loc.line, 1)}
        if loc.column is not None:
            region["startColumn"] = max(loc.column, 1)
            if loc.end_column is not None and loc.end_column > loc.column:
                region["endColumn"] = loc.end_column
        physical["region"] = region
    return {"physicalLocation": physical}


def _pascal(name: str) -> str:
    """SARIF suggests PascalCase rule names ('AWS access key' → 'AwsAccessKey')."""
    words = "".join(c if c.isalnum() else " " for c in name).split()
    return "".join(w[:1].upper() + w[1:].lower() for w in words) or "Rule"


def _plain(value: Any) -> Any:
    """Property bag values as JSON: tuples to lists, other objects to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
