"""WARC writing: golden records (fixed ids and dates, byte for byte), digests, offsets, warcio check."""
from __future__ import annotations

import gzip
import hashlib
import itertools
import subprocess
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from civic_archive.warc import WarcFile

GOLDEN = Path(__file__).parent / "data" / "golden-exchange.warc"
WHEN = datetime(2026, 3, 4, 16, 20, 11, 123456, tzinfo=timezone.utc)
BODY = b'{"data":[{"id":"1_2","message":"Main St closed"}]}'


def write_sample(path: Path) -> WarcFile:
    ids = (f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>" for n in itertools.count(1))
    warc = WarcFile(str(path), "warc/acct/2026/03/sample-0.warc.gz",
                    {"software": "civic-archive/test", "city": "City of Example", "account": "acct",
                     "run-id": "acct.20260304T162011123456Z.abcdef"},
                    make_id=lambda: next(ids), clock=lambda: WHEN)
    warc.write_exchange(url="https://graph.example/v21.0/1/feed?access_token=REDACTED&limit=2", when=WHEN,
                        request_line="GET /v21.0/1/feed?access_token=REDACTED&limit=2 HTTP/1.1",
                        request_headers=[("Host", "graph.example"), ("Accept", "*/*")],
                        status_line="200 OK",
                        response_headers=[("Content-Type", "application/json; charset=UTF-8"),
                                          ("Content-Length", str(len(BODY)))], body=BODY)
    warc.write_metadata(uri="urn:x-civic-archive:capture:test", when=WHEN, payload=b'{"redactions":[]}',
                        refers_to="<urn:uuid:00000000-0000-4000-8000-000000000002>")
    warc.close()
    return warc


def test_golden_records_byte_for_byte(tmp_path):
    path = tmp_path / "sample.warc.gz"
    write_sample(path)
    produced = gzip.decompress(path.read_bytes())
    assert produced == GOLDEN.read_bytes()


def test_every_record_is_its_own_gzip_member_at_the_recorded_offset(tmp_path):
    path = tmp_path / "sample.warc.gz"
    ids = (f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>" for n in itertools.count(1))
    warc = WarcFile(str(path), "k.warc.gz", {"software": "t"}, make_id=lambda: next(ids), clock=lambda: WHEN)
    resp, req = warc.write_exchange(url="http://x/a", when=WHEN, request_line="GET /a HTTP/1.1",
                                    request_headers=[], status_line="200 OK", response_headers=[], body=BODY)
    warc.close()
    data = path.read_bytes()
    assert warc.warcinfo_ref.offset == 0 and resp.offset == warc.warcinfo_ref.length
    assert req.offset == resp.offset + resp.length and req.offset + req.length == len(data)
    member = zlib.decompressobj(zlib.MAX_WBITS + 16).decompress(data[resp.offset:resp.offset + resp.length])
    assert member.startswith(b"WARC/1.1\r\nWARC-Type: response\r\n") or b"WARC-Type: response" in member
    assert resp.record_id.encode() in member and member.endswith(BODY + b"\r\n\r\n")


def test_sha256_digests_are_correct_and_linked(tmp_path):
    path = tmp_path / "sample.warc.gz"
    write_sample(path)
    with open(path, "rb") as fh:
        recs = []
        for rec in ArchiveIterator(fh, check_digests=True):
            payload = rec.content_stream().read()
            recs.append((rec.rec_type, dict(rec.rec_headers.headers), payload, rec.digest_checker.passed))
    assert [r[0] for r in recs] == ["warcinfo", "response", "request", "metadata"]
    assert all(passed is not False for *_, passed in recs)
    info, response, request, meta = (r[1] for r in recs)
    assert response["WARC-Payload-Digest"] == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert response["WARC-Block-Digest"].startswith("sha256:") and len(response["WARC-Block-Digest"]) == 71
    assert request["WARC-Concurrent-To"] == response["WARC-Record-ID"]
    assert meta["WARC-Refers-To"] == response["WARC-Record-ID"]
    assert response["WARC-Warcinfo-ID"] == info["WARC-Record-ID"]
    assert b"software: civic-archive/test" in recs[0][2] and b"run-id: acct." in recs[0][2]


def test_warcio_check_passes_and_catches_a_flipped_byte(tmp_path):
    path = tmp_path / "sample.warc.gz"
    write_sample(path)
    ok = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "digest pass" in ok.stdout
    # Damage one payload byte inside the response record, keeping gzip framing valid.
    raw = gzip.decompress(path.read_bytes()).replace(b"Main St closed", b"Main St closEd")
    bad = tmp_path / "bad.warc"
    bad.write_bytes(raw)
    broken = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(bad)], capture_output=True, text=True)
    assert broken.returncode != 0
