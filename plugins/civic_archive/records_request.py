"""Records requests: the statutory clock, and opening/closing a request (its hold on responsive records).

Deadlines (see shared reference retention-law.md §1.6, §2.5):
- MO, RSMo 610.023.3: act "as soon as possible, but in no event later than the end of the third business
  day following the date the request is received by the custodian" (longer only for reasonable cause, with a
  detailed explanation).
- MN, Minn. Stat. 13.03 subd. 2(a): "appropriate and prompt manner" / a reasonable time: no day count. For
  a request by the data subject, 13.04 subd. 3: immediately if possible, else within 10 business days (as
  agencies implement it): shown as information.

Business days skip Saturdays, Sundays and the federal legal public holidays of 5 U.S.C. 6103(a), observed
per 6103(b) (Saturday → the Friday before, Sunday → the Monday after). State holidays (e.g. Missouri's
Lincoln Day and Truman Day under RSMo 9.010, Minnesota's under Minn. Stat. 645.44) and City closure days are
NOT built in (not verified in the project's references): pass them as `closed` days. Leaving a closure out
can only make the computed deadline earlier, never later.

Opening a request (the first export) writes `exports/{request_id}/request.json` and places a hold
(`holds.place`, kind `records_request`, id `REQ-{request_id}`) with the request's criteria, so disposition
keeps every responsive record until `close()` releases it and writes `exports/{request_id}/closed.json`.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from civic_archive import SOFTWARE, holds, recordscan
from civic_archive.storage import ArchiveStore, ObjectExists, ObjectMissing

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
FEDERAL_CITATION = "5 U.S.C. 6103(a)-(b)"


class RequestError(ValueError):
    """A request id is invalid, or a request cannot be opened or closed."""


def check_id(request_id: str) -> str:
    if not _ID_RE.fullmatch(request_id or ""):
        raise RequestError(f"{request_id!r} is not a request id (letters, digits, - and _, at most 63)")
    return request_id


# -- business days ---------------------------------------------------------------------------------------------


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def _last_weekday(year: int, month: int, weekday: int) -> date:
    d = date(year, month + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    return d - timedelta(days=1) if d.weekday() == 5 else d + timedelta(days=1) if d.weekday() == 6 else d


def federal_holidays(year: int) -> dict[date, str]:
    """Observed dates of the 5 U.S.C. 6103(a) holidays falling in `year` (or observed in it)."""
    out: dict[date, str] = {}
    for y in (year - 1, year, year + 1):
        days = {
            _observed(date(y, 1, 1)): "New Year's Day",
            _nth_weekday(y, 1, 0, 3): "Birthday of Martin Luther King, Jr.",
            _nth_weekday(y, 2, 0, 3): "Washington's Birthday",
            _last_weekday(y, 5, 0): "Memorial Day",
            _observed(date(y, 7, 4)): "Independence Day",
            _nth_weekday(y, 9, 0, 1): "Labor Day",
            _nth_weekday(y, 10, 0, 2): "Columbus Day",
            _observed(date(y, 11, 11)): "Veterans Day",
            _nth_weekday(y, 11, 3, 4): "Thanksgiving Day",
            _observed(date(y, 12, 25)): "Christmas Day",
        }
        if y >= 2021:
            days[_observed(date(y, 6, 19))] = "Juneteenth National Independence Day"
        out.update({d: name for d, name in days.items() if d.year == year})
    return out


def add_business_days(start: date, n: int, closed: Iterable[date] = ()) -> tuple[date, list[str]]:
    """The n-th business day after `start`, and the non-weekend days skipped on the way (with why)."""
    closed = set(closed)
    d, counted, skipped = start, 0, []
    while counted < n:
        d += timedelta(days=1)
        if d.weekday() >= 5:
            continue
        name = federal_holidays(d.year).get(d)
        if name or d in closed:
            skipped.append(f"{d.isoformat()} {name or 'closed (given)'}")
            continue
        counted += 1
    return d, skipped


def deadline(jurisdiction: str | None, received: date | None, closed: Iterable[date] = ()) -> dict[str, Any]:
    """What the law says about when to act, computed from the date received."""
    if received is None:
        return {"jurisdiction": jurisdiction, "deadline": None,
                "rule": "no date received was given: the statutory clock cannot be computed"}
    received = date.fromisoformat(received) if isinstance(received, str) else received
    common = {"jurisdiction": jurisdiction, "received": received.isoformat(),
              "holidays_counted": f"weekends; federal holidays ({FEDERAL_CITATION}); closed days given",
              "holidays_not_counted": "state holidays (e.g. MO RSMo 9.010 Lincoln Day, Truman Day; MN Minn. Stat. "
                                      "645.44) and City closures unless given as closed days: the deadline shown "
                                      "may be earlier than the legal one, never later"}
    if jurisdiction == "MO":
        due, skipped = add_business_days(received, 3, closed)
        return {**common, "deadline": due.isoformat(), "deadline_time": "end of the business day",
                "skipped": skipped, "citation": "RSMo 610.023.3",
                "rule": "act as soon as possible, no later than the end of the third business day following the "
                        "date received (longer only for reasonable cause, with a detailed explanation to the "
                        "requester of the cause and the earliest time and date the records will be available)"}
    if jurisdiction == "MN":
        due, skipped = add_business_days(received, 10, closed)
        return {**common, "deadline": None, "citation": "Minn. Stat. 13.03 subd. 2(a); 13.04 subd. 3",
                "rule": "respond in an appropriate and prompt manner, within a reasonable time (no fixed number "
                        "of days); if the requester is the subject of the data: immediately if possible, else "
                        f"within 10 business days (by {due.isoformat()})",
                "data_subject_deadline": due.isoformat(), "skipped": skipped}
    return {**common, "deadline": None, "rule": f"no statutory clock known for jurisdiction {jurisdiction!r}"}


# -- opening and closing ---------------------------------------------------------------------------------------


def request_key(request_id: str) -> str:
    return f"exports/{check_id(request_id)}/request.json"


def closed_key(request_id: str) -> str:
    return f"exports/{check_id(request_id)}/closed.json"


def hold_id_for(request_id: str) -> str:
    return f"REQ-{check_id(request_id)}"


def _now(now: datetime | None) -> str:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _put_json(store: ArchiveStore, key: str, doc: dict[str, Any]) -> None:
    store.put_bytes(key, (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode(),
                    content_type="application/json")


def load(store: ArchiveStore, request_id: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(store.read_bytes(request_key(request_id)))
    except ObjectMissing:
        return None
    if store.exists(closed_key(request_id)):
        doc["closed"] = json.loads(store.read_bytes(closed_key(request_id)))
    return doc


def hold_scope(store: ArchiveStore, criteria: dict[str, Any], record_ids: list[str]) -> dict[str, Any]:
    """The request's hold scope: its criteria; with none, every account in the archive (it asks for all)."""
    scope = {k: criteria.get(k) for k in ("accounts", "since", "until", "query") if criteria.get(k)}
    if not scope:
        accounts = sorted({k.split("/")[1].split("=", 1)[1] for k in recordscan.records_keys(store)})
        scope = {"accounts": accounts} if accounts else {"record_ids": record_ids}
    if criteria.get("threads") and not scope.get("record_ids"):
        scope["threads"] = True  # the package holds whole threads: so does the hold
    return scope


def _same(request_id: str, name: str, recorded: Any, given: Any) -> None:
    if json.dumps(recorded, sort_keys=True) != json.dumps(given, sort_keys=True):
        raise RequestError(f"request {request_id} was opened with {name} {json.dumps(recorded, sort_keys=True)}, "
                           f"not {json.dumps(given, sort_keys=True)}: export under a new request id, or repeat the "
                           "recorded one")


def open_request(store: ArchiveStore, request_id: str, *, criteria: dict[str, Any], opened_by: str,
                 requester: str | None = None, received: str | None = None, record_ids: list[str] = (),
                 place_hold: bool = True, now: datetime | None = None) -> tuple[dict[str, Any], str | None]:
    """Record the request (first time only) and make sure its hold is in place. Returns (request doc, hold id)."""
    existing = load(store, request_id)
    if existing and existing.get("closed"):
        raise RequestError(f"request {request_id} was closed on {existing['closed']['closed_at']}; "
                           "open a new request id to export again")
    if existing:
        # A request's hold and record are made once, from its first criteria: a repeat export may only
        # regenerate the same package (found by an audit: other criteria went out unheld).
        _same(request_id, "criteria", existing.get("criteria"), criteria)
        for name, given in (("requester", requester), ("received", received)):
            if given is not None:
                _same(request_id, name, existing.get(name), given)
    doc = existing or {"request_id": request_id, "opened_at": _now(now), "opened_by": opened_by,
                       "requester": requester, "received": received, "criteria": criteria, "software": SOFTWARE,
                       "hold_id": hold_id_for(request_id) if place_hold else None}
    if not existing:
        try:
            _put_json(store, request_key(request_id), doc)
        except ObjectExists:  # opened concurrently: use that one
            doc = load(store, request_id)
    hold_id = None
    if place_hold:
        hold_id = hold_id_for(request_id)
        scope = hold_scope(store, criteria, list(record_ids))
        if scope.get("record_ids") == [] or not scope:
            return doc, None
        try:
            holds.get(store, hold_id)
        except holds.HoldError:
            holds.place(store, scope=scope, reason=f"records request {request_id}"
                        + (f" from {requester}" if requester else "") + " (open until the request is closed)",
                        placed_by=opened_by, kind="records_request", hold_id=hold_id, request_id=request_id,
                        now=now)
    return doc, hold_id


def close(store: ArchiveStore, request_id: str, *, closed_by: str, reason: str = "request answered",
          now: datetime | None = None) -> dict[str, Any]:
    """Close a request: release its hold(s) and write `exports/{id}/closed.json` (write-once)."""
    doc = load(store, request_id)
    if doc is None:
        raise RequestError(f"no records request {request_id} in {store.uri}")
    if doc.get("closed"):
        raise RequestError(f"request {request_id} was already closed on {doc['closed']['closed_at']}")
    released = []
    for hold in holds.active_holds(store):
        if hold.request_id == request_id and hold.kind == "records_request":
            holds.release(store, hold.hold_id, released_by=closed_by, reason=f"request {request_id} closed: {reason}",
                          now=now)
            released.append(hold.hold_id)
    closed = {"request_id": request_id, "closed_at": _now(now), "closed_by": closed_by, "reason": reason,
              "holds_released": released, "software": SOFTWARE}
    _put_json(store, closed_key(request_id), closed)
    return closed
