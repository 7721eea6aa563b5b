"""`lightkeeper notify test|list` as a person runs them: a real process, a real receiver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import LIGHTKEEPER
from tests.notify.conftest import WebhookReceiver

pytestmark = pytest.mark.integration


def lightkeeper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LIGHTKEEPER, *args], capture_output=True, text=True, timeout=60)


def config(tmp_path: Path, channels: str) -> Path:
    path = tmp_path / "lk.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{tmp_path}/lk.db'}}\nchannels:\n{channels}")
    return path


def test_notify_test_sends_and_lists(tmp_path: Path, webhook: WebhookReceiver) -> None:
    url = webhook.url().replace("json://", "json://bot:s3cretpass@")
    cfg = config(
        tmp_path,
        f"  hook: {{url: '{url}'}}\n  broken: {{url: 'json://127.0.0.1:9/nobody'}}\n",
    )
    run = lightkeeper("notify", "test", "hook", "--config", str(cfg))
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"sent to hook (json://bot:***@127.0.0.1:{webhook.port}/hook)\n"
    (body,) = webhook.bodies
    assert body["title"] == "Lightkeeper test message for hook"
    assert "the channel 'hook' works" in body["message"]

    webhook.status = 400
    run = lightkeeper("notify", "test", "hook", "--config", str(cfg))
    assert run.returncode == 1
    assert "not sent to hook (json://bot:***@" in run.stderr
    assert "error=400" in run.stderr
    assert "s3cretpass" not in run.stderr + run.stdout

    listed = lightkeeper("notify", "list", "--config", str(cfg))
    assert listed.returncode == 0, listed.stderr
    assert "channel" in listed.stdout.splitlines()[1]
    table = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in listed.stdout.splitlines()
        if line.startswith("│")
    ]
    assert table == [
        ["broken", "json://127.0.0.1:9/nobody", "0", "0"],
        ["hook", f"json://bot:***@127.0.0.1:{webhook.port}/hook", "0", "1"],
    ]
    assert "s3cretpass" not in listed.stdout


def test_notify_test_unknown_channel_exits_3(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        "  hook: {url: 'json://127.0.0.1:9/x'}\n  mail: {url: 'mailto://127.0.0.1:9?from=a@example.com'}\n",
    )
    run = lightkeeper("notify", "test", "pager", "--config", str(cfg))
    assert run.returncode == 3
    assert "unknown channel 'pager'; configured channels: hook, mail" in run.stderr
