"""The one wrapper for external programs: exit codes, timeouts that kill the whole process
group, secrets kept out of errors and logs, missing programs, streamed stdout."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from lightkeeper.backup.command import CommandError, find_program, run


@pytest.mark.parametrize(
    ("script", "ok_codes", "returncode"),
    [
        ("exit 0", (0,), 0),
        ("exit 3", (0, 3), 3),
        ("exit 1", (0, 1, 2), 1),
    ],
)
def test_allowed_exit_codes_return_a_result(
    script: str, ok_codes: tuple[int, ...], returncode: int
) -> None:
    result = run(["sh", "-c", f"echo out; echo err >&2; {script}"], ok_codes=ok_codes)
    assert result.returncode == returncode
    assert result.stdout == b"out\n"
    assert result.stderr == "err\n"
    assert result.args == ("sh", "-c", f"echo out; echo err >&2; {script}")
    assert result.seconds >= 0


@pytest.mark.parametrize(
    ("script", "ok_codes", "expected"),
    [
        ("exit 1", (0,), "sh failed (exit 1): line 4; line 5; line 6"),
        ("exit 0", (1,), "sh failed (exit 0): line 4; line 5; line 6"),
        ("kill -9 $$", (0,), "sh failed (killed by signal 9): line 4; line 5; line 6"),
    ],
)
def test_refused_exit_codes_raise_with_the_last_stderr_lines(
    script: str, ok_codes: tuple[int, ...], expected: str
) -> None:
    lines = "; ".join(f"echo line {i} >&2" for i in range(1, 7))
    with pytest.raises(CommandError) as caught:
        run(["sh", "-c", f"{lines}; {script}"], ok_codes=ok_codes)
    assert str(caught.value) == expected
    assert caught.value.program == "sh"
    assert "line 1" in caught.value.stderr


def test_stdin_and_cwd(tmp_path: Path) -> None:
    assert run(["cat"], stdin=b"hello").stdout == b"hello"
    assert run(["pwd"], cwd=tmp_path).stdout.decode().strip() == str(tmp_path)
    # No stdin given: the child reads end-of-file at once instead of waiting on ours.
    assert run(["cat"], timeout=5).stdout == b""


def test_env_is_added_to_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-parent")
    result = run(["sh", "-c", 'echo "[$AWS_SECRET_ACCESS_KEY][$EXTRA][$PATH]"'], env={"EXTRA": "1"})
    assert result.stdout.decode().startswith("[][1][")
    assert os.environ["PATH"] in result.stdout.decode()


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    # An orphan may linger as a zombie where PID 1 does not reap: it is dead all the same.
    return "\nState:\tZ" in status


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(CommandError) as caught:
        run(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"], timeout=0.5)
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith("sh timed out after 0.5 s")
    assert caught.value.returncode is None
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child), f"background child {child} survived the timeout"


@pytest.mark.parametrize("password", ["hunter2-Secret", "pw1"])
def test_secrets_never_appear_in_errors_or_logs(
    password: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="lightkeeper.backup.command")
    script = 'echo "FATAL: bad password $PGPASSWORD" >&2; exit 2'
    with pytest.raises(CommandError) as caught:
        run(
            ["sh", "-c", script, "postgresql://app:" + password + "@db/x"],
            env={"PGPASSWORD": password},
            secrets=[password],
        )
    assert password not in str(caught.value)
    assert password not in caught.value.stderr
    assert "FATAL: bad password ***" in str(caught.value)
    assert "running sh -c" in caplog.text
    assert password not in caplog.text


def test_secrets_are_masked_in_a_successful_result() -> None:
    result = run(["sh", "-c", 'echo "$T" >&2'], env={"T": "tok-123456"}, secrets=["tok-123456"])
    assert result.stderr == "***\n"


@pytest.mark.parametrize(
    ("program", "hint"),
    [
        ("pg_lk_missing", "install postgresql-client"),
        ("git", "install git"),
        ("lk-missing-tool", "install lk-missing-tool or put it on PATH"),
    ],
)
def test_a_missing_program_says_how_to_install_it(
    program: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(CommandError) as caught:
        run([program, "--version"])
    assert str(caught.value) == f"{program} not found: {hint}"
    assert caught.value.returncode is None


def test_find_program_looks_on_path_then_in_postgresql_bin() -> None:
    assert find_program("sh").endswith("/sh")
    with pytest.raises(CommandError, match="pg_lk_missing not found: install postgresql-client"):
        find_program("pg_lk_missing")


@pytest.mark.skipif(
    not list(Path("/usr/lib/postgresql").glob("*/bin/pg_amcheck")),
    reason="no versioned PostgreSQL bin directory here",
)
def test_find_program_finds_tools_only_in_the_versioned_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    found = find_program("pg_amcheck")
    assert found.startswith("/usr/lib/postgresql/") and found.endswith("/bin/pg_amcheck")


def test_stdout_path_streams_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    result = run(["sh", "-c", "head -c 3000000 /dev/zero"], stdout_path=out)
    assert result.stdout == b""
    assert out.stat().st_size == 3_000_000


def test_stdout_path_is_closed_after_a_failure(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    with pytest.raises(CommandError):
        run(["sh", "-c", "echo partial; exit 1"], stdout_path=out)
    assert out.read_bytes() == b"partial\n"
