"""Notification channels as configured: a name and an Apprise URL (a secret)."""

from __future__ import annotations

from pydantic import Field

from lightkeeper.probes.base import StrictModel


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
        """The URL without its secrets (Apprise knows which parts of each service's are)."""
        # Imported here: Apprise costs a seventh of a second that config loading never needs.
        from lightkeeper.notify.sender import describe_target

        return describe_target(self.url)
