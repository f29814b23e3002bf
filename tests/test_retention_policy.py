"""Classification and eligibility: mapping (overrides, rules, defaults), the city's confirmations, date
arithmetic that is never early, removal not restarting the clock, and the shipped schedules purging nothing."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from civic_archive import config as cfg, disposition, records, retention
from civic_archive.retention import RetentionPolicy, add_duration, eligible_date, load_schedule
from civic_archive.storage import LocalStore
from test_disposition_helpers import (DEFAULT_SERIES, SIMPLE_ACCOUNTS, Item, SyntheticArchive, all_rows, city_config, day,
                                      series_def, write_schedule)

TODAY = date(2026, 11, 21)


def _acct(config, account_id):
    return config.account(account_id)


def test_existing_configs_stay_valid_and_have_no_retention():
    doc = {"city": "X", "jurisdiction": "MO", "archive": "file://a", "accounts": SIMPLE_ACCOUNTS}
    config = cfg.parse(doc)
    assert config.retention == cfg.RetentionSettings()
    policy = RetentionPolicy(config, today=TODAY)
    assert policy.approvers == () and not policy.two_person_rule


def test_unquoted_yaml_dates_and_relative_schedule_path(tmp_path):
    schedule = write_schedule(tmp_path)
    (tmp_path / "city.yaml").write_text(f"""
city: X
jurisdiction: MO
archive: file://{tmp_path}/a
accounts:
  - {{id: parks-facebook, platform: facebook, handle: "1", credentials: env:T}}
retention:
  schedule: {schedule.name}
  confirmations:
    - {{series: TEST POSTS, confirmed_by: Pat, confirmed_on: 2026-01-02}}
  approvers: [clerk]
""")
    config = cfg.load(tmp_path / "city.yaml")
    assert config.retention.confirmations[0].confirmed_on == "2026-01-02"
    assert config.retention.schedule == str(schedule)


@pytest.mark.parametrize("bad", [
    {"confirmations": [{"series": "X", "confirmed_by": "P"}]},
    {"confirmations": [{"series": "X", "confirmed_by": "P", "confirmed_on": "2026-02-30"}]},
    {"confirmations": [{"series": "X", "confirmed_by": "P", "confirmed_on": "2026-01-01", "clock_start": "posted"}]},
    {"mapping": [{"series": "X", "kinds": ["tweet"]}]},
    {"approvers": ["a", "a"]},
    {"approvers": ["a", {"name": "a", "logins": ["pat"]}]},
    {"approvers": [{"name": "a"}]},
    {"approvers": [{"name": "a", "logins": []}]},
    {"fiscal_year_end": "13-01"},
    {"two_person_rule": "yes"},
])
def test_invalid_retention_sections_are_refused(bad):
    doc = {"city": "X", "jurisdiction": "MO", "archive": "file://a", "accounts": SIMPLE_ACCOUNTS, "retention": bad}
    with pytest.raises(cfg.ConfigError, match="retention"):
        cfg.parse(doc)


def test_the_exports_chain_name_is_not_an_account_id():
    accounts = [dict(SIMPLE_ACCOUNTS[0], id="exports")]
    with pytest.raises(cfg.ConfigError, match="reserved"):
        cfg.parse({"city": "X", "jurisdiction": "MO", "archive": "file://a", "accounts": accounts})


def test_approvers_may_be_bound_to_logins():
    doc = {"city": "X", "jurisdiction": "MO", "archive": "file://a", "accounts": SIMPLE_ACCOUNTS,
           "retention": {"approvers": ["lee", {"name": "pat.example", "logins": ["pat", "pexample"]},
                                       {"name": "kim", "airflow_users": [12, "kim.k"]}]}}
    policy = RetentionPolicy(cfg.parse(doc), today=TODAY)
    assert policy.approvers == ("lee", "pat.example", "kim")
    assert policy.approver_logins == {"pat.example": ("pat", "pexample")}
    assert policy.approver_airflow_users == {"kim": ("12", "kim.k")}


def test_the_login_is_the_account_the_process_runs_as(monkeypatch):
    from civic_archive import identity

    real = identity.login_name()
    monkeypatch.setenv("USER", real + "-not")
    monkeypatch.setenv("LOGNAME", real + "-not")
    assert identity.login_name() == real  # $USER cannot make one person two


def test_mapping_order_overrides_rules_defaults(tmp_path):
    accounts = [dict(SIMPLE_ACCOUNTS[0], series={"comment": "TEST PERM"}), SIMPLE_ACCOUNTS[1]]
    config = city_config("file://a", accounts, schedule=write_schedule(tmp_path), mapping=[
        {"series": "TEST COMMENTS", "kinds": ["comment"], "roles": ["elected_official"]},
        {"series": "TEST POSTS", "kinds": ["post"]}])
    policy = RetentionPolicy(config, today=TODAY)
    parks, mayor = config.accounts
    assert policy.series_for(parks, "comment") == "TEST PERM"  # the account's own override first
    assert policy.series_for(mayor, "comment") == "TEST COMMENTS"
    assert policy.series_for(parks, "post") == "TEST POSTS"
    assert policy.series_for(parks, "reply") is None  # the synthetic schedule has no default series


def test_default_mapping_uses_the_shipped_unverified_series():
    for jurisdiction in ("MO", "MN"):
        config = cfg.parse({"city": "X", "jurisdiction": jurisdiction, "archive": "file://a",
                            "accounts": SIMPLE_ACCOUNTS})
        for account in config.accounts:
            for kind in ("post", "comment", "reply", "media", "video"):
                out = retention.classify(config, account, {"kind": kind, "created_at": "2020-01-01T00:00:00Z"})
                assert out["series_code"].startswith("UNVERIFIED-"), (jurisdiction, account.id, kind)
                assert out["eligible_on"] is None and out["retention_period"] == "not verified"
    mo = cfg.parse({"city": "X", "jurisdiction": "MO", "archive": "file://a", "accounts": SIMPLE_ACCOUNTS})
    assert retention.classify(mo, mo.account("mayor-x"), {"kind": "post", "created_at": "2020-01-01T00:00:00Z"})[
        "series_code"] == "UNVERIFIED-elected-officials-social-media"


@pytest.mark.parametrize("jurisdiction", ["MO", "MN"])
def test_shipped_schedules_purge_nothing_even_when_the_city_confirms_everything(jurisdiction):
    schedule = load_schedule(jurisdiction)
    # A city that "confirms" every series, with a clock start, and maps records to each of them in turn.
    confirmations = [{"series": code, "confirmed_by": "Pat", "confirmed_on": "2026-01-01", "clock_start": "creation"}
                     for code in schedule.series]
    purgeable = []
    for code in schedule.series:
        config = cfg.parse({"city": "X", "jurisdiction": jurisdiction, "archive": "file://a",
                            "accounts": SIMPLE_ACCOUNTS,
                            "retention": {"mapping": [{"series": code}], "confirmations": confirmations,
                                          "approvers": ["clerk"]}})
        policy = RetentionPolicy(config, today=TODAY)
        if policy.status(code).purgeable:
            purgeable.append(code)
        # without the confirmations nothing at all
        bare = cfg.parse({"city": "X", "jurisdiction": jurisdiction, "archive": "file://a",
                          "accounts": SIMPLE_ACCOUNTS, "retention": {"mapping": [{"series": code}]}})
        assert not RetentionPolicy(bare, today=TODAY).status(code).purgeable
    # Only the two verified Minnesota library series could ever run, and only once the city confirms their
    # clock start, which the schedule text read does not state. Missouri: nothing, ever.
    assert purgeable == ([] if jurisdiction == "MO" else ["LIB 01800", "LIB 01500"])
    unverified = [c for c, s in schedule.series.items() if not s.verified]
    assert all(not RetentionPolicy(cfg.parse({"city": "X", "jurisdiction": jurisdiction, "archive": "file://a",
                                              "accounts": SIMPLE_ACCOUNTS,
                                              "retention": {"confirmations": confirmations}}),
                                   today=TODAY).status(c).purgeable for c in unverified)


@pytest.mark.parametrize("jurisdiction", ["MO", "MN"])
def test_shipped_schedules_purge_nothing_on_a_harvested_archive(tmp_path, monkeypatch, jurisdiction):
    """The demo city harvested with the shipped schedule and its defaults: a plan a century ahead is empty."""
    from civic_archive.demo import demo_config
    from civic_archive.fakes import FakePlatforms, World
    from civic_archive.harvest import harvest_account

    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "archive"
    with FakePlatforms(World.demo()) as fakes:
        city = demo_config(fakes, f"file://{root}", jurisdiction=jurisdiction)
        store = LocalStore(root)
        for account in city.accounts:
            assert harvest_account(city, account, store).ok
    with_approvers = cfg.parse({"city": city.city, "jurisdiction": jurisdiction, "archive": city.archive,
                                "accounts": [{"id": a.id, "platform": a.platform, "handle": a.handle,
                                              "credentials": a.credentials} for a in city.accounts],
                                "retention": {"approvers": ["clerk"]}})
    doc, analysis, _ = disposition.plan(store, with_approvers, as_of=date(2126, 1, 1),
                                        policy=RetentionPolicy(with_approvers, today=TODAY))
    assert doc["objects"] == [] and analysis.totals["records"] > 100
    assert all(not s["purgeable"] and s["why_not"] for s in analysis.series)
    assert all(row["eligible_on"] is None for row in all_rows(store))


def test_confirmation_rules(tmp_path):
    schedule = write_schedule(tmp_path, [
        series_def("A 1", years=2, trigger="not_verified"),
        series_def("B 1", years=1, trigger="end_of_calendar_year"),
        series_def("C 1", years=1, trigger="end_of_fiscal_year"),
        series_def("D 1", retention={"event": "action completed", "then": {"years": 1}}, trigger="event"),
        series_def("E 1", retention={"until_superseded": True}, trigger="superseded"),
        series_def("F 1", days=10, disposition="transfer_to_state_archives"),
        series_def("G 1", days=10, verified=False),
        series_def("H 1", years=2, trigger="superseded"),  # "2 years after superseded", as a period
        dict(series_def("I 1", years=1), schedule_edition="Revised: 2030"),
    ])

    def status(code, conf=None, **extra):
        confs = [] if conf is False else [dict({"series": code, "confirmed_by": "Pat", "confirmed_on": "2026-01-01"},
                                              **(conf or {}))]
        config = city_config("file://a", SIMPLE_ACCOUNTS, schedule=schedule, confirmations=confs, mapping=[], **extra)
        return RetentionPolicy(config, today=TODAY).status(code)

    assert "not confirmed" in " ".join(status("B 1", False).reasons)
    assert status("B 1").purgeable and status("B 1").clock_start == "end_of_calendar_year"
    assert "disagrees" in " ".join(status("B 1", {"clock_start": "creation"}).reasons)
    assert "in the future" in " ".join(status("B 1", {"confirmed_on": "2027-01-01"}).reasons)
    assert "differs from the schedule" in " ".join(status("B 1", {"period": {"years": 3}}).reasons)
    assert status("B 1", {"period": {"years": 1}}).purgeable
    assert "not verified and the confirmation does not state it" in " ".join(status("A 1").reasons)
    assert status("A 1", {"clock_start": "creation"}).purgeable
    assert "fiscal_year_end" in " ".join(status("C 1").reasons)
    fy = cfg.parse({"city": "X", "jurisdiction": "MO", "archive": "file://a", "accounts": SIMPLE_ACCOUNTS,
                    "retention": {"schedule": str(schedule), "fiscal_year_end": "06-30",
                                  "confirmations": [{"series": "C 1", "confirmed_by": "P",
                                                     "confirmed_on": "2026-01-01"}]}})
    s = RetentionPolicy(fy, today=TODAY).status("C 1")
    assert s.purgeable and s.eligible_on("2025-06-30T10:00:00Z") == date(2026, 7, 1)
    assert s.eligible_on("2025-07-01T10:00:00Z") == date(2027, 7, 1)
    assert "cannot date" in " ".join(status("D 1").reasons)
    assert "until superseded" in " ".join(status("E 1").reasons)
    assert "not destroy" in " ".join(status("F 1").reasons)
    assert "unverified" in " ".join(status("G 1").reasons)
    assert "not on the schedule" in " ".join(status("Z 9").reasons)
    # a trigger the schedule states is never replaced by the confirmation's clock start (found by an audit)
    assert "cannot replace the schedule's" in " ".join(status("H 1", {"clock_start": "creation"}).reasons)
    assert not status("H 1", {"clock_start": "creation"}).purgeable
    # a confirmation names the edition it read: a schedule file now giving another edition needs a new one
    assert status("I 1", {"schedule_edition": "Revised: 2030"}).purgeable
    assert "confirm it again" in " ".join(status("I 1", {"schedule_edition": "Revised: March 2021"}).reasons)
    twice = city_config("file://a", SIMPLE_ACCOUNTS, schedule=schedule, mapping=[], confirmations=[
        {"series": "B 1", "confirmed_by": "P", "confirmed_on": "2026-01-01"},
        {"series": "B 1", "confirmed_by": "Q", "confirmed_on": "2026-01-02"}])
    assert "ambiguous" in " ".join(RetentionPolicy(twice, today=TODAY).status("B 1").reasons)


def test_date_arithmetic_examples():
    assert eligible_date(date(2024, 5, 3), {"years": 2}, "creation") == date(2026, 5, 4)
    assert eligible_date(date(2024, 2, 28), {"years": 1}, "creation") == date(2025, 3, 1)  # 2025-02-29 -> Mar 1
    assert eligible_date(date(2024, 12, 31), {"years": 2}, "end_of_calendar_year") == date(2027, 1, 1)
    assert eligible_date(date(2024, 1, 1), {"years": 2}, "end_of_calendar_year") == date(2027, 1, 1)
    assert add_duration(date(2025, 1, 31), {"months": 1}) == date(2025, 3, 1)
    assert add_duration(date(2025, 1, 30), {"days": 3}) == date(2025, 2, 2)
    # UTC creation date: a post at 23:30 on Dec 31 in Chicago is Jan 1 in UTC, so its clock starts a year later
    assert retention.created_date("2025-01-01T05:30:00Z") == date(2025, 1, 1)
    assert retention.created_date(datetime(2024, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-6)))) == date(2025, 1, 1)


@settings(max_examples=300, deadline=None)
@given(created=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
       unit=st.sampled_from(["years", "months", "days"]), n=st.integers(0, 30),
       clock=st.sampled_from(["creation", "end_of_calendar_year", "end_of_fiscal_year"]),
       fye=st.sampled_from(["06-30", "09-30", "12-31", "02-29", "02-28"]))
def test_eligibility_is_never_early(created, unit, n, clock, fye):
    """The eligibility date is after the creation day by at least the full period, and never earlier than
    for a record created before it (the clock is monotone)."""
    period = {unit: n}
    elig = eligible_date(created, period, clock, fye)
    floor = created + timedelta(days=1)  # the day after creation, at the earliest
    if unit == "days":
        assert elig >= floor + timedelta(days=n)
    else:
        months = n * 12 if unit == "years" else n
        y, m = divmod(created.year * 12 + created.month - 1 + months, 12)
        assert (elig.year, elig.month) >= (y, m + 1)  # the same month `months` later, or after
        assert elig > created + timedelta(days=int(months * 28))
    earlier = created - timedelta(days=1)
    if earlier >= date(1990, 1, 1):
        assert eligible_date(earlier, period, clock, fye) <= elig


def test_removed_and_edited_versions_keep_the_original_clock(tmp_path, monkeypatch):
    """The harvest copies a removed item's last row and re-classifies from created_at: same eligibility."""
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    from test_disposition import harvest_with_schedule

    root = tmp_path / "archive"
    harvest_with_schedule(root, tmp_path, nights=2)
    rows = all_rows(LocalStore(root))
    by_item: dict = {}
    for row in rows:
        by_item.setdefault((row["account_id"], row["kind"], row["platform_id"]), []).append(row)
    changed = [v for v in by_item.values() if len(v) > 1]
    assert any(r["status"] in ("removed", "deleted") for v in changed for r in v)
    assert any(r["status"] == "edited" for v in changed for r in v)
    for versions in changed:
        assert len({(r["series_code"], r["eligible_on"]) for r in versions}) == 1, versions
        assert all(r["eligible_on"] is not None for r in versions)


def test_classify_matches_the_planner(tmp_path, monkeypatch):
    """The eligibility stored at harvest (classify) and the one plan recomputes agree for every row."""
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    store = LocalStore(tmp_path / "archive")
    config = city_config(store.uri, SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))
    policy = RetentionPolicy(config, today=TODAY)
    arch = SyntheticArchive(store)
    items = []
    for d in range(0, 400, 7):
        created = day(2024, 1, 1) + timedelta(days=d, hours=d % 24)
        kind = "post" if d % 2 else "comment"
        row = {"kind": kind, "created_at": records.iso(created)}
        c = policy.classify(config.account("parks-facebook"), row)
        items.append(Item("parks-facebook", kind, c["series_code"], created, f"i{d}", eligible_on=c["eligible_on"]))
    arch.run("parks-facebook", items)
    as_of = date(2024, 9, 1)
    doc, analysis, _ = disposition.plan(store, config, policy=policy, as_of=as_of)
    eligible_rows = sum(s["eligible"] for s in analysis.series)
    assert eligible_rows == sum(1 for i in items if i.eligible_on and i.eligible_on <= as_of.isoformat())


def test_a_missing_schedule_never_stops_archiving(tmp_path, caplog):
    config = city_config("file://a", SIMPLE_ACCOUNTS, schedule=tmp_path / "no-such-schedule.yaml")
    out = retention.classify(config, config.accounts[0], {"kind": "post", "created_at": "2020-01-01T00:00:00Z"})
    assert out["series_code"] is None and out["eligible_on"] is None
    assert "schedule unavailable" in out["retention_period"]
    assert "without a retention series" in caplog.text
    with pytest.raises(retention.RetentionError):  # but disposition refuses to work without its schedule
        RetentionPolicy(config, today=TODAY)


def test_a_series_files_only_the_records_it_applies_to(tmp_path):
    """A rule or override naming a series whose `applies_to` excludes the record's kind or the account's role
    does not file that record under it: the next match does (found by an audit: a library rule without kinds
    sent comments to a series for the library's own posts, purgeable in two years)."""
    schedule = write_schedule(tmp_path, DEFAULT_SERIES + [series_def("LIB 1", years=2,
                                                                      applies_to=("post", "media", "library"))])
    accounts = [dict(SIMPLE_ACCOUNTS[0], role="library"), dict(SIMPLE_ACCOUNTS[1], series={"any": "LIB 1"})]
    config = city_config("file://a", accounts, schedule=schedule, mapping=[
        {"series": "LIB 1", "roles": ["library"]}, {"series": "TEST COMMENTS", "kinds": ["comment", "reply"]},
        {"series": "TEST POSTS"}])
    policy = RetentionPolicy(config, today=TODAY)
    library, mayor = config.accounts
    assert policy.series_for(library, "post") == "LIB 1"
    assert policy.series_for(library, "video") == "LIB 1"  # a YouTube video is the account's post
    assert policy.series_for(library, "comment") == "TEST COMMENTS"
    assert policy.series_for(mayor, "post") == "TEST POSTS"  # its override names a series for libraries
    assert policy.series_for(mayor, "comment") == "TEST COMMENTS"


def test_classify_answers_per_series_and_day_are_exact(tmp_path):
    """classify keeps its answer per (series, day of creation): every answer is what the series' status says
    for that row, rows of one day at other hours, non-UTC offsets and day boundaries included, and changing a
    returned dict does not change later answers."""
    config = city_config("file://a", SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path))
    policy = RetentionPolicy(config, today=TODAY)
    account = config.account("parks-facebook")
    for n in range(300):
        created = day(2024, 1, 1) + timedelta(hours=5 * n, minutes=n % 60)
        for kind in ("post", "comment", "media"):
            for text in (records.iso(created), created.astimezone(timezone(timedelta(hours=-5))).isoformat()):
                got = policy.classify(account, {"kind": kind, "created_at": text})
                status = policy.status(policy.series_for(account, kind))
                eligible = status.eligible_on(text) if status.purgeable else None
                assert got == {"series_code": status.code, "retention_period": status.retention_text,
                               "eligible_on": eligible.isoformat() if eligible else None}
                got["eligible_on"] = "1999-01-01"
    assert any(policy.status(policy.series_for(account, k)).purgeable for k in ("post", "comment"))
