"""Routing and timing with an injected clock: group wait/interval/repeat, inhibition,
silences and maintenance windows (across a DST change)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.rules.engine import Alert, AlertState, Engine, RuleConfig, Severity
from lightkeeper.rules.mute import InhibitRule, MaintenanceWindow, Muter, Silence, parse_matcher
from lightkeeper.rules.router import Router, RoutingConfig
from lightkeeper.rules.signals import SignalStore

T0 = 1_800_000_000.0


def alert(name: str, state: AlertState = AlertState.FIRING, **labels: str) -> Alert:
    labels = {"alertname": name, "severity": "critical", **labels}
    return Alert(f"{name}-{sorted(labels.items())}", name, Severity.CRITICAL, labels, {}, state)


def router(**routing: object) -> Router:
    config = {"routes": [{"channels": ["hook"], "group_by": ["service"]}], **routing}
    return Router(RoutingConfig.model_validate(config))


def never(_: Alert) -> str | None:
    return None


def test_group_wait_then_group_interval_then_resolve() -> None:
    r = router(group_wait="10s", group_interval="1m")
    db = alert("db-down", service="app")
    r.observe(db, T0)
    assert r.flush(T0 + 9, never)[0] == []
    [first], _, _ = r.flush(T0 + 10, never)
    assert first.kind == "firing" and [a.rule for a in first.new] == ["db-down"]
    slow = alert("api-slow", service="app")
    r.observe(slow, T0 + 20)
    assert r.flush(T0 + 30, never)[0] == []  # waits for the group interval
    [second], _, _ = r.flush(T0 + 70, never)
    assert [a.rule for a in second.new] == ["api-slow"] and [a.rule for a in second.still] == [
        "db-down"
    ]
    for a in (db, slow):
        a.state = AlertState.RESOLVED
        r.observe(a, T0 + 100)
    assert r.flush(T0 + 100, never)[0] == []  # 30 s after the last message: wait
    [third], _, finished = r.flush(T0 + 130, never)
    assert third.kind == "resolved" and len(third.resolved) == 2
    assert finished and r.groups == {}


def test_repeat_interval() -> None:
    r = router(repeat_interval="4h")
    r.observe(alert("db-down", service="db"), T0)
    assert r.flush(T0, never)[0][0].kind == "firing"
    assert r.flush(T0 + 4 * 3600 - 1, never)[0] == []
    [repeat], _, _ = r.flush(T0 + 4 * 3600, never)
    assert repeat.kind == "repeat" and len(repeat.still) == 1
    assert r.flush(T0 + 4 * 3600 + 60, never)[0] == []


def test_groups_split_by_labels_and_routes_by_severity() -> None:
    r = Router(
        RoutingConfig.model_validate(
            {
                "routes": [
                    {"match": ["severity=critical"], "channels": ["pager"], "group_by": ["..."]},
                    {"match": ["severity=~warning|info"], "channels": ["slack"]},
                ]
            }
        )
    )
    r.observe(alert("a", service="x"), T0)
    r.observe(alert("a", service="y"), T0)
    warn = alert("b")
    warn.labels["severity"] = "warning"
    r.observe(warn, T0)
    messages, _, _ = r.flush(T0, never)
    assert sorted(m.channels for m in messages) == [("pager",), ("pager",), ("slack",)]


def test_a_resolve_nobody_heard_the_firing_of_is_not_sent() -> None:
    r = router()
    a = alert("db-down", service="db")
    r.observe(a, T0)
    muted = lambda _: "silenced"  # noqa: E731
    assert r.flush(T0, muted)[0] == []
    a.state = AlertState.RESOLVED
    r.observe(a, T0 + 5)
    assert r.flush(T0 + 120, never)[0] == []


def test_inhibition() -> None:
    muter = Muter(
        inhibit=[
            InhibitRule(source=["alertname=database-down"], target=["service=app"], equal=["env"])
        ]
    )
    db = alert("database-down", service="db", env="prod")
    slow = alert("api-slow", service="app", env="prod")
    other_env = alert("api-slow", service="app", env="staging")
    firing = [db, slow, other_env]
    assert muter.why_muted(slow, firing, T0) == "inhibited by database-down"
    assert muter.why_muted(other_env, firing, T0) is None
    assert muter.why_muted(db, firing, T0) is None
    db.state = AlertState.RESOLVED
    assert muter.why_muted(slow, firing, T0) is None


def test_silence() -> None:
    muter = Muter()
    muter.silences = [
        Silence(1, (parse_matcher("service=~app|api"),), T0, T0 + 3600, "ana", "deploy")
    ]
    slow = alert("api-slow", service="app")
    assert muter.why_muted(slow, [slow], T0 + 10) == "silenced by #1 (ana: deploy)"
    assert muter.why_muted(slow, [slow], T0 + 3600) is None
    assert muter.why_muted(alert("x", service="db"), [], T0 + 10) is None


def test_a_silence_that_ends_lets_the_firing_through() -> None:
    r = router()
    a = alert("db-down", service="db")
    r.observe(a, T0)
    assert r.flush(T0, lambda _: "silenced")[0] == []
    [message], _, _ = r.flush(T0 + 300, never)
    assert message.kind == "firing"


def test_maintenance_window_across_a_dst_change() -> None:
    window = MaintenanceWindow.model_validate(
        {
            "name": "sunday",
            "matchers": ["service=db"],
            "schedule": "0 2 * * SUN",
            "duration": "2h",
            "tz": "Europe/London",
        }
    )
    london = ZoneInfo("Europe/London")

    def at(text: str) -> float:
        return datetime.fromisoformat(text).replace(tzinfo=london).timestamp()

    # The UK clocks go back on Sunday 2026-10-25 (BST → GMT) and forward on 2027-03-28.
    for sunday in ("2026-10-18", "2026-10-25", "2026-11-01", "2027-03-21", "2027-04-04"):
        assert window.active(at(f"{sunday}T02:00:00")), sunday
        assert window.active(at(f"{sunday}T03:59:00")), sunday
        assert not window.active(at(f"{sunday}T04:00:00")), sunday
        assert not window.active(at(f"{sunday}T01:59:00")), sunday
    muter = Muter(maintenance=[window])
    assert (
        muter.why_muted(alert("x", service="db"), [], at("2026-10-25T02:30:00"))
        == "maintenance window sunday"
    )
    assert muter.why_muted(alert("x", service="app"), [], at("2026-10-25T02:30:00")) is None


def test_one_off_window_and_bad_windows() -> None:
    w = MaintenanceWindow.model_validate(
        {
            "name": "m",
            "start": "2026-12-01T02:00",
            "end": "2026-12-01T04:00",
            "tz": "America/New_York",
        }
    )
    ny = ZoneInfo("America/New_York")
    assert w.active(datetime(2026, 12, 1, 3, tzinfo=ny).timestamp())
    assert not w.active(datetime(2026, 12, 1, 4, tzinfo=ny).timestamp())
    with pytest.raises(ValueError, match="either start and end"):
        MaintenanceWindow.model_validate({"name": "m", "schedule": "0 2 * * *"})
    with pytest.raises(ValueError, match="unknown time zone"):
        MaintenanceWindow.model_validate(
            {"name": "m", "schedule": "0 2 * * *", "duration": "1h", "tz": "Mars/Base"}
        )
    with pytest.raises(ValueError, match="is not a cron schedule; write 5 fields"):
        MaintenanceWindow.model_validate({"name": "m", "schedule": "0 2 * *", "duration": "1h"})


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 1), min_size=1, max_size=60),
    st.sampled_from([0, 60, 120]),
    st.sampled_from([0, 30, 60]),
    st.sampled_from([10, 60, 300]),
    st.sampled_from([600, 3600]),
)
def test_never_two_firings_without_a_resolve_or_repeat(
    values: list[int], for_s: int, wait: int, interval: int, repeat: int
) -> None:
    store = SignalStore()
    rule = RuleConfig.model_validate(
        {"name": "down", "severity": "critical", "expr": "monitor_down == 1", "for": f"{for_s}s"}
    )
    engine = Engine([rule], store)
    r = router(group_wait=f"{wait}s", group_interval=f"{interval}s", repeat_interval=f"{repeat}s")
    heard: list[tuple[float, str]] = []
    step = 15.0
    tail = [0] * int((interval + wait) / step + 4)  # recovers and stays recovered
    for i, value in enumerate(values + tail):
        now = T0 + i * step
        store.record("monitor_down", {"monitor": "m"}, float(value), now)
        _, transitions = engine.evaluate(now)
        for t in transitions:
            r.observe(t.alert, now)
        for message in r.flush(now, never)[0]:
            if message.new:
                heard.append((now, "firing"))
            if message.resolved:
                heard.append((now, "resolved"))
            if message.kind == "repeat":
                heard.append((now, "repeat"))
    last_firing = None
    for now, kind in heard:
        if kind == "firing":
            assert last_firing is None, heard
            last_firing = now
        elif kind == "resolved":
            assert last_firing is not None, heard
            last_firing = None
        else:
            assert last_firing is not None and now - last_firing >= repeat
    assert last_firing is None, "a firing alert was never resolved after recovery"
