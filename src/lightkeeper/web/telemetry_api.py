"""The telemetry API (/api/v1/telemetry): projects, issues with their tags and events, an
issue's status, and a project's performance. Behind the dashboard token like the rest of
/api/v1; 404 with the fix when no telemetry projects are configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from lightkeeper.service import Service
from lightkeeper.telemetry import performance as perf
from lightkeeper.telemetry import queries
from lightkeeper.telemetry.commands import dsn_of
from lightkeeper.telemetry.config import ProjectConfig
from lightkeeper.telemetry.service import Telemetry
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.incidents_api import read

T = TypeVar("T")
#: Stands for the DSN's key, a secret: `lightkeeper telemetry dsn <project>` prints it whole.
MASK = "***"
NOT_CONFIGURED = "telemetry is not configured here: add telemetry.projects to the config"
LATEST_EVENTS = 10


class StatusIn(BaseModel):
    """The issue's new status: resolved, ignored, or unresolved (reopen)."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(examples=["resolved"])


# shared with the telemetry pages -----------------------------------------------------------


def telemetry_of(request: Request) -> Telemetry:
    service: Service = request.app.state.service
    if service.telemetry is None:
        raise HTTPException(404, NOT_CONFIGURED)
    return service.telemetry


TelemetryDep = Annotated[Telemetry, Depends(telemetry_of)]


def project_named(telemetry: Telemetry, name: str | None) -> ProjectConfig:
    """The project called ``name``; without one, the first configured."""
    projects = telemetry.config.projects
    if not name:
        return projects[0]
    found = telemetry.config.named(name)
    if found is None:
        names = ", ".join(p.name for p in projects)
        raise HTTPException(404, f"no telemetry project {name!r} (projects: {names})")
    return found


def masked_dsn(service: Service, project: ProjectConfig) -> str:
    return dsn_of(service.config.base_url(), MASK, project.id)


def check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise HTTPException(400, f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def named_issue(telemetry: Telemetry, issue: dict[str, Any]) -> dict[str, Any]:
    project = telemetry.config.project(issue["project_id"])
    return {"project": project.name if project else None, **issue}


def change_status(service: Service, issue_id: int, status: str) -> dict[str, Any] | None:
    """Set an issue's status in a transaction of its own. Blocking."""
    with service.store.engine.begin() as conn:
        return queries.set_status(conn, issue_id, status, service.clock.now())


async def reading(service: Service, query: Callable[..., T], *args: Any) -> T:
    """``query(conn, *args)`` off the event loop; a store failure is a 503."""
    return await service.read(read, service, query, *args)


# the routes -----------------------------------------------------------------------------------


def telemetry_router(require_auth: Any) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/telemetry", dependencies=[Depends(require_auth)], tags=["telemetry"]
    )

    @router.get("/projects", summary="Projects: events and issues stored, bytes, the DSN's shape")
    async def projects(service: ServiceDep, telemetry: TelemetryDep) -> dict[str, Any]:
        configured = telemetry.config.projects
        stats = await reading(service, queries.project_stats, [p.id for p in configured])
        return {
            "projects": [
                {
                    "name": p.name,
                    "id": p.id,
                    **stats[p.id],
                    "dsn": masked_dsn(service, p),
                }
                for p in configured
            ]
        }

    @router.get("/issues", summary="A project's issues; search, filters, order and pages")
    async def issues(
        service: ServiceDep,
        telemetry: TelemetryDep,
        project: Annotated[str | None, Query(description="Name; default the first.")] = None,
        q: Annotated[str, Query(max_length=200, description="In title or culprit.")] = "",
        status: Annotated[str | None, Query(description="unresolved, resolved, ignored")] = None,
        release: Annotated[str | None, Query(max_length=200)] = None,
        environment: Annotated[str | None, Query(max_length=64)] = None,
        sort: Annotated[str, Query(description="last_seen, first_seen or count")] = "last_seen",
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        chosen = project_named(telemetry, project)
        check(status, queries.STATUSES, "status")
        check(sort, queries.SORTS, "sort")
        f = queries.IssueFilter(q, status, release, environment, sort, page, per_page)
        found = await reading(service, queries.list_issues, chosen.id, f)
        found["items"] = [named_issue(telemetry, i) for i in found["items"]]
        return {"project": chosen.name, **found}

    @router.get("/issues/{issue_id}", summary="One issue: tags, hourly counts, latest events")
    async def issue(
        issue_id: int,
        service: ServiceDep,
        telemetry: TelemetryDep,
        events: Annotated[int, Query(ge=0, le=100)] = LATEST_EVENTS,
    ) -> dict[str, Any]:
        now = service.clock.now()
        found = await reading(service, queries.get_issue, issue_id, now, events)
        if found is None:
            raise HTTPException(404, f"no issue {issue_id}")
        return named_issue(telemetry, found)

    @router.get("/issues/{issue_id}/events", summary="An issue's stored events, newest first")
    async def events(
        issue_id: int,
        service: ServiceDep,
        _telemetry: TelemetryDep,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        found = await reading(service, queries.list_events, issue_id, page, per_page)
        if found is None:
            raise HTTPException(404, f"no issue {issue_id}")
        return {"issue_id": issue_id, **found}

    @router.post("/issues/{issue_id}/status", summary="Resolve, ignore or reopen an issue")
    async def status(
        issue_id: int, body: StatusIn, service: ServiceDep, telemetry: TelemetryDep
    ) -> dict[str, Any]:
        check(body.status, queries.STATUSES, "status")
        changed = await service.read(change_status, service, issue_id, body.status)
        if changed is None:
            raise HTTPException(404, f"no issue {issue_id}")
        return named_issue(telemetry, changed)

    @router.get("/performance", summary="Requests, errors, latency, RAG, cache and AI cost")
    async def performance(
        service: ServiceDep,
        telemetry: TelemetryDep,
        project: Annotated[str | None, Query(description="Name; default the first.")] = None,
        window: Annotated[str, Query(description="1h, 24h, 7d or 30d")] = "1h",
    ) -> dict[str, Any]:
        chosen = project_named(telemetry, project)
        check(window, tuple(perf.WINDOWS), "window")
        now = service.clock.now()
        return await reading(service, perf.performance, chosen.name, window, now)

    return router
