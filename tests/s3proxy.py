"""A fault-injecting HTTP proxy in front of a real S3 server (SeaweedFS), for the storage-fault tests.

Requests pass through unchanged (the Host header too, so SigV4 signatures still hold) unless `rule` returns an
action for them:

- "500":   answer HTTP 500 InternalError without forwarding (the server never sees the request);
- "lost":  forward, let the server act on it, then answer 500 (an answer lost after the server committed);
- "reset": close the connection without answering (a server that went away, a dropped connection);
- "stall": hold the connection without answering until the test ends (a hung server; the client times out).

A backend that does not answer (stopped, killed) shows up as "reset" to the client, as it would without the
proxy. Every request is logged as (index, method, path, action) so tests can count attempts.
"""
from __future__ import annotations

import http.client
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import unquote, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}
INTERNAL_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                  b"<Message>We encountered an internal error. Please try again.</Message></Error>")


@dataclass(frozen=True)
class Request:
    index: int
    method: str
    path: str  # decoded, without the query: /bucket/prefix/key
    query: str

    @property
    def key(self) -> str:
        return self.path.split("/", 2)[2] if self.path.count("/") >= 2 else ""


class FaultProxy:
    def __init__(self, backend: str):
        self.backend = backend  # http://host:port; may be changed while running (a restarted server)
        self.rule: Callable[[Request], str | None] = lambda request: None
        self.log: list[tuple[int, str, str, str]] = []
        self.released = threading.Event()  # ends every stall
        self._lock = threading.Lock()
        self._count = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # clients hanging up are part of the game
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def requests(self, action: str | None = None) -> list[tuple[int, str, str, str]]:
        return [entry for entry in self.log if action is None or entry[3] == action]

    # -- one request ----------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        parts = urlsplit(h.path)
        with self._lock:
            request = Request(self._count, h.command, unquote(parts.path), parts.query)
            self._count += 1
        action = self.rule(request) or "pass"
        self.log.append((request.index, request.method, request.path, action))
        if action == "500":
            return _answer(h, 500, {"Content-Type": "application/xml"}, INTERNAL_ERROR)
        if action == "reset":
            return _reset(h)
        if action == "stall":
            self.released.wait(120)
            return _reset(h)
        try:
            status, headers, data = self._forward(h, body)
        except OSError:  # the server is down: the client sees what it would see without the proxy
            self.log.append((request.index, request.method, request.path, "backend down"))
            return _reset(h)
        if action == "lost":
            return _answer(h, 500, {"Content-Type": "application/xml"}, INTERNAL_ERROR)
        _answer(h, status, headers, data, head=h.command == "HEAD")

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.backend)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for name, value in h.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    conn.putheader(name, value)
            if body or h.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


def _answer(h: BaseHTTPRequestHandler, status: int, headers, data: bytes, head: bool = False) -> None:
    h.send_response_only(status)
    items = headers.items() if isinstance(headers, dict) else headers
    length_sent = False
    for name, value in items:
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == "content-length":
            if not head:
                continue
            length_sent = True
        h.send_header(name, value)
    if not head:
        h.send_header("Content-Length", str(len(data)))
    elif not length_sent:
        h.send_header("Content-Length", "0")
    h.end_headers()
    if not head:
        h.wfile.write(data)
    h.wfile.flush()


def _reset(h: BaseHTTPRequestHandler) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a dead peer's kernel would."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
