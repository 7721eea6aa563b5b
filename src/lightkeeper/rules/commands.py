"""`lightkeeper alerts` and `lightkeeper silence …`: alerting from the command line,
through a running server so its engine sees every change at once."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lightkeeper.remote import DEFAULT_URL, TokenOption, UrlOption, call

out = Console()
err = Console(stderr=True)
silence_app = typer.Typer(
    help="Silence alerts for a while (maintenance, known issues).", no_args_is_help=True
)
SEVERITY_STYLE = {"critical": "red", "warning": "yellow", "info": "cyan"}


def _when(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def alerts(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    state: Annotated[str | None, typer.Option(help="pending or firing")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's JSON.")] = False,
) -> None:
    """List active alerts (firing first). Exit 0 when none fire, 1 when some do."""
    params = {"state": state} if state else {}
    body = call(url, token, "GET", "/api/v1/alerts", params=params).json()
    if as_json:
        out.print_json(json.dumps(body))
    else:
        table = Table(title=f"{body['total']} active alerts", title_justify="left")
        for column in ("state", "severity", "alert", "labels", "value", "since", "muted"):
            table.add_column(column)
        for a in body["items"]:
            style = SEVERITY_STYLE.get(a["severity"], "")
            labels = ", ".join(
                f"{k}={v}"
                for k, v in sorted(a["labels"].items())
                if k not in ("alertname", "severity")
            )
            value = f"{a['value']:.4g} vs {a['threshold']:.4g}" if a["value"] is not None else ""
            # Text from the server is shown as is: "[service=app]" is not Rich markup.
            table.add_row(
                a["state"],
                f"[{style}]{a['severity']}[/{style}]",
                escape(a["rule"]),
                escape(labels),
                value,
                _when(a["fired_at"] or a["pending_since"]),
                escape(a["muted"] or ""),
            )
        out.print(table)
    raise typer.Exit(1 if any(a["state"] == "firing" for a in body["items"]) else 0)


@silence_app.command("add")
def silence_add(
    matchers: Annotated[
        list[str], typer.Argument(help="label=value, label!=value, label=~regex …")
    ],
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 2h.")] = "1h",
    author: Annotated[str, typer.Option(help="Who silences.", envvar="USER")] = "someone",
    comment: Annotated[str, typer.Option(help="Why.")] = "",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Silence the alerts that match every matcher, for a while."""
    if not comment.strip():
        err.print("say why with --comment; the next person on call will want to know")
        raise typer.Exit(3)
    body = {"matchers": matchers, "duration": duration, "author": author, "comment": comment}
    made = call(url, token, "POST", "/api/v1/silences", json=body).json()
    err.print(f"silence #{made['id']} until {_when(made['ends_at'])}")


@silence_app.command("list")
def silence_list(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Expired ones too.")] = False,
) -> None:
    """List silences."""
    body = call(url, token, "GET", "/api/v1/silences", params={"all": show_all}).json()
    table = Table("id", "matchers", "from", "until", "author", "comment")
    for s in body["items"]:
        table.add_row(
            str(s["id"]),
            escape(", ".join(s["matchers"])),
            _when(s["starts_at"]),
            _when(s["ends_at"]),
            escape(s["author"]),
            escape(s["comment"]),
        )
    out.print(table)


@silence_app.command("expire")
def silence_expire(
    silence_id: Annotated[int, typer.Argument(help="The silence's number.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """End a silence now."""
    call(url, token, "DELETE", f"/api/v1/silences/{silence_id}")
    err.print(f"silence #{silence_id} expired")
