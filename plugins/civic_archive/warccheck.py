"""Fast WARC record check: one read of a `.warc.gz` hashes the file and checks every record's SHA-256 digests.

verify used to run warcio's ArchiveIterator over every WARC, which costs ~10x a plain file hash. This module
walks the gzip members with zlib directly, parses the WARC headers minimally, and hashes each record's block
and payload in C (hashlib, zlib), so the deep check runs near the speed of the hashing it cannot avoid.

It only ever *passes* a file that warcio would pass with the same record count: it accepts the layout
`WarcFile` writes (one record per gzip member; `WARC/1.x` headers, CRLF, ASCII, no duplicate or folded
fields; `Content-Length` bytes of block then CRLF CRLF; `sha256:<64 hex>` digests; a `warcinfo` first) and
computes the payload start exactly as warcio's HTTP header parser would. Anything else is not judged here:
`Scan.ok` is False and verify asks warcio, whose verdict and messages stand. Damage that warcio reads past
silently (a corrupt or truncated gzip member: warcio logs zlib errors to stderr and stops the record short,
skipping its digest check) is described in `Scan.damage`, so verify can still name the file.

Nothing here imports warcio, pyarrow or the store, so a process pool forks it cheaply.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from isal import (
    isal_zlib,  # ISA-L inflate: zlib-compatible, about twice as fast as zlib here
)

CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 CM=deflate: how every gzip member begins
_GZIP_WBITS = isal_zlib.MAX_WBITS + 16
# Compressed bytes fed per step; grows, so a small member wastes little of unused_data (copied per member). 8 KB:
# an API response page (~4.5 KB compressed here) then inflates in one call, not two and a join of the output.
_FIRST_STEP = 8192
_VERSIONS = (b"WARC/1.1", b"WARC/1.0")
_WARC_HEAD = re.compile(rb"WARC/1\.[01](?:\r\n[!-9;-~]+:[ -~]*)+")
_FIELD = re.compile(rb"\r\n([!-9;-~]+): *([ -~]*)")
_DECODED_FIELD = re.compile(rb"(?:^|\n)(?:content|transfer)-encoding[ \t]*:", re.IGNORECASE)
_SHA256_FIELD = re.compile(rb"sha256:[0-9a-fA-F]{64}")
# A field's start, for `_check_common`: re.split gives [first line, name, value, name, value, ...].
_FIELD_START = re.compile(rb"\r\n([!-9;-~]+): *")
_PRINTABLE = bytes(range(0x20, 0x7f))
_PRINTABLE_TAB = b"\t" + _PRINTABLE
_HTTP_RECORDS = (b"response", b"request")
_HTTP_SCHEMES = (b"http:", b"https:")
_DECODED = (b"content-encoding", b"transfer-encoding")


@dataclass
class Scan:
    sha256: str  # of the whole file, as read
    size: int
    ok: bool  # every record passed on the strict layout; records counts them
    records: int = 0
    damage: str | None = None  # certain damage warcio may not report (corrupt/truncated gzip, digest mismatch)


class _Unsupported(Exception):
    """A layout this checker does not judge (warcio decides)."""


class _Damaged(Exception):
    pass


def scan_path(path: str) -> Scan:
    """Scan a local file (the process-pool entry point)."""
    with open(path, "rb") as fh:
        return scan(fh)


def scan(fh) -> Scan:
    """Hash and check a WARC read from a binary stream, reading it once."""
    file_hash = hashlib.sha256()
    size = 0

    def more() -> bytes:
        nonlocal size
        chunk = fh.read(CHUNK)
        file_hash.update(chunk)
        size += len(chunk)
        return chunk

    ok, records, damage = False, 0, None
    try:
        records, _ = _check_records(_members(more, 0), first=True)
        ok = records > 0
    except _Damaged as exc:
        damage = str(exc)
    except _Unsupported:
        pass
    while more():  # the file hash covers every byte, whatever the records held
        pass
    return Scan(file_hash.hexdigest(), size, ok, records if ok else 0, damage)


@dataclass
class Part:
    """The check of the members from `start` (a gzip header at or after the offset asked for) to `end`."""

    start: int
    end: int
    ok: bool
    records: int = 0
    damage: str | None = None


def scan_part(path: str, start: int, stop: int | None) -> Part:
    """Check the members of a local file that begin at the first gzip header at or after `start` (the file's
    first member when `start` is 0), up to the first member end at or after `stop` (the end of the file when
    None). Parts of one file are checked in parallel; `join` accepts them only if each ends exactly where
    the next begins, which proves the next one began at a real member boundary."""
    with open(path, "rb") as fh:
        if start:
            start = _next_gzip_header(fh, start)
            if start is None:
                return Part(os.fstat(fh.fileno()).st_size, os.fstat(fh.fileno()).st_size, True)
        fh.seek(start)
        try:
            records, end = _check_records(_members(lambda: fh.read(CHUNK), start), first=start == 0, stop=stop)
        except _Damaged as exc:
            return Part(start, -1, False, damage=str(exc))
        except _Unsupported:
            return Part(start, -1, False)
        return Part(start, end, True, records)


def join(sha256: str, size: int, parts: list[Part]) -> Scan | None:
    """One file's Scan from its parts in order, or None when the parts do not chain (a gzip header found
    inside compressed data was not a member boundary): then check the file in one pass instead."""
    expected, records = 0, 0
    for part in parts:
        if part.start != expected:
            return None
        if not part.ok:
            return Scan(sha256, size, False, 0, part.damage)
        records += part.records
        expected = part.end
    if expected != size or records == 0:
        return None
    return Scan(sha256, size, True, records)


def _next_gzip_header(fh, offset: int) -> int | None:
    fh.seek(offset)
    carry = b""
    while chunk := fh.read(1 << 16):
        window = carry + chunk
        i = window.find(_GZIP_MAGIC)
        if i >= 0:
            return offset - len(carry) + i
        offset += len(chunk)
        carry = window[-(len(_GZIP_MAGIC) - 1):]
    return None


def _members(more, base: int):
    """Yield (start offset, end offset, decompressed bytes) of each gzip member, from file offset `base`."""
    buf, pos = b"", 0  # base: file offset of buf[0]
    view = memoryview(buf)
    while True:
        if pos >= len(buf):
            base += len(buf)
            buf, pos = more(), 0
            if not buf:
                return
            view = memoryview(buf)
        start = base + pos
        d = isal_zlib.decompressobj(_GZIP_WBITS)
        out = []
        step = _FIRST_STEP
        while True:
            if pos >= len(buf):
                base += len(buf)
                buf, pos = more(), 0
                if not buf:
                    raise _Damaged(f"truncated gzip member at offset {start}")
                view = memoryview(buf)
            piece = view[pos:pos + step]
            try:
                out.append(d.decompress(piece))
            except isal_zlib.error as exc:
                raise _Damaged(f"damaged gzip member at offset {start}: {exc}") from None
            if d.eof:
                pos += len(piece) - len(d.unused_data)
                break
            pos += len(piece)
            step = min(step * 2, CHUNK)
        yield start, base + pos, out[0] if len(out) == 1 else b"".join(out)


def _check_records(members, *, first: bool, stop: int | None = None) -> tuple[int, int]:
    """(records checked, offset after the last); `first`: these are the file's first records."""
    n, end = 0, 0
    for start, end, data in members:
        rec_type = _check_record(data, start)
        if first and n == 0 and rec_type != b"warcinfo":
            raise _Unsupported
        n += 1
        if stop is not None and end >= stop:
            break
    return n, end


def _check_record(data: bytes, offset: int) -> bytes:
    """Check one member holding one record; return its WARC-Type."""
    rec_type = _check_common(data)
    return rec_type if rec_type is not None else _check_record_exact(data, offset)


def _check_common(data: bytes) -> bytes | None:
    """The WARC-Type of a record in the exact layout this archive writes whose digests both match, or None:
    anything else, passing or not, is judged by `_check_record_exact`. Per record this does what that does
    with fewer Python steps (one split for the header fields, digests compared as `sha256:<lower hex>` text,
    the block hashed once when the payload is the block), which matters at ~6,000 records per 10 MB."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = data[:head_end]
    parts = _FIELD_START.split(head)  # [version, name, value, name, value, ...]
    # The header is the version line and `Name: value` lines only when the CR LFs that start the fields are
    # its only bytes outside printable ASCII (then no value holds a CR, LF or other control byte).
    if (parts[0] not in _VERSIONS or len(parts) < 3
            or len(head.translate(None, _PRINTABLE)) != len(parts) - 1 or b" \r\n" in head or head.endswith(b" ")):
        return None
    values = parts[2::2]
    fields = dict(zip(map(bytes.lower, parts[1::2]), values))
    length = fields.get(b"content-length", b"")
    rec_type = fields.get(b"warc-type")
    block_digest = fields.get(b"warc-block-digest")
    if (len(fields) != len(values) or not length.isdigit() or rec_type is None or rec_type == b"revisit"
            or block_digest is None or b"warc-segment-number" in fields):
        return None
    start = head_end + 4
    end = start + int(length)
    if len(data) != end + 4 or not data.endswith(b"\r\n\r\n"):
        return None
    view = memoryview(data)
    if block_digest != b"sha256:" + hashlib.sha256(view[start:end]).hexdigest().encode():
        return None
    payload_digest = fields.get(b"warc-payload-digest")
    if payload_digest is None:
        return rec_type
    payload_start = start
    if rec_type in _HTTP_RECORDS and end > start:
        uri = fields.get(b"warc-target-uri")
        if uri is None or not uri.startswith(_HTTP_SCHEMES):
            return None
        blank = data.find(b"\r\n\r\n", start, end)
        http_head = data[start:blank]
        if blank < 0 or not _plain_http_head(http_head):
            return None
        lower = http_head.lower()  # the case-insensitive regex is slow; most heads name neither encoding
        if (b"content-encoding" in lower or b"transfer-encoding" in lower) and _DECODED_FIELD.search(http_head):
            return None
        payload_start = blank + 4
    if payload_start == start and payload_digest == block_digest:
        return rec_type  # the same bytes, already hashed
    if payload_digest != b"sha256:" + hashlib.sha256(view[payload_start:end]).hexdigest().encode():
        return None
    return rec_type


def _plain_http_head(head: bytes) -> bool:
    """Whether HTTP header lines are plain printable ASCII (TAB allowed), CRLF-separated, none blank: then the
    first empty line is where warcio's parser stops too (it splits on LF alone; str.rstrip() also strips
    \x1c-\x1f). Byte counts instead of a regex (4x faster): with blanks removed, a blank line is an empty one."""
    if len(head.translate(None, _PRINTABLE_TAB)) != 2 * head.count(b"\r\n"):
        return False  # a byte other than those, or a CR or LF not in a CR LF
    solid = head.translate(None, b" \t")
    return bool(solid) and not solid.startswith(b"\r\n") and not solid.endswith(b"\r\n") and b"\r\n\r\n" not in solid


def _check_record_exact(data: bytes, offset: int) -> bytes:
    """Check one member holding one record, in any layout this module judges; return its WARC-Type."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        raise _Unsupported
    head = data[:head_end]
    # Plain printable-ASCII `Name: value` lines, no folding, no trailing blanks: here warcio's parse (split on
    # the first colon, strip the value) and this one read the same fields.
    if not head.isascii() or not _WARC_HEAD.fullmatch(head) or b" \r\n" in head or head.endswith(b" "):
        raise _Unsupported
    pairs = _FIELD.findall(head)
    fields = {name.lower(): value for name, value in pairs}
    if len(fields) != len(pairs):
        raise _Unsupported  # a repeated field: warcio takes the first, leave it to warcio
    length = fields.get(b"content-length", b"")
    if not length.isdigit():
        raise _Unsupported
    start = head_end + 4
    end = start + int(length)
    if len(data) != end + 4 or not data.endswith(b"\r\n\r\n"):
        raise _Unsupported  # not exactly one record in this member
    rec_type = fields.get(b"warc-type")
    if rec_type is None or rec_type == b"revisit" or b"warc-segment-number" in fields:
        raise _Unsupported
    block_digest = fields.get(b"warc-block-digest")
    payload_digest = fields.get(b"warc-payload-digest")
    for value in (block_digest, payload_digest):
        if value is not None and not _SHA256_FIELD.fullmatch(value):
            raise _Unsupported  # other algorithms and encodings: warcio decides
    if block_digest is None and rec_type != b"warcinfo":
        raise _Unsupported  # verify fails such a record; warcio words the failure
    view = memoryview(data)
    if block_digest is not None and not _digest_matches(block_digest, view[start:end]):
        raise _Damaged(f"record {_record_id(fields)} at offset {offset}: block digest mismatch")
    if payload_digest is not None:
        payload_start = start
        if rec_type in _HTTP_RECORDS and end > start:
            uri = fields.get(b"warc-target-uri")
            if uri is None or uri.startswith(b"<"):
                raise _Unsupported
            if uri.startswith(_HTTP_SCHEMES):
                payload_start = _http_payload_start(data, start, end)
        if not _digest_matches(payload_digest, view[payload_start:end]):
            raise _Damaged(f"record {_record_id(fields)} at offset {offset}: payload digest mismatch")
    return rec_type


def _digest_matches(value: bytes, block) -> bool:
    """Whether `value`, a `sha256:<64 hex>` field, names the SHA-256 of `block` (hex in either case)."""
    actual = hashlib.sha256(block).hexdigest().encode()
    return value[7:] == actual or value[7:].lower() == actual


def _http_payload_start(data: bytes, start: int, end: int) -> int:
    """Where warcio's StatusAndHeadersParser stops reading HTTP headers: after the first line (split on LF)
    that is blank once decoded and right-stripped, or at the end of the block."""
    blank = data.find(b"\r\n\r\n", start, end)
    if blank >= 0:
        head = data[start:blank]
        if _plain_http_head(head):
            if _DECODED_FIELD.search(head):
                raise _Unsupported  # warcio decodes such a body as it reads it, and may fail doing so
            return blank + 4
    return _http_payload_start_exact(data, start, end)


def _http_payload_start_exact(data: bytes, start: int, end: int) -> int:
    pos = start
    while pos < end:
        nl = data.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = data[pos:line_end]
        pos = line_end
        if line.partition(b":")[0].rstrip(b" \t").lower() in _DECODED:
            raise _Unsupported  # warcio decodes such a body as it reads it, and may fail doing so
        if not _decode(line).rstrip():
            return pos
    return end


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("iso-8859-1")


def _record_id(fields: dict) -> str:
    return fields.get(b"warc-record-id", b"(no WARC-Record-ID)").decode()
