"""Crash safety: a harvest of a demo account in a child process is killed (SIGKILL sent to itself, kill -9:
no cleanup, no flush) at 35 points spread over its run (22 on a first night, 13 on a second): after N
platform API calls (the walk) and after N archive puts (the commit). After each kill `verify` passes (orphans
allowed), no manifest names a missing or partial object, and the next run archives everything: the latest row
of every item equals that of a clean reference harvest of the same world, with no item version archived twice.
The second night's kills come after a committed first night."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from civic_archive import manifest, records
from civic_archive.fakes import FakePlatforms, World
from civic_archive.storage import LocalStore
from civic_archive.verify import verify
from test_concurrency import ACCOUNT, CHILD, check_archive

pytestmark = pytest.mark.slow

CALL_POINTS = [0, 1, 3, 6, 10, 15, 20, 25, 30, 35, 40, 45]  # the demo account's run makes 46 API calls
PUT_POINTS = [0, 1, 2, 4, 5, 7, 10, 11, 12, 13]  # … and 14 archive puts, the manifest last
POINTS = [("calls", n) for n in CALL_POINTS] + [("puts", n) for n in PUT_POINTS]
KEY_COLUMNS = ["kind", "platform_id", "version", "status", "content_sha256", "text"]


def harvest(fakes, tmp_path, archive: str, crash: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    doc, env = fakes.city_config(archive=archive, city="City of Example", jurisdiction="MO", accounts=[ACCOUNT])
    config = tmp_path / "city.json"
    config.write_text(json.dumps(doc))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, **env}
    if crash:
        env["CRASH_AFTER_CALLS" if crash[0] == "calls" else "CIVIC_ARCHIVE_CRASH_AFTER_PUTS"] = str(crash[1])
    return subprocess.run([sys.executable, str(script), str(config), ACCOUNT], env=env, capture_output=True,
                          text=True, timeout=180)


def latest(store) -> dict[tuple[str, str], tuple]:
    rows: dict[tuple[str, str], tuple] = {}
    for key in manifest.chain_keys(store, ACCOUNT):
        for obj in json.loads(store.read_bytes(key))["objects"]:
            if obj["kind"] == "records":
                for r in records.read_table(store, obj["key"], columns=KEY_COLUMNS).to_pylist():
                    k = (r["kind"], r["platform_id"])
                    if k not in rows or rows[k][0] < r["version"]:
                        rows[k] = (r["version"], r["status"], r["content_sha256"], r["text"])
    return rows


def assert_no_partial(store) -> None:
    for key in manifest.chain_keys(store, ACCOUNT):
        for obj in json.loads(store.read_bytes(key))["objects"]:
            assert store.exists(obj["key"]) and store.size(obj["key"]) == obj["size"], obj["key"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Latest rows after one clean night, and after two."""
    out = {}
    tmp = tmp_path_factory.mktemp("reference")
    with FakePlatforms(World.demo()) as fakes:
        store = LocalStore(tmp / "archive")
        assert harvest(fakes, tmp, store.uri).returncode == 0
        out[1] = latest(store)
        fakes.world.next_night()
        assert harvest(fakes, tmp, store.uri).returncode == 0
        out[2] = latest(store)
    assert out[1] and out[1] != out[2]
    return out


# The second night's run makes fewer calls and puts: it gets a subset of the points. It makes 38 API calls,
# not 46: the photos it already archived the first night are not fetched again (their bytes are reused); and 8
# puts (WARC, records, state, manifest last). Neither night quarantines anything (a quarantine document would be
# one more put).
CASES = [(p, 1) for p in POINTS] + [(p, 2) for p in POINTS
                                    if not (p[0] == "calls" and (p[1] % 5 or p[1] >= 38)
                                            or p[0] == "puts" and p[1] >= 8)]


@pytest.mark.parametrize("point,night", CASES, ids=[f"night{n}-{w}-{k}" for (w, k), n in CASES])
def test_kill_and_resume(point, night, reference, tmp_path):
    with FakePlatforms(World.demo()) as fakes:
        store = LocalStore(tmp_path / "archive")
        if night == 2:
            assert harvest(fakes, tmp_path, store.uri).returncode == 0
            fakes.world.next_night()
        crashed = harvest(fakes, tmp_path, store.uri, crash=point)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
        committed = len(manifest.chain_keys(store, ACCOUNT))
        assert committed == night - 1  # the killed run never committed

        report = verify(store)
        assert report.ok, report.summary()
        assert_no_partial(store)

        resumed = harvest(fakes, tmp_path, store.uri)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        result = json.loads(resumed.stdout.split("RESULT", 1)[1])
        assert not result["errors"], result["errors"]
        check_archive(store)  # verify green, unbroken chain, no item version archived twice
        assert_no_partial(store)
        assert latest(store) == reference[night]


def test_a_clock_set_back_after_a_run_with_a_clock_ahead_keeps_the_chain(tmp_path):
    """The chain's order is its manifests' key order: one run with a clock a year ahead made every later run
    link to it with the same sequence number, and the chain never verified again (found by an audit). A run
    is now stamped after the chain's newest run whatever the clock says."""
    from datetime import datetime, timedelta, timezone

    from civic_archive.run import ArchiveRun

    store = LocalStore(tmp_path / "archive")
    now = datetime(2026, 11, 22, 2, tzinfo=timezone.utc)
    for clock in (now, now + timedelta(days=365), now + timedelta(days=1), now + timedelta(days=2)):
        run = ArchiveRun(store, "acct", warcinfo={}, clock=lambda clock=clock: clock)
        run.add_bytes(f"manifests/{run.run_id}.report.md", b"report", "report")
        run.commit()
    keys = manifest.chain_keys(store, "acct")
    assert [json.loads(store.read_bytes(k))["sequence"] for k in keys] == [1, 2, 3, 4]
    assert json.loads(store.read_bytes(keys[-1]))["started_at"].startswith("2026-11-24")  # the clock's own time
    report = verify(store, deep=False)
    assert report.ok, report.summary()


def test_a_crashed_runs_spool_is_removed_by_the_next_run_of_its_account(tmp_path):
    from civic_archive.run import ArchiveRun

    store = LocalStore(tmp_path / "archive")
    crashed = ArchiveRun(store, "acct", warcinfo={})
    other = ArchiveRun(store, "acct-2", warcinfo={})  # another account's run, maybe still going
    with open(crashed.spool_path("w.warc.gz"), "wb") as fh:
        fh.write(b"x" * 1000)
    # the process dies here: no commit, no cleanup
    ArchiveRun(store, "acct", warcinfo={}).cleanup()
    assert not os.path.exists(crashed.spool) and os.path.isdir(other.spool)
