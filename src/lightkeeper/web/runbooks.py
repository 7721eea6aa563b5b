"""Runbooks: the Markdown files under ``runbooks/``, read in the dashboard at /runbooks/<name>.

Alert rules name them in their ``runbook`` annotation (``runbooks/site-down.md``) and
messages link to ``<public_url>/runbooks/site-down``. The directory is, in order:
``$LIGHTKEEPER_RUNBOOKS``; ``./runbooks`` in the working directory; the ``runbooks/`` of the
source checkout Lightkeeper runs from. Only files named ``[a-z0-9_-]+.md`` directly in it
are served, so no request can reach outside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markdown_it import MarkdownIt

from lightkeeper.rules.messages import runbook_name
from lightkeeper.service import Service
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import TokenAuth, page_gate
from lightkeeper.web.dashboard import templates

ENV = "LIGHTKEEPER_RUNBOOKS"
NAME = re.compile(r"[a-z0-9_-]+")

# "js-default": CommonMark plus tables, raw HTML off and javascript: links refused, so a
# runbook cannot inject script into the dashboard.
_markdown = MarkdownIt("js-default")


def runbooks_dir(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """Where the runbooks are read from (see the module docstring for the order)."""
    env = os.environ if env is None else env
    if configured := env.get(ENV):
        return Path(configured)
    local = (cwd or Path.cwd()) / "runbooks"
    if local.is_dir():
        return local
    checkout = Path(__file__).resolve().parents[3]  # src/lightkeeper/web/ → the checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "runbooks").is_dir():
        return checkout / "runbooks"
    return local


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    path: Path


class Runbooks:
    """The runbooks in one directory. Files are read on each request: they are small, and an
    edit shows up without a restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def all(self) -> list[Runbook]:
        if not self.directory.is_dir():
            return []
        found = (self.find(p.stem) for p in sorted(self.directory.glob("*.md")))
        return [r for r in found if r is not None]

    def find(self, name: str) -> Runbook | None:
        name = name.removesuffix(".md")
        if not NAME.fullmatch(name):
            return None
        path = self.directory / f"{name}.md"
        if not path.is_file():
            return None
        return Runbook(name, _title(path) or name, path)

    def html(self, runbook: Runbook) -> str:
        html: str = _markdown.render(runbook.path.read_text(encoding="utf-8"))
        return html


def _title(path: Path) -> str | None:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("# "):
                return line[2:].strip()
    return None


def runbooks_router(auth: TokenAuth, directory: Path | None = None) -> APIRouter:
    books = Runbooks(directory or runbooks_dir())
    router = APIRouter(include_in_schema=False)

    def linked_from(service: Service) -> dict[str, list[str]]:
        """Runbook name → the alert rules whose ``runbook`` annotation names it."""
        links: dict[str, list[str]] = {}
        for rule in service.config.alerts:
            if name := runbook_name(rule.annotations.get("runbook", "")):
                links.setdefault(name, []).append(rule.name)
        return links

    @router.get("/runbooks", response_class=HTMLResponse)
    async def index(request: Request, service: ServiceDep) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        runbooks = books.all()
        links = linked_from(service)
        present = {r.name for r in runbooks}
        context = {
            "runbooks": runbooks,
            "links": links,
            "missing": {n: rules for n, rules in sorted(links.items()) if n not in present},
            "directory": books.directory,
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "runbooks.html", context)

    @router.get("/runbooks/{name}", response_class=HTMLResponse)
    async def show(request: Request, service: ServiceDep, name: str) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        runbook = books.find(name)
        if runbook is None:
            raise HTTPException(404, f"no runbook named {name!r}")
        context = {
            "runbook": runbook,
            "body": books.html(runbook),
            "linked": linked_from(service).get(runbook.name, []),
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "runbook.html", context)

    return router
