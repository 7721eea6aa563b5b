"""The incidents pages: /ui/incidents (live ones first, MTTA and MTTR) and /ui/incidents/<id>
(the timeline, Acknowledge / Resolve and notes) — where every page and message links."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from lightkeeper.durations import humanize
from lightkeeper.incidents.model import Incident, IncidentNotFound, IncidentState
from lightkeeper.incidents.service import Incidents
from lightkeeper.incidents.stats import IncidentStats
from lightkeeper.rules.engine import AlertState
from lightkeeper.service import Service
from lightkeeper.web.alerts_ui import IMPLIED, LINKS, number, utc
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import TokenAuth, page_gate
from lightkeeper.web.dashboard import templates
from lightkeeper.web.incidents_api import STATS_DAYS, act, blocking, oncall_now, read, status_of

#: Remembers who pressed the buttons last, so people type their name once.
NAME_COOKIE = "lightkeeper_name"
PER_PAGE = 50
LIVE = 500  # live incidents shown at most (one per group_by value: few in practice)
Name = Annotated[str, Form(max_length=128)]
Text = Annotated[str, Form(max_length=10_000)]


def span(seconds: float | None) -> str | None:
    return None if seconds is None else humanize(seconds)


def incident_row(i: Incident, now: float) -> dict[str, Any]:
    """An incident as the pages show it; durations are "so far" while it lasts."""
    return {
        "id": i.id,
        "title": i.title,
        "state": i.state.value,
        "labels": i.labels,
        "opened": utc(i.opened_at),
        "opened_ago": humanize(now - i.opened_at),
        "acknowledged_by": i.acknowledged_by,
        "tta": span(i.time_to_acknowledge),
        "resolved_by": i.resolved_by,
        "ttr": span(i.time_to_resolve),
        "lasting": humanize(now - i.opened_at),
        "paged": i.paged,
        "rotation": i.rotation,
        "escalates_in": None
        if i.next_escalation_at is None or i.state is not IncidentState.OPEN
        else humanize(max(0.0, i.next_escalation_at - now)),
        "firing": len(i.firing),
        "alerts": len(i.alerts),
    }


def stats_view(stats: IncidentStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "mtta": span(stats.mtta) or "–",
        "mttr": span(stats.mttr) or "–",
    }


def alert_rows(i: Incident) -> list[dict[str, Any]]:
    return [
        {
            "rule": a.rule,
            "severity": a.severity.value,
            "state": "firing" if a.state is AlertState.FIRING else "resolved",
            "labels": {k: v for k, v in sorted(a.labels.items()) if k not in IMPLIED},
            "value": number(a.value),
            "threshold": number(a.threshold),
            "expr": a.expr,
            "fired": utc(a.fired_at),
            "resolved": None if a.resolved_at is None else utc(a.resolved_at),
            "summary": a.annotations.get("summary", ""),
            "runbook": LINKS.runbook(a),
            "monitor": a.labels.get("monitor"),
        }
        for a in i.alerts.values()
    ]


def timeline(i: Incident) -> list[dict[str, Any]]:
    return [
        {
            "at": utc(e.at),
            "kind": e.kind.value,
            "label": e.kind.value.replace("_", " "),
            "text": e.text,
            "actor": e.actor,
        }
        for e in i.events
    ]


def listing(
    conn: Connection, incidents: Incidents, before: int | None, now: float
) -> tuple[list[Incident], list[Incident], IncidentStats]:
    """Live incidents (open, then acknowledged), a page of resolved ones, the month's stats."""
    live = incidents.list(conn, IncidentState.OPEN, LIVE) + incidents.list(
        conn, IncidentState.ACKNOWLEDGED, LIVE
    )
    done = incidents.list(conn, IncidentState.RESOLVED, PER_PAGE, before)
    return live, done, incidents.stats(conn, now - STATS_DAYS * 86400, now)


def incidents_ui_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def default_name(request: Request) -> str:
        remembered = request.cookies.get(NAME_COOKIE)
        if remembered:
            return unquote(remembered)
        return (await auth.identify(request) if auth.enabled else None) or ""

    @router.get("/ui/incidents", response_class=HTMLResponse)
    async def incidents(
        request: Request, service: ServiceDep, before: int | None = None
    ) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        now = service.clock.now()
        live, done, stats = await blocking(
            read, service, listing, service.alerting.incidents, before, now
        )
        context = {
            "live": [incident_row(i, now) for i in live],
            "done": [incident_row(i, now) for i in done],
            "open": sum(i.state is IncidentState.OPEN for i in live),
            "acknowledged": sum(i.state is IncidentState.ACKNOWLEDGED for i in live),
            "stats": stats_view(stats),
            "days": STATS_DAYS,
            "before": before,
            "older": done[-1].id if len(done) == PER_PAGE else None,
            "oncall": oncall_now(service, now),
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "incidents.html", context)

    async def page(
        request: Request,
        service: Service,
        incident_id: int,
        form: dict[str, str],
        error: str | None = None,
        status_code: int = 200,
    ) -> Response:
        try:
            found = await blocking(read, service, service.alerting.incidents.get, incident_id)
        except IncidentNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        now = service.clock.now()
        context = {
            "i": incident_row(found, now),
            "alerts": alert_rows(found),
            "events": timeline(found),
            "form": form,
            "error": error,
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(
            request, "incident.html", context, status_code=status_code
        )

    @router.get("/ui/incidents/{incident_id}", response_class=HTMLResponse)
    async def incident(request: Request, service: ServiceDep, incident_id: int) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        return await page(request, service, incident_id, {"by": await default_name(request)})

    async def change(
        request: Request, service: Service, incident_id: int, what: str, by: str, text: str
    ) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        desk = service.alerting.incidents
        who = by.strip()
        try:
            if not who:
                raise ValueError("say who you are: fill in your name")
            if what == "note":
                await blocking(act, service, desk.note, incident_id, who, text)
            else:
                action = desk.ack if what == "ack" else desk.resolve
                await blocking(act, service, action, incident_id, who)
                # One name field serves all three buttons: a note typed before pressing
                # Acknowledge or Resolve goes on the timeline instead of being dropped.
                if text.strip():
                    await blocking(act, service, desk.note, incident_id, who, text)
        except (IncidentNotFound, ValueError) as exc:
            if isinstance(exc, IncidentNotFound):
                raise HTTPException(404, str(exc)) from None
            form = {"by": by, "text": text}
            return await page(request, service, incident_id, form, str(exc), status_of(exc))
        response = RedirectResponse(f"/ui/incidents/{incident_id}", status_code=303)
        response.set_cookie(
            NAME_COOKIE,
            quote(who),  # any name, even one a cookie could not hold as it is
            max_age=365 * 86400,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/ui/incidents/{incident_id}/ack")
    async def ack(
        request: Request, service: ServiceDep, incident_id: int, by: Name = "", text: Text = ""
    ) -> Response:
        return await change(request, service, incident_id, "ack", by, text)

    @router.post("/ui/incidents/{incident_id}/resolve")
    async def resolve(
        request: Request, service: ServiceDep, incident_id: int, by: Name = "", text: Text = ""
    ) -> Response:
        return await change(request, service, incident_id, "resolve", by, text)

    @router.post("/ui/incidents/{incident_id}/notes")
    async def note(
        request: Request, service: ServiceDep, incident_id: int, by: Name = "", text: Text = ""
    ) -> Response:
        return await change(request, service, incident_id, "note", by, text)

    return router
