"""Grouping: which events share an issue, what the issue is called and where it happened."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
import sentry_sdk
from hypothesis import given, settings
from hypothesis import strategies as st
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from lightkeeper.telemetry.grouping import (
    group,
    normalize,
    normalize_filename,
    normalize_function,
)

Event = dict[str, Any]


def frame(function: str, module: str | None = "app.views", lineno: int = 10, **extra: Any) -> Any:
    return {"function": function, "module": module, "lineno": lineno, "in_app": True, **extra}


def error(kind: str, value: str, *frames: Any, **extra: Any) -> Event:
    exc: Event = {"type": kind, "value": value}
    if frames:
        exc["stacktrace"] = {"frames": list(frames)}
    return {"exception": {"values": [exc]}, **extra}


def lib(function: str) -> Any:
    return frame(function, module="requests.adapters", in_app=False)


def message(template: str, formatted: str, **extra: Any) -> Event:
    return {"logentry": {"message": template, "params": [], "formatted": formatted}, **extra}


STACK = (frame("handle", "app.urls"), frame("divide"))

SAME_ISSUE: list[tuple[str, Event, Event]] = [
    (
        "value and line numbers do not count with a stack trace",
        error("KeyError", "'user-41'", frame("handle", lineno=3), frame("load", lineno=9)),
        error("KeyError", "'admin'", frame("handle", lineno=5), frame("load", lineno=12)),
    ),
    (
        "library frames do not count when there are in-app frames",
        error("Timeout", "t", frame("fetch"), lib("send"), lib("urlopen")),
        error("Timeout", "t", frame("fetch"), lib("send_v2")),
    ),
    (
        "recursion depth does not count",
        error("RecursionError", "x", frame("walk"), *[frame("visit")] * 3),
        error("RecursionError", "x", frame("walk"), *[frame("visit")] * 900),
    ),
    (
        "bundle hashes, origins and cache-busting queries do not count",
        error(
            "TypeError", "x", frame("f", None, filename="https://a.example/js/main.a1b2c3d4.js?v=1")
        ),
        error(
            "TypeError", "x", frame("f", None, filename="https://b.example/js/main.9f8e7d6c.js?v=2")
        ),
    ),
    (
        "memory addresses and generated suffixes in function names do not count",
        error("E", "x", frame("<lambda at 0x7f3a2b>"), frame("callback_123456")),
        error("E", "x", frame("<lambda at 0x7f99ff>"), frame("callback_987654")),
    ),
    (
        "no stack trace: numbers, ids and addresses in the value do not count",
        error("LookupError", "order 41 for 3f2b8c1e-0d7a-4c2e-9a1b-5e6f7a8b9c0d at 10.0.0.1"),
        error("LookupError", "order 42 for 0b1c2d3e-4f5a-6b7c-8d9e-0a1b2c3d4e5f at 192.168.1.20"),
    ),
    (
        "no stack trace: e-mails, timestamps and hex ids do not count",
        error("Denied", "bob@a.io at 2024-01-05T10:00:00Z key a1b2c3d4e5 ptr 0xdead"),
        error("Denied", "eve@b.org at 2025-12-31 23:59:59.123+02:00 key 99ff00aa11 ptr 0x1"),
    ),
    (
        "messages group by template, not by the formatted text",
        message("user %s failed to log in", "user bob failed to log in"),
        message("user %s failed to log in", "user eve failed to log in"),
    ),
    (
        "a message without a template is normalized",
        {"message": "retrying in 30s (attempt 2)"},
        {"message": {"formatted": "retrying in 5s (attempt 3)"}},
    ),
    (
        "a fingerprint overrides everything else",
        error("KeyError", "a", frame("f"), fingerprint=["billing"]),
        error("ValueError", "b", frame("g"), fingerprint=["billing"]),
    ),
    (
        'a fingerprint of just "{{ default }}" is the default',
        error("KeyError", "a", *STACK, fingerprint=["{{ default }}"]),
        error("KeyError", "a", *STACK),
    ),
    (
        "exception as a bare list or wrapped in values",
        {"exception": [{"type": "E", "value": "v", "stacktrace": {"frames": list(STACK)}}]},
        error("E", "v", *STACK),
    ),
    (
        "the transaction decides when there is nothing else",
        {"transaction": "/checkout", "level": "error"},
        {"transaction": "/checkout", "extra": {"n": 1}},
    ),
]

OTHER_ISSUE: list[tuple[str, Event, Event]] = [
    (
        "different exception types at the same place",
        error("KeyError", "x", *STACK),
        error("ValueError", "x", *STACK),
    ),
    (
        "the same type raised in different functions",
        error("KeyError", "x", frame("handle"), frame("load")),
        error("KeyError", "x", frame("handle"), frame("save")),
    ),
    (
        "the same function name in different modules",
        error("KeyError", "x", frame("load", "app.users")),
        error("KeyError", "x", frame("load", "app.orders")),
    ),
    (
        "no stack trace: different words in the value",
        error("RuntimeError", "disk full"),
        error("RuntimeError", "queue full"),
    ),
    (
        "different message templates",
        message("user %s failed to log in", "user bob failed to log in"),
        message("user %s logged out", "user bob logged out"),
    ),
    (
        "two log calls in one function, with attach_stacktrace",
        {"message": "cache miss", "stacktrace": {"frames": list(STACK)}},
        {"message": "cache full", "stacktrace": {"frames": list(STACK)}},
    ),
    (
        "a fingerprint that extends the default",
        error("KeyError", "x", *STACK, fingerprint=["{{ default }}", "tenant-a"]),
        error("KeyError", "x", *STACK, fingerprint=["{{default}}", "tenant-b"]),
    ),
    (
        "a fingerprint and the default it expands to",
        error("KeyError", "x", *STACK, fingerprint=["{{ default }}", "tenant-a"]),
        error("KeyError", "x", *STACK),
    ),
    (
        "different transactions",
        {"transaction": "/checkout"},
        {"transaction": "/cart"},
    ),
]


@pytest.mark.parametrize(("why", "first", "second"), SAME_ISSUE, ids=[s[0] for s in SAME_ISSUE])
def test_same_issue(why: str, first: Event, second: Event) -> None:
    assert group(first).hash == group(second).hash, why


@pytest.mark.parametrize(("why", "first", "second"), OTHER_ISSUE, ids=[s[0] for s in OTHER_ISSUE])
def test_other_issue(why: str, first: Event, second: Event) -> None:
    assert group(first).hash != group(second).hash, why


CHAINED = {
    "exception": {
        "values": [
            {"type": "ZeroDivisionError", "value": "division by zero",
             "stacktrace": {"frames": [frame("divide", lineno=4)]}},
            {"type": "ValueError", "value": "bad input\nsecond line",
             "stacktrace": {"frames": [frame("handle", "app.urls", lineno=9)]}},
        ]
    },
    "transaction": "/divide",
}  # fmt: skip

DESCRIBED: list[tuple[str, Any, str, str, str, tuple[str, ...]]] = [
    (
        "stack trace: frames then type, per exception",
        CHAINED,
        "stacktrace",
        "ValueError: bad input second line",
        "app.urls in handle",
        (
            "frame app.views in divide",
            "type ZeroDivisionError",
            "frame app.urls in handle",
            "type ValueError",
        ),
    ),
    (
        "no in-app frames: all frames count, the top one is the culprit",
        error("ConnectionError", "refused", lib("send"), lib("connect")),
        "stacktrace",
        "ConnectionError: refused",
        "requests.adapters in connect",
        (
            "frame requests.adapters in send",
            "frame requests.adapters in connect",
            "type ConnectionError",
        ),
    ),
    (
        "file name when there is no module",
        error(
            "TypeError",
            "x is undefined",
            frame("render", None, filename="webpack://app/./src/App.tsx"),
        ),
        "stacktrace",
        "TypeError: x is undefined",
        "src/App.tsx in render",
        ("frame src/App.tsx in render", "type TypeError"),
    ),
    (
        "no frames: type and normalized value",
        error("TimeoutError", "gave up after 30.5s on 10.1.2.3:5432", transaction="/pay"),
        "exception",
        "TimeoutError: gave up after 30.5s on 10.1.2.3:5432",
        "/pay",
        ("type TimeoutError", "value gave up after <float>s on <ip>:<int>"),
    ),
    (
        "an exception without a value",
        error("SystemExit", ""),
        "exception",
        "SystemExit",
        "",
        ("type SystemExit", "value "),
    ),
    (
        "message template, formatted title",
        message("user %s failed to log in", "user bob failed to log in"),
        "message",
        "user bob failed to log in",
        "",
        ("message user %s failed to log in",),
    ),
    (
        "message with a thread stack trace (attach_stacktrace)",
        {
            "message": "slow query",
            "threads": {
                "values": [
                    {"id": 1, "stacktrace": {"frames": [frame("idle")]}},
                    {
                        "id": 2,
                        "current": True,
                        "stacktrace": {"frames": [frame("query", "app.db")]},
                    },
                ]
            },
        },
        "stacktrace",
        "slow query",
        "app.db in query",
        ("frame app.db in query", "message slow query"),
    ),
    (
        "custom fingerprint with the default inside",
        error("KeyError", "k", frame("load"), fingerprint=["tenant", "{{ Default }}", 7]),
        "fingerprint",
        "KeyError: k",
        "app.views in load",
        ("tenant", "frame app.views in load", "type KeyError", "7"),
    ),
    (
        "transaction only",
        {"transaction": "GET /health"},
        "fallback",
        "GET /health",
        "GET /health",
        ("transaction GET /health",),
    ),
    ("nothing at all", {}, "fallback", "<no message>", "", ("<no message>",)),
    ("not even a mapping", ["junk"], "fallback", "<no message>", "", ("<no message>",)),
    (
        "wrong types everywhere are ignored",
        {
            "exception": {"values": [None, 5, {"type": 3, "value": ["x"]}]},
            "logentry": "x",
            "message": 7,
            "fingerprint": "not a list",
            "threads": [1],
            "transaction": None,
        },
        "fallback",
        "<no message>",
        "",
        ("<no message>",),
    ),
]


@pytest.mark.parametrize(
    ("why", "event", "method", "title", "culprit", "components"),
    DESCRIBED,
    ids=[d[0] for d in DESCRIBED],
)
def test_method_title_culprit_and_components(
    why: str, event: Any, method: str, title: str, culprit: str, components: tuple[str, ...]
) -> None:
    grouping = group(event)
    assert (grouping.method, grouping.title, grouping.culprit) == (method, title, culprit), why
    assert grouping.components == components, why
    assert re.fullmatch(r"[0-9a-f]{32}", grouping.hash)


def test_long_titles_are_cut_to_one_line_of_200() -> None:
    grouping = group(error("ValueError", "bad\n" + "x" * 1000))
    assert len(grouping.title) == 200
    assert grouping.title.startswith("ValueError: bad xxx")
    assert grouping.title.endswith("…")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user 42 not found", "user <int> not found"),
        ("took 1.5s", "took <float>s"),
        ("utf8 and http2 are names", "utf8 and http2 are names"),
        ("job_12345 failed", "job_<int> failed"),
        ("12345678 is a number, deadbeef a word", "<int> is a number, deadbeef a word"),
        ("sha a1b2c3d4e5f6 and 0x7ffe12", "sha <hex> and <hex>"),
        ("id 3F2B8C1E-0D7A-4C2E-9A1B-5E6F7A8B9C0D", "id <uuid>"),
        ("mail bob.smith+x@mail.example.com now", "mail <email> now"),
        ("at 2024-01-05T10:00:00.123Z or 2024-01-05", "at <date> or <date>"),
        ("from 10.0.0.1:8080", "from <ip>:<int>"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("https://cdn.example.com/static/js/main.a1b2c3d4.js?v=123#x", "static/js/main.js"),
        ("webpack://my-app/./src/App.tsx", "src/App.tsx"),
        ("app:///dist/chunk-0f3e9a12b4.js", "dist/chunk.js"),
        ("/srv/app/node_modules/react-dom/cjs/react-dom.js", "react-dom/cjs/react-dom.js"),
        ("/usr/lib/python3.11/site-packages/requests/api.py", "requests/api.py"),
        ("C:\\app\\site-packages\\flask\\app.py", "flask/app.py"),
        ("app/facade.py", "app/facade.py"),
        ("", ""),
    ],
)
def test_normalize_filename(path: str, expected: str) -> None:
    assert normalize_filename(path) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("<lambda>", "<lambda>"),
        ("<function f at 0x7f3a2b1c>", "<function f>"),
        ("handler_1234567", "handler"),
        ("retry_2", "retry_2"),
        ("Object.<anonymous>", "Object.<anonymous>"),
    ],
)
def test_normalize_function(name: str, expected: str) -> None:
    assert normalize_function(name) == expected


# --- events from the real sentry-sdk ----------------------------------------------------------


class _Capture(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(dict(event))


def sdk_event(action: Callable[[sentry_sdk.Scope], object]) -> Event:
    transport = _Capture()
    client = sentry_sdk.Client(
        dsn="https://key@localhost/1", transport=transport, default_integrations=False
    )
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        action(scope)
    client.close()
    return transport.events[-1]


def divide(a: int, b: int) -> float:
    return a / b


def lookup(key: str) -> int:
    return {"a": 1}[key]


def capture(call: Callable[[], object]) -> Event:
    def action(scope: sentry_sdk.Scope) -> None:
        try:
            call()
        except Exception as exc:
            scope.capture_exception(exc)

    return sdk_event(action)


def test_real_sdk_exceptions() -> None:
    first = group(capture(lambda: divide(1, 0)))
    second = group(capture(lambda: divide(7, 0)))
    other = group(capture(lambda: lookup("b")))

    assert first.method == "stacktrace"
    assert first.title == "ZeroDivisionError: division by zero"
    assert first.culprit == f"{__name__} in divide"
    assert first.hash == second.hash
    assert other.hash != first.hash
    assert other.title == "KeyError: 'b'"


def test_real_sdk_messages() -> None:
    first = group(sdk_event(lambda scope: scope.capture_message("cache is cold")))
    assert (first.method, first.title) == ("message", "cache is cold")
    second = group(sdk_event(lambda scope: scope.capture_message("cache is warm")))
    assert first.hash != second.hash


# --- properties -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    ["exception", "values", "type", "value", "stacktrace", "frames", "function", "module",
     "filename", "abs_path", "in_app", "threads", "current", "logentry", "message", "formatted",
     "fingerprint", "transaction", "{{ default }}"]
)  # fmt: skip
# Dicts built from the keys group() reads, so the random values reach deep into the code.
SHAPED = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.just("{{ default }}"),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(
    event=st.dictionaries(st.text(max_size=10), JSON, max_size=5) | st.dictionaries(KEYS, SHAPED)
)
def test_any_json_groups_without_error(event: Event) -> None:
    before = copy.deepcopy(event)
    grouping = group(event)
    assert re.fullmatch(r"[0-9a-f]{32}", grouping.hash)
    assert grouping.method in {"fingerprint", "stacktrace", "exception", "message", "fallback"}
    assert len(grouping.title) <= 200 and "\n" not in grouping.title
    assert len(grouping.culprit) <= 200 and "\n" not in grouping.culprit
    assert grouping.components
    assert group(event) == grouping  # deterministic
    assert event == before  # untouched


@settings(max_examples=200, deadline=None)
@given(
    functions=st.lists(st.sampled_from(["a", "b", "c", "load", "save"]), min_size=1, max_size=6),
    lines=st.lists(st.integers(1, 5000), min_size=6, max_size=6),
    values=st.tuples(st.text(max_size=30), st.text(max_size=30)),
)
def test_line_numbers_and_values_never_split_a_stack_trace_issue(
    functions: list[str], lines: list[int], values: tuple[str, str]
) -> None:
    first = error("E", values[0], *[frame(f, lineno=1) for f in functions])
    second = error(
        "E", values[1], *[frame(f, lineno=n) for f, n in zip(functions, lines, strict=False)]
    )
    assert group(first).hash == group(second).hash
