"""The S3 backend: boto3 against AWS S3 or any S3 server with Object Lock (SeaweedFS in the tests).

Each object is written once, with a SHA-256 the server checks, and locked (GOVERNANCE or COMPLIANCE) until its
retain-until date. The store never asks to bypass governance retention: deletes only succeed once the server
itself agrees the object is no longer locked or held.
"""
from __future__ import annotations

import base64
import io
import os
import shutil
import tempfile
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from civic_archive.storage import (
    CHUNK, ArchiveStore, ObjectExists, ObjectMissing, Retention, StorageError, StoredObject, check_key, sha256_file,
)

LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
FROM_ENV = "from-env"  # lock_mode default: read CIVIC_ARCHIVE_LOCK_MODE (unset means GOVERNANCE)
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
_REFUSED_CREDENTIALS = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken", "ExpiredToken"}


# Bounded patience with the storage (environment overrides): every operation is tried up to
# CIVIC_ARCHIVE_S3_MAX_ATTEMPTS times on throttling, 5xx answers, timeouts and dropped connections, with
# jittered exponential backoff; then it fails and the run fails cleanly, before its manifest. botocore's
# "legacy" retry mode, not "standard": standard also keeps a client-wide retry quota that a long 5xx storm
# drains (failed lookups that end in a 404 never refund it), after which nothing is retried at all.
S3_MAX_ATTEMPTS = "CIVIC_ARCHIVE_S3_MAX_ATTEMPTS"        # every try, the first included (default 5)
S3_CONNECT_TIMEOUT = "CIVIC_ARCHIVE_S3_CONNECT_TIMEOUT"  # seconds (default 10)
S3_READ_TIMEOUT = "CIVIC_ARCHIVE_S3_READ_TIMEOUT"        # seconds without a byte from the server (default 60)


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise StorageError(f"{name}={value!r} is not a number") from None
    if number <= 0:
        raise StorageError(f"{name} must be positive, not {value!r}")
    return number


def client_config() -> Config:
    return Config(s3={"addressing_style": "path"},
                  retries={"total_max_attempts": int(_env_number(S3_MAX_ATTEMPTS, 5)), "mode": "legacy"},
                  connect_timeout=_env_number(S3_CONNECT_TIMEOUT, 10),
                  read_timeout=_env_number(S3_READ_TIMEOUT, 60))


def make_client(endpoint_url: str | None = None, *, access_key: str | None = None,
                secret_key: str | None = None) -> Any:
    """An S3 client with path-style addressing, timeouts and bounded retries (see `client_config`).
    Credentials come from the usual boto3 chain unless given; the endpoint from `endpoint_url`, else
    AWS_ENDPOINT_URL, else AWS."""
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=session.region_name or "us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=client_config(),
    )


# Default Object Lock for objects whose disposition date is not known (CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS): ten
# years, longer than any series a city is likely to leave unconfirmed; extend it (never shortened) if needed.
DEFAULT_RETAIN_DAYS = 3650


class S3Store(ArchiveStore):
    """Archive objects under `s3://bucket/prefix`.

    Object keys are relative to the prefix. Large files go up in one `put_object` (S3 allows up to 5 GB per
    PUT; archive files stay under 1 GB): one request means one server-verified checksum and one version.
    """

    list_page_size = 1000

    def __init__(self, bucket: str, prefix: str = "", *, lock_mode: str | None = FROM_ENV,
                 endpoint_url: str | None = None, client: Any = None, default_retain_days: int | None = None):
        if lock_mode == FROM_ENV:
            lock_mode = os.environ.get("CIVIC_ARCHIVE_LOCK_MODE", "GOVERNANCE").strip().upper() or None
            if lock_mode == "NONE":
                lock_mode = None
        if lock_mode is not None and lock_mode not in LOCK_MODES:
            raise StorageError(f"unknown lock mode {lock_mode!r} (use GOVERNANCE, COMPLIANCE or none)")
        if not bucket:
            raise StorageError("an S3 archive URI needs a bucket: s3://BUCKET/PREFIX")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.lock_mode = lock_mode
        if default_retain_days is None:
            # The lock for objects whose eligibility is not known yet (unclassified or unverified series,
            # manifests, state, reports, holds): DESIGN wants every object locked, so there is always one
            # unless 0 is asked for. Retention can be extended later, never shortened.
            setting = os.environ.get("CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS", "").strip()
            try:
                default_retain_days = int(setting) if setting else DEFAULT_RETAIN_DAYS
            except ValueError:
                raise StorageError(f"CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS={setting!r} is not a number of days") from None
            if default_retain_days < 0:
                raise StorageError(f"CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS={setting!r} is negative")
        self.default_retain_days = default_retain_days or None  # 0: no lock where eligibility is unknown
        self.client = client if client is not None else make_client(endpoint_url)
        self._spool: str | None = None

    # -- helpers ------------------------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, method: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **params)
        except ClientError as exc:
            raise _translate(exc, what) from exc
        except BotoCoreError as exc:
            raise self._unreachable(what, exc) from exc

    def _unreachable(self, what: str, exc: BotoCoreError) -> StorageError:
        # Connection refused or dropped, timeouts: botocore has already retried them.
        attempts = self.client.meta.config.retries.get("total_max_attempts", 1)
        return StorageError(f"{what}: {exc} (storage unreachable; gave up after {attempts} attempts)")

    def _head(self, key: str) -> dict[str, Any]:
        return self._call(f"head {self.uri}/{key}", "head_object", Key=self._full(key))

    def _versions(self, full: str) -> list[tuple[str, bool]]:
        """(version id, is delete marker) of every version of exactly `full`."""
        found: list[tuple[str, bool]] = []
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=full):
                found += [(v["VersionId"], False) for v in page.get("Versions", []) if v["Key"] == full]
                found += [(m["VersionId"], True) for m in page.get("DeleteMarkers", []) if m["Key"] == full]
        except ClientError as exc:
            raise _translate(exc, f"list versions of s3://{self.bucket}/{full}") from exc
        except BotoCoreError as exc:
            raise self._unreachable(f"list versions of s3://{self.bucket}/{full}", exc) from exc
        return found

    # -- the interface ------------------------------------------------------------------------------------

    def put_file(self, key: str, path: str | os.PathLike, *, retain_until: datetime | None = None,
                 content_type: str = "application/octet-stream") -> StoredObject:
        """Naive `retain_until` datetimes are taken as UTC."""
        full = self._full(key)
        where = f"{self.uri}/{key}"
        # A delete without VersionId hides a version behind a delete marker (HEAD then says 404 and the
        # server accepts IfNoneMatch); a key that ever held a version is still taken.
        if self.exists(key) or self._versions(full):
            raise ObjectExists(f"{key} already exists in {self.uri}")
        digest, size = _sha256(path)
        checksum = base64.b64encode(digest).decode("ascii")
        params: dict[str, Any] = {
            "Key": full,
            "ContentType": content_type,
            # The hash of the file on disk goes with the request, so the server checks the bytes it received
            # against it (BadDigest otherwise); a hash computed while streaming would only be known too late.
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": checksum,
            # Closes the race between the checks above and this PUT (SeaweedFS 4.48 answers 412).
            "IfNoneMatch": "*",
        }
        if retain_until is None and self.default_retain_days is not None:
            retain_until = datetime.now(timezone.utc) + timedelta(days=self.default_retain_days)
        if retain_until is not None and self.lock_mode is not None:
            params["ObjectLockMode"] = self.lock_mode
            params["ObjectLockRetainUntilDate"] = _utc(retain_until)
        with open(path, "rb") as body:  # boto3 streams a file object (and seeks back to retry)
            try:
                resp = self._call(f"put {where}", "put_object", Body=body, **params)
            except ObjectExists:
                # A retried PUT whose first attempt was stored but whose answer was lost (a 5xx or a dropped
                # connection after the server committed) meets its own object: the same bytes are already
                # there, nothing was replaced, so the put succeeded. Different bytes stay an error.
                resp = self._same_object(key, checksum)
                if resp is None:
                    raise
        if resp.get("ChecksumSHA256") != checksum:
            raise StorageError(f"put {where}: the storage reports SHA-256 {resp.get('ChecksumSHA256')!r}, "
                               f"the local file has {checksum!r}")
        return StoredObject(key, size, digest.hex(), resp.get("VersionId"))

    def _same_object(self, key: str, checksum: str) -> dict[str, Any] | None:
        head = self._call(f"head {self.uri}/{key}", "head_object", Key=self._full(key), ChecksumMode="ENABLED")
        return head if head.get("ChecksumSHA256") == checksum else None

    def open(self, key: str) -> BinaryIO:
        where = f"{self.uri}/{key}"
        # ChecksumMode makes botocore check the stored SHA-256 when the stream reaches its end.
        resp = self._call(f"get {where}", "get_object", Key=self._full(key), ChecksumMode="ENABLED")
        return io.BufferedReader(_Body(resp["Body"], f"read {where}"), CHUNK)

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ObjectMissing:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        extra = {"StartAfter": base + start_after} if start_after else {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix, PaginationConfig={"PageSize": self.list_page_size},
                **extra)
            for page in pages:
                keys += [obj["Key"][len(base):] for obj in page.get("Contents", [])]
        except ClientError as exc:
            raise _translate(exc, f"list {self.uri}/{prefix}") from exc
        except BotoCoreError as exc:
            raise self._unreachable(f"list {self.uri}/{prefix}", exc) from exc
        return iter(sorted(k for k in keys if k and not k.endswith("/")))

    def delete(self, key: str) -> None:
        """Delete every version of the key by VersionId (a plain DELETE would only add a delete marker and
        destroy nothing), data versions first, then delete markers. Never bypasses governance retention."""
        full = self._full(key)
        where = f"{self.uri}/{key}"
        versions = self._versions(full)
        if not any(not marker for _, marker in versions):
            raise ObjectMissing(f"delete {where}: not found in {self.uri}")
        for version_id, _ in sorted(versions, key=lambda v: v[1]):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=full, VersionId=version_id)
            except ClientError as exc:
                if _code(exc) == "AccessDenied":
                    raise StorageError(self._refusal(key, version_id)) from exc
                raise _translate(exc, f"delete {where}") from exc
            except BotoCoreError as exc:
                raise self._unreachable(f"delete {where}", exc) from exc

    def _refusal(self, key: str, version_id: str) -> str:
        where = f"delete {self.uri}/{key}: refused by the storage"
        try:
            head = self._call(f"head {self.uri}/{key}", "head_object", Key=self._full(key), VersionId=version_id)
        except StorageError:
            return f"{where} (AccessDenied)"
        reasons = []
        until = head.get("ObjectLockRetainUntilDate")
        if until is not None and until > datetime.now(timezone.utc):
            reasons.append(f"object is locked ({head.get('ObjectLockMode')}) until {_utc(until).isoformat()}")
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            reasons.append("under legal hold")
        return f"{where}: {' and '.join(reasons) or 'this identity may not delete it (AccessDenied)'}"

    def set_legal_hold(self, key: str, on: bool) -> None:
        self._call(f"legal hold {'on' if on else 'off'} {self.uri}/{key}", "put_object_legal_hold",
                   Key=self._full(key), LegalHold={"Status": "ON" if on else "OFF"})

    def retention(self, key: str) -> Retention:
        # head_object carries the lock fields; GetObjectRetention needs its own permission and answers
        # HTTP 500 on some servers (moto).
        head = self._head(key)
        until = head.get("ObjectLockRetainUntilDate")
        return Retention(head.get("ObjectLockMode"), _utc(until) if until else None,
                         head.get("ObjectLockLegalHoldStatus") == "ON")

    def spool_dir(self) -> str:
        if self._spool is None:
            self._spool = tempfile.mkdtemp(prefix="civic-archive-spool-")
            weakref.finalize(self, shutil.rmtree, self._spool, ignore_errors=True)
        return self._spool

    def ensure_bucket(self) -> None:
        """Create the bucket with Object Lock if it is missing; refuse a lock mode on a bucket without it."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise _translate(exc, f"head bucket {self.bucket}") from exc
            params: dict[str, Any] = {"ObjectLockEnabledForBucket": True}
            region = self.client.meta.region_name
            if region != "us-east-1":
                params["CreateBucketConfiguration"] = {"LocationConstraint": region}
            self._call(f"create bucket {self.bucket}", "create_bucket", **params)
            return
        except BotoCoreError as exc:
            raise self._unreachable(f"head bucket {self.bucket}", exc) from exc
        if self.lock_mode is not None:
            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) != "ObjectLockConfigurationNotFoundError":
                    raise _translate(exc, f"object lock configuration of {self.bucket}") from exc
                conf = {}
            except BotoCoreError as exc:
                raise self._unreachable(f"object lock configuration of {self.bucket}", exc) from exc
            if conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
                raise StorageError(f"bucket {self.bucket} has no Object Lock: objects could not be locked")


class _Body(io.RawIOBase):
    """A botocore streaming body as a raw stream whose errors are StorageErrors."""

    def __init__(self, body: Any, what: str):
        self._body = body
        self._what = what

    def readable(self) -> bool:
        return True

    def _read(self, n: int) -> bytes:
        try:
            return self._body.read(n)
        except (BotoCoreError, OSError) as exc:  # includes a checksum mismatch at the end of the stream
            raise StorageError(f"{self._what}: {exc}") from exc

    def readinto(self, buffer: Any) -> int:
        data = self._read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        chunks = []
        while data := self._read(CHUNK):
            chunks.append(data)
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: ClientError, what: str) -> StorageError:
    code = _code(exc)
    if code in _MISSING:
        return ObjectMissing(f"{what}: not found")
    if code == "PreconditionFailed":
        return ObjectExists(f"{what}: the key already exists (write-once)")
    if code in _REFUSED_CREDENTIALS:
        return StorageError(f"{what}: credentials refused by the storage ({code})")
    if code == "AccessDenied":
        return StorageError(f"{what}: refused by the storage (AccessDenied)")
    if code == "403":  # HEAD responses have no body, hence no error code
        return StorageError(f"{what}: refused by the storage (HTTP 403: wrong credentials or no permission)")
    if code == "BadDigest":
        return StorageError(f"{what}: the bytes received do not match the file's SHA-256 (BadDigest)")
    message = exc.response.get("Error", {}).get("Message") or ""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
    tried = f" (gave up after {retries + 1} attempts)" if retries else ""
    return StorageError(f"{what}: {code or status} {message}".strip() + tried)


def _sha256(path: str | os.PathLike) -> tuple[bytes, int]:
    digest, size = sha256_file(path)
    return bytes.fromhex(digest), size


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


__all__ = ["S3Store", "make_client", "LOCK_MODES"]
