"""End to end: a monitor's target goes down → one firing message at a JSON webhook and one
e-mail at an SMTP server; it recovers → one resolve at each; flapping faster than `for`
→ nothing at all. Real receivers on 127.0.0.1, the real Apprise client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from lightkeeper.config import parse_config
from lightkeeper.service import Service
from tests.conftest import Target, free_port
from tests.receivers import Mailbox, Webhook

pytestmark = pytest.mark.integration


def text_of(mail: Message) -> str:
    if mail.is_multipart():
        return "\n".join(
            str(part.get_payload(decode=True).decode())
            for part in mail.walk()
            if not part.is_multipart()
        )
    return str(mail.get_payload(decode=True).decode())


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Webhook, Mailbox, int]]:
    hook, box = Webhook(), Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    yield hook, box, smtp.port
    smtp.stop()
    hook.close()


def config(target: Target, hook: Webhook, smtp_port: int, db: Path, for_: str) -> str:
    return f"""
store: {{url: "sqlite:///{db}"}}
server: {{public_url: "http://lk.example"}}
scheduler: {{write_interval: 200ms}}
monitors:
  - {{name: web, type: http, url: "{target.url}", interval: 1s, failures_before_down: 1}}
channels:
  hook: {{url: "json://127.0.0.1:{hook.port}/alerts"}}
  mail: {{url: "mailto://lightkeeper@127.0.0.1:{smtp_port}?from=lightkeeper@example.com&to=oncall@example.com"}}
alerts:
  - name: site-down
    severity: critical
    expr: monitor_down{{monitor="web"}} == 1
    for: {for_}
    annotations:
      summary: "{{{{ labels.monitor }}}} is down"
      runbook: runbooks/site-down.md
routing:
  group_interval: 1s
  routes:
    - {{match: ["severity=critical"], channels: [hook, mail], group_by: [alertname, monitor]}}
"""


async def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


async def test_down_then_up_sends_one_firing_and_one_resolve_to_each(
    receivers: tuple[Webhook, Mailbox, int], target: Target, tmp_path: Path
) -> None:
    hook, box, smtp_port = receivers
    service = Service(
        parse_config(config(target, hook, smtp_port, tmp_path / "lk.db", "2s"), "e2e.yaml", {})
    )
    await service.start()
    try:
        await wait_until(lambda: service.monitors["web"].row.state.value == "up")
        target.mode = "fail"
        await wait_until(lambda: len(hook.bodies) >= 1 and len(box.messages) >= 1)
        await asyncio.sleep(2.0)  # time enough for a duplicate to show up, if there were one
        assert len(hook.bodies) == 1 and len(box.messages) == 1
        firing_hook, firing_mail = hook.bodies[0], text_of(box.messages[0])
        assert firing_hook["title"].startswith("[FIRING:1] site-down")
        assert "FIRING" in box.messages[0]["Subject"]
        for text in (firing_hook["message"], firing_mail):
            assert "web is down" in text
            assert "value 1, threshold 1" in text
            assert "runbook: http://lk.example/runbooks/site-down" in text
            assert "dashboard: http://lk.example/ui/monitors/web" in text

        target.mode = "ok"
        await wait_until(lambda: len(hook.bodies) >= 2 and len(box.messages) >= 2)
        await asyncio.sleep(2.0)
        assert len(hook.bodies) == 2 and len(box.messages) == 2
        assert hook.bodies[1]["title"] == "[RESOLVED] site-down"
        assert "RESOLVED site-down" in text_of(box.messages[1])
        assert "resolved after" in hook.bodies[1]["message"]
    finally:
        await service.stop()


async def test_flapping_faster_than_for_sends_nothing(
    receivers: tuple[Webhook, Mailbox, int], target: Target, tmp_path: Path
) -> None:
    hook, box, smtp_port = receivers
    service = Service(
        parse_config(config(target, hook, smtp_port, tmp_path / "lk.db", "4s"), "e2e.yaml", {})
    )
    await service.start()
    try:
        await wait_until(lambda: service.monitors["web"].row.state.value == "up")
        for _ in range(5):  # down ~1.5 s, up ~1.5 s: never down for 4 s
            target.mode = "fail"
            await asyncio.sleep(1.5)
            target.mode = "ok"
            await asyncio.sleep(1.5)
        await asyncio.sleep(1.0)
        assert hook.bodies == [] and box.messages == []
        alerts = service.alerting.engine.alerts
        assert all(a.fired_at is None for a in alerts.values())
    finally:
        await service.stop()
