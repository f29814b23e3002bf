"""Disposition and holds against SeaweedFS with Object Lock: the storage itself refuses early or held deletes,
whatever the software believes; a legitimate purge once the lock has expired is logged and verifies."""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest

from civic_archive import auditlog, disposition, holds
from civic_archive.retention import RetentionPolicy
from civic_archive.s3store import S3Store
from civic_archive.storage import Retention, StorageError
from civic_archive.verify import verify
from test_disposition_helpers import SIMPLE_ACCOUNTS, Item, SyntheticArchive, city_config, day, write_schedule

pytestmark = pytest.mark.s3
TODAY = date(2026, 11, 21)


def _build(store, *, retain_until):
    """Two old runs of parks-facebook: posts from 2025 (30-day series, long eligible) sharing one WARC each."""
    arch = SyntheticArchive(store)
    first = arch.run("parks-facebook", [Item("parks-facebook", "post", "TEST POSTS", day(2025, 3, d), f"p{d}")
                                        for d in range(1, 6)], retain_until=retain_until)
    second = arch.run("parks-facebook", [Item("parks-facebook", "comment", "TEST COMMENTS", day(2025, 4, d), f"c{d}",
                                              text=f"comment {d} about the budget") for d in range(1, 4)],
                      retain_until=retain_until)
    return first, second


def _city(store, tmp_path):
    return city_config(store.uri, SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))


def _approved_plan(store, city, policy):
    doc, _, _ = disposition.plan(store, city, policy=policy, save=True, cache=False)
    assert doc["objects"]
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)
    return doc


class MistakenStore(S3Store):
    """The real S3 store with a software bug: it believes no object is ever locked or held."""

    def retention(self, key):
        return Retention(None, None, False)


def test_an_early_purge_is_refused_by_the_storage_itself(seaweed, s3_bucket, tmp_path):
    harvester = seaweed.store("harvester", s3_bucket, "city", lock_mode="GOVERNANCE")
    _build(harvester, retain_until=datetime.now(timezone.utc) + timedelta(days=2))
    admin = seaweed.store("admin", s3_bucket, "city", lock_mode="GOVERNANCE")
    city = _city(admin, tmp_path)
    policy = RetentionPolicy(city, today=TODAY)
    doc = _approved_plan(admin, city, policy)  # the schedule says: eligible since 2025

    # The software's own re-check sees the lock and keeps everything.
    with pytest.raises(disposition.DispositionRefused, match="locked by the storage until"):
        disposition.execute(admin, city, doc["plan_id"], policy=policy)
    # A buggy build that ignores locks tries to delete: the storage refuses every object, nothing is logged.
    mistaken = MistakenStore(s3_bucket, "city", lock_mode="GOVERNANCE", client=seaweed.client("disposition"))
    with pytest.raises(disposition.DispositionRefused, match="storage refused every deletion"):
        disposition.execute(mistaken, city, doc["plan_id"], policy=policy)
    assert all(admin.exists(o["key"]) for o in doc["objects"])
    assert auditlog.read_entries(admin) == []
    # Directly, too: the disposition identity cannot delete a locked version early.
    key = doc["objects"][0]["key"]
    with pytest.raises(StorageError, match=r"refused by the storage: object is locked \(GOVERNANCE\)"):
        seaweed.store("disposition", s3_bucket, "city").delete(key)
    assert verify(admin).ok


def test_a_purge_after_the_lock_expired_is_logged_and_verifies(seaweed, s3_bucket, tmp_path):
    until = datetime.now(timezone.utc) + timedelta(seconds=4)
    harvester = seaweed.store("harvester", s3_bucket, "city", lock_mode="GOVERNANCE")
    first, second = _build(harvester, retain_until=until)
    admin = seaweed.store("admin", s3_bucket, "city", lock_mode="GOVERNANCE")
    city = _city(admin, tmp_path)
    policy = RetentionPolicy(city, today=TODAY)
    doc = _approved_plan(admin, city, policy)
    time.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 1.5)
    # Executed by the least-privileged disposition identity (no bypass; PutObjectRetention for the log's lock).
    store = seaweed.store("disposition", s3_bucket, "city", lock_mode="GOVERNANCE")
    result = disposition.execute(store, city, doc["plan_id"], policy=policy)
    destroyed = {o["key"] for o in result.destroyed}
    assert set(first["warcs"] + first["records_keys"] + second["warcs"] + second["records_keys"]) == destroyed
    assert not any(store.exists(k) for k in destroyed)
    entry = result.entry
    assert "deleted by version id" in entry.doc["method"]
    log_lock = store.retention(entry.key)
    assert log_lock.mode == "GOVERNANCE" and log_lock.retain_until > datetime.now(timezone.utc) + timedelta(days=365 * 99)
    report = verify(store)
    assert report.ok, report.summary()
    assert {k for k, _ in report.disposed} == destroyed
    auditor = seaweed.store("auditor", s3_bucket, "city", lock_mode=None)
    assert auditlog.check(auditor).ok and verify(auditor).ok  # a read-only identity can audit it all


def test_hold_sets_object_lock_legal_holds_that_the_storage_enforces(seaweed, s3_bucket, tmp_path):
    until = datetime.now(timezone.utc) + timedelta(seconds=3)
    harvester = seaweed.store("harvester", s3_bucket, "city", lock_mode="GOVERNANCE")
    first, second = _build(harvester, retain_until=until)
    # Placing a hold writes holds/{id}.json and sets legal holds: Write + PutObjectLegalHold.
    admin = seaweed.store("admin", s3_bucket, "city", lock_mode=None)
    placed = holds.place(admin, scope={"query": "BUDGET"}, reason="Sunshine request 2026-17",
                         placed_by="Records officer", kind="records_request", request_id="2026-17")
    covered = set(second["warcs"] + second["records_keys"])
    assert set(placed.locked) == covered and placed.records == 3
    assert all(admin.retention(k).legal_hold for k in covered)
    assert not any(admin.retention(k).legal_hold for k in first["warcs"] + first["records_keys"])
    time.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 1.5)
    disposer = seaweed.store("disposition", s3_bucket, "city")
    with pytest.raises(StorageError, match="refused by the storage: under legal hold"):
        disposer.delete(second["records_keys"][0])
    # disposition keeps them for the hold (software) and the storage would refuse anyway
    store = seaweed.store("admin", s3_bucket, "city", lock_mode="GOVERNANCE")
    city = _city(store, tmp_path)
    policy = RetentionPolicy(city, today=TODAY)
    doc, analysis, _ = disposition.plan(store, city, policy=policy, cache=False)
    assert not covered & {o["key"] for o in doc["objects"]}
    assert {o["key"] for o in doc["objects"]} == set(first["warcs"] + first["records_keys"])
    released = holds.release(admin, placed.hold.hold_id, released_by="Records officer", reason="request closed")
    assert set(released.unlocked) == covered
    assert not any(admin.retention(k).legal_hold for k in covered)
    disposer.delete(second["records_keys"][0])  # lock expired, hold lifted: the storage now allows it
