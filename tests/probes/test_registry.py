"""The registry: every kind is reachable from YAML, and the tagged union picks its model."""

from __future__ import annotations

from typing import get_args

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from lightkeeper.probes import PROBES, MonitorConfig, ProbeContext, build_probe
from lightkeeper.probes.base import MonitorBase
from lightkeeper.probes.http import HttpMonitor
from lightkeeper.probes.push import PushMonitor

# The user-facing shape from the README; keys must keep working.
EXAMPLE = """
monitors:
  - name: app
    type: http
    url: https://example.com/api/health
    interval: 60s
    timeout: 10s
    critical: true
    expect: {status: 200, json: {"$.status": "healthy"}, max_latency: 3s}
  - {name: db, type: postgres, dsn: "postgresql://app:pw@127.0.0.1:5432/app"}
  - {name: cache, type: redis, url: "redis://127.0.0.1:6379"}
  - {name: vectors, type: chroma, url: "http://127.0.0.1:8000"}
  - {name: ai-keys, type: env, require: [ANTHROPIC_API_KEY, OPENAI_API_KEY]}
  - {name: port, type: tcp, host: 127.0.0.1, port: 22}
  - {name: cert, type: tls, host: example.com}
  - {name: nightly, type: push, token: 0123456789abcdef, schedule: "0 3 * * *"}
"""

MONITORS = TypeAdapter(list[MonitorConfig])


def test_every_kind_in_the_example_loads_and_builds() -> None:
    configs = MONITORS.validate_python(yaml.safe_load(EXAMPLE)["monitors"])
    assert sorted(config.type for config in configs) == sorted(PROBES)
    ctx = ProbeContext()
    for config in configs:
        model, factory = PROBES[config.type]
        assert type(config) is model
        assert isinstance(build_probe(config, ctx), factory)
    app = configs[0]
    assert isinstance(app, HttpMonitor)
    assert app.critical
    assert app.expect.max_latency == 3.0
    assert app.expect.json_values == {"$.status": "healthy"}


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_registry_key_is_the_models_type(kind: str) -> None:
    model, _ = PROBES[kind]
    assert get_args(model.model_fields["type"].annotation) == (kind,)


def test_only_push_is_passive() -> None:
    passive = {kind for kind, (model, _) in PROBES.items() if model.passive}
    assert passive == {"push"}
    assert PushMonitor.passive


def test_unknown_type_and_wrong_keys_are_errors() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        MONITORS.validate_python([{"name": "x", "type": "ftp"}])
    with pytest.raises(ValidationError, match=r"0\.http\.urll"):
        MONITORS.validate_python([{"name": "x", "type": "http", "urll": "http://a"}])


def test_build_probe_refuses_an_unregistered_type() -> None:
    class Odd(MonitorBase):
        type: str = "odd"

    with pytest.raises(ValueError, match="unknown monitor type 'odd'"):
        build_probe(Odd(name="x"), ProbeContext())
