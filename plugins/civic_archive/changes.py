"""Change detection: what is new, edited, hidden, unhidden, restored or gone since the account's last runs.

During the walk every observed item becomes a provisional row, spooled to Parquet in batches (memory stays
flat however large the account). Afterwards one DuckDB query joins the observed rows with the account's
state and yields only the rows that changed, with their new version, status and record id; another finds
the items the walk should have seen but did not (candidates for removal).

The state is what earlier runs saw of each item, kept compactly (no content) so it outlives the records
themselves: an item whose records were disposed of is still known and not archived again as new. Each run
writes the state rows it changed (`state/{account}/{run_id}.parquet`); a full sweep writes a complete,
created_at-sorted snapshot instead (`{run_id}.snapshot.parquet`), and later runs read only the newest
snapshot and the deltas after it. Nightly runs read the state only from the oldest observed `created_at`
on, which Parquet statistics prune, so their cost follows the re-check window, not the archive's size.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from civic_archive import records

ROOT_KINDS = ("post", "video")
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
])
STATE_COLUMNS = STATE_SCHEMA.names
# Observed rows: the record columns plus what detection needs.
OBSERVED_SCHEMA = pa.schema(list(records.ARROW_SCHEMA) + [
    pa.field("hidden", pa.bool_()), pa.field("root_platform_id", pa.string()), pa.field("seq", pa.int64()),
    pa.field("part", pa.string()),
])


class ObservedSpool:
    """Provisional rows of observed items, written to Parquet every `batch` rows."""

    def __init__(self, directory: str, batch: int = 5000):
        self.directory = directory
        self.batch = batch
        self.paths: list[str] = []
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: dict[str, Any], *, hidden: bool, root: str | None, part: str) -> None:
        row = dict(row, hidden=hidden, root_platform_id=root, seq=self.count, part=part)
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        path = os.path.join(self.directory, f"observed-{len(self.paths):05d}.parquet")
        table = records.rows_to_table(self._rows, OBSERVED_SCHEMA)
        pq.write_table(table, path, compression="zstd")
        self.paths.append(path)
        self._rows = []


def _parquet_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


@dataclass
class Detector:
    """One run's change detection over spooled observations and the account's state files."""

    account_id: str
    observed: list[str]
    state: list[str]
    spool_dir: str
    memory_limit: str = "1GB"

    def __post_init__(self):
        self.con = duckdb.connect()
        self.con.execute(f"SET memory_limit='{self.memory_limit}'")
        self.con.execute(f"SET temp_directory='{self.spool_dir}/duckdb.tmp'")
        self.con.execute("SET preserve_insertion_order=false")
        self.con.register("st_empty", STATE_SCHEMA.empty_table())
        if self.observed:
            self.con.execute(f"""CREATE TEMP VIEW obs AS SELECT * FROM read_parquet({_parquet_list(self.observed)})
                QUALIFY row_number() OVER (PARTITION BY kind, platform_id ORDER BY seq) = 1""")
        else:
            self.con.register("obs", OBSERVED_SCHEMA.empty_table())
        self.floor = self._min_observed_created()

    def _min_observed_created(self) -> datetime | None:
        # Through Arrow: DuckDB's own conversion of TIMESTAMPTZ to Python needs pytz.
        return self.con.sql("SELECT min(created_at) AS m FROM obs").to_arrow_table()["m"][0].as_py()

    def _state(self, since: datetime | None) -> str:
        """The latest state row per item, restricted to items created from `since` on when given."""
        if not self.state:
            return "(SELECT * FROM st_empty)"
        where = "WHERE created_at >= $since" if since is not None else ""
        return (f"(SELECT * FROM read_parquet({_parquet_list(self.state)}, union_by_name=true) {where} "
                "QUALIFY row_number() OVER (PARTITION BY kind, platform_id ORDER BY version DESC) = 1)")

    def _params(self, since):
        return {"since": since} if since is not None and self.state else {}

    def observed_count(self) -> int:
        return self.con.sql("SELECT count(*) FROM obs").fetchall()[0][0]

    def changed(self) -> duckdb.DuckDBPyRelation:
        """Observed rows that are new or differ from their last state, with version/status/record_id set,
        ordered by partition so each records file is written in one go."""
        st = self._state(self.floor)
        sql = f"""
            WITH j AS (
                SELECT obs.*, st.version AS prev_version, st.status AS prev_status,
                       st.content_sha256 AS prev_sha, coalesce(st.edited, st.status = 'edited', false) AS prev_edited
                FROM obs LEFT JOIN {st} AS st ON obs.kind = st.kind AND obs.platform_id = st.platform_id
            ), c AS (
                SELECT j.*,
                    coalesce(prev_version, 0) + 1 AS new_version,
                    CASE WHEN prev_version IS NULL THEN 'new'
                         WHEN content_sha256 <> prev_sha THEN 'edited'
                         WHEN prev_status IN ('removed', 'deleted') THEN 'restored'
                         WHEN hidden THEN 'hidden' ELSE 'unhidden' END AS what,
                    prev_edited OR (prev_version IS NOT NULL AND content_sha256 <> prev_sha) AS now_edited
                FROM j
                WHERE prev_version IS NULL OR content_sha256 <> prev_sha OR prev_status IN ('removed', 'deleted')
                   OR hidden <> (prev_status = 'hidden')
            )
            SELECT * EXCLUDE (version, status, record_id, new_version, prev_version, prev_status, prev_sha,
                              prev_edited, now_edited),
                   CAST(new_version AS INTEGER) AS version,
                   CASE WHEN hidden THEN 'hidden' WHEN now_edited THEN 'edited' ELSE 'live' END AS status,
                   substr(sha256(concat_ws(chr(31), $account, kind, platform_id, CAST(new_version AS VARCHAR))),
                          1, 32) AS record_id,
                   now_edited AS edited
            FROM c ORDER BY part, seq"""
        params = {"account": self.account_id, **self._params(self.floor)}
        return self.con.sql(sql, params=params)

    def missing(self, *, since: datetime | None, walked_roots: Iterable[str]) -> list[dict[str, Any]]:
        """State items (not already gone) that the walk covered but did not see: a root item inside the
        window, anything under a root whose subtree was walked to its end, and anything under a root that
        is itself missing (a deleted post takes its comments with it)."""
        if not self.state:
            return []
        roots = pa.table({"root": pa.array(sorted(set(walked_roots)), pa.string())})
        self.con.register("walked", roots)
        st = self._state(since)
        sql = f"""
            WITH s AS (SELECT * FROM {st} AS st
                       WHERE st.status NOT IN ('removed', 'deleted')
                         AND NOT EXISTS (SELECT 1 FROM obs WHERE obs.kind = st.kind
                                                             AND obs.platform_id = st.platform_id)),
                 gone_roots AS (SELECT platform_id FROM s WHERE kind IN {ROOT_KINDS})
            SELECT * FROM s
            WHERE kind IN {ROOT_KINDS}
               OR root_platform_id IN (SELECT root FROM walked)
               OR root_platform_id IN (SELECT platform_id FROM gone_roots)"""
        return self.con.sql(sql, params=self._params(since)).to_arrow_table().to_pylist()

    def snapshot(self, delta: str | None, path: str) -> int:
        """Write the whole current state (old state + this run's delta), sorted by created_at."""
        files = self.state + ([delta] if delta else [])
        if not files:
            return 0
        self.con.execute(f"""COPY (
                SELECT {', '.join(STATE_COLUMNS)} FROM read_parquet({_parquet_list(files)}, union_by_name=true)
                QUALIFY row_number() OVER (PARTITION BY kind, platform_id ORDER BY version DESC) = 1
                ORDER BY created_at) TO '{path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)""")
        return pq.ParquetFile(path).metadata.num_rows

    def close(self) -> None:
        self.con.close()


def state_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{k: r.get(k) for k in STATE_COLUMNS} for r in rows], schema=STATE_SCHEMA)
