"""Items missing from a walk are looked up at most `changes.MISSING_PER_RUN` a run, in whole posts with their
comments; the rest wait for the next runs, and in the end every deletion is recorded once."""
from __future__ import annotations

import pyarrow as pa

from civic_archive import changes
from civic_archive.demo import demo_config
from civic_archive.harvest import HarvestOptions, harvest_account
from civic_archive.records import read_table
from civic_archive.storage import LocalStore


def latest_status(store, account):
    rows = pa.concat_tables([read_table(store, k) for k in store.list(f"records/account={account}/")]).to_pylist()
    out = {}
    for r in sorted(rows, key=lambda r: r["version"]):
        out[r["platform_id"]] = r["status"]
    return out


def test_many_deletions_are_recorded_over_several_runs(fakes, archive_dir, monkeypatch):
    account_id = "parks-facebook"
    world = fakes.world
    city = demo_config(fakes, f"file://{archive_dir}")
    store = LocalStore(archive_dir)
    full = HarvestOptions(force_full=True)
    assert harvest_account(city, city.account(account_id), store, options=full).ok
    posts = [p for p in world.posts(account_id).front if world.get(p) and not world.is_gone(world.get(p))]
    doomed = posts[:4]
    doomed_comments = {c.id for p in doomed for c in world.comments(p)}
    assert doomed_comments  # the demo's posts have comments: groups are bigger than one
    for p in doomed:
        world.delete(p)

    monkeypatch.setattr(changes, "MISSING_PER_RUN", 2)
    first = harvest_account(city, city.account(account_id), store, options=full)
    assert first.ok, first.errors
    assert any("were not listed this run" in n for n in first.notes), first.notes
    status = latest_status(store, account_id)
    done_first = {p for p in doomed if status[p] in ("deleted", "removed")}
    assert 0 < len(done_first) < len(doomed)  # some whole posts this run, the rest later

    for _ in range(len(doomed)):
        assert harvest_account(city, city.account(account_id), store, options=full).ok
    status = latest_status(store, account_id)
    assert {p: status[p] for p in doomed} == {p: "deleted" for p in doomed}
    assert {c: status[c] for c in doomed_comments} == {c: "deleted" for c in doomed_comments}
    rows = pa.concat_tables([read_table(store, k) for k in store.list(f"records/account={account_id}/")])
    gone = [r for r in rows.select(["platform_id", "status"]).to_pylist() if r["status"] == "deleted"]
    assert len(gone) == len({r["platform_id"] for r in gone})  # each deletion recorded once
