"""The probe registry: every monitor kind's config model and probe, by its ``type`` name.

Adding a kind is one new module plus one line in :data:`PROBES`; :data:`MonitorConfig`
(the union the config loader validates against) is built from the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from lightkeeper.probes.base import MonitorBase, Probe, ProbeContext, ProbeFactory
from lightkeeper.probes.chroma import ChromaMonitor, ChromaProbe
from lightkeeper.probes.env import EnvMonitor, EnvProbe
from lightkeeper.probes.http import HttpMonitor, HttpProbe
from lightkeeper.probes.postgres import PostgresMonitor, PostgresProbe
from lightkeeper.probes.push import PushMonitor, PushProbe
from lightkeeper.probes.redis import RedisMonitor, RedisProbe
from lightkeeper.probes.tcp import TcpMonitor, TcpProbe
from lightkeeper.probes.tls import TlsMonitor, TlsProbe

PROBES: dict[str, tuple[type[MonitorBase], ProbeFactory]] = {
    "http": (HttpMonitor, HttpProbe),
    "tcp": (TcpMonitor, TcpProbe),
    "tls": (TlsMonitor, TlsProbe),
    "postgres": (PostgresMonitor, PostgresProbe),
    "redis": (RedisMonitor, RedisProbe),
    "chroma": (ChromaMonitor, ChromaProbe),
    "env": (EnvMonitor, EnvProbe),
    "push": (PushMonitor, PushProbe),
}

if TYPE_CHECKING:
    # To a type checker any monitor is a MonitorBase; narrow with isinstance.
    MonitorConfig = MonitorBase
else:
    # At run time pydantic gets the real tagged union, so `type:` picks the model and
    # errors name only that model's fields.
    MonitorConfig = Annotated[
        Union[tuple(model for model, _ in PROBES.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]


def build_probe(config: MonitorBase, ctx: ProbeContext) -> Probe:
    """The probe for a validated monitor config."""
    try:
        _, factory = PROBES[config.type]
    except KeyError:
        raise ValueError(f"unknown monitor type {config.type!r}") from None
    return factory(config, ctx)


__all__ = ["PROBES", "MonitorBase", "MonitorConfig", "Probe", "ProbeContext", "build_probe"]
