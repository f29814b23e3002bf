"""`warc.record_bytes` writes what warcio's record builder and writer write, byte for byte, for every record type
WarcFile uses, with unicode in WARC fields, non-ASCII HTTP header values (warcio percent-encodes those),
empty status lines and bodies."""
from __future__ import annotations

import io

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders

from civic_archive.warc import Sha256WARCWriter, record_bytes

TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F, blacklist_characters=":\r\n"), max_size=12)
NONEMPTY = TEXT.filter(bool)  # WarcFile always passes an id and a date (warcio makes up missing or empty ones)
FIELDS = st.builds(lambda rid, date, extra: {"WARC-Record-ID": rid, "WARC-Date": date, **extra},
                   NONEMPTY, NONEMPTY, st.dictionaries(st.sampled_from(["WARC-Warcinfo-ID", "WARC-Concurrent-To",
                                                                "WARC-Refers-To", "WARC-Truncated", "WARC-Filename",
                                                                "X-Note"]), TEXT))
HTTP_FIELDS = st.lists(st.tuples(st.sampled_from(["Content-Type", "Host", "Accept", "X-A", "Set-Cookie"]),
                                 st.one_of(TEXT, st.just("a=b; c=\"é\""))), max_size=4)


def by_warcio(rec_type, uri, fields, payload, http, content_type) -> bytes:
    writer = Sha256WARCWriter(None, gzip=False, warc_version="1.1")
    writer.out = out = io.BytesIO()
    record = writer.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), length=len(payload),
                                       warc_content_type=content_type, warc_headers_dict=dict(fields),
                                       http_headers=http)
    writer.write_record(record)
    return out.getvalue()


@settings(max_examples=400, deadline=None)
@given(rec_type=st.sampled_from(["warcinfo", "response", "request", "metadata", "resource"]),
       uri=st.one_of(st.just(""), st.just("http://x/a?b=c"), st.just("urn:x-civic-archive:capture:1"), TEXT),
       fields=FIELDS, payload=st.binary(max_size=300), http_fields=HTTP_FIELDS,
       status=st.sampled_from(["200 OK", "", "404 Not Found", "GET /a?b=é HTTP/1.1"]),
       content_type=st.sampled_from(["", "application/json", "application/warc-fields"]))
def test_same_bytes_as_warcio(rec_type, uri, fields, payload, http_fields, status, content_type):
    assume(rec_type not in ("response", "request") or status or http_fields)  # WarcFile always has a status
    def http():
        if rec_type not in ("response", "request"):
            return None
        if rec_type == "request" and status.startswith("GET"):
            return StatusAndHeaders(status, list(http_fields), protocol="HTTP/1.1", is_http_request=True)
        return StatusAndHeaders(status, list(http_fields), protocol="HTTP/1.1")
    head = http()
    if head is not None and not head.to_str().isascii():
        # warcio rewrites (or refuses) non-ASCII HTTP lines; the archive keeps them as the server sent them.
        ours = record_bytes(rec_type, uri, fields, payload, head, content_type)
        text = head.to_str()
        sent = text.encode("latin-1") if all(ord(c) < 256 for c in text) else text.encode("utf-8")
        assert sent + b"\r\n" + payload + b"\r\n\r\n" in ours
        return
    assert outcome(record_bytes, rec_type, uri, fields, payload, http(), content_type) == \
        outcome(by_warcio, rec_type, uri, fields, payload, http(), content_type)


def test_http_records_need_a_status_line():
    import pytest

    with pytest.raises(ValueError):
        record_bytes("response", "http://x/", {"WARC-Record-ID": "1", "WARC-Date": "d"}, b"HTTP/1.1 200 OK\r\n\r\n",
                     StatusAndHeaders("", [], protocol="HTTP/1.1"))


def outcome(fn, *args):
    try:
        return fn(*args)
    except UnicodeError as exc:  # a non-ASCII HTTP status line: both refuse it
        return type(exc).__name__
