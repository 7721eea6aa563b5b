"""The probe contract: a monitor's config model, the probe it builds, and what probes share.

A new probe kind is one file in this package that defines a config model (a subclass of
:class:`MonitorBase` with ``type: Literal["kind"]``) and a probe class with an async
``check()``, plus one line in ``probes/__init__.py``'s registry.
"""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lightkeeper.clock import Clock, SystemClock
from lightkeeper.durations import Duration, format_duration, parse_duration
from lightkeeper.types import ProbeResult

DEFAULT_TIMEOUT = 10.0
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"


class StrictModel(BaseModel):
    """Every config model rejects unknown keys, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MonitorBase(StrictModel):
    """Fields every monitor has, whatever it checks."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique name, used in URLs and alerts.")
    type: str
    interval: Duration = Field(60.0, description="How often to check (minimum 1s).")
    timeout: Duration = Field(DEFAULT_TIMEOUT, description="A check that takes longer is down.")
    critical: bool = Field(
        False, description="When down, the whole status is unhealthy on its own."
    )
    failures_before_down: int = Field(
        2, ge=1, le=100, description="Consecutive failed checks before the monitor is down."
    )
    successes_before_up: int = Field(
        1, ge=1, le=100, description="Consecutive good checks before a down monitor is up."
    )
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _timeout_fits_interval(cls, data: Any) -> Any:
        """With no explicit timeout, a monitor checked more often than every 10s times
        out at its interval, so `interval: 1s` alone is valid."""
        if isinstance(data, dict) and "timeout" not in data and "interval" in data:
            try:
                interval = parse_duration(data["interval"])
            except ValueError:
                return data  # the field validator reports it, at its place
            if interval < DEFAULT_TIMEOUT:
                return {**data, "timeout": interval}
        return data

    @field_validator("interval")
    @classmethod
    def _interval_at_least_a_second(cls, value: float) -> float:
        if value < 1.0:
            raise ValueError("interval must be at least 1s (a shorter one floods the target)")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("timeout must be more than 0s")
        return value

    #: Passive monitors are not checked by the scheduler calling out; see probes/push.py.
    passive: ClassVar[bool] = False

    def target(self) -> str:
        """Where this monitor points, safe to show (no credentials)."""
        return ""


class PingBook(Protocol):
    """Last pings seen for push monitors (kept by the scheduler, persisted in the store)."""

    def last_ping(self, monitor: str) -> tuple[float | None, float | None, str]:
        """(last ping time, last start time, last kind: 'success' | 'fail' | '')."""


#: HTTP connection pools per TLS setting. httpcore scans its whole pool (in quadratic
#: time) twice per request, so one pool holding the ~30 connections of 10,000 monitors
#: cost more CPU than the check itself; many small pools keep every scan short.
POOL_SHARDS = 16


@dataclass
class ProbeContext:
    """What probes share: pooled HTTP clients, the clock, and push-monitor pings."""

    clock: Clock = field(default_factory=SystemClock)
    pings: PingBook | None = None
    _clients: dict[tuple[bool, str, int], httpx.AsyncClient] = field(default_factory=dict)
    _tls: dict[tuple[bool, str], ssl.SSLContext] = field(default_factory=dict)

    def http_client(
        self, verify: bool = True, ca_file: str | None = None, caller: str = ""
    ) -> httpx.AsyncClient:
        """A pooled client for this TLS setting, shared by every HTTP-speaking probe.

        ``caller`` (a monitor's name) picks one of :data:`POOL_SHARDS` pools, always the
        same one, so a monitor still reuses its keep-alive connections.
        """
        key = (verify, ca_file or "", zlib.crc32(caller.encode()) % POOL_SHARDS)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                verify=self._tls_context(verify, ca_file),
                limits=httpx.Limits(
                    max_connections=1000, max_keepalive_connections=200 // POOL_SHARDS
                ),
                headers={"User-Agent": "Lightkeeper/0.1 (+uptime check)"},
                # Monitors share clients: a cookie one target sets must never ride along
                # with another monitor's check, so the jar refuses every cookie.
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            )
            self._clients[key] = client
        return client

    def _tls_context(self, verify: bool, ca_file: str | None) -> ssl.SSLContext:
        """One context per TLS setting, shared by its pools (loading CAs takes a while)."""
        key = (verify, ca_file or "")
        context = self._tls.get(key)
        if context is None:
            # httpx 0.28 deprecates verify=<path>; an SSLContext is the supported way.
            context = (
                ssl.create_default_context(cafile=ca_file)
                if (verify and ca_file)
                else httpx.create_ssl_context(verify=verify)
            )
            self._tls[key] = context
        return context

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


class Probe(Protocol):
    """Checks one thing once. Never raises for a failed target: it returns a DOWN result."""

    async def check(self) -> ProbeResult: ...


ProbeFactory = Callable[[Any, ProbeContext], Probe]


class Stopwatch:
    """Milliseconds since creation, on the monotonic clock."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0


def timed_out(seconds: float) -> str:
    """The reason for a check that its own timeout cut short: 'timed out after 10s'."""
    return f"timed out after {format_duration(seconds)}"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it, and so on (``__cause__`` or ``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_error(exc: BaseException) -> str:
    """An exception as plain words, without credentials or Python class noise."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    # Drivers wrap the socket error ("All connection attempts failed", "Error 111
    # connecting to ..."), so the refusal is looked for down the whole chain.
    if any(isinstance(e, ConnectionRefusedError) for e in causes(exc)):
        return "connection refused"
    if "connection refused" in lowered:
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found (DNS)"
    if "temporary failure in name resolution" in lowered:
        return "host name not found (DNS)"
    return text.splitlines()[0][:300]
