"""`verify` against `sha256sum` over the same archive files, measured side by side in one run.

The archive is built by the archive-path benchmark's harvest (Graph-shaped pages served in-process).
`verify --fast` checks object SHA-256s and manifest chains; full `verify` also decompresses every WARC
record and checks its block and payload digests, and decodes every Parquet file, which `sha256sum` does not
do. Full verify is measured in one process (`workers=1`) and with its process pool (one worker per CPU,
asked for explicitly: by default verify uses the pool only for archives of 16 MB or more); `sha256sum` is
single-threaded. Each verify variant runs in a fresh process of its own, once to warm up (imports, the
page cache) and then `repeat` times, best taken: run one after another in one process, a pooled verify
paid for the memory an in-process one had just used (its forked workers copy those pages), which is not how
an auditor's verify runs. `sha256sum` is timed `repeat` times before the variants and after each of them,
best of all taken.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from bench import in_child
from bench.archive_path import Dataset, run_archive_path


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


def _variant(root: str, name: str, repeat: int) -> tuple[float, dict]:
    """Best time of `repeat` runs of one verify variant in a fresh process, after one warm-up run."""
    out = in_child("bench.verify_speed", {"root": root, "name": name, "repeat": repeat})
    return out["seconds"], out


def _time_variant(root: str, name: str, repeat: int) -> dict:
    """(In the child process.) One warm-up run, then the best of `repeat`."""
    from civic_archive.storage import LocalStore
    from civic_archive.verify import verify

    kw = {"fast": {"deep": False, "workers": 1}, "deep_1": {"workers": 1},
          "deep_pool": {"workers": os.cpu_count() or 1}}[name]
    store = LocalStore(root)
    report = verify(store, **kw)
    best = float("inf")
    for _ in range(repeat):
        seconds, report = _timed(lambda: verify(store, **kw))
        best = min(best, seconds)
    return {"seconds": best, "ok": report.ok, "failures": report.failures[:5], "warc_records": report.warc_records}


def bench(posts: int = 2000, comments: int = 50, repeat: int = 3) -> dict:
    dataset = Dataset(posts, comments)
    dataset.pregenerate()
    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "archive")
        run_archive_path(dataset, root)
        files = _files(root)
        size = sum(os.path.getsize(f) for f in files)
        warc_size = sum(os.path.getsize(f) for f in files if f.endswith(".warc.gz"))
        subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # same page cache for all
        def sha256sum() -> float:
            return _timed(lambda: subprocess.run(["sha256sum", *files], stdout=subprocess.DEVNULL, check=True))[0]

        # The floor gets as many chances as every variant together, spread between them: a ratio must not
        # rise because sha256sum happened to run while the machine was busy.
        floor_times = [sha256sum() for _ in range(repeat)]
        reports = {}
        for name in ("fast", "deep_1", "deep_pool"):
            best[name], reports[name] = _variant(root, name, repeat)
            floor_times += [sha256sum() for _ in range(repeat)]
        best["sha256sum"] = min(floor_times)
    for name in ("fast", "deep_1", "deep_pool"):
        assert reports[name]["ok"], reports[name]["failures"]
    mb = size / 1e6
    floor = best["sha256sum"]
    return {"scenario": "verify", "archive_mb": round(mb, 1), "warc_mb": round(warc_size / 1e6, 1),
            "files": len(files), "warc_records": reports["deep_1"]["warc_records"], "cpus": os.cpu_count(),
            "sha256sum_mb_per_s": round(mb / floor, 1), "verify_fast_mb_per_s": round(mb / best["fast"], 1),
            "verify_deep_mb_per_s": round(mb / best["deep_1"], 1),
            "verify_deep_pool_mb_per_s": round(mb / best["deep_pool"], 1),
            "ratio_fast": round(floor / best["fast"], 3), "ratio_deep": round(floor / best["deep_1"], 3),
            "ratio_deep_pool": round(floor / best["deep_pool"], 3)}


if __name__ == "__main__" and sys.argv[1:] == ["--one"]:
    print(json.dumps(_time_variant(**json.loads(sys.stdin.read()))))
