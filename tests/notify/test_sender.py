"""AppriseSender against real receivers: what arrives, and which failures are permanent."""

from __future__ import annotations

from typing import Any

import pytest

from lightkeeper.notify.message import Notification
from lightkeeper.notify.sender import AppriseSender, describe_target, is_permanent, redact_error
from tests.notify.conftest import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.integration

FACTS: dict[str, Any] = {
    "value": 3512.4,
    "threshold": 3000,
    "since": "2026-01-05 10:00:00 UTC",
    "runbook": "https://status.example.com/runbooks/site-down",
    "dashboard": "http://127.0.0.1:8080/ui/monitors/api",
    "severity": "critical",
}
BODY = (
    "FIRING api-latency (critical) — monitor=api\n"
    "  value 3512, threshold 3000: p95(latency_ms) over 5m > 3000\n"
    "  since 2026-01-05 10:00:00 UTC\n"
    "  runbook: https://status.example.com/runbooks/site-down\n"
    "  dashboard: http://127.0.0.1:8080/ui/monitors/api"
)


def alert(kind: str = "firing", channel: str = "hook", key: str = "api-latency") -> Notification:
    return Notification(channel, kind, key, f"[{kind.upper()}] api-latency", BODY, dict(FACTS))


def test_json_webhook_gets_title_and_the_facts(webhook: WebhookReceiver) -> None:
    delivery = AppriseSender().send(webhook.url(), alert())
    assert delivery.ok, delivery.error
    (body,) = webhook.bodies
    assert body["title"] == "[FIRING] api-latency"
    assert body["type"] == "failure"
    for fact in ("3512", "3000", "2026-01-05 10:00:00 UTC", FACTS["runbook"], FACTS["dashboard"]):
        assert fact in body["message"]
    assert webhook.requests[0].path == "/hook"


def test_facts_missing_from_the_body_are_added(webhook: WebhookReceiver) -> None:
    bare = Notification("hook", "firing", "k", "down", "api is down", dict(FACTS))
    assert AppriseSender().send(webhook.url(), bare).ok
    message = webhook.bodies[0]["message"]
    assert message.startswith("api is down\n\n")
    for name in (
        "value: 3512.4",
        "threshold: 3000",
        "since: 2026",
        "runbook: https",
        "dashboard: http",
    ):
        assert name in message


def test_resolved_is_a_success_message(webhook: WebhookReceiver) -> None:
    assert AppriseSender().send(webhook.url(), alert("resolved")).ok
    assert webhook.bodies[0]["type"] == "success"


def test_email_arrives_at_a_plain_smtp_server(smtp: SmtpReceiver) -> None:
    delivery = AppriseSender().send(smtp.url(), alert(channel="mail"))
    assert delivery.ok, delivery.error
    (message,) = smtp.messages
    assert message["Subject"] == "[FIRING] api-latency"
    assert smtp.envelopes[0].rcpt_tos == ["ops@example.com"]
    assert smtp.envelopes[0].mail_from == "lightkeeper@example.com"
    text = smtp.text()
    for fact in ("3512", "3000", "2026-01-05 10:00:00 UTC", FACTS["runbook"], FACTS["dashboard"]):
        assert fact in text


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (500, False),
        (502, False),
        (503, False),
        (408, False),
        (429, False),
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (410, True),
    ],
)
def test_http_status_decides_permanent_or_retry(
    webhook: WebhookReceiver, status: int, permanent: bool
) -> None:
    webhook.status = status
    delivery = AppriseSender().send(webhook.url(), alert())
    assert not delivery.ok
    assert delivery.permanent is permanent
    assert delivery.error is not None
    assert f"error={status}" in delivery.error


def test_connection_refused_is_transient(webhook: WebhookReceiver) -> None:
    webhook.stop()
    delivery = AppriseSender().send(webhook.url(), alert())
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert delivery.error is not None
    assert "Connection error" in delivery.error


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nosuch://host/token", "unsupported URL: scheme 'nosuch' is not an Apprise service"),
        ("no-scheme-at-all", "unsupported URL: no scheme"),
        ("slack://bad", "invalid slack:// URL"),
        ("mailto://127.0.0.1:25?from=a@b.c", "invalid mailto:// URL"),
    ],
)
def test_urls_apprise_cannot_load_fail_permanently(url: str, expected: str) -> None:
    delivery = AppriseSender().send(url, alert())
    assert (delivery.ok, delivery.permanent) == (False, True)
    assert delivery.error is not None
    assert expected in delivery.error


def test_errors_never_carry_the_urls_secrets(webhook: WebhookReceiver) -> None:
    webhook.status = 401
    url = (
        webhook.url().replace("json://", "json://bot:hunter2secret@") + "?+X-Api-Token=tok123456789"
    )
    delivery = AppriseSender().send(url, alert())
    assert delivery.permanent
    assert delivery.error is not None
    assert "hunter2secret" not in delivery.error
    assert "tok123456789" not in delivery.error
    # What a plugin complains about when it rejects a key still has the key masked.
    key = "u+Abcdef0123456789XyZ"
    masked = redact_error(
        f"An invalid Pager Duty API Key ({key}) was specified.", f"pagerduty://{key}@apikey999"
    )
    assert key not in masked


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("json://127.0.0.1:9000/alerts", "json://127.0.0.1:9000/alerts"),
        ("json://bot:pw123456@hooks.example.com/x", "json://bot:***@hooks.example.com/x"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack://***/***/***"),
        (
            "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",  # lightkeeper:allow
            "https://hooks.slack.com/services/***/***/***",
        ),
        ("pagerduty://intkey0123456@apikey0123456?region=eu", "pagerduty://***@***?region=eu"),
        (
            "mailtos://ops:pass1234@smtp.example.com?to=a@example.com",
            "mailtos://ops:***@smtp.example.com?to=a@example.com",
        ),
        (
            "json://h.example.com/p?+Authorization=Bearer%20x1",
            "json://h.example.com/p?+Authorization=***",
        ),
        ("nosuch://s3cr3t@somewhere/path", "nosuch://***@***/***"),
    ],
)
def test_describe_target_hides_secrets(url: str, shown: str) -> None:
    assert describe_target(url) == shown


@pytest.mark.parametrize(
    ("lines", "permanent"),
    [
        (["Failed to send JSON POST notification: Bad Request, error=400."], True),
        (["Failed to send Slack: Not Found, error=404."], True),
        (["Failed to send: error=429."], False),
        (["Failed to send: error=408."], False),
        (["Failed to send: Internal server error., error=500."], False),
        (["A Connection error occurred sending JSON notification to 127.0.0.1."], False),
        (["SMTP recipient a@example.com was refused: 550 no such user"], True),
        (["SMTP recipient a@example.com was refused: 451 try later"], False),
        ([], False),
    ],
)
def test_is_permanent(lines: list[str], permanent: bool) -> None:
    assert is_permanent(lines) is permanent


def test_pagerduty_trigger_and_resolve_share_the_dedup_key(fake_pagerduty: WebhookReceiver) -> None:
    url = "pagerduty://intkey0123456@apikey0123456?region=eu"
    sender = AppriseSender()
    key = "route=critical|service=api"
    assert sender.send(url, alert("firing", "pd", key)).ok
    assert sender.send(url, alert("resolved", "pd", key)).ok
    trigger, resolve = fake_pagerduty.bodies
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == key
    assert trigger["routing_key"] == "intkey0123456"
    assert trigger["payload"]["severity"] == "critical"
    assert "3512" in trigger["payload"]["summary"]
    details = trigger["payload"]["custom_details"]
    assert details["runbook"] == FACTS["runbook"]
    assert details["threshold"] == "3000"
    assert trigger["links"] == [{"href": FACTS["dashboard"]}]
    assert resolve == {"routing_key": "intkey0123456", "event_action": "resolve", "dedup_key": key}
    assert fake_pagerduty.requests[0].headers["Authorization"] == "Token token=apikey0123456"


def test_warm_up_loads_channels_once_and_they_still_send(webhook: WebhookReceiver) -> None:
    sender = AppriseSender()
    url = f"json://127.0.0.1:{webhook.port}/hook"
    sender.warm_up([url, "nope://not-a-service"])
    loaded = sender._cache[url]
    sender.warm_up([url])
    assert sender._cache[url] is loaded  # kept, with its rate-limit state
    assert sender._cache["nope://not-a-service"].apprise is None
    n = Notification("hook", "firing", "k1", "[FIRING:1] x", "value 1, threshold 1")
    assert sender.send(url, n).ok
    bad = sender.send("nope://not-a-service", n)
    assert not bad.ok
    assert bad.permanent
