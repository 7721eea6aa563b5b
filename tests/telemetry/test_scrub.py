"""Scrubbing: credentials, cookies and e-mail addresses never reach storage."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightkeeper.telemetry.scrub import DEFAULT_KEYS, scrub

SECRET = "hunter2-s3cr3t"
Event = dict[str, Any]


def test_the_seeds_before_send_case_stores_no_cookie_and_no_authorization() -> None:
    event: Event = {
        "request": {
            "url": "https://shop.example/cart",
            "method": "POST",
            "headers": {
                "Cookie": f"sessionid={SECRET}",
                "Authorization": f"Bearer {SECRET}",
                "User-Agent": "curl/8",
            },
            "cookies": {"sessionid": SECRET},
        }
    }
    result = scrub(event)
    assert result is event
    assert event["request"] == {
        "url": "https://shop.example/cart",
        "method": "POST",
        "headers": {"User-Agent": "curl/8"},
    }


@pytest.mark.parametrize(
    "headers",
    [
        [["Cookie", "a=b"], ["authorization", "x"], ["Accept", "*/*"], ["X-Sentry-Auth", "k"]],
        [
            ("SET-COOKIE", "a=b"),
            ("Proxy-Authorization", "x"),
            ["Accept", "*/*"],
            ["x-api-key", "k"],
        ],
    ],
)
def test_headers_as_pairs_lose_the_same_headers(headers: list[Any]) -> None:
    event = scrub({"request": {"headers": headers}})
    assert event["request"]["headers"] == [["Accept", "*/*"]]


@pytest.mark.parametrize(
    ("key", "filtered"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("x-auth-token", True),
        ("X_API_KEY", True),
        ("apiKey", True),
        ("Stripe-Secret-Key", True),
        ("csrfmiddlewaretoken", True),
        ("SESSIONID", True),
        ("private-key", True),
        ("SENTRY_DSN", True),
        ("set_cookie", True),
        ("username", False),
        ("email", False),
        ("user_id", False),
        ("path", False),
    ],
)
@pytest.mark.parametrize(
    ("where", "build", "read"),
    [
        ("request.data", lambda k: {"request": {"data": {k: SECRET}}}, lambda e: e["request"]["data"]),
        ("request.env", lambda k: {"request": {"env": {k: SECRET}}}, lambda e: e["request"]["env"]),
        ("request.headers", lambda k: {"request": {"headers": {k: SECRET}}}, lambda e: e["request"]["headers"]),
        ("request.data pairs", lambda k: {"request": {"data": [[k, SECRET]]}}, lambda e: dict(e["request"]["data"])),
        ("extra", lambda k: {"extra": {"nested": {k: SECRET}}}, lambda e: e["extra"]["nested"]),
        ("contexts", lambda k: {"contexts": {"app": {k: SECRET}}}, lambda e: e["contexts"]["app"]),
        ("tags", lambda k: {"tags": {k: SECRET}}, lambda e: e["tags"]),
        ("tag pairs", lambda k: {"tags": [[k, SECRET]]}, lambda e: dict(e["tags"])),
        ("breadcrumbs", lambda k: {"breadcrumbs": {"values": [{"data": {k: SECRET}}]}},
         lambda e: e["breadcrumbs"]["values"][0]["data"]),
        ("frame vars", lambda k: {"exception": {"values": [{"stacktrace": {"frames": [{"vars": {k: SECRET}}]}}]}},
         lambda e: e["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]),
        ("user", lambda k: {"user": {"id": "7", k: SECRET}}, lambda e: e["user"]),
        ("spans", lambda k: {"spans": [{"data": {k: SECRET}}]}, lambda e: e["spans"][0]["data"]),
    ],
)  # fmt: skip
def test_sensitive_keys_anywhere(
    key: str,
    filtered: bool,
    where: str,
    build: Callable[[str], Event],
    read: Callable[[Event], dict[str, Any]],
) -> None:
    # Headers such as X-Api-Key are dropped whole, which is just as good.
    dropped = {"[dropped]"} if where == "request.headers" else set()
    expected = {"[Filtered]", *dropped} if filtered else {SECRET}
    assert read(scrub(build(key))).get(key, "[dropped]") in expected, f"{key} in {where}"


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            {"query_string": "a=1&access_token=abc&b=2"},
            {"query_string": "a=1&access_token=[Filtered]&b=2"},
        ),
        ({"query_string": "Api%5FKey=abc"}, {"query_string": "Api%5FKey=[Filtered]"}),
        (
            {"query_string": [["token", "abc"], ["page", "2"]]},
            {"query_string": [["token", "[Filtered]"], ["page", "2"]]},
        ),
        (
            {"query_string": {"token": "abc", "page": "2"}},
            {"query_string": {"token": "[Filtered]", "page": "2"}},
        ),
        (
            {"url": "https://a.example/p?page=2&sessionid=abc#top"},
            {"url": "https://a.example/p?page=2&sessionid=[Filtered]#top"},
        ),
        (
            {"url": "/p?page=2&password="},
            {"url": "/p?page=2&password=[Filtered]"},
        ),
        ({"url": "https://a.example/p?page=2"}, {"url": "https://a.example/p?page=2"}),
    ],
)
def test_query_strings_and_urls(request_: Event, expected: Event) -> None:
    assert scrub({"request": request_})["request"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://app:pw123@db:5432/app", "postgres://app:[Filtered]@db:5432/app"),
        ("see https://user:pass@host/x and more", "see https://user:[Filtered]@host/x and more"),
        ("login failed: user=bob password=hunter2", "login failed: user=bob password=[Filtered]"),
        ("a == b and x=1", "a == b and x=1"),
        ("https://host/x?q=1", "https://host/x?q=1"),
    ],
)
def test_secrets_inside_strings(text: str, expected: str) -> None:
    event = scrub({"extra": {"DATABASE_URL": text}, "message": text})
    assert event["extra"]["DATABASE_URL"] == expected
    assert event["message"] == expected


def test_emails_only_when_asked() -> None:
    def event() -> Event:
        return {
            "user": {"id": "7", "email": "bob@example.com", "username": "bob"},
            "message": "mail to Bob.Smith+x@mail.example.com failed",
            "extra": {"list": ["eve@example.org"]},
        }

    kept = scrub(event())
    assert kept["user"]["email"] == "bob@example.com"
    assert kept["message"] == "mail to Bob.Smith+x@mail.example.com failed"

    scrubbed = scrub(event(), emails=True)
    assert scrubbed["user"] == {"id": "7", "username": "bob"}
    assert scrubbed["message"] == "mail to [email] failed"
    assert scrubbed["extra"]["list"] == ["[email]"]


def test_custom_keys_replace_the_defaults() -> None:
    event = scrub({"extra": {"SSN": "123", "password": "pw"}}, keys={"ssn"})
    assert event["extra"] == {"SSN": "[Filtered]", "password": "pw"}
    event = scrub({"extra": {"SSN": "123", "password": "pw"}}, keys=DEFAULT_KEYS | {"SSN"})
    assert event["extra"] == {"SSN": "[Filtered]", "password": "[Filtered]"}


def test_package_lists_and_two_item_lists_are_not_mistaken_for_secrets() -> None:
    event: Event = {
        "modules": {"oauthlib": "3.2.2", "djangorestframework-simplejwt": "5.3"},
        "fingerprint": ["auth", "timeout"],
        "exception": {"values": [{"stacktrace": {"frames": [{"pre_context": ["token = get()", "x = 1"]}]}}]},
    }  # fmt: skip
    assert scrub(json.loads(json.dumps(event))) == event


def test_deep_nesting_is_cut_not_stored_unseen() -> None:
    shallow: Any = {"password": SECRET}
    for _ in range(15):
        shallow = {"a": shallow}
    deep: Any = SECRET
    for _ in range(5000):
        deep = {"a": [deep]}
    event = scrub({"extra": {"shallow": shallow, "deep": deep}})
    assert SECRET not in json.dumps(event)
    assert "[Filtered]" in json.dumps(event["extra"]["shallow"])


@pytest.mark.parametrize(
    "hostile",
    ["a." * 500_000 + "://x", "a" * 1_000_000 + " @x.com", "a@" * 500_000, "x://a:" * 200_000],
)
def test_hostile_megabyte_strings_take_one_pass(hostile: str) -> None:
    # Each takes ~50 ms; a regex retried at every position would take minutes.
    started = time.perf_counter()
    scrub({"message": hostile}, emails=True)
    assert time.perf_counter() - started < 2


def test_odd_shapes_are_left_alone() -> None:
    event: Any = {"request": "GET /", "user": None, "tags": "x", "extra": [1, 2.5, None, True]}
    assert scrub(event) == {
        "request": "GET /",
        "user": None,
        "tags": "x",
        "extra": [1, 2.5, None, True],
    }
    not_an_event: Any = [1]
    assert scrub(not_an_event) is not_an_event


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=15,
)
PLACES = st.sampled_from(
    ["request", "headers", "query_string", "tags", "data", "env", "cookies", "extra", "user",
     "contexts", "breadcrumbs", "values", "spans", "frames", "vars", "Cookie", "url"]
)  # fmt: skip
SHAPED = st.recursive(
    JSON,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(PLACES, children, max_size=4)
        | st.tuples(st.sampled_from(["Authorization", "token", "page"]), children).map(list)
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(
    event=st.dictionaries(PLACES | st.text(max_size=8), SHAPED, max_size=6),
    emails=st.booleans(),
)
def test_never_raises(event: Event, emails: bool) -> None:
    assert scrub(event, emails=emails) is event
    json.dumps(event)  # still plain JSON


@settings(max_examples=200, deadline=None)
@given(
    event=st.dictionaries(PLACES, SHAPED, min_size=1, max_size=4),
    path=st.lists(st.tuples(PLACES, st.booleans()), max_size=10),
    key=st.sampled_from(["password", "X-Auth-Token", "client_secret", "refresh-token"]),
)
def test_a_planted_secret_never_survives(
    event: Event, path: list[tuple[str, bool]], key: str
) -> None:
    planted: Any = {key: SECRET}
    for name, in_list in reversed(path):
        planted = {name: [planted] if in_list else planted}
    event["planted"] = planted
    assert SECRET not in json.dumps(scrub(event))
