"""The manifest: what a backup holds and what every stored file must be (name, size, sha256),
the backup ids, and reading a manifest back.

Checksums cover the *stored* bytes, so a backup can be checked without its key; the manifest
holds public keys only and the identity that decrypts is never written anywhere.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, field_validator

from lightkeeper.backup.errors import BackupError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_ID = re.compile(r"-\d{8}T\d{6}Z-[0-9a-f]{4}")  # what new_backup_id appends to the job


def check_name(name: str) -> str:
    """``name`` if it can name a stored file (relative, ``/``-separated, no empty, ``.`` or
    ``..`` part, not the manifest's own name); else ValueError."""
    parts = name.split("/")
    if not name or "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{name!r} must be a relative path with '/' separators and no '..'")
    if name == MANIFEST:
        raise ValueError(f"{MANIFEST!r} is the manifest's own name")
    return name


def check_segment(value: str) -> str:
    """``value`` if it can be one path segment (a job or backup id); else ValueError."""
    if not value or value.startswith(".") or any(c in value for c in "/\\\0"):
        raise ValueError(f"{value!r} must be one path segment not starting with '.'")
    return value


class FileEntry(BaseModel):
    name: str  # as stored, relative, "/"-separated: "db/3051.dat.gz.age"
    size: int  # stored bytes
    sha256: str  # of the stored bytes: checkable without the key
    compression: Literal["none", "zstd"]
    encrypted: bool
    source_size: int  # bytes before compression and encryption

    @field_validator("name")
    @classmethod
    def _relative(cls, value: str) -> str:
        return check_name(value)

    @property
    def source_name(self) -> str:
        """The name the file had before staging, which
        :func:`~lightkeeper.backup.artifact.extract` recreates."""
        name = self.name.removesuffix(".age") if self.encrypted else self.name
        return name.removesuffix(".zst") if self.compression == "zstd" else name


class Manifest(BaseModel):
    version: int = FORMAT_VERSION
    id: str  # e.g. "app-db-20261127T030000Z-3f2a"
    job: str
    kind: Literal["postgres", "chroma", "files"]
    started: float  # UTC epoch seconds
    finished: float
    tool: str = ""  # "pg_dump (PostgreSQL) 15.19"
    server: str = ""  # "PostgreSQL 15.19" / "chroma 1.3.5"
    files: list[FileEntry]
    tables: list[dict[str, Any]] = []  # {"schema", "name", "rows"} at dump time
    collections: list[dict[str, Any]] = []  # {"name", "count", "dimension"}
    details: dict[str, Any] = {}  # kind-specific (format, jobs, …)
    encrypted_to: list[str] = []  # age public keys: public, fine to store

    @field_validator("id", "job")
    @classmethod
    def _segment(cls, value: str) -> str:
        return check_segment(value)

    @property
    def size(self) -> int:
        """Stored bytes, all files together."""
        return sum(f.size for f in self.files)


def new_backup_id(job: str, at: float) -> str:
    """``<job>-<UTC time>-<4 hex>``: sorts by time within a job; the suffix keeps two runs
    in the same second apart."""
    return f"{job}-{datetime.fromtimestamp(at, UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def is_backup_id(name: str, job: str) -> bool:
    """Whether ``name`` looks like an id :func:`new_backup_id` made for ``job``; sweeping
    removes nothing else, so a target pointed at a shared place never loses foreign data."""
    return name.startswith(job) and _ID.fullmatch(name[len(job) :]) is not None


def parse_manifest(data: bytes, where: str) -> Manifest:
    """A manifest from its JSON; ``where`` (ending in manifest.json) names it in errors."""
    try:
        manifest = Manifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise BackupError(
            f"{where}: not a valid backup manifest ({at + ': ' if at else ''}{first['msg']}): "
            "this backup cannot be trusted; delete it and use another"
        ) from None
    if manifest.version > FORMAT_VERSION:
        raise BackupError(
            f"{where}: manifest version {manifest.version} is newer than this Lightkeeper "
            f"reads ({FORMAT_VERSION}): upgrade Lightkeeper"
        )
    return manifest


def load_manifest(path: Path) -> Manifest:
    """The manifest of the backup directory ``path`` (or the manifest file itself)."""
    file = path / MANIFEST if path.is_dir() else path
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise BackupError(f"{file}: missing: the backup is incomplete (never published)") from None
    except OSError as exc:
        raise BackupError(f"{file}: cannot read: {exc.strerror}") from exc
    return parse_manifest(data, str(file))
