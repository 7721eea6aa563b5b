"""The incidents API: incidents with their timelines (ack, resolve, note), MTTA and MTTR,
and who is on call (/api/v1/incidents, /api/v1/oncall)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from lightkeeper.errors import StoreError
from lightkeeper.incidents.model import (
    Incident,
    IncidentNotFound,
    IncidentState,
    IncidentStateError,
    describe,
)
from lightkeeper.incidents.rotation import Rotation, Shift
from lightkeeper.incidents.service import IncidentUpdate
from lightkeeper.service import Service
from lightkeeper.store.engine import describe_store_error
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import TokenAuth

T = TypeVar("T")
STATS_DAYS = 30
#: What ``act`` calls: ``Incidents.ack``, ``.resolve`` or ``.note``, bound to the service.
Action = Callable[..., IncidentUpdate]


class ActorIn(BaseModel):
    """Who acknowledges or resolves; without ``by``, the name of the request's token."""

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, min_length=1, max_length=128, examples=["ana"])


class NoteIn(ActorIn):
    """A note on the incident's timeline: what was found, what was done."""

    text: str = Field(min_length=1, max_length=10_000, examples=["failed over to the replica"])


# shared with the incidents pages ------------------------------------------------------------


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run store work off the event loop. An incident's own errors pass through, to be
    answered as 404/409/422 (:func:`status_of`); anything else means the store is away."""
    try:
        return await asyncio.to_thread(fn, *args)
    except (IncidentNotFound, ValueError):
        raise
    except Exception as exc:
        raise StoreError(f"the store is unavailable: {describe_store_error(exc)}") from exc


def status_of(exc: Exception) -> int:
    """The HTTP status of an incident error. IncidentStateError is a ValueError: test it first."""
    if isinstance(exc, IncidentNotFound):
        return 404
    if isinstance(exc, IncidentStateError):  # IncidentConflict too: trying again works
        return 409
    return 422


def act(service: Service, action: Action, *args: Any) -> dict[str, Any]:
    """Change an incident (``action(conn, *args, now)``) and queue the messages it sends in
    the same transaction; wake the outbox once committed. Blocking."""
    now = service.clock.now()
    with service.store.engine.begin() as conn:
        update = action(conn, *args, now)
        if update.notifications and service.outbox is not None:
            service.outbox.add(conn, update.notifications, now)
    if update.notifications and service.outbox is not None:
        service.outbox.wake()
    return describe(update.incident)


def read(service: Service, query: Callable[..., T], *args: Any) -> T:
    """``query(conn, *args)`` on a connection of its own. Blocking."""
    with service.store.engine.connect() as conn:
        return query(conn, *args)


def brief(incident: Incident) -> dict[str, Any]:
    """An incident for lists: everything but the timeline."""
    return {k: v for k, v in describe(incident).items() if k != "events"}


def shift_view(shift: Shift, channels: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "person": shift.person,
        "starts_at": shift.starts_at,
        "ends_at": shift.ends_at,
        "override": shift.override,
        "channels": channels.get(shift.person, []),
    }


def oncall_view(service: Service, now: float) -> list[dict[str, Any]]:
    """Each rotation: who holds the pager now and until when, the next two hand-offs, and
    the overrides not yet over."""
    oncall = service.config.oncall
    channels = {name: list(p.channels) for name, p in oncall.people.items()}
    paging = service.alerting.incidents.pager.rotation
    rotations = []
    for config in oncall.rotations:
        rotation = Rotation(config)
        current, *following = rotation.upcoming(now, 3)
        rotations.append(
            {
                "name": config.name,
                "tz": config.tz,
                "handoff": config.handoff,
                "escalate_after": config.escalate_after,
                "pages_incidents": paging is not None and paging.name == config.name,
                "now": shift_view(current, channels),
                "next": [shift_view(s, channels) for s in following],
                "overrides": [
                    {"person": p, "starts_at": s, "ends_at": e, "active": s <= now}
                    for p, s, e in sorted(rotation.overrides, key=lambda o: o[1])
                    if e > now
                ],
            }
        )
    return rotations


def local(ts: float, tz: str) -> str:
    """A hand-off as the rotation's people read it: on their own clock."""
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def oncall_now(service: Service, now: float) -> list[dict[str, Any]]:
    """The pages' "on call now" box: each rotation's person, until when, and who is next."""
    return [
        {
            "name": r["name"],
            "person": r["now"]["person"],
            "override": r["now"]["override"],
            "until": local(r["now"]["ends_at"], r["tz"]),
            "next": r["next"][0]["person"] if r["next"] else None,
        }
        for r in oncall_view(service, now)
    ]


# the routes -----------------------------------------------------------------------------------


def incidents_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.require)], tags=["incidents"])

    async def answer(fn: Callable[..., T], *args: Any) -> T:
        try:
            return await blocking(fn, *args)
        except (IncidentNotFound, ValueError) as exc:
            raise HTTPException(status_of(exc), str(exc)) from None

    async def actor(request: Request, body: ActorIn) -> str:
        if body.by is not None:
            return body.by
        name = await auth.identify(request) if auth.enabled else None
        if name is None:
            raise HTTPException(422, 'say who is acting: send {"by": "<your name>"}')
        return name

    @router.get("/incidents", summary="Incidents, newest first; paged with ?before=<id>")
    async def incidents(
        service: ServiceDep,
        state: IncidentState | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[int | None, Query(ge=1, description="Only ids below this.")] = None,
    ) -> dict[str, Any]:
        found = await answer(read, service, service.alerting.incidents.list, state, limit, before)
        return {
            "items": [brief(i) for i in found],
            "next_before": found[-1].id if len(found) == limit else None,
        }

    @router.get("/incidents/stats", summary="Count, MTTA and MTTR of incidents opened in a period")
    async def stats(
        service: ServiceDep,
        since: Annotated[float | None, Query(description="Epoch s; default 30 days ago.")] = None,
        until: Annotated[float | None, Query(description="Epoch s; default now.")] = None,
    ) -> dict[str, Any]:
        end = service.clock.now() if until is None else until
        start = end - STATS_DAYS * 86400 if since is None else since
        found = await answer(read, service, service.alerting.incidents.stats, start, end)
        return asdict(found)

    @router.get("/incidents/{incident_id}", summary="One incident with its alerts and timeline")
    async def incident(incident_id: int, service: ServiceDep) -> dict[str, Any]:
        found = await answer(read, service, service.alerting.incidents.get, incident_id)
        return describe(found)

    @router.post("/incidents/{incident_id}/ack", summary="Acknowledge: escalation stops")
    async def ack(
        incident_id: int, body: ActorIn, request: Request, service: ServiceDep
    ) -> dict[str, Any]:
        who = await actor(request, body)
        return await answer(act, service, service.alerting.incidents.ack, incident_id, who)

    @router.post("/incidents/{incident_id}/resolve", summary="Resolve; everyone paged is told")
    async def resolve(
        incident_id: int, body: ActorIn, request: Request, service: ServiceDep
    ) -> dict[str, Any]:
        who = await actor(request, body)
        return await answer(act, service, service.alerting.incidents.resolve, incident_id, who)

    @router.post("/incidents/{incident_id}/notes", status_code=201, summary="Add a note")
    async def note(
        incident_id: int, body: NoteIn, request: Request, service: ServiceDep
    ) -> dict[str, Any]:
        who = await actor(request, body)
        return await answer(
            act, service, service.alerting.incidents.note, incident_id, who, body.text
        )

    @router.get("/oncall", summary="Each rotation: who is on call now, until when, who is next")
    async def oncall(service: ServiceDep) -> dict[str, Any]:
        now = service.clock.now()
        return {"at": now, "rotations": oncall_view(service, now)}

    return router
