"""Run manifests: the list of every object a run wrote (key, size, sha256, record count), hash-chained.

A run is *committed* when its manifest exists; everything else it may have written before a crash is an
orphan that nothing refers to. Manifests form one chain per account (`chain` = the account id): each names
the key and SHA-256 of the previous manifest of its chain and carries a sequence number, so a changed,
removed, inserted or reordered manifest breaks the chain. One chain per account rather than one global
chain lets the nightly DAG harvest accounts in parallel without serialising every commit through one head.

Run ids are `{chain}.{UTC timestamp}.{random}`; chain names contain no dot, so `manifests/{chain}.` lists one
chain in time order.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from civic_archive import SOFTWARE, schemas
from civic_archive.storage import ArchiveStore, StoredObject

MANIFEST_SCHEMA = "run-manifest.schema.json"
PREFIX = "manifests/"


def new_run_id(chain: str, now: datetime | None = None) -> str:
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{chain}.{now:%Y%m%dT%H%M%S}{now.microsecond:06d}Z.{secrets.token_hex(3)}"


def chain_of(run_id: str) -> str:
    return run_id.split(".", 1)[0]


def manifest_key(run_id: str) -> str:
    return f"{PREFIX}{run_id}.json"


@dataclass(frozen=True)
class Link:
    key: str
    sha256: str
    sequence: int


def run_ids(store: ArchiveStore) -> set[str]:
    """The runs that committed (a run exists when its manifest does)."""
    return {k[len(PREFIX):-len(".json")] for k in store.list(PREFIX) if _is_manifest(k)}


def chains(store: ArchiveStore) -> set[str]:
    """The chains (accounts) that have committed at least one run."""
    return {chain_of(run_id) for run_id in run_ids(store)}


def chain_keys(store: ArchiveStore, chain: str) -> list[str]:
    """The chain's manifest keys, oldest first (run ids sort by time within a chain)."""
    return [k for k in store.list(f"{PREFIX}{chain}.") if _is_manifest(k)]


def _is_manifest(key: str) -> bool:
    return key.endswith(".json") and key.count(".") == 3  # {chain}.{timestamp}.{random}.json


def chain_head(store: ArchiveStore, chain: str) -> Link | None:
    keys = chain_keys(store, chain)
    if not keys:
        return None
    data = store.read_bytes(keys[-1])
    return Link(keys[-1], hashlib.sha256(data).hexdigest(), json.loads(data)["sequence"])


def build(*, run_id: str, objects: list[tuple[StoredObject, str, int | None]], previous: Link | None,
          started_at: datetime, finished_at: datetime, extra: dict[str, Any] | None = None,
          summaries: dict[str, dict[str, list]] | None = None) -> dict[str, Any]:
    """`summaries`: records files' summaries by key (recordscan.FileSummary), listed with their entries."""
    summaries = summaries or {}
    doc = {
        "manifest_version": 1,
        "run_id": run_id,
        "chain": chain_of(run_id),
        "sequence": previous.sequence + 1 if previous else 1,
        "previous": {"key": previous.key, "sha256": previous.sha256} if previous else None,
        "software": SOFTWARE,
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
        "finished_at": finished_at.isoformat().replace("+00:00", "Z"),
        "objects": [
            {"key": obj.key, "size": obj.size, "sha256": obj.sha256, "kind": kind,
             **({"records": records} if records is not None else {}),
             **({"version_id": obj.version_id} if obj.version_id else {}),
             **({"summary": summaries[obj.key]} if obj.key in summaries else {})}
            for obj, kind, records in objects
        ],
        **(extra or {}),
    }
    schemas.validate(MANIFEST_SCHEMA, doc)
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def commit(store: ArchiveStore, doc: dict[str, Any]) -> StoredObject:
    """Write the manifest: the run is committed from this moment on."""
    return store.put_bytes(manifest_key(doc["run_id"]), encode(doc), content_type="application/json")


def iter_manifests(store: ArchiveStore) -> Iterator[tuple[str, bytes]]:
    for key in store.list(PREFIX):
        if _is_manifest(key):
            yield key, store.read_bytes(key)


def committed_runs(store: ArchiveStore, chain: str) -> list[str]:
    return [key[len(PREFIX):-len(".json")] for key in chain_keys(store, chain)]
