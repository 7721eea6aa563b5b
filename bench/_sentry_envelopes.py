"""Real sentry-sdk envelopes for the ingest benchmark, and request bodies built from them.

`capture()` runs the real `sentry_sdk` (default transport and integrations) in a child
process against a recording HTTP server on 127.0.0.1, raising 20 exception types from
nested in-app functions plus one template for "new" errors. `BodyPool.build()` turns the
recordings into request bodies with fresh event ids: brotli-decompress, put a new 32-hex id
in the envelope header and the event, give "new" events an exception type of their own
(so each groups into a new issue), fix the item's `length`, brotli-compress again at the
SDK's level. The SDK's own headers (`X-Sentry-Auth`, `Content-Encoding: br`, …) are kept.
"""

from __future__ import annotations

import base64
import decimal
import importlib.util
import json
import random
import subprocess
import sys
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import brotli

# sentry-sdk's HttpTransport compresses with brotli at quality 4 when brotli is importable.
SDK_BROTLI_QUALITY = 4
# The exception type of the template that "new" events are made from; each new event gets
# NEW_TYPE + a serial number as its type, and so a grouping key no other event has.
NEW_TYPE = "UnseenCheckoutError"
# Headers an SDK sends that the benchmark passes on unchanged (the rest are per connection).
KEPT_HEADERS = ("content-type", "content-encoding", "x-sentry-auth", "user-agent")


# -- the "application" whose errors are captured -----------------------------------------


class PaymentDeclinedError(Exception):
    pass


class InventoryShortageError(Exception):
    pass


class RateLimitedError(Exception):
    pass


class StaleCartError(Exception):
    pass


def _raise(exc: Exception) -> None:
    raise exc


def _json_error() -> None:
    json.loads('{"sku": "A-100", "qty": }')


def _chained_error() -> None:
    try:
        {"eur": 1.0}["usd"]
    except KeyError as exc:
        raise RuntimeError("no exchange rate for usd") from exc


# 20 distinct exception types (type + message), raised three calls deep.
FAULTS: list[Callable[[], object]] = [
    lambda: 1 / 0,
    lambda: {"sku": "A-100"}["price"],
    lambda: [1, 2, 3][7],
    lambda: int("12 pcs"),
    lambda: "total: " + 3,  # type: ignore[operator]
    lambda: None.strip(),  # type: ignore[attr-defined]
    lambda: open("/nonexistent/lightkeeper-bench/orders.csv"),  # noqa: SIM115
    lambda: b"\xff\xfe order".decode("utf-8"),
    _json_error,
    _chained_error,
    lambda: decimal.Decimal("1.00") / decimal.Decimal(0),
    lambda: _raise(TimeoutError("payment provider did not answer in 5 s")),
    lambda: _raise(ConnectionResetError("connection reset by inventory-db")),
    lambda: _raise(PermissionError("user 4711 may not refund order 99")),
    lambda: _raise(NotImplementedError("gift cards are not supported")),
    lambda: _raise(AssertionError("basket total must not be negative")),
    lambda: _raise(PaymentDeclinedError("card declined: insufficient funds")),
    lambda: _raise(InventoryShortageError("only 2 of 5 left for A-100")),
    lambda: _raise(RateLimitedError("shipping API: 429 after 3 retries")),
    lambda: _raise(StaleCartError("cart 88f1 changed since checkout began")),
]


def _price_line(fault: Callable[[], object], qty: int) -> object:
    unit_price = 19.99
    return fault() if qty else unit_price


def _total(fault: Callable[[], object], items: list[str]) -> object:
    currency = "EUR"
    return [_price_line(fault, qty) for qty in (len(items),)], currency


def _handle_checkout(fault: Callable[[], object], order_id: int) -> object:
    items = ["A-100", "B-200", "C-300"]
    return _total(fault, items), order_id


def _new_error() -> None:
    raise type(NEW_TYPE, (Exception,), {})("checkout step 3 failed for a case nobody saw before")


# -- capture -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One request body as the SDK sent it, decompressed, with the headers kept."""

    headers: dict[str, str]
    envelope: bytes  # decompressed
    exception_type: str


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        _Recorder.received.append((headers, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def _capture_here(key: str, out: Path) -> None:
    """Runs in the child: the SDK, default options, against the recorder."""
    import sentry_sdk

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sentry_sdk.init(
        dsn=f"http://{key}@127.0.0.1:{port}/1",
        release="shop@1.4.2",
        environment="production",
    )
    for order_id, fault in enumerate([*FAULTS, _new_error]):
        try:
            _handle_checkout(fault, 1000 + order_id)
        except Exception as exc:
            sentry_sdk.capture_exception(exc)
    sentry_sdk.flush(timeout=10)
    server.shutdown()
    out.write_text(
        json.dumps(
            [{"headers": h, "body": base64.b64encode(b).decode()} for h, b in _Recorder.received]
        )
    )


def capture(key: str, workdir: Path) -> list[Recorded]:
    """The SDK's envelopes, one per exception type (the new-error template last)."""
    if importlib.util.find_spec("sentry_sdk") is None:
        raise SystemExit("sentry-sdk is not installed: pip install -e '.[test]'")
    out = workdir / "captured.json"
    subprocess.run(
        [sys.executable, __file__, "--capture", key, str(out)],
        cwd=Path(__file__).resolve().parent.parent,  # frames under the repo are in-app
        check=True,
        timeout=120,
    )
    by_type: dict[str, Recorded] = {}
    for item in json.loads(out.read_text()):
        headers = item["headers"]
        body = base64.b64decode(item["body"])
        if headers.get("content-encoding") == "br":
            body = brotli.decompress(body)
        event = Envelope.parse(body).event()
        if event is None:
            continue  # client reports, sessions
        kept = {k: v for k, v in headers.items() if k in KEPT_HEADERS}
        exc_type = event["exception"]["values"][-1]["type"]
        by_type[exc_type] = Recorded(kept, body, exc_type)
    if len(by_type) != len(FAULTS) + 1 or NEW_TYPE not in by_type:
        raise SystemExit(f"captured {sorted(by_type)}, wanted {len(FAULTS)} types and {NEW_TYPE}")
    new = by_type.pop(NEW_TYPE)
    return [*by_type.values(), new]


# -- envelopes -----------------------------------------------------------------------------


@dataclass
class Envelope:
    """A Sentry envelope: a JSON header line, then items of (JSON header line, payload)."""

    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]]

    @classmethod
    def parse(cls, raw: bytes) -> Envelope:
        first, _, rest = raw.partition(b"\n")
        items: list[tuple[dict[str, Any], bytes]] = []
        while rest.strip():
            line, _, rest = rest.partition(b"\n")
            item_header = json.loads(line)
            if "length" in item_header:
                n = int(item_header["length"])
                payload, rest = rest[:n], rest[n + 1 :]
            else:
                payload, _, rest = rest.partition(b"\n")
            items.append((item_header, payload))
        return cls(json.loads(first), items)

    def serialize(self) -> bytes:
        parts = [_dumps(self.header)]
        for item_header, payload in self.items:
            if "length" in item_header:
                item_header = {**item_header, "length": len(payload)}
            parts += [_dumps(item_header), payload]
        return b"\n".join(parts) + b"\n"

    def event(self) -> dict[str, Any] | None:
        for item_header, payload in self.items:
            if item_header.get("type") == "event":
                return dict(json.loads(payload))
        return None

    def replace_event(self, event: dict[str, Any]) -> None:
        self.items = [(h, _dumps(event) if h.get("type") == "event" else p) for h, p in self.items]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


# -- bodies --------------------------------------------------------------------------------


@dataclass
class BodyPool:
    """Prebuilt request bodies (brotli) in the order they are sent, and what they contain."""

    bodies: list[bytes]
    kinds: array[int]  # per body: which repeated type (0-19), or -1 for a new error
    raw_bytes: int  # decompressed envelope bytes, all bodies

    @property
    def new_issues(self) -> int:
        return self.kinds.count(-1)

    @classmethod
    def build(
        cls, recorded: list[Recorded], count: int, seed: int, new_share: float = 0.1
    ) -> BodyPool:
        """`count` bodies, a share `new_share` of them new errors; the same seed, the same bytes."""
        rng = random.Random(seed)
        *repeats, new = recorded
        repeat_ids = [_event_id(r.envelope) for r in repeats]
        new_envelope = Envelope.parse(new.envelope)
        new_event = new_envelope.event()
        assert new_event is not None
        bodies: list[bytes] = []
        kinds = array("b")
        raw = 0
        for _ in range(count):
            event_id = f"{rng.getrandbits(128):032x}"
            if rng.random() < new_share:
                serial = f"{seed:x}{len(bodies):07d}"
                event = json.loads(json.dumps(new_event))  # a deep copy
                event["event_id"] = event_id
                exc = event["exception"]["values"][-1]
                exc["type"] = f"{NEW_TYPE}{serial}"
                exc["value"] = f"{exc['value']} (case {serial})"
                envelope = Envelope({**new_envelope.header, "event_id": event_id}, [])
                envelope.items = list(new_envelope.items)
                envelope.replace_event(event)
                plain = envelope.serialize()
                kinds.append(-1)
            else:
                which = rng.randrange(len(repeats))
                kinds.append(which)
                # Same length in, same length out: the item's `length` stays right.
                plain = repeats[which].envelope.replace(
                    repeat_ids[which].encode(), event_id.encode()
                )
            raw += len(plain)
            bodies.append(brotli.compress(plain, quality=SDK_BROTLI_QUALITY))
        return cls(bodies, kinds, raw)


def _event_id(raw: bytes) -> str:
    return str(json.loads(raw.partition(b"\n")[0])["event_id"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--capture"]:
        _capture_here(sys.argv[2], Path(sys.argv[3]))
