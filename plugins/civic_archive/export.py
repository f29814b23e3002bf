"""A records-request package: a BagIt 1.0 bag (RFC 8493) an attorney can check and a requester can open.

    bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt  tagmanifest-sha256.txt  tagmanifest-sha512.txt
    data/records.csv, data/records.parquet   every responsive row (all versions), redacted per the profile,
                                             each naming its evidence inside the package (evidence_file,
                                             evidence_offset, evidence_length; media_evidence_* for attachments)
    data/evidence/*.warc.gz                  per archived WARC file: its warcinfo record, then the exact records
                                             behind the rows (gzip members copied byte for byte; a record that
                                             holds a redacted value, or hidden/removed/deleted content
                                             not asked for, becomes a `conversion` record with
                                             WARC-Refers-To naming the original)
    data/view/index.html                     the offline thread view (exportview)
    data/summary.md, data/summary.json       counts, statutory deadline, what was included
    data/redaction-log.csv                   (with a redaction profile, or content withheld from evidence)
                                             what was blanked where, and why
    data/chain-of-custody.json               who, when, parameters, counts, software, source objects, hold, and
                                             the sha256 of every other file in data/

The bag is written by this module (bagit-python 1.9 would write BagIt 0.97 and chdir) and validated with
bagit-python. It is built in `out` (a new folder), or zipped when `out` ends in `.zip`, and copied into the
archive under `exports/{request_id}/{export_id}/` unless told not to.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

from civic_archive import SOFTWARE, __version__, exportview, identity, manifest, recordscan, records_request, search
from civic_archive.records import ARROW_SCHEMA
from civic_archive.redaction_profiles import MARK, Redactor
from civic_archive.redaction_profiles import load as load_profile
from civic_archive.warc import Sha256WARCWriter

EXTRA = [("key", pa.string()), ("item_status", pa.string()), ("moderation_timeline", pa.string()),
         ("evidence_file", pa.string()), ("evidence_offset", pa.int64()), ("evidence_length", pa.int64()),
         ("evidence_record_id", pa.string()), ("media_evidence_file", pa.string()),
         ("media_evidence_offset", pa.int64()), ("media_evidence_length", pa.int64())]
PACKAGE_SCHEMA = pa.schema(list(ARROW_SCHEMA) + [pa.field(n, t) for n, t in EXTRA])


class ExportError(ValueError):
    """The export cannot be made as asked."""


@dataclass
class ExportRequest:
    request_id: str
    criteria: search.Criteria = field(default_factory=search.Criteria)
    requester: str | None = None
    received: date | None = None
    redaction_profile: str | None = None
    jurisdiction: str | None = None
    timezone: str = "America/Chicago"
    run_by: str | None = None
    closed_days: list[date] = field(default_factory=list)

    def parameters(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "requester": self.requester,
                "received": self.received.isoformat() if self.received else None, **self.criteria.as_dict(),
                "redaction_profile": self.redaction_profile or "none", "jurisdiction": self.jurisdiction,
                "timezone": self.timezone, "closed_days": [d.isoformat() for d in self.closed_days]}


@dataclass
class ExportResult:
    path: Path
    bag_dir: Path
    counts: dict[str, int]
    deadline: dict[str, Any]
    hold_id: str | None
    archive_prefix: str | None
    redactions: int


def _who(run_by: str | None) -> dict[str, str]:
    user = identity.login_name()
    return {"run_by": run_by or user, "os_user": user, "host": identity.host()}


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- WARC evidence -----------------------------------------------------------------------------------------------


def gzip_member(fh, offset: int, length: int | None = None) -> bytes:
    """The gzip member (one WARC record) starting at `offset`; its length is found by inflating when unknown."""
    fh.seek(offset)
    if length:
        data = fh.read(length)
        if len(data) != length:
            raise ExportError(f"WARC record at {offset} is cut short")
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    buf = bytearray()
    while not inflater.eof:
        chunk = fh.read(1 << 16)
        if not chunk:
            raise ExportError(f"WARC record at {offset} is cut short")
        buf += chunk
        inflater.decompress(chunk)
    return bytes(buf[:len(buf) - len(inflater.unused_data)])


WITHHELD = "moderated-content"  # the redaction log's name for what --include-removed would have brought
WITHHELD_REASON = ("hidden, removed or deleted content that the request did not ask for (--include-removed not "
                   "given): taken out of the evidence records it shares with responsive records")
CHILD_KEYS = {"replies", "comments", "data"}  # lists of other items nested in an item (IG and YouTube replies)


def _blank_all(node: Any) -> tuple[Any, int]:
    """`node` with every non-empty string in it replaced by MARK, and how many were."""
    if isinstance(node, str):
        return (MARK, 1) if node else (node, 0)
    if isinstance(node, dict):
        n = 0
        for k, v in node.items():
            node[k], m = _blank_all(v)
            n += m
        return node, n
    if isinstance(node, list):
        n = 0
        for i, v in enumerate(node):
            node[i], m = _blank_all(v)
            n += m
        return node, n
    return node, 0


def _without(doc: Any, withheld: set[str]) -> int:
    """Blank, in a parsed API answer, every value of the items in `withheld` but their own `id` (their text,
    author, attachment...), leaving the other items they carry (replies) to be judged on their own. Returns
    how many values were blanked."""
    count = 0
    if isinstance(doc, dict):
        if doc.get("id") in withheld:
            for k, v in doc.items():
                if k != "id" and k not in CHILD_KEYS:
                    doc[k], m = _blank_all(v)
                    count += m
        for v in doc.values():
            count += _without(v, withheld)
    elif isinstance(doc, list):
        for v in doc:
            count += _without(v, withheld)
    return count


# X answers carry what their posts refer to under `includes`, each kind keyed by this field.
INCLUDES_KEYS = {"users": "id", "media": "media_key", "tweets": "id", "places": "id", "polls": "id"}


def _strings(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, str):
        out.add(node)
    elif isinstance(node, dict):
        for v in node.values():
            _strings(v, out)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out)
    return out


def _orphaned_includes(doc: Any) -> int:
    """Once withheld posts are blanked, blank whole (their ids too) the `includes` objects of an X answer that
    nothing left refers to: the author, photos or poll of a hidden reply would otherwise still be named there.
    An included post keeps what it refers to only while something left refers to it. Returns how many values
    were blanked."""
    includes = doc.get("includes") if isinstance(doc, dict) else None
    if not isinstance(includes, dict):
        return 0
    refs = _strings({k: v for k, v in doc.items() if k != "includes"}, set())
    pending = [t for t in includes.get("tweets") or [] if isinstance(t, dict)]
    while True:  # an included post that is referred to refers to more (its author, a post it quotes)
        reached = [t for t in pending if t.get("id") in refs]
        if not reached:
            break
        pending = [t for t in pending if t.get("id") not in refs]
        for tweet in reached:
            _strings(tweet, refs)
    count = 0
    for name, key in INCLUDES_KEYS.items():
        entries = includes.get(name)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get(key) not in refs:
                count += _blank_all(entry)[1]
    return count


def _conversion(member: bytes, redactor: Redactor, withheld: set[str] = frozenset()) -> tuple[bytes, str] | None:
    """If the record holds a redacted value, or an item the package withholds: a `conversion` record with them
    blanked, and its id."""
    plain = zlib.decompress(member, 16 + zlib.MAX_WBITS)
    active = redactor.profile.active
    redact = active and redactor.data(plain)[1]
    withhold = {i for i in withheld if i.encode() in plain}
    if not redact and not withhold:
        return None
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    original_id = record.rec_headers.get_header("WARC-Record-ID")
    payload = record.content_stream().read()
    taken = 0
    if withhold:
        try:
            doc = json.loads(payload)
        except ValueError:
            doc = None  # not an API answer (media bytes): nothing of an item's text to take out
        if doc is not None:
            taken = _without(doc, withhold)
            if taken:
                taken += _orphaned_includes(doc)
                payload = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = record.http_headers.to_str().encode("utf-8") if record.http_headers else b""
    body, count = redactor.data(headers + payload) if active else (headers + payload, 0)
    if not redact and not taken:
        return None  # the withheld ids were there, but not as items of an API answer
    out = io.BytesIO()
    writer = Sha256WARCWriter(out, gzip=True, warc_version="1.1")
    conv = writer.create_warc_record(
        record.rec_headers.get_header("WARC-Target-URI") or "urn:x-civic-archive:redacted", "conversion",
        payload=io.BytesIO(body), length=len(body),
        warc_content_type="application/http; msgtype=response" if record.http_headers else
        (record.rec_headers.get_header("Content-Type") or "application/octet-stream"),
        warc_headers_dict={"WARC-Refers-To": original_id,
                           "WARC-Date": record.rec_headers.get_header("WARC-Date")})
    writer.write_record(conv)
    if count:
        redactor.note_evidence(original_id, "warc record (replaced by a redacted conversion record)", count)
    if taken:
        redactor.log.append({"record_id": original_id, "where": "warc record (replaced by a conversion record "
                             f"without item(s) {', '.join(sorted(withhold))})", "occurrences": taken,
                             "profile": WITHHELD, "reason": WITHHELD_REASON})
    return out.getvalue(), conv.rec_headers.get_header("WARC-Record-ID")


def _record_id(member: bytes) -> str:
    return next(iter(ArchiveIterator(io.BytesIO(member)))).rec_headers.get_header("WARC-Record-ID")


def write_evidence(store, rows: list[dict[str, Any]], folder: Path, redactor: Redactor | None,
                   files: recordscan.LocalFiles, withheld: set[str] = frozenset()
                   ) -> dict[tuple[str, int], tuple[str, int, int, str]]:
    """Cut the records behind `rows` (and their attachments) into `folder`, one .warc.gz per archived WARC
    file, each opening with that file's warcinfo. Returns (warc_file, offset) -> (package path, offset,
    length, record id in the package)."""
    wanted: dict[str, dict[int, int | None]] = defaultdict(dict)
    for row in rows:
        if row.get("warc_file"):
            wanted[row["warc_file"]][row["warc_offset"]] = row.get("warc_length")
        if row.get("media_warc_file") and row.get("media_warc_offset") is not None:
            wanted[row["media_warc_file"]].setdefault(row["media_warc_offset"], None)
    folder.mkdir(parents=True, exist_ok=True)
    where: dict[tuple[str, int], tuple[str, int, int, str]] = {}
    for warc_file in sorted(wanted):
        name = warc_file.rsplit("/", 1)[-1]
        rel = f"evidence/{name}"
        with open(files.path(warc_file), "rb") as src, open(folder / name, "xb") as out:
            out.write(gzip_member(src, 0))  # warcinfo opens every archived WARC file
            for offset in sorted(wanted[warc_file]):
                if offset == 0:
                    continue
                member = gzip_member(src, offset, wanted[warc_file][offset])
                record_id = None
                if redactor is not None and (redactor.profile.active or withheld):
                    converted = _conversion(member, redactor, withheld)
                    if converted:
                        member, record_id = converted
                pos = out.tell()
                out.write(member)
                where[(warc_file, offset)] = (rel, pos, len(member), record_id or _record_id(member))
    return where


# -- the package -----------------------------------------------------------------------------------------------


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "x", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=PACKAGE_SCHEMA.names, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _iso(v) for k, v in row.items()})


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist([{k: r.get(k) for k in PACKAGE_SCHEMA.names} for r in rows], schema=PACKAGE_SCHEMA)
    pq.write_table(table, path, compression="zstd")


def _hashes(path: Path) -> dict[str, str]:
    h256, h512 = hashlib.sha256(), hashlib.sha512()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h256.update(chunk)
            h512.update(chunk)
    return {"sha256": h256.hexdigest(), "sha512": h512.hexdigest()}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def write_bag(bag: Path, bag_info: dict[str, str]) -> dict[str, dict[str, str]]:
    """Turn a folder holding `data/` into a BagIt 1.0 bag (sha256 + sha512 manifests and tag manifests)."""
    payload = {p.relative_to(bag).as_posix(): _hashes(p) for p in _files(bag / "data")}
    octets = sum((bag / rel).stat().st_size for rel in payload)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", encoding="utf-8")
    info = {**bag_info, "Bagging-Date": date.today().isoformat(), "Bag-Software-Agent": SOFTWARE,
            "Payload-Oxum": f"{octets}.{len(payload)}"}
    (bag / "bag-info.txt").write_text("".join(f"{k}: {' '.join(str(v).split())}\n" for k, v in info.items()),
                                      encoding="utf-8")
    for alg in ("sha256", "sha512"):
        (bag / f"manifest-{alg}.txt").write_text("".join(f"{h[alg]}  {rel}\n" for rel, h in sorted(payload.items())),
                                                 encoding="utf-8")
    tags = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"]
    for alg in ("sha256", "sha512"):
        (bag / f"tagmanifest-{alg}.txt").write_text("".join(f"{_hashes(bag / t)[alg]}  {t}\n" for t in tags),
                                                    encoding="utf-8")
    return payload


def _summary_md(meta: dict[str, Any]) -> str:
    d = meta["deadline"]
    lines = [f"# Records request {meta['request_id']}", "",
             f"- Requester: {meta.get('requester') or '(not recorded)'}",
             f"- Date received: {meta.get('received') or '(not recorded)'}",
             f"- Exported: {meta['exported_at']} by {meta['run_by']} ({SOFTWARE})",
             f"- Jurisdiction: {d.get('jurisdiction') or '(unknown)'}",
             f"- Statutory rule: {d.get('rule')}" + (f" ({d['citation']})" if d.get("citation") else ""),
             f"- Deadline: {d.get('deadline') or 'none fixed by statute'}"
             + (f", {d['deadline_time']}" if d.get("deadline_time") else ""),
             f"- Business days: {d.get('holidays_counted', '')}; not counted: {d.get('holidays_not_counted', '')}",
             f"- Hold: {meta.get('hold_id') or 'none placed'} (released when the request is closed: "
             f"`civic-archive request close {meta['request_id']}`)",
             f"- Hidden/removed/deleted content included: {'yes' if meta['parameters']['include_removed'] else 'no'}"
             + ("" if meta['parameters']['include_removed'] else
                f" (taken out of {meta['counts'].get('evidence records withholding moderated content', 0)} evidence "
                "record(s) that also held responsive content: see redaction-log.csv)"),
             "- Whole threads: " + ("yes (each responsive item with its post or video and everything under it)"
                                    if meta["parameters"].get("threads") else "no"),
             f"- Redaction profile: {meta['parameters']['redaction_profile']} ({meta['redactions']} redaction(s); "
             "see redaction-log.csv)", "", "## Counts", ""]
    lines += [f"- {k}: {v}" for k, v in meta["counts"].items()]
    lines += ["", "## Contents", "",
              "- `records.csv`, `records.parquet`: one row per version of each responsive item; `evidence_file`, "
              "`evidence_offset`, `evidence_length` locate the WARC record behind the row in `evidence/`",
              "- `evidence/*.warc.gz`: the archived platform responses (WARC/1.1), each file opening with its "
              "warcinfo record", "- `view/index.html`: a readable thread view (open it in any browser, offline)",
              "- `chain-of-custody.json`: who made this package, when, how, and the SHA-256 of every file", ""]
    return "\n".join(lines)


def _sharing_evidence(store, keys: list[str], rows: list[dict[str, Any]], files) -> list[dict[str, Any]]:
    """Rows anywhere in these records files evidenced by the same WARC records as `rows` (other commenters on
    a page), each with its item's latest status (`item_status`)."""
    ids = sorted({r["warc_record_id"] for r in rows if r.get("warc_record_id")})
    if not keys or not ids:
        return []
    table = recordscan.query_rows(store, keys, """
        WITH r AS (SELECT * FROM {rows}),
        shared AS (SELECT account_id, kind, platform_id, author_id, author_name, status FROM r
                   WHERE list_contains($ids, warc_record_id)),
        latest AS (SELECT r.account_id, r.kind, r.platform_id, last(r.status ORDER BY r.version) AS item_status
                   FROM r SEMI JOIN shared s
                     ON r.account_id = s.account_id AND r.kind = s.kind AND r.platform_id = s.platform_id
                   GROUP BY r.account_id, r.kind, r.platform_id)
        SELECT s.*, l.item_status FROM shared s JOIN latest l
          ON s.account_id = l.account_id AND s.kind = l.kind AND s.platform_id = l.platform_id""",
        {"ids": ids}, files)
    return table.to_pylist() if table is not None else []


def export(store, req: ExportRequest, out: str | os.PathLike, *, place_hold: bool = True,
           store_in_archive: bool = True, now: datetime | None = None) -> ExportResult:
    """Search, hold, package and (optionally) copy the package into the archive. See the module docstring."""
    records_request.check_id(req.request_id)
    now = now or datetime.now(timezone.utc)
    out = Path(out)
    as_zip = out.suffix == ".zip"
    # Everything that can be checked is checked before the request record and its hold are written.
    if out.exists() and (as_zip or not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists: give a new folder (or .zip) for the package")
    try:
        ZoneInfo(req.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExportError(f"unknown time zone {req.timezone!r} (an IANA name such as America/Chicago)") from None
    profile = load_profile(req.redaction_profile)
    who = _who(req.run_by)
    with recordscan.local_files(store) as files:
        keys = recordscan.records_keys(store)
        # Accounts the archive has harvested (each has a manifest chain, records or not; records are read
        # from committed runs only, so every account with records has one): an account never harvested, or
        # misspelt, is refused before anything is written, since a request record and its hold are
        # permanent; one harvested with nothing in it gets an empty package that says so.
        known = manifest.chains(store) - {EXPORT_CHAIN}
        unknown = [a for a in req.criteria.accounts if a not in known]
        if unknown:
            raise ExportError(f"no account {', '.join(unknown)} in {store.uri} (its accounts: "
                              f"{', '.join(sorted(known)) or 'none'})")
        table = search.find(store, req.criteria, keys=keys, files=files)
        rows = search.rows(table)
        sources = _source_objects(store, rows)  # before anything is written: refuses objects no manifest lists
        jurisdiction = (req.jurisdiction or next((r["jurisdiction"] for r in rows if r.get("jurisdiction")), None)
                        or recordscan.jurisdiction(store, keys, files))  # nothing responsive: the clock still runs
        doc, hold_id = records_request.open_request(
            store, req.request_id, criteria=req.criteria.as_dict(), opened_by=who["run_by"],
            requester=req.requester, received=req.received.isoformat() if req.received else None,
            record_ids=[r["record_id"] for r in rows], place_hold=place_hold, now=now)
        # a repeat export of a request keeps what its first one recorded
        requester = req.requester or doc.get("requester")
        received = req.received or (date.fromisoformat(doc["received"]) if doc.get("received") else None)
        redactor = Redactor(profile)
        related = []
        if profile.active or not req.criteria.include_removed:
            related = _sharing_evidence(store, recordscan.prune_keys(keys, accounts=sorted(
                {r["account_id"] for r in rows})), rows, files)
        if profile.active:
            redactor.collect(rows + related)
        # Hidden, removed and deleted items not asked for are taken out of the evidence records they share with
        # responsive ones (a comments page), as they are left out of the rows: hidden etc. now, or in the
        # version that record holds.
        moderated = set(search.MODERATED)
        withheld = set() if req.criteria.include_removed else (
            {r["platform_id"] for r in related if {r["status"], r["item_status"]} & moderated}
            - {r["platform_id"] for r in rows})
        tmp_root = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent if out.parent.exists() else None))
        try:
            bag = tmp_root / "bag"
            data = bag / "data"
            data.mkdir(parents=True)
            where = write_evidence(store, rows, data / "evidence", redactor, files, withheld)
        except BaseException:
            shutil.rmtree(tmp_root, ignore_errors=True)
            raise
    try:
        package_rows = []
        for row in rows:
            row = redactor.row(row) if profile.active else row
            ev = where.get((row["warc_file"], row["warc_offset"])) if row.get("warc_file") else None
            if ev:
                row.update(evidence_file=ev[0], evidence_offset=ev[1], evidence_length=ev[2], evidence_record_id=ev[3])
            mev = where.get((row.get("media_warc_file"), row.get("media_warc_offset")))
            if mev:
                row.update(media_evidence_file=mev[0], media_evidence_offset=mev[1], media_evidence_length=mev[2])
            package_rows.append(row)
        counts = {"rows": len(package_rows),
                  "items": len({(r["account_id"], r["kind"], r["platform_id"]) for r in package_rows})}
        for r in package_rows:
            counts[f"rows {r['kind']}"] = counts.get(f"rows {r['kind']}", 0) + 1
        for r in package_rows:
            counts[f"rows status {r['status']}"] = counts.get(f"rows status {r['status']}", 0) + 1
        counts["evidence files"] = len(list((data / "evidence").glob("*.warc.gz")))
        counts["evidence records"] = len(where)
        if not req.criteria.include_removed:
            counts["evidence records withholding moderated content"] = len(
                {e["record_id"] for e in redactor.log if e["profile"] == WITHHELD})
        dl = records_request.deadline(jurisdiction, received, req.closed_days)
        params = req.parameters()
        params.update(jurisdiction=jurisdiction, requester=requester,
                      received=received.isoformat() if received else None)
        meta = {"request_id": req.request_id, "requester": requester, "received": params["received"],
                "exported_at": _iso(now), **who, "parameters": params, "counts": counts, "deadline": dl,
                "hold_id": hold_id, "redactions": len(redactor.log)}
        _write_csv(data / "records.csv", package_rows)
        _write_parquet(data / "records.parquet", package_rows)
        (data / "view").mkdir()
        (data / "view" / "index.html").write_text(exportview.render(package_rows, meta, req.timezone), encoding="utf-8")
        (data / "summary.md").write_text(_summary_md(meta), encoding="utf-8")
        (data / "summary.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False, default=str) + "\n",
                                           encoding="utf-8")
        if profile.active or redactor.log:
            with open(data / "redaction-log.csv", "x", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=["record_id", "where", "occurrences", "profile", "reason"])
                w.writeheader()
                w.writerows(redactor.log)
        custody = {"custody_version": 1, **meta, "software": SOFTWARE, "software_version": __version__,
                   "archive": store.uri, "request": doc,
                   "source_objects": sources,
                   "files": {p.relative_to(data).as_posix(): {"sha256": _hashes(p)["sha256"], "bytes": p.stat().st_size}
                             for p in _files(data)}}
        (data / "chain-of-custody.json").write_text(json.dumps(custody, indent=1, ensure_ascii=False, default=str)
                                                    + "\n", encoding="utf-8")
        write_bag(bag, {"Source-Organization": "civic-archive", "External-Identifier": req.request_id,
                        "External-Description": f"Records request {req.request_id}", "Bag-Count": "1 of 1"})
        export_id = f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%S%f}Z"  # two exports a second apart differ
        prefix = None
        if store_in_archive:
            prefix = f"exports/{req.request_id}/{export_id}/"
            _store_package(store, bag, prefix, req.request_id, export_id)
        if as_zip:
            base = shutil.make_archive(str(tmp_root / "pkg"), "zip", root_dir=bag.parent, base_dir="bag")
            os.replace(base, out)
            final = out
        else:
            if out.exists():
                out.rmdir()
            shutil.move(str(bag), str(out))
            final = out
        return ExportResult(final, out if not as_zip else Path(), counts, dl, hold_id, prefix, len(redactor.log))
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)


EXPORT_CHAIN = "exports"  # the manifest chain of the packages kept in the archive (no account may take the name)


def _store_package(store, bag: Path, prefix: str, request_id: str, export_id: str) -> None:
    """Copy the package into the archive as one run of the `exports` manifest chain: every file with its
    SHA-256 in a hash-chained manifest written last, so `verify` checks the copy like any other object (a
    changed, removed or rewritten package, or a deleted one once a fixity audit recorded the head), and an
    interrupted copy leaves orphans, never a package that looks committed."""
    from civic_archive.run import ArchiveRun

    run = ArchiveRun(store, chain=EXPORT_CHAIN, warcinfo={})
    try:
        for path in _files(bag):
            run.add_file(prefix + path.relative_to(bag).as_posix(), str(path), "export",
                         content_type="text/plain" if path.suffix == ".txt" else "application/octet-stream")
        run.commit({"request_id": request_id, "export_id": export_id})
    finally:
        run.cleanup()


def _run_by(triggered_by: str | None, requested_by: str | None) -> str:
    if triggered_by and requested_by and requested_by != triggered_by:
        return f"{triggered_by} (Airflow user; form says: requested by {requested_by})"
    return triggered_by or (f"{requested_by} (as typed in the form; no Airflow user recorded)" if requested_by
                            else "airflow")


def _source_objects(store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The archive objects the package was made from, each with the SHA-256 and size its run's manifest
    records and that manifest's key: what ties the package to the archive's hash-chained manifests."""
    keys = sorted({r["key"] for r in rows} | {r[c] for r in rows for c in ("warc_file", "media_warc_file") if r.get(c)})
    entries = recordscan.ManifestEntries(store)
    out = []
    for key in keys:
        entry, manifest_key = entries.entry(key)
        if entry is None:  # records are read from committed runs only, so this object was put there by hand
            raise ExportError(f"{key} is not listed in its run's manifest: nothing is exported from it; run "
                              "civic-archive verify")
        out.append({"key": key, "sha256": entry["sha256"], "size": entry["size"], "manifest": manifest_key})
    return out


def run_params(params: dict[str, Any], export_dir: str | None = None, uri: str | None = None,
               triggered_by: str | None = None) -> dict[str, Any]:
    """The DAG task: validate the trigger form's params against the schema, export, return a summary.
    `triggered_by`: the Airflow user who triggered the run, which the chain of custody records as who ran the
    export; the form's free-text `requested_by` is kept beside it as a label (found by an audit: the custody
    record held only what was typed)."""
    from civic_archive import nightly, schemas
    from civic_archive.storage import open_store

    params = {k: v for k, v in params.items() if v not in (None, "") or k == "request_id"}
    schemas.validate("export-request.schema.json", params)
    req = ExportRequest(
        request_id=params["request_id"],
        criteria=search.Criteria(accounts=params.get("accounts") or [], since=params.get("since"),
                                 until=params.get("until"), query=params.get("query"),
                                 include_removed=bool(params.get("include_removed")),
                                 threads=bool(params.get("threads"))),
        requester=params.get("requester"),
        received=date.fromisoformat(params["received"]) if params.get("received") else None,
        redaction_profile=params.get("redaction_profile"), jurisdiction=params.get("jurisdiction"),
        run_by=_run_by(triggered_by, params.get("requested_by")))
    store = open_store(uri or nightly.archive_uri(), create=False)
    now = datetime.now(timezone.utc)
    tmp = None
    if export_dir:
        Path(export_dir).mkdir(parents=True, exist_ok=True)
        out = Path(export_dir) / f"{req.request_id}-{now:%Y%m%dT%H%M%S}Z.zip"
    else:
        tmp = tempfile.mkdtemp(prefix="civic-archive-export-")
        out = Path(tmp) / "package"
    try:
        result = export(store, req, out, store_in_archive=True, now=now)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"request_id": req.request_id, "counts": result.counts, "archive_prefix": result.archive_prefix,
            "zip": str(out) if export_dir else None, "hold_id": result.hold_id, "deadline": result.deadline.get("deadline"),
            "redactions": result.redactions}
