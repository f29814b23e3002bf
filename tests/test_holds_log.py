"""The holds log: every hold and release document is logged with its SHA-256 in a hash chain, so a hold cannot
be edited, deleted or released away outside the software. What a local archive (no Object Lock) could suffer:
a narrowed scope, a deleted hold, a hand-written release, a removed log entry. Each stops disposition or does
not take effect, and `verify` names it."""
from __future__ import annotations

import json
import os
from datetime import date

import pytest

from civic_archive import disposition, holds
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import LocalStore
from civic_archive.verify import verify
from test_disposition_helpers import SIMPLE_ACCOUNTS, Item, SyntheticArchive, city_config, day, write_schedule

TODAY = date(2028, 1, 1)  # everything in the archive is past its (30/60-day) retention


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", "")
    store = LocalStore(tmp_path / "archive")
    arch = SyntheticArchive(store)
    mayor = arch.run("mayor-x", [Item("mayor-x", "post", "TEST POSTS", day(2025, 3, 15), "m1", text="Vote")])
    arch.run("parks-facebook", [Item("parks-facebook", "post", "TEST POSTS", day(2025, 3, 1), "p1", text="Pool")])
    city = city_config(store.uri, SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))
    return store, city, RetentionPolicy(city, today=TODAY), mayor


def _planned(store, city, policy) -> set[str]:
    doc, _, _ = disposition.plan(store, city, policy=policy)
    return {o["key"] for o in doc["objects"]}


def _write(store, key: str, data: bytes) -> None:
    path = store.root / key
    if path.exists():
        os.chmod(path, 0o644)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _failures(store) -> dict[str, str]:
    """verify's failures by key (all of a key's reasons joined)."""
    out: dict[str, str] = {}
    for key, why in verify(store, deep=False).failures:
        out[key] = f"{out[key]}; {why}" if key in out else why
    return out


def test_placing_and_releasing_are_logged_and_verify(env):
    store, city, policy, mayor = env
    placed = holds.place(store, scope={"accounts": ["mayor-x"]}, reason="Doe v. City", placed_by="attorney")
    assert not set(mayor["records_keys"]) & _planned(store, city, policy)
    holds.release(store, placed.hold.hold_id, released_by="attorney", reason="settled")
    assert set(mayor["records_keys"]) <= _planned(store, city, policy)
    entries = holds.LOG.read_entries(store)
    assert [(e.sequence, e.doc["action"], e.doc["document"]["key"]) for e in entries] == [
        (1, "place", holds.hold_key(placed.hold.hold_id)), (2, "release", holds.release_key(placed.hold.hold_id))]
    report = verify(store, deep=False)
    assert report.ok, report.summary()
    assert report.hold_entries == 2 and f"holds log: 2 entries; head {entries[-1].key}" in report.summary()


def test_a_narrowed_scope_stops_disposition(env):
    store, city, policy, mayor = env
    placed = holds.place(store, scope={"accounts": ["mayor-x"]}, reason="r", placed_by="a")
    key = holds.hold_key(placed.hold.hold_id)
    doc = json.loads(store.read_bytes(key))
    doc["scope"] = {"accounts": ["parks-facebook"]}
    _write(store, key, json.dumps(doc).encode())
    with pytest.raises(holds.HoldError, match="was changed"):
        _planned(store, city, policy)
    assert "document was changed" in _failures(store)[key]


def test_a_deleted_hold_stops_disposition(env):
    store, city, policy, _ = env
    placed = holds.place(store, scope={"accounts": ["mayor-x"]}, reason="r", placed_by="a", lock_objects=False)
    key = holds.hold_key(placed.hold.hold_id)
    os.chmod(store.root / key, 0o644)
    (store.root / key).unlink()
    with pytest.raises(holds.HoldError, match="was deleted"):
        _planned(store, city, policy)
    assert "was deleted" in _failures(store)[key]


def test_a_removed_log_entry_stops_disposition(env):
    store, city, policy, _ = env
    for n in range(3):
        holds.place(store, scope={"accounts": ["mayor-x"]}, reason=f"r{n}", placed_by="a", lock_objects=False)
    middle = holds.LOG.entry_key(2)
    os.chmod(store.root / middle, 0o644)
    (store.root / middle).unlink()
    with pytest.raises(holds.HoldError, match="cannot be trusted"):
        _planned(store, city, policy)
    failures = _failures(store)
    assert "missing (removed)" in failures[holds.LOG.entry_key(3)]
    # a hold can still be placed: logging a new hold is never refused
    holds.place(store, scope={"accounts": ["parks-facebook"]}, reason="new", placed_by="a", lock_objects=False)
    assert holds.LOG.head(store).sequence == 4


def test_a_hand_written_release_does_not_release(env):
    store, city, policy, mayor = env
    placed = holds.place(store, scope={"accounts": ["mayor-x"]}, reason="r", placed_by="a", lock_objects=False)
    hold_id = placed.hold.hold_id
    release = {"hold_version": 1, "hold_id": hold_id, "released_by": "someone", "released_at": "2027-01-01T00:00:00Z",
               "reason": "no longer needed", "software": "by hand"}
    _write(store, holds.release_key(hold_id), json.dumps(release).encode())
    assert holds.get(store, hold_id).active
    assert not set(mayor["records_keys"]) & _planned(store, city, policy)
    assert "not in effect" in _failures(store)[holds.release_key(hold_id)]
    # running the release logs the document that is there (an interrupted release completes)
    result = holds.release(store, hold_id, released_by="clerk", reason="settled")
    assert result.hold.released["released_by"] == "someone"
    assert not holds.get(store, hold_id).active
    assert set(mayor["records_keys"]) <= _planned(store, city, policy)
    assert verify(store, deep=False).ok


def test_an_unlogged_hold_is_honoured_and_reported(env):
    store, city, policy, mayor = env
    doc = {"hold_version": 1, "hold_id": "BY-HAND", "placed_by": "clerk", "placed_at": "2027-01-01T00:00:00Z",
           "reason": "written by hand", "kind": "other", "scope": {"accounts": ["mayor-x"]}, "software": "by hand"}
    _write(store, holds.hold_key("BY-HAND"), json.dumps(doc).encode())
    assert [h.hold_id for h in holds.active_holds(store)] == ["BY-HAND"]
    assert not set(mayor["records_keys"]) & _planned(store, city, policy)
    assert "hold not in the holds log" in _failures(store)[holds.hold_key("BY-HAND")]


def test_running_hold_add_again_completes_an_interrupted_one(env):
    """`hold add` writes the document, then logs it: interrupted in between, the same command completes it."""
    store, city, policy, mayor = env
    scope, reason = {"accounts": ["mayor-x"]}, "Doe v. City"
    placed = holds.place(store, scope=scope, reason=reason, placed_by="a", hold_id="DOE-1", lock_objects=False)
    os.chmod(store.root / holds.LOG.entry_key(1), 0o644)
    (store.root / holds.LOG.entry_key(1)).unlink()  # as if the process died before logging
    assert "hold not in the holds log" in _failures(store)[holds.hold_key("DOE-1")]
    again = holds.place(store, scope=scope, reason=reason, placed_by="a", hold_id="DOE-1")
    assert again.hold.placed_at == placed.hold.placed_at and verify(store, deep=False).ok
    with pytest.raises(holds.HoldError, match="already exists"):
        holds.place(store, scope=scope, reason=reason, placed_by="a", hold_id="DOE-1")
