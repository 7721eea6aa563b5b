"""/metrics in the Prometheus text format, built from live state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lightkeeper.service import Service
from lightkeeper.types import Health, State

HEALTH_VALUE = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.UNHEALTHY: 2}


class ServiceCollector(Collector):
    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        labels = ["monitor", "type"]
        up = GaugeMetricFamily(
            "lightkeeper_monitor_up",
            "1 when the monitor is up or degraded, 0 when down.",
            labels=labels,
        )
        state = GaugeMetricFamily(
            "lightkeeper_monitor_state",
            "1 for the monitor's current state.",
            labels=[*labels, "state"],
        )
        latency = GaugeMetricFamily(
            "lightkeeper_monitor_latency_seconds", "Latency of the last check.", labels=labels
        )
        uptime = GaugeMetricFamily(
            "lightkeeper_monitor_uptime_ratio",
            "Share of good checks over the window (from rollups).",
            labels=[*labels, "window"],
        )
        cert = GaugeMetricFamily(
            "lightkeeper_tls_cert_days_left", "Days until the certificate expires.", labels=labels
        )
        for rt in service.monitors.values():
            key = [rt.name, rt.config.type]
            row = rt.row
            if row.state is not State.PENDING:
                up.add_metric(key, 0.0 if row.state is State.DOWN else 1.0)
            for s in State:
                state.add_metric([*key, s.value], 1.0 if row.state is s else 0.0)
            if row.latency_ms is not None:
                latency.add_metric(key, row.latency_ms / 1000.0)
            for window, value in service.uptime.get(rt.id, {}).items():
                if value.ratio is not None:
                    uptime.add_metric([*key, window], value.ratio)
            days = (row.metrics or {}).get("cert_days_left")
            if days is not None:
                cert.add_metric(key, float(days))
        health = GaugeMetricFamily(
            "lightkeeper_health", "Overall verdict: 0 healthy, 1 degraded, 2 unhealthy."
        )
        health.add_metric([], HEALTH_VALUE[service.health()])
        writer = service.writer.status()
        store_up = GaugeMetricFamily(
            "lightkeeper_store_up", "1 when the last store write succeeded."
        )
        store_up.add_metric([], 1.0 if writer.ok else 0.0)
        queued = GaugeMetricFamily(
            "lightkeeper_store_queued_results", "Results waiting to be written."
        )
        queued.add_metric([], writer.queued)
        yield from (up, state, latency, uptime, cert, health, store_up, queued)
        if service.scheduler:
            stats = service.scheduler.stats
            started = CounterMetricFamily(
                "lightkeeper_checks_started", "Checks started since this process began."
            )
            started.add_metric([], stats.started)
            yield started
            p99 = stats.quantile(0.99)
            if p99 is not None:
                lag = GaugeMetricFamily(
                    "lightkeeper_scheduler_deviation_p99_seconds",
                    "99th percentile of check start delay behind schedule (recent checks).",
                )
                lag.add_metric([], p99)
                yield lag
