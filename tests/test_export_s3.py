"""A records-request export from an S3 archive (SeaweedFS), run by the records officer's identity: the bag
validates, its evidence digests hold, the request's S3 legal holds are placed on the responsive objects (so
not even disposition could delete them) and lifted when the request closes, and the auditor still verifies
the whole archive, export copy included."""
from __future__ import annotations

from datetime import date

import bagit
import pytest
from civic_archive import export, holds, records_request, search
from civic_archive.demo import demo_config
from civic_archive.harvest import harvest_account
from civic_archive.verify import verify

pytestmark = pytest.mark.s3


def test_export_from_s3_with_legal_holds(fakes, seaweed, s3_bucket, tmp_path):
    harvester = seaweed.store("harvester", s3_bucket, "city", lock_mode="GOVERNANCE", default_retain_days=1)
    city = demo_config(fakes, harvester.uri)
    for night in (1, 2):
        if night == 2:
            fakes.world.next_night()
        for account in ("parks-facebook", "city-youtube"):
            assert harvest_account(city, city.account(account), harvester).ok

    officer = seaweed.store("records_officer", s3_bucket, "city", lock_mode="GOVERNANCE")
    req = export.ExportRequest(request_id="R-S3-1", criteria=search.Criteria(accounts=["parks-facebook"],
                                                                             include_removed=True),
                               requester="A. Reporter", received=date(2026, 11, 20), run_by="clerk")
    result = export.export(officer, req, tmp_path / "bag")
    bagit.Bag(str(result.path)).validate()
    assert result.counts["rows"] > 5

    auditor = seaweed.store("auditor", s3_bucket, "city", lock_mode=None)
    hold = holds.get(auditor, result.hold_id)
    assert hold.active and hold.request_id == "R-S3-1"
    held = [k for k in auditor.list("records/account=parks-facebook/") if auditor.retention(k).legal_hold]
    assert held and not any(auditor.retention(k).legal_hold for k in auditor.list("records/account=city-youtube/"))
    disposer = seaweed.store("disposition", s3_bucket, "city")
    with pytest.raises(Exception, match="legal hold"):
        disposer.delete(held[0])  # the storage itself keeps what a request covers
    assert any(k.startswith("exports/R-S3-1/") for k in auditor.list("exports/"))
    report = verify(auditor)
    assert report.ok, report.summary()
    assert report.export_packages == 1  # the copy in the bucket was fetched and validated as a bag

    records_request.close(officer, "R-S3-1", closed_by="clerk")
    assert not holds.get(auditor, result.hold_id).active
    assert not any(auditor.retention(k).legal_hold for k in held)
