"""An account lease: at most one harvest of an account at a time, so its manifest chain never forks.

A run reads the chain head when it commits (`ArchiveRun.commit`); two runs of the same account at once would
both link to the same predecessor and fork the chain, and both would diff against the same state. The lease
serialises them: the second run waits (up to `wait` seconds) and then fails cleanly with `LeaseHeld`, before
it has written anything.

- Local folder: an `fcntl.flock` on `{root}/.locks/{account}.lock`. The kernel drops the lock when its holder
  exits, however it dies (kill -9 included), so no expiry is needed. `.locks/` is not part of the archive
  (`list` skips dot-folders; `verify` never sees it).
- S3 (or any other store): lease objects `locks/{account}/{unix ms}-{holder}.lease`, written with a
  conditional put (If-None-Match), and `….released` markers when they end (the harvester identity need not
  delete anything). A lease is *live* while it has no released marker and is younger than `ttl` (a crashed
  holder's lease expires). A newcomer writes its lease, lists again, and holds the account only if its own
  lease is then the only live one; otherwise it releases it and backs off. Two newcomers can never both win:
  each would have had to list before the other's put, which S3's read-after-write and list consistency rules
  out (at worst both back off and retry).
- Whatever the store, `Lease.check()` re-reads the chain head just before the commit and refuses it
  (`LeaseLost`) if another run committed since the lease was taken: a holder that outlived its TTL cannot fork
  the chain; its objects are left as orphans and the next run redoes the work.
"""
from __future__ import annotations

import json
import os
import random
import re
import secrets
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from civic_archive import manifest
from civic_archive.storage import ArchiveStore, LocalStore, ObjectExists, StorageError

DEFAULT_TTL_SECONDS = 6 * 3600  # far longer than any run; only matters after a holder crashed on S3
PREFIX = "locks/"


class LeaseHeld(StorageError):
    """Another harvest of the account holds the lease."""


class LeaseLost(StorageError):
    """The account's chain moved while this run held (or believed it held) the lease: commit refused."""


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def make_holder() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Lease:
    store: ArchiveStore
    account_id: str
    holder: str
    head: manifest.Link | None
    key: str | None = None  # the lease object (object leases only)

    def check(self) -> None:
        """Refuse to commit if the account's chain moved since the lease was taken."""
        now = manifest.chain_head(self.store, self.account_id)
        if now != self.head:
            raise LeaseLost(f"account {self.account_id}: another run committed {now and now.key} while this run "
                            f"held the lease (taken at head {self.head and self.head.key}); not committing")


@contextmanager
def account_lease(store: ArchiveStore, account_id: str, *, wait: float | None = None, ttl: float | None = None,
                  holder: str | None = None) -> Iterator[Lease]:
    """Hold the account's lease for the duration of the block. `wait` (default: env
    CIVIC_ARCHIVE_LEASE_WAIT_SECONDS, else 0) is how long to wait for a running harvest to finish."""
    wait = _env_float("CIVIC_ARCHIVE_LEASE_WAIT_SECONDS", 0.0) if wait is None else wait
    ttl = _env_float("CIVIC_ARCHIVE_LEASE_TTL_SECONDS", DEFAULT_TTL_SECONDS) if ttl is None else ttl
    holder = holder or make_holder()
    if isinstance(store, LocalStore):
        with _file_lease(store, account_id, wait, holder) as lease:
            yield lease
    else:
        with _object_lease(store, account_id, wait, ttl, holder) as lease:
            yield lease


@contextmanager
def _file_lease(store: LocalStore, account_id: str, wait: float, holder: str) -> Iterator[Lease]:
    import fcntl

    locks = store.root / ".locks"
    locks.mkdir(exist_ok=True)
    path = locks / f"{_safe(account_id)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    other = path.read_text(errors="replace").strip() or "another process"
                    raise LeaseHeld(f"account {account_id} is being harvested by {other} "
                                    f"(lock {path}); waited {wait:g} s") from None
                time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode(), 0)
        yield Lease(store, account_id, holder, manifest.chain_head(store, account_id))
    finally:
        os.close(fd)  # closing the descriptor drops the flock


def _safe(account_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", account_id):
        raise StorageError(f"unsafe account id for a lease: {account_id!r}")
    return account_id


def _entries(store: ArchiveStore, account_id: str) -> tuple[list[tuple[int, str]], set[str]]:
    leases, released = [], set()
    for key in store.list(f"{PREFIX}{account_id}/"):
        name = key.rsplit("/", 1)[1]
        stem, _, ext = name.rpartition(".")
        ms, _, _ = stem.partition("-")
        if ext == "lease" and ms.isdigit():
            leases.append((int(ms), key))
        elif ext == "released":
            released.add(f"{key.rsplit('/', 1)[0]}/{stem}.lease")
    return sorted(leases), released


def live_leases(store: ArchiveStore, account_id: str, ttl: float, now: float | None = None) -> list[str]:
    now_ms = int((time.time() if now is None else now) * 1000)
    leases, released = _entries(store, account_id)
    return [key for ms, key in leases if key not in released and now_ms - ms < ttl * 1000]


def _release(store: ArchiveStore, key: str) -> None:
    try:
        store.put_bytes(key.removesuffix(".lease") + ".released", b"released\n", content_type="text/plain")
    except ObjectExists:
        pass


@contextmanager
def _object_lease(store: ArchiveStore, account_id: str, wait: float, ttl: float, holder: str) -> Iterator[Lease]:
    _safe(account_id)
    deadline = time.monotonic() + wait
    while True:
        live = live_leases(store, account_id, ttl)
        if not live:
            key = f"{PREFIX}{account_id}/{int(time.time() * 1000):013d}-{holder}.lease"
            doc = {"account": account_id, "holder": holder, "ttl_seconds": ttl,
                   "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            store.put_bytes(key, json.dumps(doc).encode(), content_type="application/json")
            live = live_leases(store, account_id, ttl)
            if live == [key]:
                break
            _release(store, key)  # someone else came at the same moment: back off, never both win
            live = [k for k in live if k != key]
        if time.monotonic() >= deadline:
            raise LeaseHeld(f"account {account_id} is being harvested "
                            f"({', '.join(k.rsplit('/', 1)[1] for k in live) or 'a simultaneous start'}); "
                            f"waited {wait:g} s")
        time.sleep(min(random.uniform(0.1, 0.5), max(0.01, deadline - time.monotonic())))
    try:
        yield Lease(store, account_id, holder, manifest.chain_head(store, account_id), key)
    finally:
        _release(store, key)
