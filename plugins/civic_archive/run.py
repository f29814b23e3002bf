"""One archive run: its WARC files, the objects it writes, and its manifest.

Everything a run produces is built in a local spool folder first and put into the archive only when the run
commits: objects in an order where nothing is referenced before it exists (WARCs, then records and state,
then the report) and the manifest last. A run that crashes or fails before the manifest is written leaves
either nothing or unreferenced orphans, never a manifest that names a missing or partial object; the next
run starts over from the last committed state.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from civic_archive import SOFTWARE, manifest
from civic_archive.storage import ArchiveStore, StoredObject
from civic_archive.warc import WarcFile

log = logging.getLogger(__name__)


@dataclass
class Pending:
    key: str
    path: str
    kind: str
    records: int | None = None
    retain_until: datetime | None = None
    content_type: str = "application/octet-stream"
    summary: dict[str, list] | None = None  # a records file's summary (recordscan.FileSummary), for the manifest


@dataclass
class ArchiveRun:
    store: ArchiveStore
    chain: str
    warcinfo: dict[str, str]
    warc_max_bytes: int = 1024 ** 3
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    make_warc: Callable[..., WarcFile] = WarcFile
    run_id: str = ""
    started_at: datetime | None = None
    pending: list[Pending] = field(default_factory=list)
    committed: list[tuple[StoredObject, str, int | None]] = field(default_factory=list)

    def __post_init__(self):
        self.started_at = self.clock()
        self.run_id = self.run_id or self._next_run_id()
        self._clear_crashed_spools()
        self.spool = tempfile.mkdtemp(prefix=f"{self.run_id}.", dir=self.store.spool_dir())
        self._warc: WarcFile | None = None
        self._warc_count = 0

    def _clear_crashed_spools(self) -> None:
        """Remove the spool folders of this chain's earlier runs: a run that crashed leaves its folder (up to a
        whole WARC file) behind, and every earlier run of the chain has ended, since runs of an account hold
        its lease, which this run's caller holds now (found by an audit: they stayed after a resume)."""
        spool_dir = self.store.spool_dir()
        for name in os.listdir(spool_dir):
            path = os.path.join(spool_dir, name)
            if manifest.chain_of(name) == self.chain and os.path.isdir(path):
                log.info("removing the spool of an earlier run of %s that did not clean up: %s", self.chain, path)
                shutil.rmtree(path, ignore_errors=True)

    def _next_run_id(self) -> str:
        """A run id that sorts after the chain's newest run, whatever the clock says: the chain's order is its
        keys' order, so a run stamped before the head (a clock set back after a run with a clock ahead) would
        link to the wrong manifest and break the chain (found by an audit). Such a run is stamped 1 µs after
        the head instead, and the clock's time is still what its manifest records as `started_at`."""
        run_id = manifest.new_run_id(self.chain, self.started_at)
        keys = manifest.chain_keys(self.store, self.chain)
        head = keys[-1][len(manifest.PREFIX):-len(".json")] if keys else None
        if head is not None and run_id <= head:
            stamp = datetime.strptime(head.split(".")[1], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc)
            run_id = manifest.new_run_id(self.chain, stamp + timedelta(microseconds=1))
            log.warning("the clock (%s) is behind chain %s's newest run %s: this run is %s", self.started_at,
                        self.chain, head, run_id)
        return run_id

    # -- WARC files -------------------------------------------------------------------------------------------
    def warc(self) -> WarcFile:
        """The WARC file to write into now; rolls over to a new file past `warc_max_bytes`."""
        if self._warc is not None and self._warc.size >= self.warc_max_bytes:
            self._close_warc()
        if self._warc is None:
            when = self.started_at
            key = f"warc/{self.chain}/{when:%Y}/{when:%m}/{self.run_id}-{self._warc_count}.warc.gz"
            info = {"software": SOFTWARE, "hostname": socket.gethostname(), "isPartOf": self.chain,
                    "description": f"civic-archive run {self.run_id}", "run-id": self.run_id, **self.warcinfo}
            self._warc = self.make_warc(os.path.join(self.spool, os.path.basename(key)), key, info)
            self._warc_count += 1
        return self._warc

    def _close_warc(self) -> None:
        if self._warc is not None:
            self._warc.close()
            self.pending.append(Pending(self._warc.key, self._warc.path, "warc", self._warc.records,
                                        content_type="application/warc"))
            self._warc = None

    # -- other objects ----------------------------------------------------------------------------------------
    def spool_path(self, name: str) -> str:
        return os.path.join(self.spool, name)

    def add_file(self, key: str, path: str, kind: str, records: int | None = None, **kw: Any) -> None:
        self.pending.append(Pending(key, path, kind, records, **kw))

    def add_bytes(self, key: str, data: bytes, kind: str, records: int | None = None, **kw: Any) -> None:
        path = self.spool_path(f"obj-{len(self.pending)}")
        with open(path, "xb") as fh:
            fh.write(data)
        self.add_file(key, path, kind, records, **kw)

    def set_retention(self, key: str, retain_until: datetime | None) -> None:
        for p in self.pending:
            if p.key == key:
                p.retain_until = retain_until

    # -- commit -----------------------------------------------------------------------------------------------
    def commit(self, extra: dict[str, Any] | None = None,
               lock_dates: Callable[[list[Pending]], dict[str, datetime | None]] | None = None) -> StoredObject:
        """`lock_dates` gives the retain-until of the run's objects (keyed by key), from the full list of
        pending objects, the last WARC file included."""
        self._close_warc()
        locks = lock_dates(self.pending) if lock_dates else {}
        order = {"warc": 0, "quarantine": 1, "records": 2, "state": 3, "report": 4}
        for p in sorted(self.pending, key=lambda p: order.get(p.kind, 5)):
            retain_until = p.retain_until or locks.get(p.key)
            obj = self.store.put_file(p.key, p.path, retain_until=retain_until, content_type=p.content_type)
            self.committed.append((obj, p.kind, p.records))
        previous = manifest.chain_head(self.store, self.chain)
        doc = manifest.build(run_id=self.run_id, objects=self.committed, previous=previous,
                             started_at=self.started_at, finished_at=self.clock(), extra=extra,
                             summaries={p.key: p.summary for p in self.pending if p.summary is not None})
        stored = manifest.commit(self.store, doc)
        self.cleanup()
        return stored

    def cleanup(self) -> None:
        if self._warc is not None:
            self._warc.close()
            self._warc = None
        shutil.rmtree(self.spool, ignore_errors=True)
