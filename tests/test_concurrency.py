"""Two harvests of the same account at once: the account lease (civic_archive.lease) lets one run; the other
waits or fails cleanly with LeaseHeld before writing anything; the manifest chain never forks and no item is
archived twice. Harvests run in separate processes against the fakes running in the test process, on a local
folder and on SeaweedFS."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from civic_archive import manifest, records
from civic_archive.lease import LeaseHeld, LeaseLost, account_lease, live_leases
from civic_archive.storage import LocalStore
from civic_archive.verify import verify

ACCOUNT = "parks-facebook"

# The harvest as a child process. Fault injection for the tests lives here, in the child: SLOW_CALLS makes
# every API call sleep (so runs overlap), CRASH_AFTER_CALLS / CIVIC_ARCHIVE_CRASH_AFTER_PUTS end the process
# with a real SIGKILL sent to itself (kill -9: no cleanup, no flush) before the next API call / archive put.
CHILD = r'''
import json, os, signal, sys, time
from civic_archive import config as cfg
from civic_archive.capture import RecordingSession
from civic_archive.harvest import harvest_account
from civic_archive.lease import LeaseHeld
from civic_archive.storage import ArchiveStore, open_store
import civic_archive.storage, civic_archive.s3store

doc = json.load(open(sys.argv[1]))
city = cfg.parse(doc)
slow = float(os.environ.get("SLOW_CALLS", "0"))
crash_calls = int(os.environ.get("CRASH_AFTER_CALLS", "-1"))
crash_puts = int(os.environ.get("CIVIC_ARCHIVE_CRASH_AFTER_PUTS", "-1"))
calls = puts = 0
get = RecordingSession.get
def slow_get(self, *a, **k):
    global calls
    if calls == crash_calls:
        os.kill(os.getpid(), signal.SIGKILL)
    calls += 1
    if slow:
        time.sleep(slow)
    return get(self, *a, **k)
RecordingSession.get = slow_get
for cls in (civic_archive.storage.LocalStore, civic_archive.s3store.S3Store):
    def wrap(orig):
        def put_file(self, *a, **k):
            global puts
            if puts == crash_puts:
                os.kill(os.getpid(), signal.SIGKILL)
            puts += 1
            return orig(self, *a, **k)
        return put_file
    cls.put_file = wrap(cls.put_file)
store = open_store(city.archive)
print("started", flush=True)
try:
    result = harvest_account(city, city.account(sys.argv[2]), store)
except LeaseHeld as exc:
    print("LEASE-HELD", exc, flush=True)
    sys.exit(3)
print("RESULT", json.dumps(result.as_dict(), default=str), flush=True)
'''


def child_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(extra or {})
    return env


def write_config(fakes, tmp_path, archive: str) -> str:
    doc, env = fakes.city_config(archive=archive, city="City of Example", jurisdiction="MO", accounts=[ACCOUNT])
    os.environ.update(env)
    path = tmp_path / f"city-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(doc))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return str(path)


def spawn(tmp_path, config: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(tmp_path / "child.py"), config, ACCOUNT], env=child_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def check_archive(store) -> list[dict]:
    """verify green, one unbroken chain, every item version archived once; the manifests, oldest first."""
    report = verify(store)
    assert report.ok, report.summary()
    docs = [json.loads(store.read_bytes(k)) for k in manifest.chain_keys(store, ACCOUNT)]
    assert [d["sequence"] for d in docs] == list(range(1, len(docs) + 1))
    for prev, doc in zip(docs, docs[1:]):
        assert doc["previous"]["key"] == manifest.manifest_key(prev["run_id"])
    versions = Counter()
    for d in docs:
        for obj in d["objects"]:
            if obj["kind"] == "records":
                t = records.read_table(store, obj["key"], columns=["kind", "platform_id", "version"])
                versions.update(zip(*(t[c].to_pylist() for c in ("kind", "platform_id", "version"))))
    assert versions and max(versions.values()) == 1, [k for k, v in versions.items() if v > 1][:5]
    return docs


def run_pair(fakes, tmp_path, archive: str, env: dict, *, second_waits: bool) -> list[tuple[int, str, str]]:
    config = write_config(fakes, tmp_path, archive)
    first = spawn(tmp_path, config, {**env, "SLOW_CALLS": "0.05"})  # ~47 calls: a run of 2-3 s
    assert first.stdout.readline().strip() == "started"
    time.sleep(0.8)  # the first run holds the lease by now
    second = spawn(tmp_path, config, {**env, "CIVIC_ARCHIVE_LEASE_WAIT_SECONDS": "120" if second_waits else "0"})
    return [finish(first), finish(second)]


# -- local folder --------------------------------------------------------------------------------------------

def test_second_harvest_fails_cleanly_local(fakes, tmp_path):
    store = LocalStore(tmp_path / "archive")
    (rc1, out1, err1), (rc2, out2, err2) = run_pair(fakes, tmp_path, store.uri, {}, second_waits=False)
    assert rc1 == 0 and "RESULT" in out1, err1
    assert rc2 == 3 and "LEASE-HELD" in out2 and "being harvested" in out2, (out2, err2)
    assert "Traceback" not in err2
    docs = check_archive(store)
    assert len(docs) == 1  # the refused run wrote nothing
    assert not verify(store).orphans


def test_second_harvest_waits_local(fakes, tmp_path):
    store = LocalStore(tmp_path / "archive")
    (rc1, out1, err1), (rc2, out2, err2) = run_pair(fakes, tmp_path, store.uri, {}, second_waits=True)
    assert rc1 == 0 and rc2 == 0, (err1, err2)
    docs = check_archive(store)
    assert len(docs) == 2
    second = json.loads(out2.split("RESULT", 1)[1])
    assert second["counts"].get("new", 0) == 0  # it ran after the first committed: nothing archived twice


def test_many_simultaneous_harvests_local(fakes, tmp_path):
    store = LocalStore(tmp_path / "archive")
    config = write_config(fakes, tmp_path, store.uri)
    procs = [spawn(tmp_path, config, {"CIVIC_ARCHIVE_LEASE_WAIT_SECONDS": "120"}) for _ in range(4)]
    results = [finish(p) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), [e[-2000:] for _, _, e in results]
    docs = check_archive(store)
    assert len(docs) == 4
    assert sum(json.loads(o.split("RESULT", 1)[1])["counts"].get("new", 0) for _, o, _ in results) == \
        json.loads(results[0][1].split("RESULT", 1)[1])["counts"]["seen"]


def test_lease_lost_refuses_commit(tmp_path):
    """A holder whose chain moved under it (its lease expired and another run committed) must not commit."""
    store = LocalStore(tmp_path / "archive")
    with account_lease(store, ACCOUNT) as held:
        store.put_bytes(f"manifests/{ACCOUNT}.20250101T000000000000Z.abcdef.json", json.dumps({"sequence": 1}).encode())
        with pytest.raises(LeaseLost):
            held.check()


def test_file_lease_released_when_holder_killed(tmp_path):
    store = LocalStore(tmp_path / "archive")
    code = ("import sys, time; from civic_archive.lease import account_lease; from civic_archive.storage import "
            f"LocalStore\nwith account_lease(LocalStore({str(store.root)!r}), {ACCOUNT!r}):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(LeaseHeld):
        with account_lease(store, ACCOUNT, wait=0):
            pass
    proc.kill()
    proc.wait()
    with account_lease(store, ACCOUNT, wait=5):
        pass
    assert ".locks" not in "".join(store.list(""))


# -- SeaweedFS -----------------------------------------------------------------------------------------------

def s3_env(seaweed) -> dict:
    access, secret = seaweed.credentials["harvester"]
    return {"AWS_ENDPOINT_URL": seaweed.endpoint_url, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1", "CIVIC_ARCHIVE_LOCK_MODE": "GOVERNANCE"}


def test_second_harvest_fails_cleanly_s3(fakes, tmp_path, seaweed, s3_bucket):
    env = s3_env(seaweed)
    (rc1, out1, err1), (rc2, out2, err2) = run_pair(fakes, tmp_path, f"s3://{s3_bucket}/city", env,
                                                    second_waits=False)
    assert rc1 == 0, err1[-3000:]
    assert rc2 == 3 and "LEASE-HELD" in out2, (out2, err2[-3000:])
    store = seaweed.store("auditor", s3_bucket, "city")
    assert len(check_archive(store)) == 1
    assert live_leases(store, ACCOUNT, ttl=3600) == []  # released by the first run


def test_simultaneous_harvests_s3(fakes, tmp_path, seaweed, s3_bucket):
    env = {**s3_env(seaweed), "CIVIC_ARCHIVE_LEASE_WAIT_SECONDS": "120"}
    config = write_config(fakes, tmp_path, f"s3://{s3_bucket}/city")
    procs = [spawn(tmp_path, config, env) for _ in range(3)]
    results = [finish(p) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), [e[-3000:] for _, _, e in results]
    store = seaweed.store("auditor", s3_bucket, "city")
    assert len(check_archive(store)) == 3


def test_expired_s3_lease_is_taken_over(seaweed, s3_bucket):
    """A crashed holder's lease (never released) stops blocking once its TTL has passed."""
    store = seaweed.store("harvester", s3_bucket, "city")
    stale = f"locks/{ACCOUNT}/{int((time.time() - 7200) * 1000):013d}-crashed-1-abc.lease"
    store.put_bytes(stale, b"{}")
    with pytest.raises(LeaseHeld):
        with account_lease(store, ACCOUNT, wait=0, ttl=3 * 3600):
            pass
    with account_lease(store, ACCOUNT, wait=0, ttl=3600) as held:
        assert held.key and live_leases(store, ACCOUNT, ttl=3600) == [held.holder]
    assert live_leases(store, ACCOUNT, ttl=3600) == []


def test_s3_lease_is_renewed_while_held_and_lapses_when_its_holder_is_gone(seaweed, s3_bucket):
    """Renewals keep a long run's lease alive past its TTL; once renewals stop (the holder died or lost the
    storage and could not release), the account is free again one TTL later."""
    store = seaweed.store("harvester", s3_bucket, "city")
    ttl = 3.0
    with account_lease(store, ACCOUNT, wait=0, ttl=ttl) as held:
        time.sleep(2.5 * ttl)  # several TTLs: only the renewals keep it live
        assert live_leases(store, ACCOUNT, ttl=ttl) == [held.holder]
        with pytest.raises(LeaseHeld):
            with account_lease(store, ACCOUNT, wait=0, ttl=ttl):
                pass
        renewals = [k for k in store.list(f"locks/{ACCOUNT}/") if held.holder in k and k.endswith(".lease")]
        assert len(renewals) >= 3
    # A holder that vanished without releasing: its last lease object, never renewed.
    gone = f"locks/{ACCOUNT}/{int(time.time() * 1000):013d}-vanished-9-abc.lease"
    store.put_bytes(gone, b"{}")
    with pytest.raises(LeaseHeld):
        with account_lease(store, ACCOUNT, wait=0, ttl=ttl):
            pass
    time.sleep(ttl + 0.2)
    with account_lease(store, ACCOUNT, wait=0, ttl=ttl) as taken:
        assert live_leases(store, ACCOUNT, ttl=ttl) == [taken.holder]
