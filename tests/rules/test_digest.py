"""The daily digest: its schedule in local time, its content, and never twice a day."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lightkeeper.config import parse_config
from lightkeeper.rules.digest import DigestConfig, build
from lightkeeper.rules.engine import Alert, AlertState, Severity, Transition
from lightkeeper.service import Service
from lightkeeper.store import ResultRow, Store
from lightkeeper.store import alerting as db
from lightkeeper.types import State

LONDON = ZoneInfo("Europe/London")


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).timestamp()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-10-24T08:00", "2026-10-24T09:00"),  # BST
        ("2026-10-24T09:00", "2026-10-25T09:00"),  # the clocks go back that night
        ("2026-10-25T10:00", "2026-10-26T09:00"),  # GMT
        ("2027-03-27T09:30", "2027-03-28T09:00"),  # the clocks go forward that night
    ],
)
def test_next_run_is_at_the_local_time_across_dst(now: str, expected: str) -> None:
    cfg = DigestConfig(at="09:00", tz="Europe/London", channels=["x"])
    assert cfg.next_run(local(now)) == local(expected)


def test_bad_digest_settings() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        DigestConfig(tz="Atlantis/Capital")
    with pytest.raises(ValueError, match="at"):
        DigestConfig(at="25:00")


CONFIG = """
store: {{url: "sqlite:///{db}"}}
monitors:
  - {{name: api, type: tcp, host: 127.0.0.1, port: 1}}
  - {{name: web, type: tcp, host: 127.0.0.1, port: 2}}
channels:
  hook: {{url: "json://127.0.0.1:1/x"}}
digest: {{at: "09:00", tz: Europe/London, channels: [hook]}}
oncall:
  people: {{ana: {{channels: [hook]}}}}
  rotations: [{{name: primary, people: [ana], start: 2026-11-02}}]
"""


def never(_: Alert) -> str | None:
    return None


@pytest.mark.integration
def test_content_and_once_a_day(tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(db=tmp_path / "d.db"), "d.yaml", {})
    now = local("2026-11-20T09:00")
    service = Service(config)
    service.open()
    store: Store = service.store
    ids = store.monitor_ids()
    store.write_batch(
        [
            ResultRow(ids["api"], now - 3600, State.UP, 120.0, "ok"),
            ResultRow(ids["api"], now - 1800, State.DOWN, None, "refused"),
            ResultRow(ids["web"], now - 1800, State.UP, 15.0, "ok"),
        ],
        [],
    )
    fired = Alert(
        "f1",
        "api-down",
        Severity.CRITICAL,
        {"monitor": "api", "alertname": "api-down", "severity": "critical"},
        {},
        AlertState.RESOLVED,
        fired_at=now - 1700,
        resolved_at=now - 1400,
        updated_at=now - 1400,
    )
    old = Alert(
        "f2",
        "ancient",
        Severity.WARNING,
        {},
        {},
        AlertState.RESOLVED,
        fired_at=now - 3 * 86400,
        resolved_at=now - 2 * 86400,
        updated_at=now - 2 * 86400,
    )
    with store.engine.begin() as conn:
        db.write_alerts(conn, [fired, old])
    incidents = service.alerting.incidents
    with store.engine.begin() as conn:
        pages = incidents.on_transitions(conn, [Transition("firing", fired)], now - 1700, never)
        assert [n.channel for n in pages] == ["hook"]  # ana, on call, is paged
        opened = incidents.list(conn)[0]
        incidents.resolve(conn, opened.id, "ana", now - 1400)
    digest = build(config, store, now, incidents)
    assert f"#{opened.id} api-down" in digest.body and "resolved after 5m 0s" in digest.body
    assert "Incidents: 1 opened; MTTA –, MTTR 5m 0s" in digest.body
    assert digest.payload["incidents"]["mttr_s"] == 300
    assert digest.title == "Daily digest 2026-11-20: 1 alerts fired, 1 resolved"
    assert "api-down (critical) monitor=api, resolved after 5m 0s" in digest.body
    assert "ancient" not in digest.body
    assert "api                            50.00%" in digest.body
    assert "web                            100.00%" in digest.body
    assert "api                            120 ms, 120 ms" in digest.body
    assert digest.payload["uptime_24h"] == {"api": 0.5, "web": 1.0}

    assert service.send_digest(now) is True
    assert service.send_digest(now + 60) is False  # a restart the same day: not twice
    with store.engine.connect() as conn:
        rows = list(conn.exec_driver_sql("SELECT channel, kind, dedup_key FROM outbox"))
    assert rows == [("hook", "digest", "digest-2026-11-20")]
    assert service.send_digest(now + 86400) is True
    store.close()
