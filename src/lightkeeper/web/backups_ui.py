"""/backups: each job's newest backup, verification and drill against its RPO and RTO,
the backups in its target, and the recent runs with what they found."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lightkeeper.backup import runs
from lightkeeper.backup.commands import human_size
from lightkeeper.cron import next_run
from lightkeeper.service import Service
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import TokenAuth, page_gate
from lightkeeper.web.dashboard import templates

LISTED = 20  # backups shown per job


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "–"


def _jobs(service: Service) -> list[dict[str, Any]]:
    assert service.backups is not None
    now = service.clock.now()
    engine = service.store.engine
    shown = []
    for job in service.config.backups.jobs:
        good = runs.latest(engine, job.name, "backup", ok=True)
        verify = runs.latest(engine, job.name, "verify")
        drill = runs.latest(engine, job.name, "drill")
        try:
            listed = service.backups.backups(job)[:LISTED]
            listing_error = None
        except Exception as exc:  # a target that is away is shown, not a 500
            listed, listing_error = [], str(exc)
        age = now - good.finished if good else None
        shown.append(
            {
                "job": job,
                "good": good,
                "age": age,
                "stale": age is None or age > job.rpo,
                "verify": verify,
                "drill": drill,
                "next": next_run(job.schedule, job.tz, now),
                "backups": listed,
                "listing_error": listing_error,
            }
        )
    return shown


def backups_ui_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/backups", response_class=HTMLResponse)
    async def page(request: Request, service: ServiceDep) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        jobs = await asyncio.to_thread(_jobs, service) if service.backups else []
        recent = await asyncio.to_thread(runs.recent, service.store.engine, None, 30)
        context = {
            "jobs": jobs,
            "recent": recent,
            "when": _when,
            "size": human_size,
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "backups.html", context)

    return router
