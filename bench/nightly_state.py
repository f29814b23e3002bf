"""A harvested archive of a large synthetic account, built without harvesting it all.

A backfill through the fake runs at ~1,200 records/s: 10M items would take hours. The nightly run only reads
the newest snapshot of the account's state, the manifests, and the records of items it finds gone, so the
archive is built as a harvest would have left it, in two parts:

1. the newest `recent_posts` posts (every post a nightly walk can list, and more) are harvested for real
   through the fake: WARCs, records, state snapshot and manifest are the real thing;
2. the state rows of every older post and its comments, replies and photos are generated from the same
   seeded world (same ids, parents, dates, content hashes and record ids as a harvest computes: the test
   tests/test_nightly_state.py checks them against a real harvest), merged into that run's snapshot with
   the query the harvest itself uses, cut into chunks as the harvest cuts them, and the run's manifest is
   rewritten to name the new chunks.

What is not generated: the records and WARC files of the older items (their `records_key` names where a
harvest would have put them). A nightly run never reads them unless an old item goes missing, and the
benchmark changes only recent items.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import struct
import zlib
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from civic_archive import changes, manifest, records, schemas, snapshot
from civic_archive.fakes import World
from civic_archive.fakes.world import (
    _synth_text,
    make_comment_id,
    make_post_id,
    stable_hash,
)

ACCOUNT = "synthetic-facebook"
CACHE = os.environ.get("CIVIC_BENCH_CACHE", "/tmp/civic-archive-bench-cache")
VERSION = "v2"  # bump when the layout of what is built here changes


def _png_sha256(name: str, width: int = 64, height: int = 48) -> str:
    """SHA-256 of the fake server's `png_bytes(width, height, name)` (same bytes, one hash per image rather
    than one per pixel)."""
    h = stable_hash(name)
    r0, g0, b0 = (h >> 16) & 255, (h >> 8) & 255, h & 255
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        fy = y / max(1, height - 1)
        for x in range(width):
            fx = x / max(1, width - 1)
            rows.extend((int(r0 * (1 - fx) + 40 * fx), int(g0 * (1 - fy) + 200 * fy), int(b0 * 0.5 + 120 * fx * fy)))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))
    return hashlib.sha256(data).hexdigest()


def _digest(text, content: dict) -> str:
    # records.Item._content_digest, on the values a harvest would have parsed
    canonical = json.dumps({"text": text, **content}, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def state_rows(world: World, first: int, stop: int) -> pa.Table:
    """State rows (version 1, as a first harvest writes them) of posts first..stop-1 of the synthetic Facebook
    account, with their comments, replies and photos; `run_id`, `last_seen_at` and `records_key` are left
    empty for the caller to fill in."""
    acct = world.accounts[0]
    s = acct.synthetic
    aid = acct.id
    cols = {name: [] for name in ("kind", "platform_id", "parent_platform_id", "root_platform_id",
                                  "content_sha256", "record_id", "created_at", "media_sha256")}

    def add(kind, pid, parent, root, sha, created, media_sha=None):
        cols["kind"].append(kind)
        cols["platform_id"].append(pid)
        cols["parent_platform_id"].append(parent)
        cols["root_platform_id"].append(root)
        cols["content_sha256"].append(sha)
        cols["record_id"].append(records.make_record_id(aid, kind, pid, 1))
        cols["created_at"].append(created * 1_000_000)
        cols["media_sha256"].append(media_sha)

    for n in range(first, stop):
        created = s["t0"] - n * s["interval"]
        pid = make_post_id(acct, n, created)
        attachments = []
        if n % 10 == 3:  # World._synth_post: every tenth post has a photo (facebook.py: _photo_att)
            fbid = f"{78900000000 + (int(pid.split('_', 1)[1]) % 10**8) * 10}"
            attachments = [{"type": "photo", "media_type": "photo", "target": fbid, "title": None,
                            "description": None}]
        add("post", pid, None, pid, _digest(_synth_text(stable_hash(s["seed"], aid, n), n) or None,
                                            {"attachments": attachments}), created)
        if attachments:
            png = _png_sha256(f"syn-{acct.platform}-{n}.png")
            add("media", attachments[0]["target"], pid, pid, _digest(None, {"sha256": png}), created, png)
        for c in range(1, s["k"] + 1):
            parent_c = c - 1 if c % 3 == 0 else 0
            ccreated = created + c * s["cspace"]
            cid = make_comment_id(acct, n, c, parent_c, ccreated)
            parent = make_comment_id(acct, n, parent_c, 0, created + parent_c * s["cspace"]) if parent_c else pid
            add("reply" if parent_c else "comment", cid, parent, pid,
                _digest(_synth_text(stable_hash(s["seed"], aid, n, c), c, comment=True), {"attachment": None}),
                ccreated)
    count = len(cols["kind"])
    ts = changes.STATE_SCHEMA.field("created_at").type
    return pa.table({
        "kind": cols["kind"], "platform_id": cols["platform_id"], "parent_platform_id": cols["parent_platform_id"],
        "root_platform_id": cols["root_platform_id"], "version": pa.array([1] * count, pa.int32()),
        "status": ["live"] * count, "edited": pa.array([False] * count), "content_sha256": cols["content_sha256"],
        "record_id": cols["record_id"], "records_key": pa.nulls(count, pa.string()),
        "created_at": pa.array(cols["created_at"], pa.int64()).cast(ts), "last_seen_at": pa.nulls(count, ts),
        "run_id": pa.nulls(count, pa.string()), "media_sha256": cols["media_sha256"],
        # where the photo's bytes are is not generated: a nightly fetches them again, as for older archives
        "media_warc_file": pa.nulls(count, pa.string()), "media_warc_offset": pa.nulls(count, pa.int64()),
        "media_warc_record_id": pa.nulls(count, pa.string())}).cast(changes.STATE_SCHEMA)


def _write_part(args) -> tuple[str, int]:
    world_args, first, stop, path, fill = args
    world = World.synthetic(*world_args[0], **world_args[1])
    writer = None
    rows = 0
    for lo in range(first, stop, 2000):  # bounded batches: memory stays flat whatever the size
        table = state_rows(world, lo, min(stop, lo + 2000))
        table = table.set_column(table.schema.get_field_index("run_id"), "run_id",
                                 pa.array([fill["run_id"]] * table.num_rows, pa.string()))
        table = table.set_column(table.schema.get_field_index("last_seen_at"), "last_seen_at",
                                 pa.array([fill["last_seen_at"]] * table.num_rows,
                                          changes.STATE_SCHEMA.field("last_seen_at").type))
        keys = [f"records/account={ACCOUNT}/{fill['series']}/created={datetime.fromtimestamp(t.value / 1e6, timezone.utc):%Y-%m}/"
                f"{fill['run_id']}-old.parquet" for t in table["created_at"]]
        table = table.set_column(table.schema.get_field_index("records_key"), "records_key", pa.array(keys, pa.string()))
        if writer is None:
            writer = pq.ParquetWriter(path, changes.STATE_SCHEMA, compression="zstd")
        writer.write_table(table)
        rows += table.num_rows
    if writer is not None:
        writer.close()
    return path, rows


def extend(archive: str, world_args: tuple, first: int, stop: int, workers: int = 2) -> int:
    """Add the state rows of posts first..stop-1 to the archive's (single, harvested) snapshot; rewrite the
    manifest that names it. Returns the number of rows added."""
    from civic_archive.storage import LocalStore

    store = LocalStore(archive, create=False)
    [mkey] = manifest.chain_keys(store, ACCOUNT)
    doc = json.loads(store.read_bytes(mkey))
    snaps = [o for o in doc["objects"] if o["kind"] == "state" and changes.parse_state_name(o["key"].rsplit("/", 1)[1])[1]]
    snap_paths = [store.local_path(o["key"]) for o in snaps]
    sample = next(r for p in snap_paths for r in pq.read_table(p).slice(0, 1).to_pylist())
    series = [part for part in sample["records_key"].split("/") if part.startswith("series=")][0]
    fill = {"run_id": doc["run_id"], "last_seen_at": sample["last_seen_at"], "series": series}
    work = os.path.join(archive, ".spool", "bench-extend")
    os.makedirs(work, exist_ok=True)
    step = max(1, -(-(stop - first) // (workers * 4)))
    jobs = [(world_args, lo, min(stop, lo + step), os.path.join(work, f"old-{i:04d}.parquet"), fill)
            for i, lo in enumerate(range(first, stop, step))]
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_write_part, jobs)
    else:
        parts = [_write_part(job) for job in jobs]
    added = sum(rows for _, rows in parts)
    merged = os.path.join(work, "whole.parquet")
    con = duckdb.connect()
    con.execute(f"SET temp_directory='{work}/duckdb.tmp'")
    con.execute("SET memory_limit='3GB'")
    files = [p for p, _ in parts] + snap_paths
    # What a snapshot holds: the latest row per item, sorted by created_at (one query: this generator has
    # memory to spare, and the generated rows are older than the harvested ones, which the merge in
    # civic_archive.snapshot would take into its first batch all at once).
    con.execute(f"""COPY (
            SELECT {changes._state_select(files)} FROM read_parquet({changes._parquet_list(files)}, union_by_name=true)
            QUALIFY row_number() OVER (PARTITION BY kind, platform_id ORDER BY {changes.LATEST}) = 1
            ORDER BY created_at) TO '{merged}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)""")
    con.close()
    # Cut as the harvest cuts its snapshots; the new chunks replace the harvested ones in the manifest.
    chunks = snapshot.split_sorted(merged, work)
    for path in snap_paths:
        os.chmod(path, 0o644)
        os.unlink(path)
    entries = []
    for k, (path, rows, newest) in enumerate(chunks):
        key = f"state/{ACCOUNT}/{changes.snapshot_chunk_name(doc['run_id'], k, newest)}"
        dest = store.local_path(key)
        os.replace(path, dest)
        os.chmod(dest, 0o444)
        digest = hashlib.sha256()
        with open(dest, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        entries.append(dict(snaps[0], key=key, size=os.path.getsize(dest), sha256=digest.hexdigest(), records=rows))
    at = doc["objects"].index(snaps[0])
    doc["objects"] = [o for o in doc["objects"][:at] if o not in snaps] + entries + \
        [o for o in doc["objects"][at:] if o not in snaps]
    counts = doc["summary"]["counts"]
    counts["new"] = counts.get("new", 0) + added
    counts["seen"] = counts.get("seen", 0) + added
    schemas.validate(manifest.MANIFEST_SCHEMA, doc)
    mpath = store.local_path(mkey)
    os.chmod(mpath, 0o644)
    with open(mpath, "wb") as fh:
        fh.write(manifest.encode(doc))
    os.chmod(mpath, 0o444)
    shutil.rmtree(work, ignore_errors=True)
    return added


def clone(src: str, dest: str) -> None:
    """A copy of a built archive to run against: hard links (archive objects are write-once and read-only;
    a run only adds files)."""
    shutil.copytree(src, dest, copy_function=os.link)
