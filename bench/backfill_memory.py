"""Peak memory of a first harvest (backfill) as the account grows, step by step.

The whole archive path runs in this process (the archive-path benchmark's Graph-shaped account, its pages
made on demand so that the benchmark itself holds nothing that grows), while a thread samples the process's
RSS every 20 ms and notes which step of the harvest is running. The steps are marked by wrapping the
functions that begin them (instrumentation only: each wrapper calls the real function). What the target
asks is that the peak stay flat as the account grows: the result gives the peak of each step at each size.

Each size runs in a fresh process (`python -m bench --only backfill_memory`), because RSS never goes down.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
import threading
import time

from bench import in_child

STEPS = [  # (step name, module, attribute, is a generator)
    ("detection setup", "civic_archive.changes", "Detector.__init__", False),
    ("records out of DuckDB", "civic_archive.changes", "Detector.changed", True),
    ("missing items", "civic_archive.harvest", "_gone", False),
    ("records closed", "civic_archive.harvest", "RecordsWriter.close", False),
    ("state snapshot", "civic_archive.snapshot", "write", False),
]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _mark(step: list[str], name: str, module: str, attribute: str, generator: bool) -> None:
    import importlib

    owner = importlib.import_module(module)
    *path, last = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, last)
    if generator:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            step[0] = name
            yield from original(*args, **kwargs)
    else:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            step[0] = name
            return original(*args, **kwargs)
    setattr(owner, last, wrapper)


def measure(posts: int, comments: int = 50) -> dict:
    """One backfill in this process; peak RSS of each step."""
    from bench import archive_path

    step, peaks, order = ["walk"], {}, []
    for spec in STEPS:
        _mark(step, *spec)

    class Adapter(archive_path.DatasetAdapter):
        def send(self, request, **kwargs):
            response = super().send(request, **kwargs)
            self.exchanges.clear()  # the archive-path benchmark keeps them for its floor; nothing here needs them
            return response

    def sample():
        while True:
            name = step[0]
            if name not in peaks:
                order.append(name)
            peaks[name] = max(peaks.get(name, 0.0), _rss_mb())
            time.sleep(0.02)

    start_rss = _rss_mb()
    threading.Thread(target=sample, daemon=True).start()
    archive_path.DatasetAdapter = Adapter
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = archive_path.run_archive_path(archive_path.Dataset(posts, comments), os.path.join(tmp, "archive"))
        seconds = time.perf_counter() - t0
        time.sleep(0.05)
    return {"scenario": "backfill_memory", "posts": posts, "records": out["records"], "seconds": round(seconds, 1),
            "records_per_s": round(out["records"] / seconds), "rss_before_mb": round(start_rss),
            "peak_rss_mb": round(max(peaks.values())), "peak_step": max(peaks, key=peaks.get),
            "steps_mb": {name: round(peaks[name]) for name in order}}


def bench(posts: int, comments: int = 50) -> dict:
    """`measure` in a fresh process."""
    return in_child("bench.backfill_memory", {"posts": posts, "comments": comments})


if __name__ == "__main__" and sys.argv[1:] == ["--one"]:
    print(json.dumps(measure(**json.loads(sys.stdin.read()))))
