"""The disposition log: an append-only, hash-chained record of every destruction, with certificates.

Each completed destruction batch appends one write-once object `disposition/log/{sequence:08d}.json`
(schema `disposition-log-entry.schema.json`). An entry carries its sequence number and the key and SHA-256 of
the previous entry, so

- a changed entry no longer matches the hash its successor recorded,
- a removed entry leaves a gap in the sequence (and its successor's link points at nothing),
- an inserted entry needs renumbering, which breaks the links and the key/sequence agreement,
- reordered entries have sequence numbers that disagree with their keys, and broken links.

The newest entry has no successor to vouch for it; `verify` and `audit log --verify` print its SHA-256 so an
auditor can note it outside the archive. Removing the newest entry is caught anyway: the objects it destroyed
would then be missing without a log entry, which `verify` reports as a failure.

Next to each entry, `disposition/certificates/{sequence:08d}.md` is a human-readable certificate of
destruction generated from the entry (and checked against it by `--verify`).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from civic_archive import schemas
from civic_archive.storage import ArchiveStore, ObjectExists, ObjectMissing, StorageError

ENTRY_SCHEMA = "disposition-log-entry.schema.json"
PREFIX = "disposition/log/"
CERT_PREFIX = "disposition/certificates/"
_ENTRY_KEY = re.compile(r"^disposition/log/([0-9]{8})\.json$")
# The log is the city's permanent disposition record (Missouri ordinances: "a permanent record"); on S3 its
# objects are locked for this long (retention can be extended later, never shortened).
LOCK_YEARS = 100


class LogError(ValueError):
    """The disposition log cannot be appended to or read."""


def entry_key(sequence: int) -> str:
    return f"{PREFIX}{sequence:08d}.json"


def certificate_key(sequence: int) -> str:
    return f"{CERT_PREFIX}{sequence:08d}.md"


def encode(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Entry:
    key: str
    sequence: int
    sha256: str
    doc: dict[str, Any]


def entry_keys(store: ArchiveStore) -> list[str]:
    return list(store.list(PREFIX))


def read_entries(store: ArchiveStore) -> list[Entry]:
    """Every well-formed entry, in key order (no chain checks: see `check`)."""
    out = []
    for key in entry_keys(store):
        m = _ENTRY_KEY.match(key)
        if not m:
            continue
        data = store.read_bytes(key)
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        out.append(Entry(key, int(m.group(1)), hashlib.sha256(data).hexdigest(), doc))
    return out


def head(store: ArchiveStore) -> Entry | None:
    keys = [k for k in entry_keys(store) if _ENTRY_KEY.match(k)]
    if not keys:
        return None
    data = store.read_bytes(keys[-1])
    return Entry(keys[-1], int(_ENTRY_KEY.match(keys[-1]).group(1)), hashlib.sha256(data).hexdigest(),
                 json.loads(data))


def append(store: ArchiveStore, body: dict[str, Any], *, attempts: int = 5) -> Entry:
    """Append an entry (everything but `sequence` and `previous`), then its certificate. Two writers racing for
    the same sequence number cannot both win: the object store refuses the second put, which then retries on
    top of the winner."""
    for _ in range(attempts):
        last = head(store)
        if last is not None:
            problems = check(store).problems
            if problems:
                raise LogError("the disposition log does not verify, refusing to append to it: "
                               + "; ".join(f"{k}: {w}" for k, w in problems[:3]))
        sequence = last.sequence + 1 if last else 1
        doc = {**body, "sequence": sequence,
               "previous": {"key": last.key, "sha256": last.sha256} if last else None}
        schemas.validate(ENTRY_SCHEMA, doc)
        data = encode(doc)
        until = datetime.now(timezone.utc) + timedelta(days=365 * LOCK_YEARS)
        try:
            store.put_bytes(entry_key(sequence), data, retain_until=until, content_type="application/json")
        except ObjectExists:
            continue
        entry = Entry(entry_key(sequence), sequence, hashlib.sha256(data).hexdigest(), doc)
        write_certificate(store, entry)
        return entry
    raise LogError(f"could not append to the disposition log after {attempts} attempts (concurrent writers?)")


def write_certificate(store: ArchiveStore, entry: Entry) -> str:
    key = certificate_key(entry.sequence)
    until = datetime.now(timezone.utc) + timedelta(days=365 * LOCK_YEARS)
    try:
        store.put_bytes(key, certificate(entry).encode("utf-8"), retain_until=until, content_type="text/markdown")
    except ObjectExists:
        pass  # already written (a retry): `check` compares it with the entry
    return key


# -- checking ----------------------------------------------------------------------------------------------------


@dataclass
class LogCheck:
    entries: list[Entry] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    head: Entry | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def disposed(self) -> dict[str, tuple[int, str]]:
        """Object key -> (entry sequence, logged SHA-256) over every readable entry."""
        out: dict[str, tuple[int, str]] = {}
        for e in self.entries:
            for obj in e.doc.get("objects", []):
                if isinstance(obj, dict) and "key" in obj:
                    out[obj["key"]] = (e.sequence, obj.get("sha256", ""))
        return out


def check(store: ArchiveStore, *, certificates: bool = True, references: bool = True) -> LogCheck:
    """Recompute the chain: schema, key/sequence agreement, contiguity, links and hashes; the certificates; and
    that each entry's plan and approvals still exist with the SHA-256 the entry recorded."""
    result = LogCheck()
    found: list[tuple[int, str, bytes]] = []
    for key in entry_keys(store):
        m = _ENTRY_KEY.match(key)
        if not m:
            result.problems.append((key, "unexpected object in the disposition log folder"))
            continue
        try:
            found.append((int(m.group(1)), key, store.read_bytes(key)))
        except StorageError as exc:
            result.problems.append((key, f"unreadable: {exc}"))
    expected = 1
    prev: Entry | None = None
    for number, key, data in sorted(found):
        digest = hashlib.sha256(data).hexdigest()
        try:
            doc = json.loads(data)
            schemas.validate(ENTRY_SCHEMA, doc)
        except (ValueError, schemas.SchemaError) as exc:
            result.problems.append((key, f"log entry unreadable or invalid: {exc}"))
            prev = Entry(key, number, digest, {})
            expected = number + 1
            continue
        entry = Entry(key, number, digest, doc)
        result.entries.append(entry)
        if number != expected:
            result.problems.append((key, f"entry {number} follows entry {expected - 1}: "
                                         f"{'entries are missing (removed)' if number > expected else 'duplicate'}"))
        if doc["sequence"] != number:
            result.problems.append((key, f"the entry says it is number {doc['sequence']} but is stored as "
                                         f"{number} (reordered or inserted)"))
        link = doc["previous"]
        if number == 1:
            if link is not None:
                result.problems.append((key, f"the first entry links to {link['key']}, which is missing"))
        elif prev is None or link is None or link["key"] != prev.key:
            result.problems.append((key, f"links to {link and link['key']}, not to the entry before it "
                                         f"({prev and prev.key}): reordered or inserted"))
        elif link["sha256"] != prev.sha256:
            result.problems.append((prev.key, f"content differs from the SHA-256 recorded by its successor "
                                              f"{key}: the entry was changed"))
        prev = entry
        expected = number + 1
    result.head = prev if prev is not None and prev.doc else (result.entries[-1] if result.entries else None)
    if certificates:
        for entry in result.entries:
            key = certificate_key(entry.sequence)
            try:
                stored = store.read_bytes(key).decode("utf-8")
            except ObjectMissing:
                result.problems.append((key, f"certificate of entry {entry.sequence} is missing "
                                             "(civic-archive audit certificate --write N restores it)"))
                continue
            if stored != certificate(entry):
                result.problems.append((key, f"certificate differs from log entry {entry.sequence}"))
        for key in store.list(CERT_PREFIX):
            m = re.match(r"^disposition/certificates/([0-9]{8})\.md$", key)
            if not m or int(m.group(1)) not in {e.sequence for e in result.entries}:
                result.problems.append((key, "certificate without a log entry"))
    if references:
        for entry in result.entries:
            refs = [("plan", entry.doc["plan"])] + [("approval", a) for a in entry.doc["approvals"]]
            for what, ref in refs:
                try:
                    digest = hashlib.sha256(store.read_bytes(ref["key"])).hexdigest()
                except StorageError:
                    result.problems.append((entry.key, f"the {what} it relies on ({ref['key']}) is missing"))
                    continue
                if digest != ref["sha256"]:
                    result.problems.append((ref["key"], f"the {what} differs from the SHA-256 recorded in "
                                                        f"log entry {entry.sequence}"))
    return result


# -- the certificate -----------------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def certificate(entry: Entry) -> str:
    """The certificate of destruction for one log entry (Markdown, deterministic)."""
    d = entry.doc
    q = d["quantity"]
    lines = [
        f"# Certificate of records destruction No. {entry.sequence}",
        "",
        f"**{d['city']}** ({d['jurisdiction']}). Archive: `{d['archive']}`.",
        "",
        f"I certify that the records described below were destroyed on **{d['completed_at']}** "
        f"(started {d['executed_at']}) by {d['executed_by']}, under the retention schedule cited, with the "
        "approval recorded below, after a check made at execution time that each record had reached the end of "
        f"its retention period as of {d['eligibility_as_of']}, was covered by no legal hold, and that each "
        "object was unchanged since it was archived.",
        "",
        "## What was destroyed",
        "",
        f"- Records: **{q['records']:,}** (record versions), created from {d['date_range']['from']} "
        f"to {d['date_range']['to']}",
        f"- Objects: {q['objects']:,} ({q['records_files']:,} records files, {q['warc_files']:,} WARC files), "
        f"{_size(q['bytes'])}",
        "",
        "| series | title | retention | records | created from | created to |",
        "|---|---|---|---|---|---|",
    ]
    for s in d["series"]:
        lines.append(f"| {_md(s['code'])} | {_md(s['title'])} | {_md(s['retention'])} | {s['records']:,} | "
                     f"{s['date_range']['from']} | {s['date_range']['to']} |")
    lines += ["", "## Authority", "",
              f"Schedule: {_md(d['schedule']['title'])} (file `{d['schedule']['file']}`, sources consulted "
              f"{d['schedule']['retrieved']}, SHA-256 `{d['schedule']['sha256']}`).", ""]
    for s in d["series"]:
        edition = f", edition {s['schedule_edition']}" if s.get("schedule_edition") else ""
        lines.append(f"- **{_md(s['code'])}**{edition}: confirmed for this city by {_md(s['confirmed_by'])} "
                     f"on {s['confirmed_on']}. Sources:")
        for src in s["sources"]:
            where = f", {src['section']}" if src.get("section") else ""
            url = f" <{src['url']}>" if src.get("url") else ""
            lines.append(f"  - {_md(src.get('title', ''))}{_md(where)}{url}")
    lines += ["", "## Approval", ""]
    for a in d["approvals"]:
        lines.append(f"- {_md(a['approver'])}, {a['decided_at']} (via {a['via']}; `{a['key']}`)")
    lines += [f"- Two-person rule: {'required' if d['two_person_rule'] else 'not required'} by the city config",
              f"- Plan `{d['plan']['plan_id']}` prepared {d['plan']['created_at']} by {_md(d['plan']['created_by'])} "
              f"(SHA-256 `{d['plan']['sha256']}`)",
              f"- Legal holds checked at execution: {', '.join(d['holds_checked']) or 'none active'}",
              "", "## Method", "", _md(d["method"]), "", "## Objects destroyed", "",
              "| object | kind | records | size | SHA-256 |", "|---|---|---|---|---|"]
    for o in d["objects"]:
        note = f" ({_md(o['note'])})" if o.get("note") else ""
        lines.append(f"| `{o['key']}`{note} | {o['kind']} | {o['records']:,} | {o['size']:,} | `{o['sha256']}` |")
    if d["not_destroyed"]:
        lines += ["", "## Approved but not destroyed (failed the re-check at execution)", "",
                  "| object | reason |", "|---|---|"]
        for o in d["not_destroyed"]:
            lines.append(f"| `{o['key']}` | {_md(o['reason'])} |")
    prev = d["previous"]
    lines += ["", "## Log", "",
              f"Log entry `{entry.key}`, SHA-256 `{entry.sha256}`; previous entry "
              + (f"`{prev['key']}` (SHA-256 `{prev['sha256']}`)." if prev else "none (first entry)."),
              "", "Check it: `civic-archive audit log --verify --archive " + d["archive"] + "`", ""]
    return "\n".join(lines)


def summary_lines(entries: list[Entry]) -> list[str]:
    lines = []
    for e in entries:
        d = e.doc
        series = ", ".join(s["code"] for s in d.get("series", []))
        approvers = ", ".join(a["approver"] for a in d.get("approvals", []))
        q = d.get("quantity", {})
        lines.append(f"{e.sequence:>6}  {d.get('completed_at', '?')}  {series}  records {q.get('records', '?')}  "
                     f"objects {q.get('objects', '?')}  bytes {q.get('bytes', '?')}  approved by {approvers}  "
                     f"sha256 {e.sha256}")
    return lines


__all__ = ["Entry", "LogCheck", "LogError", "append", "check", "read_entries", "head", "certificate",
           "entry_key", "certificate_key", "write_certificate", "PREFIX", "CERT_PREFIX"]
