"""The alerts page (/ui/alerts): active alerts and why any is muted, silences, outbox health."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lightkeeper.durations import humanize, parse_duration
from lightkeeper.rules.engine import Alert, AlertState, Severity
from lightkeeper.rules.messages import Renderer
from lightkeeper.rules.mute import Silence, matches_all, parse_matcher
from lightkeeper.service import Service
from lightkeeper.web.api import ServiceDep
from lightkeeper.web.auth import TokenAuth, page_gate
from lightkeeper.web.dashboard import templates
from lightkeeper.web.incidents_api import oncall_now

# Worst first: what pages people now, then what is about to.
STATE_ORDER = {AlertState.FIRING: 0, AlertState.PENDING: 1}
SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
#: Labels every alert has; the table shows them as the rule and severity columns instead.
IMPLIED = ("alertname", "severity")
# The messages' own link logic, with a site-relative base: the page links where they do.
LINKS = Renderer("")


def utc(ts: float | None) -> str:
    return "–" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def alert_rows(service: Service, now: float) -> list[dict[str, Any]]:
    """Pending and firing alerts, worst first, each with why it is muted (or None)."""
    active = service.alerting.engine.active()
    firing = [a for a in active if a.state is AlertState.FIRING]
    muter = service.alerting.muter

    def since(alert: Alert) -> float:
        started = alert.fired_at if alert.state is AlertState.FIRING else alert.pending_since
        return now if started is None else started

    active.sort(key=lambda a: (STATE_ORDER[a.state], SEVERITY_ORDER[a.severity], since(a), a.rule))
    return [
        {
            "fingerprint": a.fingerprint,
            "rule": a.rule,
            "severity": a.severity.value,
            "state": a.state.value,
            "labels": {k: v for k, v in sorted(a.labels.items()) if k not in IMPLIED},
            "value": number(a.value),
            "threshold": number(a.threshold),
            "expr": a.expr,
            "since": utc(since(a)),
            "for": humanize(now - since(a)),
            "summary": a.annotations.get("summary", ""),
            "runbook": LINKS.runbook(a),
            "monitor": a.labels.get("monitor"),
            "muted": muter.why_muted(a, firing, now),
            # What the "silence" link puts into the form: this alert and nothing else like it.
            "silence_with": ", ".join(
                f"{k}={a.labels[k]}" for k in ("alertname", "monitor") if k in a.labels
            ),
        }
        for a in active
    ]


def silence_rows(service: Service, now: float) -> list[dict[str, Any]]:
    active = service.alerting.engine.active()
    silences: list[Silence] = sorted(
        (s for s in service.alerting.muter.silences if s.ends_at > now), key=lambda s: s.ends_at
    )
    return [
        {
            "id": s.id,
            "matchers": [f"{m.label}{m.op}{m.value}" for m in s.matchers],
            "active": s.active(now),
            "starts": utc(s.starts_at),
            "until": utc(s.ends_at),
            "left": humanize(s.ends_at - now),
            "author": s.author,
            "comment": s.comment,
            "mutes": sum(matches_all(s.matchers, a.labels) for a in active),
        }
        for s in silences
    ]


async def outbox_view(service: Service, now: float) -> dict[str, Any] | None:
    outbox = service.outbox
    if outbox is None:
        return None
    counts = await service.read(outbox.counts)
    failures = await service.read(outbox.failures, 10)
    return {
        "pending": counts.pending,
        "failed": counts.failed,
        "oldest": None
        if counts.oldest_pending_age is None
        else humanize(counts.oldest_pending_age),
        "channels": sorted(counts.channels.items()),
        "failures": [
            {
                "id": f.id,
                "channel": f.channel,
                "title": f.title,
                "attempts": f.attempts,
                "error": f.last_error or "",
                "at": utc(f.created_at),
                "ago": humanize(now - f.created_at),
            }
            for f in failures
        ],
    }


def split_matchers(text: str) -> list[str]:
    """The form's comma-separated matchers (a regex with a comma in it cannot be given here;
    the API and the CLI take a list)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def alerts_ui_router(auth: TokenAuth) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def page(
        request: Request,
        service: Service,
        form: dict[str, str],
        error: str | None = None,
        status_code: int = 200,
    ) -> Response:
        now = service.clock.now()
        alerts = alert_rows(service, now)
        context = {
            "alerts": alerts,
            "firing": sum(a["state"] == "firing" for a in alerts),
            "pending": sum(a["state"] == "pending" for a in alerts),
            "muted": sum(a["muted"] is not None for a in alerts),
            "rules": len(service.alerting.engine.rules),
            "evaluated": None
            if service.alerting.last_tick is None
            else humanize(now - service.alerting.last_tick),
            "silences": silence_rows(service, now),
            "outbox": await outbox_view(service, now),
            "oncall": oncall_now(service, now),
            "form": form,
            "error": error,
            "auth": auth.enabled,
        }
        return templates.TemplateResponse(request, "alerts.html", context, status_code=status_code)

    @router.get("/ui/alerts", response_class=HTMLResponse)
    async def alerts(request: Request, service: ServiceDep, matchers: str = "") -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        author = await auth.identify(request) if auth.enabled else None
        form = {"matchers": matchers, "duration": "1h", "author": author or "", "comment": ""}
        return await page(request, service, form)

    @router.post("/ui/silences", response_class=HTMLResponse)
    async def add_silence(
        request: Request,
        service: ServiceDep,
        matchers: Annotated[str, Form(max_length=2000)] = "",
        duration: Annotated[str, Form(max_length=40)] = "",
        author: Annotated[str, Form(max_length=200)] = "",
        comment: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        form = {"matchers": matchers, "duration": duration, "author": author, "comment": comment}
        wanted = split_matchers(matchers)
        try:
            # A silence with no matchers would mute everything: make people say so.
            if not wanted:
                raise ValueError("give at least one matcher, e.g. alertname=site-down")
            for text in wanted:
                parse_matcher(text)
            seconds = parse_duration(duration)
            if seconds <= 0:
                raise ValueError("the duration must be longer than zero")
            if not author.strip() or not comment.strip():
                raise ValueError("say who you are and why: author and comment are both needed")
        except ValueError as exc:
            return await page(request, service, form, str(exc), status_code=400)
        now = service.clock.now()
        await service.read(
            service.alerting.add_silence,
            wanted,
            now,
            now + seconds,
            author.strip(),
            comment.strip(),
        )
        return RedirectResponse("/ui/alerts", status_code=303)

    @router.post("/ui/silences/{silence_id}/expire")
    async def expire_silence(request: Request, service: ServiceDep, silence_id: int) -> Response:
        if (denied := await page_gate(auth, request)) is not None:
            return denied
        if not await service.read(service.alerting.expire_silence, silence_id):
            raise HTTPException(404, f"no active silence #{silence_id}")
        return RedirectResponse("/ui/alerts", status_code=303)

    return router
