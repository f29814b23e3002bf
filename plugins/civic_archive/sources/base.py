"""What every platform connector provides: a walk over the account that yields items, and a direct lookup.

A connector reads only what the recording session hands it (redacted, already in the WARC). It yields
`Item`s for good payloads and `Invalid` for payloads it cannot read, so the harvest can quarantine them with
their WARC evidence instead of dropping them.
"""
from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import quote

from civic_archive.capture import Capture, CaptureError, RecordingSession
from civic_archive.config import Account
from civic_archive.records import Item, Media
from civic_archive.warc import WarcRef


class ApiError(Exception):
    """The platform answered with an error the connector cannot get past."""

    def __init__(self, message: str, *, code: Any = None, transient: bool = False, ref: WarcRef | None = None,
                 payload: Any = None, subcode: Any = None):
        super().__init__(message)
        self.code = code
        self.subcode = subcode  # Graph `error_subcode` (100/33 is "does not exist")
        self.transient = transient
        self.ref = ref
        self.payload = payload  # an excerpt of what could not be read (the WARC record holds all of it)


class TokenExpired(ApiError):
    """The account's credentials are invalid or expired: that account stops, the others go on."""


@dataclass
class Invalid:
    """A payload (or part of one) that does not make a valid item."""

    reason: str
    payload: Any
    ref: WarcRef


RECENT_MEDIA = 64  # URLs of media fetched in this walk that a later sighting may reuse (bounded: memory stays flat)


@dataclass(frozen=True)
class KnownMedia:
    """Media bytes an earlier run archived for one media item (from the account's state)."""

    content_sha256: str  # the item's content hash when those bytes were archived (it covers their SHA-256)
    media_sha256: str
    ref: WarcRef  # where the bytes are (the state keeps no length: records rows do not carry one either)


class Source(ABC):
    platform: str
    # Whether comments and replies go with their post: under a post found deleted they are taken for deleted
    # without a lookup each. Not on X, where replies to a deleted post stay readable. (Media go with what they
    # are attached to.)
    comments_die_with_root = True
    # A full sweep at least this often (days), whatever the city config says, where some items can be
    # listed only for a while and only a full sweep asks for them all (None: no such limit).
    full_sweep_within_days: int | None = None
    # All the waits before retries of one walk together (`_wait`): an account that keeps being refused is
    # retried next night instead of holding the nightly run (and its Airflow pool slot) meanwhile.
    wait_budget_seconds = 300.0

    def __init__(self, account: Account, session: RecordingSession):
        self.account = account
        self.session = session
        self.complete = False  # set when the top-level listing was read to its end (or past the window)
        self.since: datetime | None = None  # incremental window: walk subtrees of top-level items from here on
        self.walked_roots: set[str] = set()  # top-level items whose comments/replies/media were fully listed
        self.notes: list[str] = []  # what the run report should say (nothing here fails the account)
        # Media already archived, by platform id (set by the harvest before the walk), and whether the WARC
        # file holding such bytes is still there (it may have been disposed of since).
        self.known_media: dict[str, KnownMedia] = {}
        self.bytes_kept: Callable[[str], bool] = lambda warc_file: True
        self.media_fetched = 0
        self.media_reused = 0
        self._recent_media: OrderedDict[str, Media] = OrderedDict()  # URL → bytes fetched in this walk
        self._sleep: Callable[[float], None] = time.sleep  # tests record the waits instead
        self._waited = 0.0  # seconds waited before retries in this walk (`_wait`)

    def _wait(self, seconds: float) -> None:
        """Sleep before a retry, within `wait_budget_seconds` for the whole walk: past it the account stops
        (transient: retried next run) instead of holding the nightly run while the platform keeps refusing."""
        if self._waited + seconds > self.wait_budget_seconds:
            raise ApiError(f"{self.platform}: still throttled or failing after {self._waited:.0f} s of waits in this "
                           f"run (at most {self.wait_budget_seconds:.0f} s in all); the account is retried on the "
                           "next run", transient=True)
        self._waited += seconds
        self._sleep(seconds)

    def _note(self, text: str) -> None:
        """Something the run report should say (and the log, with the account)."""
        self.notes.append(text)
        logging.getLogger(type(self).__module__).warning("%s (account %s)", text, self.account.id)

    # -- incremental windows ----------------------------------------------------------------------------------

    def in_window(self, created_at: datetime) -> bool:
        return self.since is None or created_at >= self.since

    def subtree(self, root: Item, *parts: Iterator[Item | Invalid]) -> Iterator[Item | Invalid]:
        """Walk a top-level item's comments, replies and media, unless it is older than the window.
        The root counts as fully walked only if every part ran to its end (an error leaves it unmarked, so
        nothing under it is taken for removed)."""
        if not self.in_window(root.created_at):
            return
        for part in parts:
            yield from part
        self.walked_roots.add(root.platform_id)

    def past_window(self, created: list[datetime]) -> bool:
        """True when a whole page of a newest-first listing is older than the window: stop paging. A single
        old item (a pinned post, say) does not stop the walk."""
        return self.since is not None and bool(created) and all(c < self.since for c in created)

    def covers(self, kind: str, platform_id: str, created_at: datetime, root_platform_id: str | None = None,
               parent_platform_id: str | None = None) -> bool:
        """Whether this walk could have listed the item at all (X's recent search, for one, reaches back
        only seven days). Items it could not list are never taken for removed. `root_platform_id` is the
        state's root of the item (an item that is its own root was listed by the top-level listing);
        `parent_platform_id` its parent (a media item hangs under a post, or under a comment or reply)."""
        return True

    def exists_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Item | Invalid | bool | None]:
        """Direct lookups for several items (`fetch`: the item itself where the connector can read it, else what
        `exists` says). A key missing from the answer could not be looked up this run: the first `ApiError`
        (throttling, a server error) stops the lookups, and the rest wait for the next run."""
        answers: dict[tuple[str, str], Item | Invalid | bool | None] = {}
        for kind, platform_id in keys:
            try:
                answers[(kind, platform_id)] = self.fetch(kind, platform_id)
            except TokenExpired:
                raise
            except ApiError as exc:
                self.notes.append(f"lookups stopped after {len(answers)} of {len(keys)}: {exc}")
                break
        return answers

    @abstractmethod
    def walk(self) -> Iterator[Item | Invalid]:
        """Every item of the account: posts, their comments and replies, media."""

    def exists(self, kind: str, platform_id: str) -> bool | None:
        """Direct lookup: True if the item still exists, False if the platform says it does not, None if
        the answer is not conclusive. A failure that says nothing about the item (throttling, a server error)
        is raised, not answered."""
        return None

    def fetch(self, kind: str, platform_id: str) -> Item | Invalid | bool | None:
        """Direct read of an item that was not listed: the `Item` as it is now where the connector can read
        one alone (so the harvest sees a hide or an edit the listings no longer show), else what `exists` says."""
        return self.exists(kind, platform_id)

    # -- media bytes --------------------------------------------------------------------------------------------
    def fetch_media(self, what: str, url: Any, payload: Any, ref: WarcRef) -> tuple[Capture, str] | Invalid:
        """GET media bytes (unauthenticated: CDN URLs are signed, a token must not go there) under the account's
        `media_max_bytes`: (capture, SHA-256 of the body), or `Invalid` saying why not, pointing at the failed
        exchange when there is one (else at `ref`, the item the media belongs to). `what` names the media
        in messages ("facebook media 123")."""
        if not isinstance(url, str) or not url:
            return Invalid(f"{what}: URL is {type(url).__name__}", payload, ref)
        try:
            cap = self.session.get(url, authenticate=False, max_bytes=self.account.media_max_bytes)
        except Exception as exc:  # the item is archived regardless; the missing media is reported
            return Invalid(f"{what} {url}: {exc}", payload, getattr(exc, "ref", None) or ref)
        if cap.status != 200 or cap.truncated:
            return Invalid(f"{what} {url}: HTTP {cap.status}{' (over the size cap)' if cap.truncated else ''}",
                           payload, cap.ref)
        self.media_fetched += 1
        return cap, hashlib.sha256(cap.body).hexdigest()

    def media_item(self, what: str, platform_id: str, url: Any, payload: Any, ref: WarcRef,
                   build: Callable[[Media], Item]) -> Item | Invalid:
        """The media item `build(media)` makes for `platform_id`, its bytes fetched from `url` — unless the
        archive already holds them. They are taken as unchanged when the state knows bytes for this platform
        id, their WARC file is still there, and the item built around those bytes has the content hash the state
        recorded (everything the connector puts in the item's content besides the bytes, e.g. the attachment's
        type and text, is then the same: URLs are not compared, CDN URLs rotate). The item then points at the
        earlier bytes and detection sees it unchanged; otherwise the bytes are fetched as usual. A URL this
        walk fetched a moment ago (an album's cover is also its first photo) is not fetched twice."""
        known = self.known_media.get(platform_id)
        if known is not None and isinstance(url, str) and url and self.bytes_kept(known.ref.warc_file):
            media = Media(url, known.media_sha256, known.ref)
            item = build(media)
            if item.content_sha256() == known.content_sha256:
                self.media_reused += 1
                self._remember(media)
                return item
        if isinstance(url, str) and url in self._recent_media:
            self.media_reused += 1
            return build(self._recent_media[url])
        fetched = self.fetch_media(what, url, payload, ref)
        if isinstance(fetched, Invalid):
            return fetched
        cap, digest = fetched
        media = Media(url, digest, cap.ref)
        self._remember(media)
        return build(media)

    def _remember(self, media: Media) -> None:
        self._recent_media[media.url] = media
        if len(self._recent_media) > RECENT_MEDIA:
            self._recent_media.popitem(last=False)

    def json_attempts(self, url: str, params: dict[str, Any] | None
                      ) -> Iterator[tuple[int, bool, Capture, Any]]:
        """The attempts of a connector's retry loop (`max_retries` + 1 of them): (attempt, whether it is the last,
        capture, JSON body). A failure worth another try (no answer at all; a 5xx/429 whose body is unreadable)
        is waited out with `self._backoff(attempt)` and not yielded; on the last attempt it is raised as a
        transient `ApiError`. What the body says (an error object) is the caller's to judge: it returns, raises,
        or backs off and goes on to the next attempt."""
        tries = self.max_retries + 1
        for attempt in range(tries):
            last = attempt == tries - 1
            try:
                cap = self.session.get(url, params)
            except CaptureError as exc:  # no response at all (timeout, refused, reset)
                if last:
                    raise ApiError(f"{self.platform}: {exc}", transient=True, ref=exc.ref) from None
                self._backoff(attempt)
                continue
            try:
                doc = self.read_json(cap)  # cut short, not JSON, nested too deeply: say which
            except ApiError as exc:
                if exc.transient and not last:  # a 5xx/429 with a proxy's page or a cut body
                    self._backoff(attempt)
                    continue
                raise
            yield attempt, last, cap, doc

    max_retries: int = 0  # connectors that retry set it, and say how long they wait (`_backoff`)

    def _backoff(self, attempt: int) -> None:
        raise NotImplementedError

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> tuple[Capture, Any]:
        cap = self.session.get(url, params)
        return cap, self.read_json(cap)

    def read_json(self, cap: Capture) -> Any:
        """The body's JSON, or an `ApiError` that says why not (cut short, not JSON, nested too deeply) with
        an excerpt. A 5xx or 429 whose body is unreadable (a proxy's HTML page, a cut body) is transient:
        worth another try."""
        transient = cap.status >= 500 or cap.status == 429
        if cap.truncated:
            raise ApiError(f"{self.platform}: response to {cap.url} truncated (HTTP {cap.status}, "
                           f"{len(cap.body)} bytes kept: connection dropped or over the size cap)",
                           transient=transient, ref=cap.ref, payload=_excerpt(cap.body))
        try:
            return cap.json()
        except ValueError as exc:  # also UnicodeDecodeError and "nested too deeply"
            raise ApiError(f"{self.platform}: response to {cap.url} is not JSON (HTTP {cap.status}, "
                           f"{cap.content_type or 'no content type'}): {exc}", transient=transient, ref=cap.ref,
                           payload=_excerpt(cap.body)) from None


class PagingGuard:
    """The cursors one listing has handed out (Graph `paging.next`, X `next_token`, YouTube `nextPageToken`).
    The same cursor twice means the listing loops: without this check the walk would never end. A cursor
    of the wrong type is an error too, not the end of the listing: taking it for the end would let the walk
    count as complete and the unread items be taken for removed."""

    def __init__(self, platform: str, listing: str, name: str):
        self.platform, self.listing, self.name = platform, listing, name
        self.seen: set[str] = set()

    def next(self, cursor: Any, cap: Capture) -> str | None:
        """The cursor to follow, or None at the end of the listing (no cursor, or an empty one)."""
        if cursor is None or cursor == "":
            return None
        if not isinstance(cursor, str):
            raise ApiError(f"{self.platform}: page from {cap.url} has a {self.name} that is not a string: "
                           f"{str(cursor)[:200]!r}", ref=cap.ref, payload=str(cursor)[:2000])
        if cursor in self.seen:
            raise ApiError(f"{self.platform}: paging loop: {self.listing} returned the same {self.name} twice "
                           f"({cursor[:200]!r}); the rest of the listing could not be read", ref=cap.ref)
        self.seen.add(cursor)
        return cursor


def _excerpt(body: bytes, limit: int = 4096) -> str:
    text = body[:limit].decode("utf-8", "backslashreplace")
    return text + (f"… ({len(body)} bytes in all)" if len(body) > limit else "")


def parse_time(value: Any) -> datetime:
    """ISO 8601 / RFC 3339 timestamps as the platforms send them (`+0000`, `Z`, fractional seconds)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing or non-text timestamp {value!r}")
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return dt.astimezone(timezone.utc)


def item_id(raw: Any) -> str:
    """An item's `id` as a non-empty string. Ids made only of dots are refused: "." and ".." would be
    resolved as URL path segments when the item's comments or replies are requested."""
    value = raw["id"]
    if not isinstance(value, str) or not value or value.strip(".") == "":
        raise ValueError(f"bad id {value[:100] if isinstance(value, str) else value!r}")
    return value


def path_segment(platform_id: str) -> str:
    """An id as one URL path segment: `/`, `?`, `#`, `%` and control characters cannot change the path (ids
    made only of dots are refused by `item_id`: requests would undo their escaping)."""
    return quote(platform_id, safe="")
