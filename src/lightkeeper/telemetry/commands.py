"""`lightkeeper telemetry …`: the DSN to paste into an app, a fresh project key."""

# No `from __future__ import annotations`: Typer reads the parameters' annotations, and
# the --config option is the CLI's own, passed in (it lives in cli.py, which imports this).

import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console

err = Console(stderr=True)
EXIT_USAGE = 3


def dsn_of(base_url: str, key: str, project_id: int) -> str:
    """Sentry's DSN shape: {scheme}://{public_key}@{host}{path}/{project_id}."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{key}@{parts.netloc}{path}/{project_id}"


def telemetry_app(load: Callable[[Path | None], Any], config_option: Any) -> typer.Typer:
    app = typer.Typer(
        help="Telemetry projects: the DSN for an app's Sentry SDK, new keys.",
        no_args_is_help=True,
    )

    @app.command("dsn")
    def dsn(
        project: Annotated[str, typer.Argument(help="The project's name in telemetry.projects.")],
        config: config_option = None,
    ) -> None:
        """Print the DSN to give the app's Sentry SDK (it holds the key: treat it as one)."""
        cfg = load(config)
        chosen = cfg.telemetry.named(project)
        if chosen is None:
            names = ", ".join(p.name for p in cfg.telemetry.projects) or "none configured"
            err.print(
                f"[red]error:[/red] no telemetry project {project!r} (projects: {names})",
                highlight=False,
            )
            raise typer.Exit(EXIT_USAGE)
        sys.stdout.write(dsn_of(cfg.base_url(), chosen.key, chosen.id) + "\n")

    @app.command("key")
    def key() -> None:
        """Print a new random project key, for the environment variable the config names."""
        sys.stdout.write(secrets.token_hex(16) + "\n")

    return app
