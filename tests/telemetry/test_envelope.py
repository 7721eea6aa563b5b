"""Request bodies, envelopes and public keys: tables of what the SDKs send and what attackers do."""

from __future__ import annotations

import gzip
import json
import os
import tracemalloc
import zlib
from collections.abc import Callable
from typing import TypeVar

import brotli  # type: ignore[import-untyped]
import pytest
import sentry_sdk.envelope
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.telemetry.envelope import (
    IngestError,
    decompress,
    key_from_dsn,
    parse_auth,
    parse_envelope,
    public_key,
)

T = TypeVar("T")
PAYLOAD = b'{"message":"hello","level":"error"}\n' * 50


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zstd_streamed(data: bytes) -> bytes:
    # Written as a stream, the frame does not declare its size, like a streaming SDK's.
    compressor = zstandard.ZstdCompressor().compressobj()
    return compressor.compress(data) + compressor.flush()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: brotli.compress(data, quality=4),  # quality 11 takes a second on a bomb
    "zstd": zstandard.ZstdCompressor().compress,
}


def attempt(call: Callable[[], T]) -> tuple[T | None, int]:
    """(result, 200), or (None, status) of the IngestError raised."""
    try:
        return call(), 200
    except IngestError as error:
        return None, error.status


def expect(status: int, call: Callable[[], object]) -> IngestError:
    with pytest.raises(IngestError) as caught:
        call()
    assert caught.value.status == status, caught.value.message
    return caught.value


# --- decompress -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        (None, PAYLOAD),
        ("", PAYLOAD),
        ("identity", PAYLOAD),
        (" Identity ", PAYLOAD),
        ("gzip", gzip.compress(PAYLOAD)),
        (" GZIP ", gzip.compress(PAYLOAD)),
        ("x-gzip", gzip.compress(PAYLOAD)),
        ("deflate", zlib.compress(PAYLOAD)),
        ("deflate", raw_deflate(PAYLOAD)),
        ("Deflate", raw_deflate(b"")),
        ("br", brotli.compress(PAYLOAD)),
        ("zstd", zstandard.ZstdCompressor().compress(PAYLOAD)),
        ("zstd", zstd_streamed(PAYLOAD)),
    ],
)
def test_decompress_round_trips(encoding: str | None, body: bytes) -> None:
    expected = b"" if body == raw_deflate(b"") else PAYLOAD
    assert decompress(body, encoding, limit=len(PAYLOAD)) == expected


def test_unknown_encoding_is_415_and_names_the_choices() -> None:
    error = expect(415, lambda: decompress(b"x", " xyz ", 100))
    assert error.message == "unsupported Content-Encoding 'xyz'; use gzip, deflate, br or zstd"


def test_body_over_the_limit_before_decompression_is_413() -> None:
    error = expect(413, lambda: decompress(b"x" * 101, None, 100))
    assert error.message == "body larger than 100 bytes"


@pytest.mark.parametrize("encoding", sorted(COMPRESSORS))
def test_output_exactly_at_the_limit_passes_and_one_more_byte_is_413(encoding: str) -> None:
    body = COMPRESSORS[encoding](PAYLOAD)
    assert decompress(body, encoding, len(PAYLOAD)) == PAYLOAD
    error = expect(413, lambda: decompress(body, encoding, len(PAYLOAD) - 1))
    assert error.message == f"body larger than {len(PAYLOAD) - 1} bytes once decompressed"


BOMB_MAKERS = [
    *COMPRESSORS.items(),
    ("deflate", raw_deflate),
    ("zstd", zstd_streamed),
]


@pytest.mark.parametrize(("encoding", "compress"), BOMB_MAKERS)
def test_decompression_bomb_is_413_without_inflating_it(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = compress(bytes(64 * 2**20))  # 64 MiB of zeros packs into a few kilobytes
    limit = 2**20
    assert len(body) < limit
    tracemalloc.start()
    try:
        expect(413, lambda: decompress(body, encoding, limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * limit, f"{encoding} allocated {peak} bytes for a {limit}-byte limit"


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", b""),
        ("gzip", _truncated(gzip.compress(os.urandom(4000)))),
        ("gzip", gzip.compress(PAYLOAD)[:-4]),  # no length in the trailer
        ("gzip", gzip.compress(PAYLOAD) + b"junk"),
        ("deflate", b"\x78\x9c not deflate"),
        ("deflate", _truncated(zlib.compress(os.urandom(4000)))),
        ("deflate", _truncated(raw_deflate(os.urandom(4000)))),
        ("deflate", zlib.compress(PAYLOAD) + b"junk"),
        ("br", b"\xff\xff not brotli"),
        ("br", b""),
        ("br", _truncated(brotli.compress(os.urandom(4000)))),
        ("br", brotli.compress(PAYLOAD) + b"junk"),
        ("zstd", b"not zstd"),
        ("zstd", b""),
        ("zstd", _truncated(zstandard.ZstdCompressor().compress(os.urandom(4000)))),
        ("zstd", _truncated(zstd_streamed(os.urandom(4000)))),
        ("zstd", zstandard.ZstdCompressor().compress(PAYLOAD) + b"junk"),
    ],
)
def test_corrupt_truncated_or_trailing_data_is_400(encoding: str, body: bytes) -> None:
    error = expect(400, lambda: decompress(body, encoding, 10**6))
    assert error.message.startswith(f"body is not valid {encoding}: ")


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=512),
    encoding=st.sampled_from([None, "gzip", "deflate", "br", "zstd", "identity"]),
    limit=st.integers(0, 4096),
    compress_first=st.booleans(),
)
def test_decompress_returns_within_the_limit_or_refuses(
    body: bytes, encoding: str | None, limit: int, compress_first: bool
) -> None:
    if compress_first and encoding in COMPRESSORS:
        body = COMPRESSORS[encoding](body)[: limit + 10]  # sometimes cut short
    out, status = attempt(lambda: decompress(body, encoding, limit))
    assert status in (200, 400, 413)
    assert out is None or len(out) <= limit


# --- parse_envelope ---------------------------------------------------------------------------

EVENT = b'{"message":"hi"}'


@pytest.mark.parametrize(
    ("data", "headers", "items"),
    [
        (b"{}", {}, []),
        (b"{}\n", {}, []),
        (b'{"event_id":"abc"}\n', {"event_id": "abc"}, []),
        (b'{}\n{"type":"event","length":16}\n' + EVENT + b"\n", {}, [("event", EVENT)]),
        (b'{}\n{"type":"event","length":16}\n' + EVENT, {}, [("event", EVENT)]),
        (b'{}\n{"type":"event"}\n' + EVENT + b"\n", {}, [("event", EVENT)]),
        (b'{}\n{"type":"event"}\n' + EVENT, {}, [("event", EVENT)]),
        (b'{}\n{"type":"event"}\n' + EVENT + b"\n\n", {}, [("event", EVENT)]),
        (b'{}\n{"type":"event","length":null}\n' + EVENT, {}, [("event", EVENT)]),
        (b'{}\n{"type":"attachment","length":3}\na\nb\n', {}, [("attachment", b"a\nb")]),
        (b'{}\n{"type":"attachment","length":0}\n\n', {}, [("attachment", b"")]),
        (b'{}\n{"type":"attachment","length":0}', {}, [("attachment", b"")]),
        (b'{}\n{"type":"client_report"}\n\n', {}, [("client_report", b"")]),
        (b'{}\n{"type":"client_report"}', {}, [("client_report", b"")]),
        (
            b'{}\n{"type":"event","length":16}\n'
            + EVENT
            + b'\n{"type":"session"}\n{"sid":"1"}\n{"type":"attachment","length":2}\n\x00\xff\n',
            {},
            [("event", EVENT), ("session", b'{"sid":"1"}'), ("attachment", b"\x00\xff")],
        ),
    ],
)
def test_envelopes_that_parse(
    data: bytes, headers: dict[str, object], items: list[tuple[str, bytes]]
) -> None:
    envelope = parse_envelope(data, max_item_bytes=1000)
    assert envelope.headers == headers
    assert [(item.type, item.payload) for item in envelope.items] == items


def test_item_headers_are_kept() -> None:
    data = b'{}\n{"type":"attachment","length":1,"filename":"a.txt"}\nx\n'
    (item,) = parse_envelope(data, 10).items
    assert item.headers == {"type": "attachment", "length": 1, "filename": "a.txt"}


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 400, "envelope header is not a JSON object"),
        (b"[]\n", 400, "envelope header is not a JSON object"),
        (b"{\n", 400, "envelope header is not a JSON object"),
        (b"\xff\xfe{}\n", 400, "envelope header is not a JSON object"),
        (b"[" * 100_000 + b"\n", 400, "envelope header is not a JSON object"),
        (b"{}\nnot json\n", 400, "item 1: header is not JSON"),
        (b'{}\n{"type":"a"}\nx\n[1]\nx\n', 400, "item 2: header is not JSON"),
        (b'{}\n{"type":"a"}\nx\n\n{"type":"b"}\ny\n', 400, "item 2: header is not JSON"),
        (b'{}\r\n{"type":"a"}\r\nx\r\n\r\n', 400, "item 2: header is not JSON"),
        (b'{}\n{"length":2}\nab\n', 400, 'item 1: header has no "type"'),
        (b'{}\n{"type":5}\nab\n', 400, 'item 1: header has no "type"'),
        (b'{}\n{"type":"a","length":-1}\n', 400, "item 1: length must be a non-negative integer"),
        (b'{}\n{"type":"a","length":"2"}\n', 400, "item 1: length must be a non-negative integer"),
        (b'{}\n{"type":"a","length":1.5}\n', 400, "item 1: length must be a non-negative integer"),
        (b'{}\n{"type":"a","length":true}\n', 400, "item 1: length must be a non-negative integer"),
        (
            b'{}\n{"type":"a"}\nx\n{"type":"b"}\ny\n{"type":"c","length":500}\n' + b"z" * 120,
            400,
            "item 3: declared length 500 but only 120 bytes remain",
        ),
        (
            b'{}\n{"type":"a","length":2}\nabc\n',
            400,
            "item 1: payload is not followed by a newline",
        ),
        (
            b'{}\n{"type":"a"}\nx\n{"type":"event","length":1001}\n' + b"z" * 1001,
            413,
            "item 2 (event) is 1001 bytes; the limit is 1000",
        ),
        (
            b'{}\n{"type":"event","length":1234567}\nshort\n',
            413,
            "item 1 (event) is 1234567 bytes; the limit is 1000",
        ),
        (
            b'{}\n{"type":"event"}\n' + b"z" * 1001 + b"\n",
            413,
            "item 1 (event) is 1001 bytes; the limit is 1000",
        ),
        (b"{}\n" + b'{"type":"a"}\nx\n' * 4, 413, "envelope has more than 3 items"),
    ],
)
def test_envelopes_refused(data: bytes, status: int, message: str) -> None:
    error = expect(status, lambda: parse_envelope(data, max_item_bytes=1000, max_items=3))
    assert error.message == message


def test_exactly_max_items_is_fine() -> None:
    data = b"{}\n" + b'{"type":"a"}\nx\n' * 3
    assert len(parse_envelope(data, 10, max_items=3).items) == 3


def test_a_real_sentry_sdk_envelope_parses() -> None:
    envelope = sentry_sdk.envelope.Envelope(
        headers={"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "dsn": "https://k@h/42"}
    )
    envelope.add_event({"message": "line one\nline two", "level": "error"})
    envelope.add_item(
        sentry_sdk.envelope.Item(
            payload=sentry_sdk.envelope.PayloadRef(bytes=b"\n\x00binary\n"),
            type="attachment",
            headers={"filename": "dump.bin"},
        )
    )
    body = gzip.compress(envelope.serialize())  # the Python SDK's HTTP transport gzips

    parsed = parse_envelope(decompress(body, "gzip", 10**6), max_item_bytes=10**6)

    assert parsed.headers["event_id"] == "9ec79c33ec9942ab8353589fcb2e04dc"
    assert [item.type for item in parsed.items] == ["event", "attachment"]
    assert json.loads(parsed.items[0].payload) == {
        "message": "line one\nline two",
        "level": "error",
    }
    assert parsed.items[1].payload == b"\n\x00binary\n"
    assert parsed.items[1].headers["filename"] == "dump.bin"
    assert public_key({}, {}, parsed.headers) == "k"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused(data: bytes) -> None:
    _, status = attempt(lambda: parse_envelope(data, max_item_bytes=64, max_items=5))
    assert status in (200, 400, 413)


def _item(kind: str, payload: bytes, length: object) -> bytes:
    header: dict[str, object] = {"type": kind}
    if length != "absent":
        header["length"] = length
    return json.dumps(header).encode() + b"\n" + payload


@settings(max_examples=200, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.sampled_from(["event", "transaction", "attachment", ""]),
            st.binary(max_size=40),
            st.one_of(st.just("absent"), st.none(), st.integers(-2, 60), st.text(max_size=2)),
        ),
        max_size=6,
    ),
    separator=st.sampled_from([b"\n", b"", b"\n\n", b"\r\n"]),
    cut=st.integers(0, 400),
)
def test_near_valid_envelopes_parse_or_are_refused(
    items: list[tuple[str, bytes, object]], separator: bytes, cut: int
) -> None:
    data = b'{"event_id":"x"}\n' + separator.join(_item(*item) for item in items)
    data = data[: len(data) - cut] if cut < len(data) else data
    envelope, status = attempt(lambda: parse_envelope(data, max_item_bytes=50, max_items=5))
    assert status in (200, 400, 413)
    if envelope is not None:
        assert len(envelope.items) <= 5
        assert all(len(item.payload) <= 50 for item in envelope.items)


def test_well_formed_items_round_trip() -> None:
    payloads = [b"", b"a", b"\n", b"x\ny\n", bytes(range(256))]
    data = b"{}\n" + b"\n".join(_item("attachment", p, len(p)) for p in payloads) + b"\n"
    parsed = parse_envelope(data, max_item_bytes=256)
    assert [item.payload for item in parsed.items] == payloads


# --- who is sending ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.19.0",
            {"sentry_key": "abc", "sentry_version": "7", "sentry_client": "sentry.python/2.19.0"},
        ),
        ("sentry sentry_key=abc,sentry_secret=s", {"sentry_key": "abc", "sentry_secret": "s"}),
        (
            "SENTRY  Sentry_Key = abc ,  sentry_version=7",
            {"sentry_key": "abc", "sentry_version": "7"},
        ),
        ("sentry_key=abc", {"sentry_key": "abc"}),
        ('Sentry sentry_key="abc"', {"sentry_key": "abc"}),
        ("Sentry sentry_key=abc, junk, =x, a b=c", {"sentry_key": "abc"}),
        ("Sentry", {}),
        ("Bearer eyJhbGciOi", {}),
        ("", {}),
        (None, {}),
        (42, {}),
    ],
)
def test_parse_auth(value: str | None, expected: dict[str, str]) -> None:
    assert parse_auth(value) == expected


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("https://abc@o1.ingest.sentry.io/42", ("abc", "42")),
        ("https://abc:secret@lightkeeper.example:8443/sentry/7", ("abc", "7")),
        ("http://abc@localhost/42/", ("abc", "42")),
        ("  https://abc@host/42  ", ("abc", "42")),
        ("https://host/42", None),  # no key
        ("https://abc@/42", None),  # no host
        ("https://abc@host/", None),  # no project
        ("https://abc@host/project", None),  # SDKs need a numeric project id
        ("abc@host/42", None),
        ("https://abc@[::1/42", None),  # urllib raises on this one
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_key_from_dsn(dsn: str, expected: tuple[str, str] | None) -> None:
    assert key_from_dsn(dsn) == expected


AUTH = "Sentry sentry_key=from-auth, sentry_version=7"


@pytest.mark.parametrize(
    ("headers", "query", "envelope_headers", "expected"),
    [
        ({"x-sentry-auth": AUTH}, {"sentry_key": "q"}, {"dsn": "https://d@h/1"}, "from-auth"),
        ({"X-Sentry-Auth": AUTH}, {}, None, "from-auth"),
        (
            {"authorization": "Sentry sentry_key=from-authz"},
            {"sentry_key": "q"},
            None,
            "from-authz",
        ),
        ({"authorization": "Bearer sentry_key=nope"}, {}, None, None),
        ({"x-sentry-auth": "Sentry sentry_version=7"}, {"sentry_key": "q"}, None, "q"),
        ({}, {"sentry_key": "q", "sentry_version": "7"}, None, "q"),
        ({}, {"sentry_key": ""}, {"dsn": "https://d@h/1"}, "d"),
        ({}, {}, {"dsn": "https://d:s@h/1"}, "d"),
        ({}, {}, {"dsn": 5}, None),
        ({}, {}, {"dsn": "not a dsn"}, None),
        ({}, {}, None, None),
    ],
)
def test_public_key_order(
    headers: dict[str, str],
    query: dict[str, str],
    envelope_headers: dict[str, object] | None,
    expected: str | None,
) -> None:
    assert public_key(headers, query, envelope_headers) == expected


def test_public_key_with_starlette_headers() -> None:
    from starlette.datastructures import Headers

    headers = Headers(raw=[(b"x-sentry-auth", AUTH.encode())])
    assert public_key(headers, {}, None) == "from-auth"
