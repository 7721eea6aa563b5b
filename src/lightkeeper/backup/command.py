"""The one way Lightkeeper runs external programs (pg_dump, pg_restore, git, npm).

Every call gets a minimal environment, a list of allowed exit codes, captured and redacted
stderr, and a timeout that kills the whole process group, so a failure always arrives as
one :class:`CommandError` whose message is safe to show and says what to do.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lightkeeper.errors import LightkeeperError
from lightkeeper.redact import MASK, redact_text

log = logging.getLogger(__name__)

# Only what programs need to find themselves, their locale and ~/.pgpass; anything else
# (PG*, AWS_*, tokens) stays out so a child never sees credentials it was not handed.
_INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
_INSTALL_HINTS = {"git": "install git", "npm": "install Node.js (npm)"}
_PG_PROGRAM = re.compile(r"^(pg_\w+|psql)$")
_STDERR_LINES = 3


class CommandError(LightkeeperError):
    """An external program could not run, failed, or timed out.

    ``returncode`` is None when it never ran or was killed for its timeout; ``stderr`` is
    its redacted error output.
    """

    def __init__(
        self, message: str, *, program: str, returncode: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.program = program
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class CommandResult:
    """A finished run. ``stdout`` is empty when it was streamed to a file; ``stderr`` is
    redacted."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str
    seconds: float


def _install_hint(program: str) -> str:
    if _PG_PROGRAM.match(program):
        return "install postgresql-client"
    return _INSTALL_HINTS.get(program, f"install {program} or put it on PATH")


def find_program(name: str) -> str:
    """The path of ``name``: PATH first, then the newest /usr/lib/postgresql/<major>/bin
    (Debian and Ubuntu keep pg_amcheck and versioned tools only there)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")

    def major(path: str) -> tuple[int, ...]:
        version = Path(path).parent.parent.name
        return tuple(int(p) for p in version.split(".") if p.isdigit())

    candidates = [c for c in candidates if os.access(c, os.X_OK)]
    if candidates:
        return max(candidates, key=major)
    raise CommandError(f"{name} not found: {_install_hint(name)}", program=name)


def mask_secrets(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every one of ``secrets`` and anything :func:`redact_text` knows masked."""
    # Every secret is masked, even a short one: garbling a message beats leaking a password.
    # Longest first so a secret containing another is masked whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact_text(text)


def _tail(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "; ".join(lines[-_STDERR_LINES:]) or "no error output"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The child leads its own session, so its pid is the group id: pg_dump -j workers and
    # whatever a shell started die with it instead of holding pipes or locks open.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    ok_codes: Collection[int] = (0,),
    cwd: Path | None = None,
    stdin: bytes | None = None,
    secrets: Sequence[str] = (),
    stdout_path: Path | None = None,
) -> CommandResult:
    """Run ``args`` and return its result, or raise :class:`CommandError`.

    ``env`` is added to a minimal inherited environment; pass secrets that way (e.g.
    PGPASSWORD), never in ``args``, and list them in ``secrets`` so they are masked in
    stderr and messages. ``stdout_path`` streams stdout to that file instead of memory.
    """
    argv = tuple(args)
    program = Path(argv[0]).name
    full_env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
    full_env.update(env or {})
    log.debug("running %s", mask_secrets(shlex.join(argv), secrets))
    started = time.monotonic()
    out_file = stdout_path.open("wb") if stdout_path is not None else None
    try:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=out_file if out_file is not None else subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise CommandError(
                f"{program} not found: {_install_hint(program)}", program=program
            ) from None
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            try:
                _, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a grandchild left the group, keeping a pipe
                proc.wait()
                err = b""
            stderr = mask_secrets(err.decode(errors="replace"), secrets)
            raise CommandError(
                f"{program} timed out after {timeout:g} s: {_tail(stderr)}",
                program=program,
                stderr=stderr,
            ) from None
        except BaseException:
            # Interrupted (Ctrl-C, a cancelled job): leave no orphan behind.
            _kill_group(proc)
            proc.wait()
            raise
    finally:
        if out_file is not None:
            out_file.close()
    seconds = time.monotonic() - started
    stderr = mask_secrets(err.decode(errors="replace"), secrets)
    if proc.returncode not in ok_codes:
        status = (
            f"killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exit {proc.returncode}"
        )
        raise CommandError(
            f"{program} failed ({status}): {_tail(stderr)}",
            program=program,
            returncode=proc.returncode,
            stderr=stderr,
        )
    return CommandResult(argv, proc.returncode, out or b"", stderr, seconds)
