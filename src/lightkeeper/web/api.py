"""The JSON API (/api/v1), /healthz and the push endpoints (/ping/<token>)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from lightkeeper.service import Service
from lightkeeper.types import Health, State
from lightkeeper.web.views import counts, monitor_view, select_monitors


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(service_of)]


def api_router(require_auth: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_auth)], tags=["monitors"])

    @router.get("/status", summary="Overall health and every monitor's state (503 when unhealthy)")
    async def status(service: ServiceDep) -> JSONResponse:
        health = service.health()
        body = {
            "status": health.value,
            "checked_at": service.clock.now(),
            "counts": counts(service),
            "monitors": [
                {
                    "name": rt.name,
                    "state": rt.row.state.value,
                    "critical": bool(rt.config.critical),
                    "reason": rt.row.reason,
                    "latency_ms": rt.row.latency_ms,
                    "since": rt.row.since,
                }
                for rt in select_monitors(service, per_page=max(1, len(service.monitors))).items
            ],
        }
        return JSONResponse(body, status_code=503 if health is Health.UNHEALTHY else 200)

    @router.get("/monitors", summary="Monitors, worst first; paged, filterable by state and name")
    async def monitors(
        service: ServiceDep,
        state: State | None = None,
        q: Annotated[
            str | None, Query(max_length=200, description="name or target contains")
        ] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        chosen = select_monitors(service, q, state, page, per_page)
        return {
            "items": [monitor_view(service, rt) for rt in chosen.items],
            "total": chosen.total,
            "page": chosen.page,
            "per_page": chosen.per_page,
            "pages": chosen.pages,
        }

    @router.get("/monitors/{name}", summary="One monitor: state, recent results, uptime 24h/7d/30d")
    async def monitor(
        name: str, service: ServiceDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> dict[str, Any]:
        rt = service.monitors.get(name)
        if rt is None:
            raise HTTPException(404, f"no monitor named {name!r}")
        view = monitor_view(service, rt)
        rows = await service.read(service.store.recent_results, rt.id, limit)
        view["results"] = [
            {"ts": r.ts, "state": r.state.value, "latency_ms": r.latency_ms, "reason": r.reason}
            for r in rows
        ]
        return view

    @router.get("/scheduler", summary="Scheduling quality: start deviation quantiles, counts")
    async def scheduler(service: ServiceDep) -> dict[str, Any]:
        stats = service.scheduler.stats if service.scheduler else None
        if stats is None:
            return {"running": False}
        return {
            "running": True,
            "monitors": len(service.monitors),
            "checks_started": stats.started,
            "slots_skipped": stats.skipped,
            "deviation_p50_s": stats.quantile(0.5),
            "deviation_p99_s": stats.quantile(0.99),
            "deviation_max_s": stats.quantile(1.0),
            "samples": len(stats.deviations),
        }

    return router


public = APIRouter()


@public.get("/healthz", tags=["lightkeeper"], summary="Lightkeeper itself, including its store")
async def healthz(service: ServiceDep) -> JSONResponse:
    writer = service.writer.status()
    running = service.scheduler is not None
    ok = writer.ok and running
    body = {
        "status": "ok" if ok else "failing",
        "uptime_s": round(service.clock.now() - service.started_at, 1),
        "scheduler": {"running": running, "monitors": len(service.monitors)},
        "alerting": {
            "rules": len(service.alerting.engine.rules),
            "leading": service.alerting.leading,
            "last_evaluation": service.alerting.last_tick,
        },
        "store": {
            "backend": service.store.dialect,
            "ok": writer.ok,
            "error": writer.error,
            "failing_since": writer.failing_since,
            "queued_results": writer.queued,
            "last_write": writer.last_write,
            "dropped_results": writer.dropped,
        },
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@public.get("/ping/{token}", tags=["push"], summary="A job reports success")
@public.post("/ping/{token}", tags=["push"], summary="A job reports success")
async def ping(token: str, service: ServiceDep) -> PlainTextResponse:
    return _ping(service, token, "success")


@public.get("/ping/{token}/{kind}", tags=["push"], summary="A job reports 'fail' or 'start'")
@public.post("/ping/{token}/{kind}", tags=["push"], summary="A job reports 'fail' or 'start'")
async def ping_kind(token: str, kind: str, service: ServiceDep) -> PlainTextResponse:
    if kind not in ("fail", "start"):
        return PlainTextResponse("unknown ping kind; use /ping/<token>, /fail or /start\n", 404)
    return _ping(service, token, kind)


def _ping(service: Service, token: str, kind: str) -> PlainTextResponse:
    if service.ping(token, kind) is None:
        return PlainTextResponse("not found: no push monitor has this token\n", 404)
    return PlainTextResponse("OK\n")
