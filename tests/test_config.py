"""Configuration: interpolation, defaults, and one clear FILE:LINE:COL error per mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lightkeeper.config import bind_problem, config_schema, load_config, parse_config
from lightkeeper.errors import ConfigError

LIGHTKEEPER = str(Path(sys.executable).with_name("lightkeeper"))

GOOD = """\
store: {url: "sqlite:///x.db"}
monitors:
  - name: app
    type: http
    url: https://example.com/api/health
    interval: 60s
    timeout: 10s
    critical: true
    expect: {status: 200, json: {"$.status": "healthy"}, max_latency: 3s}
  - {name: db, type: postgres, dsn: "${DATABASE_URL}"}
  - {name: cache, type: redis, url: "${REDIS_URL:-redis://127.0.0.1:6379}"}
  - {name: vectors, type: chroma, url: "http://${CHROMA_HOST}:${CHROMA_PORT}"}
  - {name: ai-keys, type: env, require: [ANTHROPIC_API_KEY, OPENAI_API_KEY]}
"""
ENV = {"DATABASE_URL": "postgresql://app:pw@db/app", "CHROMA_HOST": "chroma", "CHROMA_PORT": "8000"}


def test_the_issue_example_loads_with_interpolation_and_defaults() -> None:
    config = parse_config(GOOD, "lk.yaml", ENV)
    app, db, cache, vectors, keys = config.monitors
    assert (app.interval, app.timeout, app.critical) == (60.0, 10.0, True)
    assert app.expect.max_latency == 3.0
    assert db.dsn == "postgresql://app:pw@db/app"
    assert cache.url == "redis://127.0.0.1:6379"  # the default after :-
    assert vectors.url == "http://chroma:8000"
    assert keys.require == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
    assert db.failures_before_down == 2 and db.successes_before_up == 1
    assert config.server.host == "127.0.0.1" and config.auth.mode == "none"
    assert "pw" not in db.target()


# (name, yaml, expected location, words the message must contain)
BAD = [
    (
        "yaml syntax",
        "monitors:\n  - name: a\n    type: [http\n",
        "3:",
        ["YAML syntax error"],
    ),
    (
        "unknown key with suggestion",
        "monitors:\n  - name: a\n    type: tcp\n    host: h\n    port: 1\n    intervall: 5s\n",
        "6:5",
        ["unknown key 'intervall'", "did you mean 'interval'"],
    ),
    (
        "unknown top-level key",
        "monitor:\n  - name: a\n",
        "1:1",
        ["unknown key 'monitor'", "did you mean 'monitors'"],
    ),
    (
        "wrong type",
        "monitors:\n  - name: a\n    type: tcp\n    host: h\n    port: eighty\n",
        "5:11",
        ["port", "integer"],
    ),
    (
        "missing variable without default",
        "monitors:\n  - name: db\n    type: postgres\n    dsn: ${LK_TEST_UNSET_DSN}\n",
        "4:10",
        ["LK_TEST_UNSET_DSN is not set", "${LK_TEST_UNSET_DSN:-"],
    ),
    (
        "duplicate monitor names",
        "monitors:\n  - {name: a, type: tcp, host: h, port: 1}\n  - {name: a, type: tcp, host: h, port: 2}\n",
        "3:12",
        ["duplicate monitor name 'a'", "line 2"],
    ),
    (
        "interval below one second",
        "monitors:\n  - name: a\n    type: tcp\n    host: h\n    port: 1\n    interval: 500ms\n",
        "6:15",
        ["interval must be at least 1s"],
    ),
    (
        "unknown monitor type",
        "monitors:\n  - name: a\n    type: htp\n",
        "3:11",
        ["unknown monitor type 'htp'", "did you mean 'http'"],
    ),
    (
        "bad duration",
        "monitors:\n  - {name: a, type: tcp, host: h, port: 1, timeout: 10 seconds}\n",
        "2:",
        ["not a duration"],
    ),
    (
        "missing required key",
        "monitors:\n  - name: a\n    type: http\n",
        "2:5",
        ["missing required key 'url'"],
    ),
]


@pytest.mark.parametrize(("case", "text", "where", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_gives_one_located_message(
    case: str, text: str, where: str, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "lk.yaml", {})
    problems = caught.value.problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"lk.yaml:{where}"), problems[0]
    for word in words:
        assert word in problems[0], problems[0]


@pytest.mark.parametrize(("case", "text", "where", "words"), BAD, ids=[b[0] for b in BAD])
def test_cli_validate_exits_3_without_traceback(
    case: str, text: str, where: str, words: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "lightkeeper.yaml"
    path.write_text(text)
    run = subprocess.run(
        [LIGHTKEEPER, "config", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 3, run
    assert f"{path}:{where}" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "lightkeeper.yaml"
    path.write_text(GOOD)
    run = subprocess.run(
        [LIGHTKEEPER, "config", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **ENV},
    )
    assert run.returncode == 0, run.stderr
    assert "valid" in run.stderr


def test_every_problem_is_reported_together() -> None:
    text = "monitors:\n  - {name: a, type: tcp, host: h, port: 1, x: 1}\n  - {name: b, type: tcp, host: h, port: 1, y: 2}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "f.yaml", {})
    assert [p.split(": ", 1)[0] for p in caught.value.problems] == ["f.yaml:2:44", "f.yaml:3:44"]


def test_escape_and_empty_default() -> None:
    text = 'monitors:\n  - {name: a, type: http, url: "http://h/$${literal}?x=${X:-}"}\n'
    config = parse_config(text, "f.yaml", {})
    assert config.monitors[0].url == "http://h/${literal}?x="


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_auth_none_only_on_loopback() -> None:
    config = parse_config("auth: none\n", "f.yaml", {})
    assert bind_problem(config, "127.0.0.1") is None
    assert bind_problem(config, "::1") is None
    problem = bind_problem(config, "0.0.0.0")
    assert problem is not None and "auth: token" in problem
    assert bind_problem(parse_config("auth: token\n", "f.yaml", {}), "0.0.0.0") is None


def test_cli_refuses_public_bind_without_auth(tmp_path: Path) -> None:
    path = tmp_path / "lightkeeper.yaml"
    path.write_text("auth: none\nmonitors: []\n")
    run = subprocess.run(
        [LIGHTKEEPER, "up", "--config", str(path), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 3
    assert "only allowed when the server binds to loopback" in run.stderr


def test_built_in_default_watches_this_machine() -> None:
    config = load_config(None, env={})
    kinds = {m.type for m in config.monitors}
    assert {"http", "postgres", "redis", "chroma", "env"} <= kinds
    assert config.store.url.startswith("sqlite:///")


def test_schema_is_json_with_monitor_kinds() -> None:
    schema = config_schema()
    text = json.dumps(schema)
    for kind in ("http", "tcp", "tls", "postgres", "redis", "chroma", "env", "push"):
        assert f'"const": "{kind}"' in text or f'"enum": ["{kind}"]' in text, kind
    run = subprocess.run(
        [LIGHTKEEPER, "config", "schema"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0
    assert json.loads(run.stdout)["title"] == "Lightkeeper configuration"


def test_usage_error_exits_3() -> None:
    run = subprocess.run(
        [LIGHTKEEPER, "check", "--no-such-flag"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 3


def test_timeout_defaults_to_the_interval_when_that_is_shorter() -> None:
    fast = "monitors:\n  - {name: a, type: tcp, host: h, port: 1, interval: 2s}\n"
    assert parse_config(fast, "f.yaml", {}).monitors[0].timeout == 2.0
    slow = "monitors:\n  - {name: a, type: tcp, host: h, port: 1, interval: 5m}\n"
    assert parse_config(slow, "f.yaml", {}).monitors[0].timeout == 10.0
    explicit = "monitors:\n  - {name: a, type: tcp, host: h, port: 1, interval: 2s, timeout: 5s}\n"
    with pytest.raises(ConfigError, match=r"f.yaml:2:67: timeout \(5s\) is longer than interval"):
        parse_config(explicit, "f.yaml", {})
