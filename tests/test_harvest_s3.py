"""A harvest into S3 (SeaweedFS on loopback) with the harvester identity: objects are locked, verify passes,
and the harvester cannot destroy what it wrote."""
from __future__ import annotations

import pytest

from civic_archive.demo import demo_config
from civic_archive.harvest import harvest_account
from civic_archive.storage import StorageError
from civic_archive.verify import verify

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
