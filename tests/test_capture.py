"""The recording session: exchanges land in the WARC with credentials redacted everywhere, including the
tokens a Graph-style API echoes inside response bodies; connectors get the redacted bytes back."""
from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from civic_archive.capture import BearerAuth, CaptureError, QueryTokenAuth, RecordingSession
from civic_archive import warccheck
from civic_archive.warc import WarcFile

TOKEN = "EAABsecretTOKEN0123456789"
APP_SECRET = "appsecret-abcdef123456"


class EchoHandler(BaseHTTPRequestHandler):
    """Answers like the Graph API: `next` repeats every parameter, the token included."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/gzip":
            body = gzip.compress(json.dumps({"ok": True, "echo": query.get("access_token", [""])[0]}).encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if parts.path == "/latin1-headers":
            body = b'{"data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Disposition", "attachment; filename=caf\u00e9.json")  # sent as Latin-1
            self.send_header("X-Note", "a=b; \u00e9")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if parts.path == "/signed.jpg":  # a signed CDN link: readable only with its own parameters
            ok = query.get("X-Amz-Signature") == ["c0ffee"] and query.get("token") == ["t1"]
            body = b"\xff\xd8\xff\xe0 jpeg" if ok else b"AccessDenied"
            self.send_response(200 if ok else 403)
            self.send_header("Content-Type", "image/jpeg" if ok else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if parts.path in ("/big", "/big-declared"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if parts.path == "/big-declared":
                self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 100_000)
            return
        token = query.get("access_token", [None])[0] or self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token != TOKEN:
            body = json.dumps({"error": {"message": f"Invalid OAuth access token - Cannot parse access token {token}",
                                         "type": "OAuthException", "code": 190}})
            status = 400
        else:
            after = int(query.get("after", ["0"])[0])
            next_url = f"http://{self.headers['Host']}{parts.path}?{parts.query.split('&after=')[0]}&after={after + 1}"
            doc = {"data": [{"id": f"1_{after}", "message": "hello"}], "paging": {"next": next_url}}
            body = json.dumps(doc).replace("/", "\\/").replace("&", "\\u0026")
            status = 200
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Set-Cookie", f"session={TOKEN}; HttpOnly")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def warc(tmp_path):
    w = WarcFile(str(tmp_path / "t.warc.gz"), "warc/t/t.warc.gz", {"software": "test"})
    yield w
    w.close()


def records(path):
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, check_digests=True):
            body = rec.content_stream().read()
            yield rec, body


def test_token_never_stored_but_paging_still_works(server, warc):
    session = RecordingSession(lambda: warc, QueryTokenAuth(TOKEN, APP_SECRET))
    first = session.get(f"{server}/1/feed", {"fields": "id,message", "limit": 1})
    assert first.status == 200
    next_url = first.json()["paging"]["next"]
    assert "access_token=REDACTED" in next_url and TOKEN not in next_url
    second = session.get(next_url)  # the session re-authenticates the redacted URL
    assert second.status == 200 and second.json()["data"][0]["id"] == "1_1"
    warc.close()
    raw = open(warc.path, "rb").read()
    plain = b"".join(body for _, body in records(warc.path))
    for secret in (TOKEN, APP_SECRET, session.auth.proof):
        assert secret.encode() not in gzip.decompress(raw)
        assert secret.encode() not in plain
    notes = [json.loads(body) for rec, body in records(warc.path) if rec.rec_type == "metadata"]
    names = {(r["where"], r["name"]) for n in notes for r in n["redactions"]}
    assert ("request-url", "access_token") in names and ("request-url", "appsecret_proof") in names
    assert ("response-body", "access_token") in names and ("response-headers", "Set-Cookie") in names


def test_bearer_header_and_echoed_token_in_error_are_redacted(server, warc):
    session = RecordingSession(lambda: warc, BearerAuth("wrong-token-but-secret-123"))
    cap = session.get(f"{server}/1/feed")
    assert cap.status == 400 and "wrong-token" not in cap.body.decode()
    warc.close()
    stored = gzip.decompress(open(warc.path, "rb").read())
    assert b"wrong-token-but-secret-123" not in stored
    assert b"Authorization: Bearer REDACTED" in stored


def test_media_url_is_fetched_with_its_own_signed_parameters(server, warc):
    """A media URL from the platform is fetched as given (no credentials of ours): a signed link's parameters
    are what let it be read, so they are not stripped as the session's own secrets would be."""
    session = RecordingSession(lambda: warc, QueryTokenAuth(TOKEN))
    cap = session.get(f"{server}/signed.jpg?X-Amz-Signature=c0ffee&token=t1&w=640", authenticate=False)
    assert cap.status == 200 and cap.body.startswith(b"\xff\xd8")
    warc.close()
    stored = gzip.decompress(open(warc.path, "rb").read())
    assert TOKEN.encode() not in stored and b"access_token" not in stored  # ours never went with it


def test_digests_cover_the_stored_bytes_and_verify(server, warc):
    session = RecordingSession(lambda: warc, QueryTokenAuth(TOKEN))
    session.get(f"{server}/1/feed")
    warc.close()
    checked = [(rec.rec_type, rec.digest_checker.passed) for rec, _ in records(warc.path)]
    assert [t for t, _ in checked] == ["warcinfo", "response", "request", "metadata"]
    assert all(passed is not False for _, passed in checked)


def test_content_encoding_is_decoded_and_noted(server, warc):
    session = RecordingSession(lambda: warc, QueryTokenAuth(TOKEN))
    cap = session.get(f"{server}/gzip")
    assert cap.json()["ok"] is True and cap.json()["echo"] == "REDACTED"
    warc.close()
    recs = list(records(warc.path))
    response = next(r for r, _ in recs if r.rec_type == "response")
    assert response.http_headers.get_header("Content-Encoding") is None
    note = next(json.loads(b) for r, b in recs if r.rec_type == "metadata")
    assert note["stored_body"] == "decoded" and note["original_headers"]["Content-Encoding"] == "gzip"


def test_oversized_body_is_recorded_truncated(server, warc):
    session = RecordingSession(lambda: warc, None, max_body_bytes=1000)
    cap = session.get(f"{server}/big")
    assert cap.truncated and len(cap.body) == 1000
    warc.close()
    response = next(r for r, _ in records(warc.path) if r.rec_type == "response")
    assert response.rec_headers.get_header("WARC-Truncated") == "length"


def test_body_declared_over_the_cap_is_not_downloaded(server, warc):
    """A video over the account's media cap was downloaded up to the cap every night, only to be refused.
    When the response declares its length, nothing of the body is read; the exchange is still recorded."""
    session = RecordingSession(lambda: warc, None, max_body_bytes=1000)
    cap = session.get(f"{server}/big-declared")
    assert cap.truncated and cap.body == b"" and cap.status == 200
    warc.close()
    recs = list(records(warc.path))
    response = next(r for r, _ in recs if r.rec_type == "response")
    assert response.rec_headers.get_header("WARC-Truncated") == "length"
    note = next(json.loads(b) for r, b in recs if r.rec_type == "metadata")
    assert note["truncated"] == {"reason": "length", "limit_bytes": 1000, "kept_bytes": 0, "error": None,
                                 "declared_length": "100000"}


def test_connection_failure_is_an_error_with_evidence(warc):
    session = RecordingSession(lambda: warc, QueryTokenAuth(TOKEN), timeout=2)
    with pytest.raises(CaptureError) as err:
        session.get("http://127.0.0.1:9/nothing-listens-here")
    assert TOKEN not in str(err.value) and err.value.ref is not None
    warc.close()
    stored = gzip.decompress(open(warc.path, "rb").read())
    assert b"fetch-error" in stored and TOKEN.encode() not in stored


def test_non_ascii_header_values_are_stored_as_sent(server, warc):
    """warcio cannot write `a=b; é` (it raises); such a header is kept with the bytes the server sent, and the
    record's digests still verify."""
    session = RecordingSession(lambda: warc, QueryTokenAuth(TOKEN))
    cap = session.get(f"{server}/latin1-headers")
    assert cap.status == 200
    warc.close()
    response = next(rec for rec, _ in records(warc.path) if rec.rec_type == "response")
    assert response.digest_checker.passed is not False
    raw = gzip.decompress(open(warc.path, "rb").read())
    assert b"X-Note: a=b; \xe9\r\n" in raw and b"filename=caf\xe9.json" in raw
    scan = warccheck.scan_path(warc.path)
    assert scan.damage is None  # (non-ASCII header bytes: the fast check hands the file to warcio, which passes)
