"""Notification channels as configured: a name and an Apprise URL (a secret)."""

from __future__ import annotations

from pydantic import Field

from lightkeeper.probes.base import StrictModel
from lightkeeper.redact import redact_url


class ChannelConfig(StrictModel):
    """One place messages go. Example (YAML)::

    channels:
      ops-slack: {url: "${SLACK_WEBHOOK_URL}"}        # slack://… or https://hooks.slack.com/…
      oncall-mail: {url: "mailtos://user:${SMTP_PASSWORD}@smtp.example.com?to=ops@example.com"}
      hook: {url: "json://127.0.0.1:9000/alerts"}
    """

    url: str = Field(min_length=1, repr=False, description="An Apprise URL; keep it in ${ENV}.")
    description: str = ""

    def target(self) -> str:
        return redact_url(self.url)
