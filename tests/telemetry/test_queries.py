"""Issue and performance queries on SQLite and PostgreSQL, with data written the way ingest
writes it: Sentry Python events through the Processor (scrub, grouping) into write_events,
and signals recorded through TelemetrySignals into write_minutes."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lightkeeper.rules.signals import SignalStore
from lightkeeper.store import Store
from lightkeeper.store import alerting as signal_db
from lightkeeper.telemetry import performance as perf
from lightkeeper.telemetry import queries
from lightkeeper.telemetry.config import ProjectConfig, TelemetryConfig
from lightkeeper.telemetry.ingest import Processor
from lightkeeper.telemetry.queries import IssueFilter
from lightkeeper.telemetry.signals import TelemetrySignals
from lightkeeper.telemetry.store import IssueCache, write_events
from tests.conftest import reused_store_url

pytestmark = pytest.mark.integration

NOW = 1_800_003_630.0  # 30 s past a whole hour
WEB = ProjectConfig(name="web", id=1, key="a1b2c3d4e5f60718293a4b5c6d7e8f90")
API = ProjectConfig(name="api", id=2, key="ffffeeeeddddccccbbbbaaaa99998888")
CONFIG = TelemetryConfig(projects=[WEB, API])
TABLES = (
    "telemetry_issues, telemetry_issue_tags, telemetry_issue_users, telemetry_issue_hours, "
    "telemetry_events, series, signal_minutes"
)

# --- test data: a realistic event from sentry-sdk's FastAPI integration ---------------------

FRAMES = [
    {
        "filename": "starlette/routing.py",
        "abs_path": "/srv/.venv/lib/python3.11/site-packages/starlette/routing.py",
        "function": "app",
        "module": "starlette.routing",
        "lineno": 74,
        "context_line": "        response = await func(request)",
        "pre_context": ["    async def app(scope, receive, send):"],
        "in_app": False,
    },
    {
        "filename": "app/chat.py",
        "abs_path": "/srv/app/chat.py",
        "function": "answer",
        "module": "app.chat",
        "lineno": 42,
        "context_line": "    return reply.json()['answer']",
        "vars": {"question": "'how do I reset my password?'", "password": "'hunter2'"},
        "in_app": True,
    },
    {
        "filename": "httpx/_models.py",
        "abs_path": "/srv/.venv/lib/python3.11/site-packages/httpx/_models.py",
        "function": "json",
        "module": "httpx._models",
        "lineno": 832,
        "context_line": "        return jsonlib.loads(self.content, **kwargs)",
        "in_app": False,
    },
]


def sentry_event(
    exc_type: str = "KeyError",
    value: str = "'answer'",
    *,
    ts: float = NOW - 600,
    release: str = "web@1.4.0",
    environment: str = "production",
    user: str | None = "42",
    tags: dict[str, str] | None = None,
    function: str = "answer",
    raised_in_app: bool = False,
) -> dict[str, Any]:
    """An error in the app's ``function``, raised in httpx unless ``raised_in_app``."""
    frames = copy.deepcopy(FRAMES[:2] if raised_in_app else FRAMES)
    frames[1]["function"] = function
    return {
        "event_id": uuid.uuid4().hex,
        "timestamp": ts,
        "platform": "python",
        "level": "error",
        "logger": "app.chat",
        "server_name": "web-1",
        "release": release,
        "environment": environment,
        "user": {"id": user, "ip_address": "10.0.0.7"} if user else None,
        "tags": tags or {"route": "/api/chat"},
        "contexts": {"runtime": {"name": "CPython", "version": "3.11.7"}},
        "sdk": {"name": "sentry.python.fastapi", "version": "2.19.2"},
        "exception": {
            "values": [
                {
                    "type": exc_type,
                    "value": value,
                    "mechanism": {"type": "fastapi", "handled": False},
                    "stacktrace": {"frames": frames},
                }
            ]
        },
    }


def store_events(store: Store, events: list[dict[str, Any]], project: ProjectConfig = WEB) -> None:
    """Through the ingest's own Processor and writer, one transaction."""
    processor = Processor(CONFIG, TelemetrySignals(SignalStore()))
    records = [processor.event(project, e, e["timestamp"]) for e in events]
    with store.engine.begin() as conn:
        write_events(conn, records, IssueCache())


def store_signals(store: Store, signals: TelemetrySignals) -> None:
    with store.engine.begin() as conn:
        signal_db.write_minutes(conn, signals.take_dirty(), {})


def issue_id(store: Store, title_part: str) -> int:
    t = sa.table("telemetry_issues", sa.column("id"), sa.column("title"))
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(t.c.id).where(t.c.title.contains(title_part))).scalar_one()
    return int(found)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = Store(reused_store_url(request, tmp_path, TABLES))
    opened.migrate()
    yield opened
    opened.close()


def run(store: Store, fn: Any, *args: Any) -> Any:
    with store.engine.connect() as conn:
        return fn(conn, *args)


# --- issues ------------------------------------------------------------------------------------


@pytest.fixture
def issues(store: Store) -> Store:
    """Three issues of web (one in staging, one with 5 events) and one of api."""
    store_events(
        store,
        [sentry_event(ts=NOW - 3000 + i, user=str(i % 3)) for i in range(5)]
        + [
            sentry_event(
                "ValueError", "bad 100% input", ts=NOW - 7200, function="parse", raised_in_app=True
            )
        ]
        + [
            sentry_event(
                "TimeoutError",
                "upstream timed out",
                ts=NOW - 90_000,
                release="web@1.3.9",
                environment="staging",
                function="fetch",
            )
        ],
    )
    store_events(store, [sentry_event("OSError", "disk full", ts=NOW - 60)], API)
    return store


def titles(page: dict[str, Any]) -> list[str]:
    return [i["title"].split(":")[0] for i in page["items"]]


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (IssueFilter(), ["KeyError", "ValueError", "TimeoutError"]),
        (IssueFilter(sort="count"), ["KeyError", "TimeoutError", "ValueError"]),
        (IssueFilter(sort="first_seen"), ["KeyError", "ValueError", "TimeoutError"]),
        (IssueFilter(q="timed OUT"), ["TimeoutError"]),  # any case
        (IssueFilter(q="parse"), ["ValueError"]),  # the culprit: app.chat in parse
        (IssueFilter(q="chat in answer"), ["KeyError"]),
        (IssueFilter(q="chat_in_answer"), []),  # _ is a character, not a wildcard
        (IssueFilter(q="100%"), ["ValueError"]),  # % is a character, not a wildcard
        (IssueFilter(q="0%"), ["ValueError"]),
        (IssueFilter(q="nothing like it"), []),
        (IssueFilter(environment="staging"), ["TimeoutError"]),
        (IssueFilter(release="web@1.4.0"), ["KeyError", "ValueError"]),
        (IssueFilter(release="web@1.4.0", environment="staging"), []),
        (IssueFilter(status="resolved"), []),
        (IssueFilter(status="unresolved", q="Error"), ["KeyError", "ValueError", "TimeoutError"]),
    ],
)
def test_list_issues(issues: Store, f: IssueFilter, expected: list[str]) -> None:
    found = run(issues, queries.list_issues, WEB.id, f)
    assert titles(found) == expected
    assert found["total"] == len(expected)


def test_list_issues_rows_and_pages(issues: Store) -> None:
    first = run(issues, queries.list_issues, WEB.id, IssueFilter(per_page=2))
    assert (first["total"], first["pages"], first["page"]) == (3, 2, 1)
    second = run(issues, queries.list_issues, WEB.id, IssueFilter(per_page=2, page=2))
    assert titles(first) + titles(second) == ["KeyError", "ValueError", "TimeoutError"]
    top = first["items"][0]
    assert top["title"] == "KeyError: 'answer'" and top["culprit"] == "app.chat in answer"
    assert (top["count"], top["users"], top["status"], top["regressed"]) == (
        5,
        3,
        "unresolved",
        False,
    )
    assert top["first_seen"] == NOW - 3000 and top["last_seen"] == NOW - 2996
    assert top["method"] == "stacktrace" and "sample" not in top
    assert run(issues, queries.filter_values, WEB.id) == {
        "release": ["web@1.4.0", "web@1.3.9"],
        "environment": ["production", "staging"],
    }


def test_one_issue_with_tags_hours_and_events(issues: Store) -> None:
    key = issue_id(issues, "KeyError")
    # Eleven more browsers than the top ten shown.
    store_events(
        issues,
        [sentry_event(ts=NOW - 30 - i, tags={"browser": f"b{i:02}"}) for i in range(11, -1, -1)]
        + [sentry_event(ts=NOW - 10, tags={"browser": "b00"})],
    )
    found = run(issues, queries.get_issue, key, NOW, 3)
    assert found["count"] == 18 and found["title"] == "KeyError: 'answer'"
    tags = {t["key"]: t for t in found["tags"]}
    assert set(tags) == {"browser", "environment", "level", "release", "route"}
    browser = tags["browser"]
    assert (browser["total"], browser["distinct"], len(browser["values"])) == (13, 12, 10)
    assert browser["values"][0] == {
        "value": "b00",
        "count": 2,
        "first_seen": NOW - 30,
        "last_seen": NOW - 10,
    }
    assert [v["value"] for v in browser["values"][1:]] == [f"b{i:02}" for i in range(1, 10)]
    assert tags["release"]["values"] == [
        {"value": "web@1.4.0", "count": 18, "first_seen": NOW - 3000, "last_seen": NOW - 10}
    ]

    hours = found["occurrences"]
    assert hours["step"] == 3600 and len(hours["hours"]) == len(hours["counts"]) == 14 * 24
    assert hours["hours"][-1] == NOW - 30  # the current hour
    # NOW - 30 is when the hour began: the events a second or more before are in the last.
    assert hours["counts"][-1] == 2 and hours["counts"][-2] == 16 and sum(hours["counts"]) == 18

    events = found["events"]
    assert [e["ts"] for e in events] == [NOW - 10, NOW - 30, NOW - 31]  # newest first
    latest = events[0]
    assert latest["release"] == "web@1.4.0" and latest["environment"] == "production"
    assert latest["user"] is not None and len(latest["user"]) == 16
    data = latest["data"]
    assert (
        data["tags"] == {"browser": "b00"} and data["exception"]["values"][0]["type"] == "KeyError"
    )
    frame = data["exception"]["values"][0]["stacktrace"]["frames"][1]
    assert frame["vars"]["password"] == "[Filtered]"  # stored as scrubbed

    assert run(issues, queries.get_issue, 999_999, NOW) is None


def test_events_pages(issues: Store) -> None:
    key = issue_id(issues, "KeyError")
    first = run(issues, queries.list_events, key, 1, 2)
    last = run(issues, queries.list_events, key, 3, 2)
    assert (first["total"], first["pages"]) == (5, 3)
    assert [e["ts"] for e in first["items"]] == [NOW - 2996, NOW - 2997]
    assert [e["ts"] for e in last["items"]] == [NOW - 3000]
    assert run(issues, queries.list_events, 999_999, 1, 2) is None


def test_project_stats(issues: Store) -> None:
    stats = run(issues, queries.project_stats, [WEB.id, API.id, 3])
    with issues.engine.connect() as conn:
        payloads = conn.execute(sa.text("SELECT project_id, payload FROM telemetry_events")).all()
        samples = conn.execute(sa.text("SELECT project_id, sample FROM telemetry_issues")).all()
    web_bytes = sum(len(p) for pid, p in [*payloads, *samples] if pid == WEB.id)
    assert stats[WEB.id] == {"events": 7, "issues": 3, "stored_bytes": web_bytes}
    assert stats[API.id]["events"] == 1 and stats[API.id]["issues"] == 1
    assert stats[3] == {"events": 0, "issues": 0, "stored_bytes": 0}


def test_status_changes_and_a_regression(issues: Store) -> None:
    key = issue_id(issues, "ValueError")
    with issues.engine.begin() as conn:
        resolved = queries.set_status(conn, key, "resolved", NOW)
    assert resolved is not None and resolved["status"] == "resolved"
    assert resolved["resolved_at"] == NOW and not resolved["regressed"]
    unresolved = run(issues, queries.list_issues, WEB.id, IssueFilter(status="unresolved"))
    assert "ValueError" not in titles(unresolved)

    store_events(
        issues,
        [
            sentry_event(
                "ValueError", "bad 100% input", ts=NOW, function="parse", raised_in_app=True
            )
        ],
    )
    again = run(issues, queries.list_issues, WEB.id, IssueFilter(q="ValueError"))["items"][0]
    assert (again["status"], again["regressed"], again["regressions"]) == ("unresolved", True, 1)

    with issues.engine.begin() as conn:
        ignored = queries.set_status(conn, key, "ignored", NOW + 1)
        assert ignored is not None and ignored["status"] == "ignored"
        assert not ignored["regressed"] and ignored["resolved_at"] == NOW  # when last resolved
        assert queries.set_status(conn, 999_999, "resolved", NOW) is None
        with pytest.raises(ValueError, match="status must be one of"):
            queries.set_status(conn, key, "fixed", NOW)


# --- performance -------------------------------------------------------------------------------


def traffic(signals: TelemetrySignals, project: str = "web", now: float = NOW) -> None:
    """Ten minutes of traffic ending now: /api/chat slow and failing 1 in 10; /health fast."""
    for minute in range(10):
        ts = now - minute * 60
        for i in range(10):
            signals.request(project, "/api/chat", failed=i == 0, duration_ms=100.0 + i * 100, ts=ts)
            signals.request(project, "/health", failed=False, duration_ms=2.0, ts=ts)
        signals.rag_search(project, 40.0 + minute, 5, ts)
        signals.cache_access(project, "redis", hit=minute % 4 != 0, ts=ts)
        signals.ai_usage(project, "claude-sonnet-4", f"user-{minute % 3}", 1000, 0.01, ts)
    signals.ai_usage(project, "local-llama", "user-0", 500, None, now)  # unpriced: tokens only
    signals.ai_usage(project, "claude-sonnet-4", "user-9", 1000, 0.5, now - 2 * 86400)


def test_performance_over_an_hour(store: Store) -> None:
    signals = TelemetrySignals(SignalStore())
    traffic(signals)
    traffic(signals, "api")  # another project: counted for it, never for web
    for _ in range(10):
        signals.request("api", "/api/chat", failed=True, duration_ms=9000.0, ts=NOW)
    store_signals(store, signals)

    p = run(store, perf.performance, "web", "1h", NOW)
    s = p["series"]
    assert p["step"] == 60 and len(s["t"]) == 60 and s["t"][-1] == NOW - 30
    assert s["requests_per_min"][-10:] == [20.0] * 10 and s["requests_per_min"][0] == 0.0
    assert s["error_rate"][-1] == 0.05 and s["error_rate"][0] is None
    assert s["latency_p95_ms"][-1] == pytest.approx(900, rel=0.02)  # 10 at 2 ms, 100…1000
    assert s["rag_p95_ms"][-1] == pytest.approx(40, rel=0.02)
    assert s["cache_hit_ratio"][-1] == 0.0 and s["cache_hit_ratio"][-2] == 1.0  # minute 0 misses

    totals = p["totals"]
    assert (totals["requests"], totals["errors"], totals["error_rate"]) == (200, 10, 0.05)
    assert totals["latency_p50_ms"] == pytest.approx(2, rel=0.02)  # half are /health's 2 ms
    assert totals["rag_searches"] == 10 and totals["rag_p95_ms"] == pytest.approx(48, rel=0.02)
    assert totals["cache_hit_ratio"] == 0.7  # minutes 0, 4, 8 miss
    assert totals["ai_cost_usd"] == pytest.approx(0.10)

    chat, health = p["routes"]
    assert (chat["route"], chat["requests"], chat["errors"], chat["error_rate"]) == (
        "/api/chat",
        100,
        10,
        0.1,
    )
    assert chat["p50_ms"] == pytest.approx(500, rel=0.02)
    assert chat["p95_ms"] == pytest.approx(1000, rel=0.02)
    assert (health["route"], health["requests"], health["error_rate"]) == ("/health", 100, 0.0)
    assert health["p95_ms"] == pytest.approx(2, rel=0.02)
    assert p["caches"] == [{"cache": "redis", "accesses": 10, "hit_ratio": 0.7}]

    ai = p["ai"]
    assert [u["user"] for u in ai["users"]] == ["user-0", "user-1", "user-2"]
    assert ai["users"][0]["calls"] == 4 and ai["users"][0]["cost_usd"] == pytest.approx(0.04)
    assert [(m["model"], m["calls"], m["tokens"]) for m in ai["models"]] == [
        ("claude-sonnet-4", 10, 10_000),
        ("local-llama", 1, 500),
    ]
    assert ai["models"][1]["cost_usd"] == 0.0
    assert [d["day"] for d in ai["days"]] == [NOW - NOW % 86400]
    assert ai["days"][0]["cost_usd"] == pytest.approx(0.10)

    other = run(store, perf.performance, "api", "1h", NOW)
    assert other["totals"]["requests"] == 210 and other["totals"]["errors"] == 20
    assert other["routes"][0]["p95_ms"] == pytest.approx(9000, rel=0.02)


@pytest.mark.parametrize(
    ("window", "step", "points", "days"),
    [("1h", 60, 60, 1), ("24h", 60, 1440, 2), ("7d", 3600, 168, 8), ("30d", 3600, 720, 31)],
)
def test_performance_windows(store: Store, window: str, step: int, points: int, days: int) -> None:
    signals = TelemetrySignals(SignalStore())
    traffic(signals)
    store_signals(store, signals)
    p = run(store, perf.performance, "web", window, NOW)
    s = p["series"]
    assert p["step"] == step and len(s["t"]) == points == len(s["latency_p95_ms"])
    assert s["t"][-1] == NOW - NOW % step and s["t"][1] - s["t"][0] == step
    assert len(p["ai"]["days"]) == days
    # Per hour the rate is still per minute: the 200 requests, wherever an hour begins.
    assert sum(s["requests_per_min"]) * step / 60 == 200
    longer = window in ("7d", "30d")
    assert p["totals"]["ai_cost_usd"] == pytest.approx(0.60 if longer else 0.10)
    if longer:  # the 0.50 two days ago is on its own day
        assert p["ai"]["days"][-3]["cost_usd"] == pytest.approx(0.50)
        assert p["ai"]["users"][0] == {"user": "user-9", "cost_usd": 0.5, "calls": 1}


@pytest.mark.parametrize(("budget", "p50"), [(perf.SKETCH_BUDGET, 50), (4, 40)])
def test_a_busy_routes_quantiles_from_a_sample_of_its_minutes(
    store: Store, monkeypatch: pytest.MonkeyPatch, budget: int, p50: float
) -> None:
    """Over its budget, a route's sketches are read from every n-th minute: 10 minutes with
    a budget of 4 are read from every 3rd (minutes 0, 3, 6, 9: 10, 40, 70 and 100 ms)."""
    monkeypatch.setattr(perf, "SKETCH_BUDGET", budget)
    signals = TelemetrySignals(SignalStore())
    for i in range(10):
        signals.request("web", "/spiky", False, 10.0 * (i + 1), NOW - 30 - (9 - i) * 60)
    store_signals(store, signals)
    [route] = run(store, perf.performance, "web", "1h", NOW)["routes"]
    assert route["requests"] == 10 and route["p50_ms"] == pytest.approx(p50, rel=0.02)


def test_performance_with_no_data(store: Store) -> None:
    p = run(store, perf.performance, "web", "24h", NOW)
    assert p["routes"] == [] and p["caches"] == [] and p["ai"]["users"] == []
    assert p["totals"]["error_rate"] is None and p["totals"]["latency_p95_ms"] is None
    assert set(p["series"]["latency_p95_ms"]) == {None} and set(p["series"]["error_rate"]) == {None}
    assert json.dumps(p)  # the API's answer as it is
