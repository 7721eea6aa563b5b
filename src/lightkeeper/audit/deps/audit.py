"""Running the dependency audit: read the lock files, fetch candidate advisories (offline
export or OSV API), decide which affect each pinned version, fold in npm audit output, and
build the :class:`~lightkeeper.audit.findings.Report`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightkeeper.audit.deps.advisories import Advisory, Affected, rate
from lightkeeper.audit.deps.lockfiles import (
    LockfileError,
    Package,
    Unchecked,
    discover,
    parse,
    parser_for,
    supported,
)
from lightkeeper.audit.deps.lockfiles.model import shown
from lightkeeper.audit.deps.matching import PackageRanges
from lightkeeper.audit.deps.npm_audit import NpmAdvisory, NpmAuditError, load_npm_audit
from lightkeeper.audit.deps.osv import (
    EXPORT_URL,
    ApiUnavailable,
    DatabaseError,
    OfflineDatabase,
    OsvApi,
    Query,
)
from lightkeeper.audit.deps.report import (
    Match,
    finding_for,
    finding_for_npm,
    relative,
    rule_for,
    rule_for_npm,
)
from lightkeeper.audit.deps.versions import InvalidVersion, installed_parser, normalize_name
from lightkeeper.audit.findings import Finding, Report, Rule
from lightkeeper.errors import LightkeeperError


class DepsError(LightkeeperError):
    """The audit could not run; ``exit_code`` is what `audit deps` exits with."""

    exit_code = 3


class DepsInputError(DepsError):
    """A path, lock file, export or npm audit file that cannot be used (exit 3)."""

    exit_code = 3


class DepsUnavailable(DepsError):
    """No advisory source: the OSV API is out of reach and no ``--osv-db`` was given (exit 2)."""

    exit_code = 2


@dataclass(slots=True)
class DepsOptions:
    """``osv_db``: offline exports (when given, the API is not used); ``api_url``: the OSV
    API's base URL (None: https://api.osv.dev); ``npm_audit_json``: ``npm audit --json``
    output to fold in; ``timeout``: seconds per API request."""

    osv_db: list[Path] = field(default_factory=list)
    api_url: str | None = None
    npm_audit_json: Path | None = None
    timeout: float = 10.0


def _read_lockfiles(path: Path) -> tuple[list[Path], list[Package], list[Unchecked]]:
    if not path.exists():
        raise DepsInputError(f"{path}: no such file or folder")
    if path.is_file() and parser_for(path) is None:
        raise DepsInputError(f"{path}: not a supported lock file (supported: {supported()})")
    files: list[Path] = []
    occurrences: dict[tuple[str, str, str, Path, str], Package] = {}
    unchecked: list[Unchecked] = []
    for lockfile in discover(path):
        try:
            parsed = parse(lockfile)
        except LockfileError as exc:
            raise DepsInputError(str(exc)) from None
        files.extend(f for f in parsed.files or [lockfile] if f not in files)
        unchecked.extend(parsed.unchecked)
        for pkg in parsed.packages:
            try:
                installed_parser(pkg.ecosystem)(pkg.version)
            except InvalidVersion as exc:
                unchecked.append(Unchecked(pkg.file, pkg.line, pkg.name, pkg.version, str(exc)))
                continue
            key = (
                pkg.ecosystem,
                normalize_name(pkg.ecosystem, pkg.name),
                pkg.version,
                pkg.file,
                pkg.location,
            )
            old = occurrences.get(key)
            if old is None:
                occurrences[key] = pkg
            elif (pkg.direct and not old.direct) or (old.dev and not pkg.dev):
                occurrences[key] = Package(
                    old.ecosystem,
                    old.name,
                    old.version,
                    old.file,
                    old.line,
                    old.direct or pkg.direct,
                    old.dev and pkg.dev,
                    old.location,
                )
    return files, list(occurrences.values()), list(dict.fromkeys(unchecked))


def _candidates(
    packages: list[Package], options: DepsOptions
) -> tuple[dict[int, list[Advisory]], dict[str, Any], set[tuple[int, str]]]:
    """Advisories to evaluate per package index; stats; (index, id) pairs the API vouched for."""
    stats: dict[str, Any] = {}
    vouched: set[tuple[int, str]] = set()
    out: dict[int, list[Advisory]] = {}
    if options.osv_db:
        wanted = {(p.ecosystem, normalize_name(p.ecosystem, p.name)) for p in packages}
        try:
            db = OfflineDatabase.load(options.osv_db, wanted)
        except DatabaseError as exc:
            raise DepsInputError(str(exc)) from None
        for index, pkg in enumerate(packages):
            out[index] = db.lookup(pkg.ecosystem, pkg.name)
        stats.update(
            source="offline",
            advisories_loaded=db.loaded,
            withdrawn_ignored=db.withdrawn,
            records_skipped=db.skipped,
        )
        return out, stats, vouched
    api = OsvApi(options.api_url, timeout=options.timeout)
    # PyPI names go out normalised (PEP 503), as OSV records them; npm names are exact.
    queries = {Query(p.ecosystem, normalize_name(p.ecosystem, p.name), p.version) for p in packages}
    try:
        ids = api.affected_ids(sorted(queries, key=lambda q: (q.ecosystem, q.name, q.version)))
        records = {a.id: a for a in api.records({i for found in ids.values() for i in found})}
    except ApiUnavailable as exc:
        raise DepsUnavailable(
            f"{exc}\n  hint: run offline with --osv-db PATH: an OSV export ({EXPORT_URL}, "
            "e.g. npm or PyPI) or a folder of OSV JSON records"
        ) from None
    withdrawn = {a.id for a in records.values() if a.withdrawn}
    for index, pkg in enumerate(packages):
        query = Query(pkg.ecosystem, normalize_name(pkg.ecosystem, pkg.name), pkg.version)
        found = ids.get(query, [])
        out[index] = [records[i] for i in found if i in records and i not in withdrawn]
        vouched.update((index, i) for i in found)
    stats.update(
        source="api",
        api_url=api.base_url,
        advisories_loaded=len(records) - len(withdrawn),
        withdrawn_ignored=len(withdrawn),
    )
    return out, stats, vouched


def _entries(advisories: Iterable[Advisory], pkg: Package) -> list[Affected]:
    return [e for a in advisories for e in a.entries_for(pkg.ecosystem, pkg.name)]


def _match(
    packages: list[Package],
    candidates: dict[int, list[Advisory]],
    vouched: set[tuple[int, str]],
) -> tuple[list[Match], list[str]]:
    matches: list[Match] = []
    problems: list[str] = []
    for index, pkg in enumerate(packages):
        hits: list[tuple[Advisory, str | None]] = []
        for advisory in candidates.get(index, []):
            entries = advisory.entries_for(pkg.ecosystem, pkg.name)
            ranges = PackageRanges(pkg.ecosystem, entries)
            problems.extend(f"{advisory.id}: {p}" for p in ranges.problems)
            verdict = ranges.verdict(pkg.version)
            if verdict.affected or (index, advisory.id) in vouched:
                hits.append((advisory, verdict.fixed))
        if not hits:
            continue
        together = PackageRanges(pkg.ecosystem, _entries((a for a, _ in hits), pkg))
        upgrade = together.verdict(pkg.version).fixed
        for advisory, fixed in hits:
            rated = rate(advisory, advisory.entries_for(pkg.ecosystem, pkg.name))
            matches.append(Match(pkg, advisory, rated, fixed, upgrade if fixed else None))
    return matches, sorted(set(problems))


def _fold_npm_audit(
    path: Path, packages: list[Package], matches: list[Match], root: Path
) -> tuple[list[Finding], dict[str, Rule], int]:
    try:
        advisories = load_npm_audit(path)
    except NpmAuditError as exc:
        raise DepsInputError(str(exc)) from None
    by_location = {p.location: p for p in packages if p.ecosystem == "npm" and p.location}
    by_name: dict[str, list[Package]] = {}
    for p in packages:
        if p.ecosystem == "npm":
            by_name.setdefault(p.name, []).append(p)
    # The same advisory may carry another id on each side (a GHSA here, its CVE there):
    # an OSV match is found under its id and under every alias.
    known: dict[tuple[str, str, str], Match] = {}
    for m in matches:
        for ident in (m.advisory.id, *m.advisory.aliases):
            known.setdefault((m.package.name, m.package.version, ident), m)
    findings: list[Finding] = []
    rules: dict[str, Rule] = {}
    emitted: set[tuple[str, str, str]] = set()

    def occurrences(adv: NpmAdvisory) -> list[Package | None]:
        found = [by_location[n] for n in adv.nodes if n in by_location]
        if not found and adv.versions:
            found = [p for p in by_name.get(adv.package, []) if p.version in adv.versions]
        return list(found) or [None]

    for adv in advisories:
        for pkg in occurrences(adv):
            key = (adv.package, pkg.version if pkg else "", adv.advisory_id)
            match = next(
                (
                    known[(key[0], key[1], ident)]
                    for ident in (adv.advisory_id, *adv.aliases)
                    if (key[0], key[1], ident) in known
                ),
                None,
            )
            if match is not None:
                if "npm-audit" not in match.sources:
                    match.sources.append("npm-audit")
                continue
            if key in emitted:
                continue
            emitted.add(key)
            findings.append(finding_for_npm(adv, pkg, root))
            rules.setdefault(adv.advisory_id, rule_for_npm(adv))
    return findings, rules, len(advisories)


def audit_deps(path: Path, options: DepsOptions) -> Report:
    """Audit the lock files at ``path`` (a lock file, or a folder searched recursively)."""
    root = path if path.is_dir() else path.parent
    files, packages, unchecked = _read_lockfiles(path)
    candidates, source_stats, vouched = _candidates(packages, options)
    matches, problems = _match(packages, candidates, vouched)
    npm_findings: list[Finding] = []
    rules: dict[str, Rule] = {}
    npm_count = 0
    if options.npm_audit_json is not None:
        npm_findings, rules, npm_count = _fold_npm_audit(
            options.npm_audit_json, packages, matches, root
        )
    findings = [finding_for(m, root) for m in matches] + npm_findings
    for m in matches:
        rules.setdefault(m.advisory.id, rule_for(m.advisory, rate(m.advisory)))
    findings.sort(key=_order)
    unpinned = [u for u in unchecked if u.reason.startswith("not pinned")]
    stats: dict[str, Any] = {
        "lockfiles": [relative(f, root) for f in files],
        "packages": len(packages),
        "direct": sum(p.direct for p in packages),
        "unpinned": len(unpinned),
        "not_checked": [_shown(u, root) for u in unchecked],
        **source_stats,
    }
    if problems:
        stats["range_problems"] = problems
    if options.npm_audit_json is not None:
        stats["npm_audit_advisories"] = npm_count
    return Report(
        kind="dependency",
        findings=findings,
        rules=rules,
        stats=stats,
        summary={"source": source_stats.get("source")},
    )


def _order(finding: Finding) -> tuple[int, str, int, str]:
    """Most severe first, then by file and line."""
    where = finding.location
    return (
        -int(finding.severity),
        where.path if where else "",
        (where.line or 0) if where else 0,
        finding.rule,
    )


def _shown(item: Unchecked, root: Path) -> str:
    where = relative(item.file, root) + (f":{item.line}" if item.line else "")
    spec = f" {item.spec}" if item.spec else ""
    return shown(f"{where}: {item.name}{spec} ({item.reason})")
