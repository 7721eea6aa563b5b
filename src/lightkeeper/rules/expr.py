"""Rule expressions: a small language over signals, parsed once at config load.

    monitor_down{monitor="site"} == 1
    p95(probe_latency_ms{monitor="api"}) over 5m > 3000
    avg(error_rate) over 5m > 0.05
    max(memory_used_ratio) over 1m > 0.9
    ratio(errors_total, requests_total) over 10m > 0.01
    sum(ai_cost_usd) over 1h > 2 * baseline(7d)

An expression picks series by name and label matchers (``=``, ``!=``, ``=~``, ``!~``) and
is evaluated per series, so one rule yields one alert per matching series, with that
series' labels — as in Prometheus. Without ``over`` the latest value is used, if it is
at most :data:`STALE_AFTER` old. ``baseline(D)`` is the same aggregation over the period
D just before the window, scaled to the window's length for sums, counts and rates: the
window's usual value.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lightkeeper.durations import parse_duration
from lightkeeper.rules.signals import Minute, Series, SignalStore
from lightkeeper.rules.sketch import Sketch

STALE_AFTER = 300.0

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
AGGREGATIONS = ("avg", "min", "max", "sum", "count", "rate", "last", "ratio")
ADDITIVE = {"sum", "count", "rate"}
_QUANTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<duration>\d+(?:\.\d+)?(?:ms|s|m|h|d|w)(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))*(?![A-Za-z_]))
      | (?P<number>-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![A-Za-z_\d.]))
      | (?P<name>[A-Za-z_][A-Za-z0-9_.:]*)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|>=|<=|=~|!~|[><={}(),*×])
    )""",
    re.VERBOSE,
)


class ExprError(ValueError):
    """The expression cannot be parsed; the message says where and what was expected."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.label, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        hit = re.fullmatch(self.value, got) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...] = ()

    def pick(self, store: SignalStore) -> list[Series]:
        candidates = store.select(self.name)
        for m in self.matchers:
            # An equality narrows through the store's label index (10,000 one-monitor rules
            # over 10,000 series would otherwise be 10^8 label checks a cycle). Not for "":
            # it also matches series without the label, which the index does not hold.
            if m.op == "=" and m.value and len(candidates) > 1:
                narrowed = store.with_label(self.name, m.label, m.value)
                if len(narrowed) < len(candidates):
                    candidates = narrowed
        return [s for s in candidates if all(m.matches(s.labels) for m in self.matchers)]


@dataclass(frozen=True)
class Evaluation:
    """One series' verdict: its labels, the observed value and the threshold it met or not."""

    labels: dict[str, str]
    value: float
    threshold: float
    true: bool


@dataclass(frozen=True)
class Expr:
    text: str
    aggregation: str  # one of AGGREGATIONS or pNN
    selectors: tuple[Selector, ...]
    window: float | None
    comparator: str
    threshold: float
    baseline: float | None = None  # the look-back period; threshold is then a factor

    @property
    def signal_names(self) -> set[str]:
        return {s.name for s in self.selectors}

    @property
    def lookback(self) -> float:
        """How far back the minutes must go to evaluate this expression."""
        return (self.window or STALE_AFTER) + (self.baseline or 0.0)

    def evaluate(self, store: SignalStore, now: float) -> list[Evaluation]:
        out = []
        first, *rest = self.selectors
        for series in first.pick(store):
            others = [_partner(store, sel, series.labels) for sel in rest]
            if any(o is None for o in others):
                continue
            group = [series, *[o for o in others if o is not None]]
            value = self._value(group, now - (self.window or 0.0), now)
            if value is None:
                continue
            threshold = self.threshold
            if self.baseline is not None:
                window = self.window or 60.0
                base = self._value(group, now - window - self.baseline, now - window)
                if base is None:
                    continue
                if self.aggregation in ADDITIVE or self.aggregation == "ratio":
                    base = base * (window / self.baseline) if self.aggregation != "ratio" else base
                threshold = self.threshold * base
            out.append(
                Evaluation(
                    series.labels, value, threshold, COMPARATORS[self.comparator](value, threshold)
                )
            )
        return out

    def _value(self, group: list[Series], start: float, end: float) -> float | None:
        if self.window is None:
            latest = group[0].latest()
            if latest is None or end - latest.last_ts > STALE_AFTER:
                return None
            return latest.last
        minutes = group[0].between(start, end)
        if not minutes:
            return None
        if self.aggregation == "ratio":
            denominator = sum(m.sum for m in group[1].between(start, end))
            return sum(m.sum for m in minutes) / denominator if denominator else None
        return aggregate(self.aggregation, minutes, end - start)


def _partner(store: SignalStore, selector: Selector, labels: Mapping[str, str]) -> Series | None:
    """The series of ``selector`` with the same labels (the denominator of a ratio)."""
    for series in selector.pick(store):
        if series.labels == labels:
            return series
    return None


def aggregate(how: str, minutes: list[Minute], seconds: float) -> float | None:
    count = sum(m.count for m in minutes)
    if count == 0:
        return None
    if how == "avg":
        return sum(m.sum for m in minutes) / count
    if how == "min":
        return min(m.min for m in minutes)
    if how == "max":
        return max(m.max for m in minutes)
    if how == "sum":
        return sum(m.sum for m in minutes)
    if how == "count":
        return float(count)
    if how == "rate":
        return sum(m.sum for m in minutes) / seconds if seconds > 0 else None
    if how == "last":
        return max(minutes, key=lambda m: m.last_ts).last
    quantile = _QUANTILE.match(how)
    if quantile:
        sketch = Sketch()
        for m in minutes:
            sketch.merge(m.sketch)
        return sketch.quantile(float(quantile.group(1)) / 100)
    raise ExprError(f"unknown aggregation {how!r}")  # parse() already refused it


# --- parsing ---------------------------------------------------------------------------


def parse(text: str) -> Expr:
    tokens = _tokenize(text)
    parser = _Parser(text, tokens)
    expr = parser.expression()
    parser.end()
    return expr


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    text_end = len(text.rstrip())
    while pos < text_end:
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExprError(f"unexpected {text[pos:].strip()[:20]!r} at character {pos + 1}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, str, int]]) -> None:
        self.text, self.tokens, self.i = text, tokens, 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None, what: str = "") -> str:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (value and token[1] != value):
            found = f"{token[1]!r} at character {token[2] + 1}" if token else "the end"
            raise ExprError(f"expected {what or value or kind}, found {found}")
        self.i += 1
        return token[1]

    def at(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == value

    def expression(self) -> Expr:
        aggregation, selectors = "last", []
        token = self.peek()
        nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        if token and token[0] == "name" and nxt and nxt[1] == "(":
            aggregation = self.take("name")
            if aggregation not in AGGREGATIONS and not _QUANTILE.match(aggregation):
                raise ExprError(
                    f"unknown aggregation {aggregation!r}; use one of "
                    f"{', '.join(AGGREGATIONS)} or a quantile such as p95"
                )
            self.take(value="(")
            selectors.append(self.selector())
            while self.at(","):
                self.take(value=",")
                selectors.append(self.selector())
            self.take(value=")", what="')'")
        else:
            selectors.append(self.selector())
        if (aggregation == "ratio") != (len(selectors) == 2) or len(selectors) > 2:
            raise ExprError("ratio takes two signals, ratio(part, whole); the others take one")
        window = None
        if self.at("over"):
            self.take(value="over")
            window = self.duration()
        elif aggregation != "last":
            raise ExprError(f"{aggregation}(…) needs a window: add 'over 5m'")
        comparator = self.take("op", what="a comparison (>, >=, <, <=, ==, !=)")
        if comparator not in COMPARATORS:
            raise ExprError(f"expected a comparison (>, >=, <, <=, ==, !=), found {comparator!r}")
        threshold = float(self.take("number", what="a number"))
        baseline = None
        if self.at("*") or self.at("×") or self.at("x"):
            self.i += 1
            self.take(value="baseline", what="baseline(7d)")
            self.take(value="(")
            baseline = self.duration()
            self.take(value=")", what="')'")
        return Expr(
            self.text.strip(),
            aggregation,
            tuple(selectors),
            window,
            comparator,
            threshold,
            baseline,
        )

    def selector(self) -> Selector:
        name = self.take("name", what="a signal name")
        matchers = []
        if self.at("{"):
            self.take(value="{")
            while not self.at("}"):
                label = self.take("name", what="a label name")
                op = self.take("op", what="=, !=, =~ or !~")
                if op not in ("=", "!=", "=~", "!~"):
                    raise ExprError(f"expected =, !=, =~ or !~ after {label}, found {op!r}")
                raw = self.take("string", what='a "quoted" value')
                value = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                if op in ("=~", "!~"):
                    try:
                        re.compile(value)
                    except re.error as exc:
                        raise ExprError(f"bad regular expression {value!r}: {exc}") from None
                matchers.append(Matcher(label, op, value))
                if not self.at("}"):
                    self.take(value=",", what="',' or '}'")
            self.take(value="}")
        return Selector(name, tuple(matchers))

    def duration(self) -> float:
        token = self.peek()
        if token is None or token[0] not in ("duration", "number"):
            raise ExprError("expected a duration such as 5m, 1h or 7d")
        self.i += 1
        seconds = parse_duration(token[1])
        if seconds <= 0 or math.isinf(seconds):
            raise ExprError("a window must be longer than 0s")
        return seconds

    def end(self) -> None:
        token = self.peek()
        if token is not None:
            raise ExprError(f"unexpected {token[1]!r} at character {token[2] + 1}")
