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

import json
from collections.abc import Callable

import pytest
from civic_archive import config as cfg
from civic_archive.sources.facebook import FacebookSource
from civic_archive.storage import LocalStore
from hostile_stub import DROP as _DROP
from hostile_stub import (
    HTML_ERROR,
    A,
    Case,
    Stub,
    gzip_bomb,
    nested,
    no_paths_escape,
    run_case,
    script_inert,
    without_dropped,
)
from hostile_stub import no_host_but_stub as paging_host_refused

TOKEN = "EAABhostiletesttoken0123456789"
PAGE = "100"
PREFIX = "/fb/v21.0"


def unrouted(path: str, query: dict) -> A:
    if path.endswith("/comments"):
        return A({"data": []})
    return A({"error": {"message": "Unsupported get request", "code": 100, "error_subcode": 33}}, 400)


# --------------------------------------------------------------------------------------------------
# Graph-shaped pages

def post(n: int, **over) -> dict:
    doc = {"id": f"{PAGE}_{n}", "message": f"post {n}", "created_time": f"2025-03-{n % 28 + 1:02d}T10:00:00+0000",
           "updated_time": f"2025-03-{n % 28 + 1:02d}T10:00:00+0000", "permalink_url": f"https://fb.example/{n}",
           "from": {"id": PAGE, "name": "Parks"}, "is_hidden": False}
    doc.update(over)
    return without_dropped(doc)


def page(items: list, next_url: str | None = None) -> dict:
    doc: dict = {"data": items}
    if next_url:
        doc["paging"] = {"cursors": {"after": "x"}, "next": next_url}
    return doc


def graph_error(code: int, message: str = "An unexpected error has occurred.", **extra) -> dict:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Atrace", **extra}}


def feed_path(stub: Stub) -> str:
    return f"{PREFIX}/{PAGE}/feed"


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
         lambda s: {feed_path(s): [good()], f"{PREFIX}/{PAGE}_1/comments": [A(graph_error(2), 500)]},
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
    Case("error code is a list", "wrong type", feed(A({"error": {"code": [190], "message": "odd"}}, 400)),
         error=r"facebook: error None", quarantined=1),
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
    s = Stub(PREFIX, unrouted)
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


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile(case: Case, stub: Stub, tmp_path):
    store = LocalStore(tmp_path / "archive")
    run_case(case, stub, store, city(stub, store.uri))


def test_enough_cases():
    assert len(CASES) >= 30
