"""OpenTelemetry over OTLP/HTTP (``POST /v1/traces``, ``/v1/metrics``): decoding protobuf or
JSON bodies, and what server spans and metric points record in the telemetry signals.

Only what the signals need is read: a server span is a request (route, failed, duration); a
metric point is one sample of ``otel.<name>`` per service. Anything malformed is an
:class:`IngestError` (415 for the content type, 400 for the body, 413 for too much of it).
See https://opentelemetry.io/docs/specs/otlp/#otlphttp.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from lightkeeper.telemetry.envelope import IngestError
from lightkeeper.telemetry.events import normalize_route
from lightkeeper.telemetry.signals import TelemetrySignals

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: Spans or metric points in one request; an SDK's batch is 512 spans, so this is abuse.
MAX_ITEMS = 10_000

# OTLP JSON carries ids as hex where protobuf's JSON mapping expects base64; we never read
# them, so they are dropped before parsing rather than mis-decoded or refused.
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_NOT_NAME = re.compile(r"[^a-z0-9_.]+")
_STATUS = re.compile(r"[1-5][0-9][0-9]")

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class ServerSpan:
    """A request as a server span tells it."""

    service: str
    route: str
    failed: bool
    duration_ms: float
    ts: float  # end time, epoch seconds
    status: int | None  # HTTP status, when the span has one


@dataclass(frozen=True)
class MetricPoint:
    """One sample of a metric: a gauge or sum value, or a histogram's mean."""

    name: str  # sanitized, without the "otel." prefix
    service: str
    value: float
    ts: float  # epoch seconds


# --- decoding -------------------------------------------------------------------------------


def _decode(body: bytes, content_type: str | None, message: M) -> M:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    name = message.DESCRIPTOR.name
    try:
        if kind in (PROTOBUF, "application/protobuf"):
            message.ParseFromString(body)
        elif kind == JSON:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            _drop_ids(data)
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
        else:
            raise IngestError(415, f"Content-Type must be {PROTOBUF} or {JSON}")
    except IngestError:
        raise
    # DecodeError, ParseError, UnicodeDecodeError, RecursionError and whatever else a
    # hostile body can provoke in the decoders: all the client's fault, none ours to log.
    except Exception as exc:
        detail = str(exc)[:200] or type(exc).__name__
        raise IngestError(400, f"not a valid OTLP {name}: {detail}") from None
    return message


def _drop_ids(data: object) -> None:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in _ID_KEYS.intersection(item):
                del item[key]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _attrs(attributes: Iterable[KeyValue]) -> dict[str, AnyValue]:
    return {kv.key: kv.value for kv in attributes}


def _string(value: AnyValue | None) -> str | None:
    if value is None or value.WhichOneof("value") != "string_value":
        return None
    return str(value.string_value) or None


def _http_status(value: AnyValue | None) -> int | None:
    """An HTTP status however the instrumentation typed it (int, double or string)."""
    if value is None:
        return None
    which = value.WhichOneof("value")
    number: float | None = None
    if which == "int_value":
        number = value.int_value
    elif which == "double_value":
        number = value.double_value
    elif which == "string_value" and _STATUS.fullmatch(value.string_value):
        number = int(value.string_value)
    return int(number) if number is not None and 100 <= number <= 599 else None


def _seconds(unix_nano: int) -> float:
    # Whole seconds first: nanos / 1e9 alone loses the last digits of a 19-digit number.
    whole, nanos = divmod(unix_nano, 1_000_000_000)
    return whole + nanos / 1e9


def _service(resource_attributes: Iterable[KeyValue]) -> str:
    return _string(_attrs(resource_attributes).get("service.name")) or "unknown"


def _counted(items: Iterator[Any], what: str) -> Iterator[Any]:
    for n, item in enumerate(items):
        if n >= MAX_ITEMS:
            raise IngestError(413, f"more than {MAX_ITEMS} {what} in one request; send fewer")
        yield item


# --- traces ---------------------------------------------------------------------------------


def parse_traces(body: bytes, content_type: str | None) -> list[ServerSpan]:
    """The server spans (kind SERVER) of an ExportTraceServiceRequest; other kinds are
    parts of a request, not requests, and are skipped."""
    request = _decode(body, content_type, trace_service_pb2.ExportTraceServiceRequest())
    return [s for s in _counted(_spans(request), "spans") if s is not None]


def _spans(request: trace_service_pb2.ExportTraceServiceRequest) -> Iterator[ServerSpan | None]:
    for resource_spans in request.resource_spans:
        service = _service(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield _server_span(span, service) if span.kind == Span.SPAN_KIND_SERVER else None


def _server_span(span: Span, service: str) -> ServerSpan:
    attrs = _attrs(span.attributes)
    route = _string(attrs.get("http.route"))
    if route is None:
        path = _string(attrs.get("url.path")) or _string(attrs.get("http.target"))
        route = normalize_route(path) if path else (str(span.name) or "unknown")
    status = _http_status(attrs.get("http.response.status_code"))
    if status is None:
        status = _http_status(attrs.get("http.status_code"))
    start, end = int(span.start_time_unix_nano), int(span.end_time_unix_nano)
    return ServerSpan(
        service=service,
        route=route,
        failed=span.status.code == Status.STATUS_CODE_ERROR or (status or 0) >= 500,
        duration_ms=max((end - start) / 1e6, 0.0),
        ts=_seconds(end or start),
        status=status,
    )


def record_spans(spans: Iterable[ServerSpan], project: str, signals: TelemetrySignals) -> int:
    """Each span as a request (``http.requests``, ``http.errors``, …); returns how many."""
    n = 0
    for span in spans:
        signals.request(project, span.route, span.failed, span.duration_ms, span.ts)
        n += 1
    return n


# --- metrics --------------------------------------------------------------------------------


def parse_metrics(body: bytes, content_type: str | None) -> list[MetricPoint]:
    """The points of an ExportMetricsServiceRequest: gauges and sums as they are, histograms
    (and summaries) as their mean; points without a value are skipped."""
    request = _decode(body, content_type, metrics_service_pb2.ExportMetricsServiceRequest())
    return [p for p in _counted(_points(request), "metric points") if p is not None]


def _points(
    request: metrics_service_pb2.ExportMetricsServiceRequest,
) -> Iterator[MetricPoint | None]:
    for resource_metrics in request.resource_metrics:
        service = _service(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                name = metric_name(metric.name)
                for value, ts_nano in _values(metric):
                    if name and value is not None and math.isfinite(value):
                        yield MetricPoint(name, service, value, _seconds(ts_nano))
                    else:
                        yield None


def _values(metric: Any) -> Iterator[tuple[float | None, int]]:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        for point in getattr(metric, kind).data_points:
            which = point.WhichOneof("value")
            value = None if which is None else float(getattr(point, which))
            yield value, int(point.time_unix_nano)
    elif kind in ("histogram", "exponential_histogram", "summary"):
        for point in getattr(metric, kind).data_points:
            # A histogram's sum is optional (absent when negative values make it
            # meaningless); a summary's is always there.
            has_sum = kind == "summary" or point.HasField("sum")
            mean = point.sum / point.count if has_sum and point.count > 0 else None
            yield mean, int(point.time_unix_nano)


def metric_name(name: str) -> str:
    """A metric's name as a signal name: lower case, runs of other characters as ``_``
    (``http.server.request.duration`` stays; ``My-Metric/x`` → ``my_metric_x``)."""
    return _NOT_NAME.sub("_", name.lower()).strip("_.")[:100]


def record_metrics(points: Iterable[MetricPoint], project: str, signals: TelemetrySignals) -> int:
    """Each point as ``otel.<name>{project, service}``; returns how many."""
    n = 0
    for point in points:
        labels = {"project": project, "service": point.service}
        signals.record(f"otel.{point.name}", labels, point.value, point.ts)
        n += 1
    return n


# --- responses ------------------------------------------------------------------------------

_RESPONSES: dict[str, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}


def success_body(kind: str, content_type: str) -> tuple[bytes, str]:
    """The OTLP success response (an empty Export*ServiceResponse) for ``kind`` ("traces" or
    "metrics"), in the request's encoding, and its content type."""
    response = _RESPONSES[kind]()
    if content_type.split(";", 1)[0].strip().lower() == JSON:
        return b"{}", JSON
    return bytes(response.SerializeToString()), PROTOBUF
