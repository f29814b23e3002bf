"""One harvest run of one account: walk the platform, detect changes, write WARC + Parquet, commit.

Memory stays flat as the account grows: observed items are spooled to Parquet during the walk, change
detection is a DuckDB join against the account's state, and records are written from the join's output in
Arrow batches. Nightly runs walk only the re-check window (top-level items created in the last
`recheck_days`, with all their comments and replies); a periodic full sweep (every `full_sweep_days`, and
the first harvest of an account) walks everything, so edits and deletions of older items are still caught.
Cursors are never kept between runs: every walk starts from the top of the listing.

Failures are contained: an API error or an expired token ends the walk for this account, but what was
captured until then is still committed (it is evidence); removals are inferred only for what the walk
covered to its end, and the failure goes into the run's report and the manifest summary.
"""
from __future__ import annotations

import dataclasses

import html
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from civic_archive import (
    SOFTWARE,
    changes,
    manifest,
    object_lock,
    recordcheck,
    records,
    recordscan,
    retention,
    snapshot,
)
from civic_archive.capture import (
    ApiKeyAuth,
    BearerAuth,
    CaptureError,
    QueryTokenAuth,
    RecordingSession,
)
from civic_archive.config import Account, CityConfig, resolve_secret
from civic_archive.lease import account_lease
from civic_archive.run import ArchiveRun
from civic_archive.sources import ApiError, Invalid, TokenExpired, source_class
from civic_archive.storage import ArchiveStore

# Changed rows are streamed out of DuckDB this many at a time (a row group of the records file each). Wide rows
# (raw JSON) make a batch ~1 KB a row, and DuckDB, Arrow and the Parquet encoder each hold a copy: 20,000-row
# batches cost ~65 MB more peak memory than 5,000-row ones, for no speed.
BATCH_ROWS = 5_000


@dataclass
class HarvestOptions:
    recheck_days: int = 30  # nightly: walk top-level items created in the last N days, with their subtrees
    full_sweep_days: int = 7  # walk everything when the last full sweep is this old
    full_sweep_below_items: int = 20_000  # accounts smaller than this are swept in full every night
    force_full: bool = False


@dataclass
class HarvestResult:
    account: str
    run_id: str
    manifest_key: str
    counts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quarantined: int = 0
    api_calls: int = 0
    media_fetched: int = 0  # media bytes fetched this run
    media_reused: int = 0  # media items pointed at bytes already archived (by an earlier run, or earlier in the walk)
    complete: bool = False
    since: datetime | None = None
    window: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def full_sweep(self) -> bool:
        return self.since is None and self.complete

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "run_id": self.run_id, "manifest": self.manifest_key,
                "counts": dict(self.counts), "errors": self.errors, "notes": self.notes,
                "quarantined": self.quarantined, "api_calls": self.api_calls, "complete": self.complete,
                "media": {"fetched": self.media_fetched, "reused": self.media_reused},
                "window": {"since": records.iso(self.since), "reason": self.window, "full_sweep": self.full_sweep}}


def make_auth(account: Account):
    token = resolve_secret(account.credentials)
    if account.platform in ("facebook", "instagram"):
        secret = resolve_secret(account.app_secret) if account.app_secret else None
        return QueryTokenAuth(token, secret)
    if account.platform == "youtube" and token.startswith("AIza"):  # an API key, not an OAuth token
        return ApiKeyAuth(token)
    return BearerAuth(token)


def plan_window(store: ArchiveStore, account_id: str, now: datetime, options: HarvestOptions,
                known_items: int) -> tuple[datetime | None, str]:
    """(since, why): since=None means a full sweep."""
    if options.force_full:
        return None, "full sweep (requested)"
    keys = manifest.chain_keys(store, account_id)
    if not keys:
        return None, "first harvest of the account: full backfill"
    if known_items < options.full_sweep_below_items:
        return None, f"full sweep (the account has {known_items} known items, fewer than " \
                     f"{options.full_sweep_below_items}: sweeping it whole costs little)"
    horizon = now - timedelta(days=options.full_sweep_days)
    for key in reversed(keys):
        doc = json.loads(store.read_bytes(key))
        window = (doc.get("summary") or {}).get("window")
        finished = datetime.fromisoformat(doc["finished_at"].replace("Z", "+00:00"))
        if window is None or window.get("full_sweep"):
            if finished > horizon:
                since = now - timedelta(days=options.recheck_days)
                return since, (f"incremental: top-level items from the last {options.recheck_days} days "
                               f"(last full sweep {finished:%Y-%m-%d})")
            break
        if finished <= horizon:
            break
    return None, f"periodic full sweep (none in the last {options.full_sweep_days} days)"


def _state_objects(store: ArchiveStore, account_id: str) -> list[tuple[str, str, bool, datetime | None, bool]]:
    """(run id, key, is snapshot, newest created_at or None, has rows) of the state objects the next run
    starts from: the newest snapshot of a committed run and the committed deltas after it (objects of runs
    that never committed are ignored)."""
    committed = set(manifest.committed_runs(store, account_id))
    found = []
    for key in store.list(f"state/{account_id}/"):
        run_id, snap, newest, rows = changes.parse_state_name(key.rsplit("/", 1)[1])
        if run_id in committed:
            found.append((run_id, key, snap, newest, rows))
    found.sort()
    snapshots = [run_id for run_id, _, snap, _, _ in found if snap]
    if snapshots:
        found = [f for f in found if f[0] >= snapshots[-1]]
    return found


def state_files(store: ArchiveStore, account_id: str, spool: str, newer_than: datetime | None = None,
                fetched: dict[str, str] | None = None) -> list[str]:
    """Local paths of the state files to read (fetched into `spool` from a remote store). With `newer_than`,
    snapshot chunks holding only items created before it are not fetched: a nightly run reads the newest
    chunk or two, not the whole state. `fetched` (key → path) remembers what an earlier call of the same run
    fetched, so nothing is downloaded twice."""
    paths = []
    for n, (_, key, _, newest, rows) in enumerate(_state_objects(store, account_id)):
        if not rows or (newer_than is not None and newest is not None and newest < newer_than):
            continue
        path = store.local_path(key) or (fetched or {}).get(key)
        if path is None:
            path = os.path.join(spool, f"state-in-{n:05d}@{key.rsplit('/', 1)[1]}")  # keeps the object's name
            with open(path, "wb") as out, store.open(key) as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            if fetched is not None:
                fetched[key] = path
        paths.append(path)
    return paths


def snapshot_inputs(store: ArchiveStore, account_id: str, fetched: dict[str, str]) -> tuple[list[str], list[str]]:
    """Local paths of the state a full sweep's snapshot is merged from: (the previous snapshot's chunks in
    order, every other state file). A snapshot in one file (archives before chunking) counts as a delta:
    it is not known to be sorted. Everything was fetched already (a full sweep reads the whole state)."""
    base, deltas = [], []
    for _, key, snap, newest, rows in _state_objects(store, account_id):
        if rows:
            path = store.local_path(key) or fetched[key]
            (base if snap and newest is not None else deltas).append(path)
    return base, deltas


def known_items(store: ArchiveStore, account_id: str) -> int:
    """Rows in the state the next run starts from (snapshot + later deltas: an upper bound of the items known),
    from the record counts in the runs' manifests: no state object is read."""
    objects = _state_objects(store, account_id)
    counts: dict[str, int] = {}
    for run_id in sorted({o[0] for o in objects}):
        doc = json.loads(store.read_bytes(manifest.manifest_key(run_id)))
        counts.update((o["key"], o.get("records") or 0) for o in doc.get("objects", []) if o.get("kind") == "state")
    return sum(counts.get(key, 0) for _, key, _, _, _ in objects)


class RecordsWriter:
    """Writes record rows into the run, one Parquet file per (series, month of creation), and the state
    rows that go with them."""

    def __init__(self, run: ArchiveRun, account_id: str, captured_at: datetime):
        self.run = run
        self.account_id = account_id
        self.captured_at = captured_at
        self._part: str | None = None
        self._writer: pq.ParquetWriter | None = None
        self._path = self._key = None
        self._rows = 0
        self._n = 0
        self.state_path = run.spool_path("state-delta.parquet")
        self._state = pq.ParquetWriter(self.state_path, changes.STATE_SCHEMA, compression="zstd")
        self.state_rows = 0
        self.counts: Counter = Counter()

    def _open(self, part: str) -> None:
        self._close_part()
        self._part = part
        self._key = f"records/account={self.account_id}/{part}/{self.run.run_id}-{self._n}.parquet"
        self._path = self.run.spool_path(f"records-{self._n}.parquet")
        self._n += 1
        schema = records.ARROW_SCHEMA.with_metadata({
            b"civic_archive.record_schema": records.RECORD_SCHEMA.encode(),
            b"civic_archive.run_id": self.run.run_id.encode(), b"civic_archive.software": SOFTWARE.encode()})
        self._writer = pq.ParquetWriter(self._path, schema, compression="zstd")
        self._summary = recordscan.FileSummary()

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self.run.add_file(self._key, self._path, "records", self._rows, summary=self._summary.columns())
            self._writer, self._rows = None, 0

    def write(self, table: pa.Table) -> None:
        """`table` holds record columns plus part, what, hidden, root_platform_id, edited; sorted by part."""
        if table.num_rows == 0:
            return
        for value, count in zip(*pc.value_counts(table["what"]).flatten()):
            self.counts[value.as_py()] += count.as_py()
        parts = table["part"].to_pylist()
        start = 0
        for i in range(1, len(parts) + 1):
            if i == len(parts) or parts[i] != parts[start]:
                self._write_part(parts[start], table.slice(start, i - start))
                start = i

    def _write_part(self, part: str, table: pa.Table) -> None:
        if part != self._part:
            self._open(part)
        rows = table.select(records.COLUMNS).cast(self._writer.schema)
        self._writer.write_table(rows)
        self._summary.add(rows)
        self._rows += table.num_rows
        n = table.num_rows
        state = pa.table({
            "kind": table["kind"], "platform_id": table["platform_id"],
            "parent_platform_id": table["parent_platform_id"], "root_platform_id": table["root_platform_id"],
            "version": table["version"], "status": table["status"], "edited": table["edited"],
            "content_sha256": table["content_sha256"], "record_id": table["record_id"],
            "records_key": pa.array([self._key] * n, pa.string()), "created_at": table["created_at"],
            "last_seen_at": pa.array([self.captured_at] * n, changes.STATE_SCHEMA.field("last_seen_at").type),
            "run_id": pa.array([self.run.run_id] * n, pa.string()),
            **{name: table[name] for name in changes.MEDIA_STATE_COLUMNS}})
        self.write_state(state)

    def write_state(self, state: pa.Table | None) -> None:
        if state is not None and state.num_rows:
            self._state.write_table(state.cast(changes.STATE_SCHEMA))
            self.state_rows += state.num_rows

    def close(self) -> None:
        self._close_part()
        self._state.close()


def harvest_account(config: CityConfig, account: Account, store: ArchiveStore, *,
                    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                    session_options: dict[str, Any] | None = None,
                    options: HarvestOptions | None = None) -> HarvestResult:
    # One harvest of an account at a time (raises LeaseHeld, before anything is written, if another holds it).
    with account_lease(store, account.id) as held:
        run = ArchiveRun(store, account.id, warcinfo={
            "operator": config.operator or config.city, "city": config.city, "account": account.id,
            "platform": account.platform, "handle": account.handle, "jurisdiction": config.jurisdiction,
        }, warc_max_bytes=config.warc_max_bytes, clock=clock)
        result = HarvestResult(account.id, run.run_id, manifest.manifest_key(run.run_id))
        try:
            _harvest(config, account, store, run, result, clock, session_options or {},
                     options or config_options(config))
            held.check()  # the chain must not have moved since the lease was taken (LeaseLost otherwise)
            run.commit({"city": config.city, "account": account.id, "platform": account.platform,
                        "summary": result.as_dict()}, lock_dates=object_lock.lock_dates)
        finally:
            run.cleanup()
    return result


def config_options(config: CityConfig) -> HarvestOptions:
    return HarvestOptions(recheck_days=config.recheck_days, full_sweep_days=config.full_sweep_days,
                          full_sweep_below_items=config.full_sweep_below_items)


def partition(row: dict[str, Any]) -> str:
    return f"series={retention.partition_value(row.get('series_code'))}/created={row['created_at'][:7]}"


def _harvest(config, account, store, run, result, clock, session_options, options) -> None:
    captured_at = clock()
    cls = source_class(account.platform)
    if cls.full_sweep_within_days and options.full_sweep_days > cls.full_sweep_within_days:
        options = dataclasses.replace(options, full_sweep_days=cls.full_sweep_within_days)
    result.since, result.window = plan_window(store, account.id, captured_at, options,
                                              known_items(store, account.id))
    session = RecordingSession(run.warc, make_auth(account), clock=clock, **session_options)
    source = cls(account, session)
    source.since = result.since
    fetched_state: dict[str, str] = {}
    _load_known_media(source, store, account.id, run.spool, fetched_state)
    spool = changes.ObservedSpool(run.spool)
    quarantine_n = 0

    def quarantined(reason: str, payload: Any, ref) -> None:
        nonlocal quarantine_n
        doc = {"reason": reason, "payload": payload, "account": account.id, "run_id": run.run_id,
               "warc_file": ref and ref.warc_file, "warc_offset": ref and ref.offset,
               "warc_record_id": ref and ref.record_id}
        try:
            data = json.dumps(doc, indent=1, sort_keys=True, default=str, ensure_ascii=False).encode(
                "utf-8", "backslashreplace")
        except (RecursionError, ValueError):  # hostile nesting: keep the reason and the WARC pointer
            doc["payload"] = f"(not reproduced: nested too deeply; see the WARC record) {str(payload)[:2000]}"
            data = json.dumps(doc, indent=1, sort_keys=True, default=str).encode()
        run.add_bytes(f"quarantine/{run.run_id}/{quarantine_n:06d}.json", data,
                      "quarantine", 1, content_type="application/json")
        quarantine_n += 1

    def row_of(obj, version: int = 1, status: str | None = None, classify_as: str | None = None
               ) -> dict[str, Any] | None:
        """The validated record row of what the connector read, or None when it makes none (then quarantined
        with the reason and its WARC evidence). `classify_as`: the kind whose retention series it takes."""
        if isinstance(obj, Invalid):
            quarantined(obj.reason, obj.payload, obj.ref)
            return None
        try:
            row = records.to_row(obj, account_id=account.id, platform=account.platform, version=version,
                                 status=status or ("hidden" if obj.hidden else "live"), captured_at=captured_at,
                                 run_id=run.run_id, jurisdiction=config.jurisdiction)
            row.update(retention.classify(config, account, {**row, "kind": classify_as} if classify_as else row))
            _check_text(row)
        except (ValueError, TypeError, RecursionError) as exc:  # e.g. nested too deeply, lone surrogates
            quarantined(f"record could not be built: {type(exc).__name__}: {str(exc)[:300]}", obj.raw, obj.ref)
            return None
        problems = recordcheck.errors(row)  # record.schema.json, compiled (jsonschema semantics)
        if problems:
            quarantined("record does not match record.schema.json: " + "; ".join(problems[:5]), obj.raw, obj.ref)
            return None
        return row

    current_root = root_kind = last_id = last_kind = None
    try:
        for obj in source.walk():
            classify_as = None
            if not isinstance(obj, Invalid):
                if obj.kind in changes.ROOT_KINDS:
                    current_root = root = obj.platform_id
                    root_kind = obj.kind
                else:
                    root = obj.root_platform_id or current_root
                # A post's or video's photos and thumbnails are part of it: they take its series, not one of
                # their own (found by an audit: a video kept under one series, its thumbnail purgeable under
                # another). So does the photo of a comment or reply take the comment's. Connectors list media
                # right after what they belong to (a post's may come after its comments).
                if obj.kind == "media" and obj.parent_platform_id:
                    if obj.parent_platform_id == current_root:
                        classify_as = root_kind
                    elif obj.parent_platform_id == last_id:
                        classify_as = last_kind
                else:
                    last_id, last_kind = obj.platform_id, obj.kind
            row = row_of(obj, classify_as=classify_as)
            if row is not None:
                spool.add(row, hidden=obj.hidden, root=root, part=partition(row))
    except (TokenExpired, ApiError, CaptureError) as exc:
        result.errors.append(str(exc))
        if exc.ref is not None:  # the failed exchange (or attempt) is in the WARC: point at it
            quarantined(f"walk stopped: {exc}", getattr(exc, "payload", None), exc.ref)
    spool.close()
    result.complete = source.complete

    detector = changes.Detector(account.id, spool.parts, [], run.spool, since=result.since)
    try:
        # Only now is it known how far back the state is needed: the window, or an older item the walk saw.
        detector.state = state_files(store, account.id, run.spool, newer_than=detector.state_bound(),
                                     fetched=fetched_state)
        result.counts["seen"] = detector.observed_count()
        for raw, ref, first_ref in _changed_while_paged(detector, spool):
            quarantined("item listed again in this walk with different content (it changed while being "
                        f"paged); the first sighting (WARC record {first_ref}) is archived, this one is kept "
                        "here and its change is recorded by the next run", raw, ref)
        writer = RecordsWriter(run, account.id, captured_at)
        for batch in detector.changed(BATCH_ROWS):
            writer.write(pa.Table.from_batches([batch]))
        if source.complete:
            gone = _gone(source, detector, result, captured_at, run.run_id, account, store, row_of)
            if gone:
                writer.write(gone)
        writer.write_state(detector.media_backfill(captured_at))  # state from before the media columns
        writer.close()
        result.counts.update(writer.counts)
        if result.full_sweep:
            detector.close()  # its DuckDB's memory is given back before the snapshot's is taken
            base, deltas = snapshot_inputs(store, account.id, fetched_state)
            chunks = snapshot.write(base, deltas + [writer.state_path], run.spool_path("state-snapshot"))
            for k, (path, rows, newest) in enumerate(chunks):
                run.add_file(f"state/{account.id}/{changes.snapshot_chunk_name(run.run_id, k, newest)}", path,
                             "state", rows)
        elif writer.state_rows:
            run.add_file(f"state/{account.id}/{run.run_id}.parquet", writer.state_path, "state", writer.state_rows)
    finally:
        detector.close()
    result.api_calls = session.calls
    result.media_fetched, result.media_reused = source.media_fetched, source.media_reused
    result.quarantined = quarantine_n
    result.notes.extend(getattr(source, "notes", []))
    run.add_bytes(f"manifests/{run.run_id}.report.md", report(config, account, result).encode(), "report",
                  content_type="text/markdown")


def _load_known_media(source, store: ArchiveStore, account_id: str, spool: str, fetched: dict[str, str]) -> None:
    """Tell the connector which media bytes the archive already holds, so that it does not fetch and store
    them again. Only the state the run reads anyway is read: a nightly run's window (media items hang under
    the window's posts and carry their creation time), everything for a full sweep. A WARC file is looked
    up once per run to see whether it is still there (it may have been disposed of)."""
    from civic_archive.sources.base import KnownMedia
    from civic_archive.warc import WarcRef

    paths = state_files(store, account_id, spool, newer_than=source.since, fetched=fetched)
    source.known_media = {
        pid: KnownMedia(sha, media_sha, WarcRef(warc_file, offset, 0, record_id))
        for pid, (sha, media_sha, warc_file, offset, record_id) in changes.known_media(paths, source.since).items()}
    kept: dict[str, bool] = {}

    def bytes_kept(warc_file: str) -> bool:
        if warc_file not in kept:
            kept[warc_file] = store.exists(warc_file)
        return kept[warc_file]

    source.bytes_kept = bytes_kept


def _check_text(row: dict[str, Any]) -> None:
    """Text a record will store must encode as UTF-8 (a JSON `\\ud800` escape decodes to a lone surrogate)."""
    texts = [value for value in row.values() if isinstance(value, str)]
    if not "".join(texts).isascii():  # ASCII always encodes; one scan of it all is the common case
        for value in texts:
            value.encode("utf-8")


def _changed_while_paged(detector: changes.Detector, spool: changes.ObservedSpool):
    """(raw payload, WarcRef, first sighting's WARC record id) of every later sighting of an item whose
    content differs from its first sighting in this walk (detection keeps the first one)."""
    if not spool.paths:
        return
    from civic_archive.warc import WarcRef

    rows = detector.con.execute(f"""
        WITH o AS (SELECT kind, platform_id, seq, content_sha256, raw_json, warc_file, warc_offset, warc_record_id
                   FROM read_parquet({changes._parquet_list(spool.paths)})),
             f AS (SELECT kind, platform_id, arg_min(content_sha256, seq) AS sha, arg_min(warc_record_id, seq) AS rid
                   FROM o GROUP BY kind, platform_id HAVING count(DISTINCT content_sha256) > 1)
        SELECT o.raw_json, o.warc_file, o.warc_offset, o.warc_record_id, f.rid FROM o JOIN f USING (kind, platform_id)
        WHERE o.content_sha256 <> f.sha ORDER BY o.seq""").fetchall()
    for raw, warc_file, offset, record_id, first in rows:
        try:
            payload = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            payload = raw
        yield payload, WarcRef(warc_file, offset, 0, record_id), first


def _gone(source, detector: changes.Detector, result: HarvestResult, now: datetime, run_id: str,
          account: Account, store: ArchiveStore, row_of: Callable[..., dict | None]) -> pa.Table | None:
    """Rows for items the walk covered but did not see: `deleted` when a direct lookup says the item does
    not exist, `removed` when the lookup cannot tell. An item that still exists was only missing from the
    listing: when the connector read it (`fetch`: an Instagram comment hidden since, which the listings may
    leave out) and it is now hidden, unhidden or edited, a new version from that read; else nothing. Nothing
    either for an item that could not be looked up this run (it is tried again next run)."""
    found, total = detector.missing(since=result.since, walked_roots=source.walked_roots)
    if total > len(found):
        result.notes.append(f"{total} archived items were not listed this run; {len(found)} of them (whole "
                            "posts with their comments) were looked up, the rest are looked up by the next runs")
    candidates = [c for c in found if source.covers(c["kind"], c["platform_id"], c["created_at"],
                                                    c["root_platform_id"], c["parent_platform_id"])]
    if not candidates:
        return None
    roots = [c for c in candidates if c["kind"] in changes.ROOT_KINDS]
    answers = _lookup(source, roots, result)
    deleted_roots = {c["platform_id"] for c in roots if answers.get((c["kind"], c["platform_id"])) is False}
    deleted_parents = set(deleted_roots)  # and, once looked up, the comments and replies found deleted

    def dies_with_root(c: dict) -> bool:
        # Media and (on most platforms) comments cannot outlive their post: under a deleted post they are
        # deleted too, without a lookup each. Where replies outlive it (X), they are looked up. Nor can the
        # photo of a comment or reply outlive that comment or reply.
        if c["kind"] in changes.ROOT_KINDS:
            return False
        if c["kind"] == "media":  # with what it is attached to: a post, or a comment or reply (which on X
            # outlives its post: its photo too)
            return (c["parent_platform_id"] or c["root_platform_id"]) in deleted_parents
        return c["root_platform_id"] in deleted_roots and source.comments_die_with_root

    # Comments and replies first, then the media whose comment or reply was not found deleted.
    comments = [c for c in candidates if c["kind"] not in changes.ROOT_KINDS + ("media",)]
    rest = [c for c in comments if not dies_with_root(c)]
    answers.update(_lookup(source, rest, result))
    deleted_parents.update(c["platform_id"] for c in comments
                           if dies_with_root(c) or answers.get((c["kind"], c["platform_id"])) is False)
    if all((c["kind"], c["platform_id"]) in answers for c in rest):  # else the lookups stopped: media wait too
        # Media attached to an item that was not listed either but still exists (a hidden comment filtered
        # out of the listing, an X reply under a deleted post that search no longer reaches) are not looked
        # up: nothing says they went with it (a photo's own lookup may well fail while its comment is
        # hidden; X cannot look media up at all), so nothing is recorded. Under an item that was listed
        # without them they were taken off, and are looked up.
        alive = {c["platform_id"] for c in candidates if c["kind"] != "media"
                 and answers.get((c["kind"], c["platform_id"])) not in (None, False)}
        media = [c for c in candidates if c["kind"] == "media" and not dies_with_root(c)]
        answers.update((("media", c["platform_id"]), True) for c in media if c["parent_platform_id"] in alive)
        answers.update(_lookup(source, [c for c in media if c["parent_platform_id"] not in alive], result))
    status_of: dict[tuple[str, str], str] = {}
    rows = []
    for c in candidates:
        key = (c["kind"], c["platform_id"])
        answer = answers.get(key, True)
        if dies_with_root(c):
            status_of[key] = "deleted"
        elif answer is False or answer is None:
            status_of[key] = "deleted" if answer is False else "removed"
        elif answer is not True:  # the item as the connector read it now
            row = _read_again(c, answer, row_of)
            if row is not None:
                rows.append(row)
    skipped = sum(1 for c in candidates if (c["kind"], c["platform_id"]) not in answers
                  and (c["kind"], c["platform_id"]) not in status_of)
    if skipped:
        result.notes.append(f"{skipped} missing item(s) could not be looked up; they are checked again next run")
    chosen = [c for c in candidates if (c["kind"], c["platform_id"]) in status_of]
    last = _last_copies(store, account.id, chosen) if chosen else {}
    for c in chosen:
        prev = last.get(c["record_id"])
        if prev is None:
            if c.get("records_key") and not store.exists(c["records_key"]):
                result.notes.append(f"{c['kind']} {c['platform_id']} is gone from the platform; its records were "
                                    f"disposed of under the schedule ({c['records_key']}), so no copy is repeated")
            else:
                result.errors.append(f"no archived copy of {c['kind']} {c['platform_id']} (record {c['record_id']})")
            continue
        version = c["version"] + 1
        status = status_of[(c["kind"], c["platform_id"])]
        prev.update(record_id=records.make_record_id(account.id, c["kind"], c["platform_id"], version),
                    version=version, status=status, captured_at=now, removed_detected_at=now, run_id=run_id,
                    what=status, hidden=False, root_platform_id=c["root_platform_id"], edited=bool(c["edited"]),
                    part=partition({"series_code": prev["series_code"],
                                    "created_at": records.iso(prev["created_at"])}))
        rows.append(prev)
    if not rows:
        return None
    rows.sort(key=lambda r: r["part"])
    extra = [pa.field("what", pa.string()), pa.field("hidden", pa.bool_()),
             pa.field("root_platform_id", pa.string()), pa.field("edited", pa.bool_()), pa.field("part", pa.string())]
    return records.rows_to_table(rows, pa.schema(list(records.ARROW_SCHEMA) + extra))


def _read_again(c: dict, obj, row_of: Callable[..., dict | None]) -> dict | None:
    """The next version of state item `c` from a direct read of it (`obj`, an Item, or Invalid: quarantined),
    when its content or its hidden flag changed; None otherwise. Decided as `changes.Detector` decides for
    listed items; the row points at the WARC record of that read."""
    if isinstance(obj, Invalid):
        return row_of(obj)
    if obj.parent_platform_id is None and c.get("parent_platform_id"):  # read alone, its parent not named
        obj = dataclasses.replace(obj, parent_platform_id=c["parent_platform_id"])
    edited = obj.content_sha256() != c["content_sha256"]
    was_hidden = c["status"] == "hidden"
    if not edited and obj.hidden == was_hidden:
        return None
    now_edited = edited or (c["edited"] if c["edited"] is not None else c["status"] == "edited")
    status = "hidden" if obj.hidden else "edited" if now_edited else "live"
    row = row_of(obj, version=c["version"] + 1, status=status)
    if row is None:
        return None
    row.update(what="edited" if edited else "hidden" if obj.hidden else "unhidden", hidden=obj.hidden,
               root_platform_id=c["root_platform_id"], edited=now_edited, part=partition(row))
    if obj.hidden and not was_hidden:  # hidden from the public since it was last seen: noticed now
        row["removed_detected_at"] = row["captured_at"]
    return row


def _lookup(source, candidates: list[dict], result: HarvestResult) -> dict:
    if not candidates:
        return {}
    try:
        return source.exists_many([(c["kind"], c["platform_id"]) for c in candidates])
    except (TokenExpired, ApiError, CaptureError) as exc:
        result.errors.append(f"lookups of missing items: {exc}")
        return {}


def _last_copies(store: ArchiveStore, account_id: str, candidates: list[dict]) -> dict[str, dict]:
    """The archived row of each candidate's last version, read from the records file the state points at
    (state written before `records_key` existed falls back to the account's records files)."""
    by_key: dict[str, set[str]] = {}
    for c in candidates:
        by_key.setdefault(c.get("records_key") or "", set()).add(c["record_id"])
    found: dict[str, dict] = {}
    for key, ids in by_key.items():
        keys = [key] if key else list(store.list(f"records/account={account_id}/"))
        for k in keys:
            if not store.exists(k):  # lawfully disposed of: there is no last copy left to repeat
                continue
            for row in records.read_table(store, k, filters=[("record_id", "in", sorted(ids))]).to_pylist():
                found[row["record_id"]] = row
    return found


def report(config: CityConfig, account: Account, result: HarvestResult) -> str:
    lines = [f"# Harvest report: {account.id}", "",
             f"- city: {config.city} ({config.jurisdiction})",
             f"- platform: {account.platform}, handle {account.handle}",
             f"- run: {result.run_id}", f"- software: {SOFTWARE}", f"- window: {result.window}",
             f"- walk complete: {'yes' if result.complete else 'NO (nothing was taken for removed this run)'}",
             f"- API calls: {result.api_calls}",
             f"- media: {result.media_fetched} fetched, {result.media_reused} already archived (not fetched again)",
             "", "| change | items |", "|---|---|"]
    for what in ("new", "edited", "hidden", "unhidden", "removed", "deleted", "restored"):
        lines.append(f"| {what} | {result.counts.get(what, 0)} |")
    lines += ["", f"Items seen: {result.counts.get('seen', 0)}. Quarantined payloads: {result.quarantined}.", ""]
    lines.append("## Errors" if result.errors else "No API errors.")
    lines += [f"- {_md(e)}" for e in result.errors]
    if result.notes:
        lines += ["", "## Notes (what could not be fetched, and why)"] + [f"- {_md(n)}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Platform-supplied text in the Markdown report: inert (no HTML), one line, printable."""
    text = html.escape(str(text), quote=False)
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
