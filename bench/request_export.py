"""Records-request benchmarks.

- `search`: find one request's records (one account, one month, a text query) in a synthetic archive of
  `n` records, written directly with pyarrow in the archive's records layout
  (records/account=…/series=…/created=YYYY-MM/….parquet), not harvested. Generation is not timed.
- `package`: export `n` records (every version, WARC evidence cut from a synthetic WARC, CSV + Parquet, the
  thread view, chain of custody, BagIt 1.0 bag with sha256 + sha512) into a new folder, and validate it.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone

import random
import pyarrow as pa
import pyarrow.parquet as pq

from civic_archive import export, search
from civic_archive.records import ARROW_SCHEMA
from civic_archive.storage import LocalStore
from civic_archive.warc import Sha256WARCWriter

WORDS = ("city council park road closed meeting tonight budget library snow plow bus route water main "
         "permit zoning vote mayor police fire trash pickup holiday schedule thanks question when where").split()
ACCOUNTS = 20
MONTHS = 24
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
RUN = "20240101T000000000000Z.000000"  # each account's one synthetic run: `{account}.{RUN}`, shaped like a run id


def _texts(rng, count: int) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=rng.randint(6, 40))) for _ in range(count)]


def _table(rng, account: str, month: int, rows: int, pool: pa.Array, start_id: int) -> pa.Table:
    first = (START.replace(day=1) + timedelta(days=31 * month)).replace(day=1)
    base = int(first.timestamp() * 1_000_000)
    created = pa.array([base + rng.randrange(27 * 86400) * 1_000_000 for _ in range(rows)],
                       pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    ids = pa.array([f"{account}_{start_id + i}" for i in range(rows)])
    n = pa.array([None] * rows, pa.string())
    cols = {name: pa.nulls(rows, ARROW_SCHEMA.field(name).type) for name in ARROW_SCHEMA.names}
    cols.update(record_id=ids, account_id=pa.array([account] * rows), platform=pa.array(["facebook"] * rows),
                kind=pa.array(["post" if rng.random() < 0.1 else "comment" for _ in range(rows)]), platform_id=ids,
                version=pa.array([1] * rows, pa.int32()), author_name=n,
                text=pool.take(pa.array([rng.randrange(len(pool)) for _ in range(rows)])), created_at=created,
                captured_at=created, status=pa.array(["hidden" if rng.random() < 0.03 else "live" for _ in range(rows)]),
                warc_file=pa.array([f"warc/{account}/2024/01/x-0.warc.gz"] * rows),
                warc_offset=pa.array(range(0, rows * 1000, 1000), pa.int64()), warc_length=pa.array([900] * rows, pa.int64()),
                warc_record_id=ids, jurisdiction=pa.array(["MO"] * rows), series_code=pa.array(["S1"] * rows))
    return pa.Table.from_arrays([cols[n].cast(ARROW_SCHEMA.field(n).type) for n in ARROW_SCHEMA.names],
                                schema=ARROW_SCHEMA)


def make_archive(root: str, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    pool = pa.array(_texts(rng, 20_000))
    per = n // (ACCOUNTS * MONTHS)
    next_id = 0
    for a in range(ACCOUNTS):
        account = f"acct-{a:02d}"
        for m in range(MONTHS):
            month = (START + timedelta(days=31 * m)).strftime("%Y-%m")
            folder = os.path.join(root, "records", f"account={account}", "series=S1", f"created={month}")
            os.makedirs(folder, exist_ok=True)
            pq.write_table(_table(rng, account, m, per, pool, next_id), os.path.join(folder, f"{account}.{RUN}-0.parquet"),
                           compression="zstd", row_group_size=64 * 1024)
            next_id += per


def _write_manifests(root: str) -> None:
    """A manifest per synthetic run (`{account}.{RUN}`) listing its objects: search and export read only the
    records files of committed runs, as in a harvested archive."""
    import hashlib
    import json

    runs: dict[str, list[str]] = {}
    for base in ("records", "warc"):
        for folder, _, names in os.walk(os.path.join(root, base)):
            for name in names:
                key = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                runs.setdefault(name.rsplit("-", 1)[0], []).append(key)
    os.makedirs(os.path.join(root, "manifests"), exist_ok=True)
    for run_id, keys in runs.items():
        objects = []
        for key in sorted(keys):
            with open(os.path.join(root, key), "rb") as fh:
                objects.append({"key": key, "sha256": hashlib.file_digest(fh, "sha256").hexdigest(),
                                "size": os.path.getsize(os.path.join(root, key)),
                                "kind": "records" if key.startswith("records/") else "warc"})
        with open(os.path.join(root, "manifests", f"{run_id}.json"), "w") as fh:
            json.dump({"manifest_version": 1, "run_id": run_id, "objects": objects}, fh)


def search_records(n: int = 10_000_000, keep: str | None = None) -> dict:
    root = keep or os.path.join(tempfile.gettempdir(), f"civic-archive-bench-search-{n}")
    t0 = time.perf_counter()
    if not os.path.exists(os.path.join(root, ".complete-v2")):
        shutil.rmtree(root, ignore_errors=True)
        make_archive(root, n)
        open(os.path.join(root, ".complete-v2"), "w").close()
    if not os.path.isdir(os.path.join(root, "manifests")):  # also an archive cached by an older benchmark
        _write_manifests(root)
    generated = time.perf_counter() - t0
    store = LocalStore(root)
    criteria = search.Criteria(accounts=["acct-07"], since="2025-03-01", until="2025-03-31", query="snow plow")
    times = []
    for _ in range(3):
        t = time.perf_counter()
        table = search.find(store, criteria)
        times.append(time.perf_counter() - t)
    return {"scenario": "request_search", "records": n, "matched": table.num_rows if table is not None else 0,
            "seconds": round(min(times), 3), "seconds_first": round(times[0], 3), "target_seconds": 5,
            "generate_seconds": round(generated, 1)}


def _package_archive(root: str, n: int) -> None:
    rng = random.Random(11)
    account = "acct-pkg"
    os.makedirs(os.path.join(root, "warc", account, "2024", "01"))
    warc_key = f"warc/{account}/2024/01/{account}.{RUN}-0.warc.gz"
    texts = _texts(rng, n)
    offsets, lengths, rec_ids = [], [], []
    with open(os.path.join(root, warc_key), "wb") as fh:
        w = Sha256WARCWriter(fh, gzip=True, warc_version="1.1")
        w.write_record(w.create_warcinfo_record(warc_key, {"software": "bench"}))
        for i, text in enumerate(texts):
            body = ('{"data":[{"id":"%s_%d","message":"%s"}]}' % (account, i, text)).encode()
            rec = w.create_warc_record(f"http://api.invalid/{i}", "resource", payload=io.BytesIO(body),
                                       length=len(body), warc_content_type="application/json")
            start = fh.tell()
            w.write_record(rec)
            offsets.append(start)
            lengths.append(fh.tell() - start)
            rec_ids.append(rec.rec_headers.get_header("WARC-Record-ID"))
    table = _table(rng, account, 0, n, pa.array(texts), 0)
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
    for name, values in (("warc_file", [warc_key] * n), ("warc_offset", offsets), ("warc_length", lengths),
                         ("warc_record_id", rec_ids)):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, ARROW_SCHEMA.field(name), pa.array(values, ARROW_SCHEMA.field(name).type))
    folder = os.path.join(root, "records", f"account={account}", "series=S1", "created=2024-01")
    os.makedirs(folder)
    pq.write_table(table, os.path.join(folder, f"{account}.{RUN}-0.parquet"), compression="zstd")
    _write_manifests(root)


def package(n: int = 10_000) -> dict:
    import bagit

    work = tempfile.mkdtemp(prefix="civic-archive-bench-pkg-")
    try:
        _package_archive(os.path.join(work, "archive"), n)
        store = LocalStore(os.path.join(work, "archive"))
        req = export.ExportRequest("BENCH-1", search.Criteria(accounts=["acct-pkg"], include_removed=True))
        t = time.perf_counter()
        result = export.export(store, req, os.path.join(work, "pkg"), place_hold=True, store_in_archive=False)
        seconds = time.perf_counter() - t
        t = time.perf_counter()
        bagit.Bag(str(result.path)).validate()
        validate = time.perf_counter() - t
        size = sum(p.stat().st_size for p in result.path.rglob("*") if p.is_file())
        return {"scenario": "request_package", "records": result.counts["rows"], "seconds": round(seconds, 2),
                "target_seconds": 60, "bag_bytes": size, "bagit_validate_seconds": round(validate, 2)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(package(int(sys.argv[2]) if len(sys.argv) > 2 else 10_000)))
    print(json.dumps(search_records(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)))
