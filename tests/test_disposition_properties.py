"""Property tests (hypothesis) of the whole disposition path over random schedules, confirmations, records,
WARC sharing, holds, approvals and clock positions, on real local archives.

Whatever happens, for every object the log says was destroyed, an independent oracle written here (not the
code under test) confirms: its series was verified and confirmed (confirmation dated no later than the
execution), its retention was a period with a datable clock start and disposition destroy; no record in it
(or evidenced by it) was created less than the full period before the execution date; no active hold
covered any version of any of its items; the plan had the approvals the city's rule demands and no
rejection. And no record left in the archive points at destroyed evidence.
"""
from __future__ import annotations

import calendar
import os
import tempfile
from datetime import date, datetime, timedelta, timezone

from hypothesis import HealthCheck, event, given, settings, strategies as st

from civic_archive import auditlog, disposition, holds as holds_mod
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import LocalStore
from test_disposition_helpers import Item, SyntheticArchive, all_rows, city_config, series_def, write_schedule

ACCOUNTS = [{"id": "parks-facebook", "platform": "facebook", "handle": "1", "credentials": "env:T"},
            {"id": "mayor-x", "platform": "x", "handle": "m", "credentials": "env:T", "role": "elected_official"}]
WORDS = ["budget", "pool", "snow", "vote", "park"]
CODES = ["S 1", "S 2", "S 3"]


FLAWS = ["unverified", "review", "permanent", "event", "period_not_verified", "unconfirmed", "future_confirmation",
         "clock_conflict", "no_clock"]


@st.composite
def scenarios(draw):
    """Each series is either fully purgeable or has exactly one flaw (so every rule is exercised alone)."""
    series, confirmations = [], []
    for code in CODES:
        flaw = None if draw(st.booleans()) else draw(st.sampled_from(FLAWS))
        unit = draw(st.sampled_from(["days", "years"]))
        n = draw(st.integers(1, 300)) if unit == "days" else 1
        trigger = draw(st.sampled_from(["creation", "end_of_calendar_year", "not_verified"]))
        s = series_def(code, trigger=trigger, retention={"period": {unit: n}})
        conf = {"series": code, "confirmed_by": "Pat", "confirmed_on": "2024-01-01"}
        if trigger == "not_verified":
            conf["clock_start"] = draw(st.sampled_from(["creation", "end_of_calendar_year"]))
        elif draw(st.booleans()):
            conf["clock_start"] = trigger
        if flaw == "unverified":
            s["verified"] = False
            s["code"] = code  # (a real-looking code marked unverified)
        elif flaw == "review":
            s["disposition"] = draw(st.sampled_from(["review", "transfer_to_state_archives"]))
        elif flaw == "permanent":
            s.update(retention={"permanent": True}, disposition="review", trigger="creation")
        elif flaw == "event":
            s.update(retention={"event": "closed", "then": {"days": n}}, trigger="event")
        elif flaw == "period_not_verified":
            s.update(retention={"not_verified": True}, trigger="not_verified", disposition="review", verified=False)
        elif flaw == "future_confirmation":
            conf["confirmed_on"] = "2029-01-01"
        elif flaw == "clock_conflict" and trigger != "not_verified":
            conf["clock_start"] = "end_of_calendar_year" if trigger == "creation" else "creation"
        elif flaw == "no_clock" and trigger == "not_verified":
            del conf["clock_start"]
        series.append(s)
        if flaw != "unconfirmed":
            confirmations.append(conf)
    base = draw(st.dates(date(2024, 1, 1), date(2026, 6, 30)))  # records cluster, so files mix ages
    runs = []
    for r in range(draw(st.integers(1, 3))):
        items = []
        for i in range(draw(st.integers(1, 5))):
            items.append({"account": draw(st.sampled_from(["parks-facebook", "mayor-x"])),
                          "kind": draw(st.sampled_from(["post", "comment"])),
                          "series": draw(st.sampled_from(CODES * 3 + [None])),
                          "created": base + timedelta(days=draw(st.integers(0, 60))),
                          "text": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))),
                          "pid": f"r{r}i{i}"})
        runs.append({"items": items, "warcs": draw(st.integers(1, 2))})
    removed = draw(st.booleans())  # a later run re-archives an earlier item as removed, reusing its evidence
    hold_specs = []
    for _ in range(draw(st.integers(0, 2))):
        hold_specs.append(draw(st.fixed_dictionaries({}, optional={
            "accounts": st.lists(st.sampled_from(["parks-facebook", "mayor-x"]), min_size=1, max_size=1),
            "since": st.dates(date(2024, 1, 1), date(2026, 12, 31)).map(str),
            "query": st.sampled_from(WORDS)})))
    hold_when = draw(st.sampled_from(["before_plan", "after_approval"]))
    approvals = draw(st.one_of(st.just(["clerk", "attorney"]), st.lists(
        st.sampled_from(["clerk"] * 3 + ["attorney"] * 3 + ["mallory", "reject"]), max_size=3)))
    return {"series": series, "confirmations": confirmations, "runs": runs, "removed": removed,
            "holds": hold_specs, "hold_when": hold_when, "approvals": approvals,
            "two_person_rule": draw(st.booleans()),
            "plan_day": base + timedelta(days=draw(st.integers(0, 800))),
            "exec_delay": draw(st.integers(0, 200))}


def _add(d: date, period: dict) -> date:
    """Oracle: the exact anniversary (a missing day clamps down to the month's last day), no extra day."""
    (unit, n), = period.items()
    if unit == "days":
        return d + timedelta(days=n)
    months = n * 12 if unit == "years" else n
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _oracle_ok(row, scenario, today) -> str | None:
    """None if the oracle agrees this row could be destroyed on `today`, else why not."""
    spec = {s["code"]: s for s in scenario["series"]}.get(row["series_code"])
    if spec is None:
        return "no series"
    conf = [c for c in scenario["confirmations"] if c["series"] == row["series_code"]]
    if not spec["verified"] or spec["disposition"] != "destroy" or "period" not in spec["retention"]:
        return "series not destroyable"
    if len(conf) != 1 or conf[0]["confirmed_on"] > today.isoformat():
        return "not confirmed"
    clock = spec["trigger"] if spec["trigger"] in ("creation", "end_of_calendar_year") else conf[0].get("clock_start")
    if clock is None or (spec["trigger"] != "not_verified" and conf[0].get("clock_start") not in (None, clock)):
        return "no clock"
    created = row["created_at"].astimezone(timezone.utc).date()
    start = created if clock == "creation" else date(created.year, 12, 31)
    if _add(start, spec["retention"]["period"]) >= today:
        return "too young"
    return None


def _oracle_held(row, holds, rows):
    """Any version of the row's item matched by an active hold (dates widened by a day, case-insensitive)."""
    item = (row["account_id"], row["kind"], row["platform_id"])
    for h in holds:
        s = h.scope
        for r in rows:
            if (r["account_id"], r["kind"], r["platform_id"]) != item:
                continue
            created = r["created_at"].astimezone(timezone.utc).date()
            if s.get("accounts") and r["account_id"] not in s["accounts"]:
                continue
            if s.get("since") and created < date.fromisoformat(s["since"]) - timedelta(days=1):
                continue
            if s.get("query") and s["query"].lower() not in (r["text"] or "").lower():
                continue
            return True
    return False


@settings(max_examples=int(os.environ.get("CIVIC_ARCHIVE_PROPERTY_EXAMPLES", "80")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=scenarios())
def test_nothing_is_ever_purged_that_should_not_be(scenario):
    previous = os.environ.get("CIVIC_ARCHIVE_CACHE_DIR")
    os.environ["CIVIC_ARCHIVE_CACHE_DIR"] = ""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _check(scenario, tmp)
    finally:
        if previous is None:
            os.environ.pop("CIVIC_ARCHIVE_CACHE_DIR", None)
        else:
            os.environ["CIVIC_ARCHIVE_CACHE_DIR"] = previous


def _check(scenario, tmp):
    store = LocalStore(os.path.join(tmp, "archive"))
    schedule = write_schedule(tmp, scenario["series"])
    config = city_config(store.uri, ACCOUNTS, schedule=schedule, mapping=[],
                         approvers=[{"name": "clerk", "logins": ["clerk"]}, {"name": "attorney", "logins": ["attorney"]}],
                         confirmations=scenario["confirmations"], two_person_rule=scenario["two_person_rule"])
    arch = SyntheticArchive(store)
    first_rows = []
    for n, run in enumerate(scenario["runs"]):
        by_account: dict[str, list[Item]] = {}
        for it in run["items"]:
            created = datetime(it["created"].year, it["created"].month, it["created"].day, 15, tzinfo=timezone.utc)
            by_account.setdefault(it["account"], []).append(
                Item(it["account"], it["kind"], it["series"], created, it["pid"], text=it["text"]))
        for account, items in by_account.items():
            out = arch.run(account, items, warc_files=run["warcs"])
            first_rows += out["rows"]
    if scenario["removed"] and first_rows:
        prev = first_rows[0]
        arch.run(prev["account_id"], [Item(prev["account_id"], prev["kind"], prev["series_code"],
                                           datetime.fromisoformat(prev["created_at"].replace("Z", "+00:00")),
                                           prev["platform_id"], text=prev["text"], version=2, status="removed")],
                 evidence_from={prev["platform_id"]: prev})
    rows_before = all_rows(store)
    plan_day = scenario["plan_day"]
    today = plan_day + timedelta(days=scenario["exec_delay"])

    def place_holds():
        for spec in scenario["holds"]:
            if spec:
                holds_mod.place(store, scope=spec, reason="r", placed_by="a")

    if scenario["hold_when"] == "before_plan":
        place_holds()
    plan_policy = RetentionPolicy(config, today=plan_day)
    doc, _, _ = disposition.plan(store, config, policy=plan_policy)
    if not doc["objects"]:
        event("plan empty")
        return
    disposition.save_plan(store, doc)
    decisions = []
    for who in scenario["approvals"]:
        if who == "reject":
            disposition.approve(store, config, doc["plan_id"], approver="attorney", decision="reject",
                                policy=plan_policy, acted_by="login:attorney")
            decisions.append(("attorney", "reject"))
        elif who == "mallory":
            try:
                disposition.approve(store, config, doc["plan_id"], approver="mallory", policy=plan_policy)
                raise AssertionError("a non-approver's approval was accepted")
            except disposition.DispositionError:
                pass
        else:
            disposition.approve(store, config, doc["plan_id"], approver=who, policy=plan_policy,
                                acted_by=f"login:{who}")
            decisions.append((who, "approve"))
    if scenario["hold_when"] == "after_approval":
        place_holds()
    active = holds_mod.active_holds(store)
    try:
        disposition.execute(store, config, doc["plan_id"], policy=RetentionPolicy(config, today=today), today=today)
    except disposition.DispositionRefused:
        pass
    entries = auditlog.read_entries(store)
    destroyed = {o["key"] for e in entries for o in e.doc["objects"]}
    event("destroyed something" if destroyed else "planned, nothing destroyed")
    if not destroyed:
        return
    # approvals: quorum met, no rejection
    approvers = {w for w, d in decisions if d == "approve"}
    assert not any(d == "reject" for _, d in decisions), "destroyed despite a rejection"
    assert len(approvers) >= (2 if scenario["two_person_rule"] else 1), "destroyed without enough approvals"
    assert auditlog.check(store).ok
    for row in rows_before:
        touched = row["_key"] in destroyed or row["warc_file"] in destroyed or row["media_warc_file"] in destroyed
        if not touched:
            continue
        why = _oracle_ok(row, scenario, today)
        assert why is None, (why, row["series_code"], row["created_at"], today)
        assert not _oracle_held(row, active, rows_before), ("held record destroyed", row["platform_id"])
        if row["warc_file"] in destroyed:
            assert row["_key"] in destroyed, "a remaining row points at destroyed evidence"
    for row in all_rows(store):
        assert row["warc_file"] not in destroyed
