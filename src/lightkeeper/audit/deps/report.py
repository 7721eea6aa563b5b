"""Turning matches (a pinned package, an advisory that affects it) into findings and rules.

One finding per package occurrence and advisory. Its fingerprint is
``sha256("<ecosystem>:<name>:<version>:<advisory id>")`` — the same vulnerable release gets
the same fingerprint in every run and every lock file. The fix names the lowest version that
leaves *every* advisory known for that release behind (lodash 4.17.15 is affected by
GHSA-p6mc, fixed in 4.17.20, and GHSA-35jh, fixed in 4.17.21: upgrade to 4.17.21), and says
when that crosses a major version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from lightkeeper.audit.deps.advisories import Advisory, Rated
from lightkeeper.audit.deps.lockfiles import Package
from lightkeeper.audit.deps.npm_audit import NpmAdvisory
from lightkeeper.audit.deps.versions import ECOSYSTEMS, is_breaking
from lightkeeper.audit.findings import Finding, Location, Rule

DETAILS_LIMIT = 1000


@dataclass(slots=True)
class Match:
    package: Package
    advisory: Advisory
    rated: Rated
    fixed: str | None  # this advisory's fix for this version
    upgrade: str | None  # the version that fixes every advisory of this release
    sources: list[str] = field(default_factory=lambda: ["osv"])


def fingerprint(ecosystem: str, name: str, version: str, advisory_id: str) -> str:
    return hashlib.sha256(f"{ecosystem}:{name}:{version}:{advisory_id}".encode()).hexdigest()


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _how(package: Package) -> str:
    return ("direct" if package.direct else "transitive") + (", dev" if package.dev else "")


def _fix_advice(package: Package, target: str | None) -> str:
    if target is None:
        return (
            f"no fixed version of {package.name} is recorded: remove or replace it, "
            "or accept the risk"
        )
    advice = f"upgrade {package.name} to {target}"
    if is_breaking(package.ecosystem, package.version, target):
        advice += f" (a major version change from {package.version}: check its changelog)"
    return advice


def finding_for(match: Match, root: Path) -> Finding:
    pkg, adv = match.package, match.advisory
    ids = ", ".join([adv.id, *adv.aliases])
    title = adv.summary or adv.id
    tail = f"fixed in {match.fixed}" if match.fixed else "no fix available"
    return Finding(
        kind="dependency",
        rule=adv.id,
        severity=match.rated.severity,
        message=f"{pkg.name} {pkg.version} ({_how(pkg)}): {title} ({ids}); {tail}",
        fingerprint=fingerprint(pkg.ecosystem, pkg.name, pkg.version, adv.id),
        location=Location(relative(pkg.file, root), pkg.line),
        fix=_fix_advice(pkg, match.upgrade or match.fixed),
        properties={
            "ecosystem": pkg.ecosystem,
            "package": pkg.name,
            "version": pkg.version,
            "direct": pkg.direct,
            "dev": pkg.dev,
            "advisory": adv.id,
            "aliases": list(adv.aliases),
            "fixed": match.fixed,
            "upgrade_to": match.upgrade or match.fixed,
            "url": adv.url,
            "severity_basis": match.rated.basis,
            "sources": list(match.sources),
        },
    )


def finding_for_npm(advisory: NpmAdvisory, package: Package | None, root: Path) -> Finding:
    """A finding npm audit reported and OSV did not (its installed version from the lock file
    when the install location is known)."""
    name = package.name if package else advisory.package
    version = package.version if package else ""
    if package:
        who = f"{name} {version} ({_how(package)})"
    else:
        direct = {True: " (direct)", False: " (transitive)", None: ""}[advisory.is_direct]
        who = f"{name} {advisory.vulnerable_range}{direct}"
    title = advisory.title or advisory.advisory_id
    ids = ", ".join([advisory.advisory_id, *advisory.aliases])
    vulnerable = advisory.vulnerable_range or "(range unknown)"
    return Finding(
        kind="dependency",
        rule=advisory.advisory_id,
        severity=advisory.severity,
        message=f"{who}: {title} ({ids}); vulnerable {vulnerable}",
        fingerprint=fingerprint("npm", name, version, advisory.advisory_id),
        location=Location(relative(package.file, root), package.line) if package else None,
        fix=advisory.fix,
        properties={
            "ecosystem": "npm",
            "package": name,
            "version": version or None,
            "direct": package.direct if package else advisory.is_direct,
            "dev": package.dev if package else None,
            "advisory": advisory.advisory_id,
            "aliases": list(advisory.aliases),
            "fixed": None,
            "url": advisory.url,
            "severity_basis": "npm audit severity",
            "sources": ["npm-audit"],
        },
    )


def _fixed_versions(advisory: Advisory) -> list[str]:
    out: list[str] = []
    for entry in advisory.affected:
        if entry.ecosystem not in ECOSYSTEMS:
            continue
        fixes = [v for r in entry.ranges for kind, v in r.events if kind == "fixed"]
        if fixes:
            out.append(f"{entry.name} {', '.join(dict.fromkeys(fixes))}")
    return out


def _trim(text: str) -> str:
    if len(text) <= DETAILS_LIMIT:
        return text
    cut = text.rfind(" ", 0, DETAILS_LIMIT)
    return text[: cut if cut > 0 else DETAILS_LIMIT].rstrip() + " …"


def rule_for(advisory: Advisory, rated: Rated) -> Rule:
    fixed = _fixed_versions(advisory)
    help_text = (
        "Upgrade to a fixed version: " + "; ".join(fixed) + "."
        if fixed
        else "No fixed version is recorded: remove or replace the package, or accept the risk."
    )
    db = advisory.raw.get("database_specific")
    cwes = db.get("cwe_ids") if isinstance(db, dict) else None
    tags = ["security", "dependency"]
    tags += sorted({a.ecosystem for a in advisory.affected if a.ecosystem in ECOSYSTEMS})
    if isinstance(cwes, list):
        tags += [f"external/cwe/{c.lower()}" for c in cwes if isinstance(c, str)]
    return Rule(
        id=advisory.id,
        name=advisory.summary or advisory.id,
        description=_trim(advisory.details or advisory.summary or advisory.id),
        help=help_text,
        help_uri=advisory.url,
        severity=rated.severity,
        tags=tuple(tags),
    )


def rule_for_npm(advisory: NpmAdvisory) -> Rule:
    return Rule(
        id=advisory.advisory_id,
        name=advisory.title or advisory.advisory_id,
        description=f"{advisory.package} {advisory.vulnerable_range}: {advisory.title}".strip(),
        help=advisory.fix,
        help_uri=advisory.url or None,
        severity=advisory.severity,
        tags=("security", "dependency", "npm"),
    )
