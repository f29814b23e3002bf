"""The walk's spool of observed items: bounded open files, and detection that does not depend on the bound."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from civic_archive import changes

START = datetime(2024, 1, 1, tzinfo=UTC)


def _row(i: int, month: int, edit: int = 0) -> tuple[dict, str]:
    created = START + timedelta(days=31 * month, minutes=i)
    row = {"record_id": None, "account_id": "acct", "platform": "facebook", "kind": "comment",
           "platform_id": f"c{i}", "parent_platform_id": "p", "version": 1, "text": f"comment {i} {edit}",
           "created_at": created, "captured_at": START, "status": "live", "content_sha256": f"sha-{i}-{edit}",
           "raw_json": "{}", "series_code": "S", "eligible_on": None}
    return row, f"series=S/created={created:%Y-%m}"


def _walk(tmp_path, name: str, sightings: list[tuple[int, int, int]], **kw) -> tuple[changes.ObservedSpool, int]:
    """Spool (item, month, edit) sightings; return the spool and the most writers ever open at once."""
    directory = tmp_path / name
    directory.mkdir()
    spool = changes.ObservedSpool(str(directory), **kw)
    most = 0
    for i, month, edit in sightings:
        row, part = _row(i, month, edit)
        spool.add(row, hidden=False, root="p", part=part)
        most = max(most, len(spool._writers))
    spool.close()
    return spool, most


def _sightings(rnd: random.Random, n: int) -> list[tuple[int, int, int]]:
    # Mostly month after month, as a walk goes, with stragglers from earlier months and repeated items.
    out = []
    for i in range(n):
        month = i * 12 // n if rnd.random() > 0.1 else rnd.randrange(12)
        out.append((i, month, 0))
        if rnd.random() < 0.05:
            out.append((i, month, 1))  # listed again, changed while paged: the first sighting must win
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_open_files_are_bounded_and_every_row_lands_in_its_partition(tmp_path, seed):
    sightings = _sightings(random.Random(seed), 3000)
    spool, most = _walk(tmp_path, "bounded", sightings, batch=97, open_files=2)
    assert most <= 2
    assert any(len(paths) > 1 for paths in spool.parts.values())  # a partition met again got another file
    seen = []
    for part, paths in spool.parts.items():
        for path in paths:
            table = pq.read_table(path, columns=["part", "seq", "platform_id"])
            assert set(table["part"].to_pylist()) == {part}
            seen += table["seq"].to_pylist()
    assert sorted(seen) == list(range(len(sightings)))  # nothing lost, nothing twice


@pytest.mark.parametrize("seed", [1, 2])
def test_detection_is_the_same_whatever_the_bound(tmp_path, seed):
    sightings = _sightings(random.Random(seed), 2000)
    results = []
    for name, open_files in (("one", 1), ("many", 1000)):
        spool, _ = _walk(tmp_path, name, sightings, batch=50, open_files=open_files)
        detector = changes.Detector("acct", spool.parts, [], str(tmp_path / name))
        try:
            rows = [r for batch in detector.changed(300) for r in batch.to_pylist()]
        finally:
            detector.close()
        results.append(sorted((r["part"], r["platform_id"], r["content_sha256"], r["version"], r["what"])
                              for r in rows))
    assert results[0] == results[1]
    assert len(results[0]) == 2000  # one new record per item: its first sighting
    assert all(sha.endswith("-0") for _, _, sha, _, _ in results[0])
