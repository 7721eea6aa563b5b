"""Backup fixtures: a real S3-compatible server (moto's server mode) on 127.0.0.1, age keys,
and a tiny filesystem for disk-full tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from pyrage import x25519  # type: ignore[import-untyped]

from tests.conftest import free_port

MOTO = Path(sys.executable).with_name("moto_server")
ACCESS_KEY = "test"
SECRET_KEY = "lk-test-secret-do-not-print"  # tests assert it never shows in a message


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    proc = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"moto_server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                pytest.fail("moto_server did not start listening within 20 s")
            time.sleep(0.05)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A new, empty bucket for one test."""
    name = f"lk-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@dataclass(frozen=True)
class AgeKey:
    identity: str  # AGE-SECRET-KEY-1…
    recipient: str  # age1…


@pytest.fixture
def age_key() -> AgeKey:
    identity = x25519.Identity.generate()
    return AgeKey(str(identity), str(identity.to_public()))


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path | None]:
    """A 512 KiB tmpfs mounted at a temp dir, or None where mounting is not permitted."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
