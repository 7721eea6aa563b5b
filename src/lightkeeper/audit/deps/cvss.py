"""CVSS v3 base scores, for advisories that carry a vector but no severity word of their own.

The formula and weights are FIRST's CVSS v3.1 specification (§7.1 base metrics equations,
§7.4 metric values, Appendix A ``Roundup``), https://www.first.org/cvss/v3.1/specification-document:

- ISS = 1 − (1 − C) × (1 − I) × (1 − A)
- Impact = 6.42 × ISS (scope unchanged), or 7.52 × (ISS − 0.029) − 3.25 × (ISS − 0.02)^15
  (scope changed)
- Exploitability = 8.22 × AV × AC × PR × UI
- Base = 0 when Impact ≤ 0; else Roundup(min(Impact + Exploitability, 10)) (unchanged) or
  Roundup(min(1.08 × (Impact + Exploitability), 10)) (changed)

v3.0 vectors use the same weights and are scored by the same equations (v3.1 changed only
``Roundup``, to avoid floating-point artefacts), as the NVD does today. v4.0 vectors need
FIRST's macro-vector lookup tables and are not scored here; the caller says so.
"""

from __future__ import annotations

import math

from lightkeeper.audit.findings import Severity

_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
# Privileges Required weighs more when the scope changes (§7.4).
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_BASE = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


class CvssError(ValueError):
    """A vector that is not a complete CVSS v3 base vector."""


def roundup(value: float) -> float:
    """The smallest number with one decimal that is ≥ ``value`` (CVSS v3.1 Appendix A): work
    in integers of 1/100000 so that 4.000000000000001 rounds to 4.0, not 4.1."""
    scaled = round(value * 100_000)
    if scaled % 10_000 == 0:
        return scaled / 100_000.0
    return (math.floor(scaled / 10_000) + 1) / 10.0


def parse_vector(vector: str) -> dict[str, str]:
    """``CVSS:3.1/AV:N/…`` → ``{"AV": "N", …}``; temporal and environmental metrics are
    accepted and ignored."""
    parts = vector.strip().split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        raise CvssError(f"{vector!r} does not start with CVSS:3.0/ or CVSS:3.1/")
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, value = part.partition(":")
        if not sep or not value:
            raise CvssError(f"{vector!r}: {part!r} is not METRIC:VALUE")
        if name in metrics:
            raise CvssError(f"{vector!r}: metric {name} appears twice")
        metrics[name] = value
    missing = [m for m in _BASE if m not in metrics]
    if missing:
        raise CvssError(f"{vector!r}: base metric(s) {', '.join(missing)} missing")
    scope = metrics["S"]
    if scope not in _PR:
        raise CvssError(f"{vector!r}: S must be U or C, not {scope!r}")
    for name in ("AV", "AC", "UI", "C", "I", "A"):
        if metrics[name] not in _WEIGHTS[name]:
            raise CvssError(f"{vector!r}: {name}:{metrics[name]} is not a CVSS v3 value")
    if metrics["PR"] not in _PR[scope]:
        raise CvssError(f"{vector!r}: PR:{metrics['PR']} is not a CVSS v3 value")
    return metrics


def base_score(vector: str) -> float:
    """The CVSS v3.1 base score of ``vector`` (0.0–10.0)."""
    m = parse_vector(vector)
    changed = m["S"] == "C"
    iss = 1 - (1 - _WEIGHTS["C"][m["C"]]) * (1 - _WEIGHTS["I"][m["I"]]) * (
        1 - _WEIGHTS["A"][m["A"]]
    )
    # Impact per §7.1; the scope-changed curve dips for small ISS, hence the subtraction.
    impact = (7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15) if changed else 6.42 * iss
    exploitability = (
        8.22
        * _WEIGHTS["AV"][m["AV"]]
        * _WEIGHTS["AC"][m["AC"]]
        * _PR[m["S"]][m["PR"]]
        * _WEIGHTS["UI"][m["UI"]]
    )
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return roundup(min(total, 10.0))


def rating(score: float) -> Severity:
    """CVSS v3.1 §5 qualitative scale: 0.0 none, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high,
    9.0–10.0 critical (``none`` is our INFO)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score >= 0.1:
        return Severity.LOW
    return Severity.INFO
