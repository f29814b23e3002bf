"""Run the benchmarks and print one JSON line per measurement (also saved under bench/results/)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone

from bench import archive_path, backfill_memory, disposition_plan, harvest_scale, request_export, state_snapshot, verify_speed

# QUICK (`make bench`) must finish in under 10 minutes on the project's 2-core machine, cold caches included.
QUICK = {"archive_path": [(200, 20), (1000, 20)], "backfill": [(20_000,), (100_000,)],
         "nightly": [(100_000, 1000), (1_000_000, 1000)], "verify": [(2000, 50)],
         "request_search": [(100_000,), (1_000_000,)], "request_package": [(1_000,), (10_000,)],
         "disposition_plan": [(100_000,), (1_000_000,)], "state_snapshot": [(1_000_000,)],
         "backfill_memory": [(2000,), (6000,)]}
FULL = {"archive_path": [(1000, 20), (5000, 20), (20000, 20)], "backfill": [(100_000,), (300_000,), (1_000_000,)],
        "nightly": [(100_000, 1000), (1_000_000, 1000), (10_000_000, 1000)], "verify": [(10_000, 50)],
        "request_search": [(10_000_000,)], "request_package": [(10_000,)], "disposition_plan": [(10_000_000,)],
        "state_snapshot": [(1_000_000,), (10_000_000,)], "backfill_memory": [(2000,), (20000,), (60000,)]}
TINY = {"archive_path": [(5, 3)], "backfill": [(200,)], "nightly": [(3000, 20, 1, False, 60, 1)], "verify": [(5, 3)],
        "request_search": [(20_000,)], "request_package": [(200,)], "disposition_plan": [(4000, 2, 100)],
        "state_snapshot": [(3000, False)], "backfill_memory": [(5, 3)]}
RUNNERS = {"archive_path": archive_path.bench, "backfill": harvest_scale.backfill, "nightly": harvest_scale.nightly,
           "verify": verify_speed.bench, "backfill_memory": backfill_memory.bench, "request_search": request_export.search_records,
           "request_package": request_export.package, "state_snapshot": state_snapshot.bench,
           "disposition_plan": lambda n, accounts=20, per_run=500: disposition_plan.bench(n, accounts=accounts, per_run=per_run)}


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
            "system": platform.platform()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the large scales (takes much longer)")
    size.add_argument("--tiny", action="store_true", help="smoke-test sizes (what the test suite runs)")
    parser.add_argument("--only", choices=sorted(QUICK), help="run one scenario")
    parser.add_argument("--out", default="bench/results", help="folder for the JSON results")
    args = parser.parse_args(argv)
    plan = FULL if args.full else TINY if args.tiny else QUICK
    results = []
    for scenario, sizes in plan.items():
        if args.only and scenario != args.only:
            continue
        for params in sizes:
            result = RUNNERS[scenario](*params)
            result["machine"] = machine()
            print(json.dumps(result), flush=True)
            results.append(result)
    if not args.tiny:
        os.makedirs(args.out, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        with open(os.path.join(args.out, f"{stamp}.json"), "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
