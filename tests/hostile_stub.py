"""The loopback stub and the shared checks of the hostile-payload tables (tests/test_hostile_payloads*.py).

The stub routes by path to answers served in turn (the last one repeats); an answer can hang, drop the
connection, lie about its length or cut its body. `run_case` runs a real `harvest_account` against it and
checks the promises every row shares (see tests/test_hostile_payloads.py).
"""
from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from civic_archive import records
from civic_archive.harvest import harvest_account
from civic_archive.storage import LocalStore
from civic_archive.verify import verify

MAX_BODY = 1024 * 1024
HTML_ERROR = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
CDN = "/cdn/"  # media bytes (images, thumbnails) are served under this path


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
    """`prefix` is the API's base path (e.g. "/fb/v21.0"); `default(path, query)` answers unrouted paths."""

    def __init__(self, prefix: str, default: Callable[[str, dict], A]):
        self.prefix = prefix
        self.default = default
        self.routes: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.paths: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.stub = self
        self.root = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.base = f"{self.root}{prefix}"
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, raw_path: str, query: dict) -> A:
        path = urlsplit(raw_path).path
        self.paths.append(raw_path)
        route = self.routes.get(path)
        if route is None:
            if path.startswith(CDN):
                return A(b"\xff\xd8\xff\xe0 not really a jpeg " + path.encode(), ctype="image/jpeg")
            return self.default(path, query)
        if callable(route):
            route = route(query)
        if isinstance(route, list):
            n = self.counts.get(path, 0)
            self.counts[path] = n + 1
            route = route[min(n, len(route) - 1)]
        return route

    def requests_to(self, path: str) -> list[dict]:
        """The query of every request made to `path` (under the prefix), in order."""
        return [dict(parse_qsl(urlsplit(p).query, keep_blank_values=True)) for p in self.paths
                if urlsplit(p).path == self.prefix + path]


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
# hostile bodies

def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def gzip_bomb(wrapper: bytes = b'{"data": [%s]}') -> bytes:
    return gzip.compress(wrapper.replace(b"%s", b" " * (4 * MAX_BODY)), 9)


DROP = object()  # a field value meaning "leave this field out"


def without_dropped(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if v is not DROP}


# --------------------------------------------------------------------------------------------------
# a row, and the checks every row shares

@dataclass
class Case:
    name: str
    fault: str  # row of the reliability table
    routes: Callable[[Stub], dict]
    error: str | None = None  # regex the run's errors must match; None: the run must have no errors
    quarantined: int = 0  # at least this many quarantine documents
    archived: tuple[str, ...] = ()  # platform ids that must be in the records
    absent: tuple[str, ...] = ()  # platform ids that must NOT be in the records
    check: Callable[[Stub, Any, LocalStore], None] | None = None


def quarantine_docs(store: LocalStore, run_id: str) -> list[dict]:
    return [json.loads(store.read_bytes(k)) for k in store.list(f"quarantine/{run_id}/")]


def archived_ids(store: LocalStore, manifest_doc: dict) -> set[str]:
    ids: set[str] = set()
    for o in manifest_doc["objects"]:
        if o["key"].startswith("records/"):
            ids |= set(records.read_table(store, o["key"], columns=["platform_id"])["platform_id"].to_pylist())
    return ids


def run_case(case: Case, stub: Stub, store: LocalStore, config) -> Any:
    """Harvest the config's only account against the stub and check what every row promises."""
    stub.routes.update(case.routes(stub))
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
        assert result.errors and any(re.search(case.error, e, re.DOTALL) for e in result.errors), result.errors
        assert "## Errors" in text

    # quarantined documents name the WARC record that holds the evidence
    docs = quarantine_docs(store, result.run_id)
    assert len(docs) >= case.quarantined, [d["reason"] for d in docs]
    if case.quarantined == 0 and case.error is None:
        assert not docs, [d["reason"] for d in docs]
    assert result.quarantined == len(docs)
    for q in docs:
        assert q["reason"] and q["run_id"] == result.run_id
        assert q["warc_file"] in listed and q["warc_record_id"].startswith("<urn:uuid:")

    # nothing silently dropped: expected items are archived
    ids = archived_ids(store, doc)
    for want in case.archived:
        assert want in ids, (want, sorted(ids)[:10])
    for unwanted in case.absent:
        assert unwanted not in ids, unwanted
    # every archive key is inside the archive root
    for key in store.list(""):
        assert (store.root / key).resolve().is_relative_to(store.root)
    if case.check:
        case.check(stub, result, store)
    return result


# --------------------------------------------------------------------------------------------------
# checks some rows add

def no_paths_escape(stub: Stub, result, store) -> None:
    """Every request stayed under the API's base path (or the media path): hostile ids are one escaped
    path segment, or a query value."""
    for p in stub.paths:
        path = urlsplit(p).path
        assert path.startswith((stub.prefix + "/", CDN)), p
        assert "/../" not in path and not path.endswith("/..") and "/./" not in path, p


def script_inert(stub, result, store) -> None:
    text = store.read_bytes(f"manifests/{result.run_id}.report.md").decode()
    assert "<script" not in text.lower() and "<img" not in text.lower() and "<a href" not in text.lower()


def no_host_but_stub(stub, result, store) -> None:
    assert not any("evil" in p for p in stub.paths)
