"""`verify` against `sha256sum` over the same archive files, measured side by side in one run.

The archive is built by the archive-path benchmark's harvest (Graph-shaped pages served in-process).
`verify --fast` checks object SHA-256s and manifest chains; full `verify` also decompresses every WARC
record and checks its block and payload digests, which `sha256sum` does not do.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time

from bench.archive_path import Dataset, run_archive_path
from civic_archive.storage import LocalStore
from civic_archive.verify import verify


def _files(root: str) -> list[str]:
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        out += [os.path.join(d, f) for f in files if not f.startswith(".")]
    return out


def bench(posts: int = 2000, comments: int = 50) -> dict:
    dataset = Dataset(posts, comments)
    dataset.pregenerate()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "archive")
        run_archive_path(dataset, root)
        files = _files(root)
        size = sum(os.path.getsize(f) for f in files)
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # same page cache for all
        t0 = time.perf_counter()
        subprocess.run(["sha256sum", *files], stdout=subprocess.DEVNULL, check=True)
        floor = time.perf_counter() - t0
        store = LocalStore(root)
        t0 = time.perf_counter()
        fast = verify(store, deep=False)
        fast_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        deep = verify(store)
        deep_s = time.perf_counter() - t0
    assert fast.ok and deep.ok
    mb = size / 1e6
    return {"scenario": "verify", "archive_mb": round(mb, 1), "files": len(files), "warc_records": deep.warc_records,
            "sha256sum_mb_per_s": round(mb / floor, 1), "verify_fast_mb_per_s": round(mb / fast_s, 1),
            "verify_deep_mb_per_s": round(mb / deep_s, 1), "ratio_fast": round(floor / fast_s, 3),
            "ratio_deep": round(floor / deep_s, 3)}
