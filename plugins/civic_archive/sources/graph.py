"""What the Facebook and Instagram connectors share: both speak the Graph API's error language
(shared/reference/platform-apis.md §1.5, §1.6, §2.3) and page with `paging.next` (§1.4, §2.2). Connectors key
off `error.code`, never the HTTP status.

`GraphSource` holds the shared requests: bounded retries for service errors and throttling (waiting the
Business Use Case header's `estimated_time_to_regain_access`, in minutes, when it says how long), paging, the
direct lookup, and a walk of a top-level item's subtree that survives a permanent error about that one item.
"""
from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from civic_archive.capture import Capture
from civic_archive.records import Item
from civic_archive.sources.base import (
    ApiError,
    Invalid,
    PagingGuard,
    Source,
    TokenExpired,
    path_segment,
)

THROTTLE_CODES = frozenset({4, 17, 32, 341, 613})  # app, user, Page, app-limit and call-rate limits (+ BUC 8000x)
TRANSIENT_CODES = frozenset({1, 2})  # unknown/service errors: retry with backoff
TOKEN_CODES = frozenset({190, 102})  # invalid or expired access token / session
POLICY_BLOCK_CODE = 368  # "wait", for a time nobody states: this run stops, the next one tries again
MIN_PAGE_LIMIT = 5
STALE_CURSOR_CODE = 2642  # "(#2642) Invalid cursors values": the item the cursor pointed at is gone (§0.6)
DELETED_CODE, DELETED_SUBCODE = 100, 33  # "Object with ID … does not exist"


def is_throttle(code: int | None) -> bool:
    """A rate limit: wait and retry. Business Use Case limits are the codes 80000-80099 (§1.5)."""
    return code in THROTTLE_CODES or (code is not None and 80000 <= code <= 80099)


def is_permission(code: int | None) -> bool:
    """Permission missing or removed (10, 200-299): a permanent answer about one object, not a retry."""
    return code == 10 or (code is not None and 200 <= code <= 299)


def does_not_exist(exc: ApiError) -> bool:
    """Code 100 with subcode 33 (or, without a subcode, its "does not exist" message): the object was deleted.
    Other code-100 answers (a field that does not exist, an invalid parameter) are no proof of anything, and
    neither is "(#100) Object does not exist, cannot be loaded due to missing permission" without subcode 33:
    that is what a lost permission says."""
    if exc.code != DELETED_CODE:
        return False
    if exc.subcode == DELETED_SUBCODE:
        return True
    message = str(exc).lower()
    return exc.subcode is None and "does not exist" in message and "permission" not in message


def error_code(error: dict) -> int | None:
    """`error.code` when it is a number (a hostile body may send a list or an object: never crash on it)."""
    code = error.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def regain_seconds(cap: Capture) -> float | None:
    """`estimated_time_to_regain_access` (minutes, §1.6) from the Business Use Case header, in seconds; None
    when the header does not say."""
    header = cap.headers.get("X-Business-Use-Case-Usage")
    if not header:
        return None
    try:
        usage = json.loads(header)
        minutes = [entry.get("estimated_time_to_regain_access") or 0
                   for entries in usage.values() for entry in entries]
    except (ValueError, AttributeError, TypeError):
        return None
    best = max((m for m in minutes if isinstance(m, (int, float)) and not isinstance(m, bool)), default=0)
    return best * 60.0 if best > 0 else None


def next_url(doc: Any, cap: Capture, platform: str, origin: tuple[str, str, int | None], guard: PagingGuard
             ) -> str | None:
    """The page after `doc` (its `paging.next`), or None at the end of the listing. `next` comes from the
    body and the session would authenticate it, so it must stay on the API's host (else the token would be
    sent there); a `next` already followed is a paging loop."""
    paging = doc.get("paging") if isinstance(doc, dict) else None
    if paging is None:
        return None
    if not isinstance(paging, dict):
        raise ApiError(f"{platform}: page from {cap.url} has a paging that is not an object", ref=cap.ref)
    url = paging.get("next")
    if url is not None and not isinstance(url, str):
        raise ApiError(f"{platform}: page from {cap.url} has a paging.next that is not a URL: {str(url)[:200]!r}",
                       ref=cap.ref)
    if url:
        check_host(url, origin, platform, cap)
    return guard.next(url, cap)


_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def api_origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) as a host comparison should see them: case-insensitive, the scheme's default port
    made explicit, and the loopback names taken as one host (a fake on 127.0.0.1 may write `localhost` into its
    `next` links: the token still goes to this machine only)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number: compare as no port, so it never matches a real origin
        port = -1
    return scheme, "loopback" if host in _LOOPBACK else host, port


def check_host(url: str, origin: tuple[str, str, int | None], platform: str, cap: Capture) -> None:
    if api_origin(url) != origin:
        raise ApiError(f"{platform}: paging.next of {cap.url} leaves the API host ({urlsplit(url).netloc[:200]!r}); "
                       "not followed", ref=cap.ref)


class ReduceData(ApiError):
    """Code 1 "Please reduce the amount of data you're asking for": the same page fails again; a smaller one
    may not."""


class GraphSource(Source):
    max_retries = 4
    backoff_seconds = 2.0
    max_wait_seconds = 60.0  # never sleep longer than this for one retry; a longer throttle ends the run

    # -- requests ------------------------------------------------------------------------------------------

    def _graph(self, url: str, params: dict[str, Any] | None = None) -> tuple[Capture, Any]:
        """GET one Graph URL: (capture, JSON body), or `ApiError` (`TokenExpired` for 190/102). Service errors
        and throttling are retried `max_retries` times; a transient `ApiError` means they did not clear."""
        p = self.platform
        for attempt, last, cap, doc in self.json_attempts(url, params):
            error = doc.get("error") if isinstance(doc, dict) else None
            if not error:
                if cap.status < 400:
                    return cap, doc
                transient = cap.status >= 500 or cap.status == 429
                if transient and not last:
                    self._backoff(attempt)
                    continue
                raise ApiError(f"{p}: HTTP {cap.status} from {cap.url} without an error body", transient=transient,
                               ref=cap.ref)
            if not isinstance(error, dict):
                error = {"message": str(error)[:500]}
            code = error_code(error)
            subcode = error.get("error_subcode")
            message = error.get("message", "")
            if code in TOKEN_CODES:
                raise TokenExpired(f"{p}: access token rejected (code {code}, subcode {subcode}): {message}",
                                   code=code, subcode=subcode, ref=cap.ref)
            if code == 1 and "reduce the amount of data" in str(message).lower():
                # The same page would fail again (a page of posts with many attachments, say): the listing
                # asks again for a smaller page instead of retrying this one.
                raise ReduceData(f"{p}: error 1: {message}", code=code, subcode=subcode, transient=True,
                                 ref=cap.ref)
            if code == POLICY_BLOCK_CODE:  # retrying would only prolong the block
                raise ApiError(f"{p}: blocked by the platform (code 368, a policy block or app limit): the account "
                               f"is retried on the next run: {message}", code=code, subcode=subcode, transient=True,
                               ref=cap.ref)
            transient = (is_throttle(code) or code in TRANSIENT_CODES or bool(error.get("is_transient"))
                         or cap.status >= 500)
            if not transient or last:
                raise ApiError(f"{p}: error {code}" + (f"/{subcode}" if subcode else "") + f": {message}",
                               code=code, subcode=subcode, transient=transient, ref=cap.ref)
            wait = regain_seconds(cap)
            if wait is not None and wait > self.max_wait_seconds:
                raise ApiError(f"{p}: throttled (code {code}) for about {wait / 60:.0f} min, longer than this run "
                               f"waits; the account is retried on the next run: {message}", code=code,
                               subcode=subcode, transient=True, ref=cap.ref)
            self._backoff(attempt, wait)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, at_least: float | None = None) -> None:
        """Exponential backoff, or the platform's estimate when longer; never over `max_wait_seconds`, nor
        past `wait_budget_seconds` for the whole walk (then the account stops, to be retried next run)."""
        self._wait(min(max(self.backoff_seconds * 2 ** attempt, at_least or 0), self.max_wait_seconds))

    def _pages(self, url: str, params: dict[str, Any] | None, *, from_body: Capture | None = None
               ) -> Iterator[tuple[Capture, list]]:
        """The pages of a listing. `from_body`: `url` is a `next` taken from that capture's body (embedded
        replies that continue), so it is checked like every later `next`.

        A cursor goes stale when the item it points at is deleted meanwhile (§0.6). How the API says so is not
        documented (2642 "Invalid cursors values" is one answer seen; an invalid-parameter 100 is another), so
        any permanent error on a later page, other than the token, reads the listing again from the top, once;
        an error that is really about the listing comes back on the restart and ends it then. Items listed
        twice are harmless (detection keeps the first sighting)."""
        listed = False
        try:
            for page in self._listing(url, params, from_body):
                listed = True
                yield page
        except ApiError as exc:
            if isinstance(exc, TokenExpired) or exc.transient or not listed or from_body is not None:
                raise
            what = ("went stale (the item it pointed at was deleted meanwhile)" if exc.code == STALE_CURSOR_CODE
                    else "was refused (a cursor goes stale when the item it points at is deleted)")
            self._note(f"{self.platform}: a paging cursor of {urlsplit(url).path} {what}; the listing was read "
                       f"again from the top: {exc}")
            yield from self._listing(url, params, None)

    def _listing(self, url: str, params: dict[str, Any] | None, from_body: Capture | None
                 ) -> Iterator[tuple[Capture, list]]:
        origin = api_origin(self.account.api_base_url)
        guard = PagingGuard(self.platform, urlsplit(url).path, "paging.next")
        if from_body is not None:
            check_host(url, origin, self.platform, from_body)
            guard.next(url, from_body)
        next_page: str | None = url
        first = True
        limit: int | None = None  # lowered after a "reduce the amount of data" answer, for the rest of the listing
        while next_page:
            try:
                cap, doc = self._graph(*_with_limit(next_page, params if first else None, limit))
            except ApiError as exc:
                asked = _limit_of(next_page, params if first else None) if limit is None else limit
                if not isinstance(exc, ReduceData) or asked is None or asked <= MIN_PAGE_LIMIT:
                    raise
                limit = max(MIN_PAGE_LIMIT, asked // 2)
                self._note(f"{self.platform}: {urlsplit(url).path} asked for less data per page (error 1); "
                           f"reading it {limit} items a page")
                continue
            first = False
            data = doc.get("data") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                raise ApiError(f"{self.platform}: page from {cap.url} has no data list", ref=cap.ref,
                               payload=doc if not isinstance(doc, (dict, list)) else None)
            yield cap, data
            next_page = next_url(doc, cap, self.platform, origin, guard)  # on the API's host, never twice

    # -- the walk ------------------------------------------------------------------------------------------

    def root_subtree(self, root: Item, *parts: Iterator[Item | Invalid]) -> Iterator[Item | Invalid]:
        """`subtree()`, once per root (a restarted listing lists some twice), except that a permanent answer
        about this one root does not end the whole walk: the root was deleted while we walked (100/33), or
        reading under it needs a permission we lack (10, 200-299: a visitor's post, say). The root is then left
        out of `walked_roots`, so nothing under it is taken for removed. Anything else (throttling, the token,
        an unknown error) still ends the walk. `parts` are generators: nothing is read for a root skipped."""
        if root.platform_id in self.walked_roots:
            return
        try:
            yield from self.subtree(root, *parts)
        except ApiError as exc:
            if does_not_exist(exc):
                return
            if not is_permission(exc.code):
                raise
            self._note(f"{self.platform}: what is under {root.kind} {root.platform_id} could not be read, a "
                       f"permission is missing (nothing under it is taken for removed): {exc}")

    # -- direct lookup -------------------------------------------------------------------------------------

    def exists(self, kind: str, platform_id: str) -> bool | None:
        # media ids made up here ("<post>:attachment:0", "<comment>:attachment") → the post or comment
        object_id = platform_id.split(":", 1)[0]
        if not object_id:
            return None
        try:
            self._graph(f"{self.account.api_base_url}/{path_segment(object_id)}", {"fields": "id"})
        except ApiError as exc:
            return lookup_answer(exc)
        return True


def lookup_answer(exc: ApiError) -> bool | None:
    """What a failed direct lookup says about the item: False when it does not exist (100/33), None when the
    answer is permanent but not conclusive (a permission). A transient failure (throttling, a server error, no
    answer) says nothing about the item and is raised again: `exists_many` then stops, and the rest of the
    lookups wait for the next run instead of being taken for removed. So is an expired token."""
    if isinstance(exc, TokenExpired) or exc.transient:
        raise exc
    return False if does_not_exist(exc) else None


def _limit_of(url: str, params: dict[str, Any] | None) -> int | None:
    """The page size a request asks for (in its params, or in a `next` URL's query), if it names one."""
    value = (params or {}).get("limit")
    if value is None:
        value = dict(parse_qsl(urlsplit(url).query)).get("limit")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _with_limit(url: str, params: dict[str, Any] | None, limit: int | None) -> tuple[str, dict[str, Any] | None]:
    """The request with its page size replaced by `limit` (None: unchanged). A `next` URL keeps its cursor:
    Graph cursors do not depend on the page size."""
    if limit is None:
        return url, params
    if params is not None and "limit" in params:
        return url, {**params, "limit": limit}
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "limit"]
    return urlunsplit(parts._replace(query=urlencode(query + [("limit", str(limit))]))), params

