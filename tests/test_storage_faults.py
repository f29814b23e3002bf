"""Storage faults: the S3 server (SeaweedFS) answering 500s, dropping connections, hanging, losing answers,
unreachable from the start, or killed mid-run and restarted.

Every harvest here goes to SeaweedFS through a fault-injecting proxy (tests/s3proxy.py); checks read the
bucket directly. The promises:
- transient faults are retried (bounded: CIVIC_ARCHIVE_S3_MAX_ATTEMPTS tries per operation) and the run
  succeeds with nothing archived twice;
- a lasting outage ends the run with one clear StorageError after exactly that many tries of the failing
  operation; nothing is committed and no manifest names a missing or partial object (`verify` green);
- the next run, once the storage is back, archives everything (its latest rows equal a clean reference
  harvest), with no item version twice and an unbroken chain, even though the failed run could not release
  its lease (it lapses after its TTL).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from civic_archive import manifest
from civic_archive.demo import demo_config
from civic_archive.fakes import FakePlatforms, World
from civic_archive.harvest import harvest_account
from civic_archive.s3store import S3Store, make_client
from civic_archive.storage import LocalStore, StorageError
from civic_archive.verify import verify
from s3proxy import FaultProxy
from seaweed import seaweed_server
from test_concurrency import ACCOUNT, check_archive
from test_crash_safety import assert_no_partial, latest

pytestmark = pytest.mark.s3

ATTEMPTS = 3
LEASE_TTL = 3.0
PREFIX = "city"


@pytest.fixture(autouse=True)
def patience(monkeypatch):
    monkeypatch.setenv("CIVIC_ARCHIVE_S3_MAX_ATTEMPTS", str(ATTEMPTS))
    monkeypatch.setenv("CIVIC_ARCHIVE_S3_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("CIVIC_ARCHIVE_S3_READ_TIMEOUT", "2")
    monkeypatch.setenv("CIVIC_ARCHIVE_LEASE_TTL_SECONDS", str(LEASE_TTL))
    monkeypatch.setenv("CIVIC_ARCHIVE_LEASE_WAIT_SECONDS", str(4 * LEASE_TTL))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Latest rows of the account after one and two clean nights (local folder, no faults)."""
    store = LocalStore(tmp_path_factory.mktemp("reference") / "archive")
    out = {}
    with FakePlatforms(World.demo()) as fakes:
        city = demo_config(fakes, store.uri)
        for night in (1, 2):
            if night == 2:
                fakes.world.next_night()
            assert harvest_account(city, city.account(ACCOUNT), store).ok
            out[night] = latest(store)
    return out


def harvest(fakes, server, bucket: str, proxy: FaultProxy):
    access, secret = server.credentials["harvester"]
    store = S3Store(bucket, PREFIX, lock_mode="GOVERNANCE",
                    client=make_client(proxy.url, access_key=access, secret_key=secret))
    city = demo_config(fakes, store.uri)
    return harvest_account(city, city.account(ACCOUNT), store)


def direct(server, bucket: str):
    return server.store("admin", bucket, PREFIX, lock_mode=None)


def versions(server, bucket: str, key: str) -> int:
    listed = server.client("admin").list_object_versions(Bucket=bucket, Prefix=f"{PREFIX}/{key}")
    return sum(1 for v in listed.get("Versions", []) if v["Key"] == f"{PREFIX}/{key}")


def wait_until_readable(store, timeout: float = 90.0) -> None:
    """After a restart SeaweedFS answers S3 requests before its volume server has re-registered its volumes
    (GETs answer InternalError meanwhile): the server is back only once stored objects read again."""
    deadline = time.monotonic() + timeout
    key = next(iter(store.list("manifests/")))
    while True:
        try:
            store.read_bytes(key)
            return
        except StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def assert_resumes(fakes, server, bucket, proxy, reference, night: int = 1) -> None:
    """After a failed run: the archive verifies, nothing partial is referenced, and the next run (storage
    back) completes the archive exactly like a clean harvest."""
    store = direct(server, bucket)
    report = verify(store)
    assert report.ok, report.summary()
    assert_no_partial(store)
    assert len(manifest.chain_keys(store, ACCOUNT)) == night - 1  # the failed run committed nothing
    proxy.rule = lambda request: None
    result = harvest(fakes, server, bucket, proxy)
    assert result.ok, result.errors
    assert latest(store) == reference[night]
    assert len(check_archive(store)) == night  # verify green, unbroken chain, no item version twice


# -- transient faults ------------------------------------------------------------------------------------

class FirstTry:
    """`action` for the first try of every distinct request that `matches`; later tries pass."""

    def __init__(self, action: str, matches=lambda request: True):
        self.action, self.matches, self.hit = action, matches, set()

    def __call__(self, request):
        seen = (request.method, request.path, request.query)
        if self.matches(request) and seen not in self.hit:
            self.hit.add(seen)
            return self.action
        return None


def test_a_5xx_storm_is_retried_and_the_run_succeeds(fakes, seaweed, s3_bucket, reference):
    with FaultProxy(seaweed.endpoint_url) as proxy:
        proxy.rule = storm = FirstTry("500")
        result = harvest(fakes, seaweed, s3_bucket, proxy)
    assert result.ok, result.errors
    failed = proxy.requests("500")
    assert len(failed) == len(storm.hit) > 20  # every single request failed once, then succeeded on its retry
    store = direct(seaweed, s3_bucket)
    assert latest(store) == reference[1]
    assert len(check_archive(store)) == 1


def test_an_answer_lost_after_the_server_stored_a_put_is_not_a_duplicate(fakes, seaweed, s3_bucket, reference):
    """The PUT reached the server but its answer was lost; the retry meets the stored object (write-once,
    If-None-Match) with the same SHA-256 and counts as done, instead of failing the run or writing twice."""
    with FaultProxy(seaweed.endpoint_url) as proxy:
        proxy.rule = lose = FirstTry("lost", lambda r: r.method == "PUT" and "/locks/" not in r.path)
        result = harvest(fakes, seaweed, s3_bucket, proxy)
    assert result.ok, result.errors
    lost = {path for _, path, _ in lose.hit}
    assert len(lost) >= 5
    for path in lost:
        key = path.split(f"/{PREFIX}/", 1)[1]
        assert versions(seaweed, s3_bucket, key) == 1, key
    store = direct(seaweed, s3_bucket)
    assert latest(store) == reference[1]
    assert len(check_archive(store)) == 1


# -- lasting outages -------------------------------------------------------------------------------------

POINTS = {
    "start": lambda r: True,  # unreachable before the run takes its lease
    "first-warc": lambda r: r.method == "PUT" and "/warc/" in r.path,  # the walk is done, the commit begins
    "records": lambda r: r.method == "PUT" and "/records/" in r.path,  # WARCs stored, records not yet
    "manifest": lambda r: r.method == "PUT" and "/manifests/" in r.path and r.path.endswith(".json"),
}


class Outage:
    """From the first request matching `point` on, every request fails with `mode` (the storage is down)."""

    def __init__(self, point, mode: str):
        self.point, self.mode = point, mode
        self.started_at: int | None = None
        self.first: tuple[str, str, str] | None = None

    def __call__(self, request):
        if self.started_at is None and self.point(request):
            self.started_at = request.index
            self.first = (request.method, request.path, request.query)
        return self.mode if self.started_at is not None else None


@pytest.mark.parametrize("mode", ["500", "reset", "stall"])
@pytest.mark.parametrize("point", list(POINTS))
def test_an_outage_fails_cleanly_and_the_next_run_resumes(point, mode, fakes, seaweed, s3_bucket, reference):
    with FaultProxy(seaweed.endpoint_url) as proxy:
        outage = Outage(POINTS[point], mode)
        proxy.rule = outage
        began = time.monotonic()
        with pytest.raises(StorageError) as failure:
            harvest(fakes, seaweed, s3_bucket, proxy)
        took = time.monotonic() - began
        message = str(failure.value)
        assert f"gave up after {ATTEMPTS} attempts" in message, message
        assert outage.started_at is not None, f"the run failed before the outage began: {message}"
        method, path, query = outage.first
        tries = [e for e in proxy.log if e[1:3] == (method, path) and e[0] >= outage.started_at]
        assert len(tries) == ATTEMPTS, tries  # bounded: the failing operation was tried exactly that often
        assert took < 120
        assert_resumes(fakes, seaweed, s3_bucket, proxy, reference)


def test_seaweedfs_killed_mid_commit_and_restarted(tmp_path, reference):
    """The S3 server itself dies (SIGKILL, no shutdown) while a run is storing its objects. The run fails
    cleanly; once the server is back on the same data, the night committed before is intact, verify is green
    and the next run completes the archive."""
    with seaweed_server(tmp_path) as (server, process), FaultProxy(server.endpoint_url) as proxy, \
            FakePlatforms(World.demo()) as fakes:
        bucket = server.create_bucket()
        assert harvest(fakes, server, bucket, proxy).ok  # night 1, committed
        fakes.world.next_night()
        puts = []

        def kill_on_third_put(request):
            if request.method == "PUT" and ("/warc/" in request.path or "/records/" in request.path):
                puts.append(request.path)
                if len(puts) == 3:
                    process.kill()
            return None  # forwarded: to a dead server once killed

        proxy.rule = kill_on_third_put
        with pytest.raises(StorageError, match=f"gave up after {ATTEMPTS} attempts"):
            harvest(fakes, server, bucket, proxy)
        assert proxy.requests("backend down")
        process.restart()
        wait_until_readable(direct(server, bucket))
        assert_resumes(fakes, server, bucket, proxy, reference, night=2)


def test_cli_harvest_with_the_storage_down_fails_each_account_in_one_line(fakes, seaweed, s3_bucket, tmp_path):
    with FaultProxy(seaweed.endpoint_url) as proxy:
        proxy.rule = lambda request: "reset"
        doc, env = fakes.city_config(archive=f"s3://{s3_bucket}/{PREFIX}", city="City of Example",
                                     jurisdiction="MO")
        config = tmp_path / "city.json"
        config.write_text(json.dumps(doc))
        access, secret = seaweed.credentials["harvester"]
        env = {**os.environ, **env, "AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": access,
               "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1"}
        run = subprocess.run([sys.executable, "-m", "civic_archive.cli", "harvest", "--config", str(config)],
                             env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    failed = [line for line in run.stderr.splitlines() if ": FAILED; storage" in line]
    assert len(failed) == len(doc["accounts"]), run.stderr
    assert all(f"gave up after {ATTEMPTS} attempts" in line for line in failed), run.stderr
    assert "nothing committed" in failed[0]
