"""A full sweep's state snapshot over an archive of N items, against the whole-state query it replaced.

The prior archive is the nightly benchmark's (bench/nightly_state.py: one full harvest's state, N items, in
created_at-ordered chunks). On top of it come the deltas of a month of nightly runs: 1,000 changed items
(new versions of existing ones, spread over the whole range) and 1,000 new ones. Both ways write the new
snapshot from the same files, each in a fresh interpreter (for its own peak RSS):

- merge (`civic_archive.snapshot.write`, what a full sweep runs): the previous chunks streamed a batch at a
  time, the deltas' latest rows laid over them;
- whole-state query (what it replaced): one DuckDB window over every state row for the latest version of
  each item, sorted by created_at, then cut into chunks.

The two must give the same rows; the bench fails otherwise.
"""
from __future__ import annotations

import glob
import json
import os
import random
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

from bench import in_child


def _delta(base: list[str], path: str, changed: int = 1000, new: int = 1000) -> None:
    rnd = random.Random(3)
    rows = []
    for chunk in rnd.sample(base, min(len(base), 20)):
        table = pq.read_table(chunk)
        for i in rnd.sample(range(table.num_rows), min(table.num_rows, changed // min(len(base), 20))):
            row = table.slice(i, 1).to_pylist()[0]
            row.update(version=row["version"] + 1, content_sha256="0" * 64, status="edited", edited=True)
            rows.append(row)
    newest = max(pq.read_table(base[-1], columns=["created_at"])["created_at"].to_pylist())
    template = dict(rows[0])
    for n in range(new):
        rows.append(dict(template, kind="comment", platform_id=f"bench-new-{n}", version=1, status="live",
                         edited=False, created_at=newest))
    from civic_archive import snapshot
    pq.write_table(snapshot.conform(pa.Table.from_pylist(rows)), path)


def _one(args: dict) -> dict:
    """In a fresh interpreter: one way of writing the snapshot; seconds, rows, a digest of the rows, peak RSS."""
    from civic_archive import changes, snapshot

    from bench.harvest_scale import peak_rss_mb

    out = tempfile.mkdtemp(dir=args["tmp"])
    t0 = time.perf_counter()
    if args["way"] == "merge":
        chunks = snapshot.write(args["base"], [args["delta"]], out)
    else:
        import duckdb

        files = args["base"] + [args["delta"]]
        whole = os.path.join(out, "whole.parquet")
        con = duckdb.connect(os.path.join(out, "db.duckdb"))
        con.execute("SET memory_limit='256MB'")
        con.execute("SET threads=1")
        try:
            con.execute(f"""COPY (SELECT {changes._state_select(files)}
                    FROM read_parquet({changes._parquet_list(files)}, union_by_name=true)
                    QUALIFY row_number() OVER (PARTITION BY kind, platform_id ORDER BY {changes.LATEST}) = 1
                    ORDER BY created_at) TO '{whole}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)""")
        except duckdb.OutOfMemoryException as exc:  # what the old way risked at 10M: reported, not a crash
            return {"seconds": round(time.perf_counter() - t0, 2), "peak_rss_mb": peak_rss_mb(),
                    "error": f"out of memory: {str(exc).splitlines()[0][:120]}"}
        finally:
            con.close()
        chunks = snapshot.split_sorted(whole, os.path.join(out, "chunks"))
    seconds, peak = time.perf_counter() - t0, peak_rss_mb()  # before the check below, which costs memory
    keys = pa.concat_tables([pq.read_table(p, columns=["kind", "platform_id", "version"]) for p, _, _ in chunks])
    digest = sorted(zip(keys["kind"].to_pylist(), keys["platform_id"].to_pylist(), keys["version"].to_pylist()))
    import hashlib
    return {"seconds": round(seconds, 2), "rows": keys.num_rows, "chunks": len(chunks),
            "rows_sha256": hashlib.sha256(repr(digest).encode()).hexdigest(), "peak_rss_mb": peak}


def bench(n_items: int, cache: bool = True, whole_query: bool = True) -> dict:
    from bench.harvest_scale import prior_archive

    archive, info = prior_archive(n_items, cache=cache)
    base = sorted(glob.glob(os.path.join(archive, "state", "*", "*.snapshot.*.parquet")))
    with tempfile.TemporaryDirectory() as tmp:
        delta = os.path.join(tmp, "delta.parquet")
        _delta(base, delta)
        args = {"base": base, "delta": delta, "tmp": tmp}
        merge = in_child("bench.state_snapshot", dict(args, way="merge"))
        whole = in_child("bench.state_snapshot", dict(args, way="whole")) if whole_query else None
    if whole and "error" not in whole and (whole["rows"], whole["rows_sha256"]) != (merge["rows"], merge["rows_sha256"]):
        raise AssertionError(f"merged snapshot differs from the whole-state query: {merge} vs {whole}")
    out = {"scenario": "state_snapshot", "items": info["archived_items"], "rows": merge["rows"],
           "chunks": merge["chunks"], "merge_seconds": merge["seconds"], "merge_peak_rss_mb": merge["peak_rss_mb"]}
    if whole and "error" in whole:
        out.update(whole_query_error=whole["error"], whole_query_failed_after_s=whole["seconds"],
                   whole_query_peak_rss_mb=whole["peak_rss_mb"])
    elif whole:
        out.update(whole_query_seconds=whole["seconds"], whole_query_peak_rss_mb=whole["peak_rss_mb"],
                   speedup=round(whole["seconds"] / max(merge["seconds"], 1e-9), 1))
    return out


if __name__ == "__main__" and sys.argv[1:] == ["--one"]:
    print(json.dumps(_one(json.loads(sys.stdin.read()))))
