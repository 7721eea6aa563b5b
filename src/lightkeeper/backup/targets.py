"""Where backups are kept: a local directory or an S3-compatible bucket.

A backup becomes visible only once its manifest is in place (a directory rename, or the
manifest uploaded after every file), so an interrupted run — even kill -9 — leaves at most an
unlisted leftover that ``sweep()`` removes. Listing and retention read manifests alone, and a
target never sees a decryption key.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped]
from boto3.exceptions import S3UploadFailedError  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as S3ConnectionError

from lightkeeper.backup.artifact import (
    MANIFEST,
    TEMP_PREFIX,
    BackupError,
    Manifest,
    fsync_dir,
    is_backup_id,
    load_manifest,
    parse_manifest,
    sweepable,
    write_failure,
)

log = logging.getLogger(__name__)

DEFAULT_STAGING = Path(tempfile.gettempdir()) / "lightkeeper-staging"
_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}


class Target(Protocol):
    name: str

    def publish(self, staging: Path, manifest: Manifest) -> None:
        """Make a finished staging a listed backup, atomically; the staging is consumed."""

    def list(self, job: str | None = None) -> list[Manifest]:
        """Complete backups (manifest present and readable), newest first."""

    def fetch(self, backup_id: str, job: str, dest: Path) -> Path:
        """A local directory holding the backup's files and manifest."""

    def delete(self, backup_id: str, job: str) -> None:
        """Remove a backup, manifest first so a half-deleted one is never listed."""

    def sweep(self, older_than: float) -> int:
        """Remove leftovers of interrupted runs idle for ``older_than`` seconds; how many."""


def staging_root(target: Target, job: str) -> Path:
    """Where a :class:`~lightkeeper.backup.artifact.Staging` for ``job`` should live: beside
    the backups for a local target (so publishing is a rename), a local temp dir otherwise."""
    if isinstance(target, LocalTarget):
        return target.path / job
    return getattr(target, "staging_dir", DEFAULT_STAGING) / job


def _newest_first(manifests: list[Manifest]) -> list[Manifest]:
    return sorted(manifests, key=lambda m: (m.started, m.id), reverse=True)


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BackupError(f"cannot list {path}: {exc.strerror}") from exc


def _sweep_staging(root: Path, older_than: float, now: float, published: bool) -> int:
    """Remove ``root/<job>/.tmp-<id>`` left by dead runs, and with ``published`` also
    ``root/<job>/<id>`` without a manifest (a delete that was interrupted)."""
    removed = 0
    for job_dir in _subdirs(root):
        for path in _subdirs(job_dir):
            leftover = path.name.removeprefix(TEMP_PREFIX)
            staged = leftover != path.name
            if not is_backup_id(leftover, job_dir.name) or job_dir.name.startswith("."):
                continue
            if not staged and (not published or (path / MANIFEST).exists()):
                continue
            if sweepable(path, older_than, now):
                shutil.rmtree(path, ignore_errors=True)
                log.info("swept %s, left by an interrupted backup", path)
                removed += 1
    return removed


class LocalTarget:
    """Backups in ``path/<job>/<backup_id>/{files…, manifest.json}``."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = Path(path)

    def publish(self, staging: Path, manifest: Manifest) -> None:
        job_dir = self.path / manifest.job
        final = job_dir / manifest.id
        if not (staging / MANIFEST).is_file():
            raise BackupError(f"{staging} has no {MANIFEST}: call Staging.finish() first")
        if staging.name != f"{TEMP_PREFIX}{manifest.id}" or staging.parent.resolve() != (
            job_dir.resolve()
        ):
            raise BackupError(f"{staging} is not staged for {final}: use staging_root()")
        try:
            # One rename on one filesystem: the backup appears whole, with its manifest, or not.
            os.rename(staging, final)
            fsync_dir(job_dir)
        except OSError as exc:
            if final.exists():
                raise BackupError(f"{final} already exists: backup ids must be new") from exc
            raise write_failure(exc, manifest.id, job_dir) from exc

    def list(self, job: str | None = None) -> list[Manifest]:
        jobs = [self.path / job] if job else [d for d in _subdirs(self.path) if d.name[0] != "."]
        found = []
        for job_dir in jobs:
            for path in _subdirs(job_dir):
                if path.name.startswith(".") or not (path / MANIFEST).exists():
                    continue  # being staged, half-deleted, or not a backup
                try:
                    manifest = load_manifest(path)
                except BackupError as exc:
                    log.warning("not listing %s: %s", path, exc)
                    continue
                if (manifest.job, manifest.id) == (job_dir.name, path.name):
                    found.append(manifest)
                else:
                    log.warning("not listing %s: its manifest is for %s", path, manifest.id)
        return _newest_first(found)

    def fetch(self, backup_id: str, job: str, dest: Path) -> Path:
        """The backup's own directory (``dest`` is not used): read it, never change it."""
        path = self.path / job / backup_id
        if not (path / MANIFEST).is_file():
            raise BackupError(f"no complete backup {backup_id} of job {job} in {self.path}")
        return path

    def delete(self, backup_id: str, job: str) -> None:
        path = self.path / job / backup_id
        if not path.is_dir():
            raise BackupError(f"no backup {backup_id} of job {job} in {self.path}")
        try:
            (path / MANIFEST).unlink(missing_ok=True)
            shutil.rmtree(path)
        except OSError as exc:  # unlisted already; sweep() finishes the job
            raise BackupError(f"cannot delete {path}: {exc.strerror}") from exc

    def sweep(self, older_than: float, now: float | None = None) -> int:
        return _sweep_staging(self.path, older_than, time.time() if now is None else now, True)


class S3Target:
    """Backups in ``s3://bucket/prefix/<job>/<backup_id>/…``, staged in a local temp dir."""

    def __init__(
        self,
        name: str,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        staging_dir: Path = DEFAULT_STAGING,
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint_url or f"AWS S3 ({region or 'us-east-1'})"
        self.staging_dir = staging_dir
        options: dict[str, Any] = {
            "connect_timeout": 5,
            "read_timeout": 60,
            "retries": {"max_attempts": 3, "mode": "standard"},
            # S3-compatible servers (MinIO, Ceph, moto) want path-style URLs.
            "s3": {"addressing_style": "path"} if endpoint_url else {},
        }
        if "request_checksum_calculation" in Config.OPTION_DEFAULTS:  # botocore >= 1.36
            # Not every S3-compatible server speaks the newer default checksums.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,  # held by boto3 only, never by this object
            region_name=region or "us-east-1",
        )
        self._client: Any = session.client(
            "s3", endpoint_url=endpoint_url, config=Config(**options)
        )

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Boto errors as BackupErrors naming bucket, endpoint and fix (never a secret)."""
        where = f"bucket {self.bucket!r} at {self.endpoint} (target {self.name!r})"
        try:
            yield
        except (ClientError, S3UploadFailedError) as exc:
            code, message = _code(exc)
            if code == "NoSuchBucket":
                raise BackupError(f"{where} does not exist: create it or fix the bucket") from exc
            if code in _DENIED:
                raise BackupError(
                    f"{where} refused {doing} ({code}): check access_key/secret_key and "
                    "the bucket policy"
                ) from exc
            raise BackupError(f"{doing} failed in {where}: {message}") from exc
        except (S3ConnectionError, HTTPClientError) as exc:
            raise BackupError(
                f"cannot reach {self.endpoint} for {doing} ({where}): check endpoint_url "
                "and that the server is up"
            ) from exc
        except NoCredentialsError as exc:
            raise BackupError(f"no S3 credentials for {where}: set access_key/secret_key") from exc
        except BotoCoreError as exc:
            raise BackupError(f"{doing} failed in {where}: {exc}") from exc

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        with self._errors(f"listing {prefix or '/'}"):
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                yield from page.get("Contents", [])

    def _children(self, *parts: str) -> list[str]:
        """Names one level below ``prefix/parts/`` (S3 has no directories: common prefixes)."""
        start = self._key(*parts) + "/" if self._key(*parts) else ""
        names = []
        with self._errors(f"listing {start or '/'}"):
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start, Delimiter="/"
            ):
                names += [p["Prefix"][len(start) : -1] for p in page.get("CommonPrefixes", [])]
        return names

    def _manifest(self, job: str, backup_id: str, listing: bool = False) -> Manifest | None:
        """The backup's manifest; None when there is none (never published, or deleted) or,
        when ``listing``, when it is unreadable (logged: such a backup is not listed)."""
        key = self._key(job, backup_id, MANIFEST)
        with self._errors(f"reading {key}"):
            try:
                body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if _code(exc)[0] in _MISSING:
                    return None
                raise
        try:
            return parse_manifest(body, f"s3://{self.bucket}/{key}")
        except BackupError as exc:
            if not listing:
                raise
            log.warning("not listing %s: %s", backup_id, exc)
            return None

    def _remove(self, keys: list[str]) -> None:
        """Delete ``keys``, any manifest among them first: from then on nothing is listed."""
        manifests = [k for k in keys if k.endswith("/" + MANIFEST)]
        rest = [k for k in keys if k not in manifests]
        with self._errors("deleting"):
            for key in manifests:
                self._client.delete_object(Bucket=self.bucket, Key=key)
            for start in range(0, len(rest), 1000):  # the most one request may delete
                objects = [{"Key": k} for k in rest[start : start + 1000]]
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise BackupError(f"cannot delete {first['Key']}: {first.get('Message')}")

    def _upload(self, path: Path, key: str) -> None:
        self._client.upload_file(str(path), self.bucket, key)  # multipart past 8 MB

    def publish(self, staging: Path, manifest: Manifest) -> None:
        if not (staging / MANIFEST).is_file():
            raise BackupError(f"{staging} has no {MANIFEST}: call Staging.finish() first")
        uploads = [(f.name, self._key(manifest.job, manifest.id, f.name)) for f in manifest.files]
        uploads.append((MANIFEST, self._key(manifest.job, manifest.id, MANIFEST)))  # last: listed
        try:
            for name, key in uploads:
                with self._errors(f"uploading {key}"):
                    self._upload(staging / name, key)
        except BaseException:
            try:
                self._remove([key for _, key in uploads])
            except BackupError as exc:  # what is left is unlisted; sweep() retries
                log.warning("could not remove a partial upload: %s", exc)
            raise
        shutil.rmtree(staging, ignore_errors=True)

    def list(self, job: str | None = None) -> list[Manifest]:
        found = []
        for job_name in [job] if job else self._children():
            for backup_id in self._children(job_name):
                if not is_backup_id(backup_id, job_name):
                    continue
                manifest = self._manifest(job_name, backup_id, listing=True)
                if manifest is not None and (manifest.job, manifest.id) == (job_name, backup_id):
                    found.append(manifest)
        return _newest_first(found)

    def fetch(self, backup_id: str, job: str, dest: Path) -> Path:
        """Download into ``dest``; a stored file that is gone is left for ``check()`` to name."""
        manifest = self._manifest(job, backup_id)
        if manifest is None:
            raise BackupError(f"no complete backup {backup_id} of job {job} in {self.bucket}")
        for name in [f.name for f in manifest.files] + [MANIFEST]:
            key, path = self._key(job, backup_id, name), dest / name
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with self._errors(f"downloading {key}"):
                    try:
                        self._client.download_file(self.bucket, key, str(path))
                    except ClientError as exc:
                        if _code(exc)[0] not in _MISSING:
                            raise
            except OSError as exc:
                raise write_failure(exc, name, dest) from exc
        return dest

    def delete(self, backup_id: str, job: str) -> None:
        keys = [o["Key"] for o in self._objects(self._key(job, backup_id) + "/")]
        if not keys:
            raise BackupError(f"no backup {backup_id} of job {job} in {self.bucket}")
        self._remove(keys)

    def sweep(self, older_than: float, now: float | None = None) -> int:
        """Uploads without a manifest and multipart uploads idle for ``older_than`` seconds,
        and local stagings of dead runs; how many backups' leftovers were removed."""
        now = time.time() if now is None else now
        base = self._key() + "/" if self.prefix else ""
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for obj in self._objects(base):
            job, backup_id = _owner(obj["Key"][len(base) :])
            if is_backup_id(backup_id, job):
                groups.setdefault((job, backup_id), []).append(obj)
        swept = set()
        for (job, backup_id), objects in groups.items():
            keys = [o["Key"] for o in objects]
            idle = now - max(o["LastModified"].timestamp() for o in objects) >= older_than
            if idle and self._key(job, backup_id, MANIFEST) not in keys:
                self._remove(keys)
                swept.add((job, backup_id))
        with self._errors("sweeping multipart uploads"):
            for page in self._client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=base
            ):
                for upload in page.get("Uploads", []):
                    job, backup_id = _owner(upload["Key"][len(base) :])
                    if is_backup_id(backup_id, job) and self._upload_stale(upload, now, older_than):
                        self._client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        swept.add((job, backup_id))
        return len(swept) + _sweep_staging(self.staging_dir, older_than, now, False)

    def _upload_stale(self, upload: dict[str, Any], now: float, older_than: float) -> bool:
        """Whether a multipart upload has not moved for ``older_than`` seconds: its newest
        part, else its start (a 100 GB upload begun hours ago may still be sending parts)."""
        started = upload["Initiated"].timestamp()
        if now - started < older_than:
            return False
        pages = self._client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )
        parts = [p["LastModified"].timestamp() for page in pages for p in page.get("Parts", [])]
        return bool(now - max(parts, default=started) >= older_than)


def _owner(key: str) -> tuple[str, str]:
    """The job and backup id of a key below the prefix: ``<job>/<id>/<file>``."""
    job, _, rest = key.partition("/")
    return job, rest.partition("/")[0]


def _code(exc: Exception) -> tuple[str, str]:
    """The S3 error code and message of a ClientError, or of what an upload failure wraps."""
    cause = exc if isinstance(exc, ClientError) else exc.__context__
    if not isinstance(cause, ClientError):
        return "", str(exc)
    error = cause.response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message") or cause)
