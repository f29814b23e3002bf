"""Harvest at scale, through the fake Graph API on loopback (served from a separate process).

- backfill: the first harvest of one synthetic Facebook account of N items (posts with 19 comments each,
  every third a reply), in a fresh process per size: records/s and the process's peak RSS, which must
  stay flat as N grows.
- nightly: an account with N archived items (built as bench/nightly_state.py explains, not by a backfill),
  then 1,000 changes (edits, hides, deletions, new comments on recent posts), then the nightly run: its
  time, API calls and peak RSS (incremental window, as in production), and a check that it found exactly
  the changes made.

The synthetic fake posts every 10 minutes, so a 1-day re-check window there covers what a 30-day window
covers for a city that posts about five times a day.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time

from bench import in_child

COMMENTS = 19
RECENT_POSTS = 400  # harvested for real: more than a 1-day nightly walk lists (3 pages of 100 posts)


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


# One post's share of the changes, each on a different item so that each is one detectable change. Comment c
# of a synthetic post is a reply when c % 3 == 0; comments 1, 4, 7, 10 have no replies (hiding or editing
# them touches nothing else) and replies have none either (deleting one takes nothing else with it).
PLAN = (("edit", 0), ("hide", 7), ("delete", 3), ("new", None), ("edit", 1), ("hide", 10), ("delete", 6),
        ("new", None), ("edit", 4), ("delete", 9))


def _mutate(world, account_id: str, n: int) -> dict:
    """n changes on the newest posts, PLAN's ten per post: edits of posts and comments, hidden comments,
    deleted replies, new comments. Returns how many of each, and the world's clock afterwards."""
    done = {"edit": 0, "hide": 0, "delete": 0, "new": 0}
    seq = world.posts(account_id)
    for i in range(n):
        post = seq.id_at(i // len(PLAN))
        op, c = PLAN[i % len(PLAN)]
        by_c = {it.c: it.id for it in world.comments(post)}
        if op == "edit":
            world.edit(post if c == 0 else by_c[c], f"edited text {i}")
        elif op == "hide":
            world.hide(by_c[c])
        elif op == "delete":
            world.delete(by_c[c])
        else:
            world.add_comment(post, f"new comment {i}")
        done[op] += 1
    return dict(done, now=world.now)


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
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the
    parent across fork+exec, so a child of a large benchmark process would report the parent's peak."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_in_subprocess(fake: "SyntheticFake", archive: str, options: dict) -> dict:
    return in_child("bench.harvest_scale", {"doc": fake.doc, "env": fake.env, "archive": archive,
                                            "options": options, "now": fake.now})


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


def prior_archive(n_items: int, recent_posts: int = RECENT_POSTS, cache: bool = True) -> tuple[str, dict]:
    """(folder, how it was built) of an archive holding one full harvest of the N-item synthetic account: the
    newest posts harvested for real, the state of the rest generated (bench/nightly_state.py). Built once per
    size under the cache folder (outside the repo) unless cache=False; callers run against a clone."""
    from bench import nightly_state

    n_posts = max(1, n_items // (COMMENTS + 1))
    recent = min(n_posts, recent_posts)
    root = os.path.join(nightly_state.CACHE if cache else tempfile.mkdtemp(prefix="nightly-prior."),
                        f"{nightly_state.VERSION}-facebook-{n_posts}x{COMMENTS}-recent{recent}")
    done = os.path.join(root, "built.json")
    if os.path.exists(done):
        with open(done) as fh:
            return os.path.join(root, "archive"), json.load(fh)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    archive = os.path.join(root, "archive")
    t0 = time.perf_counter()
    fake = SyntheticFake(recent * (COMMENTS + 1), COMMENTS)
    try:
        first = run_in_subprocess(fake, archive, {})
    finally:
        fake.close()
    if first["errors"]:
        raise RuntimeError(f"harvest of the recent posts failed: {first['errors']}")
    t1 = time.perf_counter()
    added = nightly_state.extend(archive, (("facebook", n_posts), {"seed": 1, "comments_per_post": COMMENTS}),
                                 recent, n_posts) if n_posts > recent else 0
    info = {"archived_items": first["records"] + added, "harvested_items": first["records"],
            "generated_items": added, "harvest_s": round(t1 - t0, 1),
            "generate_s": round(time.perf_counter() - t1, 1)}
    with open(done, "w") as fh:
        json.dump(info, fh)
    return archive, info


def nightly(n_items: int, changes: int = 1000, recheck_days: int = 1, cache: bool = True,
            recent_posts: int = RECENT_POSTS, repeats: int = 3) -> dict:
    """The nightly run over an account with N archived items after `changes` changes to recent posts, `repeats`
    times from the same start (the median is reported: the machine is shared); fails unless every run
    detects exactly the changes made."""
    from bench import nightly_state

    prior, built = prior_archive(n_items, recent_posts, cache=cache)
    runs = []
    try:
        for _ in range(repeats):
            fake = SyntheticFake(n_items)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    archive = os.path.join(tmp, "archive")
                    nightly_state.clone(prior, archive)
                    made = fake.mutate(changes)
                    fake.now = max(fake.now, made.pop("now")) + 60  # the run starts after the changes
                    out = run_in_subprocess(fake, archive, {"recheck_days": recheck_days,
                                                            "full_sweep_below_items": 0})
            finally:
                fake.close()
            expected = {"edited": made["edit"], "hidden": made["hide"], "deleted": made["delete"], "new": made["new"]}
            found = {k: out["counts"].get(k, 0) for k in ("edited", "hidden", "unhidden", "removed", "deleted",
                                                           "new", "restored")}
            if {k: v for k, v in found.items() if v} != {k: v for k, v in expected.items() if v}:
                raise RuntimeError(f"nightly found {found}, the world had {expected}")
            runs.append(out)
    finally:
        if not cache:
            shutil.rmtree(os.path.dirname(os.path.dirname(prior)), ignore_errors=True)
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {"scenario": "nightly", "archived_items": built["archived_items"], "changes": changes,
            "changes_made": expected, "changes_found": found, "recheck_days": recheck_days, "prior": built,
            **median, "seconds_all": [r["seconds"] for r in runs],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


if __name__ == "__main__":
    if sys.argv[1:] == ["--one"]:
        args = json.loads(sys.stdin.read())
        print(json.dumps(_harvest_once(args["doc"], args["env"], args["archive"], args["options"], args["now"])))
