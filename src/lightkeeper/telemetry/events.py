"""App events (``POST /api/v1/events``): the body's models, its parsing into readable 400s,
and what each event records in the telemetry signals.

The event names and fields are the seed's ``PerformanceMonitor`` calls (``api_call``,
``rag_search``, ``cache_access``) plus AI usage, page views and sessions; the seed's own
spellings (``duration``, ``results_count``, ``timestamp: Date.now()``) are accepted as sent.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lightkeeper.telemetry.config import TelemetryConfig
from lightkeeper.telemetry.envelope import IngestError
from lightkeeper.telemetry.signals import TelemetrySignals

MAX_EVENTS = 1000
#: Accepted event times, relative to when the batch arrives: a day late, five minutes early.
PAST = 24 * 3600.0
FUTURE = 5 * 60.0
#: Above this a number is epoch milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_ABOVE = 1e11
#: Errors shown in a 400: enough to fix a batch, short enough to read.
_SHOWN_ERRORS = 3

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX_ID = re.compile(r"^(?=.*\d)[0-9a-fA-F]{12,}$")
# cuid, ulid, nanoid without - or _, Mongo ids, and prefixed ones such as Stripe's cus_…;
# a digit is required so that long words and slugs stay as they are.
_OPAQUE_ID = re.compile(r"^(?:[a-z]{1,12}_)?(?=[A-Za-z]*\d)[A-Za-z0-9]{16,}$")
_CACHE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: Counts (tokens, results) are bounded so that arithmetic on them stays in a float.
Count = Annotated[int, Field(ge=0, le=10**15)]


def normalize_route(path: str) -> str:
    """A route for labels: no query or fragment, ids replaced by ``:id``.

    A segment is an id when it is a number, a UUID, hex of 12+ characters with a digit, or
    an opaque token of 16+ letters and digits with a digit (optionally ``prefix_``)::

        /api/chat/123?x=1                          → /api/chat/:id
        /u/550e8400-e29b-41d4-a716-446655440000/   → /u/:id
        https://example.com/docs/getting-started   → /docs/getting-started
    """
    if "://" in path:
        path = urlsplit(path).path
    path = path.split("?", 1)[0].split("#", 1)[0]
    segments = [s for s in path.split("/") if s]
    shown = [":id" if _is_id(s) else s for s in segments]
    joined = "/".join(shown)
    return "/" + joined if path.startswith("/") or not joined else joined


def _is_id(segment: str) -> bool:
    return (
        segment.isdigit()
        or bool(_UUID.match(segment))
        or bool(_HEX_ID.match(segment))
        or bool(_OPAQUE_ID.match(segment))
    )


def cache_name(key: str) -> str:
    """The cache a key belongs to: its prefix before the first ``:`` (``embeddings:abc`` →
    ``embeddings``), ``default`` without one, ``other`` if the prefix is not a plain name —
    never the key itself, which may hold user data and has no bound on its values."""
    if ":" not in key:
        return "default"
    prefix = key.split(":", 1)[0]
    return prefix if _CACHE_NAME.match(prefix) else "other"


class _Event(BaseModel):
    # Strict: JSON's true is not 1 and "12" is not a number; unknown fields are an app's
    # own properties, which it may send and we need not read.
    model_config = ConfigDict(strict=True, extra="ignore")

    timestamp: float = Field(
        default=None,
        validate_default=True,
        description="Epoch ms (Date.now()), epoch seconds or ISO-8601; missing: now.",
    )

    @field_validator("timestamp", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: object, info: ValidationInfo) -> float:
        context = info.context if isinstance(info.context, dict) else {}
        now = float(context.get("now", time.time()))
        if value is None:
            return now
        ts = _to_epoch(value)
        if ts < now - PAST:
            raise ValueError("more than 24 hours old (events are accepted up to a day late)")
        if ts > now + FUTURE:
            raise ValueError("more than 5 minutes in the future (is the clock right?)")
        return ts


def _to_epoch(value: object) -> float:
    """Epoch seconds from epoch ms, epoch seconds or an ISO-8601 string (UTC if no zone)."""
    bad = ValueError("timestamp must be epoch milliseconds, epoch seconds or ISO-8601")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise bad from None
        if not math.isfinite(seconds):
            raise bad
        return seconds / 1000.0 if abs(seconds) > _MS_ABOVE else seconds
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when.timestamp()
        except (ValueError, OverflowError):
            raise bad from None
    raise bad


class ApiCall(_Event):
    type: Literal["api_call"]
    endpoint: str = Field(min_length=1, max_length=200)
    duration_ms: NonNegative = Field(validation_alias=AliasChoices("duration_ms", "duration"))
    status: int = Field(ge=100, le=599)


class RagSearch(_Event):
    type: Literal["rag_search"]
    duration_ms: NonNegative = Field(validation_alias=AliasChoices("duration_ms", "duration"))
    results: Count = Field(validation_alias=AliasChoices("results", "results_count"))
    query_length: Count | None = None


class CacheAccess(_Event):
    type: Literal["cache_access"]
    key: str = Field(max_length=1000)
    hit: bool


class AiUsage(_Event):
    type: Literal["ai_usage"]
    provider: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    input_tokens: Count
    output_tokens: Count
    user: str | None = Field(None, max_length=200)
    cost_usd: NonNegative | None = Field(None, description="Wins over the price table.")


class PageView(_Event):
    type: Literal["page_view"]
    path: str = Field(max_length=2000)
    session: str | None = Field(None, max_length=200)


class Session(_Event):
    type: Literal["session"]
    duration_s: NonNegative
    duration_ms: NonNegative | None = Field(None, description="Converted to duration_s.")
    pages: int = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _seconds(cls, data: object) -> object:
        if isinstance(data, dict) and "duration_s" not in data and "duration_ms" in data:
            ms = data["duration_ms"]
            if isinstance(ms, int | float) and not isinstance(ms, bool) and 0 <= ms <= 1e308:
                return {**data, "duration_s": ms / 1000.0}
            # A bad duration_ms is reported under its own name, not as a missing duration_s.
            return {**data, "duration_s": 0.0}
        return data


Event = Annotated[
    ApiCall | RagSearch | CacheAccess | AiUsage | PageView | Session,
    Field(discriminator="type"),
]
TYPES = ("api_call", "rag_search", "cache_access", "ai_usage", "page_view", "session")


class EventBatch(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS)


def parse_batch(body: bytes, now: float) -> EventBatch:
    """``{"events": [...]}`` or a bare list, validated; any problem is an :class:`IngestError`
    naming the place: ``events[3].duration_ms: Input should be greater than or equal to 0``."""
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise IngestError(400, f"body is not JSON: {_short(str(exc))}") from None
    if isinstance(data, list):
        data = {"events": data}
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        if len(data["events"]) > MAX_EVENTS:
            raise IngestError(
                413, f"{len(data['events'])} events in one request; send at most {MAX_EVENTS}"
            )
    elif not isinstance(data, dict):
        raise IngestError(400, 'body must be {"events": [...]} or a list of events')
    try:
        return EventBatch.model_validate(data, context={"now": now})
    except ValidationError as exc:
        raise IngestError(400, _readable(exc)) from None
    except RecursionError:
        raise IngestError(400, "body is nested too deeply") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _readable(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = [_one(e["loc"], e["type"], e["msg"], e.get("ctx")) for e in errors[:_SHOWN_ERRORS]]
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _one(loc: tuple[int | str, ...], kind: str, msg: str, ctx: object) -> str:
    # ('events', 3, 'api_call', 'duration_ms') → events[3].duration_ms: the union's tag
    # (the third element) says which model, which the reader already knows from "type".
    parts = list(loc)
    if len(parts) >= 3 and parts[0] == "events" and parts[2] in TYPES:
        del parts[2]
    place = ""
    for part in parts:
        place += f"[{part}]" if isinstance(part, int) else (f".{part}" if place else part)
    if kind == "union_tag_invalid" and isinstance(ctx, dict):
        tag = _short(str(ctx.get("tag", "")), 40)
        place, msg = f"{place}.type", f"unknown event type {tag!r}; one of: {', '.join(TYPES)}"
    elif kind == "union_tag_not_found":
        place, msg = f"{place}.type", f"missing; one of: {', '.join(TYPES)}"
    elif kind == "model_attributes_type":
        msg = "should be a JSON object"
    msg = msg.removeprefix("Value error, ")
    return f"{place}: {msg}" if place else msg


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Applied:
    """What a batch did: events recorded, and AI models the price table does not know."""

    accepted: int
    unpriced_models: set[str] = field(default_factory=set)


def apply(
    batch: EventBatch, project: str, signals: TelemetrySignals, telemetry: TelemetryConfig
) -> Applied:
    """Record every event of ``batch`` as the signals in ``telemetry/signals.py``."""
    applied = Applied(accepted=0)
    for event in batch.events:
        ts = event.timestamp
        if isinstance(event, ApiCall):
            route = normalize_route(event.endpoint)
            signals.request(project, route, event.status >= 500, event.duration_ms, ts)
        elif isinstance(event, RagSearch):
            signals.rag_search(project, event.duration_ms, event.results, ts)
        elif isinstance(event, CacheAccess):
            signals.cache_access(project, cache_name(event.key), event.hit, ts)
        elif isinstance(event, AiUsage):
            cost = event.cost_usd
            if cost is None:
                price = telemetry.price(event.model)
                if price is None:
                    applied.unpriced_models.add(event.model)
                else:
                    cost = (
                        event.input_tokens * price.input + event.output_tokens * price.output
                    ) / 1e6
            tokens = event.input_tokens + event.output_tokens
            signals.ai_usage(project, event.model, event.user or "", tokens, cost, ts)
        elif isinstance(event, PageView):
            signals.page_view(project, ts)
        else:
            signals.session(project, event.duration_s, event.pages, ts)
        applied.accepted += 1
    return applied
