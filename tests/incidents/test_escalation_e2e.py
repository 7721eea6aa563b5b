"""The acceptance bullet through the real path: pages written to the outbox in the same
transaction as the incident, delivered by Apprise to a JSON webhook on 127.0.0.1 (one path
per person's channel). An unacknowledged critical page reaches the second person after
the set delay; acknowledging stops it; the resolve reaches both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lightkeeper.clock import ManualClock
from lightkeeper.notify.channels import ChannelConfig
from lightkeeper.notify.outbox import Outbox, RetryPolicy
from lightkeeper.notify.sender import AppriseSender
from lightkeeper.store import Store
from tests.incidents.helpers import CHANNELS, alert, fired, incidents, resolved
from tests.notify.conftest import WebhookReceiver

pytestmark = pytest.mark.integration


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


async def test_an_unacknowledged_page_escalates_and_ack_stops_it(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = Outbox(
        store,
        {name: ChannelConfig(url=webhook.url(f"/{name}")) for name in CHANNELS},
        clock,
        AppriseSender(),
        retry=RetryPolicy(jitter=0.0),
    )
    desk = incidents()
    down = alert("db-down", clock.now(), service="db")

    def received() -> list[tuple[str, str]]:
        return [(r.path, r.body["title"]) for r in webhook.requests]

    with store.engine.begin() as conn:
        box.add(conn, desk.on_transitions(conn, [fired(down)], clock.now()), clock.now())
    await box.deliver_due()
    assert received() == [("/ben-mail", "[INCIDENT #1] db-down: db-down on db [service=db]")]
    assert "lightkeeper incidents ack 1" in webhook.requests[0].body["message"]

    clock.advance(15 * 60 - 1)  # not yet
    with store.engine.begin() as conn:
        box.add(conn, desk.tick(conn, clock.now()), clock.now())
    await box.deliver_due()
    assert len(received()) == 1

    clock.advance(1)  # 15 minutes without an acknowledgement: the next person
    with store.engine.begin() as conn:
        box.add(conn, desk.tick(conn, clock.now()), clock.now())
    await box.deliver_due()
    assert received()[1] == ("/chen-mail", "[INCIDENT #1] db-down: db-down on db [service=db]")

    with store.engine.begin() as conn:
        desk.ack(conn, 1, "chen", clock.now())
    for _ in range(4):  # an hour of ticks: nobody else is paged
        clock.advance(15 * 60)
        with store.engine.begin() as conn:
            box.add(conn, desk.tick(conn, clock.now()), clock.now())
        await box.deliver_due()
    assert len(received()) == 2

    with store.engine.begin() as conn:
        box.add(
            conn, desk.on_transitions(conn, [resolved(down, clock.now())], clock.now()), clock.now()
        )
    await box.deliver_due()
    assert sorted(received()[2:]) == [
        ("/ben-mail", "[RESOLVED] Incident #1 db-down: db-down on db [service=db]"),
        ("/chen-mail", "[RESOLVED] Incident #1 db-down: db-down on db [service=db]"),
    ]
