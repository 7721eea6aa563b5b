"""The backup artifact: staging (zstd, age, sha256), the manifest, check() and extract(),
with real age keys, real files, and a real full filesystem where mounting is permitted."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
from pyrage import x25519  # type: ignore[import-untyped]

from lightkeeper.backup.artifact import Staging, check, extract
from lightkeeper.backup.errors import BackupError
from lightkeeper.backup.manifest import (
    MANIFEST,
    FileEntry,
    Manifest,
    is_backup_id,
    load_manifest,
    new_backup_id,
)
from tests.backup.conftest import AgeKey

BIG = 3 * 1024 * 1024 + 17  # a few MB, not a multiple of any chunk size


def make_source(root: Path) -> dict[str, bytes]:
    """A directory with nested files and a big-ish one; its files by relative name."""
    files = {
        "toc.dat": b"table of contents\n" * 100,
        "nested/deeper/3051.dat.gz": os.urandom(4096),  # incompressible, like pg_dump output
        "nested/empty.txt": b"",
        "big.bin": (os.urandom(1024) + b"\0" * 3072) * (BIG // 4096) + b"tail",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def manifest_for(staging: Staging) -> Manifest:
    return Manifest(
        id=staging.backup_id,
        job="app-db",
        kind="files",
        started=1_790_000_000.0,
        finished=1_790_000_060.0,
        files=staging.entries,
    )


def stage(tmp_path: Path, recipients: list[str], compress: bool = True) -> tuple[Path, Manifest]:
    source = tmp_path / "source"
    make_source(source)
    staging = Staging(tmp_path / "target" / "app-db", new_backup_id("app-db", 1.79e9), recipients)
    staging.add(source, "db", compress=compress, keep_source=True)
    manifest = manifest_for(staging)
    return staging.finish(manifest), manifest


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "age"])
@pytest.mark.parametrize("compress", [True, False], ids=["zstd", "stored"])
def test_round_trip(tmp_path: Path, age_key: AgeKey, encrypted: bool, compress: bool) -> None:
    recipients = [age_key.recipient] if encrypted else []
    path, manifest = stage(tmp_path, recipients, compress)
    assert path.name.startswith(".tmp-app-db-")  # the temporary name, until published
    suffix = (".zst" if compress else "") + (".age" if encrypted else "")
    assert sorted(f.name for f in manifest.files) == sorted(
        f"db/{n}{suffix}" for n in make_source(tmp_path / "again")
    )
    assert all(f.encrypted is encrypted for f in manifest.files)
    assert manifest.encrypted_to == recipients
    assert load_manifest(path) == manifest
    assert check(path, manifest) == []
    big = next(f for f in manifest.files if f.name.startswith("db/big.bin"))
    assert big.source_size == (tmp_path / "source" / "big.bin").stat().st_size
    assert big.size == (path / big.name).stat().st_size
    if compress:
        assert big.size < big.source_size / 2

    out = extract(path, manifest, tmp_path / "plain", age_key.identity if encrypted else None)
    for name in make_source(tmp_path / "again"):
        assert (out / "db" / name).read_bytes() == (tmp_path / "source" / name).read_bytes()
    assert not list(out.rglob("*.partial"))


def test_source_is_removed_once_staged_unless_kept(tmp_path: Path) -> None:
    (tmp_path / "dump.sql").write_text("select 1;\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a").write_text("a")
    staging = Staging(tmp_path / "t", new_backup_id("j", 0))
    [entry] = staging.add(tmp_path / "dump.sql")
    assert entry.name == "dump.sql.zst" and entry.compression == "zstd"
    assert not (tmp_path / "dump.sql").exists()
    assert [e.name for e in staging.add(tmp_path / "dir", "files")] == ["files/a.zst"]
    assert not (tmp_path / "dir").exists()


def test_wrong_key_is_a_clear_error_without_the_key(tmp_path: Path, age_key: AgeKey) -> None:
    path, manifest = stage(tmp_path, [age_key.recipient])
    wrong = str(x25519.Identity.generate())
    with pytest.raises(BackupError) as caught:
        extract(path, manifest, tmp_path / "plain", wrong)
    message = str(caught.value)
    assert re.match(r"cannot decrypt db/\S+\.age: the key does not match any recipient", message)
    assert age_key.recipient in message  # which public key would work
    assert "AGE-SECRET-KEY" not in message and "Traceback" not in message
    assert not list((tmp_path / "plain").rglob("*.*"))  # nothing half-written left behind


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (None, "the backup is encrypted and no key was given"),
        ("AGE-SECRET-KEY-1NOTAKEY", "not a valid age identity"),
    ],
    ids=["missing", "malformed"],
)
def test_missing_or_malformed_key(
    tmp_path: Path, age_key: AgeKey, identity: str | None, expected: str
) -> None:
    path, manifest = stage(tmp_path, [age_key.recipient])
    with pytest.raises(BackupError, match=expected) as caught:
        extract(path, manifest, tmp_path / "plain", identity)
    assert "NOTAKEY" not in str(caught.value)


def flip_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))


def truncate(file: Path) -> None:
    os.truncate(file, file.stat().st_size - 1)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (flip_byte, "sha256 mismatch (stored bytes changed)"),
        (truncate, "where the manifest says"),
        (Path.unlink, "missing"),
    ],
    ids=["flipped-byte", "truncated", "missing"],
)
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "age"])
def test_damage_is_named(
    tmp_path: Path, age_key: AgeKey, damage: object, problem: str, encrypted: bool
) -> None:
    path, manifest = stage(tmp_path, [age_key.recipient] if encrypted else [])
    victim = next(f for f in manifest.files if "3051" in f.name)
    damage(path / victim.name)  # type: ignore[operator]
    problems = check(path, manifest)
    assert len(problems) == 1
    assert problems[0].startswith(f"{victim.name}: ") and problem in problems[0]
    with pytest.raises(BackupError, match=re.escape(victim.name)):
        extract(path, manifest, tmp_path / "plain", age_key.identity)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not a valid backup manifest"),
        (b'{"id": "x"}', "not a valid backup manifest"),
        (
            b'{"version": 9, "id": "x", "job": "j", "kind": "files", "started": 0, "finished": 0,'
            b' "files": []}',
            "newer than this Lightkeeper",
        ),
        (
            b'{"id": "x", "job": "j", "kind": "files", "started": 0, "finished": 0,'
            b' "files": [{"name": "../etc/passwd", "size": 0, "sha256": "", "compression": "none",'
            b' "encrypted": false, "source_size": 0}]}',
            "not a valid backup manifest",
        ),
    ],
    ids=["bad-json", "wrong-shape", "newer-version", "escaping-name"],
)
def test_bad_manifest_names_manifest_json(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / MANIFEST).write_bytes(content)
    with pytest.raises(BackupError, match=expected) as caught:
        load_manifest(tmp_path)
    assert str(caught.value).startswith(str(tmp_path / MANIFEST))


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"manifest.json: missing: the backup is incomplete"):
        load_manifest(tmp_path)


def test_disk_full_is_a_clear_error(
    tmp_path: Path, tiny_fs: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real 512 KiB tmpfs where `mount` is permitted (root in this sandbox); elsewhere the
    # same path is driven by making every write raise ENOSPC, as a full disk would.
    root = tiny_fs
    if root is None:
        root = tmp_path / "full"
        real_open = open

        class Full:
            def __init__(self, file: object) -> None:
                self.file = file

            def __getattr__(self, name: str) -> object:
                return getattr(self.file, name)

            def write(self, data: bytes) -> int:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def __enter__(self) -> Full:
                return self

            def __exit__(self, *exc: object) -> None:
                self.file.close()  # type: ignore[attr-defined]

        def full_open(file: object, mode: str = "r", *args: object, **kw: object) -> object:
            handle = real_open(file, mode, *args, **kw)  # type: ignore[call-overload]
            return Full(handle) if "w" in mode and str(file).startswith(str(root)) else handle

        monkeypatch.setattr("builtins.open", full_open)
    source = tmp_path / "dump.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024))  # incompressible: cannot fit in 512 KiB
    staging = Staging(root / "app-db", "app-db-20261127T030000Z-3f2a")
    with pytest.raises(BackupError) as caught:
        staging.add(source, "dump.bin", keep_source=True)
    assert str(caught.value) == (
        f"no space left writing dump.bin.zst under {staging.path}: free space or point the "
        "target elsewhere"
    )
    assert "Traceback" not in str(caught.value)
    assert not (staging.path / "dump.bin.zst").exists()  # the partial file is gone
    assert source.exists()


def test_disk_full_while_encrypting(tmp_path: Path, tiny_fs: Path | None, age_key: AgeKey) -> None:
    # pyrage turns an OSError raised in its writer into its own EncryptError (or drops it
    # on the final flush); the staging must still report the full disk, not a crypto error.
    if tiny_fs is None:
        pytest.skip("mount is not permitted here; test_disk_full_is_a_clear_error covers it")
    source = tmp_path / "dump.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024))
    staging = Staging(tiny_fs / "app-db", "app-db-20261127T030000Z-3f2a", [age_key.recipient])
    with pytest.raises(BackupError, match=r"^no space left writing dump\.bin\.age under "):
        staging.add(source, "dump.bin", compress=False, keep_source=True)
    assert source.exists()


def test_finish_writes_the_manifest_last_and_checks_it(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    staging = Staging(tmp_path / "t", new_backup_id("j", 0))
    staging.add(tmp_path / "a")
    assert not (staging.path / MANIFEST).exists()
    wrong = manifest_for(staging).model_copy(
        update={
            "files": [
                FileEntry(
                    name="b", size=0, sha256="", compression="none", encrypted=False, source_size=0
                )
            ]
        }
    )
    with pytest.raises(BackupError, match="does not list exactly the staged files"):
        staging.finish(wrong)
    empty = manifest_for(staging).model_copy(update={"files": []})
    staging.finish(empty)
    assert [f.name for f in load_manifest(staging.path).files] == ["a.zst"]
    with pytest.raises(BackupError, match="finished or discarded"):
        staging.add(tmp_path / "a")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../escape", "relative path"), ("/abs", "relative path"), ("a//b", "relative path")],
)
def test_unsafe_names_are_refused(tmp_path: Path, name: str, expected: str) -> None:
    (tmp_path / "f").write_text("x")
    staging = Staging(tmp_path / "t", new_backup_id("j", 0))
    with pytest.raises(BackupError, match=expected):
        staging.add(tmp_path / "f", name, keep_source=True)


def test_duplicate_name_and_bad_recipient(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    staging = Staging(tmp_path / "t", new_backup_id("j", 0))
    staging.add(tmp_path / "f", keep_source=True)
    with pytest.raises(BackupError, match="already in this backup"):
        staging.add(tmp_path / "f", keep_source=True)
    with pytest.raises(BackupError, match=r"invalid age recipient 'age1nope'.*age1…"):
        Staging(tmp_path / "t", new_backup_id("j", 0), ["age1nope"])
    with pytest.raises(BackupError, match="invalid backup id"):
        Staging(tmp_path / "t", "../up")


def test_unreadable_source(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "t", new_backup_id("j", 0))
    with pytest.raises(BackupError, match=r"cannot read .*nothing-here: No such file"):
        staging.add(tmp_path / "nothing-here")


def test_backup_ids_sort_by_time() -> None:
    early, late = new_backup_id("app-db", 1_790_000_000), new_backup_id("app-db", 1_790_000_001)
    assert re.fullmatch(r"app-db-20260921T141320Z-[0-9a-f]{4}", early)
    assert early < late
    assert is_backup_id(early, "app-db") and not is_backup_id(early, "app")
    assert not is_backup_id("app-db-notes", "app-db")
