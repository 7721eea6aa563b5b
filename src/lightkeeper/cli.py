"""The `lightkeeper` command: thin Typer commands that call services, print, set exit codes.

Exit codes follow the Nagios convention so cron and CI can act on them: 0 healthy,
1 degraded, 2 unhealthy, 3 a usage or configuration error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.exceptions import TyperException

from lightkeeper import __version__
from lightkeeper.audit.commands import build as build_audit_commands
from lightkeeper.backup.commands import build as build_backup_commands
from lightkeeper.config import (
    LightkeeperConfig,
    bind_problem,
    config_schema,
    load_config,
)
from lightkeeper.errors import ConfigError, LightkeeperError
from lightkeeper.health import overall
from lightkeeper.incidents.commands import incidents_app, oncall
from lightkeeper.probes import build_probe
from lightkeeper.probes.base import ProbeContext
from lightkeeper.remote import DEFAULT_URL, TokenOption, UrlOption, call
from lightkeeper.rules.commands import alerts, silence_app
from lightkeeper.telemetry.commands import telemetry_app
from lightkeeper.types import Health, ProbeResult

EXIT = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.UNHEALTHY: 2}
EXIT_USAGE = 3
STATE_STYLE = {"up": "green", "degraded": "yellow", "down": "red", "pending": "dim"}

app = typer.Typer(
    name="lightkeeper",
    help="Keep production running: probes, health, uptime — one process, one YAML file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(
    help="Validate the configuration or print its JSON Schema.", no_args_is_help=True
)
token_app = typer.Typer(help="API and dashboard tokens (stored hashed).", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")
app.add_typer(silence_app, name="silence")
app.command("alerts")(alerts)
app.add_typer(incidents_app, name="incidents")
app.command("oncall")(oncall)
notify_app = typer.Typer(
    help="Notification channels: send a test message, list them.", no_args_is_help=True
)
app.add_typer(notify_app, name="notify")

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file. Default: $LIGHTKEEPER_CONFIG, ./lightkeeper.yaml,"
        " else the built-in one.",
        dir_okay=False,
    ),
]


def resolve_config_path(path: Path | None) -> Path | None:
    if path is not None:
        return path
    if env := os.environ.get("LIGHTKEEPER_CONFIG"):
        return Path(env)
    local = Path("lightkeeper.yaml")
    return local if local.exists() else None


def load(path: Path | None) -> LightkeeperConfig:
    try:
        return load_config(resolve_config_path(path))
    except ConfigError as exc:
        fail_config(exc.problems)


def fail_config(problems: list[str]) -> NoReturn:
    for problem in problems:
        # Plain writes: Rich would wrap long lines and break FILE:LINE:COL for editors.
        sys.stderr.write(problem + "\n")
    n = len(problems)
    err.print(f"[red]{n} problem{'s' if n != 1 else ''} in the configuration.[/red]")
    raise typer.Exit(EXIT_USAGE)


@app.command()
def up(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (overrides server.host).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (overrides server.port).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the server and the scheduler in one process (dashboard at http://HOST:PORT/)."""
    import uvicorn

    from lightkeeper.service import Service
    from lightkeeper.web import create_app

    source = resolve_config_path(config)
    cfg = load(source)
    bind_host = host or cfg.server.host
    bind_port = port or cfg.server.port
    if problem := bind_problem(cfg, bind_host):
        fail_config([f"{source or '<built-in default>'}: {problem}"])
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per probe request would drown everything else; probes report their own way.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        service = Service(cfg)
        service.open()
    except ConfigError as exc:
        fail_config(exc.problems)
    except LightkeeperError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        err.print("  hint: check store.url and that the database is running", highlight=False)
        raise typer.Exit(1) from None
    where = f"http://{bind_host}:{bind_port}/"
    err.print(
        f"Lightkeeper {__version__}: {len(cfg.monitors)} monitors from "
        f"{source or 'the built-in default config'}; store {service.store.dialect};"
        f" dashboard {where}"
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service),
            host=bind_host,
            port=bind_port,
            log_level=log_level.lower(),
            access_log=log_level.lower() == "debug",
            lifespan="on",
        )
    )
    try:
        server.run()
    except LightkeeperError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if not server.started:
        raise typer.Exit(1)


@app.command()
def check(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Run every probe once, print the results, exit 0 healthy / 1 degraded / 2 unhealthy."""
    cfg = load(config)
    results = asyncio.run(_check_all(cfg))
    active = [(m, r) for m, r in results if r is not None]
    health = overall(
        ((r.state, bool(m.critical)) for m, r in active),
        cfg.health.degraded_when_down,
        cfg.health.unhealthy_when_down,
    )
    if as_json:
        body = {
            "status": health.value,
            "monitors": [
                {
                    "name": m.name,
                    "type": m.type,
                    "target": m.target(),
                    "critical": bool(m.critical),
                    "state": r.state.value if r else "skipped",
                    "reason": r.reason if r else "push monitors are judged by the running server",
                    "latency_ms": None
                    if r is None or r.latency_ms is None
                    else round(r.latency_ms, 2),
                    "metrics": r.metrics if r else {},
                }
                for m, r in results
            ],
        }
        out.print_json(json.dumps(body))
    else:
        table = Table(title=f"Lightkeeper check: {health.value}", title_justify="left")
        for column in ("monitor", "type", "state", "latency", "reason"):
            table.add_column(column, justify="right" if column == "latency" else "left")
        for m, r in results:
            if r is None:
                table.add_row(
                    m.name, m.type, "[dim]skipped[/dim]", "", "push: judged by the running server"
                )
                continue
            style = STATE_STYLE[r.state.value]
            latency = "" if r.latency_ms is None else f"{r.latency_ms:.0f} ms"
            state = f"[{style}]{r.state.value}[/{style}]"
            table.add_row(m.name, m.type, state, latency, escape(r.reason))
        out.print(table)
    raise typer.Exit(EXIT[health])


async def _check_all(cfg: LightkeeperConfig) -> list[tuple[Any, ProbeResult | None]]:
    context = ProbeContext()
    try:

        async def one(monitor: Any) -> ProbeResult | None:
            if monitor.passive:
                return None
            from lightkeeper.service import check_once  # the service stack: only here

            return await check_once(build_probe(monitor, context), monitor.timeout)

        found = await asyncio.gather(*(one(m) for m in cfg.monitors))
    finally:
        await context.aclose()
    return list(zip(cfg.monitors, found, strict=True))


@app.command()
def status(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's JSON.")] = False,
) -> None:
    """Ask a running server for the overall status; exit code as for `check`."""
    body = call(url, token, "GET", "/api/v1/status", ok=(200, 503)).json()
    if as_json:
        out.print_json(json.dumps(body))
    else:
        table = Table(title=f"{url}: {body['status']}", title_justify="left")
        for column in ("monitor", "state", "latency", "reason"):
            table.add_column(column)
        for m in body["monitors"]:
            style = STATE_STYLE.get(m["state"], "")
            latency = "" if m["latency_ms"] is None else f"{m['latency_ms']:.0f} ms"
            state = f"[{style}]{m['state']}[/{style}]"
            table.add_row(escape(m["name"]), state, latency, escape(m["reason"]))
        out.print(table)
    raise typer.Exit(EXIT[Health(body["status"])])


@config_app.command("validate")
def config_validate(
    file: Annotated[Path, typer.Argument(help="The config file to check.", dir_okay=False)],
) -> None:
    """Check a config file; print every problem as FILE:LINE:COL and exit 3 if any."""
    cfg = load(file)
    err.print(
        f"{file}: valid — {len(cfg.monitors)} monitors, store {cfg.store.url.split(':', 1)[0]}"
    )


@config_app.command("schema")
def config_schema_cmd() -> None:
    """Print the JSON Schema of lightkeeper.yaml (for editor completion)."""
    sys.stdout.write(json.dumps(config_schema(), indent=2) + "\n")


def _store(config: Path | None) -> Any:
    from lightkeeper.store import Store

    cfg = load(config)
    try:
        store = Store(cfg.store.url)
        store.migrate()
    except ConfigError as exc:
        fail_config(exc.problems)
    except LightkeeperError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    return store


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who or what the token is for, e.g. grafana.")],
    config: ConfigOption = None,
) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    store = _store(config)
    try:
        token = store.create_token(name, time.time())
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        store.close()
    err.print(f"token {name!r} created; copy it now, it is not shown again:")
    sys.stdout.write(token + "\n")


@token_app.command("list")
def token_list(config: ConfigOption = None) -> None:
    """List token names and when they were created and last used (never the tokens)."""
    store = _store(config)
    try:
        tokens = store.list_tokens()
    finally:
        store.close()
    table = Table("name", "created", "last used")
    for t in tokens:
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(t.created_at))
        used = (
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(t.last_used_at))
            if t.last_used_at
            else "never"
        )
        table.add_row(t.name, created, used)
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")], config: ConfigOption = None
) -> None:
    """Delete a token; requests with it fail within a minute."""
    store = _store(config)
    try:
        removed = store.revoke_token(name)
    finally:
        store.close()
    if not removed:
        err.print(f"no token named {name!r}")
        raise typer.Exit(EXIT_USAGE)
    err.print(f"token {name!r} revoked")


@notify_app.command("test")
def notify_test(
    channel: Annotated[str, typer.Argument(help="A channel name under channels:.")],
    config: ConfigOption = None,
) -> None:
    """Send a test message through the outbox now: exit 0 sent, 1 failed, 3 unknown channel."""
    from lightkeeper.clock import SystemClock
    from lightkeeper.notify.outbox import Outbox

    cfg = load(config)
    if channel not in cfg.channels:
        known = ", ".join(sorted(cfg.channels))
        err.print(
            f"unknown channel {channel!r}; "
            + (f"configured channels: {known}" if known else "no channels are configured")
            + "\n  hint: channels are named under channels: in the config",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_USAGE)
    store = _store(config)
    outbox = Outbox(store, cfg.channels, SystemClock())
    try:
        outcome = asyncio.run(outbox.send_test(channel))
    finally:
        outbox.close()
        store.close()
    target = cfg.channels[channel].target()
    if outcome.status == "sent":
        sys.stdout.write(f"sent to {channel} ({target})\n")
        return
    sys.stderr.write(f"not sent to {channel} ({target}): {outcome.error}\n")
    raise typer.Exit(1)


@notify_app.command("list")
def notify_list(config: ConfigOption = None) -> None:
    """List channels (targets without secrets) with their pending and failed messages."""
    from lightkeeper.clock import SystemClock
    from lightkeeper.notify.outbox import Outbox

    cfg = load(config)
    store = _store(config)
    try:
        counts = Outbox(store, cfg.channels, SystemClock()).counts()
    finally:
        store.close()
    table = Table("channel", "target", "pending", "failed")
    for name in sorted(set(cfg.channels) | set(counts.channels)):
        c = counts.channels.get(name)
        channel = cfg.channels.get(name)
        target = channel.target() if channel else "(no longer configured)"
        table.add_row(name, target, str(c.pending if c else 0), str(c.failed if c else 0))
    out.print(table)
    if counts.oldest_pending_age is not None:
        err.print(f"oldest pending message: {counts.oldest_pending_age:.0f}s old")


@app.command()
def digest(
    config: ConfigOption = None,
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Print it, send nothing (the server sends at digest.at)."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print its facts as JSON.")] = False,
) -> None:
    """Print the daily digest of the last 24 hours, from the store."""
    from lightkeeper.incidents.service import Incidents
    from lightkeeper.rules.digest import build

    cfg = load(config)
    store = _store(config)
    try:
        incidents = Incidents(cfg.oncall, cfg.incidents, cfg.base_url())
        found = build(cfg, store, time.time(), incidents)
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(found.payload))
    else:
        sys.stdout.write(f"{found.title}\n\n{found.body}\n")


@app.command()
def version() -> None:
    """Print the version."""
    sys.stdout.write(f"lightkeeper {__version__}\n")


app.add_typer(telemetry_app(load, ConfigOption), name="telemetry")
_backup_app, _restore, _drill = build_backup_commands(load, ConfigOption)
app.add_typer(_backup_app, name="backup")
app.command("restore")(_restore)
app.command("drill")(_drill)
_scan_app, _audit_app = build_audit_commands(load, ConfigOption)
app.add_typer(_scan_app, name="scan")
app.add_typer(_audit_app, name="audit")


def main() -> None:
    """Entry point: usage errors exit 3 (Nagios UNKNOWN) instead of click's 2."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:  # click's usage errors (bad option, missing argument)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(str(exc), markup=False)
        sys.exit(EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
