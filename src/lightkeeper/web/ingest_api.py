"""Where apps send telemetry: Sentry's envelope and store endpoints, app events, OTLP/HTTP.

These routes take a project's key, not a dashboard token. Every refusal is a 4xx with a
JSON body ``{"detail": …}`` (and ``X-Sentry-Error`` for Sentry clients) that never repeats
the key; success is ``200`` once what was sent is committed (see telemetry/service.py).
Browser SDKs post from the app's own origin, so these routes answer CORS preflights.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from lightkeeper.errors import StoreError
from lightkeeper.service import Service
from lightkeeper.telemetry.config import ProjectConfig
from lightkeeper.telemetry.envelope import (
    IngestError,
    decompress,
    parse_envelope,
    public_key,
)
from lightkeeper.telemetry.events import apply as apply_events
from lightkeeper.telemetry.events import parse_batch
from lightkeeper.telemetry.ingest import Decoded, decode, event_id_of
from lightkeeper.telemetry.otlp import (
    parse_metrics,
    parse_traces,
    record_metrics,
    record_spans,
    success_body,
)
from lightkeeper.telemetry.service import Telemetry

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding, X-Sentry-Auth, "
    "Authorization, X-Lightkeeper-Key, sentry-trace, baggage",
    "Access-Control-Expose-Headers": "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After",
    "Access-Control-Max-Age": "86400",
}


def refuse(error: IngestError, sentry: bool = False) -> JSONResponse:
    headers = {**CORS, **error.headers}
    if sentry:
        headers["X-Sentry-Error"] = error.message
    return JSONResponse({"detail": error.message}, status_code=error.status, headers=headers)


def _telemetry(request: Request) -> Telemetry:
    service: Service = request.app.state.service
    if service.telemetry is None:
        raise IngestError(
            404, "telemetry is not configured here: add telemetry.projects to the config"
        )
    return service.telemetry


def _project(telemetry: Telemetry, raw_id: str) -> ProjectConfig:
    if not raw_id.isdigit() or len(raw_id) > 10:
        raise IngestError(400, "the project id in the URL must be a positive integer")
    project = telemetry.config.project(int(raw_id))
    if project is None:
        raise IngestError(404, f"no project with id {int(raw_id)}; see telemetry.projects")
    return project


def _check_key(project: ProjectConfig, key: str | None) -> None:
    if not key:
        raise IngestError(
            401, "no key: send X-Sentry-Auth with sentry_key, or ?sentry_key=, or a dsn"
        )
    if not hmac.compare_digest(key.encode(), project.key.encode()):
        raise IngestError(403, f"the key is not valid for project {project.id}")


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it passes ``limit`` (compressed bytes)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise IngestError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IngestError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _legacy_event(data: bytes) -> dict[str, Any]:
    """/store/ bodies: JSON, or (old SDKs) base64 of zlib-compressed JSON."""
    text = data.lstrip()
    if not text.startswith(b"{"):
        try:
            text = zlib.decompress(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError, zlib.error):
            raise IngestError(400, "body is neither JSON nor base64 zlib JSON") from None
    try:
        event = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(400, f"body is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise IngestError(400, "body is not a JSON object")
    return event


def _project_by_key(telemetry: Telemetry, request: Request) -> ProjectConfig:
    """App events and OTLP: ``Authorization: Bearer <key>`` or ``X-Lightkeeper-Key``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    key = value.strip() if scheme.lower() == "bearer" else None
    key = key or request.headers.get("x-lightkeeper-key") or None
    if not key:
        raise IngestError(
            401, "no key: send 'Authorization: Bearer <project key>' or X-Lightkeeper-Key"
        )
    digest = hashlib.sha256(key.encode()).digest()
    for project in telemetry.config.projects:
        if hmac.compare_digest(digest, hashlib.sha256(project.key.encode()).digest()):
            return project
    raise IngestError(403, "the key is not valid for any project")


def ingest_router() -> APIRouter:
    router = APIRouter(tags=["telemetry ingest"])

    async def sentry(request: Request, project_id: str, kind: str) -> Response:
        try:
            telemetry = _telemetry(request)
            project = _project(telemetry, project_id)
            limits = telemetry.config.limits
            # A key in the headers or the query is checked before the body is even read;
            # only one in the envelope's own header has to wait for the parse.
            key = public_key(request.headers, request.query_params, None)
            if key or kind != "envelope":
                _check_key(project, key)
            raw = await _body(request, limits.max_body)
            data = decompress(raw, request.headers.get("content-encoding"), limits.max_body)
            if kind == "envelope":
                envelope = parse_envelope(data, limits.max_item)
                if not key:
                    _check_key(project, public_key({}, {}, envelope.headers))
                decoded = decode(envelope)
            else:
                if len(data) > limits.max_item:
                    raise IngestError(
                        413, f"event is {len(data)} bytes; the limit is {limits.max_item}"
                    )
                decoded = _decoded_event(_legacy_event(data))
            await telemetry.envelope(project, decoded)
        except (IngestError, StoreError) as exc:
            return refuse(_as_refusal(exc), sentry=True)
        return JSONResponse({"id": decoded.event_id}, headers=CORS)

    @router.post("/api/{project_id}/envelope/", summary="Sentry envelope endpoint")
    @router.post("/api/{project_id}/envelope", include_in_schema=False)
    async def envelope(request: Request, project_id: str) -> Response:
        return await sentry(request, project_id, "envelope")

    @router.post("/api/{project_id}/store/", summary="Sentry's legacy store endpoint")
    @router.post("/api/{project_id}/store", include_in_schema=False)
    async def store(request: Request, project_id: str) -> Response:
        return await sentry(request, project_id, "store")

    @router.options("/api/{project_id}/envelope/", include_in_schema=False)
    @router.options("/api/{project_id}/store/", include_in_schema=False)
    @router.options("/api/v1/events", include_in_schema=False)
    @router.options("/v1/traces", include_in_schema=False)
    @router.options("/v1/metrics", include_in_schema=False)
    async def preflight() -> Response:
        return Response(status_code=204, headers=CORS)

    @router.post("/api/v1/events", summary="App events: api_call, rag_search, cache_access, …")
    async def events(request: Request) -> Response:
        try:
            telemetry, project, data = await _keyed_body(request)
            batch = parse_batch(data, telemetry.clock.now())
            await telemetry.counted(project, len(batch.events))
            applied = apply_events(batch, project.name, telemetry.signals, telemetry.config)
            await telemetry.commit()
        except (IngestError, StoreError) as exc:
            return refuse(_as_refusal(exc))
        body: dict[str, Any] = {"accepted": applied.accepted}
        if applied.unpriced_models:
            body["unpriced_models"] = sorted(applied.unpriced_models)
        return JSONResponse(body, headers=CORS)

    async def otlp(request: Request, kind: str) -> Response:
        content_type = request.headers.get("content-type")
        try:
            telemetry, project, data = await _keyed_body(request)
            if kind == "traces":
                spans = parse_traces(data, content_type)
                await telemetry.counted(project, len(spans))
                record_spans(spans, project.name, telemetry.signals)
            else:
                points = parse_metrics(data, content_type)
                await telemetry.counted(project, len(points))
                record_metrics(points, project.name, telemetry.signals)
            await telemetry.commit()
        except (IngestError, StoreError) as exc:
            return refuse(_as_refusal(exc))
        body, media = success_body(kind, content_type or "")
        return Response(body, media_type=media, headers=CORS)

    @router.post("/v1/traces", summary="OTLP/HTTP traces (protobuf or JSON)")
    async def traces(request: Request) -> Response:
        return await otlp(request, "traces")

    @router.post("/v1/metrics", summary="OTLP/HTTP metrics (protobuf or JSON)")
    async def metrics(request: Request) -> Response:
        return await otlp(request, "metrics")

    return router


async def _keyed_body(request: Request) -> tuple[Telemetry, ProjectConfig, bytes]:
    """App events and OTLP: the project by its key, then the body, decompressed."""
    telemetry = _telemetry(request)
    project = _project_by_key(telemetry, request)
    limit = telemetry.config.limits.max_body
    raw = await _body(request, limit)
    return telemetry, project, decompress(raw, request.headers.get("content-encoding"), limit)


def _as_refusal(exc: IngestError | StoreError) -> IngestError:
    """A store that is away is a 503 (retry soon): nothing was taken."""
    if isinstance(exc, IngestError):
        return exc
    return IngestError(503, str(exc), {"Retry-After": "5"})


def _decoded_event(event: dict[str, Any]) -> Decoded:
    decoded = Decoded()
    event["event_id"] = event_id_of(event.get("event_id"), "event")
    decoded.event_id = event["event_id"]
    if event.get("type") == "transaction":
        decoded.transactions.append(event)
    else:
        decoded.events.append(event)
    return decoded
