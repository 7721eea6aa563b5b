"""OSV records as the dependency audit reads them, and the severity it gives each one.

The fields are OSV schema 1.x (https://ossf.github.io/osv-schema/): ``id``, ``summary``,
``details``, ``aliases``, ``withdrawn``, ``severity[]`` ({type, score}), ``affected[]`` with
``package.{ecosystem,name}``, ``ranges[]`` ({type, events[]}) and ``versions[]``, and
``database_specific``. Unknown fields are ignored, as the schema's compatibility rule asks
(a 1.2 reader may read 1.4 records by ignoring what it does not know).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lightkeeper.audit.deps.cvss import CvssError, base_score, rating
from lightkeeper.audit.deps.versions import ECOSYSTEMS, Ecosystem, normalize_name
from lightkeeper.audit.findings import Severity

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


class AdvisoryError(ValueError):
    """A record that is not OSV (no id, affected not a list, …)."""


@dataclass(frozen=True, slots=True)
class Range:
    type: str  # SEMVER | ECOSYSTEM | GIT
    events: tuple[tuple[str, str], ...]  # (kind, version), in file order


@dataclass(frozen=True, slots=True)
class Affected:
    ecosystem: str
    name: str
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    severity: tuple[tuple[str, str], ...]  # (type, score) given for this package only


@dataclass(frozen=True, slots=True)
class Advisory:
    id: str
    summary: str
    details: str
    aliases: tuple[str, ...]
    withdrawn: str | None
    affected: tuple[Affected, ...]
    severity: tuple[tuple[str, str], ...]
    database_severity: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, hash=False, default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://osv.dev/vulnerability/{self.id}"

    def entries_for(self, ecosystem: Ecosystem, name: str) -> list[Affected]:
        """The ``affected`` entries naming this package (PyPI names compared per PEP 503)."""
        key = normalize_name(ecosystem, name)
        return [
            a
            for a in self.affected
            if a.ecosystem == ecosystem and normalize_name(ecosystem, a.name) == key
        ]

    def packages(self) -> set[tuple[Ecosystem, str]]:
        """(ecosystem, normalised name) of every package this record covers that we audit."""
        out: set[tuple[Ecosystem, str]] = set()
        for a in self.affected:
            for eco in ECOSYSTEMS:
                if a.ecosystem == eco:
                    out.add((eco, normalize_name(eco, a.name)))
        return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _severity_list(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            out.append((item["type"], _text(item.get("score"))))
    return tuple(out)


def _range(data: Any) -> Range | None:
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return None
    events: list[tuple[str, str]] = []
    for event in data["events"]:
        if not isinstance(event, dict):
            continue
        for kind in EVENT_KINDS:
            value = event.get(kind)
            if isinstance(value, str) and value:
                events.append((kind, value))
                break
    return Range(type=_text(data.get("type")).upper(), events=tuple(events))


def parse_advisory(data: Any) -> Advisory:
    """An OSV record (already decoded JSON) → :class:`Advisory`; :class:`AdvisoryError` when
    it is not one."""
    if not isinstance(data, dict):
        raise AdvisoryError("an OSV record is a JSON object")
    vuln_id = data.get("id")
    if not isinstance(vuln_id, str) or not vuln_id:
        raise AdvisoryError("the record has no 'id'")
    affected_raw = data.get("affected", [])
    if not isinstance(affected_raw, list):
        raise AdvisoryError(f"{vuln_id}: 'affected' is not a list")
    affected = []
    for entry in affected_raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("package"), dict):
            continue
        package = entry["package"]
        ranges = tuple(r for r in map(_range, entry.get("ranges") or []) if r is not None)
        versions = entry.get("versions") or []
        affected.append(
            Affected(
                ecosystem=_text(package.get("ecosystem")),
                name=_text(package.get("name")),
                ranges=ranges,
                versions=tuple(v for v in versions if isinstance(v, str)),
                severity=_severity_list(entry.get("severity")),
            )
        )
    db = data.get("database_specific")
    db_severity = db.get("severity") if isinstance(db, dict) else None
    aliases = data.get("aliases") or []
    return Advisory(
        id=vuln_id,
        summary=_text(data.get("summary")).strip(),
        details=_text(data.get("details")).strip(),
        aliases=tuple(a for a in aliases if isinstance(a, str)),
        withdrawn=data.get("withdrawn") if isinstance(data.get("withdrawn"), str) else None,
        affected=tuple(affected),
        severity=_severity_list(data.get("severity")),
        database_severity=db_severity if isinstance(db_severity, str) else None,
        raw=data,
    )


@dataclass(frozen=True, slots=True)
class Rated:
    severity: Severity
    basis: str  # how it was decided, for the report
    score: float | None = None


def rate(advisory: Advisory, entries: list[Affected] | None = None) -> Rated:
    """The severity of ``advisory`` (for the package of ``entries``, when it gives one per
    package). In order: the database's own word (GitHub's ``database_specific.severity``:
    LOW, MODERATE, HIGH, CRITICAL); else the highest CVSS v3 base score among the vectors,
    per the v3.1 qualitative scale; else medium, with the reason (a v4-only vector we do not
    score, or no severity at all — an empty ``severity: []`` counts as none)."""
    if advisory.database_severity:
        try:
            level = Severity.parse(advisory.database_severity)
            return Rated(level, f"database severity {advisory.database_severity.upper()}")
        except ValueError:
            pass
    vectors = [s for e in entries or [] for s in e.severity] + list(advisory.severity)
    scores: list[float] = []
    unscored: list[str] = []
    for kind, score in vectors:
        if kind == "CVSS_V3":
            try:
                scores.append(base_score(score))
            except CvssError:
                unscored.append(f"invalid CVSS v3 vector {score!r}")
        else:
            unscored.append(f"{kind} vector")
    if scores:
        best = max(scores)
        return Rated(rating(best), f"CVSS v3 base score {best:.1f}", best)
    if unscored:
        why = ", ".join(sorted(set(unscored)))
        return Rated(Severity.MEDIUM, f"unknown ({why} not scored); reported as medium")
    return Rated(Severity.MEDIUM, "unknown (advisory gives no severity); reported as medium")
