"""State snapshots: the whole current state of an account, written by a full sweep as created_at-ordered chunks.

A snapshot is the latest row of every item the account ever had: the previous snapshot's chunks with the
deltas written since (this run's included) laid over them. The previous chunks are already in created_at
order and cover disjoint ranges, so the new snapshot is merged one chunk at a time: the chunk's rows that
no delta supersedes, plus the deltas' latest rows whose created_at falls in the chunk's range, sorted. Memory
and time then follow one chunk and the deltas, not the whole state (10M items: a global window-and-sort took
115 s and 1.2 GB of memory; see docs/performance.md). Without a previous chunked snapshot (a first run, or
an archive from before chunking) the deltas alone are sorted, which DuckDB does out of core.

Chunk files hold at most `chunk_rows` rows and are named by the caller for the newest created_at they hold.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from civic_archive import changes

BATCH_ROWS = 50_000
MERGE_IN_MEMORY = 100_000  # delta rows merged into one batch in memory; more are sorted by DuckDB
IN_MEMORY_KEYS = 2_000_000  # superseded keys held as an Arrow array (~100 MB at most)


class ChunkWriter:
    """Writes a created_at-ordered stream of state batches as chunk files of at most `chunk_rows` rows."""

    def __init__(self, directory: str, chunk_rows: int | None = None):
        self.directory = directory
        self.chunk_rows = chunk_rows or changes.SNAPSHOT_CHUNK_ROWS
        self.chunks: list[tuple[str, int, datetime | None]] = []
        self._writer: pq.ParquetWriter | None = None
        self._path = ""
        self._rows = 0
        self._newest: datetime | None = None
        os.makedirs(directory, exist_ok=True)

    def write(self, table: pa.Table) -> None:
        table = conform(table)
        while table.num_rows:
            if self._writer is None:
                self._path = os.path.join(self.directory, f"chunk-{len(self.chunks):05d}.parquet")
                self._writer = pq.ParquetWriter(self._path, changes.STATE_SCHEMA, compression="zstd")
                self._rows, self._newest = 0, None
            part = table.slice(0, self.chunk_rows - self._rows)
            table = table.slice(part.num_rows)
            self._writer.write_table(part, row_group_size=100_000)
            self._rows += part.num_rows
            newest = pc.max(part["created_at"]).as_py()
            if newest is not None and (self._newest is None or newest > self._newest):
                self._newest = newest
            if self._rows >= self.chunk_rows:
                self._close()

    def _close(self) -> None:
        self._writer.close()
        self.chunks.append((self._path, self._rows, self._newest))
        self._writer = None

    def close(self) -> list[tuple[str, int, datetime | None]]:
        """[(path, rows, newest created_at)], oldest first; one empty chunk when nothing was written."""
        if self._writer is not None:
            self._close()
        if not self.chunks:
            empty = os.path.join(self.directory, "chunk-00000.parquet")
            pq.write_table(changes.STATE_SCHEMA.empty_table(), empty)
            self.chunks.append((empty, 0, None))
        return self.chunks


def conform(table: pa.Table) -> pa.Table:
    """`table` in STATE_SCHEMA: columns it lacks (state written before they existed) are null."""
    columns = [table[f.name] if f.name in table.schema.names else pa.nulls(table.num_rows, f.type)
               for f in changes.STATE_SCHEMA]
    if table.schema == changes.STATE_SCHEMA:
        return table
    return pa.Table.from_arrays(columns, names=changes.STATE_COLUMNS).cast(changes.STATE_SCHEMA)


def split_sorted(path: str, directory: str, chunk_rows: int | None = None) -> list[tuple[str, int, datetime | None]]:
    """Cut a created_at-sorted state file into chunk files: [(path, rows, newest created_at)], oldest first."""
    out = ChunkWriter(directory, chunk_rows)
    for batch in _batches([path]):
        out.write(batch)
    return out.close()


def write(base: list[str], deltas: list[str], directory: str, *, chunk_rows: int | None = None,
          memory_limit: str | None = None) -> list[tuple[str, int, datetime | None]]:
    """The new snapshot's chunk files in `directory`: [(path, rows, newest created_at)], oldest first.

    `base`: the previous snapshot's chunk files in chunk order (each created_at-sorted, ranges disjoint and
    ascending); `deltas`: every state file written after it (rows of later runs, so of higher versions)."""
    os.makedirs(directory, exist_ok=True)
    db = os.path.join(directory, "snapshot.duckdb")
    con = changes.spilling_duckdb(db, memory_limit)
    try:
        if not any(pq.ParquetFile(path).metadata.num_rows for path in base):
            if not deltas:
                return ChunkWriter(directory, chunk_rows).close()
            # No previous snapshot (a first harvest, or an archive from before chunking): the oldest file, a
            # run's delta or an old one-file snapshot (one row per item either way), is sorted alone and
            # becomes the base the later ones are merged over. (A window over 10M rows for the latest
            # version ran out of memory in 256 MB; a plain sort spills.)
            staged = _sorted_chunks(con, deltas[0], os.path.join(directory, "staged"), chunk_rows)
            deltas = deltas[1:]
            if not deltas:
                return staged
            base = [path for path, rows, _ in staged if rows]
        out = ChunkWriter(directory, chunk_rows)
        batches = _batches(base)
        batch, lo = next(batches, None), None
        n_deltas = 0
        if deltas:
            con.execute(f"CREATE TABLE d AS SELECT * FROM {changes.current_state(deltas)}")
            n_deltas = con.sql("SELECT count(*) FROM d").fetchall()[0][0]
        # The keys the deltas supersede, in memory when they are few (the usual case: a month of nightly
        # changes); otherwise each chunk is filtered by DuckDB, which spills.
        superseded = (con.sql("SELECT kind || chr(31) || platform_id AS k FROM d").to_arrow_table()["k"]
                      if 0 < n_deltas <= IN_MEMORY_KEYS else None)
        nulls_placed = False  # undated delta rows go first (none are expected: records require created_at)
        while batch is not None:
            following = next(batches, None)
            hi = pc.max(batch["created_at"]).as_py()
            if n_deltas:
                if superseded is not None:
                    keys = pc.binary_join_element_wise(batch["kind"], batch["platform_id"], "\x1f")
                    batch = batch.filter(pc.invert(pc.is_in(keys, value_set=superseded)))
                else:
                    con.register("b", batch)
                    batch = con.sql("""SELECT * FROM b WHERE NOT EXISTS (
                        SELECT 1 FROM d WHERE d.kind = b.kind AND d.platform_id = b.platform_id)
                        ORDER BY created_at""").to_arrow_table()
                    con.unregister("b")
                # The deltas' rows in (lo, hi]: the first range also takes anything older, the last anything newer.
                where, params = ["TRUE"], {}
                if lo is not None:
                    where.append("created_at > $lo")
                    params["lo"] = lo
                if hi is not None:
                    where.append("created_at <= $hi" if nulls_placed else "(created_at <= $hi OR created_at IS NULL)")
                    nulls_placed = True
                    params["hi"] = hi
                    rows = f"SELECT * FROM d WHERE {' AND '.join(where)}"
                    added = con.sql(f"{rows} LIMIT {MERGE_IN_MEMORY + 1}", params=params).to_arrow_table()
                    if added.num_rows > MERGE_IN_MEMORY:  # many: DuckDB sorts them with the batch, spilling
                        con.register("b", conform(batch))
                        _through_file(con, f"SELECT * FROM b UNION ALL {rows}", params, directory, out)
                        con.unregister("b")
                        batch = None
                    elif added.num_rows:
                        batch = pa.concat_tables([conform(batch), conform(added)]).sort_by("created_at")
            if batch is not None:
                out.write(batch)
            batch, lo = following, hi if hi is not None else lo
        if n_deltas:  # the deltas' rows newer than every previous one (however many: sorted through a file)
            where = "created_at > $lo" if lo is not None else "TRUE"
            if not nulls_placed:
                where = f"({where} OR created_at IS NULL)"
            _through_file(con, f"SELECT * FROM d WHERE {where}", {"lo": lo} if lo is not None else {}, directory, out)
        return out.close()
    finally:
        con.close()
        for path in (db, db + ".wal"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def _batches(paths: list[str]) -> Iterator[pa.Table]:
    """The files' rows in order, a batch (one table) at a time: reading a whole
    200k-row chunk at once costs several times its size in decoding buffers, and a pre-buffered reader keeps
    every column chunk it has read until the file is closed (a 10M-row file: 594 MB retained vs 37 MB)."""
    for path in paths:
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS, use_threads=False):
            if batch.num_rows:
                yield pa.Table.from_batches([batch])


def _through_file(con: duckdb.DuckDBPyConnection, select: str, params: dict, directory: str,
                  out: ChunkWriter) -> None:
    """`select`'s rows in created_at order into `out`, sorted by DuckDB through a file (its sort spills)."""
    path = os.path.join(directory, "sorted.parquet")
    con.execute(f"COPY ({select} ORDER BY created_at NULLS FIRST) TO {changes.sql_string(path)} (FORMAT parquet)", params)
    for piece in _batches([path]):
        out.write(piece)
    os.unlink(path)


def _sorted_chunks(con: duckdb.DuckDBPyConnection, path: str, directory: str, chunk_rows: int | None):
    """One state file sorted by created_at (DuckDB's sort spills when it writes a file), cut into chunks."""
    whole = os.path.join(directory, "whole.parquet")
    os.makedirs(directory, exist_ok=True)
    con.execute(f"COPY (SELECT {changes._state_select([path])} FROM read_parquet({changes._parquet_list([path])}) "
                f"ORDER BY created_at NULLS FIRST) TO {changes.sql_string(whole)} "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)")
    chunks = split_sorted(whole, directory, chunk_rows)
    os.unlink(whole)
    return chunks
