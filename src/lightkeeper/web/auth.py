"""Who may see what: bearer tokens or a login cookie, stored hashed; public routes stay open.

With ``auth: token`` the API and dashboard need ``Authorization: Bearer <token>`` or the
cookie set by logging in with a token at /login. ``/healthz``, ``/status``, ``/ping/*``
and, unless ``auth.metrics_require_token``, ``/metrics`` are public. A verified token is
remembered for :data:`CACHE_SECONDS`, so a revoked one stops working within a minute.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from lightkeeper.store import Store, hash_token

COOKIE = "lightkeeper_session"
CACHE_SECONDS = 60.0


class TokenAuth:
    def __init__(self, store: Store, enabled: bool) -> None:
        self.store = store
        self.enabled = enabled
        self._verified: dict[str, tuple[str, float]] = {}

    async def identify(self, request: Request) -> str | None:
        """The token's name if the request carries a valid one, else None."""
        token = _bearer(request) or request.cookies.get(COOKIE)
        if not token:
            return None
        return await self.check(token)

    async def check(self, token: str) -> str | None:
        digest = hash_token(token)
        cached = self._verified.get(digest)
        if cached and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        name = await asyncio.to_thread(self.store.token_name, token, time.time())
        if name is None:
            self._verified.pop(digest, None)
            return None
        self._verified[digest] = (name, time.monotonic())
        return name

    async def require(self, request: Request) -> None:
        """Dependency for the API: 401 with a WWW-Authenticate header when not allowed."""
        if not self.enabled:
            return
        if await self.identify(request) is None:
            raise HTTPException(
                status_code=401,
                detail="a valid token is needed: send 'Authorization: Bearer <token>'"
                " (create one with `lightkeeper token create NAME`)",
                headers={"WWW-Authenticate": "Bearer"},
            )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def page_gate(auth: TokenAuth, request: Request) -> Response | None:
    """For pages: None when the request may pass, else where to send it (the login page).

    The dashboard's rule, shared by the pages outside it: htmx requests get a 401 with an
    ``HX-Redirect`` so a live fragment does not swap the login page into itself.
    """
    if auth.enabled and await auth.identify(request) is None:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)
    return None
