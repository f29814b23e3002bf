"""An account lease: at most one harvest of an account at a time, so its manifest chain never forks.

A run reads the chain head when it commits (`ArchiveRun.commit`); two runs of the same account at once would
both link to the same predecessor and fork the chain, and both would diff against the same state. The lease
serialises them: the second run waits (up to `wait` seconds) and then fails cleanly with `LeaseHeld`, before
it has written anything.

- Local folder: an `fcntl.flock` on `{root}/.locks/{account}.lock`. The kernel drops the lock when its holder
  exits, however it dies (kill -9 included), so no expiry is needed. `.locks/` is not part of the archive
  (`list` skips dot-folders; `verify` never sees it).
- S3 (or any other store): lease objects `locks/{account}/{unix ms}-{holder}.lease`, written with a
  conditional put (If-None-Match), renewed by a new lease object every `ttl`/4 while the run lives, and a
  `{unix ms}-{holder}.released` marker when it ends (the harvester identity need not delete anything). A
  holder is *live* while it has not released and its newest lease is younger than `ttl`: a crashed holder,
  or one that lost the storage and could not release, blocks the account for at most one TTL. A newcomer
  writes its lease, lists again, and holds the account only if it is then the only live holder; otherwise it
  releases and backs off. Two newcomers can never both win: each would have had to list before the other's
  put, which S3's read-after-write and list consistency rules out (at worst both back off and retry).
- Whatever the store, `Lease.check()` re-reads the chain head just before the commit and refuses it
  (`LeaseLost`) if another run committed since the lease was taken: a holder that outlived its TTL cannot fork
  the chain; its objects are left as orphans and the next run redoes the work.
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from civic_archive import manifest
from civic_archive.storage import ArchiveStore, LocalStore, ObjectExists, StorageError

DEFAULT_TTL_SECONDS = 20 * 60  # renewed every TTL/4 while the run lives; matters only once a holder is gone
PREFIX = "locks/"
log = logging.getLogger(__name__)


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


def _entries(store: ArchiveStore, account_id: str, since_ms: int) -> tuple[dict[str, int], dict[str, int]]:
    """Newest lease time and newest release time per holder, among objects from `since_ms` on (keys start
    with the time, so older ones are never listed: the folder grows, the listing does not)."""
    newest: dict[str, int] = {}
    released: dict[str, int] = {}
    prefix = f"{PREFIX}{account_id}/"
    for key in store.list(prefix, start_after=f"{prefix}{max(0, since_ms):013d}"):
        stem, _, ext = key.rsplit("/", 1)[1].rpartition(".")
        ms, _, holder = stem.partition("-")
        if not ms.isdigit() or not holder:
            continue
        if ext == "lease":
            newest[holder] = max(newest.get(holder, 0), int(ms))
        elif ext == "released":
            released[holder] = max(released.get(holder, 0), int(ms))
    return newest, released


def live_leases(store: ArchiveStore, account_id: str, ttl: float, now: float | None = None) -> list[str]:
    """Holders whose newest lease (or renewal) is younger than `ttl` and later than their last release (a
    holder that backed off from a simultaneous start may take the lease again)."""
    now_ms = int((time.time() if now is None else now) * 1000)
    # Twice the TTL back: a little clock skew between hosts never hides a live lease.
    newest, released = _entries(store, account_id, now_ms - int(2 * ttl * 1000))
    return sorted(h for h, ms in newest.items() if ms > released.get(h, -1) and now_ms - ms < ttl * 1000)


def _put_marker(store: ArchiveStore, account_id: str, holder: str, ext: str, doc: dict) -> str:
    key = f"{PREFIX}{account_id}/{int(time.time() * 1000):013d}-{holder}.{ext}"
    try:
        store.put_bytes(key, json.dumps(doc).encode(), content_type="application/json")
    except ObjectExists:  # the same holder twice in one millisecond: the first one says it already
        pass
    return key


def _release(store: ArchiveStore, account_id: str, holder: str) -> None:
    """Best effort: when the storage is down the release cannot be written; the lease then lapses after its
    TTL (the renewals have stopped), and the run's own error is the one reported."""
    try:
        _put_marker(store, account_id, holder, "released", {"holder": holder})
    except StorageError as exc:
        log.warning("could not release the lease of %s (%s); it lapses after its TTL", account_id, exc)


def _renew(store: ArchiveStore, account_id: str, holder: str, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            _put_marker(store, account_id, holder, "lease", {"holder": holder, "renewal": True})
        except StorageError as exc:  # the run itself will meet the outage and fail; keep trying meanwhile
            log.warning("could not renew the lease of %s: %s", account_id, exc)


@contextmanager
def _object_lease(store: ArchiveStore, account_id: str, wait: float, ttl: float, holder: str) -> Iterator[Lease]:
    _safe(account_id)
    deadline = time.monotonic() + wait
    while True:
        live = live_leases(store, account_id, ttl)
        if not live:
            doc = {"account": account_id, "holder": holder, "ttl_seconds": ttl,
                   "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            key = _put_marker(store, account_id, holder, "lease", doc)
            live = live_leases(store, account_id, ttl)
            if live == [holder]:
                break
            _release(store, account_id, holder)  # someone else came at the same moment: back off, never both win
            live = [h for h in live if h != holder]
        if time.monotonic() >= deadline:
            raise LeaseHeld(f"account {account_id} is being harvested "
                            f"({', '.join(live) or 'a simultaneous start'}); waited {wait:g} s")
        time.sleep(min(random.uniform(0.1, 0.5), max(0.01, deadline - time.monotonic())))
    # Renewals keep a long run's lease alive, so the TTL only has to outlast a renewal interval: a holder
    # that dies (or loses the storage) blocks the account for at most one TTL.
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(store, account_id, holder, ttl / 4, stop),
                               name=f"lease-{account_id}", daemon=True)
    renewer.start()
    try:
        yield Lease(store, account_id, holder, manifest.chain_head(store, account_id), key)
    finally:
        stop.set()
        renewer.join()
        _release(store, account_id, holder)
