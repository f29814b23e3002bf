"""The fast WARC record check (`warccheck`) against warcio, the reference it must never be more lenient than.

Golden WARC: the same verdict and record count as warcio. Damage: a flipped byte inside a gzip member, a
wrong block digest, a wrong payload digest and a truncated member are each caught, and verify names the file.
Generated WARCs, intact and damaged at random: whenever the fast check passes a file, warcio passes it too
with the same number of records; whenever warcio fails one, the fast check does not pass it.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import os
import random
import re
import zlib
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from civic_archive import warccheck
from civic_archive.storage import LocalStore
from civic_archive.verify import Report, check_warc
from civic_archive.warc import WarcFile

WHEN = datetime(2026, 3, 4, 16, 20, 11, 123456, tzinfo=timezone.utc)
BODY = b'{"data":[{"id":"1_2","message":"Main St closed"}]}'
KEY = "warc/acct/2026/03/sample-0.warc.gz"


def write_sample(path, bodies=(BODY,), metadata=True) -> WarcFile:
    """The golden sample of tests/test_warc.py (same ids, dates and records), optionally with more exchanges."""
    ids = (f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>" for n in itertools.count(1))
    warc = WarcFile(str(path), KEY, {"software": "civic-archive/test", "city": "City of Example", "account": "acct",
                                     "run-id": "acct.20260304T162011123456Z.abcdef"},
                    make_id=lambda: next(ids), clock=lambda: WHEN)
    for body in bodies:
        warc.write_exchange(url="https://graph.example/v21.0/1/feed?access_token=REDACTED&limit=2", when=WHEN,
                            request_line="GET /v21.0/1/feed?access_token=REDACTED&limit=2 HTTP/1.1",
                            request_headers=[("Host", "graph.example"), ("Accept", "*/*")],
                            status_line="200 OK",
                            response_headers=[("Content-Type", "application/json; charset=UTF-8"),
                                              ("Content-Length", str(len(body)))], body=body)
    if metadata:
        warc.write_metadata(uri="urn:x-civic-archive:capture:test", when=WHEN, payload=b'{"redactions":[]}',
                            refers_to="<urn:uuid:00000000-0000-4000-8000-000000000002>")
    warc.close()
    return warc


def warcio_verdict(data: bytes) -> tuple[bool, int]:
    """(passes, records) by the check verify used before: warcio's iterator with digest checks."""
    try:
        n, ok = 0, True
        for rec in ArchiveIterator(io.BytesIO(data), check_digests=True):
            if n == 0 and rec.rec_type != "warcinfo":
                ok = False
            rec.content_stream().read()
            n += 1
            if rec.digest_checker.problems or rec.digest_checker.passed is False:
                ok = False
            if rec.rec_type != "warcinfo" and not (rec.rec_headers.get_header("WARC-Block-Digest") or "").startswith("sha256:"):
                ok = False
        return ok and n > 0, n
    except Exception:
        return False, 0


def fast(data: bytes) -> warccheck.Scan:
    return warccheck.scan(io.BytesIO(data))


def members(data: bytes) -> list[bytes]:
    """The compressed gzip members of a file."""
    out, rest = [], data
    while rest:
        d = zlib.decompressobj(zlib.MAX_WBITS + 16)
        d.decompress(rest)
        used = len(rest) - len(d.unused_data)
        out.append(rest[:used])
        rest = rest[used:]
    return out


def rewrite_member(data: bytes, index: int, change) -> bytes:
    """The file with member `index` decompressed, changed and recompressed (gzip framing intact)."""
    parts = members(data)
    parts[index] = gzip.compress(change(gzip.decompress(parts[index])))
    return b"".join(parts)


def check_in_store(tmp_path, data: bytes) -> Report:
    store = LocalStore(tmp_path / "store")
    path = tmp_path / "in.warc.gz"
    path.write_bytes(data)
    store.put_file(KEY, str(path))
    report = Report()
    digest, size = check_warc(store, KEY, report)
    assert digest == hashlib.sha256(data).hexdigest() and size == len(data)
    return report


@pytest.fixture
def sample(tmp_path) -> bytes:
    path = tmp_path / "sample.warc.gz"
    write_sample(path)
    return path.read_bytes()


def test_golden_warc_passes_as_it_does_in_warcio(sample):
    scan = fast(sample)
    assert scan.ok and scan.damage is None
    assert warcio_verdict(sample) == (True, scan.records) == (True, 4)
    assert scan.sha256 == hashlib.sha256(sample).hexdigest() and scan.size == len(sample)


def test_golden_warc_through_verify(tmp_path, sample):
    report = check_in_store(tmp_path, sample)
    assert report.ok and report.warc_records == 4


def test_flipped_byte_inside_a_gzip_member_is_caught(tmp_path, sample):
    response = members(sample)[1]
    start = sample.index(response)
    bad = bytearray(sample)
    bad[start + len(response) // 2] ^= 0x01  # inside the deflate data of the response record
    scan = fast(bytes(bad))
    assert not scan.ok and scan.damage and "gzip member at offset" in scan.damage
    report = check_in_store(tmp_path, bytes(bad))
    assert [k for k, _ in report.failures] == [KEY]


def test_wrong_block_digest_is_caught(tmp_path, sample):
    def change(record):
        return re.sub(rb"(WARC-Block-Digest: sha256:)([0-9a-f])", lambda m: m[1] + (b"0" if m[2] != b"0" else b"1"),
                      record, count=1)
    bad = rewrite_member(sample, 1, change)
    scan = fast(bad)
    assert not scan.ok and "block digest mismatch" in scan.damage
    assert not warcio_verdict(bad)[0]
    report = check_in_store(tmp_path, bad)
    assert report.failures and all(k == KEY for k, _ in report.failures)
    assert "digest mismatch" in report.failures[0][1]  # warcio's wording, as before


def test_wrong_payload_digest_is_caught(tmp_path, sample):
    right = hashlib.sha256(BODY).hexdigest().encode()
    wrong = hashlib.sha256(BODY + b"x").hexdigest().encode()
    bad = rewrite_member(sample, 1, lambda record: record.replace(right, wrong))
    scan = fast(bad)
    assert not scan.ok and "payload digest mismatch" in scan.damage
    assert not warcio_verdict(bad)[0]
    report = check_in_store(tmp_path, bad)
    assert [k for k, _ in report.failures] == [KEY]


def test_changed_payload_with_intact_framing_is_caught(sample):
    bad = rewrite_member(sample, 1, lambda record: record.replace(b"Main St closed", b"Main St closEd"))
    scan = fast(bad)
    assert not scan.ok and "digest mismatch" in scan.damage


def test_truncated_member_is_caught(tmp_path, sample):
    info, response = members(sample)[:2]
    bad = sample[:len(info) + len(response) // 2]  # the file ends inside the response record's member
    scan = fast(bad)
    assert not scan.ok and scan.damage == f"truncated gzip member at offset {len(info)}"
    assert warcio_verdict(bad) == (True, 1)  # warcio stops at the cut without a word
    report = check_in_store(tmp_path, bad)
    assert report.failures == [(KEY, f"damaged WARC: truncated gzip member at offset {len(info)}")]


def test_upper_case_hex_digests_pass_as_in_warcio(tmp_path, sample):
    """Digests are compared as lower-case hex text first; a digest written in upper case is the same digest."""
    def upper(record: bytes) -> bytes:
        return re.sub(rb"(Digest: sha256:)([0-9a-f]{64})", lambda m: m.group(1) + m.group(2).upper(), record)
    data = rewrite_member(sample, 1, upper)
    assert data != sample
    scan = fast(data)
    assert scan.ok and warcio_verdict(data) == (True, scan.records)
    def other_digit(record: bytes) -> bytes:
        return re.sub(rb"(Block-Digest: sha256:)([0-9A-F])", lambda m: m.group(1) + (b"E" if m.group(2) == b"F" else b"F"),
                      record)
    wrong = fast(rewrite_member(data, 1, other_digit))
    assert not wrong.ok and "block digest mismatch" in wrong.damage


def test_layouts_it_does_not_judge_are_left_to_warcio(tmp_path):
    """warcio's own writer (SHA-1/Base32 digests, no warcinfo): not judged here, and verify still asks warcio."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="1.1")
    rec = writer.create_warc_record("http://x/", "response", payload=io.BytesIO(BODY), length=len(BODY),
                                    http_headers=StatusAndHeaders("200 OK", [], protocol="HTTP/1.1"))
    writer.write_record(rec)
    data = buf.getvalue()
    scan = fast(data)
    assert not scan.ok and scan.damage is None
    report = check_in_store(tmp_path, data)
    assert report.warc_records == 1  # counted by warcio
    assert not report.ok  # and failed as before: no warcinfo first, no sha256 block digest
    assert {why for _, why in report.failures} == {"first record is not warcinfo",
                                                   "record without a sha256 WARC-Block-Digest"}


def test_file_spanning_many_reads(tmp_path):
    """Records bigger than the read size and members crossing read boundaries."""
    rnd = random.Random(3)
    bodies = [bytes(rnd.getrandbits(8) for _ in range(n)) for n in (5, warccheck.CHUNK + 17, 70_000, 0, 3 * 4096)]
    path = tmp_path / "big.warc.gz"
    write_sample(path, bodies)
    data = path.read_bytes()
    scan = fast(data)
    assert scan.ok and (True, scan.records) == warcio_verdict(data) == (True, 2 + 2 * len(bodies))


def parts_of(path, bounds) -> list[warccheck.Part]:
    bounds = list(bounds) + [None]
    return [warccheck.scan_part(str(path), a, b) for a, b in zip(bounds, bounds[1:])]


def test_parts_checked_apart_join_to_the_whole(tmp_path):
    path = tmp_path / "p.warc.gz"
    write_sample(path, [bytes([n]) * (300 + 40 * n) for n in range(40)])
    data = path.read_bytes()
    whole = fast(data)
    assert whole.ok
    for n in (2, 3, 7, 50):
        bounds = [len(data) * i // n for i in range(n)]
        joined = warccheck.join(whole.sha256, whole.size, parts_of(path, bounds))
        assert joined == whole


def test_parts_find_damage_and_a_false_member_start(tmp_path):
    path = tmp_path / "t.warc.gz"
    write_sample(path, [b"a" * 500, b"x" * 3000 + b"\x1f\x8b\x08" + b"y" * 3000, b"b" * 500])
    # Stored (level 0) deflate keeps the body's bytes as they are: a gzip magic inside a member.
    data = b"".join(gzip.compress(gzip.decompress(m), compresslevel=0, mtime=0) for m in members(path.read_bytes()))
    path.write_bytes(data)
    whole = fast(data)
    assert whole.ok
    fake = min(set(m.start() for m in re.finditer(b"\x1f\x8b\x08", data)) - set(_member_starts(data)))
    parts = parts_of(path, [0, fake - 1])
    assert parts[1].start == fake
    assert warccheck.join(whole.sha256, whole.size, parts) is None  # does not chain: check the file whole
    bad = bytearray(data)
    bad[-40] ^= 0x01
    path.write_bytes(bytes(bad))
    joined = warccheck.join(whole.sha256, whole.size, parts_of(path, [0, _member_starts(data)[-2]]))
    assert joined is not None and not joined.ok and "gzip member" in joined.damage


def _member_starts(data: bytes) -> list[int]:
    starts, at = [], 0
    for member in members(data):
        starts.append(at)
        at += len(member)
    return starts


HEADER_NAMES = st.sampled_from(["X-A", "Accept", "Content-Encoding", "Transfer-Encoding", "X-Long", "Set-Cookie"])
# No ';' or '=': warcio's percent-encoding of non-ASCII header values can leave some unencoded around those,
# and then refuses to write the record (with its own writer as with ours).
HEADER_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_characters=";="), max_size=30)


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """The file with one random edit: a byte flipped, cut, inserted or a decompressed record edited."""
    how = draw(st.sampled_from(["flip", "cut", "insert", "record"]))
    if how == "flip":
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if how == "cut":
        return data[:draw(st.integers(0, len(data) - 1))]
    if how == "insert":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
    index = draw(st.integers(0, len(members(data)) - 1))

    def change(record):
        j = draw(st.integers(0, len(record) - 1))
        new = draw(st.sampled_from([b"", b" ", b"\r\n", b"\n", b"\t", b":", b"0", b"X", b"\x1c", b"\xc3\xa9"]))
        return record[:j] + new + record[j + draw(st.integers(0, 2)):]
    return rewrite_member(data, index, change)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data(), bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=3),
       headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4), mutate=st.booleans())
def test_never_more_lenient_than_warcio(tmp_path_factory, data, bodies, headers, mutate):
    path = tmp_path_factory.mktemp("gen") / "g.warc.gz"
    ids = (f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>" for n in itertools.count(1))
    warc = WarcFile(str(path), KEY, {"software": "t"}, make_id=lambda: next(ids), clock=lambda: WHEN)
    for body in bodies:
        warc.write_exchange(url="http://x/a b", when=WHEN, request_line="GET /a HTTP/1.1", request_headers=headers,
                            status_line="200 OK", response_headers=headers, body=body)
    warc.close()
    raw = path.read_bytes()
    if mutate:
        raw = data.draw(damaged(raw))
    scan = fast(raw)
    passes, n = warcio_verdict(raw)
    event(f"fast {'ok' if scan.ok else 'damage' if scan.damage else 'not judged'}, warcio {'ok' if passes else 'fails'}")
    if scan.ok:
        assert passes and n == scan.records
    if not passes:
        assert not scan.ok
    assert scan.sha256 == hashlib.sha256(raw).hexdigest() and scan.size == len(raw)


def test_verify_reports_the_same_with_a_process_pool(tmp_path, fakes, monkeypatch):
    """Objects read ahead by forked workers give the same report, in the same order, as reading them here."""
    import shutil

    from archive_builders import harvest_demo
    from civic_archive import verify as verify_module

    root = tmp_path / "archive"
    _, store, results = harvest_demo(fakes, f"file://{root}")
    assert all(r.ok for r in results)
    warcs = [k for k in store.list("warc/") if k.endswith(".warc.gz")]
    parquets = [k for k in store.list("records/") if k.endswith(".parquet")]
    for key in (warcs[0], warcs[-1], parquets[0]):  # damage three objects, and hide a fourth
        path = store.local_path(key)
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2] ^= 0x01
        os.chmod(path, 0o644)
        open(path, "wb").write(bytes(data))
    os.remove(store.local_path(warcs[1]))
    pooled = []
    start = verify_module._Reader._start

    def spy(self):
        start(self)
        pooled.append(self.pool is not None)
    monkeypatch.setattr(verify_module._Reader, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(verify_module._Reader, "PART_BYTES", 2048)  # and check WARCs in parts
    monkeypatch.setattr(verify_module._Reader, "_start", spy)
    here = verify_module.verify(store, workers=1)
    ahead = verify_module.verify(store, workers=2)
    assert pooled == [False, True]
    assert here.failures == ahead.failures and here.summary() == ahead.summary()
    named = {k for k, _ in ahead.failures}
    assert {warcs[0], warcs[1], warcs[-1], parquets[0]} <= named
    shutil.rmtree(root)


def test_pool_parquet_check_words_problems_as_the_in_process_one(tmp_path):
    """The pool decodes local Parquet files itself; its verdicts must be the in-process check's."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from civic_archive import records
    from civic_archive import verify as verify_module
    from civic_archive.storage import LocalStore

    store = LocalStore(str(tmp_path))
    good = records.ARROW_SCHEMA.empty_table()
    narrow = pa.table({"record_id": pa.array(["r"]), "text": pa.array(["t"])})
    cases = {"good.parquet": good, "narrow.parquet": narrow}
    for name, table in cases.items():
        pq.write_table(table, tmp_path / name)
    data = (tmp_path / "good.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    # Several row groups, then one of them damaged inside its compressed pages (footer intact): the pool
    # decodes row group by row group and must still decode every one.
    text = pa.table({"record_id": pa.array([f"r{i}" for i in range(3000)]),
                     "text": pa.array([f"comment {i} " * (i % 50) for i in range(3000)])})
    pq.write_table(text, tmp_path / "groups.parquet", row_group_size=1000, compression="zstd")
    meta = pq.ParquetFile(tmp_path / "groups.parquet").metadata
    column = meta.row_group(2).column(1)  # the last row group's text: dictionary page, then data pages
    middle = column.dictionary_page_offset + column.total_compressed_size // 2
    damaged = bytearray((tmp_path / "groups.parquet").read_bytes())
    damaged[middle:middle + 64] = bytes(64)
    (tmp_path / "damaged.parquet").write_bytes(bytes(damaged))
    verdicts = {}
    for name in ("good.parquet", "narrow.parquet", "cut.parquet", "groups.parquet", "damaged.parquet"):
        here = verify_module.parquet_problem(store, name, "records")
        pooled = verify_module._parquet_path_problem(str(tmp_path / name), "records")
        assert here == pooled
        verdicts[name] = here
    assert verdicts["good.parquet"] is None
    assert verdicts["narrow.parquet"].startswith("records file lacks columns")
    assert verdicts["cut.parquet"].startswith("unreadable Parquet")
    assert verdicts["groups.parquet"].startswith("records file lacks columns")  # decoded in full, then judged
    assert verdicts["damaged.parquet"].startswith("unreadable Parquet")


def sample_records(sample: bytes) -> list[bytes]:
    return [gzip.decompress(m) for m in members(sample)]


@pytest.mark.parametrize("old,new", [
    (b"Main St closed", b"Main St closEd"),  # a byte of the response payload
    (b"200 OK", b"200 oK"),  # the response's HTTP header: in the block, not the payload
    (b"charset=UTF-8", b"charset=UTF-9"),
    (b"Host: graph.example", b"Host: graph.exampl3"),  # the request's block
    (b"redactions", b"redactionS"),  # the metadata record's block (= its payload)
    (b"City of Example", b"City of ExamplE"),  # the warcinfo block
])
def test_flipped_byte_in_a_block_with_intact_framing_is_caught(sample, old, new):
    """Block and payload are hashed and compared on the common path too: every such change is named."""
    index = next(i for i, r in enumerate(sample_records(sample)) if old in r.split(b"\r\n\r\n", 1)[1])
    bad = rewrite_member(sample, index, lambda r: r.replace(old, new, 1))
    scan = fast(bad)
    assert not scan.ok and "digest mismatch" in scan.damage
    assert warccheck._check_common(sample_records(bad)[index]) is None


@pytest.mark.parametrize("field", [b"WARC-Block-Digest", b"WARC-Payload-Digest"])
def test_changed_digest_field_is_caught(sample, field):
    def change(record: bytes) -> bytes:
        i = record.index(field + b": sha256:") + len(field) + 10
        return record[:i] + (b"0" if record[i:i + 1] != b"0" else b"1") + record[i + 1:]
    bad = rewrite_member(sample, 1, change)
    assert warccheck._check_common(sample_records(bad)[1]) is None
    scan = fast(bad)
    assert not scan.ok and ("block" if b"Block" in field else "payload") + " digest mismatch" in scan.damage


RECORD_EDITS = [b"", b" ", b"\r\n", b"\n", b"\r", b"\t", b":", b": ", b"0", b"X", b"\x1c", b"\xc3\xa9", b"\r\n\r\n",
                b"WARC-Type: response\r\n", b"warc-type: metadata\r\n", b"Content-Length: 5\r\n", b"sha256:", b"SHA256:",
                b"Content-Encoding: gzip\r\n", b"Transfer-Encoding: chunked\r\n", b"HTTPS:"]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_common_path_passes_only_what_the_exact_check_passes(sample, data):
    """`_check_common` (the fast path for this archive's own layout) never passes a record that the exact check
    would not pass with the same WARC-Type: header and block bytes edited, case swapped, fields added."""
    record = data.draw(st.sampled_from(sample_records(sample)))
    for _ in range(data.draw(st.integers(1, 2))):
        i = data.draw(st.integers(0, len(record)))
        if data.draw(st.booleans()):
            record = record[:i] + record[i:i + 1].swapcase() + record[i + 1:]
        else:
            record = record[:i] + data.draw(st.sampled_from(RECORD_EDITS)) + record[i + data.draw(st.integers(0, 2)):]
    common = warccheck._check_common(record)
    try:
        exact = warccheck._check_record_exact(record, 0)
    except (warccheck._Unsupported, warccheck._Damaged) as exc:
        exact = type(exc).__name__
    event(f"common {'passes' if common else 'defers'}, exact {exact if isinstance(exact, str) else 'passes'}")
    assert common is None or common == exact


HTTP_HEAD = re.compile(rb"[\t -~]*[!-~][\t -~]*(?:\r\n[\t -~]*[!-~][\t -~]*)*")  # the regex it replaced


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"\r\n", b"\r", b"\n", b" ", b"\t", b"a", b":", b"\x00", b"\x7f", b"\xc3", b"~",
                                 b"\x1f", b"\x0b"]), max_size=10))
def test_plain_http_head_is_the_regex_it_replaced(pieces):
    head = b"".join(pieces)
    assert warccheck._plain_http_head(head) == bool(HTTP_HEAD.fullmatch(head))
