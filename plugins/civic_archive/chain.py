"""Append-only, hash-chained logs of write-once JSON objects: the disposition log and the holds log.

Entry N is stored as `{prefix}{N:08d}.json` and carries its `sequence` and the key and SHA-256 of entry N-1
(`previous`), so

- a changed entry no longer matches the hash its successor recorded,
- a removed entry leaves a gap in the sequence (and its successor's link points at nothing),
- an inserted entry needs renumbering, which breaks the links and the key/sequence agreement,
- reordered entries have sequence numbers that disagree with their keys, and broken links.

The newest entry has no successor to vouch for it: what it records must be caught some other way (each log
says how), and `verify` prints its SHA-256 so an auditor can note it outside the archive.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from civic_archive import schemas
from civic_archive.storage import ArchiveStore, ObjectExists, StorageError


class LogError(ValueError):
    """A log cannot be appended to or read."""


@dataclass(frozen=True)
class Entry:
    key: str
    sequence: int
    sha256: str
    doc: dict[str, Any]


@dataclass
class LogCheck:
    entries: list[Entry] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    head: Entry | None = None
    hashes: dict[str, str] = field(default_factory=dict)  # SHA-256 of every readable entry, valid or not

    @property
    def ok(self) -> bool:
        return not self.problems


def encode(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Chain:
    prefix: str  # e.g. "disposition/log/"
    schema: str  # the entries' JSON Schema
    name: str  # "the disposition log", in messages
    lock_years: int  # on S3 entries are locked this long (retention can be extended later, never shortened)

    def entry_key(self, sequence: int) -> str:
        return f"{self.prefix}{sequence:08d}.json"

    def _number(self, key: str) -> int | None:
        m = re.fullmatch(re.escape(self.prefix) + r"([0-9]{8})\.json", key)
        return int(m.group(1)) if m else None

    def keys(self, store: ArchiveStore) -> list[str]:
        return list(store.list(self.prefix))

    def read_entries(self, store: ArchiveStore) -> list[Entry]:
        """Every well-formed entry, in key order (no chain checks: see `check`)."""
        out = []
        for key in self.keys(store):
            number = self._number(key)
            if number is None:
                continue
            data = store.read_bytes(key)
            try:
                doc = json.loads(data)
            except ValueError:
                continue
            out.append(Entry(key, number, hashlib.sha256(data).hexdigest(), doc))
        return out

    def head(self, store: ArchiveStore) -> Entry | None:
        keys = [k for k in self.keys(store) if self._number(k) is not None]
        if not keys:
            return None
        data = store.read_bytes(keys[-1])
        return Entry(keys[-1], self._number(keys[-1]), hashlib.sha256(data).hexdigest(), json.loads(data))

    def append(self, store: ArchiveStore, body: dict[str, Any], *, problems: Callable[[], list[tuple[str, str]]],
               attempts: int = 5) -> Entry:
        """Append an entry (everything but `sequence` and `previous`), unless `problems()` (the log's own
        check) finds any. Two writers racing for the same sequence number cannot both win: the object store
        refuses the second put, which then retries on top of the winner."""
        for _ in range(attempts):
            last = self.head(store)
            if last is not None:
                found = problems()
                if found:
                    raise LogError(f"{self.name} does not verify, refusing to append to it: "
                                   + "; ".join(f"{k}: {w}" for k, w in found[:3]))
            sequence = last.sequence + 1 if last else 1
            doc = {**body, "sequence": sequence,
                   "previous": {"key": last.key, "sha256": last.sha256} if last else None}
            schemas.validate(self.schema, doc)
            data = encode(doc)
            until = datetime.now(timezone.utc) + timedelta(days=365 * self.lock_years)
            try:
                store.put_bytes(self.entry_key(sequence), data, retain_until=until, content_type="application/json")
            except ObjectExists:
                continue
            return Entry(self.entry_key(sequence), sequence, hashlib.sha256(data).hexdigest(), doc)
        raise LogError(f"could not append to {self.name} after {attempts} attempts (concurrent writers?)")

    def check(self, store: ArchiveStore) -> LogCheck:
        """Recompute the chain: schema, key/sequence agreement, contiguity, links and hashes."""
        result = LogCheck()
        found: list[tuple[int, str, bytes]] = []
        for key in self.keys(store):
            number = self._number(key)
            if number is None:
                result.problems.append((key, f"unexpected object in the folder of {self.name}"))
                continue
            try:
                found.append((number, key, store.read_bytes(key)))
            except StorageError as exc:
                result.problems.append((key, f"unreadable: {exc}"))
        expected = 1
        prev: Entry | None = None
        for number, key, data in sorted(found):
            digest = result.hashes[key] = hashlib.sha256(data).hexdigest()
            try:
                doc = json.loads(data)
                schemas.validate(self.schema, doc)
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
        return result
