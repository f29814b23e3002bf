"""Legal holds: scope matching (all versions of an item), write-once hold and release objects, storage legal
holds on the local backend, overlapping holds, fail-closed on a damaged hold, and the CLI."""
from __future__ import annotations

import json
import os
from datetime import date

import pytest

from civic_archive import disposition, holds, schemas
from civic_archive.cli import main
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import LocalStore, StorageError
from test_disposition_helpers import SIMPLE_ACCOUNTS, Item, SyntheticArchive, city_config, day, write_schedule

TODAY = date(2026, 11, 21)


@pytest.fixture
def archive(tmp_path, monkeypatch):
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    store = LocalStore(tmp_path / "archive")
    arch = SyntheticArchive(store)
    posts = arch.run("parks-facebook", [
        Item("parks-facebook", "post", "TEST POSTS", day(2025, 3, 1), "p1", text="Pool opens Monday"),
        Item("parks-facebook", "post", "TEST POSTS", day(2025, 3, 31, 23), "p2", text="Budget hearing tonight"),
        Item("parks-facebook", "post", "TEST POSTS", day(2025, 5, 2), "p3", text="Trail closed"),
    ])
    # p1 edited later: version 2 no longer says "Pool"
    edit = arch.run("parks-facebook", [Item("parks-facebook", "post", "TEST POSTS", day(2025, 3, 1), "p1",
                                            text="Opening moved", version=2, status="edited")])
    mayor = arch.run("mayor-x", [Item("mayor-x", "post", "TEST POSTS", day(2025, 3, 15), "m1", text="Vote Tuesday")])
    return store, {"posts": posts, "edit": edit, "mayor": mayor}


def _covered(store, hold):
    return holds.covered_objects(store, [hold])


def test_scope_criteria_and_item_versions(archive):
    store, runs = archive
    by_account = holds.place(store, scope={"accounts": ["mayor-x"]}, reason="r", placed_by="a", lock_objects=False)
    assert set(_covered(store, by_account.hold)) == set(runs["mayor"]["warcs"] + runs["mayor"]["records_keys"])
    # the query matches only version 1 of p1, but the hold covers its version 2 too
    by_query = holds.place(store, scope={"query": "pool"}, reason="r", placed_by="a", lock_objects=False)
    covered = _covered(store, by_query.hold)
    assert set(runs["edit"]["records_keys"]) <= set(covered) and set(runs["posts"]["records_keys"]) & set(covered)
    assert by_query.records == 0  # lock_objects=False does not count
    rows = holds.covered_rows(store, [by_query.hold], holds.recordscan.records_keys(store))
    assert sorted({r for r in rows.column("record_id").to_pylist()}) == sorted(
        {runs["posts"]["rows"][0]["record_id"], runs["edit"]["rows"][0]["record_id"]})
    # date range: 2025-04-01 (UTC) .. still covers a post created 2025-03-31 23:00 UTC (widened by a day)
    by_date = holds.place(store, scope={"since": "2025-04-01", "until": "2025-04-30"}, reason="r", placed_by="a",
                          lock_objects=False)
    rows = holds.covered_rows(store, [by_date.hold], holds.recordscan.records_keys(store))
    ids = set(rows.column("record_id").to_pylist())
    assert runs["posts"]["rows"][1]["record_id"] in ids and runs["posts"]["rows"][2]["record_id"] not in ids
    # record ids, AND-ed with an account that does not hold them: nothing
    rid = runs["mayor"]["rows"][0]["record_id"]
    none = holds.place(store, scope={"record_ids": [rid], "accounts": ["parks-facebook"]}, reason="r",
                       placed_by="a", lock_objects=False)
    assert _covered(store, none.hold) == {}
    assert holds.Hold.from_doc({**json.loads(store.read_bytes(holds.hold_key(none.hold.hold_id)))}).scope == {
        "accounts": ["parks-facebook"], "record_ids": [rid]}


def test_python_and_sql_matching_agree(archive):
    store, runs = archive
    rows = [r for run in runs.values() for r in run["rows"]]
    scopes = [{"query": "budget"}, {"accounts": ["parks-facebook"], "since": "2025-03-02"}, {"until": "2025-03-14"},
              {"record_ids": [rows[0]["record_id"]]}, {"query": "TUESDAY", "accounts": ["mayor-x"]}]
    keys = holds.recordscan.records_keys(store)
    for n, scope in enumerate(scopes):
        hold = holds.Hold(f"H-{n}", "a", "2026-01-01T00:00:00Z", "r", "other", holds.validate_scope(scope))
        direct = {r["record_id"] for r in rows if hold.matches_row(r)}
        items = holds.held_items(store, [hold], keys)
        sql = set() if items is None else {
            r["record_id"] for r in rows for i in items.to_pylist()
            if (r["account_id"], r["kind"], r["platform_id"]) == (i["account_id"], i["kind"], i["platform_id"])
            and hold.matches_row(r)}
        assert direct == sql, scope


def test_place_locks_objects_and_release_unlocks_only_what_no_other_hold_covers(archive):
    store, runs = archive
    mayor_objects = set(runs["mayor"]["warcs"] + runs["mayor"]["records_keys"])
    wide = holds.place(store, scope={"since": "2025-03-10", "until": "2025-03-20"}, reason="audit", placed_by="A")
    narrow = holds.place(store, scope={"accounts": ["mayor-x"]}, reason="suit", placed_by="B")
    assert mayor_objects <= set(wide.locked) and set(narrow.locked) == mayor_objects
    key = runs["mayor"]["records_keys"][0]
    with pytest.raises(StorageError, match="legal hold"):
        store.delete(key)
    released = holds.release(store, wide.hold.hold_id, released_by="A", reason="audit done")
    assert mayor_objects <= set(released.still_held)
    assert store.retention(key).legal_hold
    with pytest.raises(holds.HoldError, match="already released"):
        holds.release(store, wide.hold.hold_id, released_by="A", reason="again")
    holds.release(store, narrow.hold.hold_id, released_by="B", reason="settled")
    assert not store.retention(key).legal_hold
    listed = holds.list_holds(store)
    assert [h.active for h in listed] == [False, False]
    assert holds.active_holds(store) == []
    for k in (k for k in store.list("holds/") if not k.startswith("holds/log/")):
        schemas.validate(holds.HOLD_SCHEMA, json.loads(store.read_bytes(k)))


def test_hold_objects_are_write_once_and_ids_unique(archive):
    store, _ = archive
    holds.place(store, scope={"accounts": ["mayor-x"]}, reason="r", placed_by="a", hold_id="CASE-17")
    with pytest.raises(holds.HoldError, match="already exists"):
        holds.place(store, scope={"accounts": ["mayor-x"]}, reason="r", placed_by="a", hold_id="CASE-17")
    with pytest.raises(holds.HoldError, match="needs a scope"):
        holds.place(store, scope={"accounts": []}, reason="r", placed_by="a")
    with pytest.raises(holds.HoldError, match="after"):
        holds.place(store, scope={"since": "2025-05-01", "until": "2025-04-01"}, reason="r", placed_by="a")
    with pytest.raises(holds.HoldError, match="not a valid hold id"):
        holds.place(store, scope={"query": "x"}, reason="r", placed_by="a", hold_id="../etc")


def test_a_damaged_hold_stops_disposition(archive, tmp_path):
    store, _ = archive
    placed = holds.place(store, scope={"accounts": ["mayor-x"]}, reason="r", placed_by="a")
    path = store.local_path(holds.hold_key(placed.hold.hold_id))
    os.chmod(path, 0o644)
    open(path, "w").write("{not json")
    city = city_config(store.uri, SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))
    with pytest.raises(holds.HoldError, match="nothing can be disposed of"):
        disposition.plan(store, city, policy=RetentionPolicy(city, today=TODAY))
    from civic_archive.verify import verify

    assert not verify(store, deep=False).ok


def test_hold_cli(archive, capsys):
    store, runs = archive
    uri = store.uri
    assert main(["hold", "add", "--archive", uri, "--by", "City Attorney", "--reason", "Doe v. City",
                 "--account", "mayor-x", "--since", "2025-01-01", "--id", "DOE-1"]) == 0
    out = capsys.readouterr().out
    assert "hold DOE-1 placed" in out and "legal hold set on 2 object(s)" in out
    assert main(["hold", "list", "--archive", uri]) == 0
    assert "DOE-1" in capsys.readouterr().out
    assert main(["hold", "add", "--archive", uri, "--by", "x", "--reason", "y"]) == 1
    assert "needs a scope" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: usage error, exit 2
        main(["hold", "add", "--archive", uri, "--by", "x", "--reason", "y", "--since", "2025-13-01"])
    assert exc.value.code == 2 and "is not a date" in capsys.readouterr().err
    assert main(["hold", "release", "DOE-1", "--archive", uri, "--by", "City Attorney", "--reason", "dismissed"]) == 0
    assert "lifted from 2 object(s)" in capsys.readouterr().out
    assert main(["hold", "list", "--archive", uri, "--all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["hold_id"] == "DOE-1" and listed[0]["active"] is False
    assert main(["hold", "release", "NOPE", "--archive", uri, "--by", "a", "--reason", "b"]) == 1
    assert "no hold NOPE" in capsys.readouterr().err


def test_a_hold_covers_versions_filed_under_another_series(tmp_path, monkeypatch):
    """Each version is classified when written: after the city changes its mapping, an edit is filed under
    the new series. A hold matching the old version must still keep the new one (found by an audit)."""
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", "")
    store = LocalStore(tmp_path / "archive")
    arch = SyntheticArchive(store)
    arch.run("parks-facebook", [Item("parks-facebook", "post", "TEST COMMENTS", day(2025, 3, 1), "p1",
                                     text="Pool lawsuit filed")])
    edited = arch.run("parks-facebook", [Item("parks-facebook", "post", "TEST POSTS", day(2025, 3, 1), "p1",
                                              text="Pool reopens", version=2, status="edited")])
    [edit_key] = edited["records_keys"]
    city = city_config(store.uri, SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))
    late = RetentionPolicy(city, today=date(2028, 1, 1))
    doc, _, _ = disposition.plan(store, city, policy=late)
    assert edit_key in {o["key"] for o in doc["objects"]}  # eligible without the hold
    placed = holds.place(store, scope={"query": "lawsuit"}, reason="Doe v. City", placed_by="attorney")
    assert edit_key in placed.locked
    doc, analysis, _ = disposition.plan(store, city, policy=late)
    assert edit_key not in {o["key"] for o in doc["objects"]}
    assert analysis.records[edit_key].held_by == [placed.hold.hold_id]
