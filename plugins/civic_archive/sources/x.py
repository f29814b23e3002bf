"""X (Twitter) through the X API v2: the account's timeline, the replies to its posts, attached images.

Follows the documented behaviour (shared/reference/platform-apis.md §3):
- `GET /users/:id/tweets` (max_results=100) paged with `pagination_token` = `meta.next_token` until
  `meta.next_token` is absent (the same token twice is a paging loop, a token that is not a string an error:
  base.PagingGuard). Partial errors (`errors[]` beside `data` in an HTTP 200) go into the run report's
  notes. An empty page is `{"meta":{"result_count":0}}` without `data`. The API only
  reaches the account's 3,200 most recent posts; older ones are not listed (the harvest's direct lookup
  keeps them from being taken for removed).
- Replies: `GET /tweets/search/recent?query=conversation_id:A OR conversation_id:B …` (queries of at most
  512 characters, ~13 posts each) paged with `next_token`, for the posts of the account that have replies;
  each reply goes under the post its `conversation_id` names. Recent search only covers the last ~7 days,
  so a reply by others older than that can never be listed again (`covers()` says so, reckoning the seven
  days from the run's clock and the newest post or reply listed, never from the machine's clock). A 403 on
  search (an access level without it) is noted, and those posts' replies are not taken for removed.
- The account's own replies are in its timeline (whoever started the conversation): each is a root of its
  own, re-checked whenever the timeline is read. X keeps replies to a deleted post readable, so they are
  looked up rather than taken for deleted with their post (`comments_die_with_root = False`).
- Kinds follow the conversation's shape: a post that replies to nothing is a "post"; a reply to the
  conversation's root is a "comment"; a reply to a reply is a "reply" (parent = the `replied_to` post).
- Edits: every edit is a new post id; `edit_history_tweet_ids` lists them oldest first. All ids of an edit
  chain map to ONE item whose platform id is the first (original) id, so an edit becomes a new version.
  A listing only shows the latest version; `created_at` — the original's time — comes from the earlier
  versions in `includes.tweets` (expansion `edit_history_tweet_ids`), else it is looked up (`GET /tweets?ids=
  <first ids>`, one request per page; the first id's snowflake time if that fails); `updated_at` is the
  latest version's `created_at`.
- Direct lookup: `exists()` / `exists_many()` use `GET /tweets?ids=` (up to 100 ids a request): a deleted
  post comes back as an `errors[]` entry of type …/resource-not-found ("Not Found Error") in an HTTP 200.
- Rate limits: `x-rate-limit-remaining` / `x-rate-limit-reset` are tracked per endpoint; an exhausted window
  or a 429 is waited out only when the reset is near (each wait ≤ `max_wait_seconds`, all waits of one
  walk ≤ `wait_budget_seconds`); otherwise a transient `ApiError` stops the walk and the account is
  retried on the next run. 401 (problem+json) → `TokenExpired`; 5xx → bounded retries.
- Media: `includes.media` — a photo's `url`, a video's or GIF's `preview_image_url` — fetched for the
  account's posts and replies and for the replies recent search lists (platform id = the `media_key`, parent
  = the post or reply). Recent search takes the same expansions, so its pages carry `includes.media` too.
- X has no read-side "hidden reply" field, so `Item.hidden` is always False here.
"""
from __future__ import annotations

import html
import logging
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from civic_archive.capture import Capture, CaptureError
from civic_archive.records import Item, Media
from civic_archive.sources.base import (
    ApiError,
    Invalid,
    PagingGuard,
    Source,
    TokenExpired,
    item_id,
    parse_time,
)

RECENT_SEARCH_REACH = timedelta(days=7)  # platform-apis.md §3.3: recent search covers the last seven days
QUERY_LIMIT = 512  # characters in a recent-search query (X's "Build a query": 512 for self-serve access)

log = logging.getLogger(__name__)

# The archiving field set of platform-apis.md §3.1 (twarc's defaults), less context_annotations. With the
# `edit_history_tweet_ids` expansion the earlier versions of an edited post come in `includes.tweets`, so
# the original's time needs no extra lookup; polls and places come in `includes.polls` / `includes.places`
# (kept in the WARC with the page).
TWEET_FIELDS = ("id,text,created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,attachments,"
                "edit_history_tweet_ids,edit_controls,public_metrics,entities,note_tweet,lang,possibly_sensitive,"
                "reply_settings,withheld,source,geo")
EXPANSIONS = ("author_id,attachments.media_keys,referenced_tweets.id,edit_history_tweet_ids,attachments.poll_ids,"
              "geo.place_id")
MEDIA_FIELDS = "media_key,type,url,preview_image_url,alt_text,width,height,duration_ms,variants"
USER_FIELDS = "id,name,username"
POLL_FIELDS = "id,options,duration_minutes,end_datetime,voting_status"
PLACE_FIELDS = "id,full_name,name,country,country_code,place_type,geo,contained_within"
PAGE_SIZE = 100
LOOKUP_BATCH = 100
TWITTER_EPOCH_MS = 1288834974657
NOT_FOUND_TYPE = "https://api.twitter.com/2/problems/resource-not-found"


class XSource(Source):
    platform = "x"
    comments_die_with_root = False  # replies to a deleted post stay readable on X: they are looked up
    # Others' replies are listed only by recent search (7 days back), and an incremental night searches only
    # the conversations of posts in its window: a full sweep (every post's conversation) at most 6 days
    # apart reaches every reply to an older post while search still does (found by a connector audit).
    full_sweep_within_days = 6
    max_retries = 4
    backoff_seconds = 2.0
    max_wait_seconds = 60.0  # the longest single wait for a rate-limit window
    search_replies = True
    # "tweets/search/all" (full-archive search, Pro/Enterprise access) reaches replies older than 7 days;
    # it has an extra 1 request/second limit, so it is meant for a one-off backfill, not every night.
    search_path = "tweets/search/recent"

    def __init__(self, account, session):
        super().__init__(account, session)
        self._now = time.time
        self._windows: dict[str, tuple[int, float]] = {}  # endpoint → (remaining, reset epoch)
        self._root_of: dict[str, str] = {}  # any version id → the edit chain's first id
        self._original_time: dict[str, datetime] = {}  # edit chain's first id → when it was first posted
        self._newest: datetime | None = None  # the latest post/reply time the walk listed (platform evidence)

    # -- requests ------------------------------------------------------------------------------------------

    def _get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Capture, Any]:
        endpoint = _endpoint(url)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            window = self._windows.get(endpoint)
            if window and window[0] <= 0 and window[1] > self._now():
                self._wait_until(window[1], endpoint, None)
            try:
                cap = self.session.get(url, params)
            except CaptureError as exc:
                if last:
                    raise ApiError(f"x: {exc}", transient=True, ref=exc.ref) from None
                self._backoff(attempt)
                continue
            remaining, reset = _rate_headers(cap)
            if remaining is not None and reset is not None:
                self._windows[endpoint] = (remaining, reset)
            if cap.status == 429:
                if _usage_capped(cap):  # the plan's monthly read cap: no wait within a run lifts it
                    raise ApiError(f"x: the API plan's usage cap is reached (HTTP 429 {_problem(cap)}); nothing more "
                                   "can be read until the cap resets (see the developer portal); the account is "
                                   "retried on the next run", code="usage-capped", transient=False, ref=cap.ref)
                if last:
                    raise ApiError(f"x: still rate limited (HTTP 429) on {endpoint} after {attempt + 1} attempts; "
                                   "the account is retried on the next run", code=429, transient=True, ref=cap.ref)
                if reset is not None and (remaining is None or remaining <= 0):
                    self._wait_until(reset, endpoint, cap)
                else:  # no window information, or the undeclared per-second limit: short backoff
                    self._pause(self.backoff_seconds * 2 ** attempt, endpoint, cap)
                continue
            if cap.status == 401:
                raise TokenExpired(f"x: credentials rejected (HTTP 401): {_problem(cap)}", code=401, ref=cap.ref)
            if cap.status >= 500:
                if last:
                    raise ApiError(f"x: HTTP {cap.status} from {endpoint}: {_problem(cap)}", code=cap.status,
                                   transient=True, ref=cap.ref)
                self._backoff(attempt)
                continue
            doc = self.read_json(cap)  # cut short, not JSON, nested too deeply: say which
            if cap.status >= 400:
                raise ApiError(f"x: HTTP {cap.status} from {endpoint}: {_problem(cap)}", code=cap.status,
                               ref=cap.ref)
            if not isinstance(doc, dict):
                raise ApiError(f"x: response to {cap.url} is not a JSON object", ref=cap.ref)
            return cap, doc
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> None:
        self._wait(min(self.backoff_seconds * 2 ** attempt, self.max_wait_seconds))

    def _wait_until(self, reset: float, endpoint: str, cap: Capture | None) -> None:
        self._pause(max(reset - self._now(), 0.0) + 1.0, endpoint, cap, reset)
        self._windows.pop(endpoint, None)  # waited out: the next answer brings the new window

    def _pause(self, seconds: float, endpoint: str, cap: Capture | None, reset: float | None = None) -> None:
        if seconds > self.max_wait_seconds or self._waited + seconds > self.wait_budget_seconds:
            when = (datetime.fromtimestamp(reset, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                    if reset is not None else "an unknown time")
            raise ApiError(f"x: rate limit for {endpoint} exhausted until {when} ({seconds:.0f} s away; this run "
                           f"waits at most {self.max_wait_seconds:.0f} s at a time and "
                           f"{self.wait_budget_seconds:.0f} s in all); the account is retried on the next run",
                           code=429, transient=True, ref=cap.ref if cap else None)
        self._wait(seconds)  # the walk's one budget (base), which the check above words for rate limits

    def _pages(self, url: str, params: dict[str, Any], token_param: str) -> Iterator[tuple[Capture, dict]]:
        token = None
        guard = PagingGuard("x", _endpoint(url), "meta.next_token")
        while True:
            cap, doc = self._get(url, {**params, token_param: token} if token else params)
            data = doc.get("data")
            if data is None:
                if not isinstance(doc.get("meta"), dict):
                    detail = _problem_doc(doc) if doc.get("errors") else "no data and no meta"
                    raise ApiError(f"x: page from {cap.url} has no data list ({detail})", ref=cap.ref)
                doc = {**doc, "data": []}
            elif not isinstance(data, list):
                raise ApiError(f"x: page from {cap.url} has no data list", ref=cap.ref)
            if _list(doc.get("errors")) and doc["data"]:
                # Partial errors in an HTTP 200 (a referenced post deleted or protected, say): the page's
                # posts are good; what could not be expanded is said in the report.
                self.notes.append(f"x: {len(doc['errors'])} partial error(s) in a page of {_endpoint(url)}: "
                                  f"{_problem_doc({'errors': doc['errors'][:3]})[:500]}")
            yield cap, doc
            meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
            token = guard.next(meta.get("next_token"), cap)
            if token is None:
                return

    # -- the walk ------------------------------------------------------------------------------------------

    def _user_id(self) -> str:
        handle = self.account.handle.strip()
        if handle.isdigit():
            return handle
        username = handle.lstrip("@")
        cap, doc = self._get(f"{self.account.api_base_url}/users/by/username/{username}")
        user = doc.get("data")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            raise ApiError(f"x: no user @{username}: {_problem_doc(doc)}", ref=cap.ref)
        return user["id"]

    def _params(self) -> dict[str, Any]:
        return {"max_results": PAGE_SIZE, "tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS,
                "media.fields": MEDIA_FIELDS, "user.fields": USER_FIELDS, "poll.fields": POLL_FIELDS,
                "place.fields": PLACE_FIELDS}

    def walk(self) -> Iterator[Item | Invalid]:
        base = self.account.api_base_url
        user_id = self._user_id()
        emitted: dict[tuple[str, str], str] = {}  # (kind, root id) already yielded → its content digest
        superseded: dict[str, tuple[Item, list]] = {}  # root → an older version, held back
        fetched_media: set[str] = set()
        roots_with_replies: list[str] = []
        for cap, doc in self._pages(f"{base}/users/{user_id}/tweets", self._params(), "pagination_token"):
            users, media = self._includes(doc)
            self._learn_originals(doc["data"])
            created = []
            for raw in doc["data"]:
                try:
                    item = self._tweet(raw, cap, users)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    yield Invalid(f"x post: {exc}", raw, cap.ref)
                    continue
                if _seen_before(emitted, item, raw):
                    continue
                attachments = [media[k] for k in _media_keys(raw) if k in media]
                if not _is_latest(raw):
                    superseded.setdefault(item.platform_id, (item, attachments))
                    continue
                emitted[(item.kind, item.platform_id)] = item.content_sha256()
                superseded.pop(item.platform_id, None)
                created.append(item.created_at)
                yield from self._timeline_item(item, attachments, fetched_media)
                if item.kind == "post" and self.in_window(item.created_at) and _has_replies(raw):
                    roots_with_replies.append(item.platform_id)
                elif self.in_window(item.created_at):
                    self.walked_roots.add(item.platform_id)
            if self.past_window(created):
                break
        for root, (item, attachments) in superseded.items():  # a chain whose latest version was not listed
            if (item.kind, root) in emitted:
                continue
            emitted[(item.kind, root)] = item.content_sha256()
            yield from self._timeline_item(item, attachments, fetched_media)
            if item.kind == "post" and _has_replies(item.raw):
                roots_with_replies.append(root)
        if self.search_replies:
            yield from self._search(roots_with_replies, emitted, fetched_media)
        self.complete = True

    def _timeline_item(self, item: Item, attachments: list[dict], fetched_media: set[str]
                       ) -> Iterator[Item | Invalid]:
        """A post or reply of the account's timeline, then its media. The timeline lists the account's own
        replies directly (whoever started the conversation), so each is a root of its own: its removal is
        checked whenever the timeline is read, not only while recent search still reaches its conversation."""
        self._saw(item)
        if item.kind != "post":
            item.root_platform_id = item.platform_id
        yield item
        yield from self._media(item, attachments, fetched_media)

    def _saw(self, item: Item) -> None:
        latest = item.updated_at or item.created_at
        if self._newest is None or latest > self._newest:
            self._newest = latest

    def covers(self, kind: str, platform_id: str, created_at: datetime, root_platform_id: str | None = None,
               parent_platform_id: str | None = None) -> bool:
        """The timeline lists the account's posts, their media and the account's own replies (roots of their
        own) with theirs; everyone else's replies are listed only by recent search, which reaches back seven
        days, and so are their media (a media item's parent is then not its root; it has its reply's time)."""
        if kind == "post" or root_platform_id == platform_id or self.search_path.endswith("/all"):
            return True
        if kind == "media" and (parent_platform_id is None or parent_platform_id == root_platform_id):
            return True
        return created_at >= self._platform_now() - RECENT_SEARCH_REACH

    def _platform_now(self) -> datetime:
        """The latest "now" this run can vouch for the platform: the run's own clock (the harvest's, not the
        machine's), but no later than the newest post or reply the walk listed. A "now" later than the
        platform's would put replies recent search still lists outside its seven days, and their deletion
        would go unnoticed; an earlier one only costs a few more lookups."""
        now = self.session.clock()
        return min(now, self._newest) if self._newest is not None else now

    def _search(self, roots: list[str], emitted: dict[tuple[str, str], str], fetched_media: set[str]
                ) -> Iterator[Item | Invalid]:
        """The replies to `roots`, by recent search over as many conversations as fit in one query. A 403
        (the access level has no search, or none of this kind) is noted once: the replies are then not
        listed, their posts are not counted as walked, and the rest of the walk stands. So is a search rate
        limit that outlasts what the run may wait (its window is 15 minutes, and search has the smallest
        budget): the timeline was read in full, so the posts' removals are still checked; the conversations
        not searched are searched by the next run."""
        batches = list(_query_batches(roots))
        for n, batch in enumerate(batches):
            try:
                yield from self._replies(batch, emitted, fetched_media)
            except TokenExpired:
                raise
            except ApiError as exc:
                if exc.transient:
                    left = sum(len(b) for b in batches[n:])
                    self._note(f"x: replies are listed for {len(roots) - left} of {len(roots)} posts: "
                               f"{self.search_path} stopped ({str(exc)[:300]}); the rest are searched next run, "
                               "and no reply under them is taken for removed")
                    if exc.ref is not None:  # the refused exchange is in the WARC: quarantined, pointing at it
                        yield Invalid(f"x: recent search stopped, the walk went on: {exc}", None, exc.ref)
                    return
                if exc.code != 403:
                    raise
                self._note(f"x: replies are not listed: {self.search_path} refused (HTTP 403: "
                           f"{str(exc)[:300]}); the posts and the account's own replies are archived, "
                           "and no reply by others is taken for removed")
                return
            self.walked_roots.update(batch)

    def _replies(self, roots: list[str], emitted: dict[tuple[str, str], str], fetched_media: set[str]
                 ) -> Iterator[Item | Invalid]:
        """Replies in the conversations of `roots` that recent search still covers (the last ~7 days), each
        under the root of its conversation (`conversation_id`), each followed by its media (the page's
        `includes.media`, as for timeline items)."""
        query = " OR ".join(f"conversation_id:{root}" for root in roots)
        params = {**self._params(), "query": query}
        held: dict[str, tuple[Item, list]] = {}
        for cap, doc in self._pages(f"{self.account.api_base_url}/{self.search_path}", params, "next_token"):
            users, media = self._includes(doc)
            self._learn_originals(doc["data"])
            for raw in doc["data"]:
                try:
                    item = self._tweet(raw, cap, users)
                    item.root_platform_id = self._conversation_root(raw, roots)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    yield Invalid(f"x reply in conversation {query[:200]}: {exc}", raw, cap.ref)
                    continue
                self._saw(item)
                if _seen_before(emitted, item, raw):
                    continue
                attachments = [media[k] for k in _media_keys(raw) if k in media]
                if not _is_latest(raw):
                    held.setdefault(item.platform_id, (item, attachments))
                    continue
                held.pop(item.platform_id, None)
                emitted[(item.kind, item.platform_id)] = item.content_sha256()
                yield item
                yield from self._media(item, attachments, fetched_media)
        for root_id, (item, attachments) in held.items():
            if (item.kind, root_id) not in emitted:
                emitted[(item.kind, root_id)] = item.content_sha256()
                yield item
                yield from self._media(item, attachments, fetched_media)

    def _conversation_root(self, raw: dict, roots: list[str]) -> str:
        """Which of the searched posts a reply belongs to (its `conversation_id`, as the edit chain's first id)."""
        conversation = raw.get("conversation_id")
        root = self._root_of.get(conversation, conversation) if isinstance(conversation, str) else None
        if root in roots:
            return root
        if len(roots) == 1:
            return roots[0]
        raise ValueError(f"conversation_id {str(conversation)[:100]!r} is none of the conversations searched")

    def _includes(self, doc: dict) -> tuple[dict[str, dict], dict[str, dict]]:
        includes = doc.get("includes") if isinstance(doc.get("includes"), dict) else {}
        users = {u["id"]: u for u in _list(includes.get("users"))
                 if isinstance(u, dict) and isinstance(u.get("id"), str)}
        media = {m["media_key"]: m for m in _list(includes.get("media"))
                 if isinstance(m, dict) and isinstance(m.get("media_key"), str)}
        for tweet in _list(includes.get("tweets")):  # referenced posts and earlier versions: learn edit chains
            if isinstance(tweet, dict):
                history = tweet.get("edit_history_tweet_ids")
                if isinstance(history, list) and history and all(isinstance(i, str) for i in history):
                    for version in history:
                        self._root_of.setdefault(version, history[0])
                    if tweet.get("id") == history[0]:  # an edited post's original: when it was first posted
                        try:
                            self._original_time.setdefault(history[0], parse_time(tweet.get("created_at")))
                        except ValueError:
                            pass
        return users, media

    def _learn_originals(self, tweets: list) -> None:
        """When each edited post was first posted: the listing carries the latest version's `created_at`,
        and the original's only in `includes.tweets`; originals missing there are looked up (one
        `GET /tweets?ids=` per page that has such edits)."""
        wanted = set()
        for raw in tweets:
            history = raw.get("edit_history_tweet_ids") if isinstance(raw, dict) else None
            if (isinstance(history, list) and len(history) > 1 and isinstance(history[0], str)
                    and history[0] not in self._original_time):
                wanted.add(history[0])
        if not wanted:
            return
        try:
            _, doc = self._get(f"{self.account.api_base_url}/tweets",
                               {"ids": ",".join(sorted(wanted)[:LOOKUP_BATCH]), "tweet.fields": "id,created_at"})
        except TokenExpired:
            raise
        except ApiError as exc:
            if exc.transient:
                raise
            log.warning("x: could not look up the originals of edited posts: %s", exc)
            return
        for tweet in _list(doc.get("data")):
            try:
                self._original_time[tweet["id"]] = parse_time(tweet["created_at"])
            except (KeyError, TypeError, ValueError):
                continue

    def _tweet(self, raw: Any, cap: Capture, users: dict[str, dict]) -> Item:
        if not isinstance(raw, dict):
            raise TypeError(f"post entry is {type(raw).__name__}, not an object")
        tweet_id = item_id(raw)
        history = raw.get("edit_history_tweet_ids")
        if history is None:
            history = [tweet_id]
        if not isinstance(history, list) or not history or not all(isinstance(i, str) and i for i in history):
            raise ValueError(f"bad edit_history_tweet_ids {history!r}")
        root = item_id({"id": history[0]})  # the record's platform id: the same checks as any id
        for version in history:
            self._root_of[version] = root
        self._root_of.setdefault(tweet_id, root)
        latest_time = parse_time(raw["created_at"])
        created_at, updated_at = latest_time, None
        if len(history) > 1 or root != tweet_id:
            original = self._original_time.get(root) or _snowflake_time(root)
            created_at = original if original and original <= latest_time else latest_time
            updated_at = latest_time
        text = raw.get("text")
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}")
        note = raw.get("note_tweet")
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            text = note["text"]  # long posts: `text` is truncated, the full text is in note_tweet
        # X sends &, < and > HTML-escaped in post text; the record keeps the text as people read it (the
        # escaped original stays in raw_json and the WARC).
        text = html.unescape(text)
        refs = raw.get("referenced_tweets") or []
        if not isinstance(refs, list):
            raise TypeError("referenced_tweets is not a list")
        replied_to = next((r.get("id") for r in refs if isinstance(r, dict) and r.get("type") == "replied_to"), None)
        conversation = raw.get("conversation_id")
        if replied_to is None:
            kind, parent = "post", None
        else:
            parent = self._root_of.get(replied_to, replied_to)
            conv_root = self._root_of.get(conversation, conversation) if isinstance(conversation, str) else None
            kind = "comment" if parent == conv_root else "reply"
        author_id = raw.get("author_id")
        user = users.get(author_id) if isinstance(author_id, str) else None
        username = user.get("username") if user else None
        attachments = raw.get("attachments") if isinstance(raw.get("attachments"), dict) else {}
        content = {"version_id": tweet_id,
                   "media_keys": list(attachments.get("media_keys") or []),
                   "poll_ids": list(attachments.get("poll_ids") or []),
                   "quoted": [r.get("id") for r in refs if isinstance(r, dict) and r.get("type") == "quoted"]}
        withheld = raw.get("withheld")
        if isinstance(withheld, dict) and withheld:  # only then: other posts keep the content hash they had
            content["withheld"] = withheld
        return Item(
            kind=kind, platform_id=root, parent_platform_id=parent, created_at=created_at, updated_at=updated_at,
            raw=raw, ref=cap.ref, author_id=author_id if isinstance(author_id, str) else None,
            author_name=username, text=text,
            permalink=f"https://x.com/{username}/status/{root}" if username else f"https://x.com/i/web/status/{root}",
            hidden=_withheld_here(withheld), content=content,
        )

    def _media(self, item: Item, attachments: list[dict], done: set[str]) -> Iterator[Item | Invalid]:
        for media in attachments:
            key = media["media_key"]
            if key in done:
                continue
            url = media.get("url") if media.get("type") == "photo" else media.get("preview_image_url")
            if not isinstance(url, str) or not url:
                continue
            done.add(key)

            def build(m: Media, media=media, key=key) -> Item:
                return Item(kind="media", platform_id=key, parent_platform_id=item.platform_id,
                            created_at=item.created_at, raw=media, ref=item.ref, author_id=item.author_id,
                            author_name=item.author_name, text=media.get("alt_text"), permalink=item.permalink,
                            hidden=item.hidden, content={"sha256": m.sha256, "type": media.get("type")}, media=m,
                            root_platform_id=item.root_platform_id or item.platform_id)

            yield self.media_item(f"x media {key}", key, url, media, item.ref, build)

    # -- direct lookup -------------------------------------------------------------------------------------

    def exists(self, kind: str, platform_id: str) -> bool | None:
        return self.exists_many([(kind, platform_id)]).get((kind, platform_id))

    def exists_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool | None]:
        """Look items up in batches of 100 ids (`GET /tweets?ids=`). Media keys cannot be looked up (None)."""
        keys = list(keys)
        ids = sorted({pid for kind, pid in keys if kind != "media" and pid and "," not in pid})
        found: dict[str, bool | None] = {}
        for start in range(0, len(ids), LOOKUP_BATCH):
            batch = ids[start:start + LOOKUP_BATCH]
            try:
                _, doc = self._get(f"{self.account.api_base_url}/tweets",
                                   {"ids": ",".join(batch), "tweet.fields": "id,edit_history_tweet_ids"})
            except TokenExpired:
                raise
            except ApiError as exc:  # the base contract: the answers so far stand, the rest wait for next run
                self._note(f"x: lookups stopped after {start} of {len(ids)} ids; the rest are looked up next "
                           f"run: {exc}")
                break
            for i in batch:
                found.setdefault(i, None)  # asked: an id neither returned nor named in `errors` is not conclusive
            for tweet in _list(doc.get("data")):
                if isinstance(tweet, dict):
                    for version in [tweet.get("id")] + _list(tweet.get("edit_history_tweet_ids")):
                        if isinstance(version, str) and version in batch:
                            found[version] = True
            for error in _list(doc.get("errors")):
                if not isinstance(error, dict):
                    continue
                target = error.get("resource_id") or error.get("value")
                if not isinstance(target, str) or target not in batch or found.get(target):
                    continue
                not_found = (error.get("type") == NOT_FOUND_TYPE or error.get("title") == "Not Found Error"
                             or str(error.get("type", "")).endswith("/resource-not-found"))
                found[target] = False if not_found else None  # suspended/protected: not conclusive
        answers: dict[tuple[str, str], bool | None] = {}
        for kind, pid in keys:
            if kind == "media" or not pid or "," in pid:
                answers[(kind, pid)] = None  # cannot be looked up: never conclusive
            elif pid in found:
                answers[(kind, pid)] = found[pid]
        return answers


def _endpoint(url: str) -> str:
    """The rate-limit bucket of a URL: its path with ids and usernames generalized."""
    path = urlsplit(url).path
    path = re.sub(r"/users/by/username/[^/]+", "/users/by/username/:username", path)
    return re.sub(r"/\d+(?=/|$)", "/:id", path)


def _rate_headers(cap: Capture) -> tuple[int | None, float | None]:
    def number(name: str):
        try:
            return int(float(cap.headers.get(name)))
        except (TypeError, ValueError):
            return None

    reset = number("x-rate-limit-reset")
    return number("x-rate-limit-remaining"), float(reset) if reset is not None else None


def _usage_capped(cap: Capture) -> bool:
    """A 429 that is the plan's usage cap (problem type `…/problems/usage-capped`, title "UsageCapExceeded"),
    not a 15-minute rate-limit window."""
    try:
        doc = cap.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and (str(doc.get("type", "")).endswith("/usage-capped")
                                      or doc.get("title") == "UsageCapExceeded")


def _problem(cap: Capture) -> str:
    try:
        doc = cap.json()
    except ValueError:
        return (cap.body[:200].decode("utf-8", "replace") or "no body").strip()
    return _problem_doc(doc)


def _problem_doc(doc: Any) -> str:
    if not isinstance(doc, dict):
        return repr(doc)[:200]
    parts = [str(doc[k]) for k in ("title", "detail") if doc.get(k)]
    for error in _list(doc.get("errors")):
        if isinstance(error, dict):
            parts.append(str(error.get("detail") or error.get("message") or error.get("title") or error))
    return "; ".join(parts) or repr(doc)[:200]




def _query_batches(roots: list[str]) -> Iterator[list[str]]:
    """`roots` in groups whose `conversation_id:A OR conversation_id:B …` query fits in QUERY_LIMIT: one
    search (and one request of the search's small rate limit) per ~13 posts instead of one per post."""
    batch: list[str] = []
    length = 0
    for root in roots:
        term = len("conversation_id:") + len(root)
        if batch and length + len(" OR ") + term > QUERY_LIMIT:
            yield batch
            batch, length = [], 0
        length += term + (len(" OR ") if batch else 0)
        batch.append(root)
    if batch:
        yield batch


def _list(value: Any) -> list:
    """A list field, or [] when absent or of another type (a hostile body must not crash the walk)."""
    return value if isinstance(value, list) else []


def _seen_before(emitted: dict[tuple[str, str], str], item: Item, raw: dict) -> bool:
    """Whether this sighting adds nothing: the item was yielded already with the same content, or this is
    an older version of it. A later sighting with other content (edited while we paged) is yielded again:
    the harvest archives the first sighting and quarantines this one with its WARC record."""
    digest = emitted.get((item.kind, item.platform_id))
    return digest is not None and (digest == item.content_sha256() or not _is_latest(raw))


def _media_keys(raw: dict) -> list[str]:
    attachments = raw.get("attachments") if isinstance(raw.get("attachments"), dict) else {}
    keys = attachments.get("media_keys")
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []


def _is_latest(raw: dict) -> bool:
    history = raw.get("edit_history_tweet_ids")
    return not isinstance(history, list) or not history or history[-1] == raw.get("id")


def _has_replies(raw: dict) -> bool:
    metrics = raw.get("public_metrics")
    count = metrics.get("reply_count") if isinstance(metrics, dict) else None
    return not isinstance(count, int) or count > 0


def _snowflake_time(post_id: str) -> datetime | None:
    try:
        ms = (int(post_id) >> 22) + TWITTER_EPOCH_MS
    except ValueError:
        return None
    if ms <= TWITTER_EPOCH_MS:  # not a snowflake (very old or synthetic id)
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _withheld_here(withheld: Any) -> bool:
    """Whether X withholds the post from the city's public: for a copyright claim (`copyright`, or the DMCA
    code "XY"), everywhere ("XX"), or in the United States ("US"). Withheld elsewhere only, it is still seen."""
    if not isinstance(withheld, dict):
        return False
    codes = withheld.get("country_codes")
    codes = {c for c in codes if isinstance(c, str)} if isinstance(codes, list) else set()
    return withheld.get("copyright") is True or bool(codes & {"US", "XX", "XY"})

