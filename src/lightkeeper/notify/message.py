"""A notification as the engine hands it to the outbox: where it goes, what it says, the facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

KINDS: Final = frozenset({"firing", "resolved", "repeat", "test", "digest"})

# The facts a person needs to act, in the order a message lists them. The engine renders
# them into the body; `text()` adds any it left out so no channel ever lacks them.
FACTS: Final = ("value", "threshold", "since", "runbook", "dashboard")


@dataclass(frozen=True)
class Notification:
    """One message for one channel.

    ``dedup_key`` is the same for an alert's trigger, repeats and resolve: the outbox
    keeps their order per channel, and PagerDuty uses it to resolve the incident the
    trigger opened. ``body`` is plain text or Markdown; ``payload`` holds the structured
    facts (value, threshold, since, runbook, dashboard link, severity, labels …).
    """

    channel: str
    kind: str
    dedup_key: str
    title: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"notification kind {self.kind!r} is not one of {sorted(KINDS)}")
        if not self.dedup_key:
            raise ValueError("a notification needs a dedup_key")

    def text(self) -> str:
        """The body, followed by any fact from the payload that the body does not mention.

        Webhooks and e-mail get only the title and this text (Apprise sends no structured
        payload), so the facts must be in it. A fact counts as mentioned when the body
        names it ("threshold 3000") or shows its value: the engine formats numbers its
        own way, so looking for the raw value alone would repeat them.
        """
        lowered = self.body.lower()
        missing = [
            f"{name}: {self.payload[name]}"
            for name in FACTS
            if self.payload.get(name) not in (None, "")
            and name not in lowered
            and str(self.payload[name]) not in self.body
        ]
        if not missing:
            return self.body
        return "\n".join([self.body.rstrip(), "", *missing]) if self.body else "\n".join(missing)
