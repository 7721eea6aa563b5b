"""Reading ``npm audit --json`` output produced elsewhere (npm's audit endpoint is out of
reach here), so its advisories join the OSV ones.

npm 7+ (``auditReportVersion: 2``; npm/cli's audit snapshots): ``vulnerabilities`` maps a
package name to ``{name, severity, isDirect, via, effects, range, nodes, fixAvailable}``.
``via`` mixes advisories (objects with ``source``, ``title``, ``url`` — a
``github.com/advisories/GHSA-…`` address —, ``severity``, ``cvss``, ``range``) and names of
other vulnerable packages this one is affected *through* (strings, skipped: that package has
its own entry). ``nodes`` are install locations (``node_modules/a/node_modules/b``), which the
caller maps to versions through the lock file; ``fixAvailable`` is ``true``, ``false`` or
``{name, version, isSemVerMajor}``.

npm 6: ``advisories`` maps an id to ``{module_name, severity, title, url,
github_advisory_id?, cves, vulnerable_versions, patched_versions, findings: [{version,
paths}]}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightkeeper.audit.findings import Severity

_GHSA = re.compile(r"GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}")


class NpmAuditError(ValueError):
    """The file is not ``npm audit --json`` output."""


@dataclass(frozen=True, slots=True)
class NpmAdvisory:
    """One advisory about one package, as npm audit reported it."""

    package: str
    advisory_id: str  # GHSA-… when npm gives one, else NPM-<source>
    title: str
    url: str
    severity: Severity
    vulnerable_range: str
    nodes: tuple[str, ...]  # install locations (npm 7+) or dependency paths (npm 6)
    versions: tuple[str, ...]  # installed versions, when the report gives them (npm 6)
    fix: str  # advice in words
    aliases: tuple[str, ...] = ()
    is_direct: bool | None = None


def _severity(value: Any) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError:
        return Severity.MEDIUM


def _advisory_id(url: str, fallback: Any, explicit: Any = None) -> str:
    if isinstance(explicit, str) and _GHSA.fullmatch(explicit):
        return explicit
    match = _GHSA.search(url)
    return match.group(0) if match else f"NPM-{fallback}"


def _fix_text(package: str, fix: Any) -> str:
    if fix is True:
        return "run `npm audit fix`"
    if isinstance(fix, dict) and isinstance(fix.get("name"), str):
        text = f"upgrade {fix['name']} to {fix.get('version', '?')}"
        if fix.get("isSemVerMajor"):
            text += " (a semver-major change: `npm audit fix --force`)"
        if fix["name"] != package:
            text += f", which brings a fixed {package}"
        return text
    return "no fix available"


def load_npm_audit(path: Path) -> list[NpmAdvisory]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NpmAuditError(f"--npm-audit-json {path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise NpmAuditError(
            f"{path}:{exc.lineno}: not JSON ({exc.msg}); give the output of `npm audit --json`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NpmAuditError(f"--npm-audit-json {path}: cannot be read ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("vulnerabilities"), dict):
        return _v2(data["vulnerabilities"])
    if isinstance(data, dict) and isinstance(data.get("advisories"), dict):
        return _v1(data["advisories"])
    raise NpmAuditError(
        f"{path}: neither 'vulnerabilities' (npm 7+) nor 'advisories' (npm 6) is there; "
        "give the output of `npm audit --json`"
    )


def _v2(vulnerabilities: dict[str, Any]) -> list[NpmAdvisory]:
    out = []
    for key, vuln in vulnerabilities.items():
        if not isinstance(vuln, dict):
            continue
        raw_name = vuln.get("name")
        package = raw_name if isinstance(raw_name, str) else str(key)
        nodes = tuple(n for n in vuln.get("nodes") or [] if isinstance(n, str))
        for via in vuln.get("via") or []:
            if not isinstance(via, dict):
                continue  # affected through another package, which has its own entry
            url = str(via.get("url") or "")
            out.append(
                NpmAdvisory(
                    package=str(via.get("name") or package),
                    advisory_id=_advisory_id(url, via.get("source")),
                    title=str(via.get("title") or "").strip(),
                    url=url,
                    severity=_severity(via.get("severity") or vuln.get("severity")),
                    vulnerable_range=str(via.get("range") or vuln.get("range") or ""),
                    nodes=nodes,
                    versions=(),
                    fix=_fix_text(package, vuln.get("fixAvailable")),
                    is_direct=vuln.get("isDirect")
                    if isinstance(vuln.get("isDirect"), bool)
                    else None,
                )
            )
    return out


def _v1(advisories: dict[str, Any]) -> list[NpmAdvisory]:
    out = []
    for key, adv in advisories.items():
        if not isinstance(adv, dict):
            continue
        package = str(adv.get("module_name") or "")
        findings = [f for f in adv.get("findings") or [] if isinstance(f, dict)]
        patched = str(adv.get("patched_versions") or "")
        fix = (
            f"upgrade {package} to a version matching {patched}"
            if patched and patched != "<0.0.0"
            else "no fix available"
        )
        url = str(adv.get("url") or "")
        out.append(
            NpmAdvisory(
                package=package,
                advisory_id=_advisory_id(url, adv.get("id", key), adv.get("github_advisory_id")),
                title=str(adv.get("title") or "").strip(),
                url=url,
                severity=_severity(adv.get("severity")),
                vulnerable_range=str(adv.get("vulnerable_versions") or ""),
                nodes=tuple(
                    p for f in findings for p in f.get("paths") or [] if isinstance(p, str)
                ),
                versions=tuple(str(f["version"]) for f in findings if f.get("version")),
                fix=fix,
                aliases=tuple(c for c in adv.get("cves") or [] if isinstance(c, str)),
            )
        )
    return out
