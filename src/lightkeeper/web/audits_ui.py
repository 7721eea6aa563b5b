"""/audits and /api/v1/audits: each scheduled audit's last run — when, what it found (as
the JSON report: previews only, never a whole secret), or why it could not run."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from lightkeeper.audit.config import KIND
from lightkeeper.cron import next_run
from lightkeeper.service import AuditResult, Service
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import TokenAuth, page_gate
from lightkeeper.web.dashboard import templates


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "–"


def _jobs(service: Service) -> list[dict[str, Any]]:
    now = service.clock.now()
    shown = []
    for job in service.config.audits.jobs:
        result: AuditResult | None = service.audit_results.get(job.name)
        report = result.report if result else None
        shown.append(
            {
                "name": job.name,
                "type": job.type,
                "kind": KIND[job.type],
                "schedule": job.schedule,
                "tz": job.tz,
                "next_run": next_run(job.schedule, job.tz, now),
                "last_run": None
                if result is None
                else {
                    "started": result.started,
                    "finished": result.finished,
                    "ok": result.error is None,
                    "error": result.error,
                    "report": report.as_json() if report else None,
                },
            }
        )
    return shown


def audits_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/audits", dependencies=[Depends(auth.require)], tags=["audits"])
    async def audits_api(service: ServiceDep) -> dict[str, Any]:
        """Every audit job and its last run."""
        return {"audits": _jobs(service)}

    @router.get("/audits", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, service: ServiceDep) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        context = {"jobs": _jobs(service), "when": _when, "auth": auth.enabled}
        return templates.TemplateResponse(request, "audits.html", context)

    return router
