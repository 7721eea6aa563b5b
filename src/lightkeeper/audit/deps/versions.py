"""Version ordering for the two ecosystems the dependency audit reads: npm and PyPI.

npm versions follow SemVer 2.0.0 (https://semver.org): precedence is major, minor, patch
compared numerically, then a pre-release sorts *below* its release, and pre-release
identifiers are compared one by one — numeric ones numerically, alphanumeric ones in ASCII
order, numeric below alphanumeric, and a shorter list below a longer one it prefixes
(§11: ``1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta < 1.0.0-beta.2 <
1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0``). Build metadata (``+…``) never counts (§10).

PyPI versions follow PEP 440 through :class:`packaging.version.Version` (epochs, pre-, post-
and dev-releases, local versions, and normalisation such as ``1.0 == 1.0.0``).

Lock files hold exact versions and are parsed strictly (a leading ``v`` or ``=`` is allowed,
as node-semver's loose mode does). OSV range events are parsed loosely: GitHub's advisories
hold bounds such as ``introduced: "1.0"`` (GHSA-r683-j2x4-v87g), which are read as ``1.0.0``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from packaging.version import InvalidVersion as _PepInvalid
from packaging.version import Version as PepVersion

Ecosystem = Literal["npm", "PyPI"]
ECOSYSTEMS: tuple[Ecosystem, ...] = ("npm", "PyPI")


class InvalidVersion(ValueError):
    """A version string the ecosystem's rules do not accept."""


class Comparable(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...
    def __gt__(self, other: Any, /) -> bool: ...
    def __ge__(self, other: Any, /) -> bool: ...


# SemVer 2.0.0's grammar (semver.org, "Is there a suggested regular expression"), written
# out here; numeric identifiers may not have leading zeros.
_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_STRICT = re.compile(
    rf"^(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_ID}(?:\.{_PRE_ID})*))?"
    rf"(?:\+(?P<build>{_BUILD_ID}(?:\.{_BUILD_ID})*))?$"
)
# Loose: minor and patch may be missing ("1.0", "2"), leading zeros are tolerated.
_LOOSE = re.compile(
    r"^(?P<major>\d+)(?:\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?)?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class SemVer:
    """A SemVer 2.0.0 version; ``==`` and ``<`` follow precedence, so build metadata is
    ignored (``1.0.0+a == 1.0.0+b``)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str, *, loose: bool = False) -> SemVer:
        raw = text.strip()
        body = raw.lstrip("=v").strip() if raw[:1] in ("v", "=") else raw
        match = (_LOOSE if loose else _STRICT).match(body)
        if match is None:
            rule = "X[.Y[.Z]][-pre][+build]" if loose else "MAJOR.MINOR.PATCH[-pre][+build]"
            raise InvalidVersion(f"{text!r} is not a SemVer version ({rule})")
        pre = match.group("pre")
        return cls(
            int(match.group("major")),
            int(match.group("minor") or 0),
            int(match.group("patch") or 0),
            tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre else (),
            match.group("build") or "",
        )

    def _key(self) -> tuple[Any, ...]:
        # A release sorts after every pre-release of the same triple (§11.3); identifiers:
        # numeric (0, n) < alphanumeric (1, s); tuples compare element-wise, and a shorter
        # prefix sorts first, which is exactly §11.4.4.
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        ids = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0, ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        return text + (f"+{self.build}" if self.build else "")


def parse_pep440(text: str) -> PepVersion:
    try:
        return PepVersion(text.strip())
    except _PepInvalid:
        raise InvalidVersion(f"{text!r} is not a PEP 440 version") from None


def installed_parser(ecosystem: Ecosystem) -> Callable[[str], Comparable]:
    """How a version taken from a lock file is parsed (strictly)."""
    if ecosystem == "npm":
        return SemVer.parse
    return parse_pep440


def bound_parser(ecosystem: Ecosystem, range_type: str) -> Callable[[str], Comparable]:
    """How an OSV event bound is parsed: SEMVER ranges by SemVer (loosely), ECOSYSTEM ranges
    by the ecosystem's own rules (npm's are SemVer too)."""
    if range_type == "SEMVER" or ecosystem == "npm":
        return functools.partial(SemVer.parse, loose=True)
    return parse_pep440


def is_breaking(ecosystem: Ecosystem, installed: str, target: str) -> bool:
    """Whether upgrading ``installed`` to ``target`` leaves the range a project normally
    allows. npm: outside ``^installed`` (node-semver's caret: ``^1.2.3`` is ``<2.0.0``,
    ``^0.2.3`` is ``<0.3.0``, ``^0.0.3`` is ``<0.0.4``). PyPI: another epoch or major
    (first release segment), the reading of PEP 440's ``~=`` at the major level."""
    try:
        if ecosystem == "npm":
            old, new = SemVer.parse(installed, loose=True), SemVer.parse(target, loose=True)
            if old.major > 0:
                return new.major != old.major
            if old.minor > 0:
                return (new.major, new.minor) != (0, old.minor)
            return (new.major, new.minor, new.patch) != (0, 0, old.patch)
        a, b = parse_pep440(installed), parse_pep440(target)
        return (a.epoch, a.release[0]) != (b.epoch, b.release[0])
    except InvalidVersion:
        return False


def normalize_name(ecosystem: Ecosystem, name: str) -> str:
    """PyPI names per PEP 503 (runs of ``-``, ``_``, ``.`` become ``-``, lower case); npm
    names are exact (they are lower case by the registry's rules, scopes included)."""
    if ecosystem == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name
