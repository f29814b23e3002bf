"""LocalStore: write-once, atomic puts, key safety, legal holds, SHA-256."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from civic_archive.storage import (
    LocalStore, ObjectExists, ObjectMissing, StorageError, StoredObject, open_store, sha256_file,
)

UNSAFE_KEYS = ["../x", "a/../b", "/abs", "a/./b", "a//b", "a/", "", ".hidden", "a/.hidden",
               "a\nb", "a\x00b", "a\tb", "a\x7fb", "a b", "a\\b"]


def _all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "archive")


def test_round_trip_and_sha256(store: LocalStore, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)  # several copy chunks
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    stored = store.put_file("warc/2024/a.warc.gz", src)
    assert stored == StoredObject("warc/2024/a.warc.gz", len(data), hashlib.sha256(data).hexdigest())
    assert sha256_file(store.local_path("warc/2024/a.warc.gz")) == (stored.sha256, len(data))
    assert store.put_bytes("b.txt", b"abc").sha256 == hashlib.sha256(b"abc").hexdigest()
    assert store.read_bytes("warc/2024/a.warc.gz") == data
    assert store.size("warc/2024/a.warc.gz") == len(data)
    assert store.exists("b.txt") and not store.exists("c.txt")
    assert list(store.list()) == ["b.txt", "warc/2024/a.warc.gz"]
    assert list(store.list("warc/")) == ["warc/2024/a.warc.gz"]
    with pytest.raises(ObjectMissing):
        store.open("c.txt")
    with pytest.raises(ObjectMissing):
        store.size("c.txt")


def test_write_once(store: LocalStore) -> None:
    store.put_bytes("a/x.warc.gz", b"first")
    with pytest.raises(ObjectExists):
        store.put_bytes("a/x.warc.gz", b"second")
    assert store.read_bytes("a/x.warc.gz") == b"first"
    mode = os.stat(store.local_path("a/x.warc.gz")).st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_puts_are_atomic_and_leave_no_temporary_files(store: LocalStore, tmp_path: Path) -> None:
    store.put_bytes("a/x", b"1")
    with pytest.raises(ObjectExists):
        store.put_bytes("a/x", b"2")
    with pytest.raises(FileNotFoundError):
        store.put_file("a/y", tmp_path / "does-not-exist")
    assert not store.exists("a/y")
    assert _all_files(store.root) == ["a/x"]  # no .put-* file, nothing left in .spool


def test_spool_and_hidden_files_are_not_listed(store: LocalStore) -> None:
    store.put_bytes("a/x", b"1")
    Path(store.spool_dir(), "building.warc.gz").write_bytes(b"partial")
    (store.root / "a" / ".put-abc123").write_bytes(b"partial")
    store.set_legal_hold("a/x", True)
    assert os.path.dirname(store.spool_dir()) == str(store.root)  # same filesystem as the objects
    assert list(store.list()) == ["a/x"]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused(store: LocalStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageError, match="unsafe archive key"):
        store.put_bytes(key, b"x")
    for call in (store.open, store.exists, store.size, store.delete):
        with pytest.raises(StorageError, match="unsafe archive key"):
            call(key)
    assert _all_files(store.root) == []
    assert sorted(os.listdir(tmp_path)) == ["archive"]


@pytest.mark.parametrize("key", ["x\n", "a/b\n"])
def test_trailing_newline_key_is_refused(store: LocalStore, key: str) -> None:
    with pytest.raises(StorageError, match="unsafe archive key"):
        store.put_bytes(key, b"x")


def test_legal_hold_blocks_delete(store: LocalStore) -> None:
    store.put_bytes("a/x", b"record")
    assert store.retention("a/x").legal_hold is False
    store.set_legal_hold("a/x", True)
    assert store.retention("a/x").legal_hold is True
    with pytest.raises(StorageError, match="legal hold"):
        store.delete("a/x")
    assert store.read_bytes("a/x") == b"record"
    store.set_legal_hold("a/x", False)
    store.delete("a/x")
    assert not store.exists("a/x")
    with pytest.raises(ObjectMissing):
        store.delete("a/x")
    with pytest.raises(ObjectMissing):
        store.set_legal_hold("a/x", True)


def test_open_store_local(tmp_path: Path) -> None:
    by_uri = open_store(f"file://{tmp_path / 'one'}")
    bare = open_store(str(tmp_path / "two"))
    assert isinstance(by_uri, LocalStore) and by_uri.uri == f"file://{tmp_path / 'one'}"
    assert isinstance(bare, LocalStore) and bare.root == tmp_path / "two"
    with pytest.raises(StorageError, match="unsupported archive URI"):
        open_store("ftp://example/x")


def test_list_by_prefix_equals_filtering_the_whole_listing(tmp_path):
    store = LocalStore(tmp_path / "a")
    keys = ["records/account=a/series=S/created=2026-01/r-0.parquet", "records/account=a/x.parquet",
            "records/account=b/series=S/created=2026-02/r-1.parquet", "manifests/m.json", "recordsX/y", "top"]
    for key in keys:
        store.put_bytes(key, b"x")
    everything = list(store.list())
    assert everything == sorted(keys)
    for prefix in ["", "records/", "records/account=a/", "records/account=a/ser", "records/acc", "rec",
                   "missing/", "records/account=c/", "manifests/m.json"]:
        assert list(store.list(prefix)) == [k for k in everything if k.startswith(prefix)], prefix
    assert list(store.list("records/", start_after="records/account=a/x.parquet")) == [keys[2]]
