"""The outbox on SQLite and PostgreSQL with real receivers: retries, order, crash safety,
and two processes' worth of Outbox instances never sending a row twice."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from lightkeeper.clock import ManualClock
from lightkeeper.notify.channels import ChannelConfig
from lightkeeper.notify.message import Notification
from lightkeeper.notify.outbox import Outbox, RetryPolicy, fit_key
from lightkeeper.notify.sender import AppriseSender
from lightkeeper.store import Store
from lightkeeper.store.tables import outbox as outbox_table
from tests.notify.conftest import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.integration


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make(store: Store, clock: ManualClock, **channels: str) -> Outbox:
    return Outbox(
        store,
        {name: ChannelConfig(url=url) for name, url in channels.items()},
        clock,
        AppriseSender(),
        retry=RetryPolicy(jitter=0.0),
    )


def note(
    kind: str = "firing", key: str = "api-down", channel: str = "hook", title: str = ""
) -> Notification:
    return Notification(
        channel,
        kind,
        key,
        title or f"[{kind.upper()}] {key}",
        f"{kind} {key}: value 1, threshold 0, since 2026-01-05 10:00 UTC\nrunbook: https://rb.example.com/{key}",
        {"value": 1.0, "threshold": 0.0, "severity": "critical"},
    )


def rows(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(outbox_table).order_by(outbox_table.c.id)))


async def test_delivered_once_to_a_webhook_and_to_smtp(
    store: Store, clock: ManualClock, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    box = make(store, clock, hook=webhook.url(), mail=smtp.url())
    box.enqueue([note(channel="hook"), note(channel="mail")])
    assert await box.deliver_due() == 2
    assert await box.deliver_due() == 0
    assert [b["title"] for b in webhook.bodies] == ["[FIRING] api-down"]
    assert [m["Subject"] for m in smtp.messages] == ["[FIRING] api-down"]
    assert "runbook: https://rb.example.com/api-down" in smtp.text()
    assert [(r.status, r.attempts, r.sent_at) for r in rows(store)] == [
        ("sent", 1, clock.now())
    ] * 2
    counts = box.counts()
    assert (counts.pending, counts.failed, counts.oldest_pending_age) == (0, 0, None)
    box.close()


async def test_receiver_down_then_500_is_retried_with_backoff_and_delivered_once(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = make(store, clock, hook=webhook.url())
    (row_id,) = box.enqueue([note()])
    webhook.stop()  # connection refused
    start = clock.now()
    assert await box.deliver_due() == 1
    (row,) = rows(store)
    assert (row.status, row.attempts, row.due_at - start) == ("pending", 1, 5.0)
    assert "Connection error" in row.last_error
    assert row.lease_until is None

    clock.advance(4)
    assert await box.deliver_due() == 0  # not due yet: no request at all
    clock.advance(1)
    webhook.start()
    webhook.status = 500
    assert await box.deliver_due() == 1
    (row,) = rows(store)
    assert (row.status, row.attempts, row.due_at - clock.now()) == ("pending", 2, 10.0)
    assert "error=500" in row.last_error
    counts = box.counts()
    assert (counts.pending, counts.channels["hook"].pending) == (1, 1)
    assert counts.oldest_pending_age == clock.now() - start

    clock.advance(10)
    webhook.status = 200
    assert await box.deliver_due() == 1
    clock.advance(3600)
    assert await box.deliver_due() == 0
    assert len(webhook.requests) == 1
    (row,) = rows(store)
    assert (row.id, row.status, row.attempts, row.last_error) == (row_id, "sent", 3, None)
    box.close()


async def test_a_4xx_fails_at_once_and_is_not_retried(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = make(store, clock, hook=webhook.url())
    box.enqueue([note()])
    webhook.status = 400
    assert await box.deliver_due() == 1
    webhook.status = 200
    clock.advance(7200)
    assert await box.deliver_due() == 0
    assert webhook.requests == []
    (row,) = rows(store)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "error=400" in row.last_error
    (failed,) = box.failures()
    assert (failed.id, failed.channel, failed.kind, failed.attempts) == (
        row.id,
        "hook",
        "firing",
        1,
    )
    assert "error=400" in (failed.last_error or "")
    assert box.counts().channels["hook"].failed == 1
    box.close()


async def test_unsupported_url_fails(store: Store, clock: ManualClock) -> None:
    box = make(store, clock, weird="nosuch://host/x")
    box.enqueue([note(channel="weird")])
    assert await box.deliver_due() == 1
    (row,) = rows(store)
    assert row.status == "failed"
    assert "unsupported URL" in row.last_error
    box.close()


async def test_a_resolve_never_overtakes_its_trigger(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = make(store, clock, hook=webhook.url())
    webhook.status = 503
    box.enqueue([note("firing", "db-down")])
    assert await box.deliver_due() == 1  # the trigger fails and waits 5 s
    webhook.status = 200
    box.enqueue([note("resolved", "db-down"), note("firing", "api-slow")])
    assert await box.deliver_due() == 1  # another alert is not held up
    assert [b["title"] for b in webhook.bodies] == ["[FIRING] api-slow"]
    assert await box.deliver_due() == 0  # the resolve waits for its trigger
    clock.advance(5)
    assert await box.deliver_due() == 1
    assert await box.deliver_due() == 1
    assert await box.deliver_due() == 0
    assert [b["title"] for b in webhook.bodies] == [
        "[FIRING] api-slow",
        "[FIRING] db-down",
        "[RESOLVED] db-down",
    ]
    box.close()


async def test_order_is_kept_within_a_burst(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = make(store, clock, hook=webhook.url())
    kinds = ["firing", "repeat", "resolved", "firing", "resolved"]
    box.enqueue([note(k, "flappy", title=f"{i} {k}") for i, k in enumerate(kinds)])
    while await box.deliver_due():
        pass
    assert [b["title"] for b in webhook.bodies] == [f"{i} {k}" for i, k in enumerate(kinds)]
    box.close()


async def test_written_but_not_sent_is_delivered_once_by_the_next_process(
    store_url: str, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    first = Store(store_url)
    first.migrate()
    make(first, clock, hook=webhook.url()).enqueue([note()])
    first.close()  # the process dies before sending

    second = Store(store_url)
    box = make(second, clock, hook=webhook.url())
    assert await box.deliver_due() == 1
    assert await box.deliver_due() == 0
    assert len(webhook.requests) == 1
    box.close()
    second.close()


async def test_claimed_but_unsent_is_delivered_once_after_the_lease(
    store_url: str, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    first = Store(store_url)
    first.migrate()
    dead = make(first, clock, hook=webhook.url())
    dead.enqueue([note()])
    lease, claimed = dead.claim()  # claimed, then the process dies before sending
    assert len(claimed) == 1
    first.close()

    second = Store(store_url)
    box = make(second, clock, hook=webhook.url())
    assert await box.deliver_due() == 0  # still leased by the dead process
    clock.advance(lease - clock.now())
    assert await box.deliver_due() == 1
    assert await box.deliver_due() == 0
    assert len(webhook.requests) == 1
    (row,) = rows(second)
    assert (row.status, row.attempts) == ("sent", 1)
    box.close()
    second.close()


async def test_a_stale_worker_cannot_overwrite_the_new_owners_outcome(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = make(store, clock, hook=webhook.url())
    box.enqueue([note()])
    old_lease, _ = box.claim()
    clock.advance(31)
    assert await box.deliver_due() == 1  # the new claim sends it
    with store.engine.begin() as conn:  # the old owner's lease no longer matches
        done = conn.execute(
            update(outbox_table)
            .where(outbox_table.c.lease_until == old_lease)
            .values(status="failed")
        )
    assert done.rowcount == 0
    assert rows(store)[0].status == "sent"
    box.close()


async def test_gives_up_after_max_age(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = Outbox(
        store,
        {"hook": ChannelConfig(url=webhook.url())},
        clock,
        AppriseSender(),
        retry=RetryPolicy(base=5, cap=60, jitter=0.0, max_age=600),
    )
    box.enqueue([note()])
    webhook.status = 500
    tries = 0
    while rows(store)[0].status == "pending":
        tries += await box.deliver_due()
        clock.advance(60)
    (row,) = rows(store)
    assert row.status == "failed"
    assert row.last_error.startswith("gave up after 10m: ")
    assert "error=500" in row.last_error
    assert 8 <= tries <= 16
    box.close()


async def test_a_row_older_than_max_age_is_not_sent(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = make(store, clock, hook=webhook.url())
    box.enqueue([note()])
    clock.advance(86400)  # Lightkeeper was down for a day
    assert await box.deliver_due() == 1
    assert webhook.requests == []
    (row,) = rows(store)
    assert (row.status, row.attempts) == ("failed", 0)
    assert row.last_error == "not sent within 24h: gave up"
    box.close()


async def test_a_channel_removed_from_the_config_fails_its_rows(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    make(store, clock, old=webhook.url()).enqueue([note(channel="old")])
    box = make(store, clock, hook=webhook.url())
    assert await box.deliver_due() == 1
    assert rows(store)[0].last_error == "channel 'old' is not configured"
    box.close()


async def test_add_joins_the_callers_transaction(store: Store, clock: ManualClock) -> None:
    box = make(store, clock, hook="json://127.0.0.1:9/")

    class Abort(Exception):
        pass

    def write_then_fail() -> None:
        with store.engine.begin() as conn:
            assert len(box.add(conn, [note(), note("resolved")], clock.now())) == 2
            raise Abort

    with pytest.raises(Abort):
        write_then_fail()
    assert rows(store) == []
    with store.engine.begin() as conn:
        ids = box.add(conn, [note(), note("resolved")], clock.now())
    assert [r.id for r in rows(store)] == ids
    box.close()


def test_unknown_channel_is_rejected(store: Store, clock: ManualClock) -> None:
    box = make(store, clock, hook="json://127.0.0.1:9/")
    with pytest.raises(ValueError, match=r"unknown channel 'nope' \(configured: hook\)"):
        box.enqueue([note(channel="nope")])
    assert rows(store) == []


def test_long_dedup_keys_fit_and_stay_distinct() -> None:
    a, b = "g" * 200 + "a", "g" * 200 + "b"
    assert len(fit_key(a)) == 128
    assert fit_key(a) == fit_key(a) != fit_key(b)
    assert fit_key("short") == "short"


async def test_a_failed_test_message_is_not_retried(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = make(store, clock, hook=webhook.url())
    webhook.stop()
    outcome = await box.send_test("hook")
    assert outcome.status == "failed"
    assert "Connection error" in (outcome.error or "")
    webhook.start()
    outcome = await box.send_test("hook")
    assert (outcome.status, outcome.error) == ("sent", None)
    assert webhook.bodies[0]["title"] == "Lightkeeper test message for hook"
    clock.advance(3600)
    assert await box.deliver_due() == 0
    assert len(webhook.requests) == 1
    box.close()


async def test_run_delivers_at_once_when_woken(
    store: Store, clock: ManualClock, webhook: WebhookReceiver
) -> None:
    box = Outbox(store, {"hook": ChannelConfig(url=webhook.url())}, clock, poll=30.0)
    task = asyncio.create_task(box.run())
    try:
        await asyncio.sleep(0.05)  # the loop is now waiting out its 30 s poll
        box.enqueue([note(key="a")])
        box.wake()
        await wait_until(lambda: len(webhook.requests) == 1)

        def engine_commit() -> None:  # in a worker thread, as the alert engine's writes
            box.enqueue([note(key="b")])
            box.wake()

        await asyncio.to_thread(engine_commit)
        await wait_until(lambda: len(webhook.requests) == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        box.close()


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_two_outboxes_on_postgresql_never_send_a_row_twice(
    pg_database: str, webhook: WebhookReceiver
) -> None:
    stores = [Store(pg_database), Store(pg_database)]
    stores[0].migrate()
    clock = ManualClock()
    boxes = [
        Outbox(
            stores[i], {"hook": ChannelConfig(url=webhook.url())}, clock, AppriseSender(), batch=7
        )
        for i in range(2)
    ]
    # 20 alerts × (firing, resolved): order matters within each alert, not across them.
    boxes[0].enqueue(
        [
            note(kind, f"alert-{a}", title=f"{a}-{kind}")
            for kind in ("firing", "resolved")
            for a in range(20)
        ]
    )
    handled = [0, 0]
    start = threading.Barrier(2)

    async def drain(i: int) -> None:
        await asyncio.to_thread(start.wait)
        while sum(r.status == "pending" for r in await asyncio.to_thread(rows, stores[i])):
            handled[i] += await boxes[i].deliver_due()

    await asyncio.gather(drain(0), drain(1))
    titles = [b["title"] for b in webhook.bodies]
    assert Counter(titles) == Counter(f"{a}-{k}" for a in range(20) for k in ("firing", "resolved"))
    for a in range(20):
        assert titles.index(f"{a}-firing") < titles.index(f"{a}-resolved")
    assert sum(handled) == 40
    assert all(handled), f"both outboxes should have delivered some rows: {handled}"
    for box, s in zip(boxes, stores, strict=True):
        box.close()
        s.close()
