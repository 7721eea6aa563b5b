"""HTTP probe: one request, then status, body keywords, JSON values and latency are judged."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator

from lightkeeper.durations import Duration
from lightkeeper.probes import jsonpath
from lightkeeper.probes.base import (
    MonitorBase,
    ProbeContext,
    Stopwatch,
    StrictModel,
    causes,
    describe_error,
    timed_out,
)
from lightkeeper.probes.tls import ca_file_problem, describe_verify_error
from lightkeeper.redact import redact_text, redact_url
from lightkeeper.types import ProbeResult


class HttpExpect(StrictModel):
    """What a good response looks like. Every condition given must hold.

    ``status`` is one code or a list; when not given, any 2xx or 3xx is good (with
    ``follow_redirects`` on, a 3xx is only seen when redirects run out).
    ``json`` maps a JSONPath (``$.status``, ``$.checks[0].ok``, ``$['a key']``) to the
    value it must equal. ``max_latency`` makes a slower answer degraded, not down.
    """

    status: int | list[int] | None = None
    keyword: str | None = Field(None, min_length=1, description="The body must contain this.")
    keyword_absent: str | None = Field(
        None, min_length=1, description="The body must not contain this."
    )
    json_values: dict[str, Any] = Field(default_factory=dict, alias="json")
    max_latency: Duration | None = None

    @field_validator("status")
    @classmethod
    def _real_status_codes(cls, value: int | list[int] | None) -> int | list[int] | None:
        codes = value if isinstance(value, list) else [] if value is None else [value]
        if isinstance(value, list) and not value:
            raise ValueError("status list is empty; leave it out to accept any 2xx or 3xx")
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code (100-599)")
        return value

    @field_validator("json_values")
    @classmethod
    def _paths_parse(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            jsonpath.parse(path)
        return value

    def accepts(self, status: int) -> bool:
        if self.status is None:
            return 200 <= status < 400
        if isinstance(self.status, int):
            return status == self.status
        return status in self.status

    def expected_status(self) -> str:
        if self.status is None:
            return "2xx or 3xx"
        if isinstance(self.status, int):
            return str(self.status)
        return " or ".join(str(code) for code in self.status)


class HttpMonitor(MonitorBase):
    """An HTTP(S) endpoint. Example (YAML):

        name: app
        type: http
        url: https://example.com/health
        expect: {status: 200, json: {"$.status": healthy}, max_latency: 3s}

    ``expect`` is described on :class:`HttpExpect`; ``headers`` never appear in reasons.
    """

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://", description="http:// or https:// URL.")
    method: str = Field("GET", pattern=r"^[A-Z]+$")
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    body: str | None = None
    follow_redirects: bool = True
    verify_tls: bool = True
    ca_file: str | None = Field(
        None, description="PEM bundle of the CA(s) to trust instead of the system's."
    )
    expect: HttpExpect = Field(default_factory=HttpExpect)

    @field_validator("url")
    @classmethod
    def _url_parses(cls, value: str) -> str:
        return parse_http_url(value)

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def target(self) -> str:
        return redact_url(self.url)


class HttpProbe:
    def __init__(self, config: HttpMonitor, ctx: ProbeContext) -> None:
        self.config = config
        self.ctx = ctx

    async def check(self) -> ProbeResult:
        config = self.config
        try:
            client = self.ctx.http_client(config.verify_tls, config.ca_file, config.name)
        except OSError as exc:  # ssl.SSLError is an OSError too
            return ProbeResult.down(ca_file_problem(config.ca_file, exc))
        secrets = tuple(config.headers.values())
        watch = Stopwatch()
        try:
            # httpx's timeout bounds each read; this one bounds the whole exchange.
            async with asyncio.timeout(config.timeout):
                response = await client.request(
                    config.method,
                    config.url,
                    headers=config.headers,
                    content=config.body.encode() if config.body is not None else None,
                    follow_redirects=config.follow_redirects,
                    timeout=config.timeout,
                )
        except (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError) as exc:
            return ProbeResult.down(describe_request_error(exc, config.timeout, secrets))
        latency = watch.ms()
        return judge_response(config.expect, response, latency)


def judge_response(expect: HttpExpect, response: httpx.Response, latency: float) -> ProbeResult:
    """Down if any condition fails (all failures named), degraded if only slow, else up."""
    code = response.status_code
    problems: list[str] = []
    if not expect.accepts(code):
        problems.append(f"status {code}, expected {expect.expected_status()}")
    text = response.text
    if expect.keyword is not None and expect.keyword not in text:
        problems.append(f"keyword {expect.keyword!r} not found in the body")
    if expect.keyword_absent is not None and expect.keyword_absent in text:
        problems.append(f"body contains {expect.keyword_absent!r}")
    if expect.json_values:
        problems.extend(_json_problems(expect.json_values, text))
    if problems:
        return ProbeResult.down("; ".join(problems), latency, status_code=code)
    if expect.max_latency is not None and latency > expect.max_latency * 1000:
        limit_ms = expect.max_latency * 1000
        reason = f"slow: {latency:.0f} ms, expected at most {limit_ms:.0f} ms"
        return ProbeResult.degraded(reason, latency, status_code=code)
    return ProbeResult.up(f"status {code}", latency, status_code=code)


def _json_problems(expected: dict[str, Any], text: str) -> Iterator[str]:
    try:
        document = json.loads(text)
    except ValueError:
        yield "body is not JSON"
        return
    for path, want in expected.items():
        got = jsonpath.find(document, jsonpath.parse(path))
        if got is jsonpath.MISSING:
            yield f"{path} is missing"
        elif not _same(got, want):
            yield f"{path} is {_show(got)}, expected {_show(want)}"


def _same(got: Any, want: Any) -> bool:
    # In Python True == 1; in JSON they are different values, so compare booleans strictly.
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want
    return bool(got == want)


def _show(value: Any) -> str:
    """Strings quoted as in the reason examples ('healthy'), other values as JSON."""
    if isinstance(value, str):
        return repr(value)
    shown = json.dumps(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def parse_http_url(value: str) -> str:
    """The URL unchanged if httpx can request it; a ValueError saying why otherwise."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if not url.host:
        raise ValueError("the URL has no host")
    return value


def describe_request_error(exc: BaseException, timeout: float, secrets: tuple[str, ...]) -> str:
    """An HTTP request failure in plain words; shared by every probe that speaks HTTP.

    httpx wraps the socket error several layers deep ("All connection attempts failed"),
    so the chain is searched for the cause a person would want to read.
    """
    if isinstance(exc, httpx.InvalidURL):
        return f"invalid URL: {exc}"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return timed_out(timeout)
    for cause in causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: {describe_verify_error(cause)}"
        if isinstance(cause, socket.gaierror):
            return "host name not found (DNS)"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    return redact_text(describe_error(exc), secrets)
