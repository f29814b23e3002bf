"""Reading the records dataset's metadata fast: DuckDB over the records Parquet objects.

Holds and disposition need the same few things from every record row: account, series, creation day, the
stored eligibility date, and which WARC files evidence it. Reading those columns from tens of thousands of
small Parquet files is dominated by per-file costs, so this module

- groups rows per file into *summaries* (one row per file x series x creation day x stored eligibility x WARC
  pointers, with counts and WARC bytes), which is what eligibility needs. The harvest builds each records
  file's summary as it writes the file (`FileSummary`) and lists it with the file in the run's manifest, so
  the first plan of an archive reads one manifest per run, not every file's rows;
- can keep those summaries in a local cache file keyed by object key, and as write-once objects in the
  archive itself (`cache/records-summaries/`), so that a plan on a fresh machine (an ephemeral Airflow worker)
  does not read every records file again. Archive objects are write-once, so a key's summary never goes
  stale; keys that disappear (disposed of) drop out, keys in neither cache are taken from their manifests or,
  without a usable summary there, read. A missing, damaged or foreign cache or listed summary is only a lost
  speed-up. Caches and listed summaries serve `disposition plan` and reports only: `disposition execute`
  always re-reads the objects themselves;
- runs row-level queries (hold scopes) over a chosen subset of files.

Objects in a backend without local paths (S3) are downloaded to a temporary folder first.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from civic_archive import manifest
from civic_archive.storage import ArchiveStore, ObjectMissing, StorageError

log = logging.getLogger(__name__)

RECORDS_PREFIX = "records/"
WARC_PREFIX = "warc/"
CACHE_VERSION = "1"
ARCHIVE_CACHE_PREFIX = "cache/records-summaries/"
_META_VERSION, _META_KEYS, _META_ROWS = b"civic_archive.cache_version", b"civic_archive.keys", b"civic_archive.rows"
EPOCH = date(1970, 1, 1)
DAY_US = 86_400_000_000
_RECORDS_KEY = re.compile(r"^records/account=([^/]+)/series=([^/]+)/created=(\d{4}-\d{2})/([^/]+)-(\d+)\.parquet$")
_WARC_KEY = re.compile(r"^warc/([^/]+)/\d{4}/\d{2}/([^/]+)-(\d+)\.warc\.gz$")

SUMMARY_SCHEMA = pa.schema([
    ("key", pa.string()),
    ("account_id", pa.string()),
    ("series_code", pa.string()),
    ("cday", pa.int32()),  # UTC creation day, days since 1970-01-01
    ("stored_eligible_on", pa.date32()),
    ("warc_file", pa.string()),
    ("media_warc_file", pa.string()),
    ("n", pa.int64()),
    ("warc_bytes", pa.int64()),
    ("first_created_us", pa.int64()),
    ("last_created_us", pa.int64()),
])


def day_number(d: date) -> int:
    return (d - EPOCH).days


def from_day_number(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def run_of(key: str) -> str | None:
    """The run id a records or WARC key was written by (keys end in `{run_id}-{n}.…`)."""
    m = _RECORDS_KEY.match(key) or _WARC_KEY.match(key)
    if m:
        return m.group(len(m.groups()) - 1)
    return None


def partition_of(key: str) -> str:
    """`records/account=…/series=…/created=…/`: the folder of a records key (all versions of an item share it)."""
    return key.rsplit("/", 1)[0] + "/"


class ManifestEntries:
    """Manifest entries of objects, looked up through the run id their key carries (one read per run)."""

    def __init__(self, store: ArchiveStore):
        self.store = store
        self._runs: dict[str, dict[str, dict] | None] = {}

    def entry(self, key: str) -> tuple[dict | None, str | None]:
        """(the object's entry, the manifest's key), or (None, None) when no committed manifest lists it."""
        run_id = run_of(key)
        if run_id is None:
            return None, None
        if run_id not in self._runs:
            try:
                doc = json.loads(self.store.read_bytes(manifest.manifest_key(run_id)))
                self._runs[run_id] = {o["key"]: o for o in doc.get("objects", [])}
            except (ObjectMissing, ValueError):
                self._runs[run_id] = None
        objects = self._runs[run_id]
        if objects is None:
            return None, None
        return objects.get(key), manifest.manifest_key(run_id)


def jurisdiction(store: ArchiveStore, keys: list[str], files: LocalFiles) -> str | None:
    """The archive's jurisdiction, as its newest records file states it (one archive is one city)."""
    if not keys:
        return None
    found = [j for j in pq.read_table(files.path(keys[-1]), columns=["jurisdiction"]).column(0).unique().to_pylist()
             if j]
    return found[0] if len(found) == 1 else None


def versions_group(key: str) -> str:
    """What every records file that can hold versions of the same items as `key` shares: account and creation
    month. Not the series: each version is classified when it is written, so after the city changes its
    mapping an edit is filed under the new series while the earlier versions stay under the old one."""
    m = _RECORDS_KEY.match(key)
    return f"{m.group(1)}/{m.group(3)}" if m else partition_of(key)


def records_keys(store: ArchiveStore) -> list[str]:
    """The records files of committed runs. A run exists when its manifest does (DESIGN): files a crashed or
    running harvest has written without one are orphans, never search results, hold scopes or evidence
    (found by an audit: after a crash and its resume, an export listed every row twice)."""
    committed = manifest.run_ids(store)
    return [k for k in store.list(RECORDS_PREFIX) if k.endswith(".parquet") and run_of(k) in committed]


def prune_keys(keys: Iterable[str], *, accounts: Iterable[str] | None = None,
               months: tuple[str, str] | None = None) -> list[str]:
    """Keys whose partition can hold rows of these accounts / creation months (YYYY-MM, inclusive)."""
    wanted = set(accounts) if accounts else None
    out = []
    for key in keys:
        m = _RECORDS_KEY.match(key)
        if m is None:  # an unexpected layout: never prune it away
            out.append(key)
            continue
        if wanted is not None and m.group(1) not in wanted:
            continue
        if months is not None and not (months[0] <= m.group(3) <= months[1]):
            continue
        out.append(key)
    return out


class LocalFiles:
    """Local paths for archive objects: in place for a local archive, downloaded once otherwise."""

    def __init__(self, store: ArchiveStore):
        self.store = store
        self._tmp: str | None = None
        self._paths: dict[str, str] = {}

    def path(self, key: str) -> str:
        local = self.store.local_path(key)
        if local is not None:
            return local
        if key not in self._paths:
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="civic-archive-scan-")
            dest = os.path.join(self._tmp, hashlib.sha256(key.encode()).hexdigest()[:24] + ".parquet")
            with open(dest, "wb") as out, self.store.open(key) as src:
                shutil.copyfileobj(src, out, 1 << 20)
            self._paths[key] = dest
        return self._paths[key]

    def paths(self, keys: Iterable[str]) -> list[str]:
        return [self.path(k) for k in keys]

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self._paths.clear()


@contextmanager
def local_files(store: ArchiveStore) -> Iterator[LocalFiles]:
    files = LocalFiles(store)
    try:
        yield files
    finally:
        files.close()


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _key_table(keys: list[str]) -> pa.Table:
    return pa.table({"file_index": pa.array(range(len(keys)), pa.int64()), "key": pa.array(keys, pa.string())})


# One summary row per group of a file's rows. Rows read back from files are summarized by DuckDB
# (_SUMMARY_EXPRS); rows being written by Arrow (FileSummary: a DuckDB query per file would cost ~10x more),
# with the same semantics: integer division truncating like DuckDB's //, nulls grouped together, a sum of
# no lengths 0. A test holds the two equal.
_SUMMARY_EXPRS = """r.account_id, r.series_code, CAST(epoch_us(r.created_at) // 86400000000 AS INTEGER) AS cday,
    r.eligible_on AS stored_eligible_on, r.warc_file, r.media_warc_file,
    count(*) AS n, CAST(coalesce(sum(r.warc_length), 0) AS BIGINT) AS warc_bytes,
    min(epoch_us(r.created_at)) AS first_created_us, max(epoch_us(r.created_at)) AS last_created_us"""
_GROUP = ["account_id", "series_code", "cday", "stored_eligible_on", "warc_file", "media_warc_file"]
_FILE_COLUMNS = [f.name for f in SUMMARY_SCHEMA if f.name != "key"]
_ONCE_COLUMNS = ("account_id", "series_code", "stored_eligible_on", "warc_file", "media_warc_file")


class FileSummary:
    """The summary rows of one records file, built batch by batch as the file is written, for the run's
    manifest (`columns()`): a plan on an archive with no summary cache yet reads manifests, not every file's
    rows. Only planning uses them: `disposition execute` and `--no-cache` plans read the rows themselves."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        us = pc.cast(table["created_at"], pa.int64())
        rows = pa.table({"account_id": table["account_id"], "series_code": table["series_code"],
                         "cday": pc.cast(pc.divide(us, DAY_US), pa.int32()),
                         "stored_eligible_on": table["eligible_on"], "warc_file": table["warc_file"],
                         "media_warc_file": table["media_warc_file"], "warc_length": table["warc_length"],
                         "us": us})
        part = rows.group_by(_GROUP, use_threads=False).aggregate(
            [([], "count_all"), ("warc_length", "sum"), ("us", "min"), ("us", "max")])
        self._parts.append(pa.table({**{name: part[name] for name in _GROUP}, "n": part["count_all"],
                                     "warc_bytes": part["warc_length_sum"], "first_created_us": part["us_min"],
                                     "last_created_us": part["us_max"]}))

    def table(self) -> pa.Table:
        """The rows added so far, one per group (SUMMARY_SCHEMA without `key`)."""
        schema = SUMMARY_SCHEMA.remove(0)
        if not self._parts:
            return schema.empty_table()
        merged = pa.concat_tables(self._parts).group_by(_GROUP, use_threads=False).aggregate(
            [("n", "sum"), ("warc_bytes", "sum"), ("first_created_us", "min"), ("last_created_us", "max")])
        return pa.table({**{name: merged[name] for name in _GROUP}, "n": merged["n_sum"],
                         "warc_bytes": pc.fill_null(merged["warc_bytes_sum"], 0),
                         "first_created_us": merged["first_created_us_min"],
                         "last_created_us": merged["last_created_us_max"]}).cast(schema)

    def columns(self) -> dict[str, list]:
        """The summary as the run's manifest lists it under the file's entry: one list per column; a text
        column whose rows all hold one value (a file's account and WARC, usually) lists it once."""
        table = self.table()
        out = {name: [v.isoformat() if isinstance(v, date) else v for v in table.column(name).to_pylist()]
               for name in _FILE_COLUMNS}
        for name in _ONCE_COLUMNS:
            if len(set(out[name])) == 1:
                out[name] = out[name][:1]
        return out


def manifest_summaries(store: ArchiveStore, keys: list[str]) -> tuple[pa.Table | None, list[str]]:
    """Summaries of `keys` as their runs' manifests list them (the harvest writes them there), and the keys
    whose manifest entry has none usable: written before manifests carried summaries, or whose counts do
    not add up to the entry's record count."""
    entries = ManifestEntries(store)
    columns: dict[str, list] = {"key": [], **{name: [] for name in _FILE_COLUMNS}}
    done: set[str] = set()
    for key in keys:
        try:
            entry = entries.entry(key)[0] or {}
            got = entry.get("summary")
            rows = len(got["n"])
            if sum(got["n"]) != entry["records"] or any(
                    len(got[name]) != rows and not (name in _ONCE_COLUMNS and len(got[name]) == 1)
                    for name in _FILE_COLUMNS):
                continue
        except (StorageError, TypeError, KeyError, AttributeError):  # no manifest or summary: the rows tell
            continue
        columns["key"].extend([key] * rows)
        for name in _FILE_COLUMNS:
            columns[name].extend(got[name] if len(got[name]) == rows else got[name] * rows)
        done.add(key)
    rest = [k for k in keys if k not in done]
    if not done:
        return None, rest
    try:
        table = pa.table({f.name: pa.array(columns[f.name], pa.string() if f.type == pa.date32() else f.type)
                          .cast(f.type) for f in SUMMARY_SCHEMA}, schema=SUMMARY_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):  # a value of the wrong type somewhere
        log.warning("records summaries in manifests not used (a value of the wrong type); reading the files")
        return None, list(keys)
    return table, rest


def summarize_files(store: ArchiveStore, keys: list[str], files: LocalFiles | None = None,
                    batch: int = 20_000) -> pa.Table:
    """Per-file summaries of `keys` read from the objects' rows (see SUMMARY_SCHEMA)."""
    if not keys:
        return SUMMARY_SCHEMA.empty_table()
    own = files is None
    files = files or LocalFiles(store)
    con = connect()
    try:
        parts = []
        for start in range(0, len(keys), batch):
            chunk = keys[start:start + batch]
            paths = files.paths(chunk)
            con.register("keys_t", _key_table(chunk))
            # file_index is DuckDB's position of the file in the list: cheaper than a filename per row.
            table = _sql(con, f"""
                SELECT k.key, {_SUMMARY_EXPRS}
                FROM {{rows}} r JOIN keys_t k ON k.file_index = r.file_index
                GROUP BY ALL
            """, paths)
            con.unregister("keys_t")
            parts.append(table.cast(SUMMARY_SCHEMA))
        return pa.concat_tables(parts)
    finally:
        con.close()
        if own:
            files.close()


def cache_dir() -> Path | None:
    configured = os.environ.get("CIVIC_ARCHIVE_CACHE_DIR")
    if configured == "":
        return None
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or
                                                   Path.home() / ".cache") / "civic-archive"
    return base


def _cache_path(store: ArchiveStore) -> Path | None:
    base = cache_dir()
    if base is None:
        return None
    return base / f"records-summary-{hashlib.sha256(store.uri.encode()).hexdigest()[:20]}.v{CACHE_VERSION}.parquet"


@dataclass
class SummaryResult:
    table: pa.Table
    keys: list[str]
    from_cache: int  # keys whose summaries came from a cache (local or archive)
    read: int  # keys in neither cache: summarized from their manifests (from_manifests) or their rows
    from_archive_cache: int = 0  # of from_cache, those only the archive's cache object had
    archive_cache_key: str | None = None  # the archive cache object used, if any
    archive_cache_current: bool = False  # that object holds exactly `keys`: writing a new one adds nothing
    from_manifests: int = 0  # of read, those whose summaries came from their runs' manifests, not their rows


def _read_local_cache(path: Path | None) -> pa.Table | None:
    if path is None or not path.exists():
        return None
    try:
        cached = pq.read_table(path)
        return cached if cached.schema == SUMMARY_SCHEMA else None
    except Exception:  # a damaged cache is only a lost speed-up
        return None


def newest_archive_cache(store: ArchiveStore) -> str | None:
    """The newest summary cache object in the archive (keys start with their UTC write time)."""
    newest = None
    try:
        for key in store.list(ARCHIVE_CACHE_PREFIX):
            if key.endswith(".parquet"):
                newest = key  # list() is sorted
    except StorageError as exc:  # e.g. an identity not allowed to list cache/: only a lost speed-up
        log.warning("summary cache in %s not listed: %s", store.uri, exc)
        return None
    return newest


def read_archive_cache(store: ArchiveStore, key: str) -> pa.Table | None:
    """The summaries in cache object `key`, or None when it is unreadable, of another cache version, or does
    not hold what its metadata says (page checksums catch damaged data)."""
    try:
        local = store.local_path(key)
        source = local if local is not None else pa.BufferReader(store.read_bytes(key))
        pf = pq.ParquetFile(source, page_checksum_verification=True)
        meta = pf.schema_arrow.metadata or {}
        if meta.get(_META_VERSION) != CACHE_VERSION.encode():
            return None
        table = pf.read()
        if not table.schema.equals(SUMMARY_SCHEMA):
            return None
        if (int(meta.get(_META_ROWS, b"-1")) != table.num_rows
                or int(meta.get(_META_KEYS, b"-1")) != pc.count_distinct(table.column("key")).as_py()):
            return None
        return table.replace_schema_metadata(None)
    except Exception as exc:  # a damaged or foreign cache object is only a lost speed-up
        log.warning("summary cache %s not used: %s", key, exc)
        return None


def write_archive_cache(store: ArchiveStore, result: SummaryResult, *, now: datetime | None = None) -> str | None:
    """Store `result`'s summaries in the archive as a new write-once cache object, unless the newest one
    already holds exactly these keys. Returns the key written, or None. A failure to write (permissions, a
    full disk) is logged, never raised: the cache is a speed-up."""
    if result.archive_cache_current or result.table.num_rows == 0:
        return None
    now = now or datetime.now(timezone.utc)
    key = f"{ARCHIVE_CACHE_PREFIX}{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}.parquet"
    table = result.table.replace_schema_metadata({
        _META_VERSION: CACHE_VERSION.encode(), _META_KEYS: str(len(result.keys)).encode(),
        _META_ROWS: str(result.table.num_rows).encode()})
    try:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", write_page_checksum=True)
        store.put_bytes(key, sink.getvalue().to_pybytes(), content_type="application/vnd.apache.parquet")
        return key
    except (StorageError, OSError) as exc:
        log.warning("summary cache not written to %s: %s", store.uri, exc)
        return None


def summaries(store: ArchiveStore, *, cache: bool = True, keys: list[str] | None = None,
              files: LocalFiles | None = None) -> SummaryResult:
    """Summaries of every records object in the archive (or of `keys`). With `cache`, rows of the local cache
    and of the archive's newest cache object are reused for keys still listed (both are keyed by immutable
    object keys, so their union is as good as either), only the other keys are read, and the local cache is
    updated. Writing the archive cache is the caller's decision (`write_archive_cache`)."""
    keys = sorted(keys if keys is not None else records_keys(store))
    path = _cache_path(store) if cache else None
    local = _read_local_cache(path)
    archive_key = newest_archive_cache(store) if cache else None
    archived = read_archive_cache(store, archive_key) if archive_key else None
    present = set(keys)
    local_known = set(local.column("key").unique().to_pylist()) if local is not None else set()
    archive_known = set(archived.column("key").unique().to_pylist()) if archived is not None else set()
    known = local_known | archive_known
    missing = [k for k in keys if k not in known]
    parts = []
    con = connect()
    try:
        if local is not None:
            con.register("c", local)
            con.register("present", pa.table({"key": pa.array(sorted(present & local_known), pa.string())}))
            parts.append(con.sql("SELECT c.* FROM c SEMI JOIN present p ON c.key = p.key").to_arrow_table())
            con.unregister("present")
        if archived is not None:
            con.register("a", archived)
            con.register("present", pa.table({"key": pa.array(sorted((present & archive_known) - local_known),
                                                             pa.string())}))
            parts.append(con.sql("SELECT a.* FROM a SEMI JOIN present p ON a.key = p.key").to_arrow_table())
    finally:
        con.close()
    kept = pa.concat_tables([p.cast(SUMMARY_SCHEMA) for p in parts]) if parts else SUMMARY_SCHEMA.empty_table()
    listed, unlisted = manifest_summaries(store, missing) if cache else (None, missing)
    fresh = summarize_files(store, unlisted, files)
    table = pa.concat_tables([t for t in (kept, listed, fresh) if t is not None and t.num_rows]
                             or [SUMMARY_SCHEMA.empty_table()])
    if path is not None and local_known != present:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".summary-")
            os.close(fd)
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
        except OSError:
            pass
    from_archive = len((present & archive_known) - local_known)
    return SummaryResult(table, keys, len(keys) - len(missing), len(missing), from_archive, archive_key if
                         archived is not None else None, archived is not None and archive_known == present,
                         from_manifests=len(missing) - len(unlisted))


def _sql(con: duckdb.DuckDBPyConnection, sql: str, paths: list[str], params: dict | None = None) -> pa.Table:
    """Run `sql` with `{rows}` standing for the rows of the Parquet files at `paths`. Files written with the
    same schema are read fast; if their schemas differ (a later software version added columns) the query
    is retried with union_by_name."""
    try:
        return con.sql(sql.format(rows="read_parquet($paths)"), params={"paths": paths, **(params or {})}).to_arrow_table()
    except duckdb.Error as first:
        try:
            return con.sql(sql.format(rows="read_parquet($paths, union_by_name = true)"),
                           params={"paths": paths, **(params or {})}).to_arrow_table()
        except duckdb.Error:
            bad = unreadable(paths)
            if bad:
                raise UnreadableRecords(bad) from None
            raise first


class UnreadableRecords(ValueError):
    """Records objects that cannot be read as Parquet: nothing may be decided until they are repaired."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        super().__init__(f"records files cannot be read ({shown}); run civic-archive verify: nothing is decided "
                         "from an archive with damaged records")


def unreadable(paths: list[str]) -> list[str]:
    bad = []
    for path in paths:
        try:
            pq.ParquetFile(path).read(columns=["record_id", "created_at", "warc_file"])
        except Exception:
            bad.append(path)
    return bad


def query_rows(store: ArchiveStore, keys: list[str], select_sql: str, params: dict | None = None,
               files: LocalFiles | None = None) -> pa.Table:
    """Run `select_sql` over the rows of `keys`. In it, `{rows}` stands for those rows, each with the extra
    column `key` (the object it came from)."""
    if not keys:
        return None
    own = files is None
    files = files or LocalFiles(store)
    con = connect()
    try:
        paths = files.paths(keys)
        con.register("keys_t", _key_table(keys))
        inner = "(SELECT p.*, k.key FROM {rows} p JOIN keys_t k ON k.file_index = p.file_index)"
        return _sql(con, select_sql.replace("{rows}", inner), paths, params)
    finally:
        con.close()
        if own:
            files.close()
