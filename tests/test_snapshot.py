"""State snapshots merged chunk by chunk (civic_archive.snapshot) against the whole-state query they replace:
the latest row of every item, nothing lost or doubled, in created_at order, cut into bounded chunks."""
from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from civic_archive import changes, snapshot

T0 = datetime(2024, 1, 1, tzinfo=UTC)
OLD_COLUMNS = [c for c in changes.STATE_COLUMNS if not c.startswith("media_")]  # state before media columns


def _row(kind: str, pid: str, version: int, created: datetime, run: str) -> dict:
    return {"kind": kind, "platform_id": pid, "parent_platform_id": None, "root_platform_id": pid,
            "version": version, "status": "live", "edited": version > 1, "content_sha256": f"{pid}-{version}",
            "record_id": f"r-{pid}-{version}", "records_key": f"records/{run}.parquet", "created_at": created,
            "last_seen_at": created, "run_id": run}


def _write(path: str, rows: list[dict], columns=None) -> str:
    table = snapshot.conform(pa.Table.from_pylist(rows) if rows else changes.STATE_SCHEMA.empty_table())
    pq.write_table(table.select(columns or changes.STATE_COLUMNS), path)
    return path


def _reference(files: list[str], since: datetime | None = None) -> list[tuple]:
    """The whole-state answer: the highest version of each item over every file (rows from `since` on)."""
    con = duckdb.connect()
    rows = con.sql(f"""SELECT kind, platform_id, version, content_sha256, created_at
        FROM read_parquet({changes._parquet_list(files)}, union_by_name=true)
        WHERE {"created_at >= $since" if since else "TRUE"}
        QUALIFY row_number() OVER (PARTITION BY kind, platform_id ORDER BY version DESC) = 1""",
                   params={"since": since} if since else {}).to_arrow_table()
    return sorted(zip(*(rows[c].to_pylist() for c in rows.schema.names)))


def _read(chunks) -> pa.Table:
    return pa.concat_tables([pq.read_table(path) for path, _, _ in chunks])


def _history(tmp, rnd: random.Random, items: int, nights: int, chunk_rows: int):
    """A previous snapshot (chunked) and the nightly deltas after it: edits of old and new items, new items
    dated anywhere in the range, and items whose created_at moved (a platform may re-date an item)."""
    rows = [_row(rnd.choice(("post", "comment")), f"i{n}", 1, T0 + timedelta(minutes=rnd.randrange(100_000)), "r0")
            for n in range(items)]
    whole = _write(os.path.join(tmp, "whole.parquet"), sorted(rows, key=lambda r: r["created_at"]), OLD_COLUMNS)
    base = [p for p, n, _ in snapshot.split_sorted(whole, os.path.join(tmp, "base"), chunk_rows) if n]
    latest = {r["platform_id"]: r for r in rows}
    deltas = []
    for night in range(1, nights + 1):
        delta = []
        for r in rnd.sample(list(latest.values()), min(len(latest), rnd.randrange(0, 8))):
            created = r["created_at"] if rnd.random() < 0.8 else T0 + timedelta(minutes=rnd.randrange(100_000))
            new = _row(r["kind"], r["platform_id"], r["version"] + 1, created, f"r{night}")
            latest[new["platform_id"]] = new
            delta.append(new)
        for n in range(rnd.randrange(0, 6)):
            new = _row("comment", f"n{night}-{n}", 1, T0 + timedelta(minutes=rnd.randrange(-500, 100_500)), f"r{night}")
            latest[new["platform_id"]] = new
            delta.append(new)
        deltas.append(_write(os.path.join(tmp, f"delta-{night}.parquet"), delta))
    return base, deltas, whole


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("in_memory", [True, False])
@pytest.mark.parametrize("legacy", [False, True])
def test_merged_snapshot_equals_whole_state_query(tmp_path, monkeypatch, seed, in_memory, legacy):
    """legacy: no chunked snapshot yet, only a one-file snapshot (unsorted here) before the deltas.
    in_memory=False: superseded keys filtered and delta rows merged by DuckDB (the paths for many deltas)."""
    monkeypatch.setattr(snapshot, "BATCH_ROWS", 4)  # many batch boundaries inside and across chunks
    if not in_memory:
        monkeypatch.setattr(snapshot, "IN_MEMORY_KEYS", 0)
        monkeypatch.setattr(snapshot, "MERGE_IN_MEMORY", 1)
    rnd = random.Random(seed)
    base, deltas, whole = _history(str(tmp_path), rnd, items=rnd.randrange(1, 60), nights=rnd.randrange(0, 4),
                                   chunk_rows=rnd.choice((3, 7, 50)))
    if legacy:
        table = pq.read_table(whole)
        pq.write_table(table.take(list(rnd.sample(range(table.num_rows), table.num_rows))), whole)
        base, deltas = [], [whole] + deltas
    chunks = snapshot.write(base, deltas, str(tmp_path / "out"), chunk_rows=rnd.choice((5, 11, 100)))
    got = _read(chunks)
    assert got.schema == changes.STATE_SCHEMA
    assert sorted(zip(*(got[c].to_pylist() for c in ("kind", "platform_id", "version", "content_sha256",
                                                       "created_at")))) == _reference(base + deltas)
    created = got["created_at"].to_pylist()
    assert created == sorted(created)
    for path, rows, newest in chunks:
        table = pq.read_table(path)
        assert table.num_rows == rows
        assert newest == max(table["created_at"].to_pylist(), default=None)


def test_deltas_alone_are_sorted_and_cut(tmp_path):
    rnd = random.Random(5)
    rows = [_row("post", f"p{n}", 1, T0 + timedelta(hours=rnd.randrange(1000)), "r1") for n in range(23)]
    delta = _write(str(tmp_path / "d.parquet"), rows)
    chunks = snapshot.write([], [delta], str(tmp_path / "out"), chunk_rows=10)
    assert [n for _, n, _ in chunks] == [10, 10, 3]
    created = _read(chunks)["created_at"].to_pylist()
    assert created == sorted(r["created_at"] for r in rows)


def test_nothing_at_all_gives_one_empty_chunk(tmp_path):
    chunks = snapshot.write([], [], str(tmp_path / "out"))
    assert [(n, newest) for _, n, newest in chunks] == [(0, None)]
    assert pq.read_table(chunks[0][0]).schema == changes.STATE_SCHEMA


def test_a_delta_older_than_every_chunk_and_one_newer_land_at_the_ends(tmp_path):
    base_rows = [_row("post", f"p{n}", 1, T0 + timedelta(days=n), "r0") for n in range(6)]
    whole = _write(str(tmp_path / "w.parquet"), base_rows)
    base = [p for p, _, _ in snapshot.split_sorted(whole, str(tmp_path / "base"), 2)]
    delta = _write(str(tmp_path / "d.parquet"), [_row("post", "old", 1, T0 - timedelta(days=30), "r1"),
                                                  _row("post", "new", 1, T0 + timedelta(days=30), "r1"),
                                                  _row("post", "p3", 2, T0 + timedelta(days=3), "r1")])
    got = _read(snapshot.write(base, [delta], str(tmp_path / "out"), chunk_rows=3))
    assert got["platform_id"].to_pylist() == ["old", "p0", "p1", "p2", "p3", "p4", "p5", "new"]
    assert got["version"].to_pylist()[4] == 2


def test_harvests_keep_one_latest_state_row_per_item_across_sweeps(fakes, archive_dir, monkeypatch):
    """Full sweep, a nightly with changes, another full sweep (merged over the first's chunks and the
    nightly's delta): the newest snapshot holds exactly the latest version of every item ever archived."""
    from civic_archive.demo import demo_config
    from civic_archive.harvest import HarvestOptions, _state_objects, harvest_account
    from civic_archive.records import read_table
    from civic_archive.storage import LocalStore

    monkeypatch.setattr(changes, "SNAPSHOT_CHUNK_ROWS", 4)  # many chunks
    account_id = "parks-facebook"
    world = fakes.world
    city = demo_config(fakes, f"file://{archive_dir}")
    store = LocalStore(archive_dir)
    full, nightly = HarvestOptions(force_full=True), HarvestOptions(full_sweep_below_items=0)
    assert harvest_account(city, city.account(account_id), store, options=full).ok
    posts = [p for p in world.posts(account_id).front if world.get(p)]
    world.edit(posts[0], "edited between the sweeps")
    comment = world.add_comment(posts[0], "a new comment between the sweeps")
    second = harvest_account(city, city.account(account_id), store, options=nightly)
    assert second.ok and not second.full_sweep and second.counts["edited"] >= 1
    world.delete(comment)
    third = harvest_account(city, city.account(account_id), store, options=full)
    assert third.ok and third.full_sweep

    objects = _state_objects(store, account_id)
    assert {run for run, *_ in objects} == {third.run_id} and len(objects) > 3
    state = pa.concat_tables([pq.read_table(store.local_path(key)) for _, key, _, _, rows in objects if rows])
    versions = {}
    for key in store.list(f"records/account={account_id}/"):
        for r in read_table(store, key).select(["kind", "platform_id", "version"]).to_pylist():
            k = (r["kind"], r["platform_id"])
            versions[k] = max(versions.get(k, 0), r["version"])
    got = list(zip(state["kind"].to_pylist(), state["platform_id"].to_pylist(), state["version"].to_pylist()))
    assert len(got) == len(set((k, p) for k, p, _ in got))
    assert {(k, p): v for k, p, v in got} == versions
    assert state["created_at"].to_pylist() == sorted(state["created_at"].to_pylist())


@pytest.mark.parametrize("seed", range(6))
def test_detection_reads_the_latest_state_row_per_item_without_a_window_over_the_snapshot(tmp_path, seed):
    """Change detection's view of the state (snapshot files taken as they are, deltas laid over them by an
    anti-join) equals the whole-state query, inside and outside a window."""
    rnd = random.Random(seed)
    base, deltas, _ = _history(str(tmp_path), rnd, items=rnd.randrange(1, 60), nights=rnd.randrange(0, 4),
                               chunk_rows=rnd.choice((3, 7, 50)))
    named = []
    for k, path in enumerate(base):  # snapshot files are known by their object names
        name = tmp_path / f"acct.20240101T000000000000Z.abc123.snapshot.{k:05d}.20240101T000000000000Z.parquet"
        os.rename(path, name)
        named.append(str(name))
    assert all(changes.is_snapshot_file(p) for p in named) and not any(changes.is_snapshot_file(p) for p in deltas)
    since = T0 + timedelta(minutes=rnd.randrange(100_000))
    for bound in (None, since):
        os.makedirs(tmp_path / f"det-{bound is None}")
        det = changes.Detector("acct", {}, named + deltas, str(tmp_path / f"det-{bound is None}"), since=bound)
        try:
            st, params = det._state_table(bound)
            got = det.con.sql(f"SELECT kind, platform_id, version, content_sha256, created_at FROM {st}",
                              params=params).to_arrow_table()
        finally:
            det.close()
        want = _reference(named + deltas, bound)
        assert sorted(zip(*(got[c].to_pylist() for c in got.schema.names))) == want
