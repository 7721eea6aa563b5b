"""The configuration: YAML → validated pydantic models, with errors as FILE:LINE:COL.

``load_config(path)`` is the only entry point. Every problem it finds is collected and
raised together as one :class:`ConfigError`, each line naming the file, the place and the
fix; the CLI prints them and exits with code 3.
"""

from __future__ import annotations

import difflib
import ipaddress
import types
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from lightkeeper.audit.config import AuditsConfig
from lightkeeper.backup.config import BackupsConfig
from lightkeeper.durations import Duration
from lightkeeper.errors import ConfigError
from lightkeeper.incidents.config import IncidentsConfig, OncallConfig
from lightkeeper.incidents.config import check as check_incidents
from lightkeeper.notify.channels import ChannelConfig
from lightkeeper.probes import PROBES, MonitorConfig
from lightkeeper.probes.base import StrictModel
from lightkeeper.rules.digest import DigestConfig
from lightkeeper.rules.engine import RuleConfig
from lightkeeper.rules.mute import InhibitRule, MaintenanceWindow
from lightkeeper.rules.router import RoutingConfig
from lightkeeper.telemetry.config import TelemetryConfig
from lightkeeper.yamlpos import Located, Path, YamlSyntaxError, load_yaml

DEFAULT_STORE_URL = "sqlite:///.lightkeeper/lightkeeper.db"
MONITOR_MODELS = {kind: model for kind, (model, _probe) in PROBES.items()}


class StoreConfig(StrictModel):
    url: str = Field(
        DEFAULT_STORE_URL,
        description="sqlite:///path.db (embedded, the default) or postgresql://user@host/db",
    )


class ServerConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Address to bind; 127.0.0.1 keeps it private.")
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = Field(
        None,
        description="How people reach this server (links in messages); default http://host:port.",
    )


def _auth_shorthand(value: Any) -> Any:
    return {"mode": value} if isinstance(value, str) else value


class AuthConfig(StrictModel):
    mode: Literal["none", "token"] = Field(
        "none",
        description="token: the API and dashboard need a bearer token or a login. "
        "none: open, allowed only when the server binds to loopback.",
    )
    metrics_require_token: bool = Field(
        False, description="Ask for a token on /metrics too (it is public by default)."
    )
    session_hours: int = Field(12, ge=1, le=24 * 30, description="Dashboard login lifetime.")


class SchedulerConfig(StrictModel):
    concurrency: int = Field(256, ge=1, le=10_000, description="Checks in flight at once, at most.")
    write_interval: Duration = Field(1.0, description="How often results are written, in batches.")


class RetentionConfig(StrictModel):
    results: Duration = Field(7 * 86400.0, description="Raw check results are kept this long.")
    hourly: Duration = Field(35 * 86400.0, description="Hourly rollups (24 h uptime, charts).")
    daily: Duration = Field(400 * 86400.0, description="Daily rollups (7 d / 30 d uptime).")
    notifications: Duration = Field(
        30 * 86400.0, description="Sent and failed notifications are kept this long."
    )


class HealthConfig(StrictModel):
    """How per-monitor states add up to one verdict (the seed's /api/health semantics)."""

    degraded_when_down: int = Field(1, ge=1, description="This many monitors down → degraded.")
    unhealthy_when_down: int = Field(2, ge=1, description="This many monitors down → unhealthy.")


class StatusPageConfig(StrictModel):
    enabled: bool = True
    title: str = "Service status"
    monitors: list[str] | None = Field(
        None, description="Monitors shown on the public page (default: all)."
    )


class LightkeeperConfig(StrictModel):
    """The whole lightkeeper.yaml."""

    # A validation error's text would otherwise quote the offending value — a DSN with
    # its password, say — should anything ever print it whole.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    store: StoreConfig = Field(default_factory=StoreConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: Annotated[AuthConfig, BeforeValidator(_auth_shorthand)] = Field(
        default_factory=AuthConfig
    )
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    status_page: StatusPageConfig = Field(default_factory=StatusPageConfig)
    monitors: list[MonitorConfig] = Field(default_factory=list)
    channels: dict[str, ChannelConfig] = Field(
        default_factory=dict, description="Where notifications go: name → Apprise URL."
    )
    alerts: list[RuleConfig] = Field(default_factory=list, description="Alert rules.")
    digest: DigestConfig = Field(default_factory=DigestConfig)
    runbooks: str | None = Field(
        None, description="Directory of Markdown runbooks, relative to this file."
    )
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    inhibit: list[InhibitRule] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    oncall: OncallConfig = Field(
        default_factory=OncallConfig, description="Rotations and the people they page."
    )
    incidents: IncidentsConfig = Field(
        default_factory=IncidentsConfig, description="Which alerts open incidents; who is paged."
    )
    telemetry: TelemetryConfig = Field(
        default_factory=TelemetryConfig,
        description="Projects whose apps send errors (Sentry SDKs), events and OpenTelemetry.",
    )
    backups: BackupsConfig = Field(
        default_factory=BackupsConfig,
        description="Backup targets and jobs (PostgreSQL, ChromaDB, directories).",
    )
    audits: AuditsConfig = Field(
        default_factory=AuditsConfig,
        description="Secret-scan allowlist; scheduled secret, header and dependency audits.",
    )

    def base_url(self) -> str:
        """How people reach this server: ``server.public_url``, else http://host:port."""
        return self.server.public_url or f"http://{self.server.host}:{self.server.port}"

    def monitor(self, name: str) -> Any:
        return next((m for m in self.monitors if m.name == name), None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_problem(config: LightkeeperConfig, host: str) -> str | None:
    """Why the server must not start on ``host`` with this auth setting, if it must not."""
    if config.auth.mode == "none" and not is_loopback(host):
        return (
            f"auth: none is only allowed when the server binds to loopback, not {host}"
            "\n  hint: set auth: token and create a token with `lightkeeper token create NAME`,"
            " or bind to 127.0.0.1"
        )
    return None


def default_config_text() -> str:
    """The built-in config that watches this machine (used when no file is given)."""
    return resources.files("lightkeeper").joinpath("default.yaml").read_text(encoding="utf-8")


def load_config(
    path: str | FsPath | None, env: Mapping[str, str] | None = None
) -> LightkeeperConfig:
    """Read, interpolate and validate a config file (``None``: the built-in default)."""
    if path is None:
        return parse_config(default_config_text(), "<built-in default>", env)
    file = FsPath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{file}: no such file\n  hint: check the path,"
                " or run without --config for the built-in default"
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot read: {exc}"]) from None
    config = parse_config(text, str(file), env)
    if config.runbooks is not None:
        # Relative to the file, not to wherever `lightkeeper up` happens to be started.
        config = config.model_copy(
            update={"runbooks": str((file.parent / config.runbooks).resolve())}
        )
    if config.audits.jobs:
        config = config.model_copy(update={"audits": config.audits.relative_to(file.parent)})
    return config


def parse_config(
    text: str, filename: str, env: Mapping[str, str] | None = None
) -> LightkeeperConfig:
    try:
        located = load_yaml(text, env)
    except YamlSyntaxError as exc:
        raise ConfigError(
            [f"{filename}:{exc.mark.line}:{exc.mark.column}: {exc.message}"]
        ) from None
    problems = [f"{filename}:{m.line}:{m.column}: {msg}" for m, msg in located.problems]
    if problems:
        raise ConfigError(problems)
    if not isinstance(located.data, dict):
        raise ConfigError(
            [f"{filename}:1:1: the top level must be a mapping (store:, monitors:, …)"]
        )
    try:
        config = LightkeeperConfig.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, located, filename)) from None
    problems = _cross_checks(config, located, filename)
    if problems:
        raise ConfigError(problems)
    return config


def _cross_checks(config: LightkeeperConfig, located: Located, filename: str) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    tokens: dict[str, str] = {}
    for index, monitor in enumerate(config.monitors):
        where = located.mark(("monitors", index, "name"))
        if monitor.name in seen:
            first = located.mark(("monitors", seen[monitor.name], "name"))
            problems.append(
                f"{filename}:{where.line}:{where.column}: duplicate monitor name {monitor.name!r}"
                f" (first defined at line {first.line})\n  hint: every monitor needs a unique name"
            )
        seen.setdefault(monitor.name, index)
        if monitor.timeout > monitor.interval:
            at = located.mark(("monitors", index, "timeout"))
            problems.append(
                f"{filename}:{at.line}:{at.column}: timeout ({monitor.timeout:g}s) is longer than"
                f" interval ({monitor.interval:g}s)"
                "\n  hint: a check must finish before the next is due"
            )
        token = getattr(monitor, "token", None)
        if isinstance(token, str):
            if token in tokens:
                at = located.mark(("monitors", index, "token"))
                problems.append(
                    f"{filename}:{at.line}:{at.column}: push token already used by monitor"
                    f" {tokens[token]!r}\n  hint: give every push monitor its own token"
                )
            tokens[token] = monitor.name
    problems += _alerting_checks(config, located, filename)
    for place, message in [
        *config.telemetry.problems(),
        *config.backups.problems(),
        *config.audits.problems(),
    ]:
        at = located.mark(place)
        problems.append(f"{filename}:{at.line}:{at.column}: {message}")
    if config.status_page.monitors:
        for index, name in enumerate(config.status_page.monitors):
            if name not in seen:
                at = located.mark(("status_page", "monitors", index))
                problems.append(
                    f"{filename}:{at.line}:{at.column}: status_page lists unknown monitor {name!r}"
                    + _did_you_mean(name, list(seen))
                )
    return problems


def _alerting_checks(config: LightkeeperConfig, located: Located, filename: str) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, rule in enumerate(config.alerts):
        if rule.name in seen:
            at = located.mark(("alerts", index, "name"))
            problems.append(
                f"{filename}:{at.line}:{at.column}: duplicate alert rule name {rule.name!r}"
                "\n  hint: every rule needs a unique name"
            )
        seen.setdefault(rule.name, index)
    for path, message in check_incidents(config):
        at = located.mark(path)
        problems.append(f"{filename}:{at.line}:{at.column}: {message}")
    for position, channel in enumerate(config.digest.channels):
        if channel not in config.channels:
            at = located.mark(("digest", "channels", position))
            problems.append(
                f"{filename}:{at.line}:{at.column}: digest sends to unknown channel {channel!r}"
                + _did_you_mean(channel, list(config.channels))
            )
    for index, route in enumerate(config.routing.routes):
        for position, channel in enumerate(route.channels):
            if channel not in config.channels:
                at = located.mark(("routing", "routes", index, "channels", position))
                problems.append(
                    f"{filename}:{at.line}:{at.column}: route sends to unknown channel {channel!r}"
                    + _did_you_mean(channel, list(config.channels))
                )
    return problems


def _explain(exc: ValidationError, located: Located, filename: str) -> list[str]:
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = _data_path(loc, located.data)
        kind = error["type"]
        if kind == "extra_forbidden":
            mark = located.mark(path, prefer_key=True)
            key = str(path[-1]) if path else "?"
            allowed = _allowed_keys(loc[:-1])
            message = f"unknown key {key!r}" + _did_you_mean(key, allowed)
        elif kind == "missing":
            mark = located.mark(path)
            message = f"missing required key {path[-1]!r}" if path else "missing value"
        elif kind == "union_tag_invalid":
            mark = located.mark((*path, "type"))
            expected = ", ".join(MONITOR_MODELS)
            given = (
                error.get("input", {}).get("type") if isinstance(error.get("input"), dict) else None
            )
            message = (
                f"unknown monitor type {given!r}; expected one of: {expected}"
                + _did_you_mean(str(given), list(MONITOR_MODELS))
            )
        elif kind == "union_tag_not_found":
            mark = located.mark(path)
            message = f"monitor needs a type: one of {', '.join(MONITOR_MODELS)}"
        else:
            mark = located.mark(path)
            message = _clean(error["msg"])
            if path:
                message = f"{path[-1]}: {message}"
        lines.append(f"{filename}:{mark.line}:{mark.column}: {message}")
    return lines


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _data_path(loc: tuple[Any, ...], data: Any) -> Path:
    """Drop the parts of a pydantic location that are not in the YAML (union tags)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and node.get("type") == part:
            continue  # the discriminator pydantic adds for tagged unions
        else:
            path.append(part)
            node = None
    return tuple(path)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model that sits at ``loc`` (for "did you mean")."""
    model: Any = LightkeeperConfig
    for part in loc:
        model = _step(model, part)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _step(annotation: Any, part: Any) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    if origin in (typing.Union, types.UnionType):
        return MONITOR_MODELS.get(str(part)) or next(
            (a for a in typing.get_args(annotation) if a is not type(None)), None
        )
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"\n  hint: did you mean {close[0]!r}?"
    if choices:
        return f"\n  hint: allowed here: {', '.join(sorted(choices))}"
    return ""


def config_schema() -> dict[str, Any]:
    schema = LightkeeperConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Lightkeeper configuration"
    return schema
