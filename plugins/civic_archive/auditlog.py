"""The disposition log: an append-only, hash-chained record of every destruction, with certificates.

Each completed destruction batch appends one write-once object `disposition/log/{sequence:08d}.json`
(schema `disposition-log-entry.schema.json`), chained to the one before it as `civic_archive.chain`
describes (a changed, removed, inserted or reordered entry shows).

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
from datetime import datetime, timedelta, timezone
from typing import Any

from civic_archive.chain import Chain, Entry, LogCheck, LogError
from civic_archive.storage import ArchiveStore, ObjectExists, ObjectMissing, StorageError

ENTRY_SCHEMA = "disposition-log-entry.schema.json"
PREFIX = "disposition/log/"
CERT_PREFIX = "disposition/certificates/"
# The log is the city's permanent disposition record (Missouri ordinances: "a permanent record"); on S3 its
# objects are locked for this long (retention can be extended later, never shortened).
LOCK_YEARS = 100
LOG = Chain(PREFIX, ENTRY_SCHEMA, "the disposition log", LOCK_YEARS)


def entry_key(sequence: int) -> str:
    return LOG.entry_key(sequence)


def certificate_key(sequence: int) -> str:
    return f"{CERT_PREFIX}{sequence:08d}.md"


def entry_keys(store: ArchiveStore) -> list[str]:
    return LOG.keys(store)


def read_entries(store: ArchiveStore) -> list[Entry]:
    """Every well-formed entry, in key order (no chain checks: see `check`)."""
    return LOG.read_entries(store)


def head(store: ArchiveStore) -> Entry | None:
    return LOG.head(store)


def append(store: ArchiveStore, body: dict[str, Any], *, attempts: int = 5) -> Entry:
    """Append an entry (everything but `sequence` and `previous`), then its certificate; refused while the log
    does not verify."""
    entry = LOG.append(store, body, problems=lambda: check(store).problems, attempts=attempts)
    write_certificate(store, entry)
    return entry


def write_certificate(store: ArchiveStore, entry: Entry) -> str:
    key = certificate_key(entry.sequence)
    until = datetime.now(timezone.utc) + timedelta(days=365 * LOCK_YEARS)
    try:
        store.put_bytes(key, certificate(entry).encode("utf-8"), retain_until=until, content_type="text/markdown")
    except ObjectExists:
        pass  # already written (a retry): `check` compares it with the entry
    return key


# -- checking ----------------------------------------------------------------------------------------------------


def check(store: ArchiveStore, *, certificates: bool = True, references: bool = True) -> LogCheck:
    """Recompute the chain (`Chain.check`); the certificates; and that each entry's plan and approvals still
    exist with the SHA-256 the entry recorded."""
    result = LOG.check(store)
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
            docs = {}
            for what, ref in refs:
                try:
                    data = store.read_bytes(ref["key"])
                except StorageError:
                    result.problems.append((entry.key, f"the {what} it relies on ({ref['key']}) is missing"))
                    continue
                if hashlib.sha256(data).hexdigest() != ref["sha256"]:
                    result.problems.append((ref["key"], f"the {what} differs from the SHA-256 recorded in "
                                                        f"log entry {entry.sequence}"))
                    continue
                docs[ref["key"]] = json.loads(data)
            result.problems += _authorised(entry, docs)
    return result


def _authorised(entry: Entry, docs: dict[str, Any]) -> list[tuple[str, str]]:
    """What an entry destroyed that its plan does not list, or approvals of another plan (found by an audit:
    an entry reusing an earlier entry's plan and approvals verified, whatever it destroyed)."""
    plan = docs.get(entry.doc["plan"]["key"])
    if plan is None:
        return []  # missing or changed: already a problem
    problems = []
    listed = {o.get("key"): o.get("sha256") for o in plan.get("objects", []) if isinstance(o, dict)}
    for obj in entry.doc["objects"]:
        if listed.get(obj["key"]) != obj["sha256"]:
            problems.append((entry.key, f"destroyed {obj['key']}, which its plan {plan.get('plan_id')} does not "
                                        "list with that SHA-256"))
    for approval in entry.doc["approvals"]:
        doc = docs.get(approval["key"])
        if doc is not None and (doc.get("plan_id") != plan.get("plan_id") or doc.get("decision") != "approve"):
            problems.append((approval["key"], f"log entry {entry.sequence} counts it as an approval of plan "
                                              f"{plan.get('plan_id')}, but it is not one"))
    return problems


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
        by = f" as {_md(a['acted_by'])}" if a.get("acted_by") else ""
        lines.append(f"- {_md(a['approver'])}, {a['decided_at']} (via {a['via']}{by}; `{a['key']}`)")
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
