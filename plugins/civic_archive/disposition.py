"""Disposition in three steps: plan (a dry run), approve, execute (re-checking everything), then log.

**What may be purged.** Only whole objects: records Parquet files and WARC files. A record row is *eligible*
when its series is purgeable (on the schedule, verified, confirmed by the city, a fixed period from a datable
clock start, disposition `destroy`: see `retention`) and its eligibility date (recomputed from `created_at`
under today's schedule and confirmations, and never earlier than the `eligible_on` stored with the row) is on
or before the as-of date. A row is *held* when an active legal hold covers its item.

- A records file may be purged when every row in it is eligible and none is held, and a manifest lists it.
- A WARC file may be purged when every row that points at it (`warc_file` or `media_warc_file`, in any records
  file, including the `removed` rows of later runs) is eligible and unheld, **and** every records file holding
  such a row is purged in the same batch (or earlier): no remaining row ever points at destroyed evidence. A
  WARC file referenced by a quarantined payload is never purged, nor is one no record points at (it evidences
  captures that changed nothing; no series governs it).

Records files are partitioned by account, series and month of creation, so they become eligible together;
a WARC file holds everything one run captured, so it waits for its youngest record. `plan` reports how much
eligible evidence is kept for that reason.

**Plan** computes all this as of a date (`--as-of` previews the future) and, when saved, writes the list of
purgeable objects with their SHA-256 as `disposition/plans/{plan_id}.json`.

**Approve** writes `disposition/approvals/{plan_id}/…json` naming the approver and the plan's SHA-256. Only the
city config's `retention.approvers` count; with `two_person_rule`, two different approvers are needed; one
rejection stops the plan. The Airflow `disposition` DAG records its human-in-the-loop decisions the same way.

**Execute** re-checks everything at execution time, from the objects themselves (no cache): the approvals,
the schedule and confirmations, eligibility as of today, the holds, the WARC coupling against what will really
be purged, that each object still has the SHA-256 its manifest recorded, and that the storage shows no legal
hold or unexpired lock. It writes an intent object, deletes, and appends one entry to the disposition log
(`auditlog`) with a certificate. An object that fails any check is kept and listed as not destroyed.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable

import pyarrow as pa

from civic_archive import SOFTWARE, auditlog, holds as holds_mod, identity, recordscan
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import ArchiveStore, LocalStore, ObjectExists, ObjectMissing, StorageError

PLANS = "disposition/plans/"
APPROVALS = "disposition/approvals/"
INTENTS = "disposition/intents/"
QUARANTINE = "quarantine/"
_PLAN_ID = re.compile(r"^[0-9]{8}-[0-9a-f]{12}$")


class DispositionError(ValueError):
    """A disposition step cannot go on (the message says why)."""


class DispositionRefused(DispositionError):
    """Execution refused: missing or rejected approval, already executed, or nothing passes the re-check."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _us_text(us: int | None) -> str | None:
    if us is None:
        return None
    return _rfc3339(datetime.fromtimestamp(us / 1e6, timezone.utc))


def _encode(doc: dict) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


# -- analysis ------------------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One object's standing: purgeable (`ok`) or kept, and why."""
    key: str
    kind: str  # records | warc
    ok: bool
    reasons: list[str]
    records: int
    eligible_records: int
    series: list[str]
    accounts: list[str]
    first_created_us: int | None
    last_created_us: int | None
    eligible_on: date | None  # when every record it holds/evidences is eligible (None: never, as things stand)
    eligible_bytes: int = 0  # WARC bytes evidencing eligible records
    held_by: list[str] = field(default_factory=list)
    sha256: str | None = None
    size: int | None = None
    manifest: str | None = None


@dataclass
class Analysis:
    as_of: date
    policy: RetentionPolicy
    records: dict[str, Verdict]
    warcs: dict[str, Verdict]
    unreferenced_warcs: list[str]
    holds: list[holds_mod.Hold]
    series: list[dict[str, Any]]
    refs: dict[str, set[str]]  # WARC key -> records keys whose rows point at it
    filters: dict[str, list[str]]
    totals: dict[str, int]
    timings: dict[str, float]
    from_cache: int = 0
    summary: recordscan.SummaryResult | None = None  # what the plan saw; plan() may store it as the archive cache

    def candidates(self) -> list[Verdict]:
        return [v for v in list(self.records.values()) + list(self.warcs.values()) if v.ok]

    def kept_past_eligibility(self) -> dict[str, Any]:
        """Eligible, unheld records kept only because they share an object with records that are not eligible."""
        kept_files = [v for v in self.records.values() if not v.ok and not v.held_by and v.eligible_records]
        kept_warcs = [v for v in self.warcs.values() if not v.ok and not v.held_by and v.eligible_records]
        waits = sorted((v.eligible_on - self.as_of).days for v in kept_warcs if v.eligible_on)
        never = sum(1 for v in kept_warcs if v.eligible_on is None)
        return {
            "records_in_kept_records_files": sum(v.eligible_records for v in kept_files),
            "kept_records_files": len(kept_files),
            "records_in_kept_warc_files": sum(v.eligible_records for v in kept_warcs),
            "kept_warc_files": len(kept_warcs),
            "eligible_warc_bytes_kept": sum(v.eligible_bytes for v in kept_warcs),
            "warc_days_until_purgeable_median": waits[len(waits) // 2] if waits else None,
            "warc_days_until_purgeable_max": waits[-1] if waits else None,
            "kept_warc_files_never_purgeable_as_things_stand": never,
        }


def _series_table(policy: RetentionPolicy, codes: list[str | None]) -> pa.Table:
    statuses = [policy.status(c) for c in codes]
    return pa.table({
        "series_code": pa.array(codes, pa.string()),
        "purgeable": pa.array([s.purgeable for s in statuses], pa.bool_()),
        "why": pa.array([None if s.purgeable else "; ".join(s.reasons) for s in statuses], pa.string()),
    })


def _eligibility_table(policy: RetentionPolicy, pairs: list[tuple[str, int]]) -> pa.Table:
    codes, days, elig = [], [], []
    for code, cday in pairs:
        codes.append(code)
        days.append(cday)
        elig.append(policy.status(code).eligible_on(recordscan.from_day_number(cday)))
    return pa.table({"series_code": pa.array(codes, pa.string()), "cday": pa.array(days, pa.int32()),
                     "computed": pa.array(elig, pa.date32())})


def quarantine_refs(store: ArchiveStore) -> dict[str, str]:
    """WARC key -> the quarantine object that points at it (payloads that failed validation keep their evidence)."""
    out: dict[str, str] = {}
    for key in store.list(QUARANTINE):
        if not key.endswith(".json"):
            continue
        try:
            doc = json.loads(store.read_bytes(key))
        except (ValueError, StorageError):
            continue
        warc = doc.get("warc_file") if isinstance(doc, dict) else None
        if isinstance(warc, str) and warc:
            out.setdefault(warc, key)
    return out


def analyze(store: ArchiveStore, policy: RetentionPolicy, *, as_of: date, cache: bool = True,
            accounts: Iterable[str] | None = None, series: Iterable[str] | None = None,
            holds: list[holds_mod.Hold] | None = None, manifests: bool = True) -> Analysis:
    """Which objects could be purged as of `as_of`, and why the others are kept."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    filters = {"accounts": sorted(set(accounts or ())), "series": sorted(set(series or ()))}
    holds = holds_mod.active_holds(store) if holds is None else holds
    with recordscan.local_files(store) as files:
        summary = recordscan.summaries(store, cache=cache, files=files)
        timings["summaries"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        con = recordscan.connect()
        try:
            con.register("s", summary.table)
            codes = [r[0] for r in con.sql("SELECT DISTINCT series_code FROM s").fetchall()]
            st = _series_table(policy, codes)
            con.register("st", st)
            purgeable = [c for c, ok in zip(codes, st.column("purgeable").to_pylist()) if ok]
            pairs = con.sql("SELECT DISTINCT series_code, cday FROM s WHERE list_contains($codes, series_code)",
                            params={"codes": purgeable}).fetchall() if purgeable else []
            con.register("el", _eligibility_table(policy, pairs))
            con.execute("""
                CREATE TEMP TABLE g AS
                SELECT s.*, st.purgeable, st.why,
                       CASE WHEN st.purgeable THEN greatest(el.computed, coalesce(s.stored_eligible_on, el.computed)) END AS eff,
                       ($acc_all OR list_contains($accounts, s.account_id))
                         AND ($ser_all OR list_contains($series, s.series_code)) AS in_filter
                FROM s JOIN st ON s.series_code IS NOT DISTINCT FROM st.series_code
                LEFT JOIN el ON s.series_code = el.series_code AND s.cday = el.cday
            """, {"acc_all": not filters["accounts"], "accounts": filters["accounts"],
                  "ser_all": not filters["series"], "series": filters["series"]})
            con.execute("ALTER TABLE g ADD COLUMN ok BOOLEAN")
            con.execute("UPDATE g SET ok = coalesce(purgeable AND eff <= $as_of AND in_filter, FALSE)",
                        {"as_of": as_of})
            files_t = con.sql("""
                SELECT key, CAST(sum(n) AS BIGINT) AS n, CAST(sum(n) FILTER (WHERE ok) AS BIGINT) AS ok_n, bool_and(ok) AS all_ok,
                       min(first_created_us) AS c0, max(last_created_us) AS c1,
                       CASE WHEN bool_and(eff IS NOT NULL) THEN max(eff) END AS eff_max,
                       list(DISTINCT series_code) FILTER (WHERE series_code IS NOT NULL) AS series,
                       list(DISTINCT account_id) AS accounts,
                       list(DISTINCT why) FILTER (WHERE why IS NOT NULL) AS whys,
                       min(eff) FILTER (WHERE NOT ok AND eff IS NOT NULL AND eff > $as_of) AS next_eff,
                       bool_or(NOT in_filter) AS outside
                FROM g GROUP BY key
            """, params={"as_of": as_of}).to_arrow_table()
            timings["eligibility"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            records = _records_verdicts(files_t)
            # holds, checked in the files that can hold versions of the candidates' items (same account and
            # creation month, any series: an item's versions may be filed under different series)
            held: dict[str, set[str]] = defaultdict(set)
            if holds:
                groups = {recordscan.versions_group(k) for k, v in records.items() if v.ok}
                scope = [k for k in summary.keys if recordscan.versions_group(k) in groups]
                # a thread reaches from a hold's matches, in any month, to items in any other month of the
                # account: every records file of a thread hold's accounts (all, when it names none) is searched
                thread_keys = {k for h in holds if h.scope.get("threads")
                               for k in recordscan.prune_keys(summary.keys, accounts=h.scope.get("accounts"))}
                if scope and thread_keys:
                    scope = sorted(set(scope) | thread_keys)
                rows = holds_mod.covered_rows(store, holds, scope, files) if scope else None
                if rows is not None:
                    for hold_id, key in zip(rows.column("hold_id").to_pylist(), rows.column("key").to_pylist()):
                        held[key].add(hold_id)
                for key, ids in held.items():
                    v = records.get(key)
                    if v is not None:
                        v.held_by = sorted(ids)
                        if v.ok:
                            v.ok = False
                            v.reasons.append("under legal hold " + ", ".join(sorted(ids)))
            timings["holds"] = time.perf_counter() - t2
            t3 = time.perf_counter()
            mf = recordscan.ManifestEntries(store)
            if manifests:
                for v in records.values():
                    if v.ok:
                        _attach_manifest(v, mf)
            ok_files = pa.table({"key": pa.array([k for k, v in records.items() if v.ok], pa.string())})
            con.register("okf", ok_files)
            warc_t = con.sql("""
                WITH refs AS (
                    SELECT warc_file AS w, key, ok, n, warc_bytes, eff FROM g WHERE warc_file IS NOT NULL
                    UNION ALL
                    SELECT media_warc_file AS w, key, ok, 0 AS n, 0 AS warc_bytes, eff FROM g
                    WHERE media_warc_file IS NOT NULL AND media_warc_file IS DISTINCT FROM warc_file
                )
                SELECT w, CAST(sum(n) AS BIGINT) AS n, CAST(sum(n) FILTER (WHERE ok) AS BIGINT) AS ok_n,
                       bool_and(ok AND okf.key IS NOT NULL) AS all_ok, bool_and(ok) AS rows_ok,
                       CAST(sum(warc_bytes) FILTER (WHERE ok) AS BIGINT) AS ok_bytes,
                       CASE WHEN bool_and(eff IS NOT NULL) THEN max(eff) END AS eff_max,
                       list(DISTINCT refs.key) AS files
                FROM refs LEFT JOIN okf ON refs.key = okf.key GROUP BY w
            """).to_arrow_table()
            series_rows = _series_summary(con, policy, as_of)
        finally:
            con.close()
        timings["warc"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    present_warcs = set(k for k in store.list(recordscan.WARC_PREFIX) if k.endswith(".warc.gz"))
    quarantined = quarantine_refs(store)
    files_by_key = {k: v for k, v in records.items()}
    warcs: dict[str, Verdict] = {}
    refs: dict[str, set[str]] = {}
    for row in warc_t.to_pylist():
        key = row["w"]
        if key not in present_warcs:
            continue  # already disposed of, or a pointer to an object that is missing (verify reports it)
        refs[key] = set(row["files"])
        reasons = []
        if not row["rows_ok"]:
            reasons.append("evidences records that are not eligible")
        elif not row["all_ok"]:
            kept = sorted(f for f in row["files"] if not files_by_key.get(f) or not files_by_key[f].ok)
            reasons.append(f"evidences records whose records file is kept ({kept[0]}"
                           + (f" and {len(kept) - 1} more" if len(kept) > 1 else "") + ")")
        if key in quarantined:
            reasons.append(f"evidences a quarantined payload ({quarantined[key]})")
        held_by = sorted(set().union(*(held.get(f, set()) for f in row["files"]))) if held else []
        # it becomes purgeable when its own records and every records file pointing at it are
        dates = [row["eff_max"]] + [files_by_key[f].eligible_on if f in files_by_key else None for f in row["files"]]
        eligible_on = None if any(d is None for d in dates) or key in quarantined else max(dates)
        v = Verdict(key, "warc", not reasons, reasons, row["n"] or 0, row["ok_n"] or 0,
                    sorted({s for f in row["files"] for s in (files_by_key[f].series if f in files_by_key else [])}),
                    sorted({a for f in row["files"] for a in (files_by_key[f].accounts if f in files_by_key else [])}),
                    None, None, eligible_on, row["ok_bytes"] or 0, held_by)
        firsts = [files_by_key[f].first_created_us for f in row["files"] if f in files_by_key]
        lasts = [files_by_key[f].last_created_us for f in row["files"] if f in files_by_key]
        v.first_created_us = min(firsts) if firsts else None
        v.last_created_us = max(lasts) if lasts else None
        if v.ok and manifests:
            _attach_manifest(v, mf)
        warcs[key] = v
    unreferenced = sorted(present_warcs - set(warcs))
    timings["objects"] = time.perf_counter() - t4
    timings["total"] = time.perf_counter() - t0
    totals = {"records_files": len(records), "warc_files": len(present_warcs), "records": sum(v.records for v in records.values()),
              "summary_rows": summary.table.num_rows}
    return Analysis(as_of, policy, records, warcs, unreferenced, holds, series_rows, refs, filters, totals, timings,
                    summary.from_cache, summary)


def _records_verdicts(files_t: pa.Table) -> dict[str, Verdict]:
    out: dict[str, Verdict] = {}
    for row in files_t.to_pylist():
        reasons = []
        if not row["all_ok"]:
            if row["outside"]:
                reasons.append("outside this plan's filter")
            reasons += [f"series: {w}" for w in row["whys"] or []]
            if row["next_eff"] is not None:
                reasons.append(f"holds records not eligible before {row['next_eff'].isoformat()}")
            if not reasons:
                reasons.append("holds records that are not eligible")
        out[row["key"]] = Verdict(row["key"], "records", bool(row["all_ok"]), reasons, row["n"], row["ok_n"] or 0,
                                  row["series"] or [], row["accounts"] or [], row["c0"], row["c1"], row["eff_max"])
    return out


def _attach_manifest(v: Verdict, mf: recordscan.ManifestEntries) -> None:
    entry, mkey = mf.entry(v.key)
    if entry is None:
        v.ok = False
        v.reasons.append("not listed in any committed run manifest (an orphan, or a key outside the layout)")
        return
    v.sha256, v.size, v.manifest = entry["sha256"], entry["size"], mkey


def _series_summary(con, policy: RetentionPolicy, as_of: date) -> list[dict[str, Any]]:
    rows = con.sql("""
        SELECT series_code, CAST(sum(n) AS BIGINT) AS records, CAST(sum(n) FILTER (WHERE ok) AS BIGINT) AS eligible,
               min(eff) FILTER (WHERE eff > $as_of) AS next_eligible,
               min(first_created_us) AS c0, max(last_created_us) AS c1
        FROM g GROUP BY series_code ORDER BY series_code NULLS LAST
    """, params={"as_of": as_of}).to_arrow_table().to_pylist()
    out = []
    for r in rows:
        status = policy.status(r["series_code"])
        out.append({"series": r["series_code"], "title": status.series.title if status.series else None,
                    "purgeable": status.purgeable, "why_not": list(status.reasons), "retention": status.retention_text,
                    "records": r["records"] or 0, "eligible": r["eligible"] or 0,
                    "next_eligible": r["next_eligible"].isoformat() if r["next_eligible"] else None,
                    "created_from": _us_text(r["c0"]), "created_to": _us_text(r["c1"])})
    return out


def upcoming(store: ArchiveStore, policy: RetentionPolicy, *, as_of: date, months: int = 24,
             cache: bool = True) -> list[dict[str, Any]]:
    """Records becoming eligible per series and month over the next `months` (from the summaries; holds and
    file sharing not applied): the auditor report's forecast."""
    summary = recordscan.summaries(store, cache=cache)
    con = recordscan.connect()
    try:
        con.register("s", summary.table)
        codes = [r[0] for r in con.sql("SELECT DISTINCT series_code FROM s").fetchall()]
        purgeable = [c for c in codes if policy.status(c).purgeable]
        pairs = con.sql("SELECT DISTINCT series_code, cday FROM s WHERE list_contains($codes, series_code)",
                        params={"codes": purgeable}).fetchall() if purgeable else []
        con.register("el", _eligibility_table(policy, pairs))
        rows = con.sql("""
            SELECT s.series_code, strftime(greatest(el.computed, coalesce(s.stored_eligible_on, el.computed)), '%Y-%m') AS month,
                   CAST(sum(n) AS BIGINT) AS records
            FROM s JOIN el ON s.series_code = el.series_code AND s.cday = el.cday
            WHERE greatest(el.computed, coalesce(s.stored_eligible_on, el.computed)) > $as_of
            GROUP BY ALL ORDER BY month, series_code
        """, params={"as_of": as_of}).to_arrow_table().to_pylist()
    finally:
        con.close()
    last = f"{(as_of.year * 12 + as_of.month - 1 + months) // 12:04d}-{(as_of.month - 1 + months) % 12 + 1:02d}"
    return [r for r in rows if r["month"] <= last]


# -- plans ------------------------------------------------------------------------------------------------------------


def plan_key(plan_id: str) -> str:
    return f"{PLANS}{plan_id}.json"


def _check_plan_id(plan_id: str) -> str:
    if not _PLAN_ID.fullmatch(plan_id or ""):
        raise DispositionError(f"{plan_id!r} is not a plan id (YYYYMMDD-xxxxxxxxxxxx, as `disposition plan` prints)")
    return plan_id


def _object_doc(v: Verdict) -> dict[str, Any]:
    return {"key": v.key, "kind": v.kind, "sha256": v.sha256, "size": v.size, "records": v.records,
            "manifest": v.manifest, "series": v.series, "accounts": v.accounts,
            "created_from": _us_text(v.first_created_us), "created_to": _us_text(v.last_created_us),
            "eligible_on": v.eligible_on.isoformat() if v.eligible_on else None}


def build_plan(analysis: Analysis, *, config, store: ArchiveStore, created_by: str,
               now: datetime | None = None) -> dict[str, Any]:
    now = now or _now()
    objects = sorted((_object_doc(v) for v in analysis.candidates()), key=lambda o: (o["kind"] != "records", o["key"]))
    basis = {"as_of": analysis.as_of.isoformat(), "city": config.city, "archive": store.uri,
             "filters": analysis.filters, "objects": [(o["key"], o["sha256"]) for o in objects]}
    digest = hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()
    series_used = sorted({s for o in objects for s in o["series"]})
    return {
        "plan_version": 1,
        "plan_id": f"{analysis.as_of:%Y%m%d}-{digest[:12]}",
        "created_at": _rfc3339(now), "created_by": created_by, "as_of": analysis.as_of.isoformat(),
        "city": config.city, "jurisdiction": config.jurisdiction, "archive": store.uri,
        "schedule": analysis.policy.schedule.describe(), "filters": analysis.filters,
        "series": [analysis.policy.status(s).citation() for s in series_used],
        "objects": objects,
        "totals": {"objects": len(objects), "records_files": sum(o["kind"] == "records" for o in objects),
                   "warc_files": sum(o["kind"] == "warc" for o in objects),
                   "records": sum(o["records"] for o in objects if o["kind"] == "records"),
                   "bytes": sum(o["size"] or 0 for o in objects)},
        "holds_active": [h.hold_id for h in analysis.holds],
        "kept_past_eligibility": analysis.kept_past_eligibility(),
        "software": SOFTWARE,
    }


def save_plan(store: ArchiveStore, plan: dict[str, Any]) -> tuple[str, bool]:
    """Write the plan object (write-once); (key, True) if written now, (key, False) if already there."""
    key = plan_key(plan["plan_id"])
    if not plan["objects"]:
        raise DispositionError("the plan is empty: nothing to approve")
    try:
        store.put_bytes(key, _encode(plan), content_type="application/json")
        return key, True
    except ObjectExists:
        return key, False


def load_plan(store: ArchiveStore, plan_id: str) -> tuple[dict[str, Any], str, bytes]:
    key = plan_key(_check_plan_id(plan_id))
    try:
        data = store.read_bytes(key)
    except ObjectMissing:
        raise DispositionError(f"no saved plan {plan_id} in {store.uri} (run `disposition plan --save`)") from None
    try:
        doc = json.loads(data)
    except ValueError:
        raise DispositionError(f"{key} is not valid JSON") from None
    if doc.get("plan_id") != plan_id or doc.get("plan_version") != 1 or not isinstance(doc.get("objects"), list):
        raise DispositionError(f"{key} is not a valid plan for {plan_id}")
    return doc, key, data


def plan(store: ArchiveStore, config, *, as_of: date | None = None, policy: RetentionPolicy | None = None,
         accounts=None, series=None, save: bool = False, cache: bool = True,
         created_by: str | None = None, write_cache: bool | None = None) -> tuple[dict[str, Any], Analysis, str | None]:
    """The dry run: what is eligible as of `as_of` (default today) and why the rest is kept; with `save`, write
    the plan for approval (only for today or an earlier date: a future preview is not a proposal).

    With `write_cache` (default: `save`, the runs allowed to write to the archive), the records summaries are
    also stored in the archive as a new cache object when the newest one does not already hold exactly them
    (always with `cache=False`, which reads every file: a rebuild), so the next plan on any machine reads only
    the records files written since (see `recordscan`)."""
    policy = policy or RetentionPolicy(config)
    today = policy.today
    as_of = as_of or today
    if save and as_of > today:
        raise DispositionError(f"--as-of {as_of} is in the future: a preview cannot be saved for approval")
    if save:
        # An execution that was interrupted may have destroyed objects it never logged: it is completed
        # first, or a new plan would purge around it and the log would never account for them (found by an
        # audit: the next monthly run ended green with the interrupted purge still unlogged).
        for intent_key, plan_id in unfinished(store):
            raise DispositionError(f"the execution of plan {plan_id} was interrupted ({intent_key}) and is not "
                                   f"logged: run `civic-archive disposition execute {plan_id}` to complete and "
                                   "log it, then plan again")
    analysis = analyze(store, policy, as_of=as_of, cache=cache, accounts=accounts, series=series)
    if (save if write_cache is None else write_cache) and analysis.summary is not None:
        t0 = time.perf_counter()
        if recordscan.write_archive_cache(store, analysis.summary):
            analysis.timings["cache_write"] = time.perf_counter() - t0
    doc = build_plan(analysis, config=config, store=store, created_by=created_by or identity.user_at_host())
    key = None
    if save:
        key, _ = save_plan(store, doc)
    return doc, analysis, key


# -- approvals ----------------------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:60] or "approver"


def approve(store: ArchiveStore, config, plan_id: str, *, approver: str, decision: str = "approve",
            via: str = "cli", comment: str | None = None, airflow: dict[str, Any] | None = None,
            policy: RetentionPolicy | None = None, now: datetime | None = None,
            acted_by: str | None = None) -> tuple[str, dict[str, Any]]:
    """Record an approval (or rejection) of a saved plan by one of the configured approvers.

    `acted_by` is who gave the decision, which the two-person rule counts: the Airflow user who responded
    (`airflow:ID`, with `airflow["responded_by"]`), or by default the login the command runs as
    (`login:NAME`). It must be the approver (`binding_problem`)."""
    if decision not in ("approve", "reject"):
        raise DispositionError("decision must be approve or reject")
    policy = policy or RetentionPolicy(config)
    approver = (approver or "").strip()
    if not policy.approvers:
        raise DispositionError("the city config names no approvers (retention.approvers): nobody may approve")
    if approver not in policy.approvers:
        raise DispositionError(f"{approver!r} is not an approver in the city config (retention.approvers: "
                               f"{', '.join(policy.approvers)})")
    approval = {"approval_version": 1, "plan_id": plan_id, "approver": approver, "decision": decision,
                "via": via, "acted_by": acted_by or f"login:{identity.login_name()}"}
    if airflow:
        approval["airflow"] = airflow
    problem = binding_problem(policy, approval)
    if problem:
        raise DispositionError(problem)
    doc, key, data = load_plan(store, plan_id)
    now = now or _now()
    approval.update(plan_key=key, plan_sha256=hashlib.sha256(data).hexdigest(), decided_at=_rfc3339(now),
                    recorded_by=identity.user_at_host(), software=SOFTWARE)
    if comment:
        approval["comment"] = comment
    akey = f"{APPROVALS}{plan_id}/{now:%Y%m%dT%H%M%S%f}Z-{_slug(approver)}-{decision}.json"
    store.put_bytes(akey, _encode(approval), content_type="application/json")
    return akey, approval


def acted_by(approval: dict[str, Any]) -> str:
    """Who gave an approval (approvals written before `acted_by` was recorded: the Airflow user, or the
    login part of `recorded_by`)."""
    if approval.get("acted_by"):
        return str(approval["acted_by"])
    if approval.get("via") == "airflow":
        user = (approval.get("airflow") or {}).get("responded_by") or {}
        return f"airflow:{user.get('id') or user.get('name') or approval.get('approver')}"
    return "login:" + str(approval.get("recorded_by") or "unknown").rsplit("@", 1)[0]


def _who(approval: dict[str, Any]) -> tuple[str, set[str]]:
    """("airflow" or "login", the identifiers of who gave an approval: an Airflow user's id and user name)."""
    channel, _, name = acted_by(approval).partition(":")
    ids = {name}
    if channel == "airflow":
        user = (approval.get("airflow") or {}).get("responded_by") or {}
        ids |= {str(user[k]) for k in ("id", "name") if isinstance(user, dict) and user.get(k) not in (None, "")}
    return channel, ids


def binding_problem(policy: RetentionPolicy, approval: dict[str, Any]) -> str | None:
    """Why whoever gave `approval` cannot speak for its approver, or None. In Airflow the responding user must
    be the approver: the user name (or id) is the approver's name, or is one of its `airflow_users`. On the
    command line the login must be one of the approver's `logins`; an approver bound to no login is taken
    from any login, except under the two-person rule, where an unbound name would let one person approve as
    two (its command-line approvals then do not count)."""
    approver = approval.get("approver")
    channel, ids = _who(approval)
    if channel == "airflow":
        bound = set(policy.approver_airflow_users.get(approver, ()))
        if approver in ids or ids & bound:
            return None
        return (f"Airflow user {'/'.join(sorted(ids))} is not approver {approver!r} (not its user name, and not "
                f"among its airflow_users in retention.approvers)")
    logins = policy.approver_logins.get(approver)
    if logins:
        if ids & set(logins):
            return None
        return (f"{approver!r} approves only from the login(s) {', '.join(logins)} (retention.approvers in the "
                f"city config); this was given by login {'/'.join(sorted(ids))}")
    if policy.two_person_rule:
        return (f"{approver!r} is bound to no login: under the two-person rule a command-line approval counts "
                f"only from one of the approver's own logins (retention.approvers: {{name: {approver}, "
                "logins: [...]}); or approve in Airflow")
    return None


def airflow_approver(policy: RetentionPolicy, user: dict[str, Any] | None) -> str:
    """The approver an Airflow user is: the one listing the user (id or user name) in `airflow_users`, else
    the one named like the user name, else like the id (whatever it is, `approve` checks it)."""
    user = user or {}
    ids = [str(user[k]) for k in ("name", "id") if user.get(k) not in (None, "")]
    for name in policy.approvers:
        if set(ids) & set(policy.approver_airflow_users.get(name, ())):
            return name
    return next((i for i in ids if i in policy.approvers), ids[-1] if ids else "")


@dataclass
class Quorum:
    met: bool
    approvals: list[dict[str, Any]]  # the counted ones, each with its key and sha256
    rejections: list[dict[str, Any]]
    ignored: list[str]
    needed: int

    def describe(self) -> str:
        names = sorted({a["approver"] for a in self.approvals})
        if self.rejections:
            return "rejected by " + ", ".join(sorted({r["approver"] for r in self.rejections}))
        return f"{len(names)} of {self.needed} approval(s)" + (f" ({', '.join(names)})" if names else "")


def quorum(store: ArchiveStore, plan_id: str, plan_sha256: str, policy: RetentionPolicy) -> Quorum:
    """The approvals that count for this plan: by a configured approver, for exactly these plan bytes, each
    approver and each person (Airflow user or login) counted once, so one person cannot approve as two names."""
    needed = 2 if policy.two_person_rule else 1
    approvals, rejections, ignored = [], [], []
    ids_of: dict[str, set[str]] = {}  # approval key -> who gave it (a login, or an Airflow id and user name)
    for key in store.list(f"{APPROVALS}{plan_id}/"):
        data = store.read_bytes(key)
        try:
            doc = json.loads(data)
        except ValueError:
            ignored.append(f"{key}: not JSON")
            continue
        if doc.get("plan_id") != plan_id or doc.get("plan_sha256") != plan_sha256:
            ignored.append(f"{key}: approves different plan bytes")
            continue
        if doc.get("approver") not in policy.approvers:
            ignored.append(f"{key}: {doc.get('approver')!r} is not a configured approver")
            continue
        problem = binding_problem(policy, doc)
        if problem:
            ignored.append(f"{key}: {problem}")
            continue
        entry = {"approver": doc["approver"], "decided_at": doc["decided_at"], "via": doc.get("via", "cli"),
                 "acted_by": acted_by(doc), "key": key, "sha256": hashlib.sha256(data).hexdigest()}
        (rejections if doc.get("decision") == "reject" else approvals).append(entry)
        ids_of[key] = _who(doc)[1]
    ordered = sorted(approvals, key=lambda a: a["decided_at"])
    counted, names, people = [], set(), {}
    for a in ordered:
        ids = ids_of[a["key"]]
        if a["approver"] in names:
            continue  # the same approver again
        # A login and an Airflow user (id or user name) of the same name are taken to be one person.
        same = next((people[i] for i in ids if i in people), None)
        if same is not None:
            ignored.append(f"{a['key']}: {a['approver']!r} was approved by the same person ({a['acted_by']}) as "
                           f"{same!r}: it counts once")
            continue
        names.add(a["approver"])
        people.update(dict.fromkeys(ids, a["approver"]))
        counted.append(a)
    if len(counted) < needed == 2:
        # Counting in time order can miss a pair: clerk by Pat, clerk again by Kim, attorney by Pat counts one,
        # though Kim (as clerk) and Pat (as attorney) are two approvers and two people. The pair completed
        # first, if there is one, counts.
        pair = next(([a, b] for j, b in enumerate(ordered) for a in ordered[:j]
                     if a["approver"] != b["approver"] and not ids_of[a["key"]] & ids_of[b["key"]]), None)
        if pair:
            keys = {a["key"] for a in pair}
            ignored = [why for why in ignored if why.split(": ", 1)[0] not in keys]
            counted = pair
    return Quorum(not rejections and len(counted) >= needed, counted, rejections, ignored, needed)


# -- execution ------------------------------------------------------------------------------------------------------------


@dataclass
class ExecutionResult:
    plan_id: str
    destroyed: list[dict[str, Any]]
    not_destroyed: list[dict[str, str]]
    entry: auditlog.Entry | None
    intent_key: str | None

    def summary(self) -> str:
        lines = [f"plan {self.plan_id}: destroyed {len(self.destroyed)} object(s), kept "
                 f"{len(self.not_destroyed)} that failed the re-check"]
        if self.entry:
            lines.append(f"logged as disposition log entry {self.entry.sequence} ({self.entry.key}, "
                         f"sha256 {self.entry.sha256}); certificate {auditlog.certificate_key(self.entry.sequence)}")
        lines += [f"  kept {o['key']}: {o['reason']}" for o in self.not_destroyed]
        return "\n".join(lines)


def _method(store: ArchiveStore) -> str:
    if isinstance(store, LocalStore):
        return ("Each object was removed from the archive folder (file unlinked) after its SHA-256 was checked "
                "against its run manifest. Copies outside the archive folder (backups, snapshots) are not covered "
                "by this record.")
    return (f"Every version of each object was deleted by version id from {store.uri} after its SHA-256 was "
            "checked against its run manifest; the storage confirmed that no legal hold was set and that the "
            "Object Lock retention had expired (the software never bypasses governance retention). Replicas and "
            "backups outside this bucket are not covered by this record.")


def unfinished(store: ArchiveStore) -> list[tuple[str, str]]:
    """(intent key, plan id) of executions that started destroying and were never logged."""
    logged = {e.doc.get("plan", {}).get("plan_id") for e in auditlog.read_entries(store)}
    return [(key, intent.get("plan_id")) for key, intent in intents(store) if intent.get("plan_id") not in logged]


def executed_entries(store: ArchiveStore, plan_id: str) -> list[auditlog.Entry]:
    return [e for e in auditlog.read_entries(store) if e.doc.get("plan", {}).get("plan_id") == plan_id]


def intents(store: ArchiveStore, plan_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    prefix = f"{INTENTS}{plan_id}/" if plan_id else INTENTS
    out = []
    for key in store.list(prefix):
        try:
            out.append((key, json.loads(store.read_bytes(key))))
        except (ValueError, StorageError):
            continue
    return out


def _hash(store: ArchiveStore, key: str) -> str:
    h = hashlib.sha256()
    with store.open(key) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def execute(store: ArchiveStore, config, plan_id: str, *, executed_by: str | None = None,
            policy: RetentionPolicy | None = None, today: date | None = None) -> ExecutionResult:
    """Purge what the approved plan lists and still passes every check today; log it."""
    policy = policy or RetentionPolicy(config, today=today)
    today = today or policy.today
    executed_by = executed_by or identity.user_at_host()
    plan_doc, pkey, pdata = load_plan(store, plan_id)
    plan_sha = hashlib.sha256(pdata).hexdigest()
    if plan_doc.get("city") != config.city or plan_doc.get("jurisdiction") != config.jurisdiction:
        raise DispositionRefused(f"plan {plan_id} was made for {plan_doc.get('city')} ({plan_doc.get('jurisdiction')}), "
                                 f"not {config.city} ({config.jurisdiction})")
    done = executed_entries(store, plan_id)
    if done:
        raise DispositionRefused(f"plan {plan_id} was already executed (disposition log entry "
                                 f"{', '.join(str(e.sequence) for e in done)})")
    q = quorum(store, plan_id, plan_sha, policy)
    if not q.met:
        raise DispositionRefused(f"plan {plan_id} is not approved: {q.describe()}"
                                 + (" (two-person rule)" if policy.two_person_rule else "")
                                 + (f"; ignored: {'; '.join(q.ignored)}" if q.ignored else ""))
    started = _now()
    # Objects an interrupted earlier attempt already destroyed: listed in its intent, gone now.
    resumed: dict[str, dict] = {}
    for _key, intent in intents(store, plan_id):
        for obj in intent.get("objects", []):
            if not store.exists(obj["key"]):
                resumed[obj["key"]] = dict(obj, note="destroyed by an interrupted earlier attempt; completed now")
    holds_now = holds_mod.active_holds(store)
    fresh = analyze(store, policy, as_of=today, cache=False, accounts=plan_doc["filters"].get("accounts"),
                    series=plan_doc["filters"].get("series"), holds=holds_now)
    fresh_by_key = {v.key: v for v in list(fresh.records.values()) + list(fresh.warcs.values())}
    chosen: dict[str, dict] = {}
    not_destroyed: list[dict[str, str]] = []
    for obj in plan_doc["objects"]:
        key = obj["key"]
        if key in resumed:
            continue
        v = fresh_by_key.get(key)
        if v is None:
            not_destroyed.append({"key": key, "reason": "no longer in the archive" if not store.exists(key)
                                  else "no longer referenced by any record"})
        elif not v.ok:
            not_destroyed.append({"key": key, "reason": "; ".join(v.reasons) or "no longer eligible"})
        elif v.sha256 != obj["sha256"]:
            not_destroyed.append({"key": key, "reason": "its manifest SHA-256 differs from the approved plan's"})
        else:
            chosen[key] = {**obj, "records": v.records, "series": v.series}
    # WARC coupling against what is really purged now: no remaining row may point at destroyed evidence.
    purged_records = {k for k, o in chosen.items() if o["kind"] == "records"} | {
        k for k, o in resumed.items() if o.get("kind") == "records"}
    for key in [k for k, o in chosen.items() if o["kind"] == "warc"]:
        missing = sorted(f for f in fresh.refs.get(key, ()) if f not in purged_records and store.exists(f))
        if missing:
            del chosen[key]
            not_destroyed.append({"key": key, "reason": f"evidences records in {missing[0]}, which is not purged "
                                                        "in this batch"})
    # The objects themselves: unchanged, not held, not locked.
    verified: list[dict] = []
    for key, obj in sorted(chosen.items(), key=lambda kv: (kv[1]["kind"] != "records", kv[0])):
        try:
            lock = store.retention(key)
            if lock.legal_hold:
                not_destroyed.append({"key": key, "reason": "the storage shows a legal hold on it"})
                continue
            if lock.retain_until is not None and lock.retain_until > _now():
                not_destroyed.append({"key": key, "reason": f"locked by the storage until {_rfc3339(lock.retain_until)}"})
                continue
            digest = _hash(store, key)
        except StorageError as exc:
            not_destroyed.append({"key": key, "reason": f"cannot be checked: {exc}"})
            continue
        if digest != obj["sha256"]:
            not_destroyed.append({"key": key, "reason": "its content no longer matches the SHA-256 in its manifest "
                                                        "(run civic-archive verify)"})
            continue
        verified.append(obj)
    if not verified and not resumed:
        raise DispositionRefused(f"plan {plan_id}: nothing passes the re-check at execution; nothing was destroyed"
                                 + "".join(f"\n  kept {o['key']}: {o['reason']}" for o in not_destroyed[:20]))
    intent_key = f"{INTENTS}{plan_id}/{started:%Y%m%dT%H%M%S%f}Z.json"
    store.put_bytes(intent_key, _encode({
        "intent_version": 1, "plan_id": plan_id, "plan_sha256": plan_sha, "started_at": _rfc3339(started),
        "executed_by": executed_by, "software": SOFTWARE,
        "objects": [{k: o[k] for k in ("key", "kind", "sha256", "size", "records", "manifest", "series")}
                    for o in verified]}), content_type="application/json")
    destroyed: list[dict] = list(resumed.values())
    for obj in verified:
        try:
            store.delete(obj["key"])
        except StorageError as exc:  # the storage refuses (lock, hold): it stays, and the log says so
            not_destroyed.append({"key": obj["key"], "reason": f"refused by the storage: {exc}"})
            continue
        destroyed.append(obj)
    if not destroyed:
        raise DispositionRefused(f"plan {plan_id}: the storage refused every deletion; nothing was destroyed"
                                 + "".join(f"\n  kept {o['key']}: {o['reason']}" for o in not_destroyed[:20]))
    body = _log_body(store, config, policy, plan_doc, pkey, plan_sha, q, destroyed, not_destroyed, holds_now,
                     fresh, executed_by, started, today)
    entry = auditlog.append(store, body)
    return ExecutionResult(plan_id, destroyed, not_destroyed, entry, intent_key)


def _log_body(store, config, policy, plan_doc, pkey, plan_sha, q: Quorum, destroyed, not_destroyed, holds_now,
              fresh: Analysis, executed_by, started, today) -> dict[str, Any]:
    by_key = {**fresh.records, **fresh.warcs}
    plan_objects = {o["key"]: o for o in plan_doc["objects"]}
    records_objs = [o for o in destroyed if o["kind"] == "records"]
    per_series: dict[str, dict] = {}
    first_all, last_all = [], []
    for o in destroyed:
        src = by_key.get(o["key"])
        first = src.first_created_us if src else None
        last = src.last_created_us if src else None
        po = plan_objects.get(o["key"], {})
        first_t = _us_text(first) or po.get("created_from")
        last_t = _us_text(last) or po.get("created_to")
        if first_t:
            first_all.append(first_t)
        if last_t:
            last_all.append(last_t)
        if o["kind"] != "records":
            continue
        for code in o.get("series") or po.get("series") or []:
            s = per_series.setdefault(code, {"records": 0, "from": [], "to": []})
            s["records"] += o["records"]
            if first_t:
                s["from"].append(first_t)
            if last_t:
                s["to"].append(last_t)
    for o in destroyed:
        for code in o.get("series") or []:
            per_series.setdefault(code, {"records": 0, "from": [], "to": []})
    series_docs = []
    for code in sorted(per_series):
        status = policy.status(code)
        cit = status.citation()
        conf = status.confirmation
        info = per_series[code]
        lo = min(info["from"] or first_all or [_rfc3339(started)])
        hi = max(info["to"] or last_all or [_rfc3339(started)])
        series_docs.append({
            "code": code, "title": cit.get("title", code), "retention": cit.get("retention", ""),
            "schedule_edition": cit.get("schedule_edition"), "disposition": "destroy",
            "sources": cit.get("sources") or [{"title": "(not on the schedule)"}],
            "confirmed_by": conf.confirmed_by if conf else "(none)", "confirmed_on": conf.confirmed_on if conf else "1970-01-01",
            "records": info["records"], "date_range": {"from": lo, "to": hi}})
    completed = _now()
    return {
        "log_version": 1, "kind": "destruction", "city": config.city, "jurisdiction": config.jurisdiction,
        "archive": store.uri,
        "plan": {"plan_id": plan_doc["plan_id"], "key": pkey, "sha256": plan_sha, "as_of": plan_doc["as_of"],
                 "created_at": plan_doc["created_at"], "created_by": plan_doc["created_by"]},
        "schedule": policy.schedule.describe(),
        "series": series_docs,
        "quantity": {"records": sum(o["records"] for o in records_objs), "objects": len(destroyed),
                     "bytes": sum(o.get("size") or 0 for o in destroyed), "records_files": len(records_objs),
                     "warc_files": sum(1 for o in destroyed if o["kind"] == "warc")},
        "date_range": {"from": min(first_all) if first_all else _rfc3339(started),
                       "to": max(last_all) if last_all else _rfc3339(started)},
        "objects": [{k: v for k, v in {"key": o["key"], "kind": o["kind"], "sha256": o["sha256"],
                                       "size": o.get("size") or 0, "records": o.get("records") or 0,
                                       "manifest": o.get("manifest") or "", "series": o.get("series") or [],
                                       "note": o.get("note")}.items() if v is not None}
                    for o in sorted(destroyed, key=lambda o: (o["kind"] != "records", o["key"]))],
        "not_destroyed": sorted(not_destroyed, key=lambda o: o["key"]),
        "method": _method(store),
        "approvals": [{k: a[k] for k in ("approver", "decided_at", "via", "acted_by", "key", "sha256")}
                      for a in q.approvals],
        "two_person_rule": policy.two_person_rule,
        "holds_checked": [h.hold_id for h in holds_now],
        "executed_by": executed_by, "executed_at": _rfc3339(started), "completed_at": _rfc3339(completed),
        "eligibility_as_of": today.isoformat(), "software": SOFTWARE,
    }


# -- text output ------------------------------------------------------------------------------------------------------------


def plan_text(doc: dict[str, Any], analysis: Analysis, *, saved_key: str | None = None, limit: int = 50) -> str:
    a = analysis
    lines = [f"Disposition plan {doc['plan_id']} as of {doc['as_of']} ({'saved as ' + saved_key if saved_key else 'dry run: nothing written'})",
             f"City: {doc['city']} ({doc['jurisdiction']}); schedule {doc['schedule']['file']} "
             f"(sha256 {doc['schedule']['sha256'][:16]}…)",
             f"Archive: {doc['archive']}: {a.totals['records']:,} records in {a.totals['records_files']:,} records files, "
             f"{a.totals['warc_files']:,} WARC files"]
    if a.filters["accounts"] or a.filters["series"]:
        lines.append(f"Filters: accounts {a.filters['accounts'] or 'all'}; series {a.filters['series'] or 'all'}")
    lines.append(f"Active legal holds: {', '.join(h.hold_id for h in a.holds) or 'none'}")
    lines += ["", "By series:"]
    for s in a.series:
        state = "PURGEABLE" if s["purgeable"] else "KEPT"
        lines.append(f"  {s['series'] or '(no series)'}: {state}; {s['records']:,} records, {s['eligible']:,} eligible "
                     f"now; retention {s['retention']}"
                     + (f"; next eligible {s['next_eligible']}" if s["next_eligible"] else ""))
        for why in s["why_not"]:
            lines.append(f"      why kept: {why}")
    t = doc["totals"]
    lines += ["", f"Purgeable now: {t['objects']:,} objects ({t['records_files']:,} records files holding "
                  f"{t['records']:,} records; {t['warc_files']:,} WARC files), {t['bytes']:,} bytes"]
    for o in doc["objects"][:limit]:
        lines.append(f"  {o['kind']:<7} {o['key']}  records {o['records']}  eligible since {o['eligible_on']}  "
                     f"series {', '.join(o['series'])}")
    if len(doc["objects"]) > limit:
        lines.append(f"  … and {len(doc['objects']) - limit:,} more (--json lists all)")
    k = doc["kept_past_eligibility"]
    lines += ["", "Kept past eligibility because they share a file with records that are not eligible:",
              f"  {k['records_in_kept_records_files']:,} eligible records in {k['kept_records_files']:,} records files",
              f"  {k['records_in_kept_warc_files']:,} eligible records' evidence ({k['eligible_warc_bytes_kept']:,} WARC bytes) "
              f"in {k['kept_warc_files']:,} WARC files"
              + (f"; those files become purgeable in {k['warc_days_until_purgeable_median']} days (median), "
                 f"{k['warc_days_until_purgeable_max']} (max)" if k["warc_days_until_purgeable_max"] is not None else "")
              + (f"; {k['kept_warc_files_never_purgeable_as_things_stand']:,} never as things stand"
                 if k["kept_warc_files_never_purgeable_as_things_stand"] else ""),
              f"WARC files no record points at (kept: no series governs them): {len(a.unreferenced_warcs):,}"]
    held = [v for v in list(a.records.values()) + list(a.warcs.values()) if v.held_by]
    if held:
        lines.append(f"Kept under legal hold: {len(held):,} objects")
    if doc["objects"]:
        lines += ["", f"Next: civic-archive disposition approve {doc['plan_id']} --approver NAME --config CITY.yaml"
                  if saved_key else "Save it for approval with --save."]
    return "\n".join(lines)


__all__ = ["analyze", "plan", "build_plan", "save_plan", "load_plan", "approve", "quorum", "execute", "upcoming",
           "Analysis", "Verdict", "Quorum", "ExecutionResult", "DispositionError", "DispositionRefused",
           "plan_text", "intents", "executed_entries", "PLANS", "APPROVALS", "INTENTS"]
