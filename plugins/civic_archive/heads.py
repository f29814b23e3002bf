"""Recorded heads: what each fixity audit found at the end of every hash chain, kept in the archive.

The newest link of a hash chain (a run manifest, a disposition-log or holds-log entry) has no successor to
vouch for it, so a chain cut back (its newest manifest deleted, a whole account's objects deleted, the newest
log entry removed) still verifies as a chain. Each successful fixity audit therefore writes the heads it
verified into a write-once object `audit/heads/{UTC time}-{random}.json` (locked on S3 like every object),
and every `verify` checks that each head any audit recorded is still in the archive with the SHA-256
recorded. What happened before the first audit, or to an archive whose `audit/` was deleted too (only
possible without Object Lock), is not covered: `verify` also prints the heads for an auditor to note.
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from typing import Any

from civic_archive import SOFTWARE
from civic_archive.storage import ArchiveStore

PREFIX = "audit/heads/"


def record(store: ArchiveStore, report, *, now: datetime | None = None) -> str:
    """Write the heads of a verified archive (`report`: a verify.Report that is ok). Returns the key."""
    now = now or datetime.now(timezone.utc)
    doc: dict[str, Any] = {
        "heads_version": 1, "recorded_at": now.isoformat().replace("+00:00", "Z"), "software": SOFTWARE,
        "manifests": report.manifests,
        "chains": {chain: {"key": key, "sha256": digest} for chain, (key, digest) in sorted(report.heads.items())},
        "disposition_log": _link(report.disposition_head), "holds_log": _link(report.holds_head)}
    key = f"{PREFIX}{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}.json"
    store.put_bytes(key, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode(),
                    content_type="application/json")
    return key


def _link(head: tuple[str, str] | None) -> dict[str, str] | None:
    return {"key": head[0], "sha256": head[1]} if head else None


def check(store: ArchiveStore, hashes: dict[str, str]) -> list[tuple[str, str]]:
    """(key, why) for every head an audit recorded that is gone or changed. `hashes`: SHA-256 of every
    manifest and log entry now in the archive, by key."""
    problems = []
    for key in store.list(PREFIX):
        try:
            doc = json.loads(store.read_bytes(key))
            links = [(f"the head of chain {chain}", link) for chain, link in doc["chains"].items()]
            links += [(f"the head of {name.replace('_', ' ')}", doc[name]) for name in ("disposition_log", "holds_log")
                      if doc.get(name)]
            recorded_at = doc["recorded_at"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append((key, f"recorded heads unreadable: {exc}"))
            continue
        for what, link in links:
            now = hashes.get(link["key"])
            if now is None:
                problems.append((link["key"], f"missing, but the fixity audit of {recorded_at} ({key}) verified it "
                                              f"as {what}: the chain was cut back"))
            elif now != link["sha256"]:
                problems.append((link["key"], f"differs from the SHA-256 the fixity audit of {recorded_at} ({key}) "
                                              f"recorded for {what}"))
    return problems
