"""Whole-file disposition on hand-built layouts: a WARC file goes only with every records file pointing at it,
removed rows keep their original evidence alive, the kept-past-eligibility figures, and the unreferenced
WARC files of runs that changed nothing."""
from __future__ import annotations

from datetime import date

import pytest

from civic_archive import disposition
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import LocalStore
from civic_archive.verify import verify
from test_disposition_helpers import SIMPLE_ACCOUNTS, Item, SyntheticArchive, all_rows, city_config, day, write_schedule

P = "parks-facebook"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", "")
    store = LocalStore(tmp_path / "archive")
    config = city_config(store.uri, SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path), confirmations=[
        {"series": "TEST POSTS", "confirmed_by": "Pat Clerk", "confirmed_on": "2024-01-02"}])  # posts: 30 days
    return store, config, SyntheticArchive(store)


def _plan(store, config, as_of, **kw):
    policy = RetentionPolicy(config, today=as_of)
    doc, analysis, _ = disposition.plan(store, config, policy=policy, **kw)
    return doc, analysis, policy


def test_a_warc_waits_for_every_records_file_that_points_at_it(setup):
    store, config, arch = setup
    run = arch.run(P, [Item(P, "post", "TEST POSTS", day(2025, 3, 1), "a", text="old"),
                       Item(P, "post", "TEST POSTS", day(2025, 3, 20), "b", text="young")], warc_files=2)
    w_a, w_b = run["warcs"]
    doc, analysis, _ = _plan(store, config, date(2025, 4, 5))  # a eligible 2025-04-01, b on 2025-04-20
    assert doc["objects"] == []
    f = run["records_keys"][0]
    assert "not eligible before 2025-04-20" in " ".join(analysis.records[f].reasons)
    assert "records file is kept" in " ".join(analysis.warcs[w_a].reasons)  # a's own evidence waits for b
    kept = analysis.kept_past_eligibility()
    assert kept["records_in_kept_records_files"] == 1 and kept["kept_records_files"] == 1
    assert kept["kept_warc_files"] == 1 and kept["eligible_warc_bytes_kept"] == run["rows"][0]["warc_length"]
    assert kept["warc_days_until_purgeable_max"] == 15  # w_a also waits until 2025-04-20
    doc, analysis, _ = _plan(store, config, date(2025, 4, 20))
    assert {o["key"] for o in doc["objects"]} == {f, w_a, w_b}
    assert analysis.kept_past_eligibility()["kept_warc_files"] == 0


def test_removed_rows_keep_the_original_evidence_alive(setup):
    store, config, arch = setup
    first = arch.run(P, [Item(P, "post", "TEST POSTS", day(2025, 1, 5), "p", text="post p")])
    prior = first["rows"][0]
    second = arch.run(P, [Item(P, "post", "TEST POSTS", day(2025, 1, 5), "p", text="post p", version=2,
                               status="removed"),
                          Item(P, "post", "TEST POSTS", day(2025, 1, 28), "q", text="post q")],
                      evidence_from={"p": prior})
    removed_row = next(r for r in second["rows"] if r["platform_id"] == "p")
    assert removed_row["warc_file"] == first["warcs"][0]
    doc, analysis, _ = _plan(store, config, date(2025, 2, 10))  # p eligible 2025-02-05, q 2025-02-28
    keys = {o["key"] for o in doc["objects"]}
    assert first["records_keys"][0] in keys  # p's first version can go...
    assert first["warcs"][0] not in keys  # ...but its evidence stays: the removed row in `second` points at it
    assert "records file is kept" in " ".join(analysis.warcs[first["warcs"][0]].reasons)
    doc, _, _ = _plan(store, config, date(2025, 3, 1))
    assert {first["warcs"][0], first["records_keys"][0], second["records_keys"][0], second["warcs"][0]} <= {
        o["key"] for o in doc["objects"]}


def test_execution_keeps_a_warc_a_new_unapproved_file_points_at(setup):
    store, config, arch = setup
    first = arch.run(P, [Item(P, "post", "TEST POSTS", day(2025, 1, 5), "p", text="post p")])
    doc, _, policy = _plan(store, config, date(2025, 3, 1), save=True)
    assert {o["key"] for o in doc["objects"]} == {first["records_keys"][0], first["warcs"][0]}
    disposition.approve(store, config, doc["plan_id"], approver="clerk", policy=policy)
    # after approval, a harvest finds p removed: its new row (in a new file) reuses p's evidence
    later = arch.run(P, [Item(P, "post", "TEST POSTS", day(2025, 1, 5), "p", text="post p", version=2,
                              status="removed")], evidence_from={"p": first["rows"][0]})
    result = disposition.execute(store, config, doc["plan_id"], policy=policy)
    kept = {o["key"]: o["reason"] for o in result.not_destroyed}
    assert first["warcs"][0] in kept and later["records_keys"][0] in kept[first["warcs"][0]]
    assert store.exists(first["warcs"][0]) and not store.exists(first["records_keys"][0])
    for row in all_rows(store):
        assert store.exists(row["warc_file"])
    assert verify(store).ok


def test_unreferenced_and_quarantined_warcs_are_kept(setup):
    store, config, arch = setup
    arch.run(P, [Item(P, "post", "TEST POSTS", day(2025, 1, 5), "p")])
    nothing = arch.run(P, [])  # a run that archived no record still wrote its WARC (the listing it saw)
    doc, analysis, _ = _plan(store, config, date(2030, 1, 1))
    assert nothing["warcs"][0] in analysis.unreferenced_warcs
    assert nothing["warcs"][0] not in {o["key"] for o in doc["objects"]}
