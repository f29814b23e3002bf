"""Re-verify an archive from its bytes: manifest chains, object hashes, WARC record digests.

What it checks:
- every manifest parses, matches its schema, and links to its predecessor by key and SHA-256, with
  contiguous sequence numbers per chain (a changed, removed, inserted or reordered manifest shows);
- every object a manifest lists exists with the listed size and SHA-256;
- every record of every WARC file passes its `WARC-Block-Digest` / `WARC-Payload-Digest`, and each file
  opens with a `warcinfo` record;
- every records and state Parquet file decodes in full (every page of every column) and a records file has
  the record columns;
- the holds log's chain, and every hold and release document against the SHA-256 it logged;
- every chain head a fixity audit recorded (`civic_archive.heads`) is still there, unchanged;
- every export package kept under `exports/` (listed by the `exports` chain's manifests, so checked as
  above) is also still a valid bag (bagit-python: each payload file against the bag's SHA-256 and SHA-512
  manifests, the tag files against the tag manifests, no file missing or added).
Objects that no manifest lists are reported as orphans (a crashed run leaves them; they are not evidence
of anything) without failing the check.

Disposition: objects that a manifest lists but a logged, approved disposition destroyed are reported as
"disposed of (log entry N)", not as missing, once the disposition log's chain verifies and the entry's
SHA-256 for the object matches the manifest's. The disposition log's own chain, certificates, plans and
approvals are checked (`auditlog.check`); an object still present although logged as destroyed, or destroyed
by an interrupted disposition that was never logged, is a failure. Holds, plans, approvals and intents under
`holds/` and `disposition/` are the archive's own records, not orphans.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import defaultdict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

from civic_archive import manifest, records, schemas, warccheck
from civic_archive.storage import CHUNK, ArchiveStore, StorageError

IGNORED_PREFIXES = ("locks/", "cache/")  # locks/ holds run leases; cache/ holds derived speed-ups (records
# summaries) that nothing is decided from
OWN_RECORD_PREFIXES = ("holds/", "disposition/", "audit/")  # checked by the log, hold and recorded-heads checks


@dataclass
class Report:
    manifests: int = 0
    objects: int = 0
    bytes: int = 0
    warc_records: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    heads: dict[str, tuple[str, str]] = field(default_factory=dict)  # chain -> (last manifest, its sha256)
    disposed: list[tuple[str, int]] = field(default_factory=list)  # (key, disposition log entry) of purged objects
    disposition_entries: int = 0
    disposition_head: tuple[str, str] | None = None  # (newest log entry, its sha256)
    hold_entries: int = 0
    holds_head: tuple[str, str] | None = None  # (newest holds log entry, its sha256)
    export_packages: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, key: str, why: str) -> None:
        self.failures.append((key, why))

    def summary(self) -> str:
        lines = [f"manifests: {self.manifests}", f"objects: {self.objects} ({self.bytes:,} bytes)",
                 f"WARC records checked: {self.warc_records}",
                 f"orphans (written by runs that never committed): {len(self.orphans)}"]
        # The newest manifest of a chain has no successor to vouch for it: print its hash so an auditor can
        # record it outside the archive and detect a rewritten head later.
        lines += [f"chain {chain}: head {key} sha256 {digest}" for chain, (key, digest) in sorted(self.heads.items())]
        lines.append(f"disposition log: {self.disposition_entries} entries"
                     + (f"; head {self.disposition_head[0]} sha256 {self.disposition_head[1]}"
                        if self.disposition_head else ""))
        lines.append(f"holds log: {self.hold_entries} entries"
                     + (f"; head {self.holds_head[0]} sha256 {self.holds_head[1]}" if self.holds_head else ""))
        lines.append(f"export packages (BagIt) checked: {self.export_packages}")
        if self.disposed:
            lines.append(f"disposed of by logged, approved dispositions: {len(self.disposed)} objects")
            shown = self.disposed[:DISPOSED_SHOWN]
            lines += [f"  {key}: disposed of (log entry {seq})" for key, seq in shown]
            if len(self.disposed) > len(shown):
                lines.append(f"  … and {len(self.disposed) - len(shown)} more "
                             "(civic-archive audit log lists every object of every entry)")
        lines.append("result: OK" if self.ok else f"result: FAILED ({len(self.failures)} problems)")
        lines += [f"FAILED {key}: {why}" for key, why in self.failures]
        return "\n".join(lines)


DISPOSED_SHOWN = 20


def _hash_object(store: ArchiveStore, key: str) -> tuple[str, int]:
    with store.open(key) as fh:
        return _hash_stream(fh)


def _hash_stream(fh) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    while chunk := fh.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def _hash_path(path: str) -> tuple[str, int]:
    with open(path, "rb") as fh:
        return _hash_stream(fh)


def check_warc(store: ArchiveStore, key: str, report: Report,
               scan: warccheck.Scan | None = None) -> tuple[str, int]:
    """Check every record's digests (and that warcinfo comes first); return the file's sha256 and size.

    The fast check (`warccheck`, one read) settles files in the layout this archive writes. Any other file,
    and any file it finds a problem in, is read again by warcio, whose verdict and messages stand; damage
    warcio reads past without a word (a corrupt or truncated gzip member) is then reported from the fast
    check."""
    if scan is None:
        with store.open(key) as fh:
            scan = warccheck.scan(fh)
    if scan.ok:
        report.warc_records += scan.records
        return scan.sha256, scan.size
    before = len(report.failures)
    with store.open(key) as fh:
        _scan_warc(fh, key, report)
    if scan.damage and len(report.failures) == before:
        report.fail(key, f"damaged WARC: {scan.damage}")
    return scan.sha256, scan.size


def _scan_warc(fh, key: str, report: Report) -> None:
    try:
        first = True
        for rec in ArchiveIterator(fh, check_digests=True):
            if first and rec.rec_type != "warcinfo":
                report.fail(key, "first record is not warcinfo")
            first = False
            rec.content_stream().read()  # reading to the end is what runs the digest check
            report.warc_records += 1
            checker = rec.digest_checker
            if checker.problems or checker.passed is False:
                rid = rec.rec_headers.get_header("WARC-Record-ID")
                report.fail(key, f"record {rid}: digest mismatch ({'; '.join(map(str, checker.problems))})")
            if rec.rec_type != "warcinfo" and not (rec.rec_headers.get_header("WARC-Block-Digest") or "").startswith("sha256:"):
                report.fail(key, "record without a sha256 WARC-Block-Digest")
        if first:
            report.fail(key, "no WARC records")
    except Exception as exc:  # a damaged gzip member or header is a failure of this object, not of verify
        report.fail(key, f"unreadable WARC: {type(exc).__name__}: {exc}")


def parquet_problem(store: ArchiveStore, key: str, kind: str) -> str | None:
    """Why a records/state Parquet object fails its check (it must decode in full), or None."""
    def read() -> pa.Schema:
        path = store.local_path(key)
        return _decode(path if path else pa.BufferReader(store.read_bytes(key)))
    return _table_problem(read, kind)


def _parquet_path_problem(path: str, kind: str) -> str | None:
    """`parquet_problem` of a local file (the process-pool entry point)."""
    return _table_problem(lambda: _decode(path), kind)


def _decode(source) -> pa.Schema:
    """Decode every page of every column of a Parquet file and return its Arrow schema; raise if any fails.

    `scan_contents` runs Parquet's own column readers over every row group: each page is decompressed, its
    levels and values decoded (dictionary indices checked against the dictionary), and the columns must hold
    the same number of rows. It skips only building Arrow arrays (copying every string into a new buffer),
    which was ~40% of a full read's CPU. The row count must be the footer's, and the Arrow schema must
    convert, as for a full read. Batches of 4,096 values: the default 65,536 has it zero a 1 MB buffer for
    every column chunk (~8% of the scan)."""
    try:
        parquet = pq.ParquetFile(source)
        rows = parquet.scan_contents(batch_size=4096)
        if rows != parquet.metadata.num_rows:
            raise ValueError(f"{rows} rows decoded, the footer says {parquet.metadata.num_rows}")
        return parquet.schema_arrow
    except Exception:
        # Damaged: read it in full into Arrow, so the report words it as that reader does; should that read
        # pass, the failure found here stands.
        pq.read_table(source, use_threads=False)
        raise


def _table_problem(read, kind: str) -> str | None:
    """`read` decodes the whole file and returns its schema."""
    try:
        schema = read()
    except Exception as exc:
        return f"unreadable Parquet: {type(exc).__name__}: {exc}"
    if kind == "records":
        missing = set(records.COLUMNS) - set(schema.names)
        if missing:
            return f"records file lacks columns {sorted(missing)}"
    return None


def verify(store: ArchiveStore, *, deep: bool = True, workers: int | None = None) -> Report:
    """`workers`: processes reading the objects of a local archive in parallel; 1 reads everything in this
    process. By default (None) a pool of one worker per CPU (at most 8) is used only for archives of at least
    `_Reader.AUTO_POOL_BYTES`: below that, forking and feeding workers costs more than it saves (on an idle
    2-CPU machine the pool verified a 5.5 MB archive no faster, a 12.8 MB one 1.3x and a 36.6 MB one 1.6x
    faster than one process). Results are applied in manifest order, so the report is the same whatever the
    number."""
    report = Report()
    listed: set[str] = set()
    disposed, log_hashes = _check_disposition(store, report)
    chains: dict[str, list[tuple[int, str, dict, str]]] = defaultdict(list)
    manifests = []
    for key, data in manifest.iter_manifests(store):
        try:
            doc = json.loads(data)
            schemas.validate(manifest.MANIFEST_SCHEMA, doc)
            manifests.append((key, data, doc, None))
        except (ValueError, schemas.SchemaError) as exc:
            manifests.append((key, data, None, exc))
    with _Reader(store, deep, workers) as reader:
        for _, _, doc, _ in manifests:  # queue every read first: workers hash while results are applied
            for obj in (doc["objects"] if doc else []):
                if obj["key"] not in disposed:
                    reader.submit(obj)
        for key, data, doc, exc in manifests:
            report.manifests += 1
            listed.add(key)
            if doc is None:
                report.fail(key, f"manifest unreadable or invalid: {exc}")
                continue
            if manifest.manifest_key(doc["run_id"]) != key:
                report.fail(key, f"manifest names run {doc['run_id']}, not the run its key names")
            chains[doc["chain"]].append((doc["sequence"], key, doc, hashlib.sha256(data).hexdigest()))
            for obj in doc["objects"]:
                listed.add(obj["key"])
                if obj["key"] in disposed:
                    _check_disposed(store, obj, disposed[obj["key"]], report, key)
                    continue
                _check_object(store, obj, report, deep, key, reader)

    for chain, entries in chains.items():
        entries.sort(key=lambda e: (e[0], e[1]))
        prev_key, prev_hash = None, None
        for n, (seq, key, doc, digest) in enumerate(entries, start=1):
            if seq != n:
                report.fail(key, f"chain {chain}: sequence {seq} where {n} was expected "
                                 "(a manifest was removed, inserted or duplicated)")
            link = doc["previous"]
            if n == 1 and link is not None:
                report.fail(key, f"chain {chain}: first manifest points at {link['key']}, which is missing")
            elif n > 1 and (link is None or link["key"] != prev_key):
                report.fail(key, f"chain {chain}: previous-manifest link names "
                                 f"{link and link['key']}, not {prev_key}")
            elif n > 1 and link["sha256"] != prev_hash:
                report.fail(prev_key, f"chain {chain}: content differs from the SHA-256 its successor {key} recorded")
            prev_key, prev_hash = key, digest
        report.heads[chain] = (prev_key, prev_hash)

    # every head a fixity audit recorded must still be there, unchanged (a chain cut back verifies otherwise)
    from civic_archive import heads

    hashes = {key: hashlib.sha256(data).hexdigest() for key, data, _, _ in manifests}
    for key, why in heads.check(store, {**hashes, **log_hashes}):
        report.fail(key, why)

    _check_exports(store, report, listed)
    for key in store.list(""):
        if key.startswith("exports/") and key.count("/") == 2 and key.endswith(_REQUEST_RECORDS):
            continue
        if key not in listed and not key.startswith(IGNORED_PREFIXES + OWN_RECORD_PREFIXES):
            report.orphans.append(key)
    report.disposed.sort()
    return report


def _check_exports(store: ArchiveStore, report: Report, listed: set[str]) -> None:
    """Each export package a manifest lists (`exports/{request_id}/{export_id}/`, the `exports` chain) is
    also validated as the bag it was written as, by bagit-python, from a copy of its listed files (hard
    links for a local archive, downloads otherwise): its manifests must still describe its files."""
    import tempfile

    import bagit

    packages: dict[str, list[str]] = defaultdict(list)
    for key in listed:
        parts = key.split("/")
        if parts[0] == "exports" and len(parts) >= 4:
            packages["/".join(parts[:3]) + "/"].append(key)
    for prefix, keys in sorted(packages.items()):
        report.export_packages += 1
        with tempfile.TemporaryDirectory(prefix="civic-archive-bag-", dir=store.spool_dir()) as root:
            try:
                for key in keys:
                    dest = Path(root, *key[len(prefix):].split("/"))
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    if not _linked(store.local_path(key), dest):
                        with store.open(key) as src, open(dest, "wb") as out:
                            while chunk := src.read(CHUNK):
                                out.write(chunk)
            except (OSError, StorageError):
                continue  # a listed file missing or unreadable: already reported by the object check
            try:
                bagit.Bag(root).validate(processes=1)
            except bagit.BagValidationError as exc:
                details = "; ".join(str(d) for d in (exc.details or [])[:5])
                report.fail(prefix, f"export package is not the bag it was written as: {exc.message}"
                                    + (f" ({details})" if details else ""))
            except bagit.BagError as exc:
                report.fail(prefix, f"export package is not a readable bag: {exc}")


def _linked(path: str | None, dest: Path) -> bool:
    try:
        if path:
            os.link(path, dest)
            return True
    except OSError:  # another filesystem: copied instead
        pass
    return False


_REQUEST_RECORDS = ("request.json", "closed.json")  # exports/{request_id}/…: records_request's own records


def _check_disposition(store: ArchiveStore, report: Report) -> tuple[dict[str, tuple[int, str]], dict[str, str]]:
    """Check the disposition log, holds and interrupted dispositions. Returns key -> (entry, sha256) of every
    object a verified log entry disposed of, and the SHA-256 of every entry of both logs, by key."""
    from civic_archive import auditlog, disposition, holds

    log = auditlog.check(store)
    for key, why in log.problems:
        report.fail(key, f"disposition log: {why}")
    report.disposition_entries = len(log.entries)
    if log.head is not None:
        report.disposition_head = (log.head.key, log.head.sha256)
    # Only entries whose chain is intact vouch for a destruction.
    bad = {k for k, _ in log.problems}
    disposed = {}
    for entry in log.entries:
        if entry.key in bad:
            continue
        for obj in entry.doc.get("objects", []):
            disposed[obj["key"]] = (entry.sequence, obj["sha256"])
    docs = holds.documents(store)
    held = holds.check_log(store, docs)
    report.hold_entries, report.holds_head = len(held.logged), held.head
    for key, why in held.problems:
        report.fail(key, why)
    for key in held.unlogged:
        report.fail(key, "release not in the holds log: not in effect until `civic-archive hold release` is run "
                         "again" if key.endswith(holds.RELEASED_SUFFIX) else
                         "hold not in the holds log (a `hold add` interrupted, or written by hand): it is honoured")
    if not held.problems:
        try:
            holds.list_holds(store, docs=docs, state=held)
        except holds.HoldError as exc:
            report.fail("holds/", str(exc))
    for key, intent in disposition.intents(store):
        for obj in intent.get("objects", []):
            if obj["key"] not in disposed and not store.exists(obj["key"]):
                report.fail(obj["key"], f"destroyed by an interrupted disposition ({key}) that was never logged; "
                                        f"run `civic-archive disposition execute {intent.get('plan_id')}` to "
                                        "complete and log it")
                disposed.setdefault(obj["key"], (0, obj.get("sha256", "")))  # named once, not again as missing
    return disposed, {**log.hashes, **held.hashes}


def _check_disposed(store: ArchiveStore, obj: dict, logged: tuple[int, str], report: Report,
                    manifest_key: str) -> None:
    key = obj["key"]
    report.objects += 1
    sequence, digest = logged
    if sequence == 0:
        return  # an interrupted disposition: already reported
    if store.exists(key):
        report.fail(key, f"disposition log entry {sequence} says it was destroyed, but it is still present")
        return
    if digest != obj["sha256"]:
        report.fail(key, f"disposition log entry {sequence} records SHA-256 {digest}, {manifest_key} "
                         f"records {obj['sha256']}")
        return
    report.disposed.append((key, sequence))


class _Reader:
    """Reads listed objects ahead when the archive is a local folder and there is enough to read: forked
    worker processes hash the files, check the WARCs (a big WARC in parts, see `warccheck.scan_part`) and
    decode the Parquet files (one thread each: a decoding thread next to the pool ran 5-8x slower than
    alone on a 2-CPU machine, competing with the workers), longest job first. Results are taken in manifest
    order and a Parquet outcome is used only once its object's hash has matched, so the report is the same
    as reading everything in turn. A read that fails ahead is done again in turn, so errors are the store's
    own."""

    MIN_PARALLEL_BYTES = 8 << 20  # below this, a pool is never used
    AUTO_POOL_BYTES = 16 << 20  # ... and below this, only when asked for (workers > 1)
    PART_BYTES = 2 << 20  # a WARC at least twice this size is checked in parts

    def __init__(self, store: ArchiveStore, deep: bool, workers: int | None):
        self.store, self.deep = store, deep
        self.auto = workers is None
        self.workers = min(os.cpu_count() or 1, 8) if workers is None else workers
        self.jobs: list[tuple[dict, str]] = []
        self.ahead: dict[int, list] = {}  # id(obj) -> [whole-file future, futures of its parts]
        self.parquet: dict[int, Future] = {}
        self.pool: ProcessPoolExecutor | None = None
        self.started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def submit(self, obj: dict) -> None:
        if self.workers > 1:
            try:
                path = self.store.local_path(obj["key"])
            except StorageError:
                path = None
            if path is not None:
                self.jobs.append((obj, path))

    def _start(self) -> None:
        self.started = True
        total = sum(obj["size"] for obj, _ in self.jobs)
        if not self.jobs or total < max(self.MIN_PARALLEL_BYTES, self.AUTO_POOL_BYTES if self.auto else 0):
            return
        # Pages Arrow keeps for reuse would be shared with the forked workers and copied as soon as they
        # allocate into them (a pooled verify right after an in-process one ran 2-3x slower): give them back.
        pa.default_memory_pool().release_unused()
        # fork: the workers start in milliseconds with what this process has loaded (hashlib, ISA-L, Arrow)
        self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        # Longest first, so no worker is left with a long job at the end while the others idle. Costs are per
        # byte, measured on this project's archives: inflating and checking WARC records ~18 ns, decoding
        # zstd Parquet ~5 ns (records; state files ~2.5 ns), hashing ~1 ns.
        tasks: list[tuple[float, int, str, object, tuple]] = []
        for obj, path in self.jobs:
            size = obj["size"]
            if self.deep and obj["kind"] == "warc" and size >= 2 * self.PART_BYTES:
                n = min(2 * self.workers, size // self.PART_BYTES)
                bounds = [size * i // n for i in range(n)] + [None]
                tasks += [(18 * size / n, id(obj), "part", warccheck.scan_part, (path, a, b))
                          for a, b in zip(bounds, bounds[1:])]
                tasks.append((size, id(obj), "whole", _hash_path, (path,)))
            elif self.deep and obj["kind"] == "warc":
                tasks.append((18 * size, id(obj), "whole", warccheck.scan_path, (path,)))
            else:
                tasks.append((size, id(obj), "whole", _hash_path, (path,)))
            if self.deep and obj["kind"] in ("records", "state"):
                tasks.append((5 * size, id(obj), "parquet", _parquet_path_problem, (path, obj["kind"])))
        tasks.sort(key=lambda task: -task[0])  # stable: a WARC's parts stay in file order
        for _, ident, role, fn, args in tasks:
            future = self.pool.submit(fn, *args)
            if role == "parquet":
                self.parquet[ident] = future
            elif role == "part":
                self.ahead.setdefault(ident, [None, []])[1].append(future)
            else:
                self.ahead.setdefault(ident, [None, []])[0] = future

    def result(self, obj: dict):
        """A `warccheck.Scan` or (sha256, size) read ahead for `obj`, or None (read it here)."""
        if not self.started:
            self._start()
        whole, parts = self.ahead.pop(id(obj), (None, []))
        if whole is None:
            return None
        try:
            if parts:
                return warccheck.join(*whole.result(), [part.result() for part in parts])
            return whole.result()
        except Exception:  # noqa: BLE001 - e.g. a vanished file or a killed worker: read it here instead
            return None

    def parquet_problem(self, store: ArchiveStore, obj: dict) -> str | None:
        future = self.parquet.pop(id(obj), None)
        if future is not None:
            try:
                return future.result()
            except Exception:  # noqa: BLE001 - e.g. a killed worker: decode it here instead
                pass
        return parquet_problem(store, obj["key"], obj["kind"])


def _check_object(store: ArchiveStore, obj: dict, report: Report, deep: bool, manifest_key: str,
                  reader: _Reader | None = None) -> None:
    key = obj["key"]
    report.objects += 1
    ahead = reader.result(obj) if reader else None
    try:
        if deep and obj["kind"] == "warc":
            scan = ahead if isinstance(ahead, warccheck.Scan) else None
            digest, size = check_warc(store, key, report, scan)  # one read: record digests and file hash
        elif isinstance(ahead, tuple):
            digest, size = ahead
        else:
            digest, size = _hash_object(store, key)
    except StorageError as exc:
        report.fail(key, f"missing or unreadable: {exc}")
        return
    report.bytes += size
    if size != obj["size"]:
        report.fail(key, f"size {size} differs from the {obj['size']} recorded in {manifest_key}")
    if digest != obj["sha256"]:
        report.fail(key, f"sha256 differs from the one recorded in {manifest_key}")
        return
    if deep and obj["kind"] in ("records", "state"):
        problem = reader.parquet_problem(store, obj) if reader else parquet_problem(store, key, obj["kind"])
        if problem:
            report.fail(key, problem)
