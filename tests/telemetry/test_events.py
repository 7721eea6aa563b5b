"""App events: the body's validation (errors that name the place), and what each event
records in the telemetry signals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.rules.signals import SignalStore
from lightkeeper.telemetry.config import TelemetryConfig
from lightkeeper.telemetry.envelope import IngestError
from lightkeeper.telemetry.events import (
    MAX_EVENTS,
    ApiCall,
    EventBatch,
    Session,
    apply,
    cache_name,
    normalize_route,
    parse_batch,
)
from lightkeeper.telemetry.signals import TelemetrySignals

NOW = 1_800_000_030.0  # half a minute into a minute
MINUTE = 1_800_000_000.0
PRICES = TelemetryConfig.model_validate(
    {
        "prices": {
            "claude-sonnet-4": {"input": 3, "output": 15},
            "gpt-4o*": {"input": 2.5, "output": 10},
        }
    }
)


def _parse(*events: dict[str, Any]) -> EventBatch:
    return parse_batch(json.dumps({"events": list(events)}).encode(), NOW)


def _signals() -> TelemetrySignals:
    return TelemetrySignals(rules=SignalStore(names=set()))


def _series(signals: TelemetrySignals, name: str) -> dict[str, tuple[int, float]]:
    """Label values other than project → (count, sum) of the one minute recorded."""
    found = {}
    for series in signals.own.select(name):
        [minute] = series.minutes.values()
        extra = ",".join(f"{k}={v}" for k, v in sorted(series.labels.items()) if k != "project")
        found[extra] = (minute.count, minute.sum)
    return found


# --- validation -----------------------------------------------------------------------------

VALID = [
    {"type": "api_call", "endpoint": "/api/chat", "duration_ms": 12.5, "status": 200},
    {"type": "rag_search", "duration_ms": 40, "results": 5, "query_length": 31},
    {"type": "cache_access", "key": "embeddings:abc", "hit": True},
    {
        "type": "ai_usage",
        "provider": "anthropic",
        "model": "claude-sonnet-4",
        "input_tokens": 10,
        "output_tokens": 20,
        "user": "u1",
        "cost_usd": 0.01,
    },
    {"type": "page_view", "path": "/pricing", "session": "s1"},
    {"type": "session", "duration_s": 30, "pages": 3},
    {"type": "session", "duration_ms": 30_000, "pages": 1},
    {"type": "page_view", "path": "/", "timestamp": "2027-01-15T08:00:00Z"},
    {"type": "page_view", "path": "/", "extra_property": "ignored"},
]


@pytest.mark.parametrize("event", VALID)
def test_valid_events_parse(event: dict[str, Any]) -> None:
    batch = parse_batch(json.dumps({"events": [event]}).encode(), NOW)
    assert batch.events[0].type == event["type"]


INVALID = [
    (
        {"type": "api_call", "endpoint": "/x", "duration_ms": -1, "status": 200},
        "events[0].duration_ms: Input should be greater than or equal to 0",
    ),
    (
        {"type": "api_call", "endpoint": "/x", "duration_ms": 1, "status": 99},
        "events[0].status: Input should be greater than or equal to 100",
    ),
    (
        {"type": "api_call", "endpoint": "", "duration_ms": 1, "status": 200},
        "events[0].endpoint: String should have at least 1 character",
    ),
    (
        {"type": "api_call", "endpoint": "/x", "status": 200},
        "events[0].duration_ms: Field required",
    ),
    (
        {"type": "rag_search", "duration_ms": 1, "results": "5"},
        "events[0].results: Input should be a valid integer",
    ),
    (
        {"type": "cache_access", "key": "k", "hit": 1},
        "events[0].hit: Input should be a valid boolean",
    ),
    (
        {
            "type": "ai_usage",
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": -1,
            "output_tokens": 0,
        },
        "events[0].input_tokens: Input should be greater than or equal to 0",
    ),
    (
        {
            "type": "ai_usage",
            "provider": "openai",
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 0,
            "cost_usd": -0.5,
        },
        "events[0].cost_usd: Input should be greater",
    ),
    ({"type": "page_view"}, "events[0].path: Field required"),
    ({"type": "session", "pages": 2}, "events[0].duration_s: Field required"),
    ({"type": "session", "duration_ms": -5, "pages": 2}, "events[0].duration_ms: Input should"),
    ({"type": "session", "duration_s": 1, "pages": 0}, "events[0].pages: Input should be greater"),
    ({"type": "clicked"}, "events[0].type: unknown event type 'clicked'; one of: api_call"),
    ({"endpoint": "/x"}, "events[0].type: missing; one of: api_call"),
    ("api_call", "events[0]: should be a JSON object"),
    (
        {"type": "page_view", "path": "/", "timestamp": NOW - 25 * 3600},
        "events[0].timestamp: more than 24 hours old",
    ),
    (
        {"type": "page_view", "path": "/", "timestamp": (NOW + 600) * 1000},
        "events[0].timestamp: more than 5 minutes in the future",
    ),
    (
        {"type": "page_view", "path": "/", "timestamp": "yesterday"},
        "events[0].timestamp: timestamp must be epoch milliseconds, epoch seconds or ISO-8601",
    ),
    ({"type": "page_view", "path": "/", "timestamp": True}, "events[0].timestamp: timestamp must"),
    (
        {"type": "page_view", "path": "/", "timestamp": 10**400},
        "events[0].timestamp: timestamp must",
    ),
]


@pytest.mark.parametrize(("event", "message"), INVALID)
def test_invalid_events_name_the_place(event: object, message: str) -> None:
    ok = {"type": "page_view", "path": "/"}
    with pytest.raises(IngestError) as caught:
        parse_batch(json.dumps({"events": [event, ok]}).encode(), NOW)
    assert caught.value.status == 400
    assert caught.value.message.startswith(message), caught.value.message
    assert "Value error" not in caught.value.message
    assert "https://" not in caught.value.message


def test_place_counts_from_zero_and_several_errors_are_joined() -> None:
    ok = {"type": "page_view", "path": "/"}
    bad = {"type": "api_call", "endpoint": "/x", "duration_ms": -1, "status": 200}
    nobody = {"type": "page_view"}
    with pytest.raises(IngestError) as caught:
        _parse(ok, ok, ok, bad, nobody, nobody, nobody, nobody)
    assert caught.value.message == (
        "events[3].duration_ms: Input should be greater than or equal to 0; "
        "events[4].path: Field required; events[5].path: Field required; and 2 more"
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{oops", 400, "body is not JSON: "),
        (b"\xff\xfe\x00", 400, "body is not JSON: "),
        (b'[{"type": "session", "duration_s": NaN, "pages": 1}]', 400, "body is not JSON: NaN"),
        (b"{}", 400, "events: Field required"),
        (b'{"events": []}', 400, "events: List should have at least 1 item"),
        (b'{"events": {}}', 400, "events: Input should be a valid list"),
        (b'"hello"', 400, 'body must be {"events": [...]} or a list of events'),
        (b"[" * 100_000, 400, "body is not JSON"),
        (
            json.dumps([{"type": "page_view", "path": "/"}] * (MAX_EVENTS + 1)).encode(),
            413,
            "1001 events in one request; send at most 1000",
        ),
    ],
)
def test_bodies_that_are_not_batches(body: bytes, status: int, message: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_batch(body, NOW)
    assert caught.value.status == status
    assert caught.value.message.startswith(message), caught.value.message


def test_bare_list_and_a_thousand_events_are_accepted() -> None:
    body = json.dumps([{"type": "page_view", "path": "/"}] * MAX_EVENTS).encode()
    assert len(parse_batch(body, NOW).events) == MAX_EVENTS


def test_the_seeds_own_payloads() -> None:
    # PerformanceMonitor.trackAPICall / trackRAGSearch / trackCacheHit, as sent.
    date_now = int(NOW * 1000) - 1500
    batch = _parse(
        {
            "type": "api_call",
            "endpoint": "/api/chat/42",
            "duration": 3200,
            "status": 200,
            "timestamp": date_now,
        },
        {
            "type": "rag_search",
            "query_length": 18,
            "results_count": 4,
            "duration": 85,
            "timestamp": date_now,
        },
        {
            "type": "cache_access",
            "key": "embeddings:sha256:9f2c",
            "hit": False,
            "timestamp": date_now,
        },
    )
    call = batch.events[0]
    assert isinstance(call, ApiCall)
    assert (call.duration_ms, call.timestamp) == (3200.0, NOW - 1.5)
    signals = _signals()
    assert apply(batch, "web", signals, PRICES).accepted == 3
    assert _series(signals, "http.latency_ms") == {
        "": (1, 3200.0),
        "route=/api/chat/:id": (1, 3200.0),
    }
    assert _series(signals, "rag.search_ms") == {"": (1, 85.0)}
    assert _series(signals, "rag.results") == {"": (1, 4.0)}
    assert _series(signals, "cache.hit_ratio") == {"": (1, 0.0), "cache=embeddings": (1, 0.0)}


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (None, NOW),
        (NOW - 10, NOW - 10),
        ((NOW - 10) * 1000, NOW - 10),
        ("2027-01-15T08:00:00+00:00", 1_800_000_000.0),
        ("2027-01-15T09:00:00+01:00", 1_800_000_000.0),
        ("2027-01-15T08:00:00", 1_800_000_000.0),  # no zone: UTC
        (NOW - 24 * 3600, NOW - 24 * 3600),
        (NOW + 300, NOW + 300),
    ],
)
def test_timestamps(timestamp: object, expected: float) -> None:
    event: dict[str, Any] = {"type": "page_view", "path": "/"}
    if timestamp is not None:
        event["timestamp"] = timestamp
    assert _parse(event).events[0].timestamp == pytest.approx(expected)


# --- what events record ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/chat/123?x=1", "/api/chat/:id"),
        ("/api/chat", "/api/chat"),
        ("/api/chat/", "/api/chat"),
        ("/", "/"),
        ("", "/"),
        ("/u/550e8400-E29B-41d4-a716-446655440000/files/7#top", "/u/:id/files/:id"),
        ("/commits/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commits/:id"),
        ("/docs/65a1f0c2e4b0a1b2c3d4e5f6", "/docs/:id"),
        ("/c/cjld2cjxh0000qzrmn831i7rn", "/c/:id"),
        ("/customers/cus_NffrFeUfNV2Hib01", "/customers/:id"),
        ("/blog/getting-started-with-nextjs-14", "/blog/getting-started-with-nextjs-14"),
        ("/v1/embeddings", "/v1/embeddings"),
        ("/api/internationalization", "/api/internationalization"),
        ("https://example.com/api/items/42?q=1", "/api/items/:id"),
        ("api/items/42", "api/items/:id"),
    ],
)
def test_normalize_route(path: str, route: str) -> None:
    assert normalize_route(path) == route


@pytest.mark.parametrize(
    ("key", "cache"),
    [
        ("embeddings:abc", "embeddings"),
        ("rag:query:what is love", "rag"),
        ("plainkey", "default"),
        (":abc", "other"),
        ("alice@example.com:profile", "other"),
    ],
)
def test_cache_label_is_the_keys_prefix(key: str, cache: str) -> None:
    assert cache_name(key) == cache


def test_api_calls_are_requests_failed_from_500() -> None:
    batch = _parse(
        *[
            {
                "type": "api_call",
                "endpoint": f"/api/chat/{i}?q=x",
                "duration_ms": 10 * i,
                "status": status,
            }
            for i, status in enumerate([200, 404, 500, 503], start=1)
        ]
    )
    signals = _signals()
    apply(batch, "web", signals, PRICES)
    assert _series(signals, "http.requests") == {"": (4, 4.0), "route=/api/chat/:id": (4, 4.0)}
    assert _series(signals, "http.errors") == {"": (2, 2.0), "route=/api/chat/:id": (2, 2.0)}
    assert _series(signals, "http.error_rate")[""] == (4, 2.0)
    assert _series(signals, "http.latency_ms")[""] == (4, 100.0)


def test_ai_costs_from_the_price_table_or_the_app() -> None:
    usage = {"type": "ai_usage", "provider": "x", "input_tokens": 1000, "output_tokens": 2000}
    batch = _parse(
        {**usage, "model": "claude-sonnet-4", "user": "alice"},  # 0.003 + 0.03
        {**usage, "model": "gpt-4o-mini"},  # glob: 0.0025 + 0.02
        {**usage, "model": "llama-3-local", "cost_usd": 0.5},  # the app knows
        {**usage, "model": "claude-sonnet-4", "cost_usd": 0.0},  # app's figure wins
        {**usage, "model": "mystery-1"},
        {**usage, "model": "mystery-1"},
    )
    signals = _signals()
    applied = apply(batch, "web", signals, PRICES)
    assert applied.accepted == 6
    assert applied.unpriced_models == {"mystery-1"}
    cost = _series(signals, "ai.cost_usd")
    assert cost[""] == (4, pytest.approx(0.033 + 0.0225 + 0.5))
    assert cost["model=claude-sonnet-4"] == (2, pytest.approx(0.033))
    assert cost["model=gpt-4o-mini"] == (1, pytest.approx(0.0225))
    assert cost["user=alice"] == (1, pytest.approx(0.033))
    assert "model=mystery-1" not in cost
    tokens = _series(signals, "ai.tokens")
    assert tokens[""] == (6, 18000.0)
    assert tokens["model=mystery-1"] == (2, 6000.0)


def test_page_views_and_sessions() -> None:
    batch = _parse(
        {"type": "page_view", "path": "/a"},
        {"type": "page_view", "path": "/b", "timestamp": (MINUTE + 5) * 1000},
        {"type": "session", "duration_ms": 45_000, "pages": 2},
        {"type": "session", "duration_s": 3, "pages": 1},
    )
    session = batch.events[2]
    assert isinstance(session, Session)
    assert session.duration_s == 45.0
    signals = _signals()
    apply(batch, "web", signals, PRICES)
    assert _series(signals, "web.page_views") == {"": (2, 2.0)}
    assert _series(signals, "web.sessions") == {"": (2, 48.0)}
    assert _series(signals, "web.bounce") == {"": (2, 1.0)}


FIELDS = [
    "events",
    "type",
    "endpoint",
    "duration",
    "duration_ms",
    "duration_s",
    "status",
    "results",
    "key",
    "hit",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "path",
    "pages",
    "timestamp",
    "x",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(FIELDS),
            inner | st.sampled_from(["api_call", "rag_search", "session", "ai_usage", "page_view"]),
            max_size=6,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(data=json_values, raw=st.binary(max_size=100))
def test_any_body_parses_or_is_an_ingest_error(data: object, raw: bytes) -> None:
    for body in (json.dumps(data).encode(), raw):
        outcome = _outcome(body)
        if isinstance(outcome, IngestError):
            assert outcome.status in (400, 413)
            assert outcome.message
        else:
            assert apply(outcome, "web", _signals(), PRICES).accepted == len(outcome.events)


def _outcome(body: bytes) -> EventBatch | IngestError:
    try:
        return parse_batch(body, NOW)
    except IngestError as exc:
        return exc
