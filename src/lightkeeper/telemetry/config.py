"""What the ``telemetry:`` section of the config says: projects, quotas, limits, scrubbing,
retention and the AI price table.

Example (YAML)::

    telemetry:
      projects:
        - name: web
          id: 1
          key: ${LIGHTKEEPER_WEB_KEY}     # the DSN's public key; from the environment
          quota: {errors: 600, transactions: 6000}   # per minute, enforced at ingest
      scrub: {keys: [ssn], emails: true}
      retention: {max_age: 30d, max_events: 10000}
      prices:                           # USD per million tokens
        claude-sonnet-4: {input: 3, output: 15}
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from pydantic import Field, field_validator

from lightkeeper.durations import Duration
from lightkeeper.probes.base import StrictModel

#: Sentry's rate-limit categories this ingest counts; see ``telemetry/quota.py``.
CATEGORIES = ("error", "transaction", "session", "event")

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class QuotaConfig(StrictModel):
    """Items accepted per project per minute; one more is answered 429, never dropped."""

    errors: int = Field(6000, ge=0, description="Error and message events per minute.")
    transactions: int = Field(60000, ge=0, description="Transactions per minute.")
    sessions: int = Field(60000, ge=0, description="Session updates per minute.")
    events: int = Field(
        600_000, ge=0, description="App events (/api/v1/events) and OTLP spans per minute."
    )

    def limit(self, category: str) -> int:
        return {
            "error": self.errors,
            "transaction": self.transactions,
            "session": self.sessions,
            "event": self.events,
        }[category]


class ProjectConfig(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="A short slug.")
    id: int = Field(ge=1, le=2**31 - 1, description="The number at the end of the DSN.")
    key: str = Field(
        description="The DSN's public key (16–128 letters, digits, - or _); keep it in the "
        "environment: key: ${LIGHTKEEPER_WEB_KEY}. Generate one with `lightkeeper token`."
    )
    quota: QuotaConfig = Field(default_factory=QuotaConfig)

    @field_validator("key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError(
                "a project key is 16–128 letters, digits, '-' or '_'; "
                "generate one with `lightkeeper token`"
            )
        return value


class LimitsConfig(StrictModel):
    max_body: int = Field(
        20 * 2**20, ge=1024, description="Largest request body, in bytes, once decompressed."
    )
    max_item: int = Field(
        1 * 2**20, ge=1024, description="Largest single event or item, in bytes (413 above)."
    )


class ScrubConfig(StrictModel):
    """Removed before anything is stored, as the seed's ``beforeSend`` does."""

    keys: list[str] = Field(
        default_factory=list,
        description="More keys whose values are replaced by [Filtered] (password, token, "
        "secret, cookie, authorization … are always).",
    )
    emails: bool = Field(False, description="Also replace e-mail addresses in any value.")


class TelemetryRetention(StrictModel):
    max_age: Duration = Field(30 * 86400.0, description="Events older than this are deleted.")
    max_events: int = Field(
        10_000, ge=1, description="Per project, only the newest this many events are kept."
    )
    minutes: Duration = Field(
        35 * 86400.0, description="One-minute signal rollups (charts, baselines) kept this long."
    )


class Price(StrictModel):
    input: float = Field(ge=0, description="USD per million input tokens.")
    output: float = Field(0.0, ge=0, description="USD per million output tokens.")


class TelemetryConfig(StrictModel):
    projects: list[ProjectConfig] = Field(default_factory=list)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    scrub: ScrubConfig = Field(default_factory=ScrubConfig)
    retention: TelemetryRetention = Field(default_factory=TelemetryRetention)
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="Model name (or a glob such as 'claude-sonnet-4*') → price per million "
        "tokens; ai_usage events of other models count tokens but no cost.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.projects)

    def project(self, project_id: int) -> ProjectConfig | None:
        return next((p for p in self.projects if p.id == project_id), None)

    def named(self, name: str) -> ProjectConfig | None:
        return next((p for p in self.projects if p.name == name), None)

    def price(self, model: str) -> Price | None:
        """The exact entry, else the longest matching glob (the most specific)."""
        exact = self.prices.get(model)
        if exact is not None:
            return exact
        globs = [g for g in self.prices if any(c in g for c in "*?[") and fnmatchcase(model, g)]
        return self.prices[max(globs, key=len)] if globs else None

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Cross-field mistakes, each with its place: duplicate names, ids and keys."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        for field in ("name", "id", "key"):
            seen: dict[object, int] = {}
            for i, project in enumerate(self.projects):
                value = getattr(project, field)
                if value in seen:
                    shown = "the same key" if field == "key" else repr(value)
                    found.append(
                        (
                            ("telemetry", "projects", i, field),
                            f"{shown} is also project {seen[value] + 1}'s {field}; "
                            f"each project needs its own",
                        )
                    )
                else:
                    seen[value] = i
        return found
