"""Legal holds: a scope of records that must not be disposed of until the hold is released.

A hold names a scope (accounts, a creation-date range, a text query, record ids: every criterion given must
match), a reason and who placed it. It is stored as a write-once archive object `holds/{hold_id}.json`; its
release is a second object `holds/{hold_id}.released.json`, so the history of a hold can never be edited
away. Records-request exports place holds through `place()` too (kind `records_request`, with the request id).

A hold covers every version of every item one of whose versions matches (an edit or a removal never slips a
record out of a hold), with the media attached to such an item (with `threads`, every item of such an item's
thread, in any month: `civic_archive.threads`), and it is evaluated again whenever a
disposition is planned or executed, so records archived after the hold was placed are covered as well. Dates
are compared with the UTC creation date and the range is widened by one day on each side: US local dates and
UTC dates differ by up to a day, and a hold must err on the side of keeping.

Every hold and release document is also entered in the holds log (`holds/log/{sequence:08d}.json`, hash-
chained like the disposition log: `civic_archive.chain`) with its SHA-256. A logged document that was changed
or deleted, or a broken log, stops every disposition until resolved (`HoldError`), and `verify` reports it.
A hold document that is not logged (a `hold add` interrupted between the two writes, or one added by hand)
is honoured, since it can only keep more; a release that is not logged is not: its hold stays active until
`hold release` is run again, which logs it. `verify` reports both.

On top of that, the objects holding covered records (records Parquet files and the WARC files evidencing
them) get the storage's own legal hold: S3 Object Lock legal holds (the server then refuses to delete them
whatever the software does), marker files in a local archive. Releasing a hold lifts an object's legal hold
only when no other active hold still covers it.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from civic_archive import SOFTWARE, identity, recordscan, schemas, threads
from civic_archive.chain import Chain, LogError
from civic_archive.storage import ArchiveStore, ObjectExists, StorageError

HOLD_SCHEMA = "hold.schema.json"
PREFIX = "holds/"
RELEASED_SUFFIX = ".released.json"
KINDS = ("litigation", "records_request", "audit", "other")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
# The holds log is kept as long as the disposition log (on S3 its entries are locked this long).
LOG = Chain(f"{PREFIX}log/", "hold-log-entry.schema.json", "the holds log", 100)


class HoldError(ValueError):
    """A hold cannot be placed, found or released."""


def hold_key(hold_id: str) -> str:
    return f"{PREFIX}{hold_id}.json"


def release_key(hold_id: str) -> str:
    return f"{PREFIX}{hold_id}{RELEASED_SUFFIX}"


def new_hold_id(now: datetime | None = None) -> str:
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"H-{now:%Y%m%d}-{secrets.token_hex(3)}"


def _rfc3339(now: datetime) -> str:
    return now.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _encode(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _who() -> dict[str, str]:
    return {"host": identity.host(), "os_user": identity.login_name()}


@dataclass(frozen=True)
class Hold:
    hold_id: str
    placed_by: str
    placed_at: str
    reason: str
    kind: str
    scope: dict[str, Any]
    request_id: str | None = None
    released: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def active(self) -> bool:
        return self.released is None

    @classmethod
    def from_doc(cls, doc: dict[str, Any], released: dict[str, Any] | None = None) -> "Hold":
        return cls(hold_id=doc["hold_id"], placed_by=doc["placed_by"], placed_at=doc["placed_at"],
                   reason=doc["reason"], kind=doc["kind"], scope=doc["scope"], request_id=doc.get("request_id"),
                   released=released)

    def describe(self) -> str:
        parts = []
        s = self.scope
        if s.get("accounts"):
            parts.append("accounts " + ", ".join(s["accounts"]))
        if s.get("since") or s.get("until"):
            parts.append(f"created {s.get('since', '…')} to {s.get('until', '…')}")
        if s.get("query"):
            parts.append(f"text contains {s['query']!r}")
        if s.get("record_ids"):
            parts.append(f"{len(s['record_ids'])} record id(s)")
        if s.get("threads"):
            parts.append("with their whole threads")
        return "; ".join(parts)

    # -- matching -------------------------------------------------------------------------------------------
    def day_range(self) -> tuple[int | None, int | None]:
        """Inclusive UTC creation-day numbers, widened by a day on each side."""
        since = self.scope.get("since")
        until = self.scope.get("until")
        lo = recordscan.day_number(date.fromisoformat(since)) - 1 if since else None
        hi = recordscan.day_number(date.fromisoformat(until)) + 1 if until else None
        return lo, hi

    def prune(self, keys: Iterable[str]) -> list[str]:
        """The records keys whose partition (account, creation month) can hold rows this hold matches."""
        lo, hi = self.day_range()
        months = None
        if lo is not None or hi is not None:
            first = recordscan.from_day_number(lo).strftime("%Y-%m") if lo is not None else "0000-00"
            last = recordscan.from_day_number(hi).strftime("%Y-%m") if hi is not None else "9999-99"
            months = (first, last)
        return recordscan.prune_keys(keys, accounts=self.scope.get("accounts"), months=months)

    def predicate(self, n: int) -> tuple[str, dict[str, Any]]:
        """A DuckDB predicate over record rows, with its named parameters (prefixed h{n}_)."""
        p = f"h{n}_"
        clauses, params = [], {}
        s = self.scope
        if s.get("accounts"):
            clauses.append(f"list_contains(${p}accounts, account_id)")
            params[f"{p}accounts"] = list(s["accounts"])
        lo, hi = self.day_range()
        day = "(epoch_us(created_at) // 86400000000)"
        if lo is not None:
            clauses.append(f"{day} >= ${p}lo")
            params[f"{p}lo"] = lo
        if hi is not None:
            clauses.append(f"{day} <= ${p}hi")
            params[f"{p}hi"] = hi
        if s.get("query"):
            q = f"${p}q"
            clauses.append(f"(strpos(lower(coalesce(text, '')), {q}) > 0 OR strpos(lower(coalesce(author_name, '')), {q}) > 0 "
                           f"OR strpos(lower(coalesce(raw_json, '')), {q}) > 0)")
            params[f"{p}q"] = s["query"].lower()
        if s.get("record_ids"):
            clauses.append(f"list_contains(${p}ids, record_id)")
            params[f"{p}ids"] = list(s["record_ids"])
        return ("(" + " AND ".join(clauses) + ")") if clauses else "FALSE", params

    def matches_row(self, row: dict[str, Any]) -> bool:
        """The same test as `predicate`, for one row in Python (tests and single-record checks)."""
        s = self.scope
        if s.get("accounts") and row["account_id"] not in s["accounts"]:
            return False
        lo, hi = self.day_range()
        created = row["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        day = (created.astimezone(timezone.utc).date() - recordscan.EPOCH).days
        if lo is not None and day < lo or hi is not None and day > hi:
            return False
        if s.get("query"):
            q = s["query"].lower()
            if not any(q in (row.get(c) or "").lower() for c in ("text", "author_name", "raw_json")):
                return False
        if s.get("record_ids") and row["record_id"] not in s["record_ids"]:
            return False
        return True


def validate_scope(scope: dict[str, Any]) -> dict[str, Any]:
    scope = {k: v for k, v in scope.items() if v not in (None, [], (), "") and v is not False}
    if not set(scope) - {"threads"}:
        raise HoldError("a hold needs a scope: accounts, a date range (since/until), a query or record ids")
    if "threads" in scope:
        scope["threads"] = True
    for k in ("accounts", "record_ids"):
        if k in scope:
            scope[k] = sorted(set(scope[k]))
    for k in ("since", "until"):
        if k in scope:
            value = scope[k]
            scope[k] = value.isoformat() if isinstance(value, date) else str(value)
            try:
                date.fromisoformat(scope[k])
            except ValueError:
                raise HoldError(f"{k} {value!r} is not a date (YYYY-MM-DD)") from None
    if scope.get("since") and scope.get("until") and scope["since"] > scope["until"]:
        raise HoldError(f"since {scope['since']} is after until {scope['until']}")
    return scope


# -- reading --------------------------------------------------------------------------------------------------


def _log(store: ArchiveStore, action: str, hold_id: str, key: str, data: bytes, now: datetime, *,
         refuse_broken: bool = False) -> None:
    """Enter a hold or release document in the holds log. Placing a hold is never refused (a hold only keeps
    more); a release is refused while the log does not verify."""
    body = {"log_version": 1, "action": action, "hold_id": hold_id, "software": SOFTWARE,
            "document": {"key": key, "sha256": hashlib.sha256(data).hexdigest()}, "recorded_at": _rfc3339(now)}
    try:
        LOG.append(store, body, problems=(lambda: LOG.check(store).problems) if refuse_broken else (lambda: []))
    except LogError as exc:
        raise HoldError(f"{key} was written but not logged: {exc}") from None


@dataclass
class LogState:
    """What the holds log says of the documents under holds/: `problems` (key, why) that stop disposition
    (a broken log; a logged document changed or gone) and `unlogged` keys that only `verify` reports."""
    logged: dict[str, str] = field(default_factory=dict)  # document key -> SHA-256 the log recorded
    problems: list[tuple[str, str]] = field(default_factory=list)
    unlogged: list[str] = field(default_factory=list)
    head: tuple[str, str] | None = None
    hashes: dict[str, str] = field(default_factory=dict)  # log entry key -> its SHA-256


def documents(store: ArchiveStore) -> dict[str, bytes]:
    """The hold and release documents: key -> bytes."""
    return {k: store.read_bytes(k) for k in store.list(PREFIX) if _is_document(k)}


def check_log(store: ArchiveStore, docs: dict[str, bytes] | None = None) -> LogState:
    """Check the holds log against the hold and release documents (`docs`, from `documents()`: read here if
    not given)."""
    if docs is None:
        docs = documents(store)
    checked = LOG.check(store)
    state = LogState(problems=[(k, f"holds log: {why}") for k, why in checked.problems], hashes=checked.hashes)
    if checked.head is not None:
        state.head = (checked.head.key, checked.head.sha256)
    for entry in checked.entries:
        key, digest = entry.doc["document"]["key"], entry.doc["document"]["sha256"]
        state.logged[key] = digest
        data = docs.get(key)
        if data is None:
            state.problems.append((key, f"logged in {entry.key} but missing: a {entry.doc['action']} document "
                                        "was deleted"))
        elif hashlib.sha256(data).hexdigest() != digest:
            state.problems.append((key, f"differs from the SHA-256 logged in {entry.key}: the document was "
                                        "changed"))
    state.unlogged = sorted(k for k in docs if k not in state.logged)
    return state


def _is_document(key: str) -> bool:
    name = key[len(PREFIX):]
    return key.startswith(PREFIX) and name.endswith(".json") and "/" not in name


def list_holds(store: ArchiveStore, *, include_released: bool = True, docs: dict[str, bytes] | None = None,
               state: LogState | None = None) -> list[Hold]:
    """Every hold, with its release if logged. `docs` and `state` (from `documents()` and `check_log()`) spare
    a caller that has them, such as `verify`, reading the documents and the log again."""
    raw = documents(store) if docs is None else docs
    state = check_log(store, raw) if state is None else state
    if state.problems:
        shown = "; ".join(f"{k}: {why}" for k, why in state.problems[:3])
        raise HoldError(f"the archive's holds cannot be trusted ({shown}); nothing can be disposed of until this "
                        "is resolved")
    docs: dict[str, dict] = {}
    releases: dict[str, dict] = {}
    for key, data in raw.items():
        name = key[len(PREFIX):]
        if name.endswith(RELEASED_SUFFIX):
            if key in state.logged:  # an unlogged release does not release (see the module doc)
                releases[name[:-len(RELEASED_SUFFIX)]] = _read_doc(key, data, "release")
        else:
            docs[name[:-len(".json")]] = _read_doc(key, data, "hold")
    for hold_id in releases:
        if hold_id not in docs:
            raise HoldError(f"{release_key(hold_id)} releases a hold that does not exist: the archive's holds "
                            "are inconsistent; nothing can be disposed of until this is resolved")
    holds = [Hold.from_doc(doc, releases.get(hold_id)) for hold_id, doc in sorted(docs.items())]
    return [h for h in holds if include_released or h.active]


def _read_doc(key: str, data: bytes, what: str) -> dict[str, Any]:
    """A hold document, validated. An unreadable hold fails closed: it stops every disposition."""
    try:
        doc = json.loads(data)
        schemas.validate(HOLD_SCHEMA, doc)
    except (ValueError, schemas.SchemaError) as exc:
        raise HoldError(f"{key} is not a valid {what} document ({exc}); nothing can be disposed of until "
                        "it is repaired") from None
    name = key[len(PREFIX):]
    expected = name[:-len(RELEASED_SUFFIX)] if name.endswith(RELEASED_SUFFIX) else name[:-len(".json")]
    if doc["hold_id"] != expected or (what == "hold") != ("placed_by" in doc):
        raise HoldError(f"{key} holds the {what} document of {doc['hold_id']!r}: the archive's holds are "
                        "inconsistent; nothing can be disposed of until this is resolved")
    return doc


def active_holds(store: ArchiveStore) -> list[Hold]:
    return list_holds(store, include_released=False)


def get(store: ArchiveStore, hold_id: str) -> Hold:
    """One hold, as `list_holds` reads it (so an unlogged release does not count, and a holds log that does
    not verify raises)."""
    if not _ID_RE.fullmatch(hold_id or ""):
        raise HoldError(f"{hold_id!r} is not a hold id")
    for hold in list_holds(store):
        if hold.hold_id == hold_id:
            return hold
    raise HoldError(f"no hold {hold_id} in {store.uri}")


# -- what holds cover -------------------------------------------------------------------------------------------


def held_items(store: ArchiveStore, holds: list[Hold], keys: list[str],
               files: recordscan.LocalFiles | None = None) -> pa.Table | None:
    """(hold_id, account_id, kind, platform_id, key) of rows in `keys` that the holds match directly."""
    parts, params = [], {}
    for n, hold in enumerate(holds):
        pruned = set(hold.prune(keys))
        if not pruned:
            continue
        pred, p = hold.predicate(n)
        params.update(p)
        params[f"h{n}_id"] = hold.hold_id
        # (pruning by key is only a speed-up: the predicate itself tests account and creation day)
        parts.append(f"SELECT $h{n}_id AS hold_id, account_id, kind, platform_id, key FROM {{rows}} WHERE {pred}")
    if not parts:
        return None
    scanned = sorted(set().union(*(set(h.prune(keys)) for h in holds)))
    return recordscan.query_rows(store, scanned, " UNION ALL ".join(parts), params, files)


def covered_rows(store: ArchiveStore, holds: list[Hold], keys: list[str],
                 files: recordscan.LocalFiles | None = None) -> pa.Table | None:
    """Every row (all versions of every matched item, and of the media attached to one) that `holds` cover
    among `keys`: columns hold_id, key, record_id, warc_file, media_warc_file."""
    items = held_items(store, holds, keys, files)
    if items is None or items.num_rows == 0:
        return None
    groups = {recordscan.versions_group(k) for k in items.column("key").to_pylist()}
    scope = [k for k in keys if recordscan.versions_group(k) in groups]
    con = recordscan.connect()
    try:
        con.register("items_t", items.select(["hold_id", "account_id", "kind", "platform_id"]))
        distinct = con.sql("SELECT DISTINCT * FROM items_t").to_arrow_table()
    finally:
        con.close()
    own = files is None
    files = files or recordscan.LocalFiles(store)
    try:
        threaded = {h.hold_id for h in holds if h.scope.get("threads")}
        if threaded:
            distinct, more = _thread_items(store, distinct, threaded, keys, files)
            scope = sorted(set(scope) | set(more))
        return _join_items(store, scope, distinct, files)
    finally:
        if own:
            files.close()


def _thread_items(store, items: pa.Table, threaded: set[str], keys: list[str], files) -> tuple[pa.Table, list[str]]:
    """`items` (hold_id, account_id, kind, platform_id) with, for the holds in `threaded`, every item of the
    threads of their matched items (`civic_archive.threads`), looked for in every month of those accounts;
    and the records keys searched (they hold the threads' rows)."""
    out, searched = [items], set()
    for hold_id in sorted(threaded):
        mine = items.filter(pc.equal(items.column("hold_id"), hold_id))
        if mine.num_rows == 0:
            continue
        accounts = mine.column("account_id").to_pylist()
        scope = recordscan.prune_keys(keys, accounts=sorted(set(accounts)))
        searched.update(scope)
        found = recordscan.query_rows(store, scope, f"""
            WITH RECURSIVE seeds AS (SELECT unnest($accounts) AS account_id, unnest($ids) AS platform_id),
            rows AS (SELECT * FROM {{rows}}),{threads.closure("seeds", "rows")}
            SELECT DISTINCT $hold AS hold_id, r.account_id, r.kind, r.platform_id FROM rows r
              SEMI JOIN thread t ON r.account_id = t.account_id AND r.platform_id = t.platform_id""",
            {"accounts": accounts, "ids": mine.column("platform_id").to_pylist(), "hold": hold_id}, files)
        if found is not None:
            out.append(found.cast(items.schema))
    return pa.concat_tables(out), sorted(searched)


def _join_items(store, keys, items: pa.Table, files) -> pa.Table:
    con = recordscan.connect()
    try:
        con.register("items_t", items)
        con.register("keys_t", recordscan._key_table(keys))
        paths = files.paths(keys)
        # the items themselves, and the media attached to them (a photo carries no text a query could match)
        return recordscan._sql(con, """
            WITH r AS (SELECT r.*, k.key FROM {rows} r JOIN keys_t k ON k.file_index = r.file_index)
            SELECT i.hold_id, r.key, r.record_id, r.warc_file, r.media_warc_file
            FROM r JOIN items_t i ON r.account_id = i.account_id AND r.kind = i.kind AND r.platform_id = i.platform_id
            UNION
            SELECT i.hold_id, r.key, r.record_id, r.warc_file, r.media_warc_file
            FROM r JOIN items_t i ON r.account_id = i.account_id AND r.parent_platform_id = i.platform_id
            WHERE r.kind = 'media' AND i.kind <> 'media'
        """, paths)
    finally:
        con.close()


def covered_objects(store: ArchiveStore, holds: list[Hold], keys: list[str] | None = None,
                    files: recordscan.LocalFiles | None = None) -> dict[str, set[str]]:
    """Object key -> ids of the holds covering it: records files with covered rows, and the WARC files that
    evidence those rows."""
    keys = recordscan.records_keys(store) if keys is None else keys
    rows = covered_rows(store, holds, keys, files)
    out: dict[str, set[str]] = {}
    if rows is None:
        return out
    for hold_id, key, warc, media in zip(*(rows.column(c).to_pylist() for c in
                                          ("hold_id", "key", "warc_file", "media_warc_file"))):
        for k in (key, warc, media):
            if k:
                out.setdefault(k, set()).add(hold_id)
    return out


# -- placing and releasing ---------------------------------------------------------------------------------------


@dataclass
class HoldResult:
    hold: Hold
    key: str
    locked: list[str] = field(default_factory=list)
    unlocked: list[str] = field(default_factory=list)
    still_held: list[str] = field(default_factory=list)
    records: int = 0
    problems: list[str] = field(default_factory=list)


def place(store: ArchiveStore, *, scope: dict[str, Any], reason: str, placed_by: str | None = None,
          kind: str = "litigation",
          hold_id: str | None = None, request_id: str | None = None, lock_objects: bool = True,
          now: datetime | None = None) -> HoldResult:
    """Place a hold: write `holds/{hold_id}.json` first (from then on disposition honours it), then set the
    storage's legal hold on every object that holds covered records. `placed_by` defaults to the login name."""
    now = now or datetime.now(timezone.utc)
    placed_by = identity.login_name() if placed_by is None else placed_by
    if not (reason or "").strip():
        raise HoldError("a hold needs a reason")
    if not (placed_by or "").strip():
        raise HoldError("a hold needs the name of who places it")
    if kind not in KINDS:
        raise HoldError(f"hold kind must be one of {', '.join(KINDS)}")
    hold_id = hold_id or new_hold_id(now)
    if not _ID_RE.fullmatch(hold_id):
        raise HoldError(f"{hold_id!r} is not a valid hold id (letters, digits, - and _, at most 80)")
    doc = {"hold_version": 1, "hold_id": hold_id, "placed_by": placed_by.strip(), "placed_at": _rfc3339(now),
           "reason": reason.strip(), "kind": kind, "scope": validate_scope(scope), "software": SOFTWARE, **_who()}
    if request_id:
        doc["request_id"] = request_id
    schemas.validate(HOLD_SCHEMA, doc)
    key = hold_key(hold_id)
    data = _encode(doc)
    try:
        store.put_bytes(key, data, content_type="application/json")
    except ObjectExists:
        data = store.read_bytes(key)
        existing = _read_doc(key, data, "hold")
        if key in check_log(store).logged:
            raise HoldError(f"a hold {hold_id} already exists") from None
        # a `hold add` interrupted before it logged the document: this one completes it (found by an audit:
        # nothing could, and verify failed for good)
        if (existing["scope"], existing["reason"]) != (doc["scope"], doc["reason"]):
            _log(store, "place", hold_id, key, data, now)
            raise HoldError(f"a hold {hold_id} already exists, with another scope or reason (it was not in the "
                            "holds log; it is now)") from None
        doc = existing
    _log(store, "place", hold_id, key, data, now)
    hold = Hold.from_doc(doc)
    result = HoldResult(hold, key)
    if lock_objects:
        with recordscan.local_files(store) as files:
            keys = recordscan.records_keys(store)
            rows = covered_rows(store, [hold], keys, files)
        if rows is not None:
            result.records = len(set(rows.column("record_id").to_pylist()))
        objects = covered_from_rows(rows)
        for k in sorted(objects):
            try:
                store.set_legal_hold(k, True)
                result.locked.append(k)
            except StorageError as exc:  # e.g. already disposed of; the hold still applies to the records
                result.problems.append(f"{k}: {exc}")
    return result


def covered_from_rows(rows: pa.Table | None) -> set[str]:
    out: set[str] = set()
    if rows is None:
        return out
    for c in ("key", "warc_file", "media_warc_file"):
        out.update(v for v in rows.column(c).to_pylist() if v)
    return out


def release(store: ArchiveStore, hold_id: str, *, released_by: str | None = None, reason: str,
            now: datetime | None = None) -> HoldResult:
    """Release a hold: write `holds/{hold_id}.released.json`, then lift the storage legal hold from objects
    no other active hold covers. `released_by` defaults to the login name."""
    now = now or datetime.now(timezone.utc)
    released_by = identity.login_name() if released_by is None else released_by
    hold = get(store, hold_id)
    if not hold.active:
        raise HoldError(f"hold {hold_id} was already released on {hold.released['released_at']} "
                        f"by {hold.released['released_by']}")
    if not (reason or "").strip() or not (released_by or "").strip():
        raise HoldError("releasing a hold needs a reason and the name of who releases it")
    doc = {"hold_version": 1, "hold_id": hold_id, "released_by": released_by.strip(), "released_at": _rfc3339(now),
           "reason": reason.strip(), "software": SOFTWARE, **_who()}
    schemas.validate(HOLD_SCHEMA, doc)
    data = _encode(doc)
    try:
        store.put_bytes(release_key(hold_id), data, content_type="application/json")
    except ObjectExists:  # written by a release interrupted before it was logged (else `hold` is not active)
        data = store.read_bytes(release_key(hold_id))
        doc = _read_doc(release_key(hold_id), data, "release")
    _log(store, "release", hold_id, release_key(hold_id), data, now, refuse_broken=True)
    released = Hold(hold.hold_id, hold.placed_by, hold.placed_at, hold.reason, hold.kind, hold.scope,
                    hold.request_id, doc)
    result = HoldResult(released, release_key(hold_id))
    with recordscan.local_files(store) as files:
        keys = recordscan.records_keys(store)
        mine = covered_from_rows(covered_rows(store, [hold], keys, files))
        others = [h for h in active_holds(store) if h.hold_id != hold_id]
        still = covered_objects(store, others, keys, files) if others and mine else {}
    for k in sorted(mine):
        if k in still:
            result.still_held.append(k)
            continue
        try:
            if store.exists(k):
                store.set_legal_hold(k, False)
                result.unlocked.append(k)
        except StorageError as exc:
            result.problems.append(f"{k}: {exc}")
    return result


def hold_doc(hold: Hold) -> dict[str, Any]:
    out = {"hold_id": hold.hold_id, "kind": hold.kind, "placed_by": hold.placed_by, "placed_at": hold.placed_at,
           "reason": hold.reason, "scope": hold.scope, "active": hold.active}
    if hold.request_id:
        out["request_id"] = hold.request_id
    if hold.released:
        out["released"] = {k: hold.released[k] for k in ("released_by", "released_at", "reason")}
    return out


__all__ = ["Hold", "HoldError", "HoldResult", "place", "release", "list_holds", "active_holds", "get",
           "covered_objects", "covered_rows", "held_items", "hold_key", "release_key"]
