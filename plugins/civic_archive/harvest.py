"""One harvest run of one account: walk the platform, detect changes, write WARC + Parquet, commit.

Failures are contained: an API error or an expired token ends the walk for this account, but what was
captured until then is still committed (it is evidence), removals are only inferred from a walk that
completed, and the failure goes into the run's report and the manifest summary.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from civic_archive import SOFTWARE, changes, manifest, records, retention, schemas
from civic_archive.capture import ApiKeyAuth, BearerAuth, CaptureError, QueryTokenAuth, RecordingSession
from civic_archive.config import Account, CityConfig, resolve_secret
from civic_archive.records import Item
from civic_archive.run import ArchiveRun
from civic_archive.sources import ApiError, Invalid, TokenExpired, source_class
from civic_archive.storage import ArchiveStore

log = logging.getLogger(__name__)


@dataclass
class HarvestResult:
    account: str
    run_id: str
    manifest_key: str
    counts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    quarantined: int = 0
    api_calls: int = 0
    complete: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "run_id": self.run_id, "manifest": self.manifest_key,
                "counts": dict(self.counts), "errors": self.errors, "quarantined": self.quarantined,
                "api_calls": self.api_calls, "complete": self.complete}


def make_auth(account: Account):
    token = resolve_secret(account.credentials)
    if account.platform in ("facebook", "instagram"):
        secret = resolve_secret(account.app_secret) if account.app_secret else None
        return QueryTokenAuth(token, secret)
    if account.platform == "youtube" and account.credentials.startswith("env:") and token.startswith("AIza"):
        return ApiKeyAuth(token)
    return BearerAuth(token)


def load_account_state(store: ArchiveStore, account_id: str) -> dict[tuple[str, str], changes.ItemState]:
    """Latest state per item over the account's committed runs (orphans of crashed runs are ignored)."""
    tables = []
    for run_id in manifest.committed_runs(store, account_id):
        key = f"state/{account_id}/{run_id}.parquet"
        if store.exists(key):
            tables.append(records.read_table(store, key))
    return changes.load_state(tables)


def _last_copies(store: ArchiveStore, account_id: str, wanted: set[str]) -> dict[str, dict]:
    """The last archived row of each record id in `wanted` (for items found gone: their last copy)."""
    found: dict[str, dict] = {}
    if not wanted:
        return found
    for key in store.list(f"records/account={account_id}/"):
        table = records.read_table(store, key, filters=[("record_id", "in", sorted(wanted))])
        for row in table.to_pylist():
            found[row["record_id"]] = row
    return found


def harvest_account(config: CityConfig, account: Account, store: ArchiveStore, *,
                    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                    session_options: dict[str, Any] | None = None) -> HarvestResult:
    run = ArchiveRun(store, account.id, warcinfo={
        "operator": config.operator or config.city, "city": config.city, "account": account.id,
        "platform": account.platform, "handle": account.handle, "jurisdiction": config.jurisdiction,
    }, warc_max_bytes=config.warc_max_bytes, clock=clock)
    result = HarvestResult(account.id, run.run_id, manifest.manifest_key(run.run_id))
    try:
        _harvest(config, account, store, run, result, clock, session_options or {})
        extra = {"city": config.city, "account": account.id, "platform": account.platform,
                 "summary": {**result.as_dict(), "counts": dict(result.counts)}}
        run.commit(extra)
    finally:
        run.cleanup()
    return result


def _harvest(config, account, store, run, result, clock, session_options) -> None:
    previous = load_account_state(store, account.id)
    session = RecordingSession(run.warc, make_auth(account), clock=clock, **session_options)
    source = source_class(account.platform)(account, session)
    captured_at = clock()
    seen: set[tuple[str, str]] = set()
    change_list: list[changes.Change] = []
    quarantine: list[dict] = []

    def quarantined(reason: str, payload: Any, ref) -> None:
        quarantine.append({"reason": reason, "payload": payload, "warc_file": ref and ref.warc_file,
                           "warc_offset": ref and ref.offset, "warc_record_id": ref and ref.record_id})

    try:
        for obj in source.walk():
            if isinstance(obj, Invalid):
                quarantined(obj.reason, obj.payload, obj.ref)
                continue
            key = (obj.kind, obj.platform_id)
            if key in seen:
                continue  # the same item listed twice (e.g. it moved between pages while we paged)
            seen.add(key)
            result.counts["seen"] += 1
            change = changes.compare(previous.get(key), obj)
            if change:
                change_list.append(change)
    except TokenExpired as exc:
        result.errors.append(str(exc))
    except (ApiError, CaptureError) as exc:
        result.errors.append(str(exc))
    result.complete = source.complete
    if source.complete:
        for key, st in previous.items():
            if key in seen or st.status in changes.GONE:
                continue
            try:
                exists = source.exists(st.kind, st.platform_id)
            except (ApiError, CaptureError) as exc:
                result.errors.append(f"lookup of {st.kind} {st.platform_id}: {exc}")
                exists = None
            if exists:
                continue  # still there, only missing from this listing (privacy filtering, paging)
            change_list.append(changes.gone(st, confirmed_deleted=exists is False))
    result.api_calls = session.calls

    last = _last_copies(store, account.id, {c.previous.record_id for c in change_list if c.item is None})
    rows, new_state = [], []
    for change in change_list:
        row = _row(change, config, account, run.run_id, captured_at, last)
        if row is None:
            quarantined(f"no archived copy of {change.previous.kind} {change.previous.platform_id}",
                        change.previous.__dict__, None)
            continue
        problems = schemas.fast_errors(records.RECORD_SCHEMA, row)
        if problems:
            ref = change.item.ref if change.item else None
            quarantine.append({"reason": "record does not match record.schema.json: " + "; ".join(problems[:5]),
                               "payload": row, "warc_file": row.get("warc_file"),
                               "warc_offset": row.get("warc_offset"), "warc_record_id": ref and ref.record_id})
            continue
        rows.append(row)
        result.counts[change.what] += 1
        new_state.append(changes.ItemState(
            kind=row["kind"], platform_id=row["platform_id"], parent_platform_id=row["parent_platform_id"],
            version=row["version"], status=row["status"], content_sha256=row["content_sha256"],
            record_id=row["record_id"], created_at=records._parse_ts(row["created_at"]),
            last_seen_at=captured_at, run_id=run.run_id))
    _write_records(run, account.id, rows)
    if new_state:
        path = run.spool_path("state.parquet")
        changes.write_state(new_state, path)
        run.add_file(f"state/{account.id}/{run.run_id}.parquet", path, "state", len(new_state))
    for n, item in enumerate(quarantine):
        run.add_bytes(f"quarantine/{run.run_id}/{n:06d}.json",
                      json.dumps(item, indent=1, sort_keys=True, default=str, ensure_ascii=False).encode(),
                      "quarantine", 1, content_type="application/json")
    result.quarantined = len(quarantine)
    run.add_bytes(f"manifests/{run.run_id}.report.md", report(config, account, result).encode(), "report",
                  content_type="text/markdown")


def _row(change: changes.Change, config: CityConfig, account: Account, run_id: str, captured_at: datetime,
         last: dict[str, dict]) -> dict | None:
    if change.item is not None:
        item: Item = change.item
        row = records.to_row(item, account_id=account.id, platform=account.platform, version=change.version,
                             status=change.status, captured_at=captured_at, run_id=run_id,
                             jurisdiction=config.jurisdiction)
    else:
        prev = last.get(change.previous.record_id)
        if prev is None:
            return None
        row = {k: (records.iso(v) if isinstance(v, datetime) else v) for k, v in prev.items()}
        if row.get("eligible_on") is not None:
            row["eligible_on"] = row["eligible_on"].isoformat()
        row.update(record_id=records.make_record_id(account.id, row["kind"], row["platform_id"], change.version),
                   version=change.version, status=change.status, captured_at=records.iso(captured_at),
                   removed_detected_at=records.iso(captured_at), run_id=run_id)
    row.update(retention.classify(config, account, row))
    return row


def _write_records(run: ArchiveRun, account_id: str, rows: list[dict]) -> None:
    """One Parquet file per (series, month of creation): records that become eligible together share files."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        series = retention.partition_value(row.get("series_code"))
        groups.setdefault((series, row["created_at"][:7]), []).append(row)
    for n, ((series, month), group) in enumerate(sorted(groups.items())):
        path = run.spool_path(f"records-{n}.parquet")
        records.write_parquet(records.rows_to_table(group), path, {
            "civic_archive.record_schema": records.RECORD_SCHEMA, "civic_archive.run_id": run.run_id,
            "civic_archive.software": SOFTWARE})
        run.add_file(f"records/account={account_id}/series={series}/created={month}/{run.run_id}-{n}.parquet",
                     path, "records", len(group))


def report(config: CityConfig, account: Account, result: HarvestResult) -> str:
    lines = [f"# Harvest report: {account.id}", "",
             f"- city: {config.city} ({config.jurisdiction})", f"- platform: {account.platform}, handle {account.handle}",
             f"- run: {result.run_id}", f"- software: {SOFTWARE}",
             f"- walk complete: {'yes' if result.complete else 'NO (removals not inferred this run)'}",
             f"- API calls: {result.api_calls}", "", "| change | items |", "|---|---|"]
    for what in ("new", "edited", "hidden", "unhidden", "removed", "deleted", "restored"):
        lines.append(f"| {what} | {result.counts.get(what, 0)} |")
    lines += ["", f"Items seen: {result.counts.get('seen', 0)}. Quarantined payloads: {result.quarantined}.", ""]
    lines.append("## Errors" if result.errors else "No API errors.")
    lines += [f"- {e}" for e in result.errors]
    return "\n".join(lines) + "\n"
