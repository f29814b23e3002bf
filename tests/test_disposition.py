"""Disposition on a real harvested archive (the demo city, local folder): plan, approve, execute, log, verify.

The demo's items were created July-November 2026; a synthetic schedule keeps posts 30 days and comments 60
days from creation. `today` is pinned so the results do not depend on when the suite runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import date, timedelta

import pytest

from civic_archive import auditlog, disposition, holds, recordscan
from civic_archive.cli import main
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import LocalStore
from civic_archive.verify import verify
from test_disposition_helpers import accounts_of, all_rows, city_config, write_schedule

TODAY = date(2026, 11, 21)
BOUND = [{"name": "clerk", "logins": ["pat"]}, {"name": "attorney", "logins": ["lee"]}]


def harvest_with_schedule(root, tmp, nights=2, jurisdiction="MO", mapping=None, confirmations=None):
    """The demo city harvested under a city config that maps its records to the synthetic series (records are
    classified when harvested)."""
    from civic_archive.demo import demo_config
    from civic_archive.fakes import FakePlatforms, World
    from civic_archive.harvest import harvest_account

    with FakePlatforms(World.demo()) as fakes:
        demo = demo_config(fakes, f"file://{root}", jurisdiction=jurisdiction)
        city = city_config(f"file://{root}", accounts_of(demo), schedule=write_schedule(tmp, jurisdiction=jurisdiction),
                           jurisdiction=jurisdiction, mapping=mapping, confirmations=confirmations)
        store = LocalStore(root)
        for night in range(nights):
            if night:
                fakes.world.next_night()
            for account in city.accounts:
                result = harvest_account(city, account, store)
                assert result.ok, result.errors
    return city


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("disposition-template")
    city = harvest_with_schedule(tmp / "archive", tmp)
    return tmp / "archive", accounts_of(city)


@pytest.fixture
def env(demo_template, tmp_path, monkeypatch):
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    template, accounts = demo_template
    root = tmp_path / "archive"
    shutil.copytree(template, root)
    schedule = write_schedule(tmp_path)
    config_path = tmp_path / "city.yaml"
    city = city_config(f"file://{root}", accounts, schedule=schedule, path=config_path)
    store = LocalStore(root)
    return city, store, RetentionPolicy(city, today=TODAY), config_path


def test_plan_is_a_dry_run_that_says_why(env):
    city, store, policy, _ = env
    before = sorted(store.list(""))
    doc, analysis, key = disposition.plan(store, city, policy=policy)
    assert key is None and sorted(store.list("")) == before  # nothing written
    assert doc["objects"], "30-day posts from July-October must be eligible by 2026-11-21"
    by_series = {s["series"]: s for s in analysis.series}
    assert by_series["TEST POSTS"]["purgeable"] and by_series["TEST POSTS"]["eligible"] > 0
    for o in doc["objects"]:
        assert o["sha256"] and o["manifest"] and o["eligible_on"] <= TODAY.isoformat()
    kept = [v for v in analysis.records.values() if not v.ok]
    assert kept and all(v.reasons for v in kept)
    text = disposition.plan_text(doc, analysis)
    assert "Kept past eligibility" in text and "dry run" in text


def test_future_preview_shows_more_and_cannot_be_saved(env):
    city, store, policy, _ = env
    now, _, _ = disposition.plan(store, city, policy=policy)
    later, _, _ = disposition.plan(store, city, policy=policy, as_of=date(2027, 6, 1))
    assert later["totals"]["records"] > now["totals"]["records"]
    assert later["totals"]["warc_files"] > 0  # once every record is eligible, whole WARC files go too
    with pytest.raises(disposition.DispositionError, match="future"):
        disposition.plan(store, city, policy=policy, as_of=date(2027, 6, 1), save=True)


def test_full_cycle_purges_only_the_approved_plan_and_verify_stays_green(env):
    city, store, policy, _ = env
    doc, _, key = disposition.plan(store, city, policy=policy, save=True)
    plan_id = doc["plan_id"]
    with pytest.raises(disposition.DispositionRefused, match="not approved"):
        disposition.execute(store, city, plan_id, policy=policy)
    with pytest.raises(disposition.DispositionError, match="not an approver"):
        disposition.approve(store, city, plan_id, approver="mallory", policy=policy)
    disposition.approve(store, city, plan_id, approver="clerk", policy=policy)
    result = disposition.execute(store, city, plan_id, policy=policy, executed_by="test")
    destroyed = {o["key"] for o in result.destroyed}
    assert destroyed and destroyed <= {o["key"] for o in doc["objects"]}
    assert not any(store.exists(k) for k in destroyed)
    # every remaining row is ineligible or shares nothing with what was destroyed; none points at destroyed evidence
    for row in all_rows(store):
        assert row["warc_file"] not in destroyed and row["media_warc_file"] not in destroyed
    entry = result.entry
    assert entry.sequence == 1 and entry.doc["quantity"]["objects"] == len(destroyed)
    assert {o["key"]: o["sha256"] for o in entry.doc["objects"]} == {
        o["key"]: o["sha256"] for o in doc["objects"] if o["key"] in destroyed}
    assert entry.doc["approvals"][0]["approver"] == "clerk"
    assert entry.doc["series"][0]["sources"] and entry.doc["series"][0]["confirmed_by"]
    cert = store.read_bytes(auditlog.certificate_key(1)).decode()
    assert "Certificate of records destruction No. 1" in cert and entry.sha256 in cert
    report = verify(store)
    assert report.ok, report.summary()
    assert {k for k, _ in report.disposed} == destroyed and all(seq == 1 for _, seq in report.disposed)
    assert "disposed of (log entry 1)" in report.summary()
    with pytest.raises(disposition.DispositionRefused, match="already executed"):
        disposition.execute(store, city, plan_id, policy=policy)


def test_unlogged_deletion_fails_verify_but_a_logged_one_does_not(env):
    city, store, policy, _ = env
    key = next(k for k in store.list("records/"))
    os.unlink(store.local_path(key))
    report = verify(store)
    assert not report.ok and key in {k for k, _ in report.failures}


def test_hold_placed_after_approval_is_honoured_at_execution(env):
    city, store, policy, _ = env
    doc, _, _ = disposition.plan(store, city, policy=policy, save=True)
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)
    target = next(o for o in doc["objects"] if o["kind"] == "records")
    account = target["accounts"][0]
    placed = holds.place(store, scope={"accounts": [account]}, reason="Smith v. City", placed_by="City Attorney")
    assert target["key"] in placed.locked
    result = disposition.execute(store, city, doc["plan_id"], policy=policy)
    kept = {o["key"]: o["reason"] for o in result.not_destroyed}
    assert target["key"] in kept and placed.hold.hold_id in kept[target["key"]]
    assert store.exists(target["key"])
    destroyed = {d["key"] for d in result.destroyed}
    held_account_objects = {o["key"] for o in doc["objects"] if account in o["accounts"]}
    assert held_account_objects and not held_account_objects & destroyed
    assert destroyed  # the other accounts' approved objects still went
    assert result.entry.doc["holds_checked"] == [placed.hold.hold_id]
    assert verify(store).ok


def test_two_person_rule_and_rejection(env, tmp_path):
    city, store, _, _ = env
    two = city_config(city.archive, accounts_of(city), schedule=city.retention.schedule, two_person_rule=True,
                      approvers=BOUND)
    policy = RetentionPolicy(two, today=TODAY)
    doc, _, _ = disposition.plan(store, two, policy=policy, save=True)
    pid = doc["plan_id"]
    disposition.approve(store, two, pid, approver="clerk", policy=policy, acted_by="login:pat")
    disposition.approve(store, two, pid, approver="clerk", policy=policy, acted_by="login:pat")  # counts once
    with pytest.raises(disposition.DispositionRefused, match="1 of 2"):
        disposition.execute(store, two, pid, policy=policy)
    disposition.approve(store, two, pid, approver="attorney", policy=policy, acted_by="login:lee")
    result = disposition.execute(store, two, pid, policy=policy)
    assert result.destroyed
    assert {a["acted_by"] for a in result.entry.doc["approvals"]} == {"login:pat", "login:lee"}
    # a rejection by any approver stops a plan
    later = RetentionPolicy(two, today=date(2027, 3, 1))
    doc2, _, _ = disposition.plan(store, two, policy=later, save=True)
    disposition.approve(store, two, doc2["plan_id"], approver="clerk", policy=later, acted_by="login:pat")
    disposition.approve(store, two, doc2["plan_id"], approver="attorney", policy=later, acted_by="login:lee")
    disposition.approve(store, two, doc2["plan_id"], approver="attorney", decision="reject", policy=later,
                        acted_by="login:lee")
    with pytest.raises(disposition.DispositionRefused, match="rejected by attorney"):
        disposition.execute(store, two, doc2["plan_id"], policy=later)


def test_two_person_rule_counts_people_not_names(env, tmp_path):
    """Under the two-person rule each approval must come from the approver itself: on the command line from
    one of its logins (an approver bound to none is refused there), in Airflow from its user (by user name
    or `airflow_users`); and one person counts once, whatever names it approves as (found by reviews: one
    login could approve as two names, and an Airflow user with a numeric id plus the same person's login
    counted as two)."""
    city, store, _, _ = env
    sha = lambda pid: hashlib.sha256(disposition.load_plan(store, pid)[2]).hexdigest()  # noqa: E731
    unbound = city_config(city.archive, accounts_of(city), schedule=city.retention.schedule, two_person_rule=True)
    policy = RetentionPolicy(unbound, today=TODAY)
    pid = disposition.plan(store, unbound, policy=policy, save=True)[0]["plan_id"]
    with pytest.raises(disposition.DispositionError, match="bound to no login"):
        disposition.approve(store, unbound, pid, approver="clerk", policy=policy)
    # the same unbound names approved in Airflow by users of those names count
    for name in ("clerk", "attorney"):
        disposition.approve(store, unbound, pid, approver=name, policy=policy, via="airflow",
                            acted_by=f"airflow:{name}", airflow={"responded_by": {"id": name, "name": name}})
    assert disposition.quorum(store, pid, sha(pid), policy).met

    bound = city_config(city.archive, accounts_of(city), schedule=city.retention.schedule, two_person_rule=True,
                        approvers=[{"name": "clerk", "logins": ["pat"], "airflow_users": ["7"]},
                                   {"name": "attorney", "logins": ["lee", "pat"]}])  # pat is listed twice
    policy = RetentionPolicy(bound, today=TODAY + timedelta(days=1))
    pid = disposition.plan(store, bound, policy=policy, save=True)[0]["plan_id"]
    pat_in_airflow = {"id": "7", "name": "pat"}
    assert disposition.airflow_approver(policy, pat_in_airflow) == "clerk"
    disposition.approve(store, bound, pid, approver="clerk", policy=policy, via="airflow", acted_by="airflow:7",
                        airflow={"responded_by": pat_in_airflow})
    disposition.approve(store, bound, pid, approver="attorney", policy=policy, acted_by="login:pat")
    q = disposition.quorum(store, pid, sha(pid), policy)
    assert not q.met and [a["approver"] for a in q.approvals] == ["clerk"]
    assert any("same person" in why and "'clerk'" in why for why in q.ignored), q.ignored
    with pytest.raises(disposition.DispositionRefused, match="1 of 2"):
        disposition.execute(store, bound, pid, policy=policy)
    with pytest.raises(disposition.DispositionError, match="is not approver 'attorney'"):  # Airflow user 7 is clerk
        disposition.approve(store, bound, pid, approver="attorney", policy=policy, via="airflow",
                            acted_by="airflow:7", airflow={"responded_by": pat_in_airflow})
    disposition.approve(store, bound, pid, approver="attorney", policy=policy, acted_by="login:lee")
    assert disposition.quorum(store, pid, sha(pid), policy).met


def test_two_person_rule_finds_the_pair_that_counting_in_time_order_misses(env, tmp_path):
    """Clerk approved by Pat, clerk again by Kim, then attorney by Pat: Kim (as clerk) and Pat (as attorney)
    are two approvers and two people, so the rule is met, though counting in time order stops at one."""
    city, store, _, _ = env
    two = city_config(city.archive, accounts_of(city), schedule=city.retention.schedule, two_person_rule=True,
                      approvers=[{"name": "clerk", "logins": ["pat", "kim"]},
                                 {"name": "attorney", "logins": ["lee", "pat"]}])
    policy = RetentionPolicy(two, today=TODAY)
    pid = disposition.plan(store, two, policy=policy, save=True)[0]["plan_id"]
    sha = hashlib.sha256(disposition.load_plan(store, pid)[2]).hexdigest()
    disposition.approve(store, two, pid, approver="clerk", policy=policy, acted_by="login:pat")
    disposition.approve(store, two, pid, approver="clerk", policy=policy, acted_by="login:kim")
    disposition.approve(store, two, pid, approver="attorney", policy=policy, acted_by="login:pat")
    q = disposition.quorum(store, pid, sha, policy)
    assert q.met and q.describe() == "2 of 2 approval(s) (attorney, clerk)"
    assert sorted(a["acted_by"] for a in q.approvals) == ["login:kim", "login:pat"]
    assert disposition.execute(store, two, pid, policy=policy).destroyed


def test_an_approver_bound_to_logins_approves_only_from_them(env, tmp_path):
    city, store, _, _ = env
    bound = city_config(city.archive, accounts_of(city), schedule=city.retention.schedule,
                        approvers=[{"name": "clerk", "logins": ["pat"]}, "attorney"])
    policy = RetentionPolicy(bound, today=TODAY)
    pid = disposition.plan(store, bound, policy=policy, save=True)[0]["plan_id"]
    with pytest.raises(disposition.DispositionError, match="only from the login"):
        disposition.approve(store, bound, pid, approver="clerk", policy=policy, acted_by="login:mallory")
    assert list(store.list(f"{disposition.APPROVALS}{pid}/")) == []
    # An approval object written by hand under another login does not count either.
    _, approval = disposition.approve(store, bound, pid, approver="clerk", policy=policy, acted_by="login:pat")
    forged = {**approval, "acted_by": "login:mallory"}
    store.put_bytes(f"{disposition.APPROVALS}{pid}/20990101T000000000000Z-clerk-approve.json",
                    json.dumps(forged).encode())
    sha = hashlib.sha256(disposition.load_plan(store, pid)[2]).hexdigest()
    q = disposition.quorum(store, pid, sha, policy)
    assert q.met and [a["acted_by"] for a in q.approvals] == ["login:pat"]
    assert any("only from the login" in why for why in q.ignored)
    # Names without logins stay open to any login, and Airflow users are not logins.
    disposition.approve(store, bound, pid, approver="attorney", policy=policy, acted_by="login:anyone")
    disposition.approve(store, bound, pid, approver="clerk", policy=policy, via="airflow", acted_by="airflow:clerk")


def test_approvals_recorded_before_acted_by_count_by_their_login():
    old_cli = {"via": "cli", "recorded_by": "pat@clerk-pc", "approver": "clerk"}
    old_airflow = {"via": "airflow", "approver": "lee", "airflow": {"responded_by": {"id": "lee", "name": "Lee"}}}
    assert disposition.acted_by(old_cli) == "login:pat"
    assert disposition.acted_by(old_airflow) == "airflow:lee"
    assert disposition.acted_by({**old_cli, "acted_by": "login:x"}) == "login:x"


def test_approval_binds_the_plan_bytes(env):
    city, store, policy, _ = env
    doc, _, key = disposition.plan(store, city, policy=policy, save=True)
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)
    # Someone swaps the plan object for one listing more objects: the approval no longer counts.
    path = store.local_path(key)
    os.chmod(path, 0o644)
    tampered = json.loads(open(path).read())
    tampered["objects"].append(dict(tampered["objects"][0], key="records/account=x/other.parquet"))
    open(path, "w").write(json.dumps(tampered))
    with pytest.raises(disposition.DispositionRefused, match="different plan bytes"):
        disposition.execute(store, city, doc["plan_id"], policy=policy)


def test_changed_object_is_not_destroyed(env):
    city, store, _, _ = env
    late = RetentionPolicy(city, today=date(2028, 1, 1))
    doc, _, _ = disposition.plan(store, city, policy=late, save=True)
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=late)
    victim = next(o["key"] for o in doc["objects"] if o["kind"] == "warc")
    path = store.local_path(victim)
    os.chmod(path, 0o644)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 1
    open(path, "wb").write(bytes(data))
    result = disposition.execute(store, city, doc["plan_id"], policy=late)
    kept = {o["key"]: o["reason"] for o in result.not_destroyed}
    assert "no longer matches" in kept[victim] and store.exists(victim)


def test_damaged_records_file_stops_execution(env):
    city, store, policy, _ = env
    doc, _, _ = disposition.plan(store, city, policy=policy, save=True)
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)
    victim = next(k for k in store.list("records/"))
    path = store.local_path(victim)
    os.chmod(path, 0o644)
    data = bytearray(open(path, "rb").read())
    data[-20] ^= 1  # inside the Parquet footer
    open(path, "wb").write(bytes(data))
    before = sorted(store.list(""))
    with pytest.raises(recordscan.UnreadableRecords, match="run civic-archive verify"):
        disposition.execute(store, city, doc["plan_id"], policy=policy)
    assert sorted(store.list("")) == before


def test_quarantined_evidence_is_never_purged(env):
    city, store, _, _ = env
    late = RetentionPolicy(city, today=date(2028, 1, 1))
    doc, analysis, _ = disposition.plan(store, city, policy=late)
    warc = next(o["key"] for o in doc["objects"] if o["kind"] == "warc")
    store.put_bytes("quarantine/manual.20260101T000000000000Z.abcdef/000000.json",
                    json.dumps({"reason": "test", "warc_file": warc}).encode())
    doc2, analysis2, _ = disposition.plan(store, city, policy=late)
    assert warc not in {o["key"] for o in doc2["objects"]}
    assert any("quarantined" in r for r in analysis2.warcs[warc].reasons)


def test_interrupted_execution_is_reported_then_completed(env):
    city, store, policy, _ = env
    doc, _, _ = disposition.plan(store, city, policy=policy, save=True)
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)

    class CrashingStore(LocalStore):
        """A real local store whose process 'dies' after the second deletion."""
        deletions = 0

        def delete(self, key):
            if CrashingStore.deletions == 2:
                raise KeyboardInterrupt("power cut")
            CrashingStore.deletions += 1
            super().delete(key)

    crashing = CrashingStore(store.root)
    with pytest.raises(KeyboardInterrupt):
        disposition.execute(crashing, city, doc["plan_id"], policy=policy)
    report = verify(store)
    assert not report.ok
    assert any("interrupted disposition" in why for _, why in report.failures)
    # a new plan for approval waits for it (else it would purge around the unlogged destructions)
    with pytest.raises(disposition.DispositionError, match=f"execute {doc['plan_id']}"):
        disposition.plan(store, city, policy=policy, save=True)
    result = disposition.execute(store, city, doc["plan_id"], policy=policy)
    notes = [o for o in result.entry.doc["objects"] if o.get("note")]
    assert len(notes) == 2
    assert verify(store).ok
    assert disposition.unfinished(store) == []


def test_tampered_log_is_detected(env):
    city, store, _, _ = env
    # three batches, one per account, so the log has entries to tamper with
    for n, account in enumerate(["parks-facebook", "mayor-facebook", "city-x"]):
        policy = RetentionPolicy(city, today=TODAY)
        doc, _, _ = disposition.plan(store, city, policy=policy, save=True, accounts=[account])
        disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)
        disposition.execute(store, city, doc["plan_id"], policy=policy)
    assert auditlog.check(store).ok and len(auditlog.read_entries(store)) == 3
    assert main(["audit", "log", "--verify", "--archive", store.uri]) == 0
    saved = {k: open(store.local_path(k), "rb").read() for k in store.list("disposition/")}
    pristine = {k: v for k, v in saved.items() if k.startswith("disposition/log/")}

    def restore():
        for k in list(store.list("disposition/")):
            p = store.local_path(k)
            os.chmod(p, 0o644)
            os.unlink(p)
        for k, data in saved.items():
            store.put_bytes(k, data)

    def rewrite(key, data):
        p = store.local_path(key)
        os.chmod(p, 0o644)
        open(p, "wb").write(data)

    k1, k2, k3 = sorted(pristine)
    cases = {
        "changed": lambda: rewrite(k1, pristine[k1].replace(b'"records": ', b'"records":  ', 1)),
        "removed": lambda: os.unlink(store.local_path(k2)),
        "reordered": lambda: (rewrite(k1, pristine[k2]), rewrite(k2, pristine[k1])),
        "inserted": lambda: (os.unlink(store.local_path(k3)), store.put_bytes(
            k3, json.dumps(dict(json.loads(pristine[k2]), sequence=3)).encode()),
            store.put_bytes("disposition/log/00000004.json", pristine[k3])),
        # the newest entry and its certificate both removed: the log alone cannot tell (its head hash, printed
        # by every check, must be noted outside the archive), but verify can
        "head removed": lambda: (os.unlink(store.local_path(k3)),
                                 os.unlink(store.local_path(auditlog.certificate_key(3)))),
    }
    for name, damage in cases.items():
        damage()
        assert not auditlog.check(store).ok or name == "head removed", name
        assert main(["audit", "log", "--verify", "--archive", store.uri]) == (0 if name == "head removed" else 1), name
        # verify catches every case, including a removed head: its objects are then missing without a log entry
        assert not verify(store, deep=False).ok, name
        restore()
        assert auditlog.check(store).ok, name


def test_cli_plan_approve_execute_log_report(env, capsys, tmp_path):
    city, store, _, config_path = env
    args = ["--config", str(config_path)]
    assert main(["disposition", "plan", *args, "--save"]) == 0
    out = capsys.readouterr().out
    plan_id = out.split()[2]
    assert "saved as disposition/plans/" in out
    assert main(["disposition", "execute", plan_id, *args]) == 1
    assert "not approved" in capsys.readouterr().err
    assert main(["disposition", "approve", plan_id, *args, "--approver", "clerk"]) == 0
    assert "ready to execute" in capsys.readouterr().out
    assert main(["disposition", "execute", plan_id, *args]) == 0
    assert "logged as disposition log entry 1" in capsys.readouterr().out
    assert main(["disposition", "log", "--archive", store.uri]) == 0
    assert "approved by clerk" in capsys.readouterr().out
    assert main(["audit", "certificate", "1", "--archive", store.uri]) == 0
    certificate = capsys.readouterr().out
    assert "Certificate of records destruction No. 1" in certificate
    from civic_archive import identity

    assert f"via cli as login:{identity.login_name()}" in certificate  # who recorded the approval
    out_html = tmp_path / "report.html"
    assert main(["audit", "report", *args, "--out", str(out_html)]) == 0
    page = out_html.read_text()
    assert "<svg" in page and "Disposition log" in page and "TEST POSTS" in page
    assert f"(login:{identity.login_name()})" in page
    assert main(["verify", "--archive", store.uri]) == 0
    capsys.readouterr()
    assert main(["disposition", "plan", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plan"]["plan_id"]


def test_plan_cache_gives_the_same_answer(env):
    city, store, policy, _ = env
    cold, _, _ = disposition.plan(store, city, policy=policy, cache=True)
    warm, analysis, _ = disposition.plan(store, city, policy=policy, cache=True)
    uncached, _, _ = disposition.plan(store, city, policy=policy, cache=False)
    assert analysis.from_cache == analysis.totals["records_files"] > 0
    assert cold["objects"] == warm["objects"] == uncached["objects"]
    # a disposed-of key drops out of the cached summaries
    disposition.save_plan(store, cold)
    disposition.approve(store, city, cold["plan_id"], approver="clerk", policy=policy)
    disposition.execute(store, city, cold["plan_id"], policy=policy)
    after, analysis2, _ = disposition.plan(store, city, policy=policy, cache=True)
    assert not {o["key"] for o in after["objects"]} & {o["key"] for o in cold["objects"]}
    assert analysis2.totals["records_files"] == len(recordscan.records_keys(store))


def test_harvest_after_a_purge_copes_with_disposed_of_records(tmp_path, monkeypatch):
    """Items whose records were lawfully destroyed and that later disappear from the platform must not crash
    the next harvest."""
    from civic_archive.demo import demo_config
    from civic_archive.fakes import FakePlatforms, World
    from civic_archive.harvest import harvest_account

    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", "")
    root = tmp_path / "archive"
    with FakePlatforms(World.demo()) as fakes:
        demo = demo_config(fakes, f"file://{root}")
        city = city_config(f"file://{root}", accounts_of(demo), schedule=write_schedule(tmp_path))
        store = LocalStore(root)
        for account in city.accounts:
            assert harvest_account(city, account, store).ok
        late = RetentionPolicy(city, today=date(2028, 1, 1))
        doc, _, _ = disposition.plan(store, city, policy=late, save=True)
        disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=late)
        assert disposition.execute(store, city, doc["plan_id"], policy=late).destroyed
        fakes.world.next_night()  # deletes and hides items, some of whose records are gone now
        results = [harvest_account(city, account, store) for account in city.accounts]
    assert all(r.ok for r in results), [r.errors for r in results]
    assert any("disposed of under the schedule" in n for r in results for n in r.notes)
    assert verify(store).ok


def test_a_logged_destruction_its_plan_does_not_list_fails_the_log(env):
    """A log entry reusing an earlier entry's plan and approvals (their hashes still match) for objects that
    plan never listed verified (found by an audit). Every destroyed object must be in the plan, with its
    SHA-256, and every approval must approve that plan."""
    city, store, policy, _ = env
    doc, _, _ = disposition.plan(store, city, policy=policy, save=True)
    disposition.approve(store, city, doc["plan_id"], approver="clerk", policy=policy)
    disposition.execute(store, city, doc["plan_id"], policy=policy)
    assert auditlog.check(store).ok and verify(store, deep=False).ok
    first = auditlog.read_entries(store)[0].doc
    planned = {o["key"] for o in doc["objects"]}
    victim = next(k for k in store.list("warc/") if k not in planned)
    body = {k: v for k, v in first.items() if k not in ("sequence", "previous")}
    body["objects"] = [{**first["objects"][0], "key": victim, "kind": "warc",
                        "sha256": hashlib.sha256(store.read_bytes(victim)).hexdigest()}]
    entry = auditlog.append(store, body)
    problems = dict(auditlog.check(store).problems)
    assert f"destroyed {victim}, which its plan {doc['plan_id']} does not list" in problems[entry.key]
    assert not verify(store, deep=False).ok


def test_a_posts_media_take_its_series(tmp_path):
    """A post's photos and a video's thumbnail are part of it: a rule naming `media` but not `video` filed a
    YouTube video under one series (here none) and its thumbnail under another, purgeable (found by an
    audit)."""
    harvest_with_schedule(tmp_path / "archive", tmp_path, nights=1,
                          mapping=[{"series": "TEST POSTS", "kinds": ["post", "media"]}])
    rows = all_rows(LocalStore(tmp_path / "archive"))
    series = {(r["account_id"], r["platform_id"]): r["series_code"] for r in rows if r["kind"] in ("post", "video")}
    media = [r for r in rows if r["kind"] == "media" and (r["account_id"], r["parent_platform_id"]) in series]
    kinds = {r["kind"] for r in rows if r["kind"] in ("post", "video") and (r["account_id"], r["platform_id"]) in
             {(m["account_id"], m["parent_platform_id"]) for m in media}}
    assert kinds == {"post", "video"}  # both cases are exercised
    for m in media:
        assert m["series_code"] == series[(m["account_id"], m["parent_platform_id"])], m["platform_id"]
    assert any(m["series_code"] is None for m in media)  # a video's thumbnail, like its video, unclassified


def test_a_thread_hold_keeps_old_comments_of_a_thread_matched_in_a_later_month(tmp_path, monkeypatch):
    """A hold with `threads` that matches a recent comment keeps the old post it answers and the post's old
    comments, though they are eligible and in another month's records files than the match (which the plan
    did not read before: it looked for a hold's matches only in the months of the candidates)."""
    from civic_archive.demo import demo_config
    from civic_archive.fakes import FakePlatforms, World
    from civic_archive.harvest import harvest_account

    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "archive"
    with FakePlatforms(World.demo()) as fakes:
        world = fakes.world
        post = world.add_post("parks-facebook", "Fall leaf drop-off site", created=world.now - 100 * 86400)
        old = world.add_comment(post, "Where is the site exactly?", created=world.now - 90 * 86400)
        world.add_comment(post, "Still open for the season? (asked in November)")
        demo = demo_config(fakes, f"file://{root}")
        city = city_config(f"file://{root}", [a for a in accounts_of(demo) if a["id"] == "parks-facebook"],
                           schedule=write_schedule(tmp_path))
        store = LocalStore(root)
        assert harvest_account(city, city.accounts[0], store).ok
    policy = RetentionPolicy(city, today=TODAY)
    rows = {r["platform_id"]: r for r in all_rows(store)}
    old_keys = {rows[post]["_key"], rows[old]["_key"]}
    doc, _, _ = disposition.plan(store, city, policy=policy)
    assert old_keys <= {o["key"] for o in doc["objects"]}, "the old post and comment are eligible without a hold"
    plain = holds.place(store, scope={"query": "asked in November"}, reason="request", placed_by="clerk")
    doc, _, _ = disposition.plan(store, city, policy=policy)
    assert old_keys <= {o["key"] for o in doc["objects"]}, "a hold on the recent comment alone does not reach them"
    holds.release(store, plain.hold.hold_id, released_by="clerk", reason="replaced")
    placed = holds.place(store, scope={"query": "asked in November", "threads": True}, reason="request",
                         placed_by="clerk")
    assert old_keys <= set(placed.locked)
    doc, analysis, _ = disposition.plan(store, city, policy=policy)
    assert not old_keys & {o["key"] for o in doc["objects"]}
    for key in old_keys:
        assert analysis.records[key].held_by == [placed.hold.hold_id]
