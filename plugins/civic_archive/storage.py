"""Where archive objects live: one small interface, a local-folder backend and an S3 backend.

Objects are write-once. `put_*` never replaces an existing key (it raises `ObjectExists`); the only way an
object goes away is `delete`, which the disposition job alone calls. Every put returns the object's size and
SHA-256 so the caller can list it in the run manifest without reading it again.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import urlparse

CHUNK = 1 << 20

# Keys are built only from validated parts (account ids, run ids, dates), but the store checks again so that
# no caller, however buggy, can write outside the archive root.
_KEY_RE = re.compile(r"^[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*$")


class StorageError(Exception):
    """The storage refused or failed an operation."""


class ObjectExists(StorageError):
    """A put tried to replace an object; archive objects are write-once."""


class ObjectMissing(StorageError):
    """The key names no object."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str  # lowercase hex
    version_id: str | None = None


@dataclass(frozen=True)
class Retention:
    mode: str | None  # GOVERNANCE | COMPLIANCE | None
    retain_until: datetime | None
    legal_hold: bool


def check_key(key: str) -> str:
    if not _KEY_RE.fullmatch(key) or any(part in (".", "..") or part.startswith(".") for part in key.split("/")):
        raise StorageError(f"unsafe archive key {key!r}")
    return key


def sha256_file(path: str | os.PathLike) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class ArchiveStore(ABC):
    """The operations the archive needs from storage, nothing more."""

    uri: str

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike, *, retain_until: datetime | None = None,
                 content_type: str = "application/octet-stream") -> StoredObject:
        """Store a local file under `key` (write-once), locked until `retain_until` where supported."""

    def put_bytes(self, key: str, data: bytes, *, retain_until: datetime | None = None,
                  content_type: str = "application/octet-stream") -> StoredObject:
        with tempfile.NamedTemporaryFile(dir=self.spool_dir(), delete=False) as tmp:
            tmp.write(data)
        try:
            return self.put_file(key, tmp.name, retain_until=retain_until, content_type=content_type)
        finally:
            if os.path.exists(tmp.name):
                os.unlink(tmp.name)

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object."""

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def list(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        """Keys under `prefix`, sorted; only those after `start_after` when given."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Destroy the object (disposition only). On S3 this deletes the locked version itself, which the
        server refuses while its retention or a legal hold is in force."""

    @abstractmethod
    def set_legal_hold(self, key: str, on: bool) -> None: ...

    @abstractmethod
    def retention(self, key: str) -> Retention: ...

    @abstractmethod
    def spool_dir(self) -> str:
        """A local scratch folder for files being built before they are put (same filesystem when local)."""

    def local_path(self, key: str) -> str | None:
        """A filesystem path for the object when the backend has one (lets readers mmap instead of copy)."""
        return None


class LocalStore(ArchiveStore):
    """An archive in a local folder. Atomic, write-once puts: the file is written under a temporary name in
    the same filesystem, fsynced, then hard-linked to its key (link() refuses an existing target, so two
    writers can never replace each other's object) and made read-only. A local folder cannot enforce
    retention: legal holds are recorded in a sidecar folder so disposition still honours them."""

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = Path(root).resolve()
        self.uri = f"file://{self.root}"
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise StorageError(f"no archive at {self.root}")
        self._spool = self.root / ".spool"
        self._holds = self.root / ".legal-holds"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def spool_dir(self) -> str:
        self._spool.mkdir(parents=True, exist_ok=True)
        return str(self._spool)

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    def put_file(self, key, path, *, retain_until=None, content_type="application/octet-stream"):
        dest = self._path(key)
        if dest.exists():
            raise ObjectExists(f"{key} already exists in {self.uri}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if Path(path).resolve().is_relative_to(self._spool):
            return self._put_spooled(key, Path(path), dest)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".put-")
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            self._link(tmp, dest, key)
        finally:
            os.unlink(tmp)
        return StoredObject(key, size, h.hexdigest())

    def _put_spooled(self, key: str, src: Path, dest: Path) -> StoredObject:
        """A file built in this archive's spool is on the same filesystem: fsync it and link it into place
        instead of copying (the spool copy is removed with the run's spool)."""
        digest, size = sha256_file(src)
        fd = os.open(src, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._link(str(src), dest, key)
        return StoredObject(key, size, digest)

    def _link(self, src: str, dest: Path, key: str) -> None:
        os.chmod(src, 0o444)
        try:
            os.link(src, dest)
        except FileExistsError:
            raise ObjectExists(f"{key} already exists in {self.uri}") from None
        _fsync_dir(dest.parent)

    def open(self, key):
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(f"{key} not found in {self.uri}") from None

    def exists(self, key):
        return self._path(key).is_file()

    def size(self, key):
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectMissing(f"{key} not found in {self.uri}") from None

    def list(self, prefix="", start_after=""):
        base = self.root
        # Walk only the folder the prefix names (not the whole archive): at 10M records a full walk costs
        # ~0.2 s a call.
        folder = prefix.rpartition("/")[0]
        top = base
        if folder and not any(part in ("", ".", "..") or part.startswith(".") for part in folder.split("/")):
            top = base.joinpath(*folder.split("/"))
            if not top.is_dir():
                return iter([])
        keys = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, base)
            for name in filenames:
                if name.startswith("."):
                    continue
                key = name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"
                if key.startswith(prefix) and key > start_after:
                    keys.append(key)
        return iter(sorted(keys))

    def delete(self, key):
        if self.retention(key).legal_hold:
            raise StorageError(f"{key} is under a legal hold")
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            raise ObjectMissing(f"{key} not found in {self.uri}") from None

    def _hold_marker(self, key: str) -> Path:
        return self._holds / check_key(key)

    def set_legal_hold(self, key, on):
        if not self.exists(key):
            raise ObjectMissing(f"{key} not found in {self.uri}")
        marker = self._hold_marker(key)
        if on:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        elif marker.exists():
            marker.unlink()

    def retention(self, key):
        return Retention(None, None, self._hold_marker(key).exists())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_store(uri: str, *, create: bool = True, **options) -> ArchiveStore:
    """`file://PATH`, a bare path, or `s3://bucket/prefix` (endpoint from AWS_ENDPOINT_URL). With
    `create=False` a local archive must already exist (readers such as `verify` must not invent one)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        return LocalStore(path, create=create)
    if parsed.scheme == "s3":
        from civic_archive.s3store import S3Store

        return S3Store(parsed.netloc, parsed.path.strip("/"), **options)
    raise StorageError(f"unsupported archive URI {uri!r} (use file://PATH or s3://BUCKET/PREFIX)")


__all__ = [
    "ArchiveStore", "LocalStore", "StoredObject", "Retention", "StorageError", "ObjectExists", "ObjectMissing",
    "open_store", "check_key", "sha256_file",
]
