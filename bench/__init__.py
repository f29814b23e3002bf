"""Benchmarks (run on demand: `make bench`, `make bench-full`); never timed in the unit tests."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def in_child(module: str, args: dict) -> dict:
    """Run `python -m <module> --one` in a fresh process (memory high-water marks and allocator state are then
    the measured step's own), `args` as JSON on its stdin; return the JSON of its last line of output."""
    proc = subprocess.run([sys.executable, "-m", module, "--one"], input=json.dumps(args), text=True,
                          capture_output=True, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(f"{module} child process failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
