"""`verify` against `sha256sum` over the same archive files, measured side by side in one run.

The archive is built by the archive-path benchmark's harvest (Graph-shaped pages served in-process).
`verify --fast` checks object SHA-256s and manifest chains; full `verify` also decompresses every WARC
record and checks its block and payload digests, and decodes every Parquet file, which `sha256sum` does not
do. Full verify is measured in one process (`workers=1`) and with its process pool (one worker per CPU,
asked for explicitly: by default verify uses the pool only for archives of 256 MB or more); `sha256sum` is
single-threaded. Each timing is the best of `repeat` rounds, interleaved, because the machine
is shared.
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


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def bench(posts: int = 2000, comments: int = 50, repeat: int = 3) -> dict:
    dataset = Dataset(posts, comments)
    dataset.pregenerate()
    best = {"sha256sum": float("inf"), "fast": float("inf"), "deep_1": float("inf"), "deep_pool": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "archive")
        run_archive_path(dataset, root)
        files = _files(root)
        size = sum(os.path.getsize(f) for f in files)
        warc_size = sum(os.path.getsize(f) for f in files if f.endswith(".warc.gz"))
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # same page cache for all
        store = LocalStore(root)
        runs = {"sha256sum": lambda: subprocess.run(["sha256sum", *files], stdout=subprocess.DEVNULL, check=True),
                "fast": lambda: verify(store, deep=False, workers=1),
                "deep_1": lambda: verify(store, workers=1),
                "deep_pool": lambda: verify(store, workers=os.cpu_count())}
        reports = {}
        for _ in range(repeat):
            for name, fn in runs.items():
                seconds, reports[name] = _timed(fn)
                best[name] = min(best[name], seconds)
    for name in ("fast", "deep_1", "deep_pool"):
        assert reports[name].ok, reports[name].failures
    mb = size / 1e6
    floor = best["sha256sum"]
    return {"scenario": "verify", "archive_mb": round(mb, 1), "warc_mb": round(warc_size / 1e6, 1),
            "files": len(files), "warc_records": reports["deep_1"].warc_records, "cpus": os.cpu_count(),
            "sha256sum_mb_per_s": round(mb / floor, 1), "verify_fast_mb_per_s": round(mb / best["fast"], 1),
            "verify_deep_mb_per_s": round(mb / best["deep_1"], 1),
            "verify_deep_pool_mb_per_s": round(mb / best["deep_pool"], 1),
            "ratio_fast": round(floor / best["fast"], 3), "ratio_deep": round(floor / best["deep_1"], 3),
            "ratio_deep_pool": round(floor / best["deep_pool"], 3)}
