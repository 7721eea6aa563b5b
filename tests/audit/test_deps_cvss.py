"""CVSS v3.1 base scores: known vectors with the scores FIRST's calculator and the NVD give,
the Roundup rule, bad vectors, the qualitative scale, and a property test against Red Hat's
``cvss`` library (PyPI) as an independent implementation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.audit.deps.cvss import CvssError, base_score, rating, roundup
from lightkeeper.audit.findings import Severity

# Scores as published for these vectors (NVD pages of the CVEs named, FIRST's examples).
KNOWN = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  # e.g. CVE-2021-44228 class
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),  # the classic reflected XSS
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),  # a remote DoS
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),  # GHSA-r683's vector (v3.0)
    ("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 9.3),  # GHSA-67hx's vector
    # temporal metrics are accepted and do not change the base score
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C", 9.8),
]


@pytest.mark.parametrize(("vector", "score"), KNOWN)
def test_known_scores(vector: str, score: float) -> None:
    assert base_score(vector) == score


@pytest.mark.parametrize(
    ("value", "expected"),
    [(4.0, 4.0), (4.02, 4.1), (4.000000000000001, 4.0), (0.0, 0.0), (9.81, 9.9), (10.0, 10.0)],
)
def test_roundup(value: float, expected: float) -> None:
    # Appendix A: the floating-point noise in 4.000000000000001 must not round up to 4.1.
    assert roundup(value) == expected


@pytest.mark.parametrize(
    "vector",
    [
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # no prefix
        "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",  # A missing
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:Q/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC/PR:N/UI:N/S:U/C:H/I:H/A:H",
    ],
)
def test_bad_vectors(vector: str) -> None:
    with pytest.raises(CvssError):
        base_score(vector)


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0.0, Severity.INFO),
        (0.1, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
    ],
)
def test_rating_scale(score: float, severity: Severity) -> None:
    assert rating(score) is severity


_metric = {
    "AV": "NALP",
    "AC": "LH",
    "PR": "NLH",
    "UI": "NR",
    "S": "UC",
    "C": "NLH",
    "I": "NLH",
    "A": "NLH",
}
_vectors = st.tuples(*(st.sampled_from(v) for v in _metric.values())).map(
    lambda values: "CVSS:3.1/" + "/".join(f"{k}:{v}" for k, v in zip(_metric, values, strict=True))
)


@settings(max_examples=300, deadline=None)
@given(_vectors)
def test_agrees_with_the_cvss_library(vector: str) -> None:
    cvss = pytest.importorskip("cvss")
    theirs = float(cvss.CVSS3(vector).base_score)
    assert base_score(vector) == theirs
