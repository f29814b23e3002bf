"""Redaction profiles for records-request packages: not-public data taken out of the *package* only.

(`redaction.py` is about credentials in captured traffic; this module is about the content of exports.)

A profile names fields to blank and the record kinds they apply to, with the legal reason:

    {"name": "commenter-identities", "kinds": ["comment", "reply"], "fields": ["author_id", "author_name"],
     "reason": "..."}

Applying it collects the *values* of those fields (skipping the City's own accounts, i.e. authors of the
account's posts), replaces each field with `[REDACTED]`, and then replaces every other occurrence of those
values anywhere in the package: other columns (raw JSON, a reply quoting a name), the thread view, and the
WARC evidence (a WARC record that contains a redacted value is replaced in the package by a `conversion`
record with the value blanked and `WARC-Refers-To` naming the original). The archive is never altered.
Every redaction is logged (record id, field or place, count, reason); the values themselves never are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

MARK = "[REDACTED]"
OFFICIAL_KINDS = ("post", "video")

BUILTIN: dict[str, dict[str, Any]] = {
    "none": {"name": "none", "kinds": [], "fields": [], "reason": "no redaction"},
    "commenter-identities": {
        "name": "commenter-identities", "kinds": ["comment", "reply"], "fields": ["author_id", "author_name"],
        "reason": "identities of members of the public who commented (e.g. Minn. Stat. ch. 13 private data on "
                  "individuals, when the responsible authority so classifies them)"},
}


class ProfileError(ValueError):
    """A redaction profile cannot be used."""


@dataclass
class Profile:
    name: str
    fields: list[str]
    kinds: list[str] = field(default_factory=list)  # empty: every kind
    reason: str = ""

    @property
    def active(self) -> bool:
        return bool(self.fields)

    def applies_to(self, row: dict[str, Any]) -> bool:
        return not self.kinds or row.get("kind") in self.kinds


PROTECTED = {"record_id", "account_id", "platform", "kind", "platform_id", "version", "warc_file", "warc_offset",
             "warc_length", "warc_record_id", "content_sha256", "status"}


def load(spec: str | None) -> Profile:
    """A built-in profile by name, or a JSON file with name/fields/kinds/reason."""
    if not spec:
        spec = "none"
    if spec in BUILTIN:
        doc = BUILTIN[spec]
    else:
        path = Path(spec)
        if not path.is_file():
            raise ProfileError(f"no redaction profile {spec!r} (built in: {', '.join(BUILTIN)}; or a JSON file)")
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            raise ProfileError(f"{spec}: not JSON ({exc})") from None
    fields = list(doc.get("fields") or [])
    bad = [f for f in fields if f in PROTECTED]
    if bad:
        raise ProfileError(f"redaction profile {doc.get('name')!r} would blank {', '.join(bad)}: those identify the "
                           "record and its evidence and are never redacted")
    if fields and not (doc.get("reason") or "").strip():
        raise ProfileError(f"redaction profile {doc.get('name')!r} needs a reason (the legal ground)")
    return Profile(name=doc.get("name") or Path(spec).stem, fields=fields, kinds=list(doc.get("kinds") or []),
                   reason=doc.get("reason", ""))


def official_identities(rows: list[dict[str, Any]]) -> set[str]:
    """The City's own identity per account: the author (id and name) of most of the account's top-level posts.
    Visitor posts on a page are not the City's, so their authors are redacted like commenters."""
    counts: dict[str, dict[tuple, int]] = {}
    for r in rows:
        if r.get("kind") in OFFICIAL_KINDS and r.get("kind") != "media" and r.get("author_id"):
            per = counts.setdefault(r.get("account_id"), {})
            key = (r["author_id"], r.get("author_name"))
            per[key] = per.get(key, 0) + 1
    out: set[str] = set()
    for per in counts.values():
        top = max(per.values())
        for (author_id, name), n in per.items():
            if n == top:
                out.update(v for v in (author_id, name) if v)
    return out


def variants(value: str) -> list[bytes]:
    """The byte forms a value can take in the package: UTF-8, and JSON-escaped (ASCII and not)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return sorted({f.encode("utf-8") for f in forms if f}, key=len, reverse=True)


@dataclass
class Redactor:
    """The values to take out, and the log of what was taken out where."""

    profile: Profile
    values: set[str] = field(default_factory=set)
    log: list[dict[str, Any]] = field(default_factory=list)

    def collect(self, rows: Iterable[dict[str, Any]]) -> None:
        """Gather the values to redact from `rows` (exported rows and rows sharing their evidence)."""
        rows = list(rows)
        official = official_identities(rows)
        for row in rows:
            if not self.profile.applies_to(row) or row.get("author_id") in official:
                continue
            for name in self.profile.fields:
                value = row.get(name)
                if isinstance(value, str) and value and value not in official:
                    self.values.add(value)

    def _ordered(self) -> list[str]:
        return sorted(self.values, key=len, reverse=True)

    def text(self, value: str) -> tuple[str, int]:
        n = 0
        for v in self._ordered():
            for form in {v, json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1]}:
                if form and form in value:
                    n += value.count(form)
                    value = value.replace(form, MARK)
        return value, n

    def data(self, blob: bytes) -> tuple[bytes, int]:
        n = 0
        for v in self._ordered():
            for form in variants(v):
                if form in blob:
                    n += blob.count(form)
                    blob = blob.replace(form, MARK.encode())
        return blob, n

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A copy of `row` with the profile's fields blanked and every redacted value replaced elsewhere."""
        if not self.profile.active:
            return row
        out = dict(row)
        for name in self.profile.fields:
            if self.profile.applies_to(row) and out.get(name) not in (None, "") and out.get(name) in self.values:
                out[name] = MARK
                self._note(row, name, 1)
        for name, value in out.items():
            if isinstance(value, str) and name not in PROTECTED and value != MARK:
                new, n = self.text(value)
                if n:
                    out[name] = new
                    self._note(row, name, n)
        return out

    def _note(self, row, where: str, count: int) -> None:
        self.log.append({"record_id": row.get("record_id"), "where": where, "occurrences": count,
                         "profile": self.profile.name, "reason": self.profile.reason})

    def note_evidence(self, record_id: str, where: str, count: int) -> None:
        self.log.append({"record_id": record_id, "where": where, "occurrences": count,
                         "profile": self.profile.name, "reason": self.profile.reason})
