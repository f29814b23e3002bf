"""API faults and hostile payloads, table-driven: every case runs a real `harvest_account` of a Facebook Page
against a loopback stub that speaks the Graph API's shapes, then checks the same promises:

- the run never crashes and always commits a manifest (`verify` stays green);
- a fault gives a clear per-account error in the run report, and wherever a response (or a failed attempt)
  was recorded, a quarantined JSON document `quarantine/{run_id}/…` names the WARC record that evidences it;
- a bad item is quarantined with its payload and reason, never dropped silently; the good items around it
  are archived;
- hostile ids never escape the API base path or the archive root, and HTML/script stays inert in the report.

Counted cases (see docs/reliability.md) are the rows of CASES.
"""
from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import pytest

from civic_archive import config as cfg
from civic_archive import records
from civic_archive.harvest import harvest_account
from civic_archive.sources.facebook import FacebookSource
from civic_archive.storage import LocalStore
from civic_archive.verify import verify

TOKEN = "EAABhostiletesttoken0123456789"
PAGE = "100"
MAX_BODY = 1024 * 1024


# --------------------------------------------------------------------------------------------------
# the stub: routes by path to a list of answers, served in turn (the last one repeats)

@dataclass
class A:
    """One answer. `body` may be bytes, str or JSON-able; `length` overrides Content-Length; `cut` sends only
    that many bytes of the body and closes; `hang` sleeps before (or, with `hang_body`, inside) the body;
    `drop` closes the connection without answering."""
    body: Any = None
    status: int = 200
    ctype: str | None = None
    headers: dict = field(default_factory=dict)
    length: int | None = None
    cut: int | None = None
    hang: float = 0.0
    hang_body: bool = False
    drop: bool = False


class Stub:
    def __init__(self):
        self.routes: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.paths: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.stub = self
        self.root = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.base = f"{self.root}/fb/v21.0"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, raw_path: str, query: dict) -> A:
        path = urlsplit(raw_path).path
        self.paths.append(raw_path)
        route = self.routes.get(path)
        if route is None:
            if path.endswith("/comments"):
                return A({"data": []})
            return A({"error": {"message": "Unsupported get request", "code": 100, "error_subcode": 33}}, 400)
        if callable(route):
            route = route(query)
        if isinstance(route, list):
            n = self.counts.get(path, 0)
            self.counts[path] = n + 1
            route = route[min(n, len(route) - 1)]
        return route


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        raw = self.path
        query = dict(parse_qsl(urlsplit(raw).query, keep_blank_values=True))
        a = self.server.stub.answer(raw, query)
        if a.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(a.body, bytes):
            data, ctype = a.body, a.ctype or "application/json; charset=UTF-8"
        elif isinstance(a.body, str):
            data, ctype = a.body.encode(), a.ctype or "text/html; charset=utf-8"
        else:
            data, ctype = json.dumps(a.body).encode(), a.ctype or "application/json; charset=UTF-8"
        if a.hang and not a.hang_body:
            time.sleep(a.hang)
        self.send_response(a.status)
        self.send_header("Content-Type", ctype)
        for k, v in a.headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(a.length if a.length is not None else len(data)))
        self.end_headers()
        try:
            if a.hang_body:
                self.wfile.write(data[:10])
                self.wfile.flush()
                time.sleep(a.hang)
                data = data[10:]
            self.wfile.write(data if a.cut is None else data[:a.cut])
            self.wfile.flush()
        except OSError:
            pass
        if a.cut is not None or a.length is not None:
            self.close_connection = True


# --------------------------------------------------------------------------------------------------
# Graph-shaped pages

def post(n: int, **over) -> dict:
    doc = {"id": f"{PAGE}_{n}", "message": f"post {n}", "created_time": f"2025-03-{n % 28 + 1:02d}T10:00:00+0000",
           "updated_time": f"2025-03-{n % 28 + 1:02d}T10:00:00+0000", "permalink_url": f"https://fb.example/{n}",
           "from": {"id": PAGE, "name": "Parks"}, "is_hidden": False}
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not _DROP}


_DROP = object()


def page(items: list, next_url: str | None = None) -> dict:
    doc: dict = {"data": items}
    if next_url:
        doc["paging"] = {"cursors": {"after": "x"}, "next": next_url}
    return doc


def graph_error(code: int, message: str = "An unexpected error has occurred.", **extra) -> dict:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Atrace", **extra}}


HTML_ERROR = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"


@dataclass
class Case:
    name: str
    fault: str  # row of the reliability table
    routes: Callable[[Stub], dict]
    error: str | None = None  # regex the run's errors must match; None: the run must have no errors
    quarantined: int = 0  # at least this many quarantine documents
    archived: tuple[str, ...] = ()  # platform ids that must be in the records
    check: Callable[[Stub, Any, LocalStore], None] | None = None


def feed_path(stub: Stub) -> str:
    return f"/fb/v21.0/{PAGE}/feed"


def two_pages(second: A) -> Callable[[Stub], dict]:
    """A first good page whose `next` leads to `second`."""
    def routes(stub: Stub) -> dict:
        return {feed_path(stub): lambda q: A(page([post(1)], f"{stub.base}/{PAGE}/feed?after=p2")) if "after" not in q
                else second}
    return routes


def feed(*answers: A) -> Callable[[Stub], dict]:
    return lambda stub: {feed_path(stub): list(answers)}


def items(*docs) -> Callable[[Stub], dict]:
    return feed(A(page(list(docs))))


def good() -> A:
    return A(page([post(1), post(2)]))


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def gzip_bomb() -> bytes:
    return gzip.compress(b'{"data": [' + b" " * (4 * MAX_BODY) + b"]}", 9)


def no_paths_escape(stub: Stub, result, store) -> None:
    for p in stub.paths:
        path = urlsplit(p).path
        assert path.startswith("/fb/v21.0/"), p
        assert "/../" not in path and not path.endswith("/..") and "/./" not in path, p


def script_inert(stub, result, store) -> None:
    text = store.read_bytes(f"manifests/{result.run_id}.report.md").decode()
    assert "<script" not in text.lower() and "<img" not in text.lower()


def paging_host_refused(stub, result, store) -> None:
    assert not any("evil" in p for p in stub.paths)


CASES: list[Case] = [
    # -- 5xx storms and throttling ----------------------------------------------------------------------
    Case("503 storm (HTML), then recovery", "5xx storm", feed(*[A(HTML_ERROR, 503)] * 3, good()),
         archived=(f"{PAGE}_1", f"{PAGE}_2")),
    Case("500 storm (HTML), never recovers", "5xx storm", feed(A(HTML_ERROR, 500)), error=r"HTTP 500", quarantined=1),
    Case("500 storm (Graph code 2), never recovers", "5xx storm", feed(A(graph_error(2), 500)),
         error=r"error 2", quarantined=1),
    Case("500 code 1 twice, then recovery", "5xx storm", feed(A(graph_error(1), 500), A(graph_error(1), 500), good()),
         archived=(f"{PAGE}_1",)),
    Case("throttled (code 32) without end", "5xx storm", feed(A(graph_error(32, "Page request limit reached"), 403)),
         error=r"error 32", quarantined=1),
    Case("502 storm on page 2 keeps page 1", "5xx storm", two_pages(A(HTML_ERROR, 502)), error=r"HTTP 502",
         quarantined=1, archived=(f"{PAGE}_1",)),
    Case("comments 500 storm for one post", "5xx storm",
         lambda s: {feed_path(s): [good()], f"/fb/v21.0/{PAGE}_1/comments": [A(graph_error(2), 500)]},
         error=r"error 2", quarantined=1, archived=(f"{PAGE}_1",)),
    # -- timeouts and dropped connections -------------------------------------------------------------
    Case("timeout before headers", "timeout", feed(A(page([post(1)]), hang=3.0)), error=r"failed: .*Timeout",
         quarantined=1),
    Case("timeout inside the body", "timeout", feed(A(page([post(1)] * 20), hang=3.0, hang_body=True)),
         error=r"truncated", quarantined=1),
    Case("timeout once, then recovery", "timeout", feed(A(page([post(1)]), hang=3.0), good()),
         archived=(f"{PAGE}_1",)),
    Case("connection closed without an answer", "truncated body", feed(A(drop=True)), error=r"failed", quarantined=1),
    # -- truncated bodies ------------------------------------------------------------------------------
    Case("Content-Length larger than sent", "truncated body", feed(A(page([post(1), post(2)]), length=50_000)),
         error=r"truncated", quarantined=1),
    Case("body cut mid-JSON, connection closed", "truncated body", feed(A(page([post(1), post(2)]), cut=40)),
         error=r"truncated", quarantined=1),
    Case("page 2 truncated keeps page 1", "truncated body", two_pages(A(page([post(3)]), length=9_999)),
         error=r"truncated", quarantined=1, archived=(f"{PAGE}_1",)),
    # -- invalid JSON, wrong content type ------------------------------------------------------------
    Case("invalid JSON", "invalid JSON", feed(A(b'{"data": [{"id": "100_1",}')), error=r"not JSON", quarantined=1),
    Case("empty body", "invalid JSON", feed(A(b"")), error=r"not JSON", quarantined=1),
    Case("JSON followed by garbage", "invalid JSON", feed(A(b'{"data": []} trailing')), error=r"not JSON",
         quarantined=1),
    Case("NaN / Infinity literals", "invalid JSON",
         feed(A(b'{"data": [{"id": "100_1", "message": NaN, "created_time": "2025-03-01T10:00:00+0000"}]}')),
         quarantined=1),
    Case("HTML error page with 200", "wrong content type", feed(A(HTML_ERROR, 200)), error=r"not JSON.*text/html",
         quarantined=1),
    Case("JSON body labelled text/plain", "wrong content type",
         feed(A(json.dumps(page([post(1)])), ctype="text/plain")), archived=(f"{PAGE}_1",)),
    Case("XML answer", "wrong content type", feed(A("<?xml version='1.0'?><error/>", ctype="application/xml")),
         error=r"not JSON", quarantined=1),
    # -- oversized bodies -----------------------------------------------------------------------------
    Case("body over the session's size cap", "oversized body",
         feed(A(page([post(n, message="x" * 12_000) for n in range(100)]))), error=r"size cap|truncated",
         quarantined=1),
    Case("gzip bomb over the size cap", "oversized body",
         feed(A(gzip_bomb(), headers={"Content-Encoding": "gzip"})), error=r"size cap|truncated", quarantined=1),
    # -- deeply nested JSON ---------------------------------------------------------------------------
    Case("100k nested arrays", "deeply nested JSON", feed(A(nested(100_000))), error=r"nested", quarantined=1),
    Case("100k nested objects in one item", "deeply nested JSON",
         feed(A(b'{"data": [{"id": "100_1", "x": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}]}")),
         error=r"nested", quarantined=1),
    Case("900 levels inside a post (parses, then must archive)", "deeply nested JSON",
         items(post(1, message=json.loads(nested(900))), post(2)), quarantined=1, archived=(f"{PAGE}_2",)),
    # -- invalid UTF-8 ---------------------------------------------------------------------------------
    Case("invalid UTF-8 bytes in a page", "invalid UTF-8",
         feed(A(b'{"data": [{"id": "100_1", "message": "caf\xe9 \xff", "created_time": "2025-03-01T10:00:00+0000"}]}')),
         error=r"not JSON|UTF-8", quarantined=1),
    Case("lone surrogate escape in text", "invalid UTF-8",
         feed(A(b'{"data": [{"id": "100_1", "message": "bad \\ud800 x", "created_time": "2025-03-01T10:00:00+0000"},'
                + json.dumps(post(2)).encode() + b"]}")), quarantined=1, archived=(f"{PAGE}_2",)),
    Case("UTF-8 BOM before JSON", "invalid UTF-8", feed(A(b"\xef\xbb\xbf" + json.dumps(page([post(1)])).encode())),
         archived=(f"{PAGE}_1",)),
    # -- paging hazards ---------------------------------------------------------------------------------
    Case("duplicate id across pages", "duplicate / changing item",
         two_pages(A(page([post(1), post(3)]))), archived=(f"{PAGE}_1", f"{PAGE}_3")),
    Case("item changes while being paged", "duplicate / changing item",
         two_pages(A(page([post(1, message="edited while paging"), post(3)]))), quarantined=1,
         archived=(f"{PAGE}_1", f"{PAGE}_3")),
    Case("paging loop (next points at itself)", "duplicate / changing item",
         lambda s: {feed_path(s): [A(page([post(1)], f"{s.base}/{PAGE}/feed?after=same"))]},
         error=r"loop", quarantined=1, archived=(f"{PAGE}_1",)),
    Case("paging.next to another host", "hostile value",
         feed(A(page([post(1)], "http://evil.example/steal"))), error=r"host", quarantined=1,
         archived=(f"{PAGE}_1",), check=paging_host_refused),
    Case("paging.next not a string", "wrong type", feed(A({"data": [post(1)], "paging": {"next": 12345}})),
         error=r"next", quarantined=1, archived=(f"{PAGE}_1",)),
    # -- missing fields, wrong types, nulls ------------------------------------------------------------
    Case("item without id", "missing id / created_time", items(post(1, id=_DROP), post(2)), quarantined=1,
         archived=(f"{PAGE}_2",)),
    Case("item without created_time", "missing id / created_time", items(post(1, created_time=_DROP), post(2)),
         quarantined=1, archived=(f"{PAGE}_2",)),
    Case("created_time garbage", "wrong type", items(post(1, created_time="yesterday"), post(2)), quarantined=1,
         archived=(f"{PAGE}_2",)),
    Case("id is a number", "wrong type", items(post(1, id=12345), post(2)), quarantined=1, archived=(f"{PAGE}_2",)),
    Case("message is an object", "wrong type", items(post(1, message={"a": 1}), post(2)), quarantined=1,
         archived=(f"{PAGE}_2",)),
    Case("from is a string", "wrong type", items(post(1, **{"from": "someone"}), post(2)), quarantined=1,
         archived=(f"{PAGE}_2",)),
    Case("attachments is a string", "wrong type", items(post(1, attachments="nope"), post(2)), quarantined=1,
         archived=(f"{PAGE}_2",)),
    Case("item is not an object", "wrong type", items(1, "x", None, [], post(2)), quarantined=4,
         archived=(f"{PAGE}_2",)),
    Case("data is null", "null data", feed(A({"data": None})), error=r"no data list", quarantined=1),
    Case("data is an object", "null data", feed(A({"data": {"id": "1"}})), error=r"no data list", quarantined=1),
    Case("top level is a list", "null data", feed(A([post(1)])), error=r"no data list", quarantined=1),
    Case("top level is null", "null data", feed(A(b"null")), error=r"no data list", quarantined=1),
    Case("error object is a string", "wrong type", feed(A({"error": "boom"}, 500)), error=r"error", quarantined=1),
    Case("token rejected (code 190)", "API error answer", feed(A(graph_error(190, "Session has expired"), 400)),
         error=r"token rejected", quarantined=1),
    # -- hostile ids and text --------------------------------------------------------------------------
    Case("id with slashes and ..", "hostile value", items(post(1, id="../../../etc/passwd"), post(2)),
         archived=("../../../etc/passwd", f"{PAGE}_2"), check=no_paths_escape),
    Case("id is ..", "hostile value", items(post(1, id=".."), post(2)), quarantined=1, archived=(f"{PAGE}_2",),
         check=no_paths_escape),
    Case("id with ?, # and %2F", "hostile value", items(post(1, id="1?x=y#frag%2F..")),
         archived=("1?x=y#frag%2F..",), check=no_paths_escape),
    Case("id with control characters", "hostile value", items(post(1, id="100_\x00\x07\n\x1b[31m"), post(2)),
         archived=("100_\x00\x07\n\x1b[31m", f"{PAGE}_2"), check=no_paths_escape),
    Case("id with unusual Unicode", "hostile value", items(post(1, id="１００_\u202e\u200b\U0001F600ǅ"), post(2)),
         archived=("１００_\u202e\u200b\U0001F600ǅ",), check=no_paths_escape),
    Case("id of 10 000 characters", "hostile value", items(post(1, id="9" * 10_000), post(2)), quarantined=1,
         archived=(f"{PAGE}_2",)),
    Case("text with HTML and script", "hostile value",
         items(post(1, message="<script>alert(1)</script><img src=x onerror=alert(2)>")),
         archived=(f"{PAGE}_1",), check=script_inert),
    Case("error message with script", "hostile value",
         feed(A(graph_error(100, "<script>alert(document.cookie)</script>"), 400)), error=r"error 100",
         quarantined=1, check=script_inert),
]


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("HOSTILE_FB_TOKEN", TOKEN)
    monkeypatch.setattr(FacebookSource, "backoff_seconds", 0.0)


def city(stub: Stub, archive: str) -> cfg.CityConfig:
    return cfg.parse({"city": "City of Example", "jurisdiction": "MO", "archive": archive, "accounts": [
        {"id": "parks-facebook", "platform": "facebook", "handle": PAGE, "credentials": "env:HOSTILE_FB_TOKEN",
         "api_base_url": stub.base}]})


def quarantine_docs(store: LocalStore, run_id: str) -> list[dict]:
    return [json.loads(store.read_bytes(k)) for k in store.list(f"quarantine/{run_id}/")]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile(case: Case, stub: Stub, tmp_path):
    stub.routes.update(case.routes(stub))
    store = LocalStore(tmp_path / "archive")
    config = city(stub, store.uri)
    result = harvest_account(config, config.accounts[0], store,
                             session_options={"timeout": 1.0, "max_body_bytes": MAX_BODY})

    # the run committed, and the archive verifies
    doc = json.loads(store.read_bytes(result.manifest_key))
    report = verify(store)
    assert report.ok, report.summary()
    assert not report.orphans
    listed = {o["key"] for o in doc["objects"]}

    # a clear error, in the result and in the run report, or none at all
    text = store.read_bytes(f"manifests/{result.run_id}.report.md").decode()
    if case.error is None:
        assert not result.errors, result.errors
    else:
        assert result.errors and any(__import__("re").search(case.error, e, __import__("re").S)
                                     for e in result.errors), result.errors
        assert "## Errors" in text

    # quarantined documents name the WARC record that holds the evidence
    docs = quarantine_docs(store, result.run_id)
    assert len(docs) >= case.quarantined, [d["reason"] for d in docs]
    assert result.quarantined == len(docs)
    for q in docs:
        assert q["reason"] and q["run_id"] == result.run_id
        assert q["warc_file"] in listed and q["warc_record_id"].startswith("<urn:uuid:")

    # nothing silently dropped: expected items are archived
    ids = set()
    for key in listed:
        if key.startswith("records/"):
            ids |= set(records.read_table(store, key, columns=["platform_id"])["platform_id"].to_pylist())
    for want in case.archived:
        assert want in ids, (want, sorted(ids)[:10])
    # every archive key is inside the archive root
    for key in store.list(""):
        assert (store.root / key).resolve().is_relative_to(store.root)
    if case.check:
        case.check(stub, result, store)


def test_enough_cases():
    assert len(CASES) >= 30
