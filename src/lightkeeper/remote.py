"""Talking to a running `lightkeeper up` from the command line, over its JSON API.

Commands that change live state (silences, acknowledgements) go through the server, so
the running engine sees the change at once; this client turns every way that can fail
into one clear line and exit code 3.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console

from lightkeeper.redact import redact_text

EXIT_USAGE = 3
err = Console(stderr=True)

UrlOption = Annotated[str, typer.Option(help="A running server's base URL.")]
TokenOption = Annotated[
    str | None,
    typer.Option(envvar="LIGHTKEEPER_TOKEN", help="API token (or $LIGHTKEEPER_TOKEN)."),
]
DEFAULT_URL = "http://127.0.0.1:8080"


def fail(message: str) -> NoReturn:
    err.print(message, markup=False, highlight=False)
    raise typer.Exit(EXIT_USAGE)


def call(
    url: str,
    token: str | None,
    method: str,
    path: str,
    ok: tuple[int, ...] = (200, 201),
    **kwargs: Any,
) -> httpx.Response:
    """One API call; returns the response when its status is in ``ok``."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(
            method, f"{url.rstrip('/')}{path}", headers=headers, timeout=10, **kwargs
        )
    except httpx.HTTPError as exc:
        hint = "is `lightkeeper up` running there?"
        fail(f"cannot reach {url}: {redact_text(str(exc))}\n  hint: {hint}")
    if response.status_code == 401:
        fail("the server wants a token: pass --token or set LIGHTKEEPER_TOKEN")
    if response.status_code not in ok:
        fail(f"{method} {path}: HTTP {response.status_code}: {detail(response)}")
    return response


def detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    found = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(found, list):  # FastAPI's validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in found
        )
    return str(found)
