"""Change detection: what is new, edited, hidden, unhidden, restored or gone since the account's last runs.

During the walk every observed item becomes a provisional row, spooled to Parquet in batches (memory stays
flat however large the account). Afterwards one DuckDB query joins the observed rows with the account's
state and yields only the rows that changed, with their new version, status and record id; another finds
the items the walk should have seen but did not (candidates for removal).

The state is what earlier runs saw of each item, kept compactly (no content) so it outlives the records
themselves: an item whose records were disposed of is still known and not archived again as new. Each run
writes the state rows it changed (`state/{account}/{run_id}.parquet`); a full sweep writes a complete,
created_at-sorted snapshot instead, cut into chunks of at most SNAPSHOT_CHUNK_ROWS rows named for the newest
`created_at` they hold (`{run_id}.snapshot.{k}.{newest}.parquet`; older archives have one
`{run_id}.snapshot.parquet`). Later runs read only the newest snapshot and the deltas after it, and a
nightly run fetches only the chunks that reach into its window: from an object store it downloads a few
megabytes, not the whole state. Nightly runs read the state only from the oldest observed `created_at`
(or the window's start, if older) on, which Parquet statistics prune, and only once: both detection and the
search for missing items use that one materialized slice, so their cost follows the re-check window, not the
archive's size.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from civic_archive import records

ROOT_KINDS = ("post", "video")
# DuckDB's memory during a harvest (detection, then the snapshot; never both at once): it spills to the run's
# spool beyond this, so a run's peak memory is about the walk's (~165 MB) plus this plus a few Arrow batches,
# whatever the account's size.
DUCKDB_MEMORY = os.environ.get("CIVIC_ARCHIVE_DUCKDB_MEMORY", "256MB")
MISSING_PER_RUN = 20_000  # items a run looks up as possibly gone; more wait for the next runs
SNAPSHOT_CHUNK_ROWS = 200_000  # ~10 MB of state per chunk object
GONE = ("removed", "deleted")
_TS = pa.timestamp("us", tz="UTC")

STATE_SCHEMA = pa.schema([
    ("kind", pa.string()),
    ("platform_id", pa.string()),
    ("parent_platform_id", pa.string()),
    ("root_platform_id", pa.string()),
    ("version", pa.int32()),
    ("status", pa.string()),
    ("edited", pa.bool_()),
    ("content_sha256", pa.string()),
    ("record_id", pa.string()),
    ("records_key", pa.string()),  # the records object holding this version's row (for last copies)
    ("created_at", _TS),
    ("last_seen_at", _TS),
    ("run_id", pa.string()),
    # Where this version's media bytes are (media items only): the next walk reuses them instead of fetching
    # the same bytes again (see `known_media`). State written before these columns existed lacks them.
    ("media_sha256", pa.string()),
    ("media_warc_file", pa.string()),
    ("media_warc_offset", pa.int64()),
    ("media_warc_record_id", pa.string()),
])
STATE_COLUMNS = STATE_SCHEMA.names
MEDIA_STATE_COLUMNS = ["media_sha256", "media_warc_file", "media_warc_offset", "media_warc_record_id"]
# An item's current state row: its highest version; of two rows of one version (a media item's row and the
# copy that added where its bytes are, see `Detector.media_backfill`), the one seen last.
LATEST = "version DESC, last_seen_at DESC NULLS LAST"
# Observed rows: the record columns plus what detection needs.
OBSERVED_SCHEMA = pa.schema(list(records.ARROW_SCHEMA) + [
    pa.field("hidden", pa.bool_()), pa.field("root_platform_id", pa.string()), pa.field("seq", pa.int64()),
    pa.field("part", pa.string()),
])


class ObservedSpool:
    """Provisional rows of observed items, spooled to Parquet by partition (a partition being one records
    file's worth: series and month of creation), a row group per flush, so that each partition can later be
    read on its own and the file count stays small.

    At most `open_files` Parquet writers are open at a time (each holds its encoders and compression state,
    ~1 MB): an account's walk touches one month after another, so the partition a writer was closed for is
    seldom met again, and if it is, its rows go to another file of that partition. Without the bound, a walk
    over many years kept a writer open per month and its memory grew with the account's age."""

    def __init__(self, directory: str, batch: int = 5000, open_files: int = 8):
        self.directory = directory
        self.batch = batch
        self.open_files = open_files
        self.parts: dict[str, list[str]] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}  # in order of last use
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._buffered = 0
        self._files = 0
        self.count = 0

    @property
    def paths(self) -> list[str]:
        return [p for paths in self.parts.values() for p in paths]

    def add(self, row: dict[str, Any], *, hidden: bool, root: str | None, part: str) -> None:
        self._rows.setdefault(part, []).append(dict(row, hidden=hidden, root_platform_id=root, seq=self.count,
                                                    part=part))
        self.count += 1
        self._buffered += 1
        if self._buffered >= self.batch:
            self.flush()

    def _writer(self, part: str) -> pq.ParquetWriter:
        writer = self._writers.pop(part, None)
        if writer is None:
            while len(self._writers) >= self.open_files:
                self._writers.pop(next(iter(self._writers))).close()
            path = os.path.join(self.directory, f"observed-{self._files:05d}.parquet")
            self._files += 1
            writer = pq.ParquetWriter(path, OBSERVED_SCHEMA, compression="zstd")
            self.parts.setdefault(part, []).append(path)
        self._writers[part] = writer  # now the most recently used
        return writer

    def flush(self) -> None:
        for part, rows in self._rows.items():
            self._writer(part).write_table(records.rows_to_table(rows, OBSERVED_SCHEMA))
        self._rows = {}
        self._buffered = 0

    def close(self) -> None:
        self.flush()
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
        # Arrow's allocator keeps freed pages for reuse; the walk's are not needed again.
        pa.default_memory_pool().release_unused()


def is_snapshot_file(path: str) -> bool:
    """Whether a state file (by its object name, kept by local copies) is part of a snapshot."""
    return parse_state_name(os.path.basename(path).split("@", 1)[-1])[1]


def snapshot_chunk_name(run_id: str, k: int, newest: datetime | None) -> str:
    stamp = f"{newest.astimezone(timezone.utc):%Y%m%dT%H%M%S%f}Z" if newest is not None else "empty"
    return f"{run_id}.snapshot.{k:05d}.{stamp}.parquet"


def parse_state_name(name: str) -> tuple[str, bool, datetime | None, bool]:
    """(run id, is part of a snapshot, newest created_at in it if the name tells, holds any rows) of a state
    object's file name."""
    stem = name.removesuffix(".parquet")
    run_id, snap, rest = stem.partition(".snapshot")
    if not snap:
        return stem, False, None, True
    if not rest:  # a snapshot in one file (archives before chunking)
        return run_id, True, None, True
    stamp = rest.rsplit(".", 1)[1]
    if stamp == "empty":
        return run_id, True, None, False
    return run_id, True, datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc), True


def sql_string(text: str) -> str:
    """`text` as an SQL string literal (for file paths in DuckDB statements)."""
    return "'" + text.replace("'", "''") + "'"


def spilling_duckdb(path: str, memory_limit: str | None = None, threads: int = 1) -> duckdb.DuckDBPyConnection:
    """A DuckDB database in the file `path` whose memory is bounded by `memory_limit` (default DUCKDB_MEMORY):
    beyond it, DuckDB spills to `duckdb.tmp` beside the file. A file, not an in-memory database: its tables
    then live on disk behind DuckDB's buffer pool, so the limit really bounds the memory however many items
    a run sees. Insertion order is not kept (it lets sorts and aggregates spill); queries that need an order
    ask for it."""
    con = duckdb.connect(path)
    con.execute(f"SET memory_limit={sql_string(memory_limit or DUCKDB_MEMORY)}")
    con.execute(f"SET temp_directory={sql_string(os.path.join(os.path.dirname(path), 'duckdb.tmp'))}")
    con.execute("SET preserve_insertion_order=false")
    con.execute(f"SET threads={int(threads)}")
    return con


def _parquet_list(paths: list[str]) -> str:
    return "[" + ", ".join(sql_string(p) for p in paths) + "]"


def _state_select(files: list[str]) -> str:
    """The select list of STATE_COLUMNS over `files`: a column none of them has (state written before it
    existed) reads as NULL."""
    present = set()
    for path in files:
        present.update(pq.read_schema(path).names)
    return ", ".join(name if name in present else f"{_null(name)} AS {name}" for name in STATE_COLUMNS)


_SQL_TYPES = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN",
              _TS: "TIMESTAMPTZ"}


def _null(column: str) -> str:
    """A NULL of the state column's type, in SQL."""
    return f"CAST(NULL AS {_SQL_TYPES[STATE_SCHEMA.field(column).type]})"


def current_state(files: list[str], where: str = "TRUE") -> str:
    """SQL (a parenthesized subquery) for the latest state row of each item in `files` that matches `where`
    (tested before choosing the latest).

    A snapshot's files hold one row per item, so only the other files (deltas) need the latest-version
    window; snapshot rows a delta supersedes are dropped by an anti-join. (One window over a 10M-item state
    took a minute and came close to DuckDB's memory limit.)"""
    base = [p for p in files if is_snapshot_file(p)]
    deltas = [p for p in files if not is_snapshot_file(p)]
    latest = (f"SELECT {_state_select(deltas)} FROM read_parquet({_parquet_list(deltas)}, union_by_name=true) "
              f"WHERE {where} QUALIFY row_number() OVER (PARTITION BY kind, platform_id ORDER BY {LATEST}) = 1")
    if not base:
        return f"({latest})"
    rows = f"SELECT {_state_select(base)} FROM read_parquet({_parquet_list(base)}, union_by_name=true) AS b WHERE {where}"
    if not deltas:
        return f"({rows})"
    return (f"(WITH d AS ({latest}) {rows} AND NOT EXISTS (SELECT 1 FROM d WHERE d.kind = b.kind "
            "AND d.platform_id = b.platform_id) UNION ALL SELECT * FROM d)")


def known_media(files: list[str], since: datetime | None = None) -> dict[str, tuple[str, str, str, int, str]]:
    """What the state says the archive holds for each media item created from `since` on (all when None):
    platform id → (content_sha256, media_sha256, media_warc_file, media_warc_offset, media_warc_record_id) of
    its latest version, if that version's bytes are in the archive. Gone items (removed or deleted) are left
    out; so are items whose state was written before the media columns existed (they are fetched again once:
    see `Detector.media_backfill`). `files` are the state files the run fetches anyway."""
    if not any(set(MEDIA_STATE_COLUMNS) <= set(pq.read_schema(f).names) for f in files):
        return {}
    where = "kind = 'media'" + (" AND created_at >= $since" if since is not None else "")
    con = duckdb.connect()
    try:
        con.execute("SET threads=1")
        con.execute(f"SET memory_limit='{DUCKDB_MEMORY}'")
        rows = con.execute(f"""
            SELECT platform_id, content_sha256, media_sha256, media_warc_file, media_warc_offset,
                   media_warc_record_id, status
            FROM {current_state(files, where)}""", {"since": since} if since is not None else {}).fetchall()
    finally:
        con.close()
    return {pid: (sha, media_sha, warc, offset, rid) for pid, sha, media_sha, warc, offset, rid, status in rows
            if media_sha and warc and offset is not None and rid and status not in GONE}


@dataclass
class Detector:
    """One run's change detection over spooled observations and the account's state files.

    Detection runs on a narrow projection (keys, content hashes, moderation flags), so its memory does not
    depend on how large the items are; the wide rows are then streamed one partition at a time and joined
    to the narrow result. DuckDB spills to the run's spool when it needs more than `memory_limit`."""

    account_id: str
    parts: dict[str, list[str]]
    state: list[str]  # state files; may be set after construction, from `state_bound()`, before detection
    spool_dir: str
    since: datetime | None = None  # the walk's window (None: a full sweep, which can touch any state row)
    memory_limit: str = field(default_factory=lambda: DUCKDB_MEMORY)
    threads: int = 1  # detection is not the bottleneck; one thread keeps its buffers small

    def __post_init__(self):
        self.con = spilling_duckdb(os.path.join(self.spool_dir, "detect.duckdb"), self.memory_limit, self.threads)
        self.con.register("st_empty", STATE_SCHEMA.empty_table())
        observed = [p for paths in self.parts.values() for p in paths]
        if observed:
            # The first sighting of each item wins (an item can be listed twice while pages shift).
            self.con.execute(f"""CREATE TEMP TABLE obs AS
                SELECT kind, platform_id, min(seq) AS seq, arg_min(content_sha256, seq) AS content_sha256,
                       arg_min(hidden, seq) AS hidden, arg_min(part, seq) AS part,
                       arg_min(created_at, seq) AS created_at
                FROM (SELECT kind, platform_id, seq, content_sha256, hidden, part, created_at
                      FROM read_parquet({_parquet_list(observed)}))
                GROUP BY kind, platform_id""")
        else:
            self.con.execute("CREATE TEMP TABLE obs (kind VARCHAR, platform_id VARCHAR, seq BIGINT, "
                             "content_sha256 VARCHAR, hidden BOOLEAN, part VARCHAR, created_at TIMESTAMPTZ)")
        self.floor = self._min_observed_created()
        self._st_bound: tuple[datetime | None] | None = None  # (lower created_at bound,) once `st` exists

    def _min_observed_created(self) -> datetime | None:
        # Through Arrow: DuckDB's own conversion of TIMESTAMPTZ to Python needs pytz.
        return self.con.sql("SELECT min(created_at) AS m FROM obs").to_arrow_table()["m"][0].as_py()

    def _state(self, since: datetime | None) -> str:
        """The latest state row per item, restricted to items created from `since` on when given."""
        if not self.state:
            return "(SELECT * FROM st_empty)"
        return current_state(self.state, "created_at >= $since" if since is not None else "TRUE")

    def _params(self, since):
        return {"since": since} if since is not None and self.state else {}

    def state_bound(self) -> datetime | None:
        """The oldest `created_at` this run's detection can ask the state about (None: all of it)."""
        if self.since is None:
            return None
        return min(b for b in (self.since, self.floor) if b is not None)

    def _state_table(self, since: datetime | None) -> tuple[str, dict]:
        """The latest state rows from `since` on, out of the one slice of the state this run reads: from the
        window's start or the oldest observed item, whichever is older (everything for a full sweep). The
        state files are read once per run, however many questions are asked of them."""
        if self._st_bound is None:
            bound = self.state_bound()
            self.con.execute(f"CREATE TEMP TABLE st AS SELECT * FROM {self._state(bound)}", self._params(bound))
            self._st_bound = (bound,)
        bound = self._st_bound[0]
        # Outside the slice: read the files again (a harvest never asks: it fetches only the state files that
        # reach `state_bound()`, so older rows would not be there).
        if bound is not None and (since is None or since < bound):
            return self._state(since), self._params(since)
        if since is None:
            return "st", {}
        return "(SELECT * FROM st WHERE created_at >= $since)", {"since": since}

    def media_backfill(self, seen_at: datetime) -> pa.Table | None:
        """State rows that add where the media bytes are to media items whose state predates the media columns
        and that this walk saw unchanged (same content hash, so the same bytes, which it fetched): a copy of
        the item's current row, same version, with the media columns of this sighting and `last_seen_at` =
        `seen_at`, so it wins over the row it copies. Later walks then reuse those bytes. None when there
        is nothing to add (the usual case once an archive has been swept since)."""
        observed = [p for paths in self.parts.values() for p in paths]
        if not observed or not self.state:
            return None
        st, params = self._state_table(self.floor)
        have = set(self.con.sql(f"SELECT * FROM {st} LIMIT 0", params=params).columns)  # older state lacks some

        def current(c: str) -> str:
            return f"s.{c}" if c in have else _null(c)

        media = ", ".join(f"arg_min({c}, seq) AS {c}" for c in MEDIA_STATE_COLUMNS)
        columns = ", ".join(f"o.{c}" if c in MEDIA_STATE_COLUMNS else "$seen" if c == "last_seen_at"
                            else current(c) for c in STATE_COLUMNS)
        table = self.con.sql(f"""
            SELECT {columns} FROM (SELECT * FROM {st}) AS s JOIN (
                SELECT kind, platform_id, arg_min(content_sha256, seq) AS content_sha256, {media}
                FROM read_parquet({_parquet_list(observed)}) WHERE kind = 'media' GROUP BY kind, platform_id
            ) AS o ON s.kind = o.kind AND s.platform_id = o.platform_id
            WHERE {current("media_warc_record_id")} IS NULL AND o.media_warc_record_id IS NOT NULL
              AND o.content_sha256 = s.content_sha256 AND s.status NOT IN ('removed', 'deleted')""",
                             params={**params, "seen": seen_at}).to_arrow_table()
        table = pa.Table.from_arrays(table.columns, names=STATE_COLUMNS)
        return table.cast(STATE_SCHEMA) if table.num_rows else None

    def observed_count(self) -> int:
        return self.con.sql("SELECT count(*) FROM obs").fetchall()[0][0]

    def _detect(self) -> None:
        """The narrow change set: which observed items changed, and their new version/status/record id."""
        st, params = self._state_table(self.floor)
        self.con.execute(f"""CREATE TEMP TABLE changed AS
            WITH j AS (
                SELECT obs.seq, obs.part, obs.kind, obs.platform_id, obs.hidden, obs.content_sha256,
                       st.version AS prev_version, st.status AS prev_status, st.content_sha256 AS prev_sha,
                       coalesce(st.edited, st.status = 'edited', false) AS prev_edited
                FROM obs LEFT JOIN {st} AS st ON obs.kind = st.kind AND obs.platform_id = st.platform_id
            ), c AS (
                SELECT j.*, coalesce(prev_version, 0) + 1 AS new_version,
                    CASE WHEN prev_version IS NULL THEN 'new'
                         WHEN content_sha256 <> prev_sha THEN 'edited'
                         WHEN prev_status IN ('removed', 'deleted') THEN 'restored'
                         WHEN hidden THEN 'hidden' ELSE 'unhidden' END AS what,
                    prev_edited OR (prev_version IS NOT NULL AND content_sha256 <> prev_sha) AS now_edited
                FROM j
                WHERE prev_version IS NULL OR content_sha256 <> prev_sha OR prev_status IN ('removed', 'deleted')
                   OR hidden <> (prev_status = 'hidden')
            )
            SELECT seq, part, what, now_edited AS edited, CAST(new_version AS INTEGER) AS version,
                   -- hidden from the public since the last run: when that was noticed (DESIGN §5)
                   hidden AND prev_version IS NOT NULL AND prev_status IS DISTINCT FROM 'hidden' AS hidden_now,
                   CASE WHEN hidden THEN 'hidden' WHEN now_edited THEN 'edited' ELSE 'live' END AS status,
                   substr(sha256(concat_ws(chr(31), $account, kind, platform_id, CAST(new_version AS VARCHAR))),
                          1, 32) AS record_id
            FROM c""", {"account": self.account_id, **params})

    def changed(self, batch_rows: int = 20_000):
        """Arrow batches of the full rows that changed, with version/status/record_id set, one partition
        after the other (so each records file is written in one go)."""
        self._detect()
        parts = [r[0] for r in self.con.sql("SELECT DISTINCT part FROM changed ORDER BY part").fetchall()]
        for part in parts:
            rel = self.con.sql(f"""
                SELECT w.* EXCLUDE (version, status, record_id, removed_detected_at), c.version, c.status,
                       c.record_id, CASE WHEN c.hidden_now THEN w.captured_at ELSE w.removed_detected_at END
                       AS removed_detected_at, c.what, c.edited
                FROM read_parquet({_parquet_list(self.parts[part])}) AS w
                JOIN (SELECT * FROM changed WHERE part = $part) AS c ON w.seq = c.seq""", params={"part": part})
            yield from rel.to_arrow_reader(batch_rows)

    def missing(self, *, since: datetime | None, walked_roots: Iterable[str],
                limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """State items (not already gone) that the walk covered but did not see: a root item inside the
        window, anything under a root whose subtree was walked to its end, and anything under a root that
        is itself missing (a deleted post takes its comments with it). An item that is its own root (the
        account's own X replies, listed by its timeline like its posts) counts as a root item.

        Returns (rows, how many there are in all). Rows come in whole root groups (a post with its comments)
        until `limit` is reached: a walk that suddenly lists nothing must not turn a large account into
        millions of rows in memory and as many lookups in one run; the rest are found again next run."""
        if not self.state:
            return [], 0
        limit = MISSING_PER_RUN if limit is None else limit
        roots = pa.table({"root": pa.array(sorted(set(walked_roots)), pa.string())})
        self.con.register("walked", roots)
        st, params = self._state_table(since)
        cand = f"""
            WITH s AS (SELECT * FROM {st} AS st
                       WHERE st.status NOT IN ('removed', 'deleted')
                         AND NOT EXISTS (SELECT 1 FROM obs WHERE obs.kind = st.kind
                                                             AND obs.platform_id = st.platform_id)),
                 -- an item that is its own root (the account's own X replies) is a candidate like a post
                 gone_roots AS (SELECT platform_id FROM s
                                WHERE kind IN {ROOT_KINDS} OR root_platform_id = platform_id)
            SELECT *, coalesce(root_platform_id, platform_id) AS grp FROM s
            WHERE kind IN {ROOT_KINDS}
               OR root_platform_id IN (SELECT root FROM walked)
               OR root_platform_id IN (SELECT platform_id FROM gone_roots)"""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE cand AS {cand}", params)
        total = self.con.sql("SELECT count(*) FROM cand").fetchall()[0][0]
        if total <= limit:
            rows = self.con.sql("SELECT * EXCLUDE (grp) FROM cand").to_arrow_table()
        else:
            rows = self.con.sql("""
                WITH g AS (SELECT grp, count(*) AS n FROM cand GROUP BY grp),
                     gs AS (SELECT grp, sum(n) OVER (ORDER BY grp ROWS UNBOUNDED PRECEDING) - n AS before FROM g)
                SELECT cand.* EXCLUDE (grp) FROM cand JOIN gs USING (grp) WHERE gs.before < $limit""",
                                params={"limit": limit}).to_arrow_table()
        return rows.to_pylist(), total

    def close(self) -> None:
        self.con.close()
