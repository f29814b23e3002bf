"""Benchmarks are not tests; this only checks that each one still runs, on tiny data."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_benchmark_runs_on_tiny_data():
    proc = subprocess.run([sys.executable, "-m", "bench", "--tiny"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    scenarios = {r["scenario"] for r in results}
    assert {"archive_path", "backfill", "nightly", "verify", "request_search", "request_package",
            "disposition_plan", "state_snapshot", "backfill_memory"} <= scenarios
    for r in results:
        assert not r.get("errors"), r
    nightly = next(r for r in results if r["scenario"] == "nightly")
    assert nightly["records"] > 0 and nightly["api_calls"] > 0
    snap = next(r for r in results if r["scenario"] == "state_snapshot")
    assert snap["rows"] >= snap["items"] + 1000  # the prior items and the 1,000 new ones, each once
    memory = next(r for r in results if r["scenario"] == "backfill_memory")
    assert memory["records"] == 5 * (3 + 1)  # 5 posts with 3 comments each
    assert {"walk", "detection setup", "records out of DuckDB", "state snapshot"} <= set(memory["steps_mb"])
