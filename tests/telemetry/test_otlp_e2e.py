"""The real OpenTelemetry OTLP/HTTP exporter (protobuf) → a real `lightkeeper up`: server
spans become request, error and latency signals per route, stored and on /metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.conftest import Server, wait_for

pytestmark = pytest.mark.integration

KEY = "07e1e7e7c1ab2e3d4c5b6a7988796a5b"


def minutes(db: Path) -> dict[str, tuple[int, float, float]]:
    engine = sa.create_engine(f"sqlite:///{db}")
    query = """SELECT s.key, sum(m.count), sum(m.sum), max(m.max) FROM signal_minutes m
               JOIN series s ON s.id = m.series_id GROUP BY s.key"""
    try:
        with engine.connect() as conn:
            return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(sa.text(query))}
    finally:
        engine.dispose()


def test_spans_from_the_real_exporter_become_latency_and_error_signals(
    server_factory: Any, tmp_path: Path
) -> None:
    db = tmp_path / "lk.db"
    server: Server = server_factory(
        f"""
store: {{url: "sqlite:///{db}"}}
telemetry:
  projects:
    - {{name: api, id: 2, key: {KEY}}}
"""
    )
    server.start()
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", headers={"Authorization": f"Bearer {KEY}"}
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "next-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for i in range(10):
        with tracer.start_as_current_span("POST /api/chat", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", "/api/chat")
            status = 500 if i < 3 else 200
            span.set_attribute("http.response.status_code", status)
            time.sleep(0.03 if i < 9 else 0.25)
            # A client span inside (a call to the model) is not a request.
            with tracer.start_as_current_span("anthropic.messages", kind=SpanKind.CLIENT):
                pass
    with tracer.start_as_current_span("GET /api/health", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.route", "/api/health")
        span.set_status(Status(StatusCode.ERROR))
    provider.shutdown()

    def arrived() -> dict[str, tuple[int, float, float]]:
        got = minutes(db)
        return got if 'http.requests{project="api"}' in got else {}

    got = wait_for(arrived, server=server)
    assert got['http.requests{project="api"}'][1] == 11  # type: ignore[index]
    assert got['http.requests{project="api",route="/api/chat"}'][1] == 10  # type: ignore[index]
    assert got['http.errors{project="api",route="/api/chat"}'][1] == 3  # type: ignore[index]
    assert got['http.errors{project="api",route="/api/health"}'][1] == 1  # type: ignore[index]
    count, total, slowest = got['http.latency_ms{project="api",route="/api/chat"}']  # type: ignore[index]
    assert count == 10
    assert 250 <= slowest < 1000 and total >= 9 * 30 + 250

    metrics = server.get("/metrics").text
    assert 'lightkeeper_http_requests_5m{project="api",route="/api/chat"} 10.0' in metrics
    assert 'lightkeeper_http_error_rate_5m{project="api",route="/api/chat"} 0.3' in metrics
    p99 = 'lightkeeper_http_latency_ms_5m{project="api",quantile="0.99",route="/api/chat"}'
    assert p99 in metrics
