"""The runner with the other kinds and places: a ChromaDB job on a real Chroma server, an
encrypted PostgreSQL job to S3 (moto's server), a full disk as a clear error, the signals
the service records, and the /backups page."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lightkeeper.backup.config import BackupsConfig
from lightkeeper.backup.runner import Backups
from lightkeeper.config import parse_config
from lightkeeper.service import Service
from lightkeeper.store import Store
from lightkeeper.web import create_app
from tests.backup.conftest import ACCESS_KEY, SECRET_KEY, AgeKey, S3Server
from tests.conftest import LIGHTKEEPER
from tests.probes.loopback import ChromaServer, closed_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma") / "data", closed_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def store(tmp: Path) -> Store:
    s = Store(f"sqlite:///{tmp / 'lk.db'}")
    s.migrate()
    return s


def seed_collection(url: str, name: str, count: int) -> None:
    base = f"{url}/api/v2/tenants/default_tenant/databases/default_database/collections"
    coll = httpx.post(base, json={"name": name, "metadata": {"hnsw:space": "l2"}}).json()
    rng = random.Random(7)
    httpx.post(
        f"{base}/{coll['id']}/add",
        json={
            "ids": [f"doc-{i}" for i in range(count)],
            "embeddings": [[rng.random() for _ in range(16)] for _ in range(count)],
            "documents": [f"lesson {i}" for i in range(count)],
            "metadatas": [{"course": "rag", "n": i} for i in range(count)],
        },
    ).raise_for_status()


def test_a_chroma_job_backs_up_verifies_and_drills(chroma: ChromaServer, tmp_path: Path) -> None:
    seed_collection(chroma.url, "lessons", 300)
    config = BackupsConfig.model_validate(
        {
            "targets": {"local": {"type": "local", "path": str(tmp_path / "backups")}},
            "jobs": [{"name": "vectors", "type": "chroma", "url": chroma.url, "target": "local"}],
        }
    )
    s = store(tmp_path)
    backups = Backups(config, s.engine)
    outcome = backups.run("vectors")
    assert outcome.ok and outcome.details["verify"] is True
    [manifest] = backups.backups(backups.job("vectors"))
    assert [(c["name"], c["count"]) for c in manifest.collections] == [("lessons", 300)]
    drill = backups.drill("vectors")
    assert drill.ok, drill.problems
    names = httpx.get(
        f"{chroma.url}/api/v2/tenants/default_tenant/databases/default_database/collections"
    ).json()
    assert [c["name"] for c in names] == ["lessons"]  # no scratch collection left behind
    s.close()


def test_an_encrypted_postgres_job_to_s3(
    s3_server: S3Server, bucket: str, age_key: AgeKey, pg_database: str, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE lessons AS SELECT i AS id, md5(i::text) AS body "
            "FROM generate_series(1, 2000) i"
        )
    config = BackupsConfig.model_validate(
        {
            "targets": {
                "offsite": {
                    "type": "s3",
                    "bucket": bucket,
                    "endpoint_url": s3_server.endpoint,
                    "region": "us-east-1",
                    "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY,
                }
            },
            "jobs": [
                {
                    "name": "app-db",
                    "type": "postgres",
                    "dsn": pg_database,
                    "target": "offsite",
                    "format": "custom",
                    "encrypt_to": [age_key.recipient],
                    "identity": age_key.identity,
                }
            ],
        }
    )
    s = store(tmp_path)
    backups = Backups(config, s.engine)
    outcome = backups.run("app-db")
    assert outcome.ok and outcome.details["verify"] is True
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith("manifest.json") for k in keys)
    assert all(k.endswith((".age", "manifest.json")) for k in keys)  # nothing in clear
    [manifest] = backups.backups(backups.job("app-db"))
    assert manifest.tables == [{"schema": "public", "name": "lessons", "rows": 2000}]
    decisions = backups.prune("app-db", dry_run=True)
    assert [d.keep for d in decisions] == [True]
    s.close()


def test_a_full_disk_is_a_clear_error(
    tiny_fs: Path | None, tmp_path: Path, pg_database: str
) -> None:
    if tiny_fs is None:
        pytest.skip("mounting a tmpfs is not permitted here (artifact tests cover ENOSPC)")
    big = tmp_path / "big"
    big.mkdir()
    (big / "data.bin").write_bytes(random.Random(1).randbytes(2_000_000))  # incompressible
    config = tmp_path / "lightkeeper.yaml"
    config.write_text(
        f"""
store: {{url: "sqlite:///{tmp_path / "lk.db"}"}}
backups:
  targets: {{small: {{type: local, path: "{tiny_fs}"}}}}
  jobs: [{{name: uploads, type: files, path: "{big}", target: small}}]
"""
    )
    run = subprocess.run(
        [LIGHTKEEPER, "backup", "run", "uploads", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "no space left" in run.stderr
    assert "Traceback" not in run.stderr
    listed = subprocess.run(
        [LIGHTKEEPER, "backup", "list", "uploads", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.stdout.strip() == "[]"


async def test_the_service_records_backup_signals_and_shows_the_page(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "a.txt").write_text("a")
    text = f"""
store: {{url: "sqlite:///{tmp_path / "lk.db"}"}}
backups:
  targets: {{local: {{type: local, path: "{tmp_path / "backups"}"}}}}
  jobs: [{{name: uploads, type: files, path: "{files}", target: local, rpo: 1h}}]
alerts:
  - name: backup-stale
    severity: critical
    expr: backup.age_seconds > 3600
"""
    service = Service(parse_config(text, "t.yaml", {}))
    service.open()
    assert service.backups is not None
    await service.backup_signals()
    [age] = service.signals.select("backup.age_seconds")
    assert age.labels == {"job": "uploads"}
    service.backups.run("uploads")
    await service.backup_signals()
    latest = age.latest()
    assert latest is not None and latest.last < 60  # a backup just now
    results = service.signals.select("backup.last_result")
    assert results == []  # no rule reads it: not kept
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lk"
    ) as client:
        page = await client.get("/backups")
    assert page.status_code == 200
    [manifest] = service.backups.backups(service.backups.job("uploads"))
    assert manifest.id in page.text and "uploads" in page.text and "passed" in page.text
    service.store.close()


def test_a_chroma_file_level_copy_stops_and_restarts_the_server(tmp_path: Path) -> None:
    from tests.probes.loopback import chroma_executable

    port, data = closed_port(), tmp_path / "chroma-data"
    pidfile, log = tmp_path / "chroma.pid", tmp_path / "chroma.log"
    start = (
        f"sh -c 'ANONYMIZED_TELEMETRY=False nohup {chroma_executable()} run --path {data} "
        f"--host 127.0.0.1 --port {port} > {log} 2>&1 & echo $! > {pidfile}'"
    )
    stop = (
        f"sh -c 'kill $(cat {pidfile}); "
        f"while kill -0 $(cat {pidfile}) 2>/dev/null; do sleep 0.1; done'"
    )
    url = f"http://127.0.0.1:{port}"
    subprocess.run(start, shell=True, check=True)  # noqa: S602 - the test's own command
    try:
        from lightkeeper.backup.runner import _wait_until_up

        _wait_until_up(url, None)
        seed_collection(url, "lessons", 50)
        config = BackupsConfig.model_validate(
            {
                "targets": {"local": {"type": "local", "path": str(tmp_path / "backups")}},
                "jobs": [
                    {
                        "name": "vectors",
                        "type": "chroma",
                        "url": url,
                        "target": "local",
                        "data_path": str(data),
                        "stop_command": stop,
                        "start_command": start,
                    }
                ],
            }
        )
        s = store(tmp_path)
        backups = Backups(config, s.engine)
        outcome = backups.run("vectors")
        assert outcome.ok and outcome.details["verify"] is True  # the server is back
        [manifest] = backups.backups(backups.job("vectors"))
        names = [f.name for f in manifest.files]
        assert any(n.startswith("data/chroma.sqlite3") for n in names), names
        assert any(n.startswith("collections/lessons.jsonl") for n in names), names
        assert manifest.details["file_copy"] is True
        s.close()
    finally:
        subprocess.run(stop, shell=True, check=False, timeout=30)  # noqa: S602
