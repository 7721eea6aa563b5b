"""The telemetry pages: /issues (live list with search and filters), /issues/<id> (stack
trace, tags, occurrences, events; Resolve / Ignore / Reopen) and /performance (charts and
tables per route, RAG, cache and AI cost). Event data is the apps' and untrusted: the
templates autoescape all of it and charts get it as JSON through ``tojson``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from lightkeeper.durations import humanize
from lightkeeper.telemetry import performance as perf
from lightkeeper.telemetry import queries
from lightkeeper.web.alerts_ui import utc
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import TokenAuth, page_gate
from lightkeeper.web.dashboard import templates
from lightkeeper.web.telemetry_api import (
    change_status,
    check,
    project_named,
    reading,
    telemetry_of,
)

PER_PAGE = 50
#: Characters of an untrusted field shown (a frame's line of code, a tag's value …).
TEXT_MAX = 300
Status = Annotated[str, Form(max_length=16)]


def _text(value: Any, limit: int = TEXT_MAX) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def frame_view(frame: dict[str, Any]) -> dict[str, Any]:
    lineno = frame.get("lineno")
    return {
        "function": _text(frame.get("function")) or "?",
        "module": _text(frame.get("module")),
        "file": _text(frame.get("filename") or frame.get("abs_path")),
        "line": lineno if isinstance(lineno, int) and not isinstance(lineno, bool) else None,
        "context": _text(frame.get("context_line")).strip(),
        "in_app": frame.get("in_app") is True,
    }


def stack_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The exceptions of an event, the one raised last first, each with its frames most
    recent call first: the app's own frames, then the others (shown collapsed). When no
    frame is marked in_app, all are the app's: hiding every frame would show nothing."""
    chain = [_dict(e) for e in _list(_dict(event.get("exception")).get("values"))]
    if not chain:
        threads = [_dict(t) for t in _list(_dict(event.get("threads")).get("values"))]
        stack = next((t["stacktrace"] for t in threads if t.get("stacktrace")), None)
        stack = _dict(stack or event.get("stacktrace"))
        if not stack:
            return []
        message = _dict(event.get("logentry")).get("formatted") or event.get("message")
        chain = [{"type": "", "value": message, "stacktrace": stack}]
    shown = []
    for exc in reversed(chain):
        frames = [_dict(f) for f in _list(_dict(exc.get("stacktrace")).get("frames"))]
        views = [frame_view(f) for f in reversed(frames)]
        app = [f for f in views if f["in_app"]]
        system = [f for f in views if not f["in_app"]]
        shown.append(
            {
                "type": _text(exc.get("type")),
                "value": _text(exc.get("value"), 2000),
                "app": app or system,
                "system": system if app else [],
            }
        )
    return shown


def issue_row(issue: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        **issue,
        "first": utc(issue["first_seen"]),
        "first_ago": humanize(now - issue["first_seen"]),
        "last": utc(issue["last_seen"]),
        "last_ago": humanize(now - issue["last_seen"]),
        "resolved": utc(issue["resolved_at"]) if issue["resolved_at"] else None,
    }


def event_row(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "at": utc(event["ts"])}


def telemetry_ui_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/issues", response_class=HTMLResponse)
    async def issues(
        request: Request,
        service: ServiceDep,
        project: str | None = None,
        q: Annotated[str, Query(max_length=200)] = "",
        status: str = "unresolved",
        release: Annotated[str, Query(max_length=200)] = "",
        environment: Annotated[str, Query(max_length=64)] = "",
        sort: str = "last_seen",
        page: Annotated[int, Query(ge=1)] = 1,
    ) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        telemetry = telemetry_of(request)
        chosen = project_named(telemetry, project)
        f = queries.IssueFilter(
            q,
            status if status in queries.STATUSES else None,  # "all", or anything else
            release or None,
            environment or None,
            sort if sort in queries.SORTS else "last_seen",
            page,
            PER_PAGE,
        )
        found, values = await reading(service, _listing, chosen.id, f)
        now = service.clock.now()
        form = {
            "project": chosen.name,
            "q": q,
            "status": f.status or "all",
            "release": release,
            "environment": environment,
            "sort": f.sort,
        }
        context = {
            "projects": [p.name for p in telemetry.config.projects],
            "form": form,
            "found": found,
            "rows": [issue_row(i, now) for i in found["items"]],
            "values": values,
            "statuses": queries.STATUSES,
            "sorts": queries.SORTS,
            "older": "?" + urlencode({**form, "page": page + 1}),
            "newer": "?" + urlencode({**form, "page": page - 1}),
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "telemetry_issues.html", context)

    @router.get("/issues/{issue_id}", response_class=HTMLResponse)
    async def issue(request: Request, service: ServiceDep, issue_id: int) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        telemetry = telemetry_of(request)
        now = service.clock.now()
        found = await reading(service, queries.get_issue, issue_id, now)
        if found is None:
            raise HTTPException(404, f"no issue {issue_id}")
        project = telemetry.config.project(found["project_id"])
        events = found["events"]
        context = {
            "i": issue_row(found, now),
            "project": project.name if project else None,
            "stack": stack_of(events[0]["data"]) if events else [],
            "events": [event_row(e) for e in events],
            "tags": found["tags"],
            "occurrences": found["occurrences"],
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "telemetry_issue.html", context)

    @router.post("/issues/{issue_id}/status")
    async def status(
        request: Request, service: ServiceDep, issue_id: int, status: Status = ""
    ) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        telemetry_of(request)
        check(status, queries.STATUSES, "status")
        changed = await service.read(change_status, service, issue_id, status)
        if changed is None:
            raise HTTPException(404, f"no issue {issue_id}")
        return RedirectResponse(f"/issues/{issue_id}", status_code=303)

    @router.get("/performance", response_class=HTMLResponse)
    async def performance(
        request: Request, service: ServiceDep, project: str | None = None, window: str = "1h"
    ) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        telemetry = telemetry_of(request)
        chosen = project_named(telemetry, project)
        window = window if window in perf.WINDOWS else "1h"
        now = service.clock.now()
        data = await reading(service, perf.performance, chosen.name, window, now)
        context = {
            "projects": [p.name for p in telemetry.config.projects],
            "project": chosen.name,
            "windows": list(perf.WINDOWS),
            "window": window,
            "p": data,
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "telemetry_performance.html", context)

    return router


def _listing(
    conn: Connection, project_id: int, f: queries.IssueFilter
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The list page's two reads on one connection: the issues and the filters' values."""
    return queries.list_issues(conn, project_id, f), queries.filter_values(conn, project_id)
