"""A recording HTTP session: every exchange with a platform goes into the run's WARC, credentials redacted.

Connectors never hold a token. The session adds credentials when it sends a request and redacts them from
everything it stores and everything it hands back; when a connector follows a `paging.next` URL taken from
a (redacted) body, the session strips the placeholder and authenticates the request again. So a buggy
connector cannot leak a token into a record, and what a connector parses is exactly what the WARC holds.

Bodies are stored as the application saw them: de-chunked and content-decoded (`Content-Encoding` and
`Transfer-Encoding` are dropped from the stored headers and `Content-Length` is set to the stored length; a
`metadata` record says what was changed, and which secrets were redacted, by name and count only).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol
from urllib.parse import urlencode, urlsplit

import requests

from civic_archive import SOFTWARE
from civic_archive.redaction import Redactor, strip_secret_params, summary
from civic_archive.warc import WarcFile, WarcRef

DEFAULT_MAX_BODY = 64 * 1024 * 1024
_DROPPED_RESPONSE_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


class CaptureError(Exception):
    """A request could not be completed; the attempt is still recorded in the WARC."""

    def __init__(self, message: str, ref: WarcRef | None = None):
        super().__init__(message)
        self.ref = ref


class Auth(Protocol):
    secrets: list[str]

    def apply(self, url: str, headers: dict[str, str]) -> str: ...


class QueryTokenAuth:
    """Graph API style: `access_token` (and `appsecret_proof` when an app secret is configured) in the query."""

    def __init__(self, token: str, app_secret: str | None = None):
        self.token = token
        self.proof = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest() if app_secret else None
        self.secrets = [s for s in (token, app_secret, self.proof) if s]

    def apply(self, url: str, headers: dict[str, str]) -> str:
        params = {"access_token": self.token}
        if self.proof:
            params["appsecret_proof"] = self.proof
        return _add_query(url, params)


class BearerAuth:
    """X API v2 and YouTube (OAuth) style: `Authorization: Bearer …`."""

    def __init__(self, token: str):
        self.secrets = [token]
        self.token = token

    def apply(self, url: str, headers: dict[str, str]) -> str:
        headers["Authorization"] = f"Bearer {self.token}"
        return url


class ApiKeyAuth:
    """YouTube public data with an API key: `key=` in the query."""

    def __init__(self, key: str):
        self.secrets = [key]
        self.key = key

    def apply(self, url: str, headers: dict[str, str]) -> str:
        return _add_query(url, {"key": self.key})


def _add_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}{urlencode(params)}"


@dataclass
class Capture:
    """One recorded exchange, as stored (redacted)."""

    url: str
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes
    ref: WarcRef
    truncated: bool = False
    _json: Any = field(default=None, repr=False)

    def json(self) -> Any:
        if self._json is None:
            try:
                self._json = json.loads(self.body)
            except RecursionError:  # hostile nesting (json.loads recurses once per level): refuse, never crash
                raise ValueError("JSON nested too deeply to parse") from None
        return self._json

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class RecordingSession:
    def __init__(self, warc: Callable[[], WarcFile], auth: Auth | None = None, *,
                 redactor: Redactor | None = None, timeout: float = 60.0,
                 max_body_bytes: int = DEFAULT_MAX_BODY, session: requests.Session | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        """`warc` returns the WARC file to write into now (the run rolls files over by size)."""
        self._warc = warc
        self.auth = auth
        self.redactor = redactor or Redactor()
        for secret in (auth.secrets if auth else []):
            self.redactor.add_secret(secret)
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.http = session or requests.Session()
        self.http.headers["User-Agent"] = f"{SOFTWARE} (+public-records archiving)"
        self.clock = clock
        self.calls = 0
        self._env: dict[tuple[str, str], dict[str, Any]] = {}  # (scheme, host) -> requests' environment settings

    def get(self, url: str, params: dict[str, Any] | None = None, *, max_bytes: int | None = None,
            authenticate: bool = True) -> Capture:
        if params:
            url = _add_query(url, {k: v for k, v in params.items() if v is not None})
        headers: dict[str, str] = {}
        if authenticate:
            # A URL taken from a redacted body (a `next` link) loses its secret-named parameters before the
            # session's own credentials go on. A media URL is fetched as the platform gave it: a signed CDN
            # link's `signature`, `token` or `X-Amz-Signature` are what let it be read (the record still
            # redacts them by name, and the session's secrets by value).
            url = strip_secret_params(url)
            if self.auth:
                url = self.auth.apply(url, headers)
        limit = max_bytes if max_bytes is not None else self.max_body_bytes
        when = self.clock()
        self.calls += 1
        started = time.monotonic()
        try:
            resp = self._send(url, headers)
        except requests.RequestException as exc:
            ref = self._record_failure(url, when, exc)
            raise CaptureError(f"GET {self._redacted(url)} failed: {type(exc).__name__}", ref) from None
        try:
            body, truncated, read_error = self._read(resp, limit)
        finally:
            resp.close()
        return self._record(resp, url, when, body, truncated, read_error, time.monotonic() - started, limit)

    def _send(self, url: str, headers: dict[str, str]) -> requests.Response:
        """What `self.http.get(url, headers=headers, timeout=…, stream=True)` does, except that the settings
        requests takes from the environment (proxies, CA bundle) are looked up once per scheme and host
        rather than on every request (that scan of os.environ cost ~0.3 ms a request)."""
        prep = self.http.prepare_request(requests.Request("GET", url, headers=headers))
        parts = urlsplit(prep.url)
        settings = self._env.get((parts.scheme, parts.netloc))
        if settings is None:
            settings = self._env[(parts.scheme, parts.netloc)] = self.http.merge_environment_settings(
                prep.url, {}, True, None, None)
        return self.http.send(prep, timeout=self.timeout, allow_redirects=True, **settings)

    def _read(self, resp: requests.Response, limit: int) -> tuple[bytes, bool, str | None]:
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit and not resp.headers.get("Content-Encoding"):
            return b"", True, None  # over the cap as declared: not downloaded (a video re-fetched every night)
        chunks, size = [], 0
        try:
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    chunks.append(chunk[: len(chunk) - (size - limit)])
                    return b"".join(chunks), True, None
                chunks.append(chunk)
        except requests.RequestException as exc:  # connection dropped mid-body
            return b"".join(chunks), True, type(exc).__name__
        return b"".join(chunks), False, None

    def _redacted(self, url: str) -> str:
        return self.redactor.url(url, Counter())

    def _record(self, resp, url, when, body, truncated, read_error, elapsed, limit=None) -> Capture:
        counts: Counter = Counter()
        stored_url = self.redactor.url(url, counts)
        parts = urlsplit(stored_url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        req_headers = [("Host", parts.netloc)] + list(resp.request.headers.items())
        req_headers = self.redactor.headers(req_headers, counts, "request-headers")
        raw_headers = list(resp.raw.headers.items()) if resp.raw is not None else list(resp.headers.items())
        dropped = {k: v for k, v in raw_headers if k.lower() in _DROPPED_RESPONSE_HEADERS}
        stored_headers = [(k, v) for k, v in raw_headers if k.lower() not in _DROPPED_RESPONSE_HEADERS]
        stored_headers = self.redactor.headers(stored_headers, counts, "response-headers")
        # Secret names in the body are redacted only in URLs on the host asked (the API's paging links);
        # links in people's posts keep their parameters (the session's own secrets go by value anywhere).
        stored_body = self.redactor.body(body, counts, origin=f"{parts.scheme}://{parts.netloc}")
        stored_headers.append(("Content-Length", str(len(stored_body))))
        status_line = f"{resp.status_code} {resp.reason or ''}".strip()
        warc = self._warc()
        reason = "length" if truncated and not read_error else ("disconnect" if read_error else None)
        response_ref, _ = warc.write_exchange(
            url=stored_url, when=when, request_line=f"GET {target} HTTP/1.1", request_headers=req_headers,
            status_line=status_line, response_headers=stored_headers, body=stored_body, truncated=reason)
        notes: dict[str, Any] = {"software": SOFTWARE, "elapsed_ms": round(elapsed * 1000, 1)}
        if counts:
            notes["redactions"] = summary(counts)
        if dropped:
            notes["stored_body"] = "decoded"
            notes["original_headers"] = dropped
        if reason:
            notes["truncated"] = {"reason": reason, "limit_bytes": limit, "kept_bytes": len(body), "error": read_error}
            if not body and reason == "length":
                notes["truncated"]["declared_length"] = resp.headers.get("Content-Length")
        warc.write_metadata(uri=f"urn:x-civic-archive:capture:{response_ref.record_id[10:-1]}", when=when,
                            payload=json.dumps(notes, sort_keys=True).encode(), refers_to=response_ref.record_id)
        headers = requests.structures.CaseInsensitiveDict(stored_headers)
        return Capture(stored_url, resp.status_code, headers, stored_body, response_ref, truncated)

    def _record_failure(self, url: str, when: datetime, exc: Exception) -> WarcRef:
        """No response arrived: keep evidence of the attempt (a request record, then a note about it)."""
        counts: Counter = Counter()
        stored_url = self.redactor.url(url, counts)
        message = self.redactor.text(f"{type(exc).__name__}: {exc}", counts, "error")
        warc = self._warc()
        payload = json.dumps({"url": stored_url, "error": message, "software": SOFTWARE}, sort_keys=True).encode()
        return warc.write_resource(uri=f"urn:x-civic-archive:fetch-error:{stored_url}", when=when,
                                   payload=payload, content_type="application/json")
