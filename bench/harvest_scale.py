"""Harvest at scale, through the fake Graph API on loopback (served from a separate process).

- backfill: the first harvest of one synthetic Facebook account of N items (posts with 19 comments each,
  every third a reply), in a fresh process per size: records/s and the process's peak RSS, which must
  stay flat as N grows.
- nightly: an account with N archived items, then 100 changes (edits, hides, deletions, new comments on
  recent posts), then the nightly run: its time and API calls (incremental window, as in production).

The synthetic fake posts every 10 minutes, so a 1-day re-check window there covers what a 30-day window
covers for a city that posts about five times a day.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time

COMMENTS = 19


def _serve(platform: str, n_posts: int, comments: int, replies, requests) -> None:
    from civic_archive.fakes import FakePlatforms, World

    world = World.synthetic(platform, n_posts, seed=1, comments_per_post=comments)
    with FakePlatforms(world) as fakes:
        doc, env = fakes.city_config(archive="file:///unused", city="Bench City", jurisdiction="MO")
        replies.put((doc, env, world.now))
        request = requests.get()
        while request is not None:  # ("mutate", n): change the world, answer what was done
            replies.put(_mutate(world, doc["accounts"][0]["id"], request[1]))
            request = requests.get()


def _mutate(world, account_id: str, n: int) -> dict:
    """n changes spread over the newest posts: a quarter each of edits, hides, deletions, new comments."""
    posts = [world.posts(account_id).id_at(i) for i in range(max(4, n // 4))]
    done = {"edit": 0, "hide": 0, "delete": 0, "new": 0}
    for i in range(n):
        post = posts[i % len(posts)]
        comments = [c for c in world.comments(post) if not world.is_gone(c)]
        op = ("edit", "hide", "delete", "new")[i % 4]
        if op == "edit":
            world.edit(post, f"edited text {i}")
        elif op == "hide" and comments:
            world.hide(comments[i % len(comments)].id)
        elif op == "delete" and comments:
            world.delete(comments[-1 - (i % len(comments))].id)
        else:
            world.add_comment(post, f"new comment {i}")
            op = "new"
        done[op] += 1
    return done


class SyntheticFake:
    """The fake in its own process, so its memory is not counted in the harvest's."""

    def __init__(self, n_items: int, comments: int = COMMENTS):
        ctx = mp.get_context("spawn")
        self.queue, self.control = ctx.Queue(), ctx.Queue()
        n_posts = max(1, n_items // (comments + 1))
        self.proc = ctx.Process(target=_serve, args=("facebook", n_posts, comments, self.queue, self.control),
                                daemon=True)
        self.proc.start()
        self.doc, self.env, self.now = self.queue.get(timeout=60)

    def mutate(self, n: int) -> dict:
        self.control.put(("mutate", n))
        return self.queue.get(timeout=120)

    def close(self) -> None:
        self.control.put(None)
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()


def _harvest_once(doc: dict, env: dict, archive: str, options: dict, now: int) -> dict:
    """Runs in a fresh interpreter: one harvest, then its figures (and the process's peak RSS). The run's
    clock is the fake world's, so re-check windows line up with the synthetic posts' dates."""
    from datetime import datetime, timedelta, timezone

    os.environ.update(env)
    from civic_archive import config as cfg
    from civic_archive.harvest import HarvestOptions, harvest_account
    from civic_archive.storage import LocalStore

    doc = dict(doc, archive=f"file://{archive}")
    city = cfg.parse(doc)
    t0 = time.perf_counter()
    start, when = time.monotonic(), datetime.fromtimestamp(now, timezone.utc)
    result = harvest_account(city, city.accounts[0], LocalStore(archive), options=HarvestOptions(**options),
                             clock=lambda: when + timedelta(seconds=time.monotonic() - start))
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), "records": sum(v for k, v in result.counts.items() if k != "seen"),
            "seen": result.counts.get("seen", 0), "api_calls": result.api_calls, "errors": result.errors,
            "counts": dict(result.counts), "window": result.window,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_in_subprocess(fake: "SyntheticFake", archive: str, options: dict) -> dict:
    payload = json.dumps({"doc": fake.doc, "env": fake.env, "archive": archive, "options": options, "now": fake.now})
    proc = subprocess.run([sys.executable, "-m", "bench.harvest_scale", "--one"], input=payload, text=True,
                          capture_output=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode:
        raise RuntimeError(f"harvest subprocess failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def backfill(n_items: int) -> dict:
    fake = SyntheticFake(n_items)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = run_in_subprocess(fake, os.path.join(tmp, "archive"), {})
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(tmp, "archive"))
                       for f in fs)
    finally:
        fake.close()
    return {"scenario": "backfill", "items": n_items, **out,
            "records_per_s": round(out["records"] / out["seconds"]), "archive_mb": round(size / 1e6, 1)}


def nightly(n_items: int, changes: int = 100, recheck_days: int = 1) -> dict:
    fake = SyntheticFake(n_items)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            archive = os.path.join(tmp, "archive")
            first = run_in_subprocess(fake, archive, {})
            made = fake.mutate(changes)
            fake.now += 3600  # the next night
            out = run_in_subprocess(fake, archive, {"recheck_days": recheck_days, "full_sweep_below_items": 0})
    finally:
        fake.close()
    return {"scenario": "nightly", "archived_items": first["records"], "changes_made": made,
            "recheck_days": recheck_days, **out}


if __name__ == "__main__":
    if sys.argv[1:] == ["--one"]:
        args = json.loads(sys.stdin.read())
        print(json.dumps(_harvest_once(args["doc"], args["env"], args["archive"], args["options"], args["now"])))
