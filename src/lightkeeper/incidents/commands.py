"""`lightkeeper incidents …` and `lightkeeper oncall`: incidents and who is on call, from the
command line, through a running server so its engine sees every acknowledgement at once."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lightkeeper.durations import humanize, parse_duration
from lightkeeper.remote import DEFAULT_URL, TokenOption, UrlOption, call, fail

out = Console()
err = Console(stderr=True)
incidents_app = typer.Typer(
    help="Incidents: list, show, acknowledge, resolve, add notes; MTTA and MTTR.",
    invoke_without_command=True,
)
STATE_STYLE = {"open": "red", "acknowledged": "yellow", "resolved": "green"}

StateOption = Annotated[str | None, typer.Option("--state", help="open, acknowledged or resolved.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the server's JSON.")]
IdArgument = Annotated[int, typer.Argument(help="The incident's number.", min=1)]
ByOption = Annotated[
    str | None, typer.Option("--by", envvar="USER", help="Who acts (default: $USER).")
]


def _when(ts: float | None, moment: str = "%H:%M") -> str:
    return "" if ts is None else time.strftime(f"%Y-%m-%d {moment} UTC", time.gmtime(ts))


def _span(seconds: float | None) -> str:
    return "–" if seconds is None else humanize(seconds)


def _local(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z")


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _by(who: str | None, seconds: float | None) -> str:
    return f"by {who} after {_span(seconds)}" if who else "–"


def _say(message: str) -> None:
    """A confirmation on stderr; names and titles are printed as they are, never as markup."""
    err.print(message, markup=False, highlight=False)


def _print_json(body: Any) -> None:
    out.print_json(json.dumps(body))


@incidents_app.callback()
def incidents_main(
    ctx: typer.Context,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    state: StateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Without a command: list incidents (as `incidents list`)."""
    if ctx.invoked_subcommand is None:
        incidents_list(url, token, state, as_json)
    given = [
        p
        for p in ("url", "token", "state", "as_json")
        if getattr(ctx.get_parameter_source(p), "name", "") == "COMMANDLINE"
    ]
    if given:  # `incidents --url X ack 1` would otherwise ignore --url without a word
        fail(f"put options after the command: lightkeeper incidents {ctx.invoked_subcommand} …")


@incidents_app.command("list")
def incidents_list(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    state: StateOption = None,
    as_json: JsonOption = False,
) -> None:
    """List incidents, newest first. Exit 0 when none is open, 1 when one is."""
    params = {"state": state} if state else {}
    body = call(url, token, "GET", "/api/v1/incidents", params=params).json()
    if as_json:
        _print_json(body)
    else:
        n = len(body["items"])
        table = Table(title=f"{n} incident{'s' if n != 1 else ''}", title_justify="left")
        for column in ("#", "state", "title", "opened", "acknowledged", "resolved", "paged"):
            table.add_column(column)
        for i in body["items"]:
            # Text cells: a title like "site-down [service=site]" is not Rich markup.
            table.add_row(
                str(i["id"]),
                _state(i["state"]),
                Text(i["title"]),
                _when(i["opened_at"]),
                Text(_by(i["acknowledged_by"], i["time_to_acknowledge"])),
                Text(_by(i["resolved_by"], i["time_to_resolve"])),
                Text(" → ".join(i["paged"])),
            )
        out.print(table)
    # Any open incident, listed or not: one that waits for a person is what the code says.
    waiting = call(url, token, "GET", "/api/v1/incidents", params={"state": "open", "limit": 1})
    raise typer.Exit(1 if waiting.json()["items"] else 0)


@incidents_app.command("show")
def incidents_show(
    incident_id: IdArgument,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One incident: its facts, alerts and timeline."""
    i = call(url, token, "GET", f"/api/v1/incidents/{incident_id}").json()
    if as_json:
        _print_json(i)
        return
    out.print(Text.assemble((f"#{i['id']} {i['title']}", "bold"), "  ", _state(i["state"])))
    facts = [
        ("opened", _when(i["opened_at"])),
        ("acknowledged", _by(i["acknowledged_by"], i["time_to_acknowledge"])),
        ("resolved", _by(i["resolved_by"], i["time_to_resolve"])),
        ("paged", " → ".join(i["paged"]) or "nobody"),
    ]
    for name, value in facts:
        out.print(f"  {name:<13}{value}", markup=False, highlight=False)
    alerts = Table("alert", "state", "value", "labels", title="alerts", title_justify="left")
    for a in i["alerts"]:
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted(a["labels"].items()) if k not in ("alertname", "severity")
        )
        value = "" if a["value"] is None else f"{a['value']:.4g} vs {a['threshold']:.4g}"
        alerts.add_row(Text(a["rule"]), a["state"], value, Text(labels))
    out.print(alerts)
    events = Table("when", "what", "who", "", title="timeline", title_justify="left")
    for e in i["events"]:
        kind = e["kind"].replace("_", " ")
        events.add_row(_when(e["at"], "%H:%M:%S"), kind, Text(e["actor"] or ""), Text(e["text"]))
    out.print(events)


def _act(url: str, token: str | None, path: str, body: dict[str, str]) -> dict[str, Any]:
    if not body.get("by", "").strip():
        fail("say who you are with --by NAME (or set $USER)")
    found: dict[str, Any] = call(url, token, "POST", path, json=body).json()
    return found


@incidents_app.command("ack")
def incidents_ack(
    incident_id: IdArgument,
    by: ByOption = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Acknowledge: you are on it, escalation stops."""
    i = _act(url, token, f"/api/v1/incidents/{incident_id}/ack", {"by": by or ""})
    _say(f"incident #{i['id']} acknowledged by {i['acknowledged_by']}")


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: IdArgument,
    by: ByOption = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Resolve; everyone who was paged is told."""
    i = _act(url, token, f"/api/v1/incidents/{incident_id}/resolve", {"by": by or ""})
    _say(f"incident #{i['id']} resolved {_by(i['resolved_by'], i['time_to_resolve'])}")


@incidents_app.command("note")
def incidents_note(
    incident_id: IdArgument,
    text: Annotated[str, typer.Argument(help="What you found or did.")],
    by: ByOption = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Add a note to the incident's timeline."""
    path = f"/api/v1/incidents/{incident_id}/notes"
    i = _act(url, token, path, {"by": by or "", "text": text})
    _say(f"note added to incident #{i['id']}")


@incidents_app.command("stats")
def incidents_stats(
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 7d.")] = "30d",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Count, MTTA and MTTR of the incidents opened in the last while (default 30 days)."""
    try:
        back = parse_duration(since)
    except ValueError as exc:
        fail(str(exc))
    until = time.time()
    params = {"since": until - back, "until": until}
    body = call(url, token, "GET", "/api/v1/incidents/stats", params=params).json()
    if as_json:
        _print_json(body)
        return
    table = Table("since", "incidents", "acknowledged", "resolved", "MTTA", "MTTR")
    table.add_row(
        _when(body["since"]),
        str(body["count"]),
        str(body["acknowledged"]),
        str(body["resolved"]),
        _span(body["mtta"]),
        _span(body["mttr"]),
    )
    out.print(table)


def oncall(
    url: UrlOption = DEFAULT_URL, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Who is on call now in each rotation, until when, and who is next (local times)."""
    body = call(url, token, "GET", "/api/v1/oncall").json()
    if as_json:
        _print_json(body)
        return
    if not body["rotations"]:
        err.print("no on-call rotations: define them under oncall.rotations in the config")
        return
    table = Table("rotation", "on call now", "until", "next")
    for r in body["rotations"]:
        now, tz = r["now"], r["tz"]
        person = now["person"] + (" (override)" if now["override"] else "")
        following = ", ".join(f"{s['person']} from {_local(s['starts_at'], tz)}" for s in r["next"])
        name = r["name"] + (" (pages incidents)" if r["pages_incidents"] else "")
        table.add_row(Text(name), Text(person), _local(now["ends_at"], tz), Text(following))
    out.print(table)
