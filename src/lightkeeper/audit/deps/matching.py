"""Is this package version affected by this advisory, and which upgrade leaves it unaffected.

Membership follows the OSV schema's ``IsVulnerable`` pseudocode (section "Evaluation"):
a version is affected when it is listed in an ``affected[].versions`` list, or when, for
some range, it is before the range's limits (an implicit ``limit: "*"`` when none is given)
and walking the range's events in version order leaves it "vulnerable" — an ``introduced``
at or below it switches vulnerability on, a ``fixed`` at or below it or a ``last_affected``
below it switches it off. ``introduced: "0"`` sorts before every version. Several ranges and
several ``affected`` entries for the same package are OR-ed, so overlapping data such as
GHSA-r683-j2x4-v87g (``1.0 → 3.1.1`` beside ``0 → 2.6.7``) still gives one clear answer.
``GIT`` ranges need a repository and are skipped.

The fix advice walks forward: take the end of every interval that holds the version (the
next ``fixed``; a ``last_affected`` or an open end means no fix is known), jump to the highest
of them, and repeat while that version is still inside another interval. The result is the
lowest recorded fixed version that no range of the advisory covers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lightkeeper.audit.deps.advisories import Affected, Range
from lightkeeper.audit.deps.versions import (
    Comparable,
    Ecosystem,
    InvalidVersion,
    bound_parser,
    installed_parser,
)

_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str
    text: str
    version: Comparable | None  # None: introduced "0" (minus infinity) or limit "*"


@dataclass(frozen=True, slots=True)
class _Interval:
    """One compiled range: sorted events plus the parsers for this range's type."""

    events: tuple[_Event, ...]
    limits: tuple[_Event, ...]
    parse: Callable[[str], Comparable]


class RangeProblem(ValueError):
    """A range whose bounds cannot be read; it is skipped and reported, not guessed at."""


def _compile(ecosystem: Ecosystem, rng: Range) -> _Interval | None:
    if rng.type not in ("SEMVER", "ECOSYSTEM"):
        return None
    parse = bound_parser(ecosystem, rng.type)
    events = []
    for kind, text in rng.events:
        if (kind == "introduced" and text == "0") or (kind == "limit" and "*" in text):
            events.append(_Event(kind, text, None))
            continue
        try:
            events.append(_Event(kind, text, parse(text)))
        except InvalidVersion as exc:
            raise RangeProblem(f"{kind} bound {text!r}: {exc}") from None
    limits = tuple(e for e in events if e.kind == "limit")
    body = [e for e in events if e.kind != "limit"]
    body.sort(key=_sort_key)
    return _Interval(tuple(body), limits, parse)


def _sort_key(event: _Event) -> tuple[int, object, int]:
    # "0" first; then by version (wrapped so that mixed None/versions never compare).
    if event.version is None:
        return (0, 0, _ORDER[event.kind])
    return (1, _Cmp(event.version), _ORDER[event.kind])


class _Cmp:
    """Makes a Comparable usable inside a sort-key tuple."""

    __slots__ = ("v",)

    def __init__(self, v: Comparable) -> None:
        self.v = v

    def __lt__(self, other: _Cmp) -> bool:
        return bool(self.v < other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Cmp) and not (self.v < other.v) and not (other.v < self.v)

    __hash__ = None  # type: ignore[assignment]


def _at_least(v: Comparable, bound: _Event) -> bool:
    return bound.version is None or v >= bound.version


def _contains(interval: _Interval, v: Comparable) -> bool:
    if interval.limits and not any(e.version is None or v < e.version for e in interval.limits):
        return False
    vulnerable = False
    for event in interval.events:
        if event.kind == "introduced" and _at_least(v, event):
            vulnerable = True
        elif event.version is not None and (
            (event.kind == "fixed" and v >= event.version)
            or (event.kind == "last_affected" and v > event.version)
        ):
            vulnerable = False
    return vulnerable


def _interval_end(interval: _Interval, v: Comparable) -> _Event | None:
    """The event that closes the stretch holding ``v``: the first ``fixed`` above it or
    ``last_affected`` at/above it after the last ``introduced`` at/below it; None = open."""
    for event in interval.events:
        if event.version is None or event.kind == "introduced":
            continue
        if (event.kind == "fixed" and event.version > v) or (
            event.kind == "last_affected" and event.version >= v
        ):
            return event
    return None


@dataclass(frozen=True, slots=True)
class Verdict:
    affected: bool
    fixed: str | None  # the lowest recorded version out of every range; None: no fix known
    problems: tuple[str, ...] = ()  # ranges skipped (unreadable bounds)


class PackageRanges:
    """All ranges and version lists that one or more advisories give for one package."""

    def __init__(self, ecosystem: Ecosystem, entries: Iterable[Affected]) -> None:
        self.ecosystem = ecosystem
        self.intervals: list[_Interval] = []
        self.listed: set[str] = set()
        self.problems: list[str] = []
        for entry in entries:
            self.listed.update(entry.versions)
            for rng in entry.ranges:
                try:
                    compiled = _compile(ecosystem, rng)
                except RangeProblem as exc:
                    self.problems.append(f"{entry.name}: {exc}")
                    continue
                if compiled is not None:
                    self.intervals.append(compiled)

    def _in_list(self, text: str, parse: Callable[[str], Comparable]) -> bool:
        if text in self.listed:
            return True
        try:
            v = parse(text)
        except InvalidVersion:
            return False
        for listed in self.listed:
            try:
                if parse(listed) == v:
                    return True
            except InvalidVersion:
                continue
        return False

    def _holding(self, text: str) -> list[tuple[_Interval, Comparable]]:
        out = []
        for interval in self.intervals:
            try:
                v = interval.parse(text)
            except InvalidVersion:
                continue
            if _contains(interval, v):
                out.append((interval, v))
        return out

    def verdict(self, version: str) -> Verdict:
        """Raises :class:`InvalidVersion` when ``version`` is not a version of the ecosystem."""
        parse = installed_parser(self.ecosystem)
        parse(version)
        problems = tuple(self.problems)
        holding = self._holding(version)
        if not holding:
            if self.listed and self._in_list(version, parse):
                return Verdict(True, None, problems)
            return Verdict(False, None, problems)
        return Verdict(True, self._advice(version, holding), problems)

    def _advice(self, version: str, holding: list[tuple[_Interval, Comparable]]) -> str | None:
        current = version
        for _ in range(len(self.intervals) * 4 + 4):  # each step moves strictly upwards
            ends = [_interval_end(interval, v) for interval, v in holding]
            if any(end is None or end.kind != "fixed" for end in ends):
                return None
            order = bound_parser(self.ecosystem, "ECOSYSTEM")
            try:
                current = max((e.text for e in ends if e is not None), key=lambda t: _Cmp(order(t)))
            except InvalidVersion:
                return None
            holding = self._holding(current)
            if not holding:
                return current
        return None

    def is_affected(self, version: str) -> bool:
        return self.verdict(version).affected
