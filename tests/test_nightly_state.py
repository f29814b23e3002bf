"""The benchmark's directly built archive (bench/nightly_state.py) is what a harvest would have left: its
generated state rows equal a real harvest's, and a nightly run over it finds exactly the changes made."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from civic_archive import changes, manifest
from civic_archive import config as cfg
from civic_archive import harvest as harvest_mod
from civic_archive.fakes import FakePlatforms, World
from civic_archive.harvest import HarvestOptions, harvest_account
from civic_archive.storage import LocalStore

from bench import harvest_scale, nightly_state

COMPARED = ["kind", "platform_id", "parent_platform_id", "root_platform_id", "version", "status", "edited",
            "content_sha256", "record_id", "created_at", "media_sha256"]


def world(posts: int) -> World:
    return World.synthetic("facebook", posts, seed=1, comments_per_post=19)


def harvest(w: World, archive, monkeypatch, now: int | None = None, **options):
    with FakePlatforms(w) as fakes:
        doc, env = fakes.city_config(archive=f"file://{archive}", city="Bench City", jurisdiction="MO")
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        city = cfg.parse(doc)
        when = datetime.fromtimestamp(now or w.now, timezone.utc)
        return harvest_account(city, city.accounts[0], LocalStore(archive), options=HarvestOptions(**options),
                               clock=lambda: when)


def snapshot(archive) -> tuple[list[dict], pa.Table]:
    """The manifest entries of the first run's snapshot chunks, and their rows in order."""
    store = LocalStore(archive, create=False)
    key = manifest.chain_keys(store, nightly_state.ACCOUNT)[0]
    doc = json.loads(store.read_bytes(key))
    chunks = [o for o in doc["objects"] if ".snapshot." in o["key"]]
    return chunks, pa.concat_tables([pq.read_table(store.local_path(o["key"])) for o in chunks])


def rows(table: pa.Table) -> list[dict]:
    return sorted(table.select(COMPARED).to_pylist(), key=lambda r: (r["kind"], r["platform_id"]))


def test_generated_state_rows_equal_a_real_harvests(tmp_path, monkeypatch):
    w = world(12)  # post 3 has a photo: posts, comments, replies and media are all compared
    result = harvest(w, tmp_path / "a", monkeypatch)
    assert result.ok and result.counts["new"] == 12 * 20 + 1
    _, real = snapshot(tmp_path / "a")
    generated = nightly_state.state_rows(w, 0, 12)
    assert generated.schema == changes.STATE_SCHEMA
    assert rows(generated) == rows(real)


def test_extended_archive_equals_a_full_harvest_and_a_nightly_finds_exactly_the_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(changes, "SNAPSHOT_CHUNK_ROWS", 50)  # several chunks, as a large account has
    harvest(world(2), tmp_path / "built", monkeypatch)
    added = nightly_state.extend(str(tmp_path / "built"), (("facebook", 14), {"seed": 1, "comments_per_post": 19}),
                                 2, 14, workers=1)
    assert added == 12 * 20 + 2  # posts 3 and 13 have photos
    harvest(world(14), tmp_path / "full", monkeypatch)
    entries, built = snapshot(tmp_path / "built")
    _, full = snapshot(tmp_path / "full")
    assert rows(built) == rows(full)
    assert built["created_at"].to_pylist() == sorted(built["created_at"].to_pylist())
    store = LocalStore(tmp_path / "built", create=False)
    assert sum(e["records"] for e in entries) == built.num_rows
    for e in entries:
        with open(store.local_path(e["key"]), "rb") as fh:
            assert e["sha256"] == hashlib.sha256(fh.read()).hexdigest()

    w = world(14)
    made = harvest_scale._mutate(w, w.accounts[0].id, 20)
    result = harvest(w, tmp_path / "built", monkeypatch, now=made["now"] + 60, recheck_days=1,
                     full_sweep_below_items=0)
    assert result.ok and result.since is not None  # an incremental run
    assert len(entries) == 6  # 282 rows in chunks of 50
    # the nightly read only the chunks reaching into what it walked (changes on posts 0-1, walk of posts 0-13)
    assert dict(result.counts) == {"seen": result.counts["seen"], "edited": made["edit"], "hidden": made["hide"],
                                   "deleted": made["delete"], "new": made["new"]}


def _state_file(path, items):
    """A state file as archives before the media columns wrote them (it must still be read)."""
    ts = changes.STATE_SCHEMA.field("created_at").type
    old = pa.schema([f for f in changes.STATE_SCHEMA if f.name not in changes.MEDIA_STATE_COLUMNS])
    table = pa.table({
        "kind": ["post"] * len(items), "platform_id": [i for i, _ in items],
        "parent_platform_id": pa.nulls(len(items), pa.string()), "root_platform_id": [i for i, _ in items],
        "version": pa.array([1] * len(items), pa.int32()), "status": ["live"] * len(items),
        "edited": [False] * len(items), "content_sha256": ["x"] * len(items), "record_id": [i for i, _ in items],
        "records_key": pa.nulls(len(items), pa.string()), "created_at": pa.array([d for _, d in items], ts),
        "last_seen_at": pa.array([d for _, d in items], ts), "run_id": ["r"] * len(items)}).cast(old)
    pq.write_table(table, path)
    return str(path)


def test_detector_reads_the_window_slice_once_and_still_answers_older_questions(tmp_path):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    items = [(f"p{d}", t0 + timedelta(days=d)) for d in range(10)]
    state = _state_file(tmp_path / "state.parquet", items)
    det = changes.Detector("acct", {}, [state], str(tmp_path), since=t0 + timedelta(days=7))
    try:
        # nothing observed: inside the window the 3 newest posts are missing...
        assert {r["platform_id"] for r in det.missing(since=t0 + timedelta(days=7), walked_roots=[])[0]} == \
            {"p7", "p8", "p9"}
        assert det.con.sql("SELECT count(*) FROM st").fetchall()[0][0] == 3  # only the window was read
        # ...and a question reaching before the slice is answered from the files, not from the slice
        assert {r["platform_id"] for r in det.missing(since=t0 + timedelta(days=5), walked_roots=[])[0]} == \
            {"p5", "p6", "p7", "p8", "p9"}
        assert len(det.missing(since=None, walked_roots=[])[0]) == 10
        # at most `limit` a run, in whole root groups (here each post is its own group); the total is told
        rows, total = det.missing(since=None, walked_roots=[], limit=4)
        assert (len(rows), total) == (4, 10)
    finally:
        det.close()


def test_a_nightly_fetches_only_the_snapshot_chunks_that_reach_its_window(tmp_path, monkeypatch):
    monkeypatch.setattr(changes, "SNAPSHOT_CHUNK_ROWS", 50)
    w = world(14)
    first = harvest(w, tmp_path / "a", monkeypatch)
    store = LocalStore(tmp_path / "a", create=False)
    entries, rows = snapshot(tmp_path / "a")
    assert len(entries) == 6 and rows["created_at"].to_pylist() == sorted(rows["created_at"].to_pylist())
    assert harvest_mod.known_items(store, nightly_state.ACCOUNT) == first.counts["new"] == 282
    every = harvest_mod.state_files(store, nightly_state.ACCOUNT, str(tmp_path))
    assert len(every) == 6
    # from the newest post's first comment on: only the last chunk holds such items
    newest_post = max(r["created_at"] for r in rows.to_pylist() if r["kind"] == "post")
    recent = harvest_mod.state_files(store, nightly_state.ACCOUNT, str(tmp_path), newer_than=newest_post)
    assert recent == every[-1:]

    # a nightly over the chunked state still sees every change, and writes a delta, not a snapshot
    made = harvest_scale._mutate(w, w.accounts[0].id, 10)
    result = harvest(w, tmp_path / "a", monkeypatch, now=made["now"] + 60, recheck_days=1, full_sweep_below_items=0)
    assert result.ok and result.since is not None
    assert dict(result.counts) == {"seen": result.counts["seen"], "edited": made["edit"], "hidden": made["hide"],
                                   "deleted": made["delete"], "new": made["new"]}
    assert harvest_mod.known_items(store, nightly_state.ACCOUNT) == 282 + 10


def test_state_object_names_round_trip_and_old_single_snapshots_are_still_read():
    run = "acct.20260101T000000000000Z.abc123"
    newest = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)
    assert changes.parse_state_name(changes.snapshot_chunk_name(run, 3, newest)) == (run, True, newest, True)
    assert changes.parse_state_name(changes.snapshot_chunk_name(run, 0, None)) == (run, True, None, False)
    assert changes.parse_state_name(f"{run}.snapshot.parquet") == (run, True, None, True)  # before chunking
    assert changes.parse_state_name(f"{run}.parquet") == (run, False, None, True)  # a delta
