"""The dashboard (/), its live fragments (/ui/…), the login page and the public status page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from lightkeeper.durations import humanize
from lightkeeper.store import HOUR
from lightkeeper.types import State
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import COOKIE, TokenAuth, page_gate
from lightkeeper.web.views import counts, monitor_view, select_monitors, sparkline

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["humanize"] = humanize
templates.env.globals["sparkline"] = sparkline
NO_VALUE = "\u2013"  # an en dash: "no value yet"
templates.env.filters["pct"] = lambda v: NO_VALUE if v is None else f"{v * 100:.2f}%"
templates.env.filters["ms"] = lambda v: (
    NO_VALUE if v is None else f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"
)

PER_PAGE = 50


def dashboard_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def gate(request: Request) -> Response | None:
        return await page_gate(auth, request)

    def table_route(path: str, template: str) -> None:
        """The whole page (/) and its live fragment (/ui/rows) take the same filters."""

        @router.get(path, response_class=HTMLResponse, name=template)
        async def table(
            request: Request,
            service: ServiceDep,
            q: str | None = None,
            state: str | None = None,
            page: Annotated[int, Query(ge=1)] = 1,
        ) -> Response:
            if (denied := await gate(request)) is not None:
                return denied
            chosen = State(state) if state in {s.value for s in State} else None
            f = {"q": q or "", "state": chosen.value if chosen else "", "page": page}
            return templates.TemplateResponse(request, template, _table(service, f))

    table_route("/", "dashboard.html")
    table_route("/ui/rows", "_rows.html")

    @router.get("/ui/monitors/{name}", response_class=HTMLResponse)
    async def detail(request: Request, name: str, service: ServiceDep) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        rt = service.monitors.get(name)
        if rt is None:
            raise HTTPException(404, f"no monitor named {name!r}")
        now = service.clock.now()
        recent = await service.read(service.store.recent_results, rt.id, 200)
        hourly = await service.read(service.store.rollup_series, rt.id, HOUR, now - 7 * 86400)
        series = {
            "t": [r.ts for r in reversed(recent)],
            "ms": [r.latency_ms for r in reversed(recent)],
            "ht": [r.bucket for r in hourly],
            "havg": [
                (r.latency_sum / r.latency_count) if r.latency_count else None for r in hourly
            ],
            "hup": [((r.up + r.degraded) / r.checks) if r.checks else None for r in hourly],
        }
        return templates.TemplateResponse(
            request,
            "monitor.html",
            {
                "m": monitor_view(service, rt),
                "results": recent[:50],
                "series": json.dumps(series),
                "now": now,
            },
        )

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return templates.TemplateResponse(request, "login.html", {"error": None})

    @router.post("/login", response_class=HTMLResponse)
    async def login(
        request: Request, service: ServiceDep, token: Annotated[str, Form(max_length=512)]
    ) -> Response:
        if await auth.check(token.strip()) is None:
            return templates.TemplateResponse(
                request, "login.html", {"error": "That token is not valid."}, status_code=401
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE,
            token.strip(),
            max_age=service.config.auth.session_hours * 3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @router.get("/status", response_class=HTMLResponse)
    async def status_page(request: Request, service: ServiceDep) -> Response:
        page_cfg = service.config.status_page
        if not page_cfg.enabled:
            raise HTTPException(404, "the status page is turned off")
        chosen = select_monitors(
            service, per_page=max(1, len(service.monitors)), names=page_cfg.monitors
        )
        return templates.TemplateResponse(
            request,
            "status.html",
            {
                "title": page_cfg.title,
                "health": service.health().value,
                "monitors": [monitor_view(service, rt) for rt in chosen.items],
            },
        )

    def _table(service: Any, f: dict[str, Any]) -> dict[str, Any]:
        chosen = select_monitors(
            service, f["q"], State(f["state"]) if f["state"] else None, f["page"], PER_PAGE
        )
        return {
            "f": f,
            "rows": [(monitor_view(service, rt), sparkline(rt)) for rt in chosen.items],
            "page": chosen,
            "counts": counts(service),
            "health": service.health().value,
            "now": service.clock.now(),
            "auth": auth.enabled,
        }

    return router
