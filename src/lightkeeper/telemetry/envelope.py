"""Sentry ingest at the byte level: compressed bodies, envelopes and the public key of a request.

Nothing here decodes an event: `parse_envelope` splits the envelope into typed items and the
caller decodes each payload for its type. Every refusal is an `IngestError` carrying the HTTP
status to answer with. Format: https://develop.sentry.dev/sdk/data-model/envelopes/
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import brotli  # type: ignore[import-untyped]  # brotli ships no type information
import zstandard


class IngestError(Exception):
    """A request we refuse: HTTP status, a message safe to show (never a key), extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


# --- request bodies ---------------------------------------------------------------------------

# Decoders hand out output in pieces of at most this size, so a bomb is caught one piece past
# the limit rather than after the decoder has grown its buffer to several times the limit.
_OUTPUT_STEP = 64 * 1024
# zstd frames name their own window size; capping it stops a 20-byte frame from making us
# allocate the 128 MiB window zstd allows by default. 8 MiB covers every level up to 19.
_ZSTD_MIN_WINDOW = 8 * 1024 * 1024
_ZSTD_MAX_WINDOW = 128 * 1024 * 1024


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo `Content-Encoding` (identity, gzip, deflate, br, zstd) without exceeding `limit` bytes.

    415 for an unknown encoding; 413 when the body is over `limit` before or after
    decompression; 400 for corrupt or truncated data, or data after the end of the stream.
    """
    name = (encoding or "").strip().lower()
    decoder = _DECODERS.get(name)
    if decoder is None and name not in ("", "identity"):
        shown = (encoding or "").strip()[:40]
        raise IngestError(
            415, f"unsupported Content-Encoding {shown!r}; use gzip, deflate, br or zstd"
        )
    if len(body) > limit:
        raise IngestError(413, f"body larger than {limit} bytes")
    return body if decoder is None else decoder(body, max(limit, 0))


def _too_large(limit: int) -> IngestError:
    return IngestError(413, f"body larger than {limit} bytes once decompressed")


def _invalid(label: str, reason: str) -> IngestError:
    return IngestError(400, f"body is not valid {label}: {reason}")


def _zlib_reason(error: zlib.error) -> str:
    # "Error -3 while decompressing data: incorrect header check" -> "incorrect header check"
    return str(error).rpartition(": ")[2] or "corrupt data"


def _inflate(body: bytes, limit: int, wbits: int, label: str) -> bytes:
    decoder = zlib.decompressobj(wbits)
    try:
        # One byte over the limit is enough to know it is too large; zlib stops there.
        out = decoder.decompress(body, limit + 1)
    except zlib.error as error:
        raise _invalid(label, _zlib_reason(error)) from None
    if len(out) > limit:
        raise _too_large(limit)
    if not decoder.eof:
        raise _invalid(label, "truncated")
    if decoder.unused_data:
        raise _invalid(label, "data after the end of the stream")
    return out


def _gunzip(body: bytes, limit: int) -> bytes:
    return _inflate(body, limit, 16 + zlib.MAX_WBITS, "gzip")


def _looks_like_zlib(body: bytes) -> bool:
    return len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] * 256 + body[1]) % 31 == 0


def _deflate(body: bytes, limit: int) -> bytes:
    # HTTP says "deflate" is zlib-wrapped (RFC 1950), but some clients send raw deflate
    # (RFC 1951). A raw stream can pass the two-byte header check by chance, hence the retry.
    if _looks_like_zlib(body):
        try:
            return _inflate(body, limit, zlib.MAX_WBITS, "deflate")
        except IngestError as error:
            if error.status != 400:
                raise
    return _inflate(body, limit, -zlib.MAX_WBITS, "deflate")


def _unbrotli(body: bytes, limit: int) -> bytes:
    decoder = brotli.Decompressor()
    out = bytearray()
    try:
        out += decoder.process(body, output_buffer_limit=_OUTPUT_STEP)
        while len(out) <= limit and not decoder.can_accept_more_data():
            piece = decoder.process(b"", output_buffer_limit=_OUTPUT_STEP)
            if not piece:
                break  # no progress: let is_finished() below judge the stream
            out += piece
    except brotli.error:
        raise _invalid("br", "corrupt data or data after the end of the stream") from None
    if len(out) > limit:
        raise _too_large(limit)
    if not decoder.is_finished():
        raise _invalid("br", "truncated")
    return bytes(out)


def _unzstd(body: bytes, limit: int) -> bytes:
    window = max(_ZSTD_MIN_WINDOW, 1 << max(limit - 1, 1).bit_length())
    context = zstandard.ZstdDecompressor(max_window_size=min(window, _ZSTD_MAX_WINDOW))
    try:
        # zstandard's decompressobj cannot stop at a size and read_to_iter cannot tell a
        # truncated frame from a complete one, so: a bounded pass to measure, then (now known
        # to be small) a pass that reports truncation and trailing data.
        size = 0
        for piece in context.read_to_iter(body, write_size=_OUTPUT_STEP):
            size += len(piece)
            if size > limit:
                raise _too_large(limit)
        decoder = context.decompressobj()
        out = decoder.decompress(body)
    except zstandard.ZstdError as error:
        raise _invalid("zstd", str(error).rpartition(": ")[2] or "corrupt data") from None
    if not decoder.eof:
        raise _invalid("zstd", "truncated")
    if decoder.unused_data:
        raise _invalid("zstd", "data after the end of the stream")
    return out


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _deflate,
    "br": _unbrotli,
    "zstd": _unzstd,
}


# --- envelopes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One envelope item: its `type` ("event", "transaction", "session", ...) and raw payload."""

    type: str
    headers: dict[str, Any]
    payload: bytes


@dataclass(frozen=True)
class Envelope:
    headers: dict[str, Any]
    items: list[Item]


def _json_object(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting like [[[[...
        return None
    return value if isinstance(value, dict) else None


def parse_envelope(data: bytes, max_item_bytes: int, max_items: int = 100) -> Envelope:
    """Split an envelope into its header and items; 400 when malformed, 413 when too large.

    Lines end with exactly `\\n`. An item with an integer `length` has that many payload bytes
    followed by `\\n` or the end; without one the payload runs to the next `\\n`. One stray
    `\\n` at the very end is tolerated, other empty lines are not.
    """
    newline = data.find(b"\n")
    end = len(data) if newline < 0 else newline
    headers = _json_object(data[:end])
    if headers is None:
        raise IngestError(400, "envelope header is not a JSON object")
    items: list[Item] = []
    pos = end + 1
    while pos < len(data):
        if pos == len(data) - 1 and data[pos] == ord("\n"):
            break  # the one trailing newline some writers add
        if len(items) >= max_items:
            raise IngestError(413, f"envelope has more than {max_items} items")
        item, pos = _parse_item(data, pos, len(items) + 1, max_item_bytes)
        items.append(item)
    return Envelope(headers=headers, items=items)


def _parse_item(data: bytes, pos: int, number: int, max_item_bytes: int) -> tuple[Item, int]:
    """Read the item starting at `pos`; return it and where the next one starts."""
    newline = data.find(b"\n", pos)
    end = len(data) if newline < 0 else newline
    headers = _json_object(data[pos:end])
    if headers is None:
        raise IngestError(400, f"item {number}: header is not JSON")
    kind = headers.get("type")
    if not isinstance(kind, str):
        raise IngestError(400, f'item {number}: header has no "type"')
    start = min(end + 1, len(data))
    length = headers.get("length")
    if length is None:
        stop = data.find(b"\n", start)
        stop = len(data) if stop < 0 else stop
    elif isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise IngestError(400, f"item {number}: length must be a non-negative integer")
    elif length > len(data) - start and length <= max_item_bytes:
        remaining = len(data) - start
        raise IngestError(
            400, f"item {number}: declared length {length} but only {remaining} bytes remain"
        )
    else:
        stop = start + length
        if stop < len(data) and data[stop] != ord("\n"):
            raise IngestError(400, f"item {number}: payload is not followed by a newline")
    size = stop - start if length is None else length
    if size > max_item_bytes:
        shown = "".join(c if c.isprintable() else "?" for c in kind[:40])
        raise IngestError(
            413, f"item {number} ({shown}) is {size} bytes; the limit is {max_item_bytes}"
        )
    return Item(type=kind, headers=headers, payload=data[start:stop]), stop + 1


# --- who is sending ---------------------------------------------------------------------------

_AUTH_PREFIX = re.compile(r"\s*sentry(?:\s+|$)", re.IGNORECASE)
_AUTH_NAME = re.compile(r"[a-z0-9_.-]+")


def parse_auth(value: str | None) -> dict[str, str]:
    """`Sentry sentry_key=abc, sentry_version=7` -> {"sentry_key": "abc", "sentry_version": "7"}.

    Names are lowercased, the `Sentry` prefix is optional, parts that are not `name=value`
    are skipped; anything unparseable gives {}.
    """
    if not isinstance(value, str):
        return {}
    prefix = _AUTH_PREFIX.match(value)
    rest = value[prefix.end() :] if prefix else value
    pairs: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, val = part.partition("=")
        name = name.strip().lower()
        if equals and _AUTH_NAME.fullmatch(name):
            pairs[name] = val.strip().strip('"')
    return pairs


def key_from_dsn(dsn: str) -> tuple[str, str] | None:
    """`https://abc@host/path/42` -> ("abc", "42"); None unless it is a DSN an SDK would accept."""
    if not isinstance(dsn, str):
        return None
    try:
        parts = urlsplit(dsn.strip())
        host = parts.hostname
    except ValueError:
        return None
    project = parts.path.rstrip("/").rpartition("/")[2]
    key = parts.username
    # SDKs refuse a DSN whose project id is not a number, so we do too.
    if not (parts.scheme and host and key and project.isdecimal() and project.isascii()):
        return None
    return key, project


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Starlette's Headers match any case; a plain dict from a test or another server may carry
    # the lowercased name (what ASGI uses) or the canonical spelling.
    value = headers.get(name.lower()) or headers.get(name)
    return value if isinstance(value, str) else None


def public_key(
    headers: Mapping[str, str],
    query: Mapping[str, str],
    envelope_headers: Mapping[str, Any] | None,
) -> str | None:
    """The project's public key: X-Sentry-Auth, then `Authorization: Sentry ...`, then the
    `sentry_key` query parameter (browser SDKs), then the envelope header's `dsn`."""
    key = parse_auth(_header(headers, "X-Sentry-Auth")).get("sentry_key")
    if key:
        return key
    authorization = _header(headers, "Authorization")
    if authorization and _AUTH_PREFIX.match(authorization):
        key = parse_auth(authorization).get("sentry_key")
        if key:
            return key
    from_query = query.get("sentry_key")
    if isinstance(from_query, str) and from_query.strip():
        return from_query.strip()
    dsn = envelope_headers.get("dsn") if isinstance(envelope_headers, Mapping) else None
    parsed = key_from_dsn(dsn) if isinstance(dsn, str) else None
    return parsed[0] if parsed else None
