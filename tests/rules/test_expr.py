"""Rule expressions: parsing (with errors that say what was expected) and evaluation."""

from __future__ import annotations

import pytest

from lightkeeper.rules.expr import ExprError, parse
from lightkeeper.rules.signals import SignalStore
from lightkeeper.rules.sketch import Sketch

T0 = 1_800_000_000.0  # a whole minute


def test_sketch_quantiles_are_within_one_percent_and_merge() -> None:
    a, b = Sketch(), Sketch()
    for v in range(1, 501):
        a.add(float(v))
    for v in range(501, 1001):
        b.add(float(v))
    a.merge(Sketch.loads(b.dumps()))
    for q, exact in ((0.5, 500.5), (0.95, 950.05), (0.99, 990.01)):
        got = a.quantile(q)
        assert got is not None
        assert abs(got - exact) / exact < 0.011
    assert Sketch().quantile(0.5) is None
    zero = Sketch()
    zero.add(0.0)
    assert zero.quantile(0.5) == 0.0


PARSE_ERRORS = [
    ("avg(x) > 3", "needs a window"),
    ("median(x) over 5m > 3", "unknown aggregation 'median'"),
    ("p95(x over 5m > 3", "expected ')'"),
    ("x > ", "expected a number"),
    ("x >> 3", "expected a number"),
    ("x{a=b} > 1", 'a "quoted" value'),
    ('x{a=~"("} > 1', "bad regular expression"),
    ("ratio(a) over 5m > 1", "ratio takes two signals"),
    ("x > 3 y", "unexpected 'y'"),
    ("x over 0s > 1", "longer than 0s"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ExprError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def store_with(name: str, points: list[tuple[float, float]], **labels: str) -> SignalStore:
    store = SignalStore(keep=8 * 86400)
    for ts, value in points:
        store.record(name, labels, value, ts)
    return store


def test_aggregations_over_a_window() -> None:
    points = [(T0 + i * 10, float(i)) for i in range(60)]  # 10 minutes, one every 10 s
    store = store_with("lat", points, monitor="api")
    now = T0 + 599
    cases = {
        # The minutes that overlap (now-5m, now]: from minute 4 (T0+240) on, values 24..59.
        "avg(lat) over 5m > 0": (24 + 59) / 2,
        "max(lat) over 5m > 0": 59.0,
        "min(lat) over 5m > 0": 24.0,
        "count(lat) over 5m > 0": 36.0,
        "sum(lat) over 10m > 0": float(sum(range(60))),
        "lat > 0": 59.0,
    }
    for text, expected in cases.items():
        [result] = parse(text).evaluate(store, now)
        assert result.value == pytest.approx(expected), text
        assert result.labels == {"monitor": "api"}
    [p95] = parse("p95(lat) over 10m > 50").evaluate(store, now)
    assert p95.value == pytest.approx(56, rel=0.02)
    assert p95.true


def test_latest_value_goes_stale() -> None:
    store = store_with("up", [(T0, 1.0)])
    assert parse("up == 1").evaluate(store, T0 + 299)[0].true
    assert parse("up == 1").evaluate(store, T0 + 301) == []


def test_matchers_pick_series() -> None:
    store = SignalStore()
    for monitor in ("api", "web", "db"):
        store.record("down", {"monitor": monitor, "type": "http"}, 1.0, T0)
    pick = {
        'down{monitor="api"} == 1': {"api"},
        'down{monitor!="api"} == 1': {"web", "db"},
        'down{monitor=~"a.*|w.*"} == 1': {"api", "web"},
        'down{monitor!~"a.*", type="http"} == 1': {"web", "db"},
    }
    for text, expected in pick.items():
        assert {r.labels["monitor"] for r in parse(text).evaluate(store, T0 + 1)} == expected


def test_ratio_joins_series_with_the_same_labels() -> None:
    store = SignalStore()
    for i in range(10):
        store.record("errors", {"route": "/a"}, 1.0 if i < 2 else 0.0, T0 + i)
        store.record("requests", {"route": "/a"}, 1.0, T0 + i)
    [result] = parse("ratio(errors, requests) over 5m > 0.1").evaluate(store, T0 + 30)
    assert result.value == pytest.approx(0.2)
    assert result.true


def test_baseline_compares_with_the_usual_window() -> None:
    store = SignalStore(keep=8 * 86400)
    hour = 3600.0
    # a steady $1 per hour for the previous 7 days, then $3 in the last hour
    for h in range(1, 7 * 24 + 1):
        store.record("cost", {}, 1.0, T0 - h * hour + 1)
    store.record("cost", {}, 3.0, T0 + 10)
    now = T0 + 60
    [result] = parse("sum(cost) over 1h > 2 * baseline(7d)").evaluate(store, now)
    assert result.threshold == pytest.approx(2.0, rel=0.02)
    assert result.value == 3.0
    assert result.true
