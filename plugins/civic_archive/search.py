"""Finding the records responsive to a request: DuckDB over the records Parquet dataset.

An *item* (post, comment, reply, media; identified by account, kind and platform id) is responsive when
any of its versions matches every criterion given:

- `accounts`: the row's account id is one of them;
- `since` / `until`: the item's creation date (UTC, inclusive) lies in the range;
- `query`: the text or the author's name contains the query, case-insensitively.

With `threads`, each responsive item brings the whole thread it is part of (`civic_archive.threads`: its
post or video and everything under it, in any month), so a query that matches a post also finds the
comments under it.

The result holds **every version** of each responsive item (all versions of an item share a records
partition, so only the pruned partitions are read), each row with the item's latest status and its
moderation timeline (JSON: version, status, captured_at, removed_detected_at per version).

Hidden, removed and deleted content is left out unless `include_removed`: then items whose latest status is
hidden/removed/deleted are dropped, and so are the hidden/removed/deleted versions of items that are live
again (their moderation history is itself not-yet-public moderation data), and the photos and videos of an
item whose latest status is hidden/removed/deleted, whatever their own rows say.

Holds placed for a request use the same criteria (`holds.Hold`), whose matching is wider (a day either side,
raw JSON searched too), so a request's hold always covers at least what this search returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from civic_archive import recordscan, threads
from civic_archive.records import COLUMNS
from civic_archive.storage import ArchiveStore

MODERATED = ("hidden", "removed", "deleted")


@dataclass
class Criteria:
    accounts: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    query: str | None = None
    include_removed: bool = False
    threads: bool = False  # with each responsive item, the whole thread it is part of (`civic_archive.threads`)

    def __post_init__(self):
        if isinstance(self.since, str):
            self.since = date.fromisoformat(self.since)
        if isinstance(self.until, str):
            self.until = date.fromisoformat(self.until)
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")
        self.accounts = sorted(set(self.accounts or []))
        self.query = (self.query or "").strip() or None

    def as_dict(self) -> dict[str, Any]:
        out = {"accounts": self.accounts, "since": self.since.isoformat() if self.since else None,
               "until": self.until.isoformat() if self.until else None, "query": self.query,
               "include_removed": self.include_removed}
        if self.threads:  # only when asked: requests recorded before the option compare equal without it
            out["threads"] = True
        return out

    def months(self) -> tuple[str, str] | None:
        if not self.since and not self.until:
            return None
        return (self.since.strftime("%Y-%m") if self.since else "0000-00",
                self.until.strftime("%Y-%m") if self.until else "9999-99")


def candidate_keys(store: ArchiveStore, criteria: Criteria, keys: list[str] | None = None) -> list[str]:
    keys = recordscan.records_keys(store) if keys is None else keys
    # a thread's comments can be written in any later month: with threads, every month of the accounts
    months = None if criteria.threads else criteria.months()
    return sorted(recordscan.prune_keys(keys, accounts=criteria.accounts or None, months=months))


def _where(criteria: Criteria) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    if criteria.accounts:
        clauses.append("list_contains($accounts, account_id)")
        params["accounts"] = criteria.accounts
    day = "(epoch_us(created_at) // 86400000000)"
    if criteria.since:
        clauses.append(f"{day} >= $lo")
        params["lo"] = recordscan.day_number(criteria.since)
    if criteria.until:
        clauses.append(f"{day} <= $hi")
        params["hi"] = recordscan.day_number(criteria.until)
    if criteria.query:
        clauses.append("(strpos(lower(coalesce(text, '')), $q) > 0 OR strpos(lower(coalesce(author_name, '')), $q) > 0)")
        params["q"] = criteria.query.lower()
    return (" AND ".join(clauses) or "TRUE"), params


def find(store: ArchiveStore, criteria: Criteria, *, keys: list[str] | None = None,
         files: recordscan.LocalFiles | None = None) -> pa.Table:
    """Every version of every responsive item (and of the media attached to one), ordered by account, creation
    time, item and version, with the extra columns `key` (records object), `item_status` (latest status) and
    `moderation_timeline` (JSON)."""
    scanned = candidate_keys(store, criteria, keys)
    if not scanned:
        return None
    where, params = _where(criteria)
    # A photo goes with what it is attached to: hidden with a hidden comment even where its own rows still say
    # live (a comment left out of the listing once hidden takes its photo out of sight with it).
    hide = "" if criteria.include_removed else """
        WHERE v.item_status NOT IN ('hidden', 'removed', 'deleted') AND v.status NOT IN ('hidden', 'removed', 'deleted')
          AND NOT (v.kind = 'media' AND EXISTS (
              SELECT 1 FROM rows p WHERE p.account_id = v.account_id AND p.kind <> 'media'
                AND p.platform_id = v.parent_platform_id
              GROUP BY p.kind, p.platform_id
              HAVING last(p.status ORDER BY p.version) IN ('hidden', 'removed', 'deleted')))"""
    cols = ", ".join(f"v.{c}" for c in COLUMNS)
    if criteria.threads:  # the whole thread of each matched item (its photos and videos are in it)
        hits = f"""{threads.closure("matched", "rows")},
        hits AS (SELECT DISTINCT r.account_id, r.kind, r.platform_id FROM rows r
                 SEMI JOIN thread t ON r.account_id = t.account_id AND r.platform_id = t.platform_id),"""
    else:  # and the photos and videos attached to a matched item: they carry no text a query could match
        hits = """
        hits AS (SELECT * FROM matched UNION
                 SELECT DISTINCT r.account_id, r.kind, r.platform_id FROM rows r JOIN matched m
                   ON r.account_id = m.account_id AND r.parent_platform_id = m.platform_id
                 WHERE r.kind = 'media' AND m.kind <> 'media'),"""
    sql = f"""
        WITH RECURSIVE rows AS (SELECT * FROM {{rows}}),
        matched AS (SELECT DISTINCT account_id, kind, platform_id FROM rows WHERE {where}),{hits}
        versions AS (
            SELECT r.*,
                   last(r.status ORDER BY r.version) OVER w AS item_status,
                   to_json(list(struct_pack(version := r.version, status := r.status,
                                  captured_at := strftime(r.captured_at, '%Y-%m-%dT%H:%M:%S.%fZ'),
                                  removed_detected_at := strftime(r.removed_detected_at, '%Y-%m-%dT%H:%M:%S.%fZ'))
                                 ORDER BY r.version) OVER w)::VARCHAR AS moderation_timeline
            FROM rows r SEMI JOIN hits h
              ON r.account_id = h.account_id AND r.kind = h.kind AND r.platform_id = h.platform_id
            WINDOW w AS (PARTITION BY r.account_id, r.kind, r.platform_id
                         ORDER BY r.version ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
        SELECT {cols}, v.key, v.item_status, v.moderation_timeline FROM versions v {hide}
        ORDER BY v.account_id, v.created_at, v.kind, v.platform_id, v.version
    """
    return recordscan.query_rows(store, scanned, sql, params, files)


def rows(table: pa.Table | None) -> list[dict[str, Any]]:
    return table.to_pylist() if table is not None else []
