"""Change detection: what is new, edited, hidden, unhidden or gone since the account's last committed run.

The account's state is what earlier runs saw of each item, kept compactly (no content) so it outlives the
records themselves: an item whose records were disposed of is still known and not archived again as new.
Each run writes the state rows it changed (`state/{account}/{run_id}.parquet`); the current state is the
latest row per item over the committed runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from civic_archive.records import Item

STATE_SCHEMA = pa.schema([
    ("kind", pa.string()),
    ("platform_id", pa.string()),
    ("parent_platform_id", pa.string()),
    ("version", pa.int32()),
    ("status", pa.string()),
    ("content_sha256", pa.string()),
    ("record_id", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("last_seen_at", pa.timestamp("us", tz="UTC")),
    ("run_id", pa.string()),
])

GONE = ("removed", "deleted")


@dataclass
class ItemState:
    kind: str
    platform_id: str
    parent_platform_id: str | None
    version: int
    status: str
    content_sha256: str
    record_id: str
    created_at: datetime
    last_seen_at: datetime
    run_id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.platform_id)


@dataclass
class Change:
    """One new version row to write. `item` carries the content (for a removal: the last copy seen)."""

    item: Item | None
    previous: ItemState | None
    version: int
    status: str
    what: str  # new | edited | hidden | unhidden | removed | deleted | restored


def status_for(item: Item, edited: bool) -> str:
    if item.hidden:
        return "hidden"
    return "edited" if edited else "live"


def compare(previous: ItemState | None, item: Item) -> Change | None:
    """The change an observed item makes to its last known state, or None when nothing changed."""
    digest = item.content_sha256()
    if previous is None:
        return Change(item, None, 1, status_for(item, False), "new")
    content_changed = digest != previous.content_sha256
    was_edited = previous.status == "edited" or (previous.version > 1 and previous.status != "live")
    if content_changed:
        return Change(item, previous, previous.version + 1, status_for(item, True), "edited")
    if previous.status in GONE:
        return Change(item, previous, previous.version + 1, status_for(item, was_edited), "restored")
    if item.hidden and previous.status != "hidden":
        return Change(item, previous, previous.version + 1, "hidden", "hidden")
    if not item.hidden and previous.status == "hidden":
        return Change(item, previous, previous.version + 1, status_for(item, was_edited), "unhidden")
    return None


def gone(previous: ItemState, confirmed_deleted: bool) -> Change:
    status = "deleted" if confirmed_deleted else "removed"
    return Change(None, previous, previous.version + 1, status, status)


def load_state(tables: Iterable[pa.Table]) -> dict[tuple[str, str], ItemState]:
    """Fold state files (oldest first) into the latest row per item."""
    state: dict[tuple[str, str], ItemState] = {}
    for table in tables:
        for row in table.to_pylist():
            st = ItemState(**row)
            state[st.key] = st
    return state


def state_table(rows: list[ItemState]) -> pa.Table:
    return pa.Table.from_pylist([r.__dict__ for r in rows], schema=STATE_SCHEMA)


def write_state(rows: list[ItemState], path: str) -> None:
    pq.write_table(state_table(rows), path, compression="zstd")
