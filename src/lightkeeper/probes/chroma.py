"""ChromaDB probe: the server's heartbeat, and optionally that a collection answers reads.

Uses Chroma's v2 HTTP API (checked against chromadb 1.x's own /openapi.json):
``GET /api/v2/heartbeat``, ``GET /api/v2/tenants/{t}/databases/{d}/collections/{name}``
(accepts a name or an id), ``GET .../collections/{id}/count`` and
``POST .../collections/{id}/get``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

from lightkeeper.probes.base import MonitorBase, ProbeContext, Stopwatch
from lightkeeper.probes.http import describe_request_error, parse_http_url
from lightkeeper.redact import redact_text, redact_url
from lightkeeper.types import ProbeResult


class ChromaMonitor(MonitorBase):
    """A ChromaDB server. Example (YAML):

        {name: vectors, type: chroma, url: "http://${CHROMA_HOST}:${CHROMA_PORT}",
         collection: docs, headers: {x-chroma-token: "${CHROMA_TOKEN}"}}

    With ``collection``, the probe also reads its record count (``collection_count``)
    and times a one-record read (``query_latency_ms``); a missing collection is down.
    """

    type: Literal["chroma"]
    url: str = Field(pattern=r"^https?://", description="Base URL, e.g. http://127.0.0.1:8000")
    tenant: str = Field("default_tenant", min_length=1)
    database: str = Field("default_database", min_length=1)
    collection: str | None = Field(None, min_length=1)
    headers: dict[str, str] = Field(default_factory=dict, repr=False)

    @field_validator("url")
    @classmethod
    def _url_parses(cls, value: str) -> str:
        return parse_http_url(value)

    def target(self) -> str:
        return redact_url(self.url)


class _Unexpected(Exception):
    """The server answered, but not as a healthy Chroma would; the message says how."""


class ChromaProbe:
    def __init__(self, config: ChromaMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx
        self._secrets = tuple(config.headers.values())

    async def check(self) -> ProbeResult:
        config = self.config
        watch = Stopwatch()
        try:
            async with asyncio.timeout(config.timeout):
                return await self._check(watch)
        except _Unexpected as exc:
            return ProbeResult.down(redact_text(str(exc), self._secrets))
        except (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError) as exc:
            return ProbeResult.down(describe_request_error(exc, config.timeout, self._secrets))
        except (KeyError, TypeError, ValueError):
            return ProbeResult.down("unexpected answer from the Chroma API (is it Chroma 1.x?)")

    async def _check(self, watch: Stopwatch) -> ProbeResult:
        config = self.config
        api = config.url.rstrip("/") + "/api/v2"
        await self._call("GET", f"{api}/heartbeat", "heartbeat")
        latency = watch.ms()
        if config.collection is None:
            return ProbeResult.up("heartbeat ok", latency)
        collections = (
            f"{api}/tenants/{quote(config.tenant, safe='')}"
            f"/databases/{quote(config.database, safe='')}/collections"
        )
        name = config.collection
        found = await self._call("GET", f"{collections}/{quote(name, safe='')}", "collection")
        if found is None:
            return ProbeResult.down(f"collection {name!r} not found", latency)
        collection = f"{collections}/{quote(str(found['id']), safe='')}"
        count = int(await self._call("GET", f"{collection}/count", "count"))
        read_watch = Stopwatch()
        await self._call("POST", f"{collection}/get", "read", json={"limit": 1})
        read_ms = round(read_watch.ms(), 3)
        return ProbeResult.up(
            f"collection {name!r} has {count} records",
            latency,
            collection_count=count,
            query_latency_ms=read_ms,
        )

    async def _call(self, method: str, url: str, what: str, json: Any = None) -> Any:
        """The decoded JSON answer; None for a 404; _Unexpected for any other failure."""
        client = self.ctx.http_client()
        response = await client.request(
            method, url, headers=self.config.headers, json=json, timeout=self.config.timeout
        )
        if response.status_code == 404 and what == "collection":
            return None
        if response.status_code in (401, 403):
            raise _Unexpected(f"{what}: unauthorized (status {response.status_code})")
        if response.status_code != 200:
            raise _Unexpected(f"{what} returned status {response.status_code}{_detail(response)}")
        try:
            return response.json()
        except ValueError:
            raise _Unexpected(f"{what} returned something that is not JSON") from None


def _detail(response: httpx.Response) -> str:
    """Chroma's own error message, if it sent one: ``{"error": ..., "message": ...}``."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f": {str(message)[:200]}" if message else ""
