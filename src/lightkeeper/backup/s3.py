"""Backups in an S3-compatible bucket (AWS, MinIO, Ceph, moto): every file uploaded, then the
manifest, so a backup is listed only once it is whole; staged in a local temp dir first.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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

from lightkeeper.backup.artifact import write_failure
from lightkeeper.backup.errors import BackupError
from lightkeeper.backup.manifest import MANIFEST, Manifest, is_backup_id, parse_manifest
from lightkeeper.backup.targets import DEFAULT_STAGING, newest_first, sweep_staging

log = logging.getLogger(__name__)

_MISSING = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}


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
        return newest_first(found)

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
        return len(swept) + sweep_staging(self.staging_dir, older_than, now, False)

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
