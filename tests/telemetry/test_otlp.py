"""OTLP/HTTP decoding, with bodies made by the real OpenTelemetry SDK and encoded exactly as
its OTLP/HTTP exporter encodes them (protobuf), or in OTLP's JSON mapping."""

from __future__ import annotations

import json
import time

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from lightkeeper.rules.signals import SignalStore
from lightkeeper.telemetry.envelope import IngestError
from lightkeeper.telemetry.otlp import (
    MAX_ITEMS,
    ServerSpan,
    metric_name,
    parse_metrics,
    parse_traces,
    record_metrics,
    record_spans,
    success_body,
)
from lightkeeper.telemetry.signals import TelemetrySignals

T0 = 1_800_000_000.0  # a whole minute
NS = 1_000_000_000
PB = "application/x-protobuf"
JSON = "application/json"


def _sdk_spans() -> bytes:
    """Five spans of service "web": four server spans and a client span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    start = int(T0 * NS)

    def span(name: str, kind: SpanKind, ms: int, attrs: dict[str, str | int]) -> None:
        s = tracer.start_span(name, kind=kind, attributes=attrs, start_time=start)
        if name == "boom":
            s.set_status(Status(StatusCode.ERROR, "exploded"))
        s.end(end_time=start + ms * 1_000_000)

    chat = {"http.route": "/api/chat/[id]", "http.response.status_code": 200}
    span("GET /api/chat/[id]", SpanKind.SERVER, 120, chat)
    span("boom", SpanKind.SERVER, 30, {"http.route": "/api/rag"})
    span("GET", SpanKind.CLIENT, 80, {"http.response.status_code": 500})
    items = {"url.path": "/api/items/42", "http.response.status_code": 503}
    span("GET", SpanKind.SERVER, 10, items)
    span("legacy", SpanKind.SERVER, 5, {"http.target": "/old/7?q=1", "http.status_code": 404})
    provider.shutdown()
    return bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())


EXPECTED = [
    ServerSpan("web", "/api/chat/[id]", False, 120.0, T0 + 0.12, 200),
    ServerSpan("web", "/api/rag", True, 30.0, T0 + 0.03, None),
    ServerSpan("web", "/api/items/:id", True, 10.0, T0 + 0.01, 503),
    ServerSpan("web", "/old/:id", False, 5.0, T0 + 0.005, 404),
]


def _by_route(signals: TelemetrySignals, name: str) -> dict[str, tuple[int, float]]:
    found = {}
    for series in signals.own.select(name):
        [minute] = series.minutes.values()
        found[series.labels.get("route", "")] = (minute.count, minute.sum)
    return found


def test_server_spans_from_the_sdk_become_requests() -> None:
    spans = parse_traces(_sdk_spans(), PB)
    assert sorted(spans, key=lambda s: s.duration_ms, reverse=True) == EXPECTED

    signals = TelemetrySignals(rules=SignalStore(names=set()))
    assert record_spans(spans, "web", signals) == 4
    assert _by_route(signals, "http.requests") == {
        "": (4, 4.0),
        "/api/chat/[id]": (1, 1.0),
        "/api/rag": (1, 1.0),
        "/api/items/:id": (1, 1.0),
        "/old/:id": (1, 1.0),
    }
    assert _by_route(signals, "http.errors") == {
        "": (2, 2.0),
        "/api/rag": (1, 1.0),
        "/api/items/:id": (1, 1.0),
    }
    assert _by_route(signals, "http.error_rate")[""] == (4, 2.0)
    assert _by_route(signals, "http.latency_ms")[""] == (4, 165.0)
    assert all(s.labels["project"] == "web" for s in signals.own.select("http.requests"))


def test_json_body_is_the_same_request() -> None:
    message = ExportTraceServiceRequest()
    message.ParseFromString(_sdk_spans())
    as_json = json_format.MessageToJson(message).encode()
    spans = parse_traces(as_json, "application/json; charset=utf-8")
    assert sorted(spans, key=lambda s: s.duration_ms, reverse=True) == EXPECTED


def test_otlp_json_with_hex_ids_and_no_service() -> None:
    # As OTLP's JSON encoding (not protobuf's) writes it: hex ids, string nanos.
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b17",  # odd length: not base64 either
                                "name": "",
                                "kind": 2,
                                "startTimeUnixNano": str(int(T0 * NS)),
                                "endTimeUnixNano": str(int(T0 * NS) + 2_000_000),
                                "attributes": [
                                    {"key": "http.status_code", "value": {"stringValue": "502"}}
                                ],
                                "status": {},
                                "futureField": 1,
                            }
                        ]
                    }
                ],
            }
        ]
    }
    [span] = parse_traces(json.dumps(body).encode(), "application/json")
    assert span == ServerSpan("unknown", "unknown", True, 2.0, T0 + 0.002, 502)


def _sdk_metrics() -> bytes:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "api"})
    )
    meter = provider.get_meter("test")
    meter.create_counter("Jobs-Done/total").add(3, {"queue": "a"})
    duration = meter.create_histogram("http.server.request.duration", unit="s")
    for value in (0.1, 0.3):
        duration.record(value)
    meter.create_gauge("queue.depth").set(7.5)
    meter.create_histogram("never.recorded")
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return bytes(encode_metrics(data).SerializeToString())


def test_metrics_from_the_sdk_become_otel_signals() -> None:
    points = parse_metrics(_sdk_metrics(), PB)
    values = {p.name: p.value for p in points}
    assert values == pytest.approx(
        {"jobs_done_total": 3.0, "http.server.request.duration": 0.2, "queue.depth": 7.5}
    )
    assert {p.service for p in points} == {"api"}
    assert all(abs(p.ts - time.time()) < 60 for p in points)

    # otel.* are not among the telemetry store's names: a rule that reads one keeps it.
    signals = TelemetrySignals(rules=SignalStore(names=None))
    assert record_metrics(points, "web", signals) == 3
    [series] = signals.rules.select("otel.http.server.request.duration")
    assert series.labels == {"project": "web", "service": "api"}
    [minute] = series.minutes.values()
    assert (minute.count, minute.sum) == (1, pytest.approx(0.2))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("http.server.request.duration", "http.server.request.duration"),
        ("My-Metric/x", "my_metric_x"),
        ("__weird name!!", "weird_name"),
        ("", ""),
    ],
)
def test_metric_names_are_sanitized(name: str, expected: str) -> None:
    assert metric_name(name) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"\x0a\x05garbage", PB, 400, "not a valid OTLP ExportTraceServiceRequest"),
        (b"{not json", "application/json", 400, "not a valid OTLP ExportTraceServiceRequest"),
        (b'{"resourceSpans": 5}', "application/json", 400, "ExportTraceServiceRequest"),
        (b"[]", "application/json", 400, "ExportTraceServiceRequest"),
        (b"\xff\xfe", "application/json", 400, "ExportTraceServiceRequest"),
        (b"{}", "text/plain", 415, "Content-Type must be application/x-protobuf"),
        (b"{}", None, 415, "Content-Type must be"),
    ],
)
def test_bad_bodies_are_refused_with_their_status(
    body: bytes, content_type: str | None, status: int, says: str
) -> None:
    with pytest.raises(IngestError) as caught:
        parse_traces(body, content_type)
    assert caught.value.status == status
    assert says in caught.value.message


def test_metrics_errors_name_the_metrics_request() -> None:
    with pytest.raises(IngestError, match="ExportMetricsServiceRequest"):
        parse_metrics(b"\x0a\x05garbage", PB)


def test_too_many_spans_is_413() -> None:
    span = {"name": "x", "kind": 3}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span] * (MAX_ITEMS + 1)}]}]}
    with pytest.raises(IngestError) as caught:
        parse_traces(json.dumps(body).encode(), "application/json")
    assert caught.value.status == 413


def test_empty_protobuf_is_an_empty_request() -> None:
    assert parse_traces(b"", PB) == []
    assert parse_metrics(b"", "application/protobuf") == []


def test_success_bodies_are_empty_responses() -> None:
    body, ctype = success_body("traces", PB)
    assert ctype == PB
    assert ExportTraceServiceResponse.FromString(body) == ExportTraceServiceResponse()
    body, ctype = success_body("metrics", PB)
    assert ExportMetricsServiceResponse.FromString(body) == ExportMetricsServiceResponse()
    assert success_body("traces", "application/json") == (b"{}", "application/json")


FIELDS = [
    "resourceSpans",
    "resourceMetrics",
    "scopeSpans",
    "scopeMetrics",
    "spans",
    "metrics",
    "kind",
    "name",
    "attributes",
    "key",
    "value",
    "gauge",
    "histogram",
    "dataPoints",
    "asDouble",
    "sum",
    "count",
    "startTimeUnixNano",
    "x",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(FIELDS),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), as_json=json_values)
def test_any_body_is_decoded_or_refused_with_ingest_error(body: bytes, as_json: object) -> None:
    bodies = [(body, PB), (body, JSON), (json.dumps(as_json).encode(), JSON)]
    for parse in (parse_traces, parse_metrics):
        for data, ctype in bodies:
            status = 200
            try:
                parse(data, ctype)
            except IngestError as exc:
                status = exc.status
            assert status in (200, 400, 413)
