"""Backup jobs end to end through the CLI, as an operator runs them: back up a real
PostgreSQL database and a directory, list, verify, prune --dry-run, restore, drill; and the
faults — kill -9 mid-backup, one flipped byte, a wrong key — each a clear message, a
non-zero exit and no traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pyrage import x25519  # type: ignore[import-untyped]

from lightkeeper.backup.postgres import inspect
from tests.conftest import LIGHTKEEPER, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def source() -> Iterator[str]:
    with scratch_database("lk_src") as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA billing")
        conn.execute(
            "CREATE TABLE public.users (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "email text NOT NULL, data jsonb)"
        )
        conn.execute(
            "INSERT INTO public.users (email, data) SELECT 'u' || i || '@example.com', "
            "jsonb_build_object('n', i) FROM generate_series(1, 3000) i"
        )
        conn.execute(
            "CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, "
            "user_id int REFERENCES public.users(id), cents numeric(12, 2))"
        )
        conn.execute(
            "INSERT INTO billing.invoices (user_id, cents) "
            "SELECT 1 + i % 3000, i * 1.5 FROM generate_series(1, 5000) i"
        )
        conn.execute(
            "CREATE VIEW billing.totals AS SELECT user_id, sum(cents) FROM billing.invoices GROUP BY 1"
        )
        yield url


def write_config(tmp: Path, dsn: str, files: Path, identity: object | None = None) -> Path:
    encrypt = ""
    if identity is not None:
        encrypt = f"""
      encrypt_to: ["{identity.to_public()}"]
      identity: "{identity}\""""
    config = tmp / "lightkeeper.yaml"
    config.write_text(
        f"""
store: {{url: "sqlite:///{tmp / "lk.db"}"}}
backups:
  targets:
    local: {{type: local, path: "{tmp / "backups"}"}}
  jobs:
    - name: app-db
      type: postgres
      dsn: "{dsn}"
      target: local
      rto: 10m
      verify: {{queries: ["SELECT count(*) = 3000 FROM public.users"]}}{encrypt}
    - name: uploads
      type: files
      path: "{files}"
      target: local
"""
    )
    return config


def lk(*args: str, config: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIGHTKEEPER, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def listed(config: Path, job: str) -> list[dict[str, object]]:
    run = lk("backup", "list", job, "--json", config=config)
    assert run.returncode == 0, run.stderr
    return list(json.loads(run.stdout))


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    files = tmp_path / "uploads"
    (files / "avatars").mkdir(parents=True)
    (files / "avatars" / "ana.png").write_bytes(bytes(range(256)) * 40)
    (files / "notes.txt").write_text("hello\n")
    return files


def test_backup_verify_restore_and_drill_a_real_database(
    source: str, uploads: Path, tmp_path: Path
) -> None:
    key = x25519.Identity.generate()
    config = write_config(tmp_path, source, uploads, key)
    run = lk("backup", "run", "app-db", config=config)
    assert run.returncode == 0, run.stderr
    assert "backup app-db-" in run.stdout
    [manifest] = listed(config, "app-db")
    tables = {(t["schema"], t["name"]): t["rows"] for t in manifest["tables"]}  # type: ignore[union-attr]
    assert tables == {("public", "users"): 3000, ("billing", "invoices"): 5000}
    assert manifest["encrypted_to"] == [str(key.to_public())]
    # The secret key is nowhere in the backup.
    stored = b"".join(p.read_bytes() for p in (tmp_path / "backups").rglob("*") if p.is_file())
    assert str(key).encode() not in stored

    verify = lk("backup", "verify", "--latest", "--job", "app-db", config=config)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "public.users" in verify.stdout or "tables" in verify.stdout

    with scratch_database("lk_restored") as target:
        restore = lk("restore", str(manifest["id"]), "--to", target, "--yes", config=config)
        assert restore.returncode == 0, restore.stdout + restore.stderr
        _, before, _ = inspect(source, checksums=True)
        _, after, _ = inspect(target, checksums=True)
        assert before == after  # every table: same rows, same content checksum
        again = lk("restore", str(manifest["id"]), "--to", target, "--yes", config=config)
        assert again.returncode == 1
        assert "already holds tables" in again.stderr and "--force" in again.stderr

    drill = lk("drill", "app-db", config=config)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "recovered in" in drill.stdout and "RTO 600 s" in drill.stdout

    prune = lk("backup", "prune", "app-db", "--dry-run", config=config)
    assert prune.returncode == 0, prune.stderr
    assert "keep" in prune.stdout and "newest verified" in prune.stdout


def test_a_directory_round_trips(uploads: Path, tmp_path: Path, pg_database: str) -> None:
    config = write_config(tmp_path, pg_database, uploads)
    assert lk("backup", "run", "uploads", config=config).returncode == 0
    [manifest] = listed(config, "uploads")
    out = tmp_path / "restored"
    run = lk("restore", str(manifest["id"]), "--to", str(out), "--yes", config=config)
    assert run.returncode == 0, run.stderr
    assert (out / "avatars" / "ana.png").read_bytes() == (
        uploads / "avatars" / "ana.png"
    ).read_bytes()
    assert (out / "notes.txt").read_text() == "hello\n"
    assert uploads.exists()  # the source is never moved or removed


def test_one_flipped_byte_fails_verification_naming_the_file(
    source: str, uploads: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, source, uploads)
    assert lk("backup", "run", "app-db", "--no-verify", config=config).returncode == 0
    victim = max(
        (p for p in (tmp_path / "backups").rglob("*") if p.is_file() and p.name != "manifest.json"),
        key=lambda p: p.stat().st_size,
    )
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    verify = lk("backup", "verify", "--latest", "--job", "app-db", config=config)
    assert verify.returncode == 1
    assert victim.name in verify.stdout and "sha256" in verify.stdout
    assert "Traceback" not in verify.stdout + verify.stderr


def test_a_wrong_key_is_a_clear_error(source: str, uploads: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, source, uploads, x25519.Identity.generate())
    assert lk("backup", "run", "app-db", "--no-verify", config=config).returncode == 0
    wrong = x25519.Identity.generate()
    text = config.read_text()
    start = text.index("identity: ")
    end = text.index('"', text.index('"', start) + 1)
    config.write_text(text[:start] + f'identity: "{wrong}' + text[end:])
    verify = lk("backup", "verify", "--latest", "--job", "app-db", config=config)
    assert verify.returncode == 1
    assert "decrypt" in verify.stdout + verify.stderr
    assert str(wrong) not in verify.stdout + verify.stderr
    assert "Traceback" not in verify.stdout + verify.stderr


def test_kill_9_mid_backup_leaves_nothing_listed_and_the_next_run_works(
    uploads: Path, tmp_path: Path
) -> None:
    with scratch_database("lk_big") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE blob (id int, payload text)")
            conn.execute(
                "INSERT INTO blob SELECT i, md5(i::text) || repeat(md5(random()::text), 20) "
                "FROM generate_series(1, 300000) i"
            )
        config = write_config(tmp_path, url, uploads)
        child = subprocess.Popen(
            [LIGHTKEEPER, "backup", "run", "app-db", "--no-verify", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        time.sleep(1.0)
        assert child.poll() is None, "the backup finished before it could be killed"
        import os

        os.killpg(child.pid, signal.SIGKILL)  # lightkeeper and its pg_dump
        child.wait(10)
        assert listed(config, "app-db") == []
        run = lk("backup", "run", "app-db", "--no-verify", config=config, timeout=300)
        assert run.returncode == 0, run.stderr
        assert len(listed(config, "app-db")) == 1
