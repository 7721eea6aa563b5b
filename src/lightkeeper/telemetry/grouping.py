"""Which issue an event belongs to: a stable hash of what identifies the error, plus its title.

The idea follows Sentry's grouping (https://docs.sentry.io/concepts/data-management/event-grouping/);
the code is our own. The first rule that applies decides (`Grouping.method`):

1. "fingerprint": the event's `fingerprint` list of strings, each "{{ default }}" in it replaced
   by the default components below. `["{{ default }}"]` alone is the default.
2. "stacktrace": each exception's frames (in-app frames; all frames when none is in-app),
   module or normalized file name plus function, then its type. No line numbers: they move
   with unrelated edits. Nor the value: "id 41 not found" and "id 42 not found" raised at the
   same place are one issue. A message with a stack trace (attach_stacktrace) uses the frames
   plus its template, so two log calls in one function stay apart.
3. "exception": no frames at all: each exception's type and its value with the variable parts
   (numbers, ids, addresses, dates) replaced by placeholders such as `<int>`.
4. "message": the log template (`logentry.message`, without its params), else the formatted
   message, normalized as in 3.
5. "fallback": the transaction name, else "<no message>".

Events are untrusted JSON: a missing or wrong-typed field is treated as absent, never an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MAX_TITLE = 200
# Variable text is cut before normalizing: the regexes stay linear and a 1 MB message can't
# make a 1 MB component. The first kilobyte says what the error is.
_MAX_TEXT = 1000
_DEFAULT_MARKER = re.compile(r"\{\{\s*default\s*\}\}", re.IGNORECASE)


@dataclass(frozen=True)
class Grouping:
    hash: str  # 32 lowercase hex chars: blake2b-128 of method and components
    title: str  # what the issue list shows, one line, at most 200 chars
    culprit: str  # where: "module in function" of the top frame, else the transaction, else ""
    method: str  # "fingerprint" | "stacktrace" | "exception" | "message" | "fallback"
    components: tuple[str, ...]  # what went into the hash, for "why grouped" on the issue page


def group(event: Mapping[str, Any]) -> Grouping:
    """Decide the issue of `event`; see the module docstring for the rules."""
    if not isinstance(event, Mapping):
        event = {}
    exceptions = _exceptions(event)
    method, components = _default_components(event, exceptions)
    fingerprint = _fingerprint(event)
    if fingerprint is not None:
        method = "fingerprint"
        components = tuple(
            piece
            for part in fingerprint
            for piece in (components if _DEFAULT_MARKER.fullmatch(part.strip()) else (part,))
        )
    components = tuple(_clean(piece) for piece in components)
    # ensure_ascii keeps lone surrogates from untrusted JSON encodable.
    digest = hashlib.blake2b(json.dumps([method, *components]).encode(), digest_size=16)
    return Grouping(
        hash=digest.hexdigest(),
        title=_title(event, exceptions),
        culprit=_culprit(event, exceptions),
        method=method,
        components=components,
    )


# --- untrusted JSON ---------------------------------------------------------------------------


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in a list, or in its `values` (Sentry wraps lists as {"values": [...]})."""
    if isinstance(value, Mapping):
        value = value.get("values")
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _clean(text: str, limit: int = 2 * _MAX_TEXT) -> str:
    """Cut to `limit` and make storable (lone surrogates from JSON cannot be encoded)."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def _one_line(text: str) -> str:
    text = " ".join(text[: _MAX_TITLE * 4].split())
    return _clean(text if len(text) <= _MAX_TITLE else text[: _MAX_TITLE - 1] + "…")


# --- the event's parts ------------------------------------------------------------------------


def _exceptions(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Exceptions, oldest (the cause) first; ones with nothing to show are dropped."""
    return [
        exc
        for exc in _dicts(event.get("exception"))
        if _str(exc.get("type")) or _str(exc.get("value")) or _frames(exc.get("stacktrace"))
    ]


def _event_stacktrace(event: Mapping[str, Any]) -> Any:
    """A stack trace outside exceptions: the event's own, or the current/crashed thread's."""
    if _dict(event.get("stacktrace")):
        return event["stacktrace"]
    threads = [t for t in _dicts(event.get("threads")) if _frames(t.get("stacktrace"))]
    chosen = [t for t in threads if t.get("crashed") is True or t.get("current") is True]
    return (chosen or threads)[0].get("stacktrace") if threads else None


def _frames(stacktrace: Any) -> list[Mapping[str, Any]]:
    """The frames that identify the code path: in-app ones, or all when none is in-app."""
    frames = _dicts(_dict(stacktrace).get("frames"))
    in_app = [frame for frame in frames if frame.get("in_app") is True]
    return in_app or frames


def _fingerprint(event: Mapping[str, Any]) -> list[str] | None:
    value = event.get("fingerprint")
    if not isinstance(value, list):
        return None
    parts = [str(v) for v in value if isinstance(v, str | int | float)]
    if not parts or (len(parts) == 1 and _DEFAULT_MARKER.fullmatch(parts[0].strip())):
        return None
    return parts


def _message(event: Mapping[str, Any], template: bool) -> str:
    """The log template (`template`) or the formatted message, whichever exists first."""
    logentry = _dict(event.get("logentry"))
    message = event.get("message")
    nested = _dict(message)
    order = ("message", "formatted") if template else ("formatted", "message")
    candidates = [logentry.get(key) for key in order] + [message]
    candidates += [nested.get(key) for key in order]
    return next((c for c in candidates if isinstance(c, str) and c.strip()), "")


# --- components -------------------------------------------------------------------------------


def _default_components(
    event: Mapping[str, Any], exceptions: list[Mapping[str, Any]]
) -> tuple[str, tuple[str, ...]]:
    if exceptions:
        stack: list[str] = []
        for exc in exceptions:
            stack += _frame_components(exc.get("stacktrace"))
            stack.append(f"type {_str(exc.get('type'))}")
        if len(stack) > len(exceptions):  # some exception had a frame
            return "stacktrace", tuple(stack)
        return "exception", tuple(
            piece
            for exc in exceptions
            for piece in (
                f"type {_str(exc.get('type'))}",
                f"value {normalize(_str(exc.get('value')))}",
            )
        )
    template = _message(event, template=True)
    frames = _frame_components(_event_stacktrace(event))
    if frames:
        return "stacktrace", (*frames, f"message {normalize(template)}")
    if template:
        return "message", (f"message {normalize(template)}",)
    transaction = _str(event.get("transaction"))
    return "fallback", (f"transaction {transaction}" if transaction else "<no message>",)


def _frame_components(stacktrace: Any) -> list[str]:
    parts: list[str] = []
    for frame in _frames(stacktrace):
        where, function = _frame_place(frame)
        part = f"frame {where} in {function}"
        # Recursion repeats a frame; its depth must not split an issue.
        if (where or function) and (not parts or parts[-1] != part):
            parts.append(part)
    return parts


def _frame_place(frame: Mapping[str, Any]) -> tuple[str, str]:
    """(module or normalized file name, normalized function) of a frame."""
    where = _str(frame.get("module")) or normalize_filename(
        _str(frame.get("filename")) or _str(frame.get("abs_path"))
    )
    return where[:_MAX_TEXT], normalize_function(_str(frame.get("function"))[:_MAX_TEXT])


_ORIGIN = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*", re.IGNORECASE)  # https://host, webpack://app
_VENDORED = re.compile(r"^.*/(?:node_modules|site-packages|dist-packages)/")
# Build hashes in bundle names: main.a1b2c3d4.js, chunk-0f3e9a12b4.js (a digit is required so
# that words such as "facade" in a name survive).
_BUILD_HASH = re.compile(r"[.-](?=[0-9a-f]*[0-9])[0-9a-f]{8,}(?=[./]|$)", re.IGNORECASE)


def normalize_filename(path: str) -> str:
    """A file name that stays the same across deploys, hosts and bundle builds."""
    path = path.replace("\\", "/").split("?", 1)[0].split("#", 1)[0]
    path = _VENDORED.sub("", _ORIGIN.sub("", path))
    path = _BUILD_HASH.sub("", path)
    while path.startswith(("/", "./")):
        path = path[1:] if path.startswith("/") else path[2:]
    return path


_ADDRESS = re.compile(r"\s*(?:\bat\s+)?0x[0-9a-f]+", re.IGNORECASE)
# Generated names end in long numbers (lambda_123456); short suffixes like retry_2 are real.
_GENERATED_SUFFIX = re.compile(r"_\d{4,}\b")


def normalize_function(name: str) -> str:
    return _GENERATED_SUFFIX.sub("", _ADDRESS.sub("", name)).strip()


_VARIABLE = re.compile(
    r"(?P<uuid>(?<![0-9a-z])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-z]))"
    r"|(?P<email>(?<![a-z0-9._%+-])[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+)"
    r"|(?P<date>\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?)"
    r"|(?P<ip>(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9]))"
    r"|(?P<hex>0x[0-9a-f]+|(?<![0-9a-z])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}(?![0-9a-z]))"
    # A number after a letter is part of a name (utf8, http2); units after it are fine (30s).
    r"|(?P<float>(?<![0-9a-z])\d+\.\d+)"
    r"|(?P<int>(?<![0-9a-z])\d+)",
    re.IGNORECASE | re.ASCII,
)


def normalize(text: str) -> str:
    """Replace the variable parts of a message: "user 42 at 10.0.0.1" -> "user <int> at <ip>"."""
    return _VARIABLE.sub(lambda match: f"<{match.lastgroup}>", text[:_MAX_TEXT])


# --- what the issue list shows ----------------------------------------------------------------


def _title(event: Mapping[str, Any], exceptions: list[Mapping[str, Any]]) -> str:
    if exceptions:
        last = exceptions[-1]  # the one raised last, which the SDK captured
        kind, value = _str(last.get("type")), _str(last.get("value"))
        return _one_line(f"{kind}: {value}" if kind and value else kind or value or "Error")
    message = _message(event, template=False)
    return _one_line(message or _str(event.get("transaction")) or "<no message>")


def _culprit(event: Mapping[str, Any], exceptions: list[Mapping[str, Any]]) -> str:
    stacks = [exc.get("stacktrace") for exc in reversed(exceptions)]
    stacks.append(_event_stacktrace(event))
    for stack in stacks:
        frames = _frames(stack)
        if frames:
            where, function = _frame_place(frames[-1])  # frames run oldest first
            return _one_line(f"{where} in {function}" if where and function else where or function)
    return _one_line(_str(event.get("transaction")))
