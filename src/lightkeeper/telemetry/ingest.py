"""Turning what apps send into stored events and signals, answering only once it is stored.

Every request is decoded and checked whole before anything is taken from it (a 4xx
leaves no trace); then the quota is taken, all or nothing; then error events are
scrubbed and grouped and handed to :class:`Telemetry`'s writer, and the request waits
until the transaction holding them has committed. Requests that arrive while a write is
running go into the next one, so under load one commit carries many events (a group
commit) and each request still gets its answer only after its events are on disk.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from lightkeeper.telemetry.config import ProjectConfig, TelemetryConfig
from lightkeeper.telemetry.envelope import Envelope, IngestError
from lightkeeper.telemetry.events import normalize_route
from lightkeeper.telemetry.grouping import group
from lightkeeper.telemetry.scrub import DEFAULT_KEYS, scrub
from lightkeeper.telemetry.signals import TelemetrySignals
from lightkeeper.telemetry.store import EventRecord

#: Item types this ingest reads; others (attachments, replays, profiles…) are skipped.
CATEGORY = {
    "event": "error",
    "transaction": "transaction",
    "session": "session",
    "sessions": "session",
}
MAX_TAGS = 50
FAILED_TRACE = {"internal_error", "unknown_error", "unknown", "data_loss", "unavailable"}
#: How far an event's own timestamp may be from ours before ours is used instead.
CLOCK_SKEW = 86400.0


class Decoded:
    """An envelope's items as JSON, checked, with what they cost against the quota."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.transactions: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self.aggregates: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.event_id: str | None = None

    @property
    def cost(self) -> dict[str, int]:
        return {
            "error": len(self.events),
            "transaction": len(self.transactions),
            "session": len(self.sessions) + len(self.aggregates),
        }


def decode(envelope: Envelope) -> Decoded:
    """Parse each item we use; a malformed one rejects the whole envelope (400)."""
    decoded = Decoded()
    header_id = envelope.headers.get("event_id")
    for number, item in enumerate(envelope.items, 1):
        if item.type not in CATEGORY and item.type != "client_report":
            continue
        try:
            payload = orjson.loads(item.payload)
        except (ValueError, UnicodeDecodeError) as exc:  # orjson's error is a ValueError
            raise IngestError(400, f"item {number} ({item.type}): not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise IngestError(400, f"item {number} ({item.type}): not a JSON object")
        if item.type == "event":
            if isinstance(header_id, str) and "event_id" not in payload:
                payload["event_id"] = header_id
            payload["event_id"] = event_id_of(payload.get("event_id"), f"item {number}")
            decoded.event_id = decoded.event_id or payload["event_id"]
            decoded.events.append(payload)
        elif item.type == "transaction":
            decoded.transactions.append(payload)
        elif item.type == "session":
            decoded.sessions.append(payload)
        elif item.type == "sessions":
            decoded.aggregates.append(payload)
        else:
            decoded.reports.append(payload)
    if decoded.event_id is None and isinstance(header_id, str):
        decoded.event_id = event_id_of(header_id, "envelope header")
    return decoded


def event_id_of(value: Any, where: str) -> str:
    """A UUID in any of its spellings → 32 lowercase hex; none → a new one."""
    if value is None:
        return uuid.uuid4().hex
    try:
        return uuid.UUID(str(value)).hex
    except ValueError:
        raise IngestError(400, f"{where}: event_id is not a UUID") from None


def timestamp_of(value: Any, received: float) -> float:
    """Sentry sends epoch seconds or RFC 3339; a missing or absurd one is the receipt time."""
    ts: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        ts = float(value)
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            ts = None
    if ts is None or abs(ts - received) > CLOCK_SKEW or ts != ts:
        return received
    return ts


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] if text else None


def _tags(value: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = [tuple(p) for p in value if isinstance(p, list | tuple) and len(p) == 2]
    tags = []
    for k, v in pairs[:MAX_TAGS]:
        key, text = _text(k, 64), _text(v, 200)
        if key and text and key not in ("release", "environment", "level"):
            tags.append((key, text))
    return tags


def user_hash(event: Mapping[str, Any]) -> str | None:
    user = event.get("user")
    if not isinstance(user, dict):
        return None
    for field in ("id", "username", "email", "ip_address"):
        value = user.get(field)
        if value not in (None, "", "{{auto}}"):
            return hashlib.blake2b(str(value).encode(), digest_size=8).hexdigest()
    return None


class Processor:
    """The CPU side of ingest: events → records, transactions and sessions → signals."""

    def __init__(self, config: TelemetryConfig, signals: TelemetrySignals) -> None:
        self.config = config
        self.signals = signals
        self.keys = frozenset(DEFAULT_KEYS | {k.lower() for k in config.scrub.keys})

    def event(self, project: ProjectConfig, event: dict[str, Any], received: float) -> EventRecord:
        scrub(event, self.keys, self.config.scrub.emails)
        grouping = group(event)
        ts = timestamp_of(event.get("timestamp"), received)
        level = _text(event.get("level"), 16) or "error"
        release = _text(event.get("release"), 200)
        self.signals.error_event(project.name, ts)
        return EventRecord(
            project_id=project.id,
            event_id=str(event["event_id"]),
            hash=grouping.hash,
            title=grouping.title,
            culprit=grouping.culprit,
            method=grouping.method,
            components=grouping.components,
            level=level.lower(),
            ts=ts,
            received=received,
            release=release,
            environment=_text(event.get("environment"), 64),
            user=user_hash(event),
            tags=_tags(event.get("tags")),
            body=_dumps(event),
        )

    def transaction(self, project: ProjectConfig, tx: Mapping[str, Any], received: float) -> None:
        """A server transaction is a request; a page load or navigation is a page view."""
        contexts = _mapping(tx.get("contexts"))
        trace = _mapping(contexts.get("trace"))
        op = str(trace.get("op") or "")
        ts = timestamp_of(tx.get("timestamp"), received)
        if op in ("pageload", "navigation"):
            self.signals.page_view(project.name, ts)
            return
        if not op.startswith("http"):
            return
        start = tx.get("start_timestamp")
        started = timestamp_of(start, received) if start is not None else None
        duration = (ts - started) * 1000 if started is not None and started <= ts else None
        status = _http_status(tx, contexts)
        failed = (status is not None and status >= 500) or str(trace.get("status")) in FAILED_TRACE
        route = normalize_route(str(tx.get("transaction") or "unknown"))
        self.signals.request(project.name, route, failed, duration, ts)

    def sessions(self, project: ProjectConfig, decoded: Decoded, received: float) -> None:
        for s in decoded.sessions:
            ts = timestamp_of(s.get("timestamp"), received)
            if s.get("init") is True:
                self.signals.record("sessions.started", {"project": project.name}, 1.0, ts)
            if s.get("status") in ("crashed", "abnormal"):
                self.signals.record("sessions.crashed", {"project": project.name}, 1.0, ts)
        for agg in decoded.aggregates:
            for bucket in agg.get("aggregates") or []:
                if not isinstance(bucket, dict):
                    continue
                ts = timestamp_of(bucket.get("started"), received)
                counts = {
                    f: n
                    for f in ("exited", "errored", "abnormal", "crashed")
                    if isinstance(n := bucket.get(f), int) and not isinstance(n, bool) and n > 0
                }
                labels = {"project": project.name}
                if counts:
                    self.signals.record("sessions.started", labels, float(sum(counts.values())), ts)
                crashed = counts.get("crashed", 0) + counts.get("abnormal", 0)
                if crashed:
                    self.signals.record("sessions.crashed", labels, float(crashed), ts)
        for report in decoded.reports:
            dropped = sum(
                d.get("quantity", 0)
                for d in report.get("discarded_events") or []
                if isinstance(d, dict) and isinstance(d.get("quantity"), int)
            )
            if dropped:
                self.signals.record("sdk.discarded", {"project": project.name}, dropped, received)


def _dumps(event: dict[str, Any]) -> bytes:
    """The event as compact JSON; orjson (several times faster) unless it holds what orjson
    refuses — integers beyond 64 bits, which JSON allows."""
    try:
        return orjson.dumps(event)
    except TypeError:
        return json.dumps(event, separators=(",", ":"), default=str).encode()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _http_status(tx: Mapping[str, Any], contexts: Mapping[str, Any]) -> int | None:
    response = contexts.get("response")
    candidates = [response.get("status_code") if isinstance(response, dict) else None]
    tags = tx.get("tags")
    if isinstance(tags, dict):
        candidates.append(tags.get("http.status_code"))
    for value in candidates:
        try:
            return int(str(value))
        except (TypeError, ValueError):
            continue
    return None
