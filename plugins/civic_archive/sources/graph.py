"""What the Facebook and Instagram connectors share: both speak the Graph API's error language
(shared/reference/platform-apis.md §1.5, §2.3) and page with `paging.next` (§1.4, §2.2). Connectors key off
`error.code`, never the HTTP status."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from civic_archive.capture import Capture
from civic_archive.sources.base import ApiError, PagingGuard

THROTTLE_CODES = frozenset({4, 17, 32, 613, 80001, 80002})  # app, user, page, call-rate and BUC limits
TRANSIENT_CODES = frozenset({1, 2}) | THROTTLE_CODES  # unknown/service errors: retry with backoff
TOKEN_CODES = frozenset({190, 102})  # invalid or expired access token / session
DELETED_CODE = 100  # with subcode 33: "Object with ID … does not exist"


def error_code(error: dict) -> int | None:
    """`error.code` when it is a number (a hostile body may send a list or an object: never crash on it)."""
    code = error.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def next_url(doc: Any, cap: Capture, platform: str, origin: tuple[str, str], guard: PagingGuard) -> str | None:
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


def check_host(url: str, origin: tuple[str, str], platform: str, cap: Capture) -> None:
    if urlsplit(url)[:2] != origin:
        raise ApiError(f"{platform}: paging.next of {cap.url} leaves the API host ({urlsplit(url).netloc[:200]!r}); "
                       "not followed", ref=cap.ref)
