"""What a backup is on disk: files staged under a temporary name (zstd-compressed, age-encrypted,
checksummed) and a manifest (:mod:`~lightkeeper.backup.manifest`), written last, saying what
every stored file must be.

Everything streams in chunks (zstd readers/writers, ``pyrage.encrypt_io``/``decrypt_io``), so a
dump of many GB never sits in memory. Checksums cover the *stored* bytes, so a backup can be
checked without its key; the manifest holds public keys only and the identity that decrypts is
passed in when reading back, never written anywhere.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import pyrage  # type: ignore[import-untyped]
import zstandard

from lightkeeper.backup.errors import BackupError
from lightkeeper.backup.manifest import MANIFEST, FileEntry, Manifest, check_name, check_segment

TEMP_PREFIX = ".tmp-"  # staging directories: never listed, swept once their run is gone
CHUNK = 1 << 20


def write_failure(exc: OSError, name: str, where: Path | str) -> BackupError:
    """The error for a failed write of ``name`` under ``where``; a full disk says so."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupError(
            f"no space left writing {name} under {where}: free space or point the target elsewhere"
        )
    return BackupError(f"cannot write {name} under {where}: {exc.strerror or exc}")


class _Tap:
    """Counts and hashes what passes through a file and remembers its own OSError: pyrage
    reports errors raised in Python callbacks as its own exception types, or swallows them."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.error: OSError | None = None

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._file.read(n)
        except OSError as exc:
            self.error = exc
            raise
        self._passed(data)
        return data

    def write(self, data: bytes) -> int:
        try:
            self._file.write(data)
        except OSError as exc:
            self.error = exc
            raise
        self._passed(data)
        return len(data)

    def _passed(self, data: bytes) -> None:
        self.size += len(data)
        self.sha256.update(data)


class _Failed(Exception):
    """Which side of a :func:`_stream` failed: ``read``, ``write`` or ``convert``."""

    def __init__(self, side: Literal["read", "write", "convert"], error: BaseException) -> None:
        super().__init__(side, error)
        self.side = side
        self.error = error if isinstance(error, OSError) else OSError(str(error))
        self.reason = getattr(error, "strerror", None) or str(error)


def _stream(source: Path, dest: Path, convert: Callable[[_Tap, _Tap], None]) -> tuple[_Tap, _Tap]:
    """Write ``dest`` (fsynced) from ``source`` through ``convert``; on failure ``dest`` is
    removed and :class:`_Failed` says which side failed."""
    try:
        source_file = open(source, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise _Failed("read", exc) from exc
    reader, writer = _Tap(source_file), None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with source_file, open(dest, "wb") as out:
            writer = _Tap(out)
            convert(reader, writer)
            if writer.error is None:
                out.flush()
                os.fsync(out.fileno())
        if writer.error is not None:  # pyrage flushes on drop and ignores what that raised
            raise writer.error
    except Exception as exc:
        dest.unlink(missing_ok=True)
        if writer is not None and writer.error is not None:
            raise _Failed("write", writer.error) from exc
        if reader.error is not None:
            raise _Failed("read", reader.error) from exc
        mine = isinstance(exc, OSError) and exc.errno is not None  # pyrage's have none
        raise _Failed("write" if mine else "convert", exc) from exc
    return reader, writer


def _recipient(key: str) -> Any:
    try:
        if key.startswith("ssh-"):
            return pyrage.ssh.Recipient.from_str(key)
        return pyrage.x25519.Recipient.from_str(key)
    except Exception as exc:  # pyrage.RecipientError, or anything else it raises
        raise BackupError(
            f"invalid age recipient {key!r} ({exc}): use an age public key (age1…)"
        ) from None


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new file, a rename) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Staging:
    """One backup being made, in ``root/.tmp-<id>``: invisible to every listing until published.

    The directory is ``flock``-ed while the run lives; the kernel drops the lock when the
    process dies (even on kill -9), which is how :func:`sweepable` tells leftovers from runs.
    """

    def __init__(self, root: Path, backup_id: str, recipients: Sequence[str] = ()) -> None:
        try:
            self.backup_id = check_segment(backup_id)
        except ValueError as exc:
            raise BackupError(f"invalid backup id: {exc}") from None
        self.path = root / f"{TEMP_PREFIX}{backup_id}"
        self.entries: list[FileEntry] = []
        self.recipients = list(recipients)
        self._recipients = [_recipient(r) for r in recipients]
        self._lock: int | None = None
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.path.mkdir()
            self._lock = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise write_failure(exc, self.path.name, root) from exc

    def add(
        self,
        source: Path,
        name: str | None = None,
        compress: bool = True,
        keep_source: bool = False,
    ) -> list[FileEntry]:
        """Stage a file, or every regular file under a directory (as ``name/<relative>``;
        symlinks to directories are not followed, empty directories not kept): zstd unless
        ``compress`` is false, then age-encrypted to the recipients. The source is removed
        once staged unless ``keep_source``. Returns the entries staged by this call."""
        if self._lock is None:
            raise BackupError(f"{self.path} is finished or discarded: nothing more can be added")
        name = source.name if name is None else name
        if not source.is_dir():
            return [self._add_file(source, name, compress, keep_source)]
        staged = []
        for dirpath, dirs, files in os.walk(source):
            dirs.sort()
            for file in sorted(files):
                path = Path(dirpath, file)
                if path.is_file():
                    relative = path.relative_to(source).as_posix()
                    staged.append(self._add_file(path, f"{name}/{relative}", compress, keep_source))
        if not keep_source:
            shutil.rmtree(source, ignore_errors=True)
        return staged

    def _add_file(self, source: Path, name: str, compress: bool, keep_source: bool) -> FileEntry:
        stored = name + (".zst" if compress else "") + (".age" if self._recipients else "")
        try:
            check_name(stored)
        except ValueError as exc:
            raise BackupError(f"cannot stage {source}: {exc}") from None
        if any(e.name == stored for e in self.entries):
            raise BackupError(f"cannot stage {source}: {stored} is already in this backup")

        if not compress and not self._recipients and not keep_source:
            moved = self._move(source, stored)
            if moved is not None:
                self.entries.append(moved)
                return moved

        def convert(reader: _Tap, writer: _Tap) -> None:
            data: Any = reader
            if compress:
                data = zstandard.ZstdCompressor(level=3, threads=-1).stream_reader(data)
            if self._recipients:
                pyrage.encrypt_io(data, writer, self._recipients)
            else:
                shutil.copyfileobj(data, writer, CHUNK)

        try:
            reader, writer = _stream(source, self.path / stored, convert)
        except _Failed as failed:
            if failed.side == "read":
                raise BackupError(f"cannot read {source}: {failed.reason}") from failed
            if failed.side == "write":
                raise write_failure(failed.error, stored, self.path) from failed
            raise BackupError(f"cannot stage {source} as {stored}: {failed.reason}") from failed
        entry = FileEntry(
            name=stored,
            size=writer.size,
            sha256=writer.sha256.hexdigest(),
            compression="zstd" if compress else "none",
            encrypted=bool(self._recipients),
            source_size=reader.size,
        )
        self.entries.append(entry)
        if not keep_source:
            source.unlink(missing_ok=True)
        return entry

    def _move(self, source: Path, stored: str) -> FileEntry | None:
        """Stored as is (pg_dump output: already compressed, no key): a rename on the same
        filesystem and one read for the checksum, instead of a copy — the difference
        between a backup as fast as pg_dump and one a copy slower. None: another disk."""
        dest = self.path / stored
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, dest)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return None
            raise write_failure(exc, stored, self.path) from exc
        try:
            with dest.open("rb") as stored_file:
                digest = hashlib.file_digest(stored_file, "sha256")
            size = dest.stat().st_size
        except OSError as exc:
            raise BackupError(f"cannot read back {stored}: {exc.strerror}") from exc
        return FileEntry(
            name=stored,
            size=size,
            sha256=digest.hexdigest(),
            compression="none",
            encrypted=False,
            source_size=size,
        )

    def finish(self, manifest: Manifest) -> Path:
        """Write ``manifest.json`` last (fsync file and directories); the staging is then ready
        to publish. Empty ``files``/``encrypted_to`` are filled in from what was staged."""
        if manifest.id != self.backup_id:
            raise BackupError(f"manifest {manifest.id} does not belong to staging {self.path}")
        staged = sorted(e.name for e in self.entries)
        if not manifest.files:
            manifest.files = list(self.entries)
        elif sorted(f.name for f in manifest.files) != staged:
            raise BackupError(f"manifest {manifest.id} does not list exactly the staged files")
        manifest.encrypted_to = manifest.encrypted_to or list(self.recipients)
        try:
            with open(self.path / MANIFEST, "w", encoding="utf-8") as out:
                out.write(manifest.model_dump_json(indent=2))
                out.flush()
                os.fsync(out.fileno())
            for directory in {(self.path / n).parent for n in staged} | {self.path}:
                fsync_dir(directory)
        except OSError as exc:
            raise write_failure(exc, MANIFEST, self.path) from exc
        self._unlock()
        return self.path

    def discard(self) -> None:
        self._unlock()
        shutil.rmtree(self.path, ignore_errors=True)

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def sweepable(path: Path, older_than: float, now: float) -> bool:
    """Whether a leftover directory is safe to remove: no live :class:`Staging` holds it and
    nothing under it changed for ``older_than`` seconds."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        newest = path.lstat().st_mtime
        for dirpath, dirs, files in os.walk(path):
            for child in dirs + files:
                newest = max(newest, os.lstat(os.path.join(dirpath, child)).st_mtime)
    except OSError:
        return False
    finally:
        os.close(fd)
    return now - newest >= older_than


def check(path: Path, manifest: Manifest) -> list[str]:
    """Every stored file against the manifest (present, size, sha256); one problem per file,
    each naming it. Needs no key."""
    problems = []
    for entry in manifest.files:
        file = path / entry.name
        try:
            size = file.stat().st_size
            if size != entry.size:
                problems.append(
                    f"{entry.name}: {size} bytes where the manifest says {entry.size} "
                    "(truncated or overwritten)"
                )
                continue
            with open(file, "rb") as stored:
                digest = hashlib.file_digest(stored, "sha256").hexdigest()
        except FileNotFoundError:
            problems.append(f"{entry.name}: missing")
            continue
        except OSError as exc:
            problems.append(f"{entry.name}: cannot read ({exc.strerror})")
            continue
        if digest != entry.sha256:
            problems.append(f"{entry.name}: sha256 mismatch (stored bytes changed)")
    return problems


def extract(path: Path, manifest: Manifest, dest: Path, identity: str | None = None) -> Path:
    """Decrypt (with ``identity``, an ``AGE-SECRET-KEY-1…`` string) and decompress every file
    into ``dest`` under its source name; each file's stored bytes are re-hashed on the way."""
    identities = []
    if identity is not None:
        try:
            identities = [pyrage.x25519.Identity.from_str(identity.strip())]
        except Exception:  # its message could quote the key
            raise BackupError(
                "the decryption key is not a valid age identity (expected AGE-SECRET-KEY-1…): "
                "check the job's identity setting"
            ) from None
    for entry in manifest.files:
        if entry.encrypted and not identities:
            raise BackupError(
                f"cannot decrypt {entry.name}: the backup is encrypted and no key was given: "
                "set the job's identity (AGE-SECRET-KEY-1…) from the environment"
            )
        _extract_file(path / entry.name, entry, dest, identities, manifest.encrypted_to)
    return dest


def _extract_file(
    stored: Path, entry: FileEntry, dest: Path, identities: list[Any], recipients: list[str]
) -> None:
    target = dest / entry.source_name
    partial = target.with_name(target.name + ".partial")

    def convert(reader: _Tap, writer: _Tap) -> None:
        sink: Any = writer
        if entry.compression == "zstd":
            sink = zstandard.ZstdDecompressor().stream_writer(sink, closefd=False)
        if entry.encrypted:
            pyrage.decrypt_io(reader, sink, identities)
        else:
            shutil.copyfileobj(reader, sink, CHUNK)
        while reader.read(CHUNK):  # hash to the end: appended bytes count too
            pass

    try:
        reader, _ = _stream(stored, partial, convert)
    except _Failed as failed:
        if failed.side == "write":
            raise write_failure(failed.error, entry.source_name, dest) from failed
        if failed.side == "read":
            raise BackupError(f"cannot read {entry.name}: {failed.reason}: run verify") from failed
        with open(stored, "rb") as again:  # damage first: it can look like a wrong key
            if hashlib.file_digest(again, "sha256").hexdigest() != entry.sha256:
                raise BackupError(f"{entry.name}: sha256 mismatch (stored bytes changed)") from None
        if "no matching keys" in failed.reason.lower():
            raise BackupError(
                f"cannot decrypt {entry.name}: the key does not match any recipient "
                f"(encrypted to {', '.join(recipients) or 'unknown keys'}): use the identity "
                "of one of them"
            ) from None
        raise BackupError(
            f"cannot read back {entry.name}: the stored bytes are damaged ({failed.reason}): "
            "run verify, and restore an older backup if it fails"
        ) from failed
    if reader.size != entry.size or reader.sha256.hexdigest() != entry.sha256:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{entry.name}: sha256 mismatch (stored bytes changed)")
    os.replace(partial, target)
