"""A harvest into S3 (SeaweedFS on loopback) with the harvester identity: objects are locked, verify passes,
and the harvester cannot destroy what it wrote."""
from __future__ import annotations

import json
import os

import pytest

from civic_archive.demo import demo_config
from civic_archive.harvest import harvest_account
from civic_archive.storage import StorageError
from civic_archive.verify import verify
from test_disposition_helpers import series_def

pytestmark = pytest.mark.s3


def test_demo_harvest_into_s3_is_locked_and_verifies(fakes, seaweed, s3_bucket):
    store = seaweed.store("harvester", s3_bucket, "city", lock_mode="GOVERNANCE", default_retain_days=30)
    city = demo_config(fakes, store.uri)
    account = city.accounts[0]
    first = harvest_account(city, account, store)
    fakes.world.next_night()
    second = harvest_account(city, account, store)
    assert first.ok and second.ok and first.counts["new"] > 10
    report = verify(store)
    assert report.ok, report.summary()
    assert report.manifests == 2 and report.warc_records > 10
    warc_key = next(k for k in store.list("warc/"))
    lock = store.retention(warc_key)
    assert lock.mode == "GOVERNANCE" and lock.retain_until is not None
    with pytest.raises(StorageError):
        store.delete(warc_key)
    auditor = seaweed.store("auditor", s3_bucket, "city", lock_mode=None)
    assert verify(auditor).ok  # read-only identity can audit
    with pytest.raises(StorageError):
        auditor.put_bytes("manifests/forged.json", b"{}")


def test_objects_are_locked_until_their_records_are_eligible(fakes, seaweed, s3_bucket, tmp_path):
    """Each records file is locked until the latest eligibility of its rows, each WARC until the latest of
    every row pointing at it, so the storage refuses an early purge but lets disposition purge on time; what
    has no known eligibility (state, report, unconfirmed series) gets the default lock."""
    from datetime import datetime, timedelta, timezone

    import pyarrow as pa
    import pyarrow.parquet as pq

    from civic_archive import config as cfg, manifest
    from civic_archive.retention import object_retain_until
    from test_disposition_helpers import city_doc, write_schedule

    store = seaweed.store("harvester", s3_bucket, "city", lock_mode="GOVERNANCE", default_retain_days=3650)
    doc, env = fakes.city_config(archive=store.uri, city="City of Example", jurisdiction="MO")
    os.environ.update(env)
    accounts = [a for a in doc["accounts"] if a["id"] == "parks-facebook"]
    # Posts: a verified, confirmed series of 3 years; comments: not confirmed (no eligibility).
    schedule = write_schedule(tmp_path, [
        series_def("TEST POSTS", days=3 * 365, applies_to=("post", "media")),
        series_def("TEST COMMENTS", days=60, trigger="not_verified", applies_to=("comment", "reply"))])
    city = cfg.parse(city_doc(store.uri, accounts, schedule=schedule, confirmations=[
        {"series": "TEST POSTS", "confirmed_by": "Pat Clerk, City Clerk", "confirmed_on": "2026-01-02"}]))
    before = datetime.now(timezone.utc)
    result = harvest_account(city, city.account("parks-facebook"), store)
    assert result.ok
    default = before + timedelta(days=3650)
    objects = json.loads(store.read_bytes(manifest.chain_keys(store, "parks-facebook")[-1]))["objects"]
    rows_by_warc: dict[str, list] = {}
    checked = {"eligible": 0, "default": 0}
    for obj in objects:
        if obj["kind"] != "records":
            continue
        table = pq.read_table(pa.BufferReader(store.read_bytes(obj["key"])),
                              columns=["kind", "eligible_on", "warc_file", "media_warc_file"])
        eligible = table["eligible_on"].to_pylist()
        for column in ("warc_file", "media_warc_file"):
            for warc, when in zip(table[column].to_pylist(), eligible):
                if warc:
                    rows_by_warc.setdefault(warc, []).append(when)
        expect = object_retain_until(eligible)
        lock = store.retention(obj["key"])
        assert lock.mode == "GOVERNANCE"
        if expect is None:
            assert abs(lock.retain_until - default) < timedelta(minutes=10), obj["key"]
            checked["default"] += 1
        else:
            assert set(table["kind"].to_pylist()) <= {"post", "media"}
            assert abs(lock.retain_until - max(expect, before + timedelta(days=1))) < timedelta(minutes=10)
            checked["eligible"] += 1
    for obj in objects:
        lock = store.retention(obj["key"]).retain_until
        if obj["kind"] == "warc":
            expect = object_retain_until(rows_by_warc.get(obj["key"], [None]))
            assert abs(lock - (expect or default)) < timedelta(minutes=10), obj["key"]
        elif obj["kind"] in ("state", "report"):
            assert abs(lock - default) < timedelta(minutes=10), obj["key"]
    assert checked["eligible"] >= 1 and checked["default"] >= 1
