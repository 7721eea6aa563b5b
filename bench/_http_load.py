"""A lean HTTP/1.1 load generator: N keep-alive connections posting prebuilt bodies.

Each connection is an asyncio `Protocol` (on uvloop when installed) that writes the next
request as soon as the previous response is complete: closed-loop, one request in flight
per connection, so N is the concurrency. Nothing is parsed beyond the status line,
`Content-Length`/`Transfer-Encoding` and `Connection: close`; a server that closes after
each response (gunicorn's sync workers do) gets a new connection per request, as a real
SDK would. The bodies are built before the timed phase; per request the client only writes
a fixed header block, the body, and records (latency, finish time, status).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

# Stop waiting for responses still in flight this long after the window closed.
IN_FLIGHT_GRACE_S = 30.0


@dataclass
class LoadResult:
    """What the client saw. Times are `time.monotonic()` seconds; latencies in seconds."""

    started: float
    window_end: float
    latencies: array[float] = field(default_factory=lambda: array("d"))
    finished_at: array[float] = field(default_factory=lambda: array("d"))
    statuses: array[int] = field(default_factory=lambda: array("H"))
    connection_errors: Counter[str] = field(default_factory=Counter)
    connections_opened: int = 0
    sent: int = 0
    pool_exhausted_at: float | None = None  # when the bodies ran out, if they did

    def ok_in_window(self) -> int:
        return sum(
            1
            for status, done in zip(self.statuses, self.finished_at, strict=True)
            if 200 <= status < 300 and done <= self.window_end
        )

    def ok_total(self) -> int:
        return sum(1 for status in self.statuses if 200 <= status < 300)

    def status_counts(self) -> dict[str, int]:
        counts = Counter(str(s) for s in self.statuses)
        counts.update({f"error: {k}": v for k, v in self.connection_errors.items()})
        return dict(sorted(counts.items()))


class _Run:
    def __init__(self, host: str, port: int, head: bytes, bodies: list[bytes], duration: float):
        self.host, self.port = host, port
        self.head = head
        self.bodies = bodies
        self.next_body = 0
        self.duration = duration
        self.loop = asyncio.get_running_loop()
        self.result = LoadResult(started=0.0, window_end=0.0)
        self.active = 0  # connections with a request in flight or connecting
        self.idle = asyncio.Event()
        self.stopping = False

    def next_request(self) -> tuple[bytes, bytes] | None:
        if self.stopping or time.monotonic() >= self.result.window_end:
            self.stopping = True
            return None
        if self.next_body >= len(self.bodies):
            if self.result.pool_exhausted_at is None:
                self.result.pool_exhausted_at = time.monotonic()
            self.stopping = True
            return None
        body = self.bodies[self.next_body]
        self.next_body += 1
        return self.head + b"Content-Length: %d\r\n\r\n" % len(body), body

    def connection_done(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.idle.set()

    def reconnect(self) -> None:
        if self.stopping or time.monotonic() >= self.result.window_end:
            self.stopping = True
            self.connection_done()
            return
        self.loop.create_task(self.connect())

    async def connect(self) -> None:
        try:
            await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
            self.result.connections_opened += 1
        except OSError as exc:
            self.result.connection_errors[type(exc).__name__] += 1
            await asyncio.sleep(0.05)
            self.reconnect()


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.in_flight = False
        self.header_end = -1
        self.status = 0
        self.body_length = -1  # -1: until close; -2: chunked
        self.closing = False
        self.finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance here.
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        request = self.run.next_request()
        if request is None:
            self._finish()
            return
        assert self.transport is not None
        self.in_flight = True
        self.header_end = -1
        self.sent_at = time.perf_counter()
        self.transport.writelines(request)
        self.run.result.sent += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.header_end < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.header_end = end + 4
            self._parse_head(bytes(self.buffer[:end]).lower())
        if self.body_length >= 0:
            if len(self.buffer) - self.header_end >= self.body_length:
                del self.buffer[: self.header_end + self.body_length]
                self._complete()
        elif self.body_length == -2 and self.buffer.endswith(b"0\r\n\r\n"):
            self.buffer.clear()
            self._complete()

    def _parse_head(self, head: bytes) -> None:
        self.status = int(head[9:12])
        self.body_length = -1
        self.closing = b"\r\nconnection: close" in head or head.startswith(b"http/1.0")
        if b"\r\ntransfer-encoding: chunked" in head:
            self.body_length = -2
        elif (at := head.find(b"\r\ncontent-length:")) >= 0:
            end = head.find(b"\r\n", at + 2)
            self.body_length = int(head[at + 17 : end if end >= 0 else None])

    def _complete(self) -> None:
        result = self.run.result
        result.latencies.append(time.perf_counter() - self.sent_at)
        result.finished_at.append(time.monotonic())
        result.statuses.append(self.status)
        self.in_flight = False
        if self.closing:
            assert self.transport is not None
            self.transport.close()  # connection_lost opens the next one
        else:
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            if self.header_end >= 0 and self.body_length == -1:
                self.closing = True  # the body ran until the close: nothing more to send here
                self._complete()
            else:
                self.run.result.connection_errors[
                    type(exc).__name__ if exc else "closed mid-response"
                ] += 1
                self.in_flight = False
        if not self.finished:
            self.finished = True
            self.run.reconnect()

    def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.run.connection_done()
            if self.transport is not None:
                self.transport.close()


async def _drive(
    host: str, port: int, head: bytes, bodies: list[bytes], concurrency: int, duration: float
) -> LoadResult:
    run = _Run(host, port, head, bodies, duration)
    run.result.started = time.monotonic()
    run.result.window_end = run.result.started + duration
    run.active = concurrency
    for _ in range(concurrency):
        run.loop.create_task(run.connect())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run.idle.wait(), duration + IN_FLIGHT_GRACE_S)
    return run.result


def request_head(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    """Everything before Content-Length, which is added per body."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name.title()}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def run_load(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    duration: float,
) -> LoadResult:
    """POST `bodies` in order over `concurrency` connections for `duration` seconds."""
    head = request_head(host, port, path, headers)
    try:
        import uvloop  # the cheapest loop there is, when installed

        runner: asyncio.Runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(_drive(host, port, head, bodies, concurrency, duration))
