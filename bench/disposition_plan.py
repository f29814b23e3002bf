"""`disposition plan` over the metadata of many records: wall time and peak memory.

A synthetic local archive shaped like a city's: `accounts` accounts harvested nightly, each run writing one
WARC file and records Parquet files partitioned like the harvest does (account / series / month of creation):
a posts file and a comments file for the current month, and in 30% of runs a comments file for the previous
month (comments on older posts). Rows carry every record column (short text and raw JSON). Manifests list
every object. Two synthetic series (posts 1 year, comments 2 years, both verified and confirmed) and an as-of
date at the end of the period make a large share of the archive eligible, so the plan also has to look up the
manifest entries of tens of thousands of candidate objects.

What is timed runs in a fresh subprocess; its peak RSS is that process's own VmHWM (getrusage's ru_maxrss
would carry the parent's peak over fork+exec):
- `cold`: the plan told not to use any cache (`--no-cache`): every records file's rows are read (the cost
  `disposition execute` always pays);
- `first`: the archive's first plan ever: no summary cache anywhere yet, so each records file's summary is
  read from its run's manifest, where the harvest listed it (the manifests written here list them too);
- `warm`: the local summary cache is complete (the usual monthly plan on the same machine: only files written
  since the last plan are read), here after one more night of runs was added;
- `archive_cached`: a fresh machine (empty local cache, as an ephemeral Airflow worker) after an earlier plan
  stored the summaries in the archive (`cache/records-summaries/`): it reads that object and the new night's
  files, and stores an updated cache object (timed in `cache_write`), as the Airflow DAG does;
- `hold`: warm, plus an active legal hold with a text query on one account (row-level scan of the candidate
  partitions);
- `thread_hold`: the same, plus a second hold like it with whole threads (`threads`), which has the plan
  search every records file of that account.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from civic_archive import records, recordscan

SCHEDULE = {
    "jurisdiction": "MO", "title": "Benchmark schedule (synthetic)", "retrieved": "2026-01-01",
    "authority": {"statutes": ["n/a"], "board": "n/a", "sources": [{"title": "n/a", "url": "https://example.org"}]},
    "schedule_sources": [{"title": "n/a", "url": "https://example.org"}],
    "series": [
        {"code": code, "title": code, "description": code, "applies_to": ["any"], "retention": {"period": {"years": y}},
         "trigger": "creation", "disposition": "destroy", "verified": True, "verification_note": "synthetic",
         "sources": [{"title": "n/a", "url": "https://example.org"}]}
        for code, y in (("BENCH POSTS", 1), ("BENCH COMMENTS", 2))],
}
_TS = records.ARROW_SCHEMA.field("created_at").type


def _table(account: str, run_id: str, warc: str, series: str, kind: str, created: list[datetime],
           start: int) -> pa.Table:
    n = len(created)
    ids = [f"{start + i:032x}" for i in range(n)]
    cols = {
        "record_id": pa.array(ids), "account_id": pa.array([account] * n), "platform": pa.array(["facebook"] * n),
        "kind": pa.array([kind] * n), "platform_id": pa.array([f"p{start + i}" for i in range(n)]),
        "version": pa.array([1] * n, pa.int32()), "author_name": pa.array(["Resident"] * n),
        "text": pa.array([f"comment number {start + i} about the park and the budget" for i in range(n)]),
        "created_at": pa.array(created, _TS), "captured_at": pa.array(created, _TS),
        "status": pa.array(["live"] * n), "content_sha256": pa.array(["0" * 64] * n),
        "warc_file": pa.array([warc] * n), "warc_offset": pa.array(range(0, 2000 * n, 2000), pa.int64()),
        "warc_length": pa.array([2000] * n, pa.int64()),
        "warc_record_id": pa.array([f"<urn:uuid:00000000-0000-0000-0000-{start + i:012x}>" for i in range(n)]),
        "jurisdiction": pa.array(["MO"] * n), "series_code": pa.array([series] * n),
        "raw_json": pa.array([f'{{"id": "p{start + i}", "message": "comment number {start + i}"}}' for i in range(n)]),
        "run_id": pa.array([run_id] * n),
    }
    arrays = [cols.get(f.name, pa.nulls(n, f.type)) for f in records.ARROW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=records.ARROW_SCHEMA)


SPAN_DAYS = 4 * 365  # the archive covers four years whatever its size (runs are spread over them)
START = date(2021, 1, 1)


def generate(root: Path, n_records: int, *, accounts: int = 20, per_run: int = 500, start: date = START,
             seed: int = 7, nights_offset: int = 0, nights: int | None = None) -> dict:
    """Write the synthetic archive (or, with nights_offset, more nights of it). Returns counts."""
    rnd = random.Random(seed + nights_offset)
    runs_total = max(1, n_records // per_run)
    all_nights = max(1, runs_total // accounts)
    step = max(1.0, SPAN_DAYS / all_nights)
    nights = nights or all_nights
    counter = nights_offset * accounts * per_run * 2
    files = warcs = rows = 0
    for night in range(nights_offset, nights_offset + nights):
        when = (datetime(start.year, start.month, start.day, 2, tzinfo=timezone.utc)
                + timedelta(days=int(night * step), seconds=night))
        for a in range(accounts):
            account = f"acct-{a:02d}"
            run_id = f"{account}.{when:%Y%m%dT%H%M%S}{a:06d}Z.{rnd.getrandbits(24):06x}"
            warc = f"warc/{account}/{when:%Y}/{when:%m}/{run_id}-0.warc.gz"
            objects = [{"key": warc, "size": per_run * 2000, "sha256": "0" * 64, "kind": "warc"}]
            (root / warc).parent.mkdir(parents=True, exist_ok=True)
            (root / warc).touch()
            size = max(1, int(rnd.gauss(per_run, per_run / 4)))
            groups = [("BENCH POSTS", "post", False, size // 5), ("BENCH COMMENTS", "comment", False, size - size // 5)]
            if rnd.random() < 0.3:  # comments on last month's posts
                take = groups[1][3] // 4
                groups[1] = groups[1][:3] + (groups[1][3] - take,)
                groups.append(("BENCH COMMENTS", "comment", True, take))
            month_start = when.replace(day=1, hour=0)
            prev_start = (month_start - timedelta(days=1)).replace(day=1)
            for n, (series, kind, older, count) in enumerate(groups):
                if count <= 0:
                    continue
                if older:
                    created = sorted(prev_start + timedelta(seconds=rnd.randrange(0, 27 * 86400)) for _ in range(count))
                else:
                    created = sorted(max(month_start, when - timedelta(seconds=rnd.randrange(0, 72000)))
                                     for _ in range(count))
                month = created[0].strftime("%Y-%m")
                key = (f"records/account={account}/series={series.replace(' ', '_')}/created={month}/"
                       f"{run_id}-{n}.parquet")
                path = root / key
                path.parent.mkdir(parents=True, exist_ok=True)
                table = _table(account, run_id, warc, series, kind, created, counter)
                summary = recordscan.FileSummary()  # listed in the manifest, as the harvest does
                summary.add(table)
                pq.write_table(table, path, compression="zstd")
                counter += count
                rows += count
                files += 1
                objects.append({"key": key, "size": path.stat().st_size, "sha256": "0" * 64, "kind": "records",
                                "records": count, "summary": summary.columns()})
            warcs += 1
            manifest = {"manifest_version": 1, "run_id": run_id, "chain": account, "sequence": night + 1,
                        "previous": None, "software": "bench", "started_at": when.isoformat(),
                        "finished_at": when.isoformat(), "objects": objects}
            (root / "manifests").mkdir(exist_ok=True)
            (root / f"manifests/{run_id}.json").write_text(json.dumps(manifest))
    return {"records": rows, "records_files": files, "warc_files": warcs, "nights": nights}


_CHILD = textwrap.dedent("""
    import json, os, sys, time
    from datetime import date
    from civic_archive import config as cfg, disposition, holds
    from civic_archive.retention import RetentionPolicy
    from civic_archive.storage import LocalStore
    root, schedule, as_of, hold = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3]), sys.argv[4] == "hold"
    store = LocalStore(root, create=False)
    city = cfg.parse({"city": "Bench City", "jurisdiction": "MO", "archive": store.uri,
                      "accounts": [{"id": "acct-00", "platform": "facebook", "handle": "1", "credentials": "env:X"}],
                      "retention": {"schedule": schedule, "approvers": ["clerk"],
                                    "confirmations": [{"series": s, "confirmed_by": "b", "confirmed_on": "2020-01-01"}
                                                      for s in ("BENCH POSTS", "BENCH COMMENTS")]}})
    policy = RetentionPolicy(city, today=as_of)
    t0 = time.perf_counter()
    doc, analysis, _ = disposition.plan(store, city, policy=policy, as_of=as_of, cache=sys.argv[5] != "-",
                                        write_cache=sys.argv[5] == "cache+write")
    seconds = time.perf_counter() - t0
    # this process's own peak (as bench.harvest_scale.peak_rss_mb; not imported here, so as not to add to it)
    hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")]
    print(json.dumps({"seconds": seconds, "peak_rss_mb": hwm[0] / 1024,
                      "objects": doc["totals"]["objects"], "records_eligible_in_plan": doc["totals"]["records"],
                      "records_total": analysis.totals["records"], "summary_rows": analysis.totals["summary_rows"],
                      "from_cache": analysis.from_cache, "read": analysis.summary.read,
                      "from_archive_cache": analysis.summary.from_archive_cache, "kept": doc["kept_past_eligibility"],
                      "timings": {k: round(v, 3) for k, v in analysis.timings.items()}}))
""")


def _plan_in_child(root: Path, schedule: Path, as_of: date, *, cache: bool, hold: bool, cache_dir: str,
                   write_cache: bool = False) -> dict:
    env = dict(os.environ, CIVIC_ARCHIVE_CACHE_DIR=cache_dir if cache else "")
    mode = ("cache+write" if write_cache else "cache") if cache else "-"
    out = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(schedule), as_of.isoformat(),
                          "hold" if hold else "-", mode],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(n_records: int, *, accounts: int = 20, per_run: int = 500, keep: str | None = None) -> dict:
    """Plan over a synthetic archive of about `n_records` records (see the module doc)."""
    tmp = tempfile.mkdtemp(prefix="bench-disposition-")
    try:
        root = Path(tmp) / "archive"
        root.mkdir()
        schedule = Path(tmp) / "schedule.yaml"
        import yaml

        schedule.write_text(yaml.safe_dump(SCHEDULE))
        t0 = time.perf_counter()
        shape = generate(root, n_records, accounts=accounts, per_run=per_run)
        generate_s = time.perf_counter() - t0
        as_of = START + timedelta(days=SPAN_DAYS + 30)  # posts (1 year) from the first 3 years, comments (2) from 2
        cache_dir = str(Path(tmp) / "cache")
        cold = _plan_in_child(root, schedule, as_of, cache=False, hold=False, cache_dir=cache_dir)
        first = _plan_in_child(root, schedule, as_of, cache=True, hold=False, cache_dir=str(Path(tmp) / "cache-first"))
        # fills the local cache and stores the summaries in the archive
        _plan_in_child(root, schedule, as_of, cache=True, hold=False, cache_dir=cache_dir, write_cache=True)
        generate(root, n_records, accounts=accounts, per_run=per_run, nights_offset=shape["nights"], nights=1)
        warm = _plan_in_child(root, schedule, as_of, cache=True, hold=False, cache_dir=cache_dir)
        fresh_machine = str(Path(tmp) / "cache-fresh-machine")
        archived = _plan_in_child(root, schedule, as_of, cache=True, hold=False, cache_dir=fresh_machine,
                                  write_cache=True)
        # a hold: placed as the records officer would, then the plan again
        from civic_archive import holds
        from civic_archive.storage import LocalStore

        holds.place(LocalStore(root), scope={"accounts": ["acct-03"], "query": "number 12345"}, reason="bench",
                    placed_by="bench", lock_objects=False)
        held = _plan_in_child(root, schedule, as_of, cache=True, hold=True, cache_dir=cache_dir)
        # the same hold with whole threads: every records file of the account is searched, in every month
        holds.place(LocalStore(root), scope={"accounts": ["acct-03"], "query": "number 12345", "threads": True},
                    reason="bench", placed_by="bench", lock_objects=False)
        threaded = _plan_in_child(root, schedule, as_of, cache=True, hold=True, cache_dir=cache_dir)
        if keep:
            shutil.copytree(root, keep, dirs_exist_ok=True)
        return {
            "scenario": "disposition_plan", "records": cold["records_total"], "records_files": shape["records_files"],
            "warc_files": shape["warc_files"], "accounts": accounts, "records_per_run": per_run,
            "generate_seconds": round(generate_s, 1),
            "cold_seconds": round(cold["seconds"], 2), "cold_peak_rss_mb": round(cold["peak_rss_mb"], 1),
            "cold_timings": cold["timings"],
            "first_seconds": round(first["seconds"], 2), "first_peak_rss_mb": round(first["peak_rss_mb"], 1),
            "first_timings": first["timings"],
            "warm_seconds": round(warm["seconds"], 2), "warm_peak_rss_mb": round(warm["peak_rss_mb"], 1),
            "warm_from_cache": warm["from_cache"], "warm_read": warm["read"], "warm_timings": warm["timings"],
            "archive_cached_seconds": round(archived["seconds"], 2),
            "archive_cached_peak_rss_mb": round(archived["peak_rss_mb"], 1),
            "archive_cached_from_cache": archived["from_cache"], "archive_cached_read": archived["read"],
            "archive_cached_timings": archived["timings"],
            "hold_seconds": round(held["seconds"], 2), "hold_peak_rss_mb": round(held["peak_rss_mb"], 1),
            "hold_timings": held["timings"],
            "thread_hold_seconds": round(threaded["seconds"], 2),
            "thread_hold_peak_rss_mb": round(threaded["peak_rss_mb"], 1), "thread_hold_timings": threaded["timings"],
            "plan_objects": cold["objects"], "plan_records": cold["records_eligible_in_plan"],
            "summary_rows": cold["summary_rows"], "kept_past_eligibility": cold["kept"],
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(bench(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=1))
