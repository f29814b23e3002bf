"""S3Store against a real SeaweedFS 4.48 server (fixtures in tests/seaweed.py): write-once puts, checksums,
identities, and Object Lock as the server enforces it. No mocks."""
from __future__ import annotations

import base64
import gc
import hashlib
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import civic_archive.s3store as s3store
from civic_archive.s3store import DEFAULT_RETAIN_DAYS, S3Store
from civic_archive.storage import ObjectExists, ObjectMissing, StorageError, StoredObject, open_store

pytestmark = pytest.mark.s3


def _later(**delta: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(**delta)


def _versions(client, bucket: str, key: str) -> tuple[list[dict], list[dict]]:
    resp = client.list_object_versions(Bucket=bucket, Prefix=key)
    return ([v for v in resp.get("Versions", []) if v["Key"] == key],
            [m for m in resp.get("DeleteMarkers", []) if m["Key"] == key])


def _error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_round_trip(seaweed, s3_bucket, tmp_path: Path) -> None:
    store = seaweed.store("harvester", s3_bucket, "city/archive")
    assert store.uri == f"s3://{s3_bucket}/city/archive"
    data = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks
    path = tmp_path / "a.warc.gz"
    path.write_bytes(data)
    until = _later(days=1)

    stored = store.put_file("warc/2024/a.warc.gz", path, retain_until=until)
    store.put_bytes("warc/2024/b.warc.gz", b"second", retain_until=until)
    store.put_bytes("parquet/records.parquet", b"third", retain_until=until)

    assert stored == StoredObject("warc/2024/a.warc.gz", len(data), hashlib.sha256(data).hexdigest(),
                                  stored.version_id)
    assert stored.version_id
    assert store.exists("warc/2024/a.warc.gz")
    assert not store.exists("warc/2024/none.warc.gz")
    assert store.size("warc/2024/a.warc.gz") == len(data)
    assert store.read_bytes("warc/2024/a.warc.gz") == data
    with store.open("warc/2024/a.warc.gz") as fh:
        assert fh.read(10) == data[:10]
        assert fh.read() == data[10:]
    assert list(store.list()) == ["parquet/records.parquet", "warc/2024/a.warc.gz", "warc/2024/b.warc.gz"]
    assert list(store.list("warc/")) == ["warc/2024/a.warc.gz", "warc/2024/b.warc.gz"]
    assert list(store.list("nothing/")) == []
    # Keys are relative to the store's prefix; a store on another prefix sees none of them.
    raw = seaweed.client("auditor").list_objects_v2(Bucket=s3_bucket)
    assert sorted(o["Key"] for o in raw["Contents"])[0] == "city/archive/parquet/records.parquet"
    assert list(seaweed.store("auditor", s3_bucket, "city/other").list()) == []
    assert seaweed.store("auditor", s3_bucket, "city/archive").read_bytes("warc/2024/b.warc.gz") == b"second"

    retention = store.retention("warc/2024/a.warc.gz")
    assert retention.mode == "GOVERNANCE"
    assert retention.retain_until is not None and abs(retention.retain_until - until) < timedelta(seconds=1)
    assert retention.legal_hold is False

    with pytest.raises(ObjectMissing):
        store.open("warc/2024/none.warc.gz")
    with pytest.raises(ObjectMissing):
        store.size("warc/2024/none.warc.gz")


def test_list_is_paginated_and_sorted(seaweed, s3_bucket) -> None:
    store = seaweed.store("harvester", s3_bucket, "p", lock_mode=None)
    store.list_page_size = 2
    keys = [f"k/{name}" for name in ("e", "a", "d", "b", "c")]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert list(store.list()) == sorted(keys)
    assert list(store.list("k/")) == sorted(keys)


def test_second_put_of_a_key_is_refused(seaweed, s3_bucket) -> None:
    store = seaweed.store("harvester", s3_bucket, lock_mode=None)
    store.put_bytes("a/x.warc.gz", b"first")
    with pytest.raises(ObjectExists):
        store.put_bytes("a/x.warc.gz", b"second")
    assert store.read_bytes("a/x.warc.gz") == b"first"
    versions, markers = _versions(seaweed.client("admin"), s3_bucket, "a/x.warc.gz")
    assert len(versions) == 1 and markers == []


def test_put_race_is_closed_by_if_none_match(seaweed, s3_bucket, monkeypatch) -> None:
    store = seaweed.store("harvester", s3_bucket, lock_mode=None)
    store.put_bytes("a/x", b"first")
    # Pretend the existence checks ran before the other writer's PUT landed: the server's 412 still refuses.
    monkeypatch.setattr(store, "exists", lambda key: False)
    monkeypatch.setattr(store, "_versions", lambda full: [])
    with pytest.raises(ObjectExists):
        store.put_bytes("a/x", b"second")
    assert store.read_bytes("a/x") == b"first"


def test_a_delete_marker_does_not_free_the_key(seaweed, s3_bucket) -> None:
    store = seaweed.store("harvester", s3_bucket)
    stored = store.put_bytes("a/x", b"record", retain_until=_later(days=1))
    # A DELETE without VersionId (allowed to Write) only hides the locked version behind a delete marker.
    seaweed.client("harvester").delete_object(Bucket=s3_bucket, Key="a/x")
    assert not store.exists("a/x")
    with pytest.raises(ObjectExists):
        store.put_bytes("a/x", b"replacement")
    kept = seaweed.client("auditor").get_object(Bucket=s3_bucket, Key="a/x", VersionId=stored.version_id)
    assert kept["Body"].read() == b"record"


def test_sha256_is_computed_locally_and_confirmed_by_the_server(seaweed, s3_bucket, tmp_path: Path) -> None:
    store = seaweed.store("harvester", s3_bucket, lock_mode=None)
    data = os.urandom(2_500_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    stored = store.put_file("f.bin", path)
    digest = hashlib.sha256(data)
    assert stored.sha256 == digest.hexdigest()
    assert stored.size == len(data)
    head = seaweed.client("auditor").head_object(Bucket=s3_bucket, Key="f.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(digest.digest()).decode()


def test_server_refuses_bytes_that_do_not_match_the_sent_hash(seaweed, s3_bucket, monkeypatch) -> None:
    store = seaweed.store("harvester", s3_bucket, lock_mode=None)
    real = s3store._sha256
    monkeypatch.setattr(s3store, "_sha256", lambda path: (hashlib.sha256(b"other").digest(), real(path)[1]))
    with pytest.raises(StorageError, match="BadDigest"):
        store.put_bytes("a/x", b"payload")
    assert not store.exists("a/x")


def test_wrong_secret_key_is_refused(seaweed, s3_bucket) -> None:
    bad = S3Store(s3_bucket, lock_mode=None, client=seaweed.client("harvester", secret="not-the-secret"))
    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        list(bad.list())
    with pytest.raises(StorageError) as excinfo:
        bad.exists("a/x")  # a refusal, never a quiet False
    assert not isinstance(excinfo.value, ObjectMissing)
    with pytest.raises(StorageError):
        bad.put_bytes("a/x", b"data")
    assert not seaweed.store("auditor", s3_bucket).exists("a/x")


def test_auditor_cannot_put(seaweed, s3_bucket) -> None:
    auditor = seaweed.store("auditor", s3_bucket)
    with pytest.raises(StorageError, match="AccessDenied"):
        auditor.put_bytes("a/x", b"data", retain_until=_later(days=1))
    with pytest.raises(StorageError, match="AccessDenied"):
        seaweed.store("auditor", s3_bucket, lock_mode=None).put_bytes("a/x", b"data")
    assert not auditor.exists("a/x")


def test_compliance_lock_blocks_delete_and_shortening(seaweed, s3_bucket) -> None:
    until = _later(days=2)
    stored = seaweed.store("harvester", s3_bucket, lock_mode="COMPLIANCE").put_bytes(
        "a/c.warc.gz", b"record", retain_until=until)
    disposition = seaweed.store("disposition", s3_bucket)

    with pytest.raises(StorageError, match=r"refused by the storage: object is locked \(COMPLIANCE\) until"):
        disposition.delete("a/c.warc.gz")
    assert disposition.read_bytes("a/c.warc.gz") == b"record"
    # Not even the admin, with the governance bypass header, removes a COMPLIANCE version.
    admin = seaweed.client("admin")
    with pytest.raises(ClientError) as excinfo:
        admin.delete_object(Bucket=s3_bucket, Key="a/c.warc.gz", VersionId=stored.version_id,
                            BypassGovernanceRetention=True)
    assert _error_code(excinfo) == "AccessDenied"
    for identity in ("harvester", "admin"):
        with pytest.raises(ClientError) as excinfo:
            seaweed.client(identity).put_object_retention(
                Bucket=s3_bucket, Key="a/c.warc.gz", VersionId=stored.version_id,
                Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _later(hours=1)})
        assert _error_code(excinfo) == "AccessDenied"
    retention = disposition.retention("a/c.warc.gz")
    assert retention.mode == "COMPLIANCE"
    assert retention.retain_until is not None and abs(retention.retain_until - until) < timedelta(seconds=1)
    versions, markers = _versions(admin, s3_bucket, "a/c.warc.gz")
    assert [v["VersionId"] for v in versions] == [stored.version_id] and markers == []


def test_governance_lock_blocks_harvester_delete(seaweed, s3_bucket) -> None:
    harvester = seaweed.store("harvester", s3_bucket, lock_mode="GOVERNANCE")
    stored = harvester.put_bytes("a/g.warc.gz", b"record", retain_until=_later(days=1))

    with pytest.raises(StorageError, match=r"object is locked \(GOVERNANCE\) until"):
        harvester.delete("a/g.warc.gz")
    with pytest.raises(ClientError) as excinfo:  # the harvester has no bypass grant
        seaweed.client("harvester").delete_object(Bucket=s3_bucket, Key="a/g.warc.gz",
                                                  VersionId=stored.version_id, BypassGovernanceRetention=True)
    assert _error_code(excinfo) == "AccessDenied"
    # The store never sends the bypass header, so the disposition identity is refused through it as well.
    with pytest.raises(StorageError, match="GOVERNANCE"):
        seaweed.store("disposition", s3_bucket).delete("a/g.warc.gz")
    assert harvester.read_bytes("a/g.warc.gz") == b"record"
    # An explicit bypass by an identity holding BypassGovernanceRetention does remove it.
    seaweed.client("disposition").delete_object(Bucket=s3_bucket, Key="a/g.warc.gz", VersionId=stored.version_id,
                                                BypassGovernanceRetention=True)
    assert not harvester.exists("a/g.warc.gz")


def test_legal_hold_blocks_delete_after_retention_expired(seaweed, s3_bucket) -> None:
    until = _later(seconds=3)
    seaweed.store("harvester", s3_bucket).put_bytes("a/h.warc.gz", b"record", retain_until=until)
    officer = seaweed.store("records_officer", s3_bucket)
    disposition = seaweed.store("disposition", s3_bucket)

    with pytest.raises(StorageError, match="AccessDenied"):  # holds are the records officer's
        seaweed.store("harvester", s3_bucket).set_legal_hold("a/h.warc.gz", True)
    officer.set_legal_hold("a/h.warc.gz", True)
    assert disposition.retention("a/h.warc.gz").legal_hold is True
    time.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 1.5)

    with pytest.raises(StorageError, match="refused by the storage: under legal hold"):
        disposition.delete("a/h.warc.gz")
    assert disposition.read_bytes("a/h.warc.gz") == b"record"

    officer.set_legal_hold("a/h.warc.gz", False)
    assert disposition.retention("a/h.warc.gz").legal_hold is False
    disposition.delete("a/h.warc.gz")
    assert not disposition.exists("a/h.warc.gz")
    assert _versions(seaweed.client("admin"), s3_bucket, "a/h.warc.gz") == ([], [])
    with pytest.raises(ObjectMissing):
        disposition.delete("a/h.warc.gz")


def test_delete_removes_every_version_and_delete_marker(seaweed, s3_bucket) -> None:
    store = seaweed.store("disposition", s3_bucket, lock_mode=None)
    store.put_bytes("a/x", b"unlocked")
    seaweed.client("harvester").delete_object(Bucket=s3_bucket, Key="a/x")  # leaves a delete marker
    store.delete("a/x")
    assert _versions(seaweed.client("admin"), s3_bucket, "a/x") == ([], [])
    with pytest.raises(ObjectMissing):
        store.delete("a/missing")


def test_open_store_uses_the_environment(seaweed, s3_bucket, monkeypatch) -> None:
    access_key, secret_key = seaweed.credentials["harvester"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    monkeypatch.setenv("CIVIC_ARCHIVE_LOCK_MODE", "COMPLIANCE")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)

    store = open_store(f"s3://{s3_bucket}/city/archive/")
    assert isinstance(store, S3Store)
    assert store.uri == f"s3://{s3_bucket}/city/archive"
    stored = store.put_bytes("warc/x.warc.gz", b"record", retain_until=_later(days=1))
    assert stored.sha256 == hashlib.sha256(b"record").hexdigest()
    assert store.read_bytes("warc/x.warc.gz") == b"record"
    assert store.retention("warc/x.warc.gz").mode == "COMPLIANCE"
    assert list(store.list()) == ["warc/x.warc.gz"]


def test_ensure_bucket(seaweed) -> None:
    name = f"t-ensure-{os.urandom(6).hex()}"
    store = seaweed.store("admin", name)
    store.ensure_bucket()
    store.ensure_bucket()
    conf = seaweed.client("admin").get_object_lock_configuration(Bucket=name)
    assert conf["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"

    plain = f"t-plain-{os.urandom(6).hex()}"
    seaweed.client("admin").create_bucket(Bucket=plain)
    with pytest.raises(StorageError, match="no Object Lock"):
        seaweed.store("admin", plain).ensure_bucket()


def test_unsafe_keys_and_settings_are_refused(seaweed, s3_bucket) -> None:
    store = seaweed.store("harvester", s3_bucket, lock_mode=None)
    for key in ("../x", "a/../b", "/abs", "a\nb", ".hidden", "a//b"):
        with pytest.raises(StorageError, match="unsafe archive key"):
            store.put_bytes(key, b"x")
    assert list(store.list()) == []
    with pytest.raises(StorageError, match="unknown lock mode"):
        S3Store(s3_bucket, lock_mode="FOREVER", client=seaweed.client("harvester"))


def test_spool_dir_is_one_folder_per_store_and_cleaned_up(seaweed, s3_bucket) -> None:
    store = seaweed.store("harvester", s3_bucket)
    spool = store.spool_dir()
    assert os.path.isdir(spool) and store.spool_dir() == spool
    del store
    gc.collect()
    assert not os.path.exists(spool)


def test_objects_without_a_disposition_date_are_locked_by_default(seaweed, s3_bucket, monkeypatch) -> None:
    """DESIGN §5: on S3 every object is written with Object Lock. Manifests, state, reports, holds and records
    of unconfirmed series have no eligibility date: they get the default lock (10 years, or
    CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS; 0 asks for none)."""
    monkeypatch.delenv("CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS", raising=False)
    store = seaweed.store("harvester", s3_bucket, "default", lock_mode="GOVERNANCE")
    store.put_bytes("manifests/m.json", b"{}")
    retention = store.retention("manifests/m.json")
    expected = datetime.now(timezone.utc) + timedelta(days=DEFAULT_RETAIN_DAYS)
    assert retention.mode == "GOVERNANCE" and abs(retention.retain_until - expected) < timedelta(minutes=5)
    with pytest.raises(StorageError, match="GOVERNANCE"):
        seaweed.store("disposition", s3_bucket, "default").delete("manifests/m.json")

    monkeypatch.setenv("CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS", "30")
    seaweed.store("harvester", s3_bucket, "thirty", lock_mode="GOVERNANCE").put_bytes("state/s", b"s")
    thirty = seaweed.store("auditor", s3_bucket, "thirty").retention("state/s").retain_until
    assert abs(thirty - datetime.now(timezone.utc) - timedelta(days=30)) < timedelta(minutes=5)

    monkeypatch.setenv("CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS", "0")
    seaweed.store("harvester", s3_bucket, "none", lock_mode="GOVERNANCE").put_bytes("state/s", b"s")
    assert seaweed.store("auditor", s3_bucket, "none").retention("state/s").retain_until is None

    monkeypatch.setenv("CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS", "ten years")
    with pytest.raises(StorageError, match="not a number of days"):
        seaweed.store("harvester", s3_bucket, "bad", lock_mode="GOVERNANCE")
