"""The S3 Object Lock retain-until date of each object a harvest run writes.

An object is locked until the latest disposition eligibility of the records it holds, so the storage itself
refuses an early purge, yet disposition can purge it once the schedule allows (the disposition identity never
bypasses a lock). Where any record's eligibility is unknown (unverified or unconfirmed series, permanent
records) the object gets no date here and the store's default lock applies
(`CIVIC_ARCHIVE_DEFAULT_RETAIN_DAYS`, 3650 days unless set); retention can be extended later, never shortened.

- records file: the latest `eligible_on` of its rows;
- WARC file: the latest `eligible_on` of every row of the run that points at it (`warc_file` or
  `media_warc_file`); none when a quarantined document names it (quarantine is kept, never scheduled);
- everything else (state, quarantine, report): the default.

Records already eligible when archived (a backfill of old posts) are locked for a day (`MINIMUM`): S3 refuses a
retain-until in the past, and the storage should still hold a fresh object while its run settles.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Iterable

import pyarrow.parquet as pq

from civic_archive.retention import object_retain_until

UNKNOWN = None
MINIMUM = timedelta(days=1)


def lock_dates(pending: Iterable) -> dict[str, datetime | None]:
    """Retain-until per key of a run's spooled objects (`Pending`: key, path, kind), for `ArchiveRun.commit`
    once its last WARC file is closed; None where the store's default lock applies."""
    floor = datetime.now(timezone.utc) + MINIMUM
    return {key: max(lock, floor) if lock is not None else None for key, lock in _locks(pending).items()}


def _locks(pending: Iterable) -> dict[str, datetime | None]:
    pending = list(pending)
    by_warc: dict[str, list[date | None]] = {}
    locks: dict[str, datetime | None] = {}
    for p in pending:
        if p.kind == "records":
            table = pq.read_table(p.path, columns=["eligible_on", "warc_file", "media_warc_file"])
            eligible = table["eligible_on"].to_pylist()
            locks[p.key] = object_retain_until(eligible)
            for column in ("warc_file", "media_warc_file"):
                for warc, when in zip(table[column].to_pylist(), eligible):
                    if warc:
                        by_warc.setdefault(warc, []).append(when)
        elif p.kind == "quarantine":
            with open(p.path, "rb") as fh:
                warc = json.load(fh).get("warc_file")
            if warc:
                by_warc.setdefault(warc, []).append(UNKNOWN)
    for p in pending:
        if p.kind == "warc":
            dates = by_warc.get(p.key)
            locks[p.key] = object_retain_until(dates) if dates else UNKNOWN
    return locks
