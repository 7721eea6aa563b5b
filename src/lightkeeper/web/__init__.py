"""The web app: JSON API with OpenAPI at /docs, dashboard, status page, /metrics, /healthz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lightkeeper import __version__
from lightkeeper.errors import StoreError
from lightkeeper.service import Service
from lightkeeper.web.alerts_api import alerts_router
from lightkeeper.web.alerts_ui import alerts_ui_router
from lightkeeper.web.api import api_router, public
from lightkeeper.web.audits_ui import audits_router
from lightkeeper.web.auth import TokenAuth
from lightkeeper.web.backups_ui import backups_ui_router
from lightkeeper.web.dashboard import dashboard_router
from lightkeeper.web.incidents_api import incidents_router
from lightkeeper.web.incidents_ui import incidents_ui_router
from lightkeeper.web.ingest_api import ingest_router
from lightkeeper.web.metrics import ServiceCollector
from lightkeeper.web.runbooks import runbooks_router
from lightkeeper.web.telemetry_api import telemetry_router
from lightkeeper.web.telemetry_metrics import TelemetryCollector
from lightkeeper.web.telemetry_ui import telemetry_ui_router


def create_app(service: Service, manage: bool = True) -> FastAPI:
    """Build the app around ``service``; with ``manage`` it starts and stops the service."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage:
            await service.start()
        try:
            yield
        finally:
            if manage:
                await service.stop()

    app = FastAPI(
        title="Lightkeeper",
        version=__version__,
        description="Probes, health and uptime of your production."
        " Auth: `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.service = service
    auth = TokenAuth(service.store, enabled=service.config.auth.mode == "token")
    app.state.auth = auth

    app.include_router(api_router(auth.require))
    app.include_router(alerts_router(auth.require))
    app.include_router(incidents_router(auth))
    app.include_router(public)
    app.include_router(ingest_router())
    app.include_router(telemetry_router(auth.require))
    app.include_router(telemetry_ui_router(auth))
    app.include_router(backups_ui_router(auth))
    app.include_router(audits_router(auth))
    app.include_router(dashboard_router(auth))
    app.include_router(alerts_ui_router(auth))
    app.include_router(incidents_ui_router(auth))
    runbooks = service.config.runbooks
    app.include_router(runbooks_router(auth, Path(runbooks) if runbooks else None))
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(service))
    if service.telemetry is not None:
        registry.register(TelemetryCollector(service.telemetry))

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if service.config.auth.metrics_require_token:
            await auth.require(request)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StoreError)
    async def store_unavailable(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    return app
