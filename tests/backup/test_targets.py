"""Backup targets against the real thing: a local directory and an S3-compatible server (moto's
server mode on 127.0.0.1) — the same scenarios for both, plus real kill -9s mid-backup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lightkeeper.backup.artifact import CHUNK, Staging, check
from lightkeeper.backup.errors import BackupError
from lightkeeper.backup.manifest import MANIFEST, Manifest
from lightkeeper.backup.manifest import new_backup_id as new_id
from lightkeeper.backup.s3 import S3Target
from lightkeeper.backup.targets import LocalTarget, Target, staging_root
from tests.backup.conftest import ACCESS_KEY, SECRET_KEY, S3Server
from tests.conftest import free_port

PREFIX = "lk/prod"


@pytest.fixture(params=["local", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "local":
        return LocalTarget("disk", tmp_path / "backups")
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("bucket")
    return S3Target(
        "offsite",
        bucket,
        PREFIX,
        server.endpoint,
        "us-east-1",
        ACCESS_KEY,
        SECRET_KEY,
        staging_dir=tmp_path / "staging",
    )


def stored(target: Target) -> list[str]:
    """Everything the target holds, as ``<job>/<id>/<file>`` (local: also empty dirs)."""
    if isinstance(target, LocalTarget):
        if not target.path.exists():
            return []
        return sorted(
            p.relative_to(target.path).as_posix()
            for p in target.path.rglob("*")
            if p.is_file() or not any(p.iterdir())
        )
    assert isinstance(target, S3Target)
    objects = target._client.list_objects_v2(Bucket=target.bucket).get("Contents", [])
    return sorted(o["Key"].removeprefix(PREFIX + "/") for o in objects)


def backup(target: Target, job: str, started: float, files: dict[str, bytes]) -> Manifest:
    """One complete backup of ``files``, made and published the way a run does it."""
    staging = Staging(staging_root(target, job), new_id(job, started))
    for name, data in files.items():
        (staging.path.parent / f"{name}.src").write_bytes(data)
        staging.add(staging.path.parent / f"{name}.src", name)
    manifest = Manifest(
        id=staging.backup_id,
        job=job,
        kind="files",
        started=started,
        finished=started + 1,
        files=staging.entries,
    )
    target.publish(staging.finish(manifest), manifest)
    assert not staging.path.exists()  # publishing consumed the staging
    return manifest


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_publish_list_fetch_delete(target: Target, tmp_path: Path) -> None:
    a1 = backup(target, "app-db", 1_000.0, {"db.dump": b"first" * 1000})
    b1 = backup(target, "vectors", 1_500.0, {"docs.jsonl": b"{}\n" * 10})
    # Past boto3's 8 MB multipart threshold, random so zstd cannot shrink it below.
    a2 = backup(target, "app-db", 2_000.0, {"db.dump": os.urandom(9 * 1024 * 1024), "x": b""})

    assert target.list("app-db") == [a2, a1]  # newest first, read back from the manifests
    assert target.list("vectors") == [b1]
    assert [m.id for m in target.list()] == [a2.id, b1.id, a1.id]
    assert target.list("nobody") == []

    for manifest in (a1, b1, a2):
        local = target.fetch(manifest.id, manifest.job, tmp_path / "fetched" / manifest.id)
        assert check(local, manifest) == []
        assert (local / MANIFEST).is_file()

    target.delete(a1.id, "app-db")
    assert target.list("app-db") == [a2]
    assert not [k for k in stored(target) if a1.id in k]  # files gone, not just the manifest
    with pytest.raises(BackupError, match=f"no backup {a1.id} of job app-db"):
        target.delete(a1.id, "app-db")
    with pytest.raises(BackupError, match=f"no complete backup {a1.id} of job app-db"):
        target.fetch(a1.id, "app-db", tmp_path / "again")


def test_unfinished_staging_cannot_be_published(target: Target) -> None:
    staging = Staging(staging_root(target, "app-db"), new_id("app-db", 1.0))
    manifest = Manifest(
        id=staging.backup_id, job="app-db", kind="files", started=1, finished=2, files=[]
    )
    with pytest.raises(BackupError, match=r"has no manifest.json: call Staging.finish\(\) first"):
        target.publish(staging.path, manifest)
    assert target.list() == []


def leave_partial_upload(target: Target, job: str, backup_id: str) -> None:
    """What a run killed while uploading (or a delete killed half-way) leaves: files, no
    manifest."""
    if isinstance(target, LocalTarget):
        (target.path / job / backup_id).mkdir(parents=True)
        (target.path / job / backup_id / "db.dump.zst").write_bytes(b"half")
        return
    assert isinstance(target, S3Target)
    key = f"{PREFIX}/{job}/{backup_id}/db.dump.zst"
    target._client.put_object(Bucket=target.bucket, Key=key, Body=b"half")


def test_interrupted_backups_are_never_listed_and_are_swept(target: Target) -> None:
    complete = backup(target, "app-db", 1_000.0, {"db.dump": b"ok"})
    killed = staging_root(target, "app-db") / f".tmp-{new_id('app-db', 2_000)}"
    killed.mkdir()
    (killed / "db.dump.zst").write_bytes(b"half a dump")  # its run died: no lock held
    leave_partial_upload(target, "app-db", new_id("app-db", 3_000))
    expected = 2
    if isinstance(target, S3Target):  # and a multipart upload that was never completed
        key = f"{PREFIX}/app-db/{new_id('app-db', 4_000)}/big.dump.zst"
        upload = target._client.create_multipart_upload(Bucket=target.bucket, Key=key)
        target._client.upload_part(
            Bucket=target.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x"
        )
        target._client.put_object(Bucket=target.bucket, Key=f"{PREFIX}/app-db/notes/x", Body=b"")
        expected = 3
    else:  # someone else's directory beside the backups: never ours to remove
        assert isinstance(target, LocalTarget)
        (target.path / "app-db" / "notes").mkdir()
    live = Staging(staging_root(target, "app-db"), new_id("app-db", 5_000))  # a run in progress

    assert target.list() == [complete]
    assert target.sweep(older_than=3600) == 0  # fresh leftovers may belong to a slow run
    assert target.sweep(older_than=0) == expected
    assert not killed.exists()
    assert live.path.exists()  # its lock is held: never swept, however old
    live.discard()
    assert [k.split("/")[1] for k in stored(target)] == [complete.id, complete.id, "notes"]
    if isinstance(target, S3Target):
        assert not target._client.list_multipart_uploads(Bucket=target.bucket).get("Uploads")

    after = backup(target, "app-db", 6_000.0, {"db.dump": b"next run"})
    assert target.list("app-db") == [after, complete]


def test_damaged_manifest_is_not_listed(target: Target, caplog: pytest.LogCaptureFixture) -> None:
    good = backup(target, "app-db", 1_000.0, {"db.dump": b"ok"})
    bad_id = new_id("app-db", 2_000)
    if isinstance(target, LocalTarget):
        (target.path / "app-db" / bad_id).mkdir()
        (target.path / "app-db" / bad_id / MANIFEST).write_text("{truncated")
    else:
        assert isinstance(target, S3Target)
        key = f"{PREFIX}/app-db/{bad_id}/{MANIFEST}"
        target._client.put_object(Bucket=target.bucket, Key=key, Body=b"{truncated")
    assert target.list("app-db") == [good]
    assert f"{bad_id}/manifest.json: not a valid backup manifest" in caplog.text


CHILD_STAGING = """
import sys
from pathlib import Path
from lightkeeper.backup.artifact import Staging
root, backup_id, source = sys.argv[1:]
Staging(Path(root), backup_id).add(Path(source), "db.dump", compress=False, keep_source=True)
"""


def test_kill_9_while_staging(target: Target, tmp_path: Path) -> None:
    before = backup(target, "app-db", 1_000.0, {"db.dump": b"yesterday"})
    # The child stages from a FIFO we feed: it is mid-file, with data written, when killed.
    fifo = tmp_path / "pg_dump.fifo"
    os.mkfifo(fifo)
    root, backup_id = staging_root(target, "app-db"), new_id("app-db", 2_000)
    child = subprocess.Popen([sys.executable, "-c", CHILD_STAGING, str(root), backup_id, str(fifo)])
    staged = root / f".tmp-{backup_id}" / "db.dump"
    try:
        with open(fifo, "wb") as dump:
            dump.write(os.urandom(2 * CHUNK))
            wait_for(lambda: staged.exists() and staged.stat().st_size >= CHUNK, "staging")
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()

    assert staged.exists()  # the leftover is there …
    assert target.list() == [before]  # … and nothing new is listed
    assert target.sweep(older_than=0) == 1
    assert not staged.parent.exists()
    after = backup(target, "app-db", 3_000.0, {"db.dump": b"today"})  # nothing blocks the next
    assert target.list() == [after, before]


CHILD_UPLOAD = """
import os, sys
from pathlib import Path
from lightkeeper.backup.artifact import Staging
from lightkeeper.backup.manifest import Manifest
from lightkeeper.backup.s3 import S3Target
from lightkeeper.backup.targets import staging_root

class SlowNetwork(S3Target):
    def _upload(self, path, key):
        super()._upload(path, key)
        print(key, flush=True)
        sys.stdin.readline()  # the parent kills us here, between two files

endpoint, bucket, staging_dir, work = sys.argv[1:]
target = SlowNetwork("offsite", bucket, "lk/prod", endpoint, "us-east-1", "test",
                     os.environ["LK_SECRET"], staging_dir=Path(staging_dir))
staging = Staging(staging_root(target, "app-db"), "app-db-20261127T030000Z-3f2a")
for name in ("a.dump", "b.dump"):
    (Path(work) / name).write_bytes(os.urandom(1000))
    staging.add(Path(work) / name)
manifest = Manifest(id=staging.backup_id, job="app-db", kind="files", started=2000.0,
                    finished=2001.0, files=staging.entries)
target.publish(staging.finish(manifest), manifest)
"""


def test_kill_9_while_uploading(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    target = S3Target(
        "offsite",
        bucket,
        PREFIX,
        s3_server.endpoint,
        "us-east-1",
        ACCESS_KEY,
        SECRET_KEY,
        staging_dir=tmp_path / "staging",
    )
    before = backup(target, "app-db", 1_000.0, {"db.dump": b"yesterday"})
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD_UPLOAD,
            s3_server.endpoint,
            bucket,
            str(tmp_path / "staging"),
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LK_SECRET": SECRET_KEY},
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline().strip()
        assert first == f"{PREFIX}/app-db/app-db-20261127T030000Z-3f2a/a.dump.zst"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()

    assert "app-db/app-db-20261127T030000Z-3f2a/a.dump.zst" in stored(target)
    assert target.list() == [before]
    assert target.sweep(older_than=0) == 2  # the partial upload and the local staging
    assert [k.split("/")[1] for k in stored(target)] == [before.id, before.id]
    assert not list((tmp_path / "staging" / "app-db").iterdir())
    after = backup(target, "app-db", 3_000.0, {"db.dump": b"today"})
    assert target.list() == [after, before]


@pytest.mark.parametrize(
    "operation",
    [lambda t: t.list("app-db"), lambda t: backup(t, "app-db", 1.0, {"db.dump": b"x"})],
    ids=["list", "publish"],
)
def test_s3_missing_bucket(
    s3_server: S3Server, tmp_path: Path, operation: Callable[[S3Target], object]
) -> None:
    target = S3Target(
        "offsite",
        "lk-no-such-bucket",
        PREFIX,
        s3_server.endpoint,
        "us-east-1",
        ACCESS_KEY,
        SECRET_KEY,
        staging_dir=tmp_path,
    )
    with pytest.raises(BackupError) as caught:
        operation(target)
    message = str(caught.value)
    assert message == (
        f"bucket 'lk-no-such-bucket' at {s3_server.endpoint} (target 'offsite') does not "
        "exist: create it or fix the bucket"
    )
    assert SECRET_KEY not in message and "Traceback" not in message


def test_s3_unreachable_endpoint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    target = S3Target(
        "offsite",
        "lk-backups",
        PREFIX,
        endpoint,
        "us-east-1",
        ACCESS_KEY,
        SECRET_KEY,
        staging_dir=tmp_path,
    )
    with pytest.raises(BackupError) as caught:
        target.list("app-db")
    message = str(caught.value)
    assert message.startswith(f"cannot reach {endpoint} for listing lk/prod/app-db/")
    assert "'lk-backups'" in message and "check endpoint_url" in message
    assert SECRET_KEY not in message and "Traceback" not in message
