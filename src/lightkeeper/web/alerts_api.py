"""The alerting API: active alerts (/api/v1/alerts) and silences (/api/v1/silences)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lightkeeper.durations import parse_duration
from lightkeeper.rules.engine import AlertState, describe
from lightkeeper.rules.mute import parse_matcher
from lightkeeper.store import alerting as db
from lightkeeper.web.api import ServiceDep

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class SilenceIn(BaseModel):
    """A new silence: alerts matching every matcher stay quiet until it ends."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[str] = Field(min_length=1, examples=[["alertname=site-down", "monitor=~api.*"]])
    duration: str | None = Field(None, examples=["2h"], description="From now (or starts_at).")
    starts_at: float | None = Field(None, description="Epoch seconds; default now.")
    ends_at: float | None = Field(None, description="Epoch seconds; or give duration.")
    author: str = Field(min_length=1, max_length=128)
    comment: str = Field(min_length=1, max_length=2000)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_matcher(value)
        return values

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= 0:
            raise ValueError("duration must be more than 0s")
        return value


def alerts_router(require_auth: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_auth)], tags=["alerts"])

    @router.get("/alerts", summary="Active alerts (pending and firing), worst first")
    async def alerts(
        service: ServiceDep,
        state: Literal["pending", "firing"] | None = None,
        severity: Literal["critical", "warning", "info"] | None = None,
    ) -> dict[str, Any]:
        now = service.clock.now()
        active = service.alerting.engine.active()
        firing = [a for a in active if a.state is AlertState.FIRING]
        chosen = [
            a
            for a in active
            if (state is None or a.state.value == state)
            and (severity is None or a.severity.value == severity)
        ]
        chosen.sort(
            key=lambda a: (
                a.state is not AlertState.FIRING,
                SEVERITY_ORDER[a.severity.value],
                a.rule,
            )
        )
        return {
            "items": [
                {**describe(a), "muted": service.alerting.muter.why_muted(a, firing, now)}
                for a in chosen
            ],
            "total": len(chosen),
            "evaluated_at": service.alerting.last_tick,
        }

    @router.get("/silences", summary="Silences; expired ones too with ?all=true")
    async def silences(
        service: ServiceDep, all: Annotated[bool, Query(description="Include expired.")] = False
    ) -> dict[str, Any]:
        def load() -> list[dict[str, Any]]:
            with service.store.engine.connect() as conn:
                return db.load_silences(conn, service.clock.now(), include_expired=all)

        items = await service.read(load)
        return {"items": items, "total": len(items)}

    @router.post("/silences", status_code=201, summary="Create a silence")
    async def create_silence(body: SilenceIn, service: ServiceDep) -> dict[str, Any]:
        now = service.clock.now()
        starts = body.starts_at if body.starts_at is not None else now
        if body.ends_at is not None:
            ends = body.ends_at
        elif body.duration is not None:
            ends = starts + parse_duration(body.duration)
        else:
            raise HTTPException(422, "give duration (e.g. 2h) or ends_at")
        if ends <= starts or ends <= now:
            raise HTTPException(422, "the silence must end after it starts and after now")
        silence_id = await service.read(
            service.alerting.add_silence, body.matchers, starts, ends, body.author, body.comment
        )
        return {"id": silence_id, "starts_at": starts, "ends_at": ends}

    @router.delete("/silences/{silence_id}", summary="Expire a silence now")
    async def expire_silence(silence_id: int, service: ServiceDep) -> dict[str, Any]:
        if not await service.read(service.alerting.expire_silence, silence_id):
            raise HTTPException(404, f"no active silence #{silence_id}")
        return {"id": silence_id, "expired": True}

    return router
