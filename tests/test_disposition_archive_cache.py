"""The records summaries cached in the archive (`cache/records-summaries/`): a plan on a machine without a local
cache reuses what an earlier plan elsewhere stored, reads only what is new, drops what is gone, survives a
damaged or forged cache object, and `execute` never trusts it.

"Machines" are local cache folders (`CIVIC_ARCHIVE_CACHE_DIR`): each test switches to an empty one to play a
fresh Airflow worker.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from civic_archive import disposition, recordscan
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import LocalStore
from civic_archive.verify import verify
from test_disposition_helpers import SIMPLE_ACCOUNTS, Item, SyntheticArchive, city_config, day, write_schedule

TODAY = date(2026, 6, 1)


def _items(prefix: str, month: int, n: int = 3) -> list[Item]:
    out = []
    for i in range(n):
        out.append(Item("parks-facebook", "post", "TEST POSTS", day(2026, month, 3 + i), f"{prefix}p{i}"))
        out.append(Item("parks-facebook", "comment", "TEST COMMENTS", day(2026, month, 4 + i), f"{prefix}c{i}"))
    return out


@pytest.fixture
def env(tmp_path, monkeypatch):
    root = tmp_path / "archive"
    store = LocalStore(root)
    city = city_config(f"file://{root}", SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))
    archive = SyntheticArchive(store)
    archive.run("parks-facebook", _items("a", 1))  # eligible by June (posts 30 days, comments 60)
    archive.run("parks-facebook", _items("b", 2) + _items("b5", 5))  # May: not yet
    archive.run("mayor-x", [Item("mayor-x", "post", "TEST POSTS", day(2026, 3, 9), "m1")])
    policy = RetentionPolicy(city, today=TODAY)

    def machine(name: str) -> None:
        monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / f"machine-{name}"))

    return city, store, policy, archive, machine


def _doc(store, city, policy, **kw) -> tuple[dict, disposition.Analysis]:
    doc, analysis, _ = disposition.plan(store, city, policy=policy, **kw)
    return {k: v for k, v in doc.items() if k != "created_at"}, analysis


def _cache_objects(store) -> list[str]:
    return list(store.list(recordscan.ARCHIVE_CACHE_PREFIX))


def test_a_second_machine_plans_from_the_archive_cache(env):
    city, store, policy, _, machine = env
    machine("A")
    reference, _ = _doc(store, city, policy, cache=False)
    assert reference["objects"]
    _, a = _doc(store, city, policy, write_cache=True)
    assert a.summary.read == a.totals["records_files"] > 0 and a.from_cache == 0
    [cache_key] = _cache_objects(store)
    assert recordscan.read_archive_cache(store, cache_key).num_rows == a.totals["summary_rows"]

    machine("B")
    doc_b, b = _doc(store, city, policy)
    assert b.from_cache == b.summary.from_archive_cache == b.totals["records_files"]
    assert b.summary.read == 0 and b.summary.archive_cache_key == cache_key
    assert doc_b == reference
    # nothing changed: a saving plan adds no cache object, and B's local cache is now complete
    _, b2 = _doc(store, city, policy, save=True)
    assert _cache_objects(store) == [cache_key]
    assert b2.from_cache == b2.totals["records_files"] and b2.summary.from_archive_cache == 0
    assert verify(store).ok, verify(store).summary()  # cache/ objects are neither orphans nor failures


def test_new_records_files_are_read_and_gone_ones_drop_out(env):
    city, store, policy, archive, machine = env
    machine("A")
    _doc(store, city, policy, write_cache=True)
    before = set(recordscan.records_keys(store))
    added = archive.run("mayor-x", [Item("mayor-x", "post", "TEST POSTS", day(2026, 1, 20), "m2")])["records_keys"]
    gone = min(before)
    store.delete(gone)

    machine("C")
    reference, _ = _doc(store, city, policy, cache=False)
    doc_c, c = _doc(store, city, policy, write_cache=True)
    assert c.summary.read == len(added) and c.from_cache == len(before) - 1
    keys = set(c.summary.table.column("key").to_pylist())
    assert gone not in keys and set(added) <= keys
    assert doc_c == reference and any(o["key"] in added for o in doc_c["objects"])
    # the newer cache object is the one read from now on, and it holds exactly the current keys
    _, newest = _cache_objects(store)
    machine("D")
    _, d = _doc(store, city, policy)
    assert d.summary.archive_cache_key == newest and d.summary.read == 0
    assert set(recordscan.read_archive_cache(store, newest).column("key").to_pylist()) == set(recordscan.records_keys(store))


def _put_newer(store, name: str, data: bytes) -> str:
    """Store `data` as the newest cache object (named like the real ones: UTC time first)."""
    key = f"{recordscan.ARCHIVE_CACHE_PREFIX}{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}Z-{name}.parquet"
    store.put_bytes(key, data)
    return key


def _cache_bytes(table: pa.Table, version: str = recordscan.CACHE_VERSION, keys: int | None = None) -> bytes:
    import pyarrow.parquet as pq

    meta = {b"civic_archive.cache_version": version.encode(),
            b"civic_archive.keys": str(keys if keys is not None else len(set(table.column("key").to_pylist()))).encode(),
            b"civic_archive.rows": str(table.num_rows).encode()}
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd", write_page_checksum=True)
    return sink.getvalue().to_pybytes()


def _inside_a_data_page(data: bytes) -> int:
    """The last byte of a column chunk: its data page's payload, which the page checksums cover (a page's
    header comes first, and is not covered). A fixed offset (a third of the file) sometimes landed in a page
    header: then nothing the reader uses was damaged, and this test failed now and then as the random run
    ids moved the layout."""
    import pyarrow.parquet as pq

    col = pq.ParquetFile(pa.BufferReader(data)).metadata.row_group(0).column(0)
    start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
    return start + col.total_compressed_size - 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "other_version", "wrong_key_count",
                                    "other_schema"])
def test_a_damaged_or_foreign_cache_object_falls_back_to_the_files(env, damage):
    city, store, policy, _, machine = env
    machine("A")
    reference, a = _doc(store, city, policy, write_cache=True)
    good = store.read_bytes(_cache_objects(store)[0])
    table = a.summary.table
    if damage == "garbage":
        data = b"not a parquet file at all"
    elif damage == "truncated":
        data = good[: len(good) // 2]
    elif damage == "flipped":  # one bit inside a data page's payload, which the page checksums cover
        data = bytearray(good)
        data[_inside_a_data_page(good)] ^= 0x10
        data = bytes(data)
    elif damage == "other_version":
        data = _cache_bytes(table, version="0")
    elif damage == "wrong_key_count":
        data = _cache_bytes(table, keys=table.num_rows + 7)
    else:
        data = _cache_bytes(table.drop_columns(["warc_bytes"]))
    bad = _put_newer(store, damage, data)
    assert recordscan.newest_archive_cache(store) == bad
    assert recordscan.read_archive_cache(store, bad) is None

    machine("B")
    doc_b, b = _doc(store, city, policy, write_cache=True)
    assert b.from_cache == 0 and b.summary.read == b.totals["records_files"]
    assert doc_b == reference
    # B stored a good cache object after the damaged one: the next fresh machine reads that
    machine("C")
    doc_c, c = _doc(store, city, policy)
    assert c.summary.from_archive_cache == c.totals["records_files"] and c.summary.archive_cache_key > bad
    assert doc_c == reference


class NoLocalPaths(LocalStore):
    """A store that, like S3, offers no filesystem paths: objects are read through open()."""

    def local_path(self, key):
        return None


def test_the_archive_cache_works_without_local_paths(env):
    city, store, policy, _, machine = env
    remote = NoLocalPaths(store.root, create=False)
    machine("A")
    reference, _ = _doc(remote, city, policy, write_cache=True)
    machine("B")
    doc_b, b = _doc(remote, city, policy)
    assert b.summary.from_archive_cache == b.totals["records_files"] > 0 and doc_b == reference


def test_execute_rereads_the_objects_and_ignores_a_forged_cache(env):
    """A cache object that says a young records file is old makes the plan list it; execute reads the file
    itself and keeps it."""
    city, store, policy, _, machine = env
    machine("A")
    _, a = _doc(store, city, policy, write_cache=True)
    young = min(k for k, v in a.records.items() if not v.ok and "created=2026-05" in k)
    table = a.summary.table
    is_young = pc.equal(table.column("key"), young)
    old_day = pa.scalar(recordscan.day_number(date(2025, 1, 1)), pa.int32())
    forged = table.set_column(table.schema.get_field_index("cday"), "cday",
                              pc.if_else(is_young, old_day, table.column("cday")))
    _put_newer(store, "forged", _cache_bytes(forged))

    machine("B")
    doc, b = disposition.plan(store, city, policy=policy, save=True)[:2]
    assert young in {o["key"] for o in doc["objects"]} and b.summary.from_archive_cache > 0
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)
    result = disposition.execute(store, city, doc["plan_id"], policy=policy, executed_by="test")
    assert store.exists(young)
    assert young in {o["key"] for o in result.not_destroyed} and young not in {o["key"] for o in result.destroyed}
    assert result.destroyed  # the genuinely eligible objects went
