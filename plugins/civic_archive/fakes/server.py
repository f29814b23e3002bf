"""One loopback HTTP server for all fake platforms: routing, request log, faults, usage meters, media bytes.

URL layout (root = http://127.0.0.1:PORT):
    /facebook/v21.0/...   Graph API (Facebook Pages)             -> facebook.handle
    /instagram/v21.0/...  Instagram Graph API (graph.facebook.com-style paths) -> instagram.handle
    /x/2/...              X API v2                               -> x.handle
    /youtube/v3/...       YouTube Data API v3                    -> youtube.handle
    /cdn/<file>           media bytes (the platforms' CDNs): real PNG/JPEG images, streamed MP4

Reference: /work/shared/reference/platform-apis.md ("ref").
"""

from __future__ import annotations

import importlib
import json
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .world import PLATFORMS, Media, World, stable_hash

PREFIX = {"facebook": "/facebook/v21.0", "instagram": "/instagram/v21.0", "x": "/x/2", "youtube": "/youtube/v3"}
ENV_ABBR = {"facebook": "FB", "instagram": "IG", "x": "X", "youtube": "YT"}


# --------------------------------------------------------------------------------------------------
# request / response


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=UTF-8"
    headers: list = field(default_factory=list)
    stream: object = None  # iterable of bytes (media), with `length`
    length: int | None = None


def json_response(obj, status=200, *, content_type="application/json; charset=UTF-8", headers=None,
                  ensure_ascii=False, escape_slashes=False, indent=None) -> Response:
    text = json.dumps(obj, ensure_ascii=ensure_ascii, indent=indent, separators=None if indent else (",", ":"))
    if escape_slashes:  # Graph escapes "/" as "\/" in its JSON
        text = text.replace("/", "\\/")
    return Response(status, text.encode("utf-8"), content_type, list(headers or []))


@dataclass
class Request:
    method: str
    platform: str
    version: str  # "v21.0", "2", "v3"
    path: str  # after the platform prefix and version, e.g. "/104735998765432/feed"
    query: dict  # last value wins
    query_pairs: list  # in order, as sent
    headers: dict  # lower-cased names
    root: str
    fakes: "FakePlatforms"

    @property
    def world(self) -> World:
        return self.fakes.world

    @property
    def faults(self) -> "Faults":
        return self.fakes.faults

    @property
    def base(self) -> str:
        """Base URL of this platform as the client used it (paging links are built from it, ref 0.1)."""
        return f"{self.root}/{self.platform}" + (f"/{self.version}" if self.version else "")

    @property
    def segments(self) -> list:
        return [s for s in self.path.split("/") if s]

    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        m = re.match(r"(?i)(bearer|oauth)\s+(\S+)", auth)
        return m.group(2) if m else None


# --------------------------------------------------------------------------------------------------
# faults and meters


class Faults:
    """Switches for the scenarios of ref 0.5.  All of them are per FakePlatforms instance."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        self.throttles: dict[str, dict] = {}
        self.expired: set[str] = set()
        self.quota: set[str] = set()
        self.empty_page: dict[str, bool] = {}  # account id -> on/off (overrides the demo quirk)
        self.ig_empty_comments: dict[str, bool] = {}  # media id -> on/off (overrides the demo quirk)
        # Graph stale cursor: "error" (#2642 Invalid cursors values) or "empty" (empty page, no next) — ref 0.6
        self.stale_cursor = "error"
        # Instagram: do hidden comments still appear in /comments listings?  Disputed (ref 2.4) -> switch.
        self.ig_hidden_in_listings = True
        # Facebook: the same question for hidden comments (the Page's own token lists them with is_hidden).
        self.fb_hidden_in_listings = True
        # Facebook /posts answers with time-based paging (until + __paging_token, no cursors), ref 1.4.
        self.fb_posts_time_paging = True

    def throttle_after(self, platform: str, n_calls: int, code: int | None = None, reset_after: float | None = 60.0):
        """After `n_calls` more API calls to `platform`, answer with the platform's throttle error:
        Graph error code 4 (or `code`: 17, 32, 613, 80001...) with is_transient; X 429 with
        x-rate-limit-* headers; YouTube 403 rateLimitExceeded.  The throttle lifts `reset_after`
        seconds (wall clock) after the first refused call; None = until clear()."""
        if platform not in PLATFORMS:
            raise ValueError(platform)
        with self._lock:
            self.throttles[platform] = {"left": n_calls, "code": code, "reset_after": reset_after, "until": None}

    def expire_token(self, account_id: str):
        """Graph: 190/463 HTTP 400; X: 401 problem+json; YouTube: 401 Invalid Credentials."""
        self.expired.add(account_id)

    def quota_exceeded(self, account_id: str):
        """YouTube: 403 quotaExceeded for calls made with this account's credentials."""
        self.quota.add(account_id)

    def empty_page_with_next(self, account_id: str, on: bool = True):
        """Graph post listings of this account serve, after the first page, an empty page that still has
        `next` (ref 1.4).  On by default for the demo's police-facebook."""
        self.empty_page[account_id] = on

    def instagram_empty_comments(self, media_id: str, on: bool = True):
        """Instagram /{media-id}/comments answers {"data": [], "paging": {"cursors": …}} with no next even
        though comments_count > 0 (ref 2.2 [observed]).  On by default for one demo media."""
        self.ig_empty_comments[media_id] = on

    # used by the platform modules ------------------------------------------------------------------
    def throttled(self, platform: str):
        """Count one call; return the throttle state dict if this call must be refused, else None."""
        with self._lock:
            t = self.throttles.get(platform)
            if t is None:
                return None
            if t["until"] is not None:
                if time.time() >= t["until"]:
                    del self.throttles[platform]
                    return None
                return t
            if t["left"] > 0:
                t["left"] -= 1
                return None
            ra = t["reset_after"]
            t["until"] = time.time() + ra if ra is not None else float("inf")
            t["reset_at"] = int(time.time() + (ra if ra is not None else 900)) + 1
            return t

    def empty_page_on(self, acct) -> bool:
        return self.empty_page.get(acct.id, "empty_page_with_next" in acct.quirks)

    def ig_empty_comments_on(self, acct, media_id: str) -> bool:
        return self.ig_empty_comments.get(media_id, ("empty_comments:" + media_id) in acct.quirks)


class Meter:
    """Usage counters behind the rate-limit headers (wall clock windows) and YouTube's daily quota
    (fake-clock days: the quota resets at the next fake midnight Pacific, ref 4.4)."""

    GRAPH_WINDOW = 3600  # Graph usage percentages are over a rolling hour (ref 1.6)
    X_WINDOW = 900  # X windows are 15 minutes (ref 3.4)

    def __init__(self):
        self._lock = threading.Lock()
        self.graph: dict = {}  # key -> [window_start, calls]
        self.x: dict = {}
        self.youtube: dict = {}  # (account id, day) -> units

    def graph_call(self, key) -> int:
        with self._lock:
            now = time.time()
            w = self.graph.get(key)
            if w is None or now - w[0] >= self.GRAPH_WINDOW:
                w = self.graph[key] = [now, 0]
            w[1] += 1
            return w[1]

    def x_call(self, key, limit: int):
        """-> (remaining after this call, reset epoch, over_limit)."""
        with self._lock:
            now = time.time()
            w = self.x.get(key)
            if w is None or now >= w[0]:
                w = self.x[key] = [int(now) + self.X_WINDOW, 0]
            w[1] += 1
            return max(0, limit - w[1]), w[0], w[1] > limit

    def youtube_charge(self, account_id: str, day: int, units: int) -> int:
        with self._lock:
            k = (account_id, day)
            self.youtube[k] = self.youtube.get(k, 0) + units
            return self.youtube[k]


# --------------------------------------------------------------------------------------------------
# the server


class FakePlatforms:
    """`with FakePlatforms(world) as fakes:` serves every platform of `world` on 127.0.0.1 (free port)."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0):
        self.world = world
        self.host = host
        self.port = port
        self.faults = Faults()
        self.meter = Meter()
        self.requests_seen: list[tuple] = []  # (method, path, query dict)
        self._seen_lock = threading.Lock()
        self._httpd = None
        self._thread = None
        self._fbtrace = 0

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "FakePlatforms":
        self._httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fakes = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-platforms", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # addresses and config ---------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, platform: str) -> str:
        return self.root + PREFIX[platform]

    def media_url(self, name: str) -> str:
        return f"{self.root}/cdn/{name}"

    def city_config(self, archive: str = "file://./archive", city: str = "City of Example",
                    jurisdiction: str = "MO", accounts=None):
        """(config dict in the city-config shape, env dict {VAR: token}) for this world's accounts."""
        cfg = {"city": city, "jurisdiction": jurisdiction, "archive": archive, "accounts": []}
        env = {}
        for a in self.world.accounts:
            if accounts is not None and a.id not in accounts:
                continue
            var = env_var(a)
            cfg["accounts"].append({"id": a.id, "platform": a.platform, "handle": a.handle,
                                    "api_base_url": self.base_url(a.platform), "credentials": f"env:{var}",
                                    "role": a.role})
            env[var] = a.token
        return cfg, env

    def youtube_quota_used(self, account_id: str) -> int:
        """Units charged today (fake day) to this account's credentials."""
        return self.meter.youtube.get((account_id, fake_day(self.world)), 0)

    def fbtrace_id(self) -> str:
        with self._seen_lock:
            self._fbtrace += 1
            h = stable_hash("fbtrace", self._fbtrace)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        return "A" + "".join(alphabet[(h >> (6 * i)) & 63] for i in range(10))

    # dispatch ---------------------------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = dict(pairs)
        with self._seen_lock:
            self.requests_seen.append((method, path, dict(query)))
        segs = [s for s in path.split("/") if s]
        if segs and segs[0] == "cdn" and len(segs) == 2:
            return serve_media(self.world, segs[1], method, headers)
        if not segs or segs[0] not in PLATFORMS:
            return json_response({"error": {"message": "Not found", "code": 404}}, 404)
        platform = segs[0]
        rest = segs[1:]
        version = ""
        if platform in ("facebook", "instagram"):
            if rest and re.fullmatch(r"v\d+\.\d+", rest[0]):  # version is optional on Graph
                version, rest = rest[0], rest[1:]
        elif platform == "x":
            if not rest or rest[0] != "2":
                return json_response({"title": "Not Found Error", "detail": "Not found", "type": "about:blank",
                                      "status": 404}, 404, content_type="application/problem+json")
            version, rest = "2", rest[1:]
        elif platform == "youtube":
            if not rest or rest[0] != "v3":
                return json_response({"error": {"code": 404, "message": "Not Found", "errors": [
                    {"message": "Not Found", "domain": "global", "reason": "notFound"}]}}, 404)
            version, rest = "v3", rest[1:]
        req = Request(method, platform, version, "/" + "/".join(rest), query, pairs,
                      {k.lower(): v for k, v in headers.items()}, self.root, self)
        module = importlib.import_module(f".{platform}", __package__)  # facebook.py, instagram.py, x.py, youtube.py
        with self.world.lock:
            return module.handle(req)


def env_var(acct) -> str:
    """parks-facebook -> DEMO_PARKS_FB_TOKEN; city-x -> DEMO_CITY_X_TOKEN."""
    stem = acct.id
    for suffix in ("-" + acct.platform, "-fb", "-ig", "-yt"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = re.sub(r"[^A-Za-z0-9]+", "_", stem).upper()
    return f"DEMO_{stem}_{ENV_ABBR[acct.platform]}_TOKEN"


def fake_day(world: World) -> int:
    """Day number on the fake clock, in Pacific time (YouTube quota resets at midnight PT, ref 4.4)."""
    return (world.now - 8 * 3600) // 86400


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connectors' sessions reuse connections
    disable_nagle_algorithm = True  # else keep-alive + delayed ACK costs ~40 ms per response
    server_version = "fake-platforms"
    sys_version = ""

    def log_message(self, *args):  # quiet
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        try:
            resp = self.server.fakes.dispatch(self.command, self.path, dict(self.headers.items()))
        except Exception as exc:  # a bug in the fake must still answer, as JSON
            resp = json_response({"error": {"message": f"fake server error: {type(exc).__name__}: {exc}",
                                            "code": 500}}, 500)
            import traceback  # noqa: PLC0415

            traceback.print_exc()
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        for k, v in resp.headers:
            self.send_header(k, v)
        length = resp.length if resp.stream is not None else len(resp.body)
        self.send_header("Content-Length", str(length))
        try:
            if self.command == "HEAD":
                self.end_headers()
            elif resp.stream is None:  # headers and body in one write
                self._headers_buffer.append(b"\r\n" + resp.body)
                self.wfile.write(b"".join(self._headers_buffer))
                self._headers_buffer = []
            else:
                self.end_headers()
                for chunk in resp.stream:
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_DELETE = do_PUT = _serve


# --------------------------------------------------------------------------------------------------
# media bytes: what the platforms' CDNs would serve


def media_registry(world: World) -> dict:
    cache = getattr(world, "_media_cache", None)
    if cache is not None and cache[0] == world.version:
        return cache[1]
    reg = {}
    for it in list(world._items.values()):
        for m in it.media:
            reg[m.name] = m
    world._media_cache = (world.version, reg)
    return reg


def serve_media(world: World, name: str, method: str, headers: dict) -> Response:
    with world.lock:
        m = media_registry(world).get(name)
    if m is None and re.fullmatch(r"syn-[a-z]+-\d+\.png|[a-z0-9-]+-avatar\.png", name):
        m = Media("photo", name, 64, 48)  # synthetic accounts' photos, profile pictures
    if m is None and name.endswith("-thumb.jpg"):  # video thumbnails
        with world.lock:
            if name[: -len("-thumb.jpg")] + ".mp4" in media_registry(world):
                m = Media("photo", name, 32, 24)
    if m is None:
        return Response(404, b"Not Found", "text/plain")
    if name.endswith(".png"):
        return Response(200, png_bytes(m.width, m.height, name), "image/png", [("Cache-Control", "max-age=1209600")])
    if name.endswith(".jpg"):
        return Response(200, jpeg_bytes(m.width, m.height, name), "image/jpeg", [("Cache-Control", "max-age=1209600")])
    if name.endswith(".mp4"):
        return _video(m, headers)
    return Response(404, b"Not Found", "text/plain")


def _color(name: str, fx: float, fy: float):
    h = stable_hash(name)
    r0, g0, b0 = (h >> 16) & 255, (h >> 8) & 255, h & 255
    return (int(r0 * (1 - fx) + 40 * fx), int(g0 * (1 - fy) + 200 * fy), int(b0 * 0.5 + 120 * fx * fy))


def png_bytes(width: int, height: int, name: str) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for xx in range(width):
            rows.extend(_color(name, xx / max(1, width - 1), y / max(1, height - 1)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def jpeg_bytes(width: int, height: int, name: str) -> bytes:
    """A baseline JFIF, one flat colour per 8x8 block (DC coefficients only), written by hand because the
    project has no imaging library.  Standard DC Huffman tables; a one-symbol AC table (EOB)."""

    def seg(marker, payload):
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload

    def codes(bits):
        table, code, sym = {}, 0, 0
        for length in range(1, 17):
            for _ in range(bits[length - 1]):
                table[sym] = (code, length)
                code += 1
                sym += 1
            code <<= 1
        return table

    dc_lum_bits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    dc_chr_bits = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    ac_bits = [1] + [0] * 15
    dc_tables = (codes(dc_lum_bits), codes(dc_chr_bits))
    q = bytes([8] + [16] * 63)  # DC step 8: quantised DC = block mean - 128
    out = bytearray(b"\xff\xd8")
    out += seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += seg(0xDB, b"\x00" + q + b"\x01" + q)
    out += seg(0xC0, struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]))
    out += seg(0xC4, b"\x00" + bytes(dc_lum_bits) + bytes(range(12)))
    out += seg(0xC4, b"\x10" + bytes(ac_bits) + b"\x00")
    out += seg(0xC4, b"\x01" + bytes(dc_chr_bits) + bytes(range(12)))
    out += seg(0xC4, b"\x11" + bytes(ac_bits) + b"\x00")
    out += seg(0xDA, bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]))

    acc, nbits, data = 0, 0, bytearray()

    def put(value, length):
        nonlocal acc, nbits
        acc = (acc << length) | (value & ((1 << length) - 1))
        nbits += length
        while nbits >= 8:
            nbits -= 8
            byte = (acc >> nbits) & 0xFF
            data.append(byte)
            if byte == 0xFF:
                data.append(0)

    prev = [0, 0, 0]
    bw, bh = (width + 7) // 8, (height + 7) // 8
    for by in range(bh):
        for bx in range(bw):
            r, g, b = _color(name, bx / max(1, bw - 1), by / max(1, bh - 1))
            ycc = (0.299 * r + 0.587 * g + 0.114 * b,
                   128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
                   128 + 0.5 * r - 0.418688 * g - 0.081312 * b)
            for comp in range(3):
                dc = max(-128, min(127, round(ycc[comp]) - 128))
                diff = dc - prev[comp]
                prev[comp] = dc
                cat = abs(diff).bit_length()
                code, length = dc_tables[0 if comp == 0 else 1][cat]
                put(code, length)
                if cat:
                    put(diff if diff > 0 else diff + (1 << cat) - 1, cat)
                put(0, 1)  # AC: end of block (code "0" in the one-symbol table)
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)
    out += data + b"\xff\xd9"
    return bytes(out)


def _video(m: Media, headers: dict) -> Response:
    """An MP4 of m.size bytes ('ftyp' + one 'mdat' box), generated while streaming: never held in memory."""
    size = max(m.size, 64)
    head = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 0x200, b"isom", b"mp41") + struct.pack(">I4s", size - 24, b"mdat")
    start, end, status = 0, size - 1, 200
    extra = [("Accept-Ranges", "bytes")]
    rng = {k.lower(): v for k, v in headers.items()}.get("range")
    if rng:
        mm = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
        if mm and (mm.group(1) or mm.group(2)):
            if mm.group(1):
                start = int(mm.group(1))
                end = min(int(mm.group(2)), size - 1) if mm.group(2) else size - 1
            else:
                start = max(0, size - int(mm.group(2)))
            if start > end:
                return Response(416, b"", "video/mp4", [("Content-Range", f"bytes */{size}")])
            status = 206
            extra.append(("Content-Range", f"bytes {start}-{end}/{size}"))

    def gen(pos=start, stop=end + 1):
        chunk = 1 << 16
        while pos < stop:
            n = min(chunk, stop - pos)
            if pos < len(head):
                piece = head[pos:pos + n]
                piece += bytes(n - len(piece))
            else:
                piece = bytes(n)
            yield piece
            pos += n

    return Response(status, b"", "video/mp4", extra, stream=gen(), length=end - start + 1)
