"""Archive path vs its floor, measured side by side in one run on the same data.

The archive path is a whole harvest of one Facebook-shaped account (capture with redaction, WARC/1.1 with
SHA-256 digests, parsing, change detection, record validation, Parquet, hashing, commit to a local archive).
The network is replaced by an in-process transport adapter serving pre-generated Graph API pages, so what
is measured is the archive's own work, not loopback HTTP.

The floor is the least any archiver must do with the same bytes: plain warcio writes of the same WARC
records (warcinfo, then response, request and capture-metadata per exchange, SHA-256 digests, one gzip member
each at the path's compression level; checked byte for byte against the path's once decompressed) + one
pyarrow write of the same rows and columns + SHA-256 of the resulting files. It parses nothing: it is handed
the records and the finished table.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tempfile
import time
import resource
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import requests
from requests.adapters import BaseAdapter
from urllib3 import HTTPResponse
from isal import isal_zlib
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from civic_archive import config as cfg
from civic_archive.harvest import harvest_account
from civic_archive.records import read_table
from civic_archive.storage import LocalStore
from civic_archive.warc import GZIP_LEVEL, Sha256WARCWriter

BASE = "http://graph.bench.invalid/v21.0"
PAGE = "104735998765432"
TOKEN = "EAABbenchTOKEN0123456789"
WORDS = ("city council park road closed meeting tonight budget library snow plow bus route water main "
         "permit zoning vote mayor police fire trash pickup holiday schedule thanks question when where").split()


class Dataset:
    """A deterministic account: `posts` posts, each with `comments` comments (a third of them replies)."""

    def __init__(self, posts: int, comments: int, seed: int = 7):
        self.posts, self.comments, self.seed = posts, comments, seed
        self.start = datetime(2025, 1, 1, tzinfo=timezone.utc)

    def _text(self, rnd: random.Random, lo: int, hi: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(lo, hi)))

    def post(self, i: int) -> dict:
        rnd = random.Random(self.seed * 1_000_003 + i)
        ts = (self.start + timedelta(minutes=37 * i)).strftime("%Y-%m-%dT%H:%M:%S+0000")
        return {"id": f"{PAGE}_{i}", "message": self._text(rnd, 8, 60), "created_time": ts, "updated_time": ts,
                "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{i}/", "status_type": "mobile_status_update",
                "is_hidden": False, "is_published": True, "from": {"name": "City of Example", "id": PAGE}}

    def comment(self, post: int, j: int) -> dict:
        rnd = random.Random(self.seed * 7_919 + post * 1_009 + j)
        ts = (self.start + timedelta(minutes=37 * post + j + 1)).strftime("%Y-%m-%dT%H:%M:%S+0000")
        doc = {"id": f"{post}_{j}", "message": self._text(rnd, 3, 40), "created_time": ts,
               "from": {"name": f"Resident {rnd.randint(1, 5000)}", "id": str(rnd.randint(10**15, 10**16))},
               "is_hidden": False, "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{post}/?comment_id={j}"}
        if j % 3 == 2:
            doc["parent"] = {"id": f"{post}_{j - 1}"}
        return doc

    def pregenerate(self) -> None:
        """Build every page before the clock starts: generating data is not the archive's work."""
        self._cache = {}
        for after in range(0, self.posts, 100):
            self._cache[(f"/v21.0/{PAGE}/feed", after)] = self._page(f"/v21.0/{PAGE}/feed", after, 100)
            for i in range(after, min(after + 100, self.posts)):
                for c_after in range(0, max(self.comments, 1), 100):
                    path = f"/v21.0/{PAGE}_{i}/comments"
                    self._cache[(path, c_after)] = self._page(path, c_after, 100)

    def page(self, url: str) -> bytes:
        parts = urlsplit(url)
        after = int(parse_qs(parts.query).get("after", ["0"])[0])
        cached = getattr(self, "_cache", {}).get((parts.path, after))
        return cached if cached is not None else self._page(parts.path, after, 100)

    def _page(self, path_str: str, after: int, limit: int) -> bytes:
        parts = urlsplit(f"{BASE.split('/v21.0')[0]}{path_str}?limit={limit}")
        path = parts.path.rsplit("/", 2)
        if path[-1] == "feed":
            items = [self.post(i) for i in range(after, min(after + limit, self.posts))]
            end = after + limit >= self.posts
        else:
            post = int(path[-2].split("_")[1])
            items = [self.comment(post, j) for j in range(after, min(after + limit, self.comments))]
            end = after + limit >= self.comments
        doc = {"data": items}
        if not end:
            doc["paging"] = {"cursors": {"after": str(after + limit)},
                             "next": f"{BASE}{parts.path.split('/v21.0')[1]}?access_token={TOKEN}"
                                     f"&limit={limit}&after={after + limit}"}
        return json.dumps(doc).encode()


class DatasetAdapter(BaseAdapter):
    """Serves the dataset in-process, as a requests transport (the network is not what is measured)."""

    def __init__(self, dataset: Dataset):
        super().__init__()
        self.dataset = dataset
        self.exchanges: list[tuple[str, bytes]] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = self.dataset.page(request.url)
        self.exchanges.append((request.url, body))
        raw = HTTPResponse(body=io.BytesIO(body), headers={"Content-Type": "application/json; charset=UTF-8",
                                                           "Content-Length": str(len(body))},
                           status=200, reason="OK", preload_content=False, decode_content=False)
        resp = requests.Response()
        resp.status_code, resp.reason, resp.raw, resp.url, resp.request = 200, "OK", raw, request.url, request
        resp.headers = requests.structures.CaseInsensitiveDict(raw.headers)
        return resp

    def close(self):
        pass


def run_archive_path(dataset: Dataset, root: str) -> dict:
    os.environ["BENCH_FB_TOKEN"] = TOKEN
    city = cfg.parse({"city": "Bench City", "jurisdiction": "MO", "archive": f"file://{root}",
                      "accounts": [{"id": "bench-facebook", "platform": "facebook", "handle": PAGE,
                                    "api_base_url": BASE, "credentials": "env:BENCH_FB_TOKEN"}]})
    adapter = DatasetAdapter(dataset)
    session = requests.Session()
    session.mount("http://", adapter)
    store = LocalStore(root)
    t0 = time.perf_counter()
    result = harvest_account(city, city.accounts[0], store, session_options={"session": session})
    elapsed = time.perf_counter() - t0
    assert result.ok, result.errors
    size = sum(os.path.getsize(store.local_path(k)) for k in store.list(""))
    return {"seconds": elapsed, "records": sum(v for k, v in result.counts.items() if k != "seen"),
            "bytes": size, "exchanges": adapter.exchanges, "store": store}


_COMPUTED = {"warc-block-digest", "warc-payload-digest", "content-type", "content-length"}


def read_records(paths: list[str]) -> list[tuple]:
    """Every record of the path's WARC files as warcio takes them in (headers, HTTP headers, payload), read
    before the floor's clock starts; warcio computes the digests, types and lengths again when writing."""
    out = []
    for path in paths:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                headers = StatusAndHeaders("", [(k, v) for k, v in rec.rec_headers.headers
                                                if k.lower() not in _COMPUTED], protocol="WARC/1.1")
                out.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"), headers,
                            rec.rec_headers.get_header("Content-Type"), rec.http_headers, rec.raw_stream.read()))
    return out


def run_floor(records: list[tuple], table: pa.Table, root: str) -> float:
    """Plain warcio writes of the same WARC records, each compressed as one gzip member as the path does
    (`civic_archive.warc.GZIP_LEVEL` with ISA-L), one pyarrow write of the same rows, SHA-256 of the files."""
    warc_path, parquet_path = os.path.join(root, "floor.warc.gz"), os.path.join(root, "floor.parquet")
    t0 = time.perf_counter()
    with open(warc_path, "wb") as fh:
        writer = Sha256WARCWriter(None, gzip=False, warc_version="1.1")
        for rec_type, uri, headers, content_type, http_headers, payload in records:
            writer.out = out = io.BytesIO()
            record = writer.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), length=len(payload),
                                               warc_headers=headers, warc_content_type=content_type,
                                               http_headers=http_headers)
            writer.write_record(record)
            compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, isal_zlib.MAX_WBITS + 16)
            fh.write(compressor.compress(out.getvalue()) + compressor.flush())
    pq.write_table(table, parquet_path, compression="zstd")
    for path in (warc_path, parquet_path):
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return time.perf_counter() - t0


def time_http_client(dataset: Dataset, urls: list[str], repeat: int = 3) -> float:
    """What `requests` itself costs for the path's exchanges, called as the path calls it
    (`capture.RecordingSession`: `prepare_request`, `send` with the environment settings looked up once per
    host, the body read by `iter_content`), through the same in-process transport, less the transport's own
    time (the canned answer), best of `repeat`. The path cannot be faster than the floor plus this, whatever
    else it does: the ceiling the ratio is read against."""
    adapter = DatasetAdapter(dataset)
    session = requests.Session()
    session.mount("http://", adapter)
    settings = session.merge_environment_settings(urls[0], {}, True, None, None)
    prepared = [session.prepare_request(requests.Request("GET", url)) for url in urls]
    with_client, transport = float("inf"), float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for url in urls:
            response = session.send(session.prepare_request(requests.Request("GET", url)), timeout=30,
                                    allow_redirects=True, **settings)
            b"".join(response.iter_content(64 * 1024))
            response.close()
        with_client = min(with_client, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for request in prepared:
            response = adapter.send(request)
            b"".join(response.iter_content(64 * 1024))
        transport = min(transport, time.perf_counter() - t0)
    return max(with_client - transport, 0.0)


def _decompressed(path: str) -> bytes:
    with open(path, "rb") as fh:
        return gzip.decompress(fh.read())


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench(posts: int, comments: int) -> dict:
    dataset = Dataset(posts, comments)
    dataset.pregenerate()
    with tempfile.TemporaryDirectory() as tmp:
        path = run_archive_path(dataset, os.path.join(tmp, "archive"))
        store = path["store"]
        table = pa.concat_tables([read_table(store, k) for k in store.list("records/")])
        warcs = [store.local_path(k) for k in store.list("warc/")]
        floor_dir = os.path.join(tmp, "floor")
        os.mkdir(floor_dir)
        floor = run_floor(read_records(warcs), table, floor_dir)
        # The floor wrote the same records: byte for byte once decompressed.
        same = _decompressed(os.path.join(floor_dir, "floor.warc.gz")) == b"".join(map(_decompressed, warcs))
        assert same, "the floor's WARC records differ from the path's"
        http_client = time_http_client(dataset, [url for url, _ in path["exchanges"]])
    n = path["records"]
    return {
        "scenario": "archive_path", "posts": posts, "comments_per_post": comments, "records": n,
        "exchanges": len(path["exchanges"]), "archive_bytes": path["bytes"],
        "path_seconds": round(path["seconds"], 3), "path_records_per_s": round(n / path["seconds"]),
        "path_mb_per_s": round(path["bytes"] / path["seconds"] / 1e6, 2),
        "floor_seconds": round(floor, 3), "floor_records_per_s": round(n / floor),
        "ratio_to_floor": round(floor / path["seconds"], 3),
        # requests' own share: even if nothing else cost anything, the ratio could not pass this ceiling
        "http_client_seconds": round(http_client, 3), "records_per_exchange": round(n / len(path["exchanges"]), 1),
        "ceiling_ratio": round(floor / (floor + http_client), 3), "process_peak_rss_mb": peak_rss_mb(),
    }
