"""A run's manifest lists, with each records file it wrote, that file's summary (what disposition planning
needs), so that the first plan of an archive, with no summary cache anywhere yet, reads one manifest per run
instead of every file's rows. The listed summary must say exactly what the rows say; a file whose entry has
no usable one is read row by row; and only planning trusts it: `disposition execute` reads the rows.
"""
from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from civic_archive import disposition, manifest, records, recordscan
from civic_archive.retention import RetentionPolicy
from civic_archive.run import ArchiveRun
from civic_archive.storage import LocalStore
from test_disposition_helpers import SIMPLE_ACCOUNTS, Item, SyntheticArchive, city_config, day, write_schedule

UTC = timezone.utc


def _rows(n: int, *, start: datetime, step: timedelta, **overrides) -> pa.Table:
    cols = {
        "record_id": [f"r{start.timestamp()}-{i}" for i in range(n)], "account_id": ["acct"] * n,
        "kind": ["comment"] * n, "series_code": ["S1" if i % 3 else "S2" for i in range(n)],
        "created_at": [start + i * step for i in range(n)],
        "eligible_on": [date(2030, 1, 1) if i % 4 else None for i in range(n)],
        "warc_file": [f"warc/acct/w{i % 2}.warc.gz" for i in range(n)],
        "warc_length": [None if i % 5 == 0 else 1000 + i for i in range(n)],
        "media_warc_file": ["warc/acct/m.warc.gz" if i % 7 == 0 else None for i in range(n)],
    }
    cols.update(overrides)
    return pa.Table.from_arrays([pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(n, f.type)
                                 for f in records.ARROW_SCHEMA], schema=records.ARROW_SCHEMA)


def _commit(store, files: list[list[pa.Table]]) -> list[str]:
    """One run writing each list of batches as one records file, batch by batch as the harvest does."""
    run = ArchiveRun(store, "acct", warcinfo={})
    keys = []
    for n, batches in enumerate(files):
        key = f"records/account=acct/series=S1/created=2026-01/{run.run_id}-{n}.parquet"
        path = run.spool_path(f"r{n}.parquet")
        writer = pq.ParquetWriter(path, records.ARROW_SCHEMA, compression="zstd")
        summary = recordscan.FileSummary()
        for batch in batches:
            writer.write_table(batch)
            summary.add(batch)
        writer.close()
        run.add_file(key, path, "records", sum(b.num_rows for b in batches), summary=summary.columns())
        keys.append(key)
    run.commit()
    return keys


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


def test_the_listed_summary_says_what_the_rows_say(tmp_path):
    """Groups split over batches, nulls in every grouped and summed column, a group whose lengths are all
    null, rows without a creation time, and times before 1970 (DuckDB's // truncates toward zero)."""
    store = LocalStore(tmp_path / "archive")
    batches = [
        _rows(50, start=datetime(2026, 1, 1, 23, 30, tzinfo=UTC), step=timedelta(minutes=7)),
        _rows(40, start=datetime(2026, 1, 1, 12, tzinfo=UTC), step=timedelta(hours=3)),  # same groups again
        _rows(9, start=datetime(1969, 12, 30, 6, tzinfo=UTC), step=timedelta(hours=9)),
        _rows(3, start=datetime(2026, 2, 1, tzinfo=UTC), step=timedelta(days=1), warc_length=[None] * 3),
        _rows(2, start=datetime(2026, 2, 1, tzinfo=UTC), step=timedelta(days=1), created_at=[None] * 2),
    ]
    keys = _commit(store, [batches, batches[::-1][:3]])
    listed, unlisted = recordscan.manifest_summaries(store, keys)
    assert unlisted == [] and listed.num_rows > 10
    assert _sorted(listed).equals(_sorted(recordscan.summarize_files(store, keys)))


def _rewrite_manifest(store, run_id: str, change) -> None:
    path = store.local_path(manifest.manifest_key(run_id))
    doc = json.loads(open(path, "rb").read())
    change(doc)
    os.chmod(path, 0o644)
    with open(path, "w") as fh:
        json.dump(doc, fh)


@pytest.mark.parametrize("damage", ["none", "counts", "types", "column", "ragged", "no-manifest", "full-lists"])
def test_a_file_without_a_usable_listed_summary_is_read_row_by_row(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", "")
    store = LocalStore(tmp_path / "archive")
    table = _rows(30, start=datetime(2026, 1, 5, tzinfo=UTC), step=timedelta(hours=5))
    good, odd = _commit(store, [[table], [table]])
    run_id = recordscan.run_of(odd)

    def change(doc):
        entry = next(o for o in doc["objects"] if o["key"] == odd)
        if damage == "none":  # written before manifests listed summaries
            del entry["summary"]
        elif damage == "counts":  # one row more than the entry's record count
            entry["summary"]["n"][0] += 1
        elif damage == "types":
            entry["summary"]["cday"][0] = "yesterday"
        elif damage == "column":
            del entry["summary"]["warc_bytes"]
        elif damage == "ragged":  # a column one row short (only the one-value text columns may list it once)
            assert len(entry["summary"]["warc_bytes"]) > 1
            entry["summary"]["warc_bytes"].pop()
        elif damage == "full-lists":  # written before a column holding one value listed it once: still good
            rows = len(entry["summary"]["n"])
            assert rows > 1 and len(entry["summary"]["account_id"]) == 1  # the writer lists it once
            for name, values in entry["summary"].items():
                if len(values) == 1:
                    entry["summary"][name] = values * rows

    if damage == "no-manifest":
        os.chmod(store.local_path(manifest.manifest_key(run_id)), 0o644)
        os.unlink(store.local_path(manifest.manifest_key(run_id)))
    else:
        _rewrite_manifest(store, run_id, change)
    listed, unlisted = recordscan.manifest_summaries(store, [good, odd])
    expected = {"types": [good, odd], "no-manifest": [good, odd], "full-lists": []}.get(damage, [odd])
    assert unlisted == expected
    result = recordscan.summaries(store, cache=False, keys=[good, odd])
    assert result.from_manifests == 0  # without caches, nothing listed is used either
    with_lists = recordscan.summaries(store, keys=[good, odd])
    assert with_lists.from_manifests == 2 - len(expected)
    assert _sorted(with_lists.table).equals(_sorted(result.table))


def test_the_first_plan_reads_manifests_and_execute_reads_rows(tmp_path, monkeypatch):
    """A summary forged in a manifest to make a young file look old fools only the plan; execute reads the
    rows and keeps the file."""
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "machine"))
    root = tmp_path / "archive"
    store = LocalStore(root)
    city = city_config(f"file://{root}", SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))
    archive = SyntheticArchive(store)
    archive.run("parks-facebook", [Item("parks-facebook", "post", "TEST POSTS", day(2026, 1, 3 + i), f"a{i}")
                                   for i in range(3)])
    young_run = archive.run("parks-facebook", [Item("parks-facebook", "post", "TEST POSTS", day(2026, 5, 3 + i),
                                                    f"b{i}") for i in range(3)])
    policy = RetentionPolicy(city, today=date(2026, 6, 1))
    reference, _, _ = disposition.plan(store, city, policy=policy, cache=False)
    [young] = young_run["records_keys"]
    assert young not in {o["key"] for o in reference["objects"]} and reference["objects"]
    first, analysis, _ = disposition.plan(store, city, policy=policy)
    assert analysis.summary.from_manifests == analysis.totals["records_files"] > 0
    assert {k: v for k, v in first.items() if k != "created_at"} == \
        {k: v for k, v in reference.items() if k != "created_at"}

    def forge(doc):
        entry = next(o for o in doc["objects"] if o["key"] == young)
        entry["summary"]["cday"] = [recordscan.day_number(date(2025, 1, 1))] * len(entry["summary"]["cday"])

    _rewrite_manifest(store, young_run["run_id"], forge)
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "another-machine"))
    doc_plan, _, _ = disposition.plan(store, city, policy=policy, save=True)
    assert young in {o["key"] for o in doc_plan["objects"]}
    disposition.approve(store, city, doc_plan["plan_id"], approver="clerk", policy=policy)
    result = disposition.execute(store, city, doc_plan["plan_id"], policy=policy, executed_by="test")
    assert store.exists(young) and young in {o["key"] for o in result.not_destroyed}
    assert result.destroyed
