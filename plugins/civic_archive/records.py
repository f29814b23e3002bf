"""The normalized record: one row per version of a post, comment, reply or media item (DESIGN §4 columns).

Connectors turn API payloads into `Item`s; the harvest decides each item's version and status against the
account's last state, adds retention, validates the row against `schemas/record.schema.json`, and writes
it to Parquet. Every row points at the WARC record that evidences it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from civic_archive import recordscan
from civic_archive.warc import WarcRef

RECORD_SCHEMA = "record.schema.json"

_TS = pa.timestamp("us", tz="UTC")
ARROW_SCHEMA = pa.schema([
    ("record_id", pa.string()),
    ("account_id", pa.string()),
    ("platform", pa.string()),
    ("kind", pa.string()),
    ("platform_id", pa.string()),
    ("parent_platform_id", pa.string()),
    ("version", pa.int32()),
    ("author_id", pa.string()),
    ("author_name", pa.string()),
    ("text", pa.string()),
    ("created_at", _TS),
    ("updated_at", _TS),
    ("captured_at", _TS),
    ("permalink", pa.string()),
    ("status", pa.string()),
    ("removed_detected_at", _TS),
    ("content_sha256", pa.string()),
    ("warc_file", pa.string()),
    ("warc_offset", pa.int64()),
    ("warc_length", pa.int64()),
    ("warc_record_id", pa.string()),
    ("jurisdiction", pa.string()),
    ("series_code", pa.string()),
    ("retention_period", pa.string()),
    ("eligible_on", pa.date32()),
    ("raw_json", pa.string()),
    ("run_id", pa.string()),
    ("media_url", pa.string()),
    ("media_sha256", pa.string()),
    ("media_warc_file", pa.string()),
    ("media_warc_offset", pa.int64()),
    ("media_warc_record_id", pa.string()),
])
COLUMNS = ARROW_SCHEMA.names
_TIMESTAMP_COLUMNS = {"created_at", "updated_at", "captured_at", "removed_detected_at"}


@dataclass
class Media:
    """Bytes of an attachment fetched into the WARC."""

    url: str
    sha256: str
    ref: WarcRef


@dataclass
class Item:
    """One post/comment/reply/media item as a connector read it from one API response."""

    kind: str
    platform_id: str
    created_at: datetime
    raw: dict[str, Any]  # the item's JSON exactly as the (redacted) response carried it
    ref: WarcRef  # the response record it came from
    parent_platform_id: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    text: str | None = None
    updated_at: datetime | None = None
    permalink: str | None = None
    hidden: bool = False
    content: dict[str, Any] = field(default_factory=dict)  # what an edit changes (hashed for edit detection)
    media: Media | None = None
    root_platform_id: str | None = None  # the top-level item (post/video) this one hangs under, when known
    _digest: str | None = field(default=None, repr=False, compare=False)

    def content_sha256(self) -> str:
        if self._digest is None:
            self._digest = self._content_digest()
        return self._digest

    def _content_digest(self) -> str:
        canonical = _CANONICAL.encode({"text": self.text, **self.content})
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# The encoders `json.dumps` would build on every call with these arguments, built once (same output).
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
_RAW = json.JSONEncoder(ensure_ascii=False)


_last_capture: tuple[datetime | None, str | None] = (None, None)


def _capture_iso(dt: datetime) -> str | None:
    """`iso(dt)` for the run's capture time: the same datetime object on every row (datetimes are immutable)."""
    global _last_capture
    last = _last_capture
    if dt is not last[0]:
        last = _last_capture = (dt, iso(dt))
    return last[1]


def make_record_id(account_id: str, kind: str, platform_id: str, version: int) -> str:
    return hashlib.sha256(f"{account_id}\x1f{kind}\x1f{platform_id}\x1f{version}".encode()).hexdigest()[:32]


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is timezone.utc:  # the usual case: no conversion, and isoformat() ends in "+00:00"
        return dt.isoformat()[:-6] + "Z"
    if dt.tzinfo is None:
        raise ValueError("naive datetime in a record")
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def to_row(item: Item, *, account_id: str, platform: str, version: int, status: str, captured_at: datetime,
           run_id: str, jurisdiction: str, evidence: WarcRef | None = None,
           removed_detected_at: datetime | None = None, series_code: str | None = None,
           retention_period: str | None = None, eligible_on: date | None = None) -> dict[str, Any]:
    """A record row as JSON-ready values (timestamps as RFC 3339 strings), ready for schema validation."""
    ref = evidence or item.ref
    media = item.media
    return {
        "record_id": make_record_id(account_id, item.kind, item.platform_id, version),
        "account_id": account_id,
        "platform": platform,
        "kind": item.kind,
        "platform_id": item.platform_id,
        "parent_platform_id": item.parent_platform_id,
        "version": version,
        "author_id": item.author_id,
        "author_name": item.author_name,
        "text": item.text,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "captured_at": _capture_iso(captured_at),
        "permalink": item.permalink,
        "status": status,
        "removed_detected_at": iso(removed_detected_at),
        "content_sha256": item.content_sha256(),
        "warc_file": ref.warc_file,
        "warc_offset": ref.offset,
        "warc_length": ref.length,
        "warc_record_id": ref.record_id,
        "jurisdiction": jurisdiction,
        "series_code": series_code,
        "retention_period": retention_period,
        "eligible_on": eligible_on.isoformat() if eligible_on else None,
        "raw_json": _RAW.encode(item.raw),  # keys in the order the platform sent them
        "run_id": run_id,
        "media_url": media.url if media else None,
        "media_sha256": media.sha256 if media else None,
        "media_warc_file": media.ref.warc_file if media else None,
        "media_warc_offset": media.ref.offset if media else None,
        "media_warc_record_id": media.ref.record_id if media else None,
    }


def _parse_ts(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# What `iso()` writes (microseconds only when not zero), and ISO dates: for these exact forms Arrow's string
# casts give what `datetime.fromisoformat`/`date.fromisoformat` give, so whole columns are cast at once.
_DAY = r"([1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"  # Arrow refuses Feb 30
_ISO_UTC = rf"^{_DAY}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{{6}})?Z$"
_ISO_DATE = rf"^{_DAY}$"


def rows_to_table(rows: list[dict[str, Any]], schema: pa.Schema = ARROW_SCHEMA) -> pa.Table:
    """Rows with JSON-ready values (RFC 3339 timestamps, ISO dates) as an Arrow table of `schema`.

    The rows are converted in one pass by Arrow (as a struct array, timestamps and dates first as strings,
    then cast column-wise). A column Arrow cannot take that way (e.g. datetimes rather than strings, or a
    value the casts refuse) is built value by value as before, so results and errors are the same."""
    parsed = {name for name in schema.names if name in _TIMESTAMP_COLUMNS or name == "eligible_on"}
    as_text = pa.struct([pa.field(f.name, pa.string()) if f.name in parsed else f for f in schema])
    try:
        batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=as_text))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _rows_to_table_by_value(rows, schema)
    arrays = []
    for field in schema:
        column = batch.column(field.name)
        if field.name in parsed:
            pattern = _ISO_DATE if field.name == "eligible_on" else _ISO_UTC
            plain = pc.all(pc.match_substring_regex(column, pattern), skip_nulls=True, min_count=0).as_py()
            try:
                column = column.cast(field.type) if plain else _column_by_value(rows, field)
            except pa.ArrowInvalid:
                column = _column_by_value(rows, field)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


def _column_by_value(rows: list[dict[str, Any]], field: pa.Field) -> pa.Array:
    values = [row.get(field.name) for row in rows]
    if field.name in _TIMESTAMP_COLUMNS:
        values = [_parse_ts(v) for v in values]
    elif field.name == "eligible_on":
        values = [date.fromisoformat(v) if isinstance(v, str) else v for v in values]
    return pa.array(values, type=field.type)


def _rows_to_table_by_value(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([_column_by_value(rows, field) for field in schema], schema=schema)


def write_parquet(table: pa.Table, path: str, metadata: dict[str, str]) -> dict[str, list]:
    """Write one records file whole; returns its summary for the run's manifest (as the harvest lists it)."""
    summary = recordscan.FileSummary()
    summary.add(table)
    schema = table.schema.with_metadata({**(table.schema.metadata or {}),
                                         **{k.encode(): v.encode() for k, v in metadata.items()}})
    with open(path, "xb") as fh:
        pq.write_table(table.cast(schema), fh, compression="zstd", write_statistics=True)
        fh.flush()
        os.fsync(fh.fileno())
    return summary.columns()


def read_table(store, key: str, columns: list[str] | None = None, filters=None) -> pa.Table:
    """Read one records/state Parquet object from any store (a local path is read in place)."""
    path = store.local_path(key)
    source = path if path else pa.BufferReader(store.read_bytes(key))
    return pq.read_table(source, columns=columns, filters=filters)
