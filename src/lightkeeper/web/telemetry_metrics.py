"""/metrics for telemetry: each signal over the last five minutes, as Prometheus gauges.

Counts are sums over the window (``lightkeeper_http_requests_5m``), shares are averages
(``lightkeeper_http_error_rate_5m``), latencies are quantiles from the merged sketches
(``lightkeeper_http_latency_ms_5m{quantile="0.95"}``), OpenTelemetry metrics their last
value — with the series' labels (project, and route, model, user or cache where given).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lightkeeper.rules.signals import Series
from lightkeeper.rules.sketch import Sketch
from lightkeeper.telemetry.service import Telemetry

WINDOW = 300.0
AVERAGED = {"http.error_rate", "cache.hit_ratio", "web.bounce", "web.sessions", "rag.results"}
QUANTILES = {"http.latency_ms", "rag.search_ms"}
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


class TelemetryCollector(Collector):
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        t = self.telemetry
        now = t.clock.now()
        store = t.signals.own
        for name in sorted({s.name for s in store.series.values()}):
            series = [s for s in store.select(name) if s.between(now - WINDOW, now)]
            if series:
                yield self._family(name, series, now)
        stored = CounterMetricFamily(
            "lightkeeper_telemetry_events_stored", "Error and message events stored."
        )
        stored.add_metric([], t.counters.stored)
        refused = CounterMetricFamily(
            "lightkeeper_telemetry_requests_refused",
            "Ingest requests refused, by HTTP status.",
            labels=["status"],
        )
        for status, n in sorted(t.counters.refused.items()):
            refused.add_metric([str(status)], n)
        yield from (stored, refused)

    def _family(self, name: str, series: list[Series], now: float) -> Metric:
        labels = sorted({k for s in series for k in s.labels})
        metric = "lightkeeper_" + _UNSAFE.sub("_", name) + "_5m"
        quantiles = name in QUANTILES
        family = GaugeMetricFamily(
            metric,
            f"{name} over the last 5 minutes ({_how(name)}).",
            labels=[*labels, "quantile"] if quantiles else labels,
        )
        for s in series:
            minutes = s.between(now - WINDOW, now)
            values = [s.labels.get(k, "") for k in labels]
            if quantiles:
                sketch = Sketch()
                for m in minutes:
                    sketch.merge(m.sketch)
                for q in (0.5, 0.95, 0.99):
                    v = sketch.quantile(q)
                    if v is not None:
                        family.add_metric([*values, str(q)], v)
                continue
            total = sum(m.sum for m in minutes)
            count = sum(m.count for m in minutes)
            if name.startswith("otel."):
                family.add_metric(values, max(minutes, key=lambda m: m.last_ts).last)
            elif name in AVERAGED:
                family.add_metric(values, total / count if count else 0.0)
            else:
                family.add_metric(values, total)
        return family


def _how(name: str) -> str:
    if name in QUANTILES:
        return "quantiles"
    if name.startswith("otel."):
        return "last value"
    return "average" if name in AVERAGED else "sum"
