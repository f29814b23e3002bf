"""Shared builders for the retention / hold / disposition tests (no tests of its own).

- `write_schedule`: a small synthetic schedule file (valid against retention-schedule.schema.json). The shipped
  schedules verify almost nothing, so purges are exercised under synthetic series; a test elsewhere shows the
  shipped ones purge nothing.
- `city_doc` / `city_config`: a city config with a `retention` section (mapping, confirmations, approvers).
- `SyntheticArchive`: writes real archive runs (valid WARC/1.1 files, records Parquet with the record schema,
  hash-chained manifests) straight to a store, with chosen creation dates, series and WARC sharing, so a test
  controls exactly which records share which files.
"""
from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from civic_archive import SOFTWARE, config as cfg, manifest, records
from civic_archive.retention import partition_value
from civic_archive.storage import ArchiveStore
from civic_archive.warc import WarcFile

SCHEDULE_HEAD = {
    "jurisdiction": "MO",
    "title": "Synthetic test schedule (not law)",
    "retrieved": "2026-01-01",
    "authority": {"statutes": ["Test statute 1.1"], "board": "Test board",
                  "sources": [{"title": "Test source", "url": "https://example.org/law"}]},
    "schedule_sources": [{"title": "Test schedule", "url": "https://example.org/schedule"}],
}


def series_def(code: str, *, days: int | None = None, years: int | None = None, trigger: str = "creation",
               verified: bool = True, retention: dict | None = None, disposition: str = "destroy",
               applies_to=("any",)) -> dict[str, Any]:
    if retention is None:
        retention = {"period": {"days": days}} if days is not None else {"period": {"years": years or 1}}
    return {"code": code, "title": f"Test series {code}", "description": f"Synthetic series {code}.",
            "applies_to": list(applies_to), "retention": retention, "trigger": trigger,
            "disposition": disposition, "sources": [{"title": f"Test schedule row {code}",
                                                     "url": "https://example.org/schedule", "section": code}],
            "verified": verified, "verification_note": "synthetic test series"}


DEFAULT_SERIES = [
    series_def("TEST POSTS", days=30, applies_to=("post", "media")),
    series_def("TEST COMMENTS", days=60, trigger="not_verified", applies_to=("comment", "reply")),
    series_def("TEST PERM", retention={"permanent": True}, disposition="review"),
    series_def("UNVERIFIED-test-thing", retention={"not_verified": True}, trigger="not_verified",
               disposition="review", verified=False),
]


def write_schedule(directory: Path, series: list[dict] | None = None, jurisdiction: str = "MO") -> Path:
    path = Path(directory) / f"schedule-{secrets.token_hex(3)}.yaml"
    doc = {**SCHEDULE_HEAD, "jurisdiction": jurisdiction, "series": series or DEFAULT_SERIES}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def city_doc(archive: str, accounts: list[dict], *, schedule: Path | None, mapping=None, confirmations=None,
             approvers=("clerk", "attorney"), two_person_rule: bool = False, jurisdiction: str = "MO",
             city: str = "City of Example (test)") -> dict[str, Any]:
    retention: dict[str, Any] = {"approvers": list(approvers), "two_person_rule": two_person_rule}
    if schedule is not None:
        retention["schedule"] = str(schedule)
    retention["mapping"] = list(mapping if mapping is not None else [
        {"series": "TEST POSTS", "kinds": ["post", "media", "video"]},
        {"series": "TEST COMMENTS", "kinds": ["comment", "reply"]},
    ])
    retention["confirmations"] = list(confirmations if confirmations is not None else [
        {"series": "TEST POSTS", "confirmed_by": "Pat Clerk, City Clerk", "confirmed_on": "2026-01-02"},
        {"series": "TEST COMMENTS", "confirmed_by": "Pat Clerk, City Clerk", "confirmed_on": "2026-01-02",
         "clock_start": "creation"},
    ])
    return {"city": city, "jurisdiction": jurisdiction, "archive": archive, "accounts": accounts,
            "retention": retention}


def accounts_of(config: cfg.CityConfig) -> list[dict]:
    return [{"id": a.id, "platform": a.platform, "handle": a.handle, "credentials": a.credentials,
             "api_base_url": a.api_base_url, "role": a.role} for a in config.accounts]


def city_config(*args, path: Path | None = None, **kwargs) -> cfg.CityConfig:
    doc = city_doc(*args, **kwargs)
    if path is not None:
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return cfg.load(path)
    return cfg.parse(doc)


SIMPLE_ACCOUNTS = [{"id": "parks-facebook", "platform": "facebook", "handle": "1001", "credentials": "env:T1"},
                   {"id": "mayor-x", "platform": "x", "handle": "mayor", "credentials": "env:T2",
                    "role": "elected_official"}]


# -- synthetic archives ---------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One record version to archive: which account, kind, series, when created, its text."""
    account: str
    kind: str
    series: str | None
    created: datetime
    platform_id: str
    text: str = "hello"
    version: int = 1
    status: str = "live"
    eligible_on: str | None = None


@dataclass
class SyntheticArchive:
    store: ArchiveStore
    jurisdiction: str = "MO"
    clock: datetime = field(default_factory=lambda: datetime(2026, 1, 5, tzinfo=timezone.utc))
    runs: list[str] = field(default_factory=list)

    def run(self, account: str, items: list[Item], *, warc_files: int = 1, retain_until: datetime | None = None,
            evidence_from: dict[str, Any] | None = None) -> dict[str, Any]:
        """Commit one run of `account`: items spread over `warc_files` WARC files (round robin), records
        partitioned like the harvest does. `evidence_from` maps platform_id -> an earlier row whose WARC
        pointer a row reuses (as `removed` rows do). Returns {rows, warcs, records_keys, run_id}."""
        self.clock += timedelta(minutes=7)
        run_id = manifest.new_run_id(account, self.clock)
        tmp = tempfile.mkdtemp(prefix="synthetic-run-", dir=self.store.spool_dir())
        warcs = []
        for n in range(warc_files):
            key = f"warc/{account}/{self.clock:%Y}/{self.clock:%m}/{run_id}-{n}.warc.gz"
            warcs.append(WarcFile(os.path.join(tmp, f"w{n}.warc.gz"), key,
                                  {"software": SOFTWARE, "run-id": run_id, "isPartOf": account}))
        rows = []
        for i, item in enumerate(items):
            prior = (evidence_from or {}).get(item.platform_id)
            if prior is not None:
                ref = records.WarcRef(prior["warc_file"], prior["warc_offset"], prior["warc_length"],
                                      prior["warc_record_id"])
            else:
                ref = warcs[i % warc_files].write_resource(uri=f"https://example.org/{item.platform_id}",
                                                          when=self.clock, payload=item.text.encode(),
                                                          content_type="text/plain")
            obj = records.Item(kind=item.kind, platform_id=item.platform_id, created_at=item.created,
                               raw={"id": item.platform_id, "message": item.text}, ref=ref, text=item.text,
                               author_name="Resident")
            row = records.to_row(obj, account_id=account, platform="facebook", version=item.version,
                                 status=item.status, captured_at=self.clock, run_id=run_id,
                                 jurisdiction=self.jurisdiction, series_code=item.series,
                                 retention_period=None, evidence=ref)
            row["eligible_on"] = item.eligible_on
            rows.append(row)
        committed = []
        for w in warcs:
            w.close()
            committed.append((self.store.put_file(w.key, w.path, retain_until=retain_until), "warc", w.records))
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in rows:
            groups.setdefault((partition_value(row["series_code"]), row["created_at"][:7]), []).append(row)
        records_keys, summaries = [], {}
        for n, ((series, month), group) in enumerate(sorted(groups.items())):
            path = os.path.join(tmp, f"r{n}.parquet")
            key = f"records/account={account}/series={series}/created={month}/{run_id}-{n}.parquet"
            table = records.rows_to_table(group)
            summaries[key] = records.write_parquet(table, path, {"civic_archive.run_id": run_id})
            committed.append((self.store.put_file(key, path, retain_until=retain_until), "records", len(group)))
            records_keys.append(key)
        previous = manifest.chain_head(self.store, account)
        doc = manifest.build(run_id=run_id, objects=committed, previous=previous, started_at=self.clock,
                             finished_at=self.clock, extra={"account": account}, summaries=summaries)
        manifest.commit(self.store, doc)
        self.runs.append(run_id)
        return {"rows": rows, "warcs": [w.key for w in warcs], "records_keys": records_keys, "run_id": run_id}


def day(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=timezone.utc)


def all_rows(store: ArchiveStore) -> list[dict]:
    out = []
    for key in store.list("records/"):
        for row in records.read_table(store, key).to_pylist():
            row["_key"] = key
            out.append(row)
    return out
