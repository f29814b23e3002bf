"""YouTube channels through the YouTube Data API v3: uploads, their comment threads and replies, thumbnails.

Follows the documented behaviour (shared/reference/platform-apis.md §4):
- `GET /channels?part=contentDetails&id=UC…` (or `forHandle=@…`, or `mine=true` for the handle "mine") →
  the uploads playlist; `GET /playlistItems?part=snippet,contentDetails,status&playlistId=UU…&maxResults=50`
  lists every upload; each page's ids go to `GET /videos?part=snippet,status,statistics&id=<≤50 ids>` for the
  video resources that become the "video" items. (Deleted videos leave the uploads playlist; private ones
  are listed only to the owner.) `nextPageToken` → `pageToken` until absent (the same token twice is a
  paging loop, a token that is not a string an error: base.PagingGuard). A playlist entry whose video id is
  unusable (none, only dots, a comma that would ask for other videos) is quarantined.
- Comments: `GET /commentThreads?part=snippet,replies&videoId=…&maxResults=100&textFormat=plainText`, then
  the same with `moderationStatus=heldForReview` and `moderationStatus=likelySpam` (held / spam comments →
  `Item.hidden`; a thread is listed there when its top comment or one of its replies is held, so each
  comment's own `moderationStatus` decides). Those two listings need the channel owner's OAuth token: a 403
  for them is noted in `self.notes`, and they are not asked again for the rest of the walk (the account
  itself goes on); a 401 is the token itself and stops the run.
  A thread embeds only some replies: when `totalReplyCount` exceeds them, `GET /comments?part=snippet&
  parentId=…` lists them all. 403 `commentsDisabled`: the video's existing comments are no longer shown
  (noted; they are recorded as removed). A comment that leaves all three listings yet still answers
  `GET /comments?id=` was moderated out of view (`rejected`, §4.5): recorded as removed, when all three
  listings of its video were read this run (not with an API key, which cannot read the held ones).
- Errors in Google's shape `{"error":{"code","message","errors":[{"domain","reason"}]}}`:
  `quotaExceeded` / `dailyLimitExceeded` → `QuotaExceeded` (not transient: the account stops until the
  quota resets at midnight Pacific Time, i.e. the next nightly run); 401 → `TokenExpired`; 5xx,
  `backendError`, `rateLimitExceeded`, `userRateLimitExceeded`, 429 → bounded retries.
- Every list call costs 1 quota unit of the project's 10,000/day: about 3 + N_videos/50 · 2 + 3 per video
  (+ reply pages) per night; the published listing is not asked for a video whose `statistics.commentCount`
  is "0" (the held and spam listings are: they are not counted there).

Media: the largest thumbnail of each video (`<video id>:thumbnail`). Video bytes are not available through
the Data API and are not fetched.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from civic_archive.capture import ApiKeyAuth, BearerAuth, Capture
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

PLAYLIST_PAGE = 50
VIDEO_BATCH = 50
COMMENT_PAGE = 100
QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"}
RETRY_REASONS = {"backendError", "internalError", "rateLimitExceeded", "userRateLimitExceeded",
                 "serviceUnavailable"}
TOKEN_REASONS = {"authError", "invalidCredentials", "expired", "unauthorized"}
HIDDEN_STATUSES = {"heldForReview", "likelySpam", "rejected"}
THUMBNAIL_SIZES = ("maxres", "standard", "high", "medium", "default")
# videos.status.uploadStatus of a video the public cannot watch although it is still listed: rejected
# (copyright, terms of use...), failed, or deleted (the Videos resource docs)
TAKEN_DOWN = frozenset({"rejected", "failed", "deleted"})


class QuotaExceeded(ApiError):
    """The project's daily YouTube quota is spent: nothing more can be read until it resets."""


class YouTubeSource(Source):
    platform = "youtube"
    max_retries = 4
    backoff_seconds = 2.0
    max_wait_seconds = 60.0
    fetch_thumbnails = True
    moderation_statuses = ("heldForReview", "likelySpam")

    def __init__(self, account, session):
        super().__init__(account, session)
        self._quota_error: QuotaExceeded | None = None
        self._api_key = isinstance(getattr(session, "auth", None), ApiKeyAuth)
        self._answered = False  # a request has been answered with these credentials
        self._moderation_allowed = not self._api_key
        # Videos whose comments this walk read in full, in all three moderation listings (so a comment of
        # theirs that is in none of them, yet still exists, is out of public view: `rejected`, §4.5), and
        # videos whose comments are disabled (the existing comments are no longer shown).
        self._all_listings_read: set[str] = set()
        self._comments_disabled: set[str] = set()
        # Videos whose published listing was not asked because they count no published comment, and that
        # listing's ids once a lookup needed them (the count lags: see `_out_of_view`).
        self._count_zero: set[str] = set()
        self._published: dict[str, set[str]] = {}
        self._top_hidden: dict[str, bool] = {}  # top comment id → hidden, as first seen in this walk
        if not self._moderation_allowed:
            self._note("youtube: held-for-review and likely-spam comments are not listed: an API key cannot "
                       "read them (they need the channel owner's OAuth token)")

    # -- requests ------------------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any]) -> tuple[Capture, dict]:
        try:
            answer = self._get_once(path, params)
        except TokenExpired as refused:
            # A configured credential is sent as an API key (`key=`) when it looks like one (`AIza…`), else as
            # an OAuth token. One that the first request refuses as a token gets one more try as a key before
            # the run fails: a key need not look like Google's.
            if self._answered or not isinstance(self.session.auth, BearerAuth):
                raise
            bearer = self.session.auth
            self.session.auth = ApiKeyAuth(bearer.token)
            try:
                answer = self._get_once(path, params)
            except ApiError:
                self.session.auth = bearer
                raise refused from None
            self._api_key, self._moderation_allowed = True, False
            self._note("youtube: the credential was refused as an OAuth token (HTTP 401) and accepted as an API "
                       "key: public data only; held-for-review and likely-spam comments are not listed (they "
                       "need the channel owner's OAuth token)")
        self._answered = True
        return answer

    def _get_once(self, path: str, params: dict[str, Any]) -> tuple[Capture, dict]:
        if self._quota_error is not None:  # every further request would fail and still cost quota
            raise QuotaExceeded(str(self._quota_error), code="quotaExceeded", transient=False,
                                ref=self._quota_error.ref)
        url = f"{self.account.api_base_url}/{path}"
        for attempt, last, cap, doc in self.json_attempts(url, params):
            error = doc.get("error") if isinstance(doc, dict) else None
            if error is None and cap.status < 400:
                if not isinstance(doc, dict):
                    raise ApiError(f"youtube: response to {cap.url} is not a JSON object", ref=cap.ref)
                return cap, doc
            status, reason, message = _error_parts(error, cap.status)
            if reason in QUOTA_REASONS:
                self._quota_error = QuotaExceeded(
                    f"youtube: daily API quota exhausted ({reason}); this account stops until the quota resets "
                    f"at midnight Pacific Time and is harvested again on the next nightly run: {message}",
                    code="quotaExceeded", transient=False, ref=cap.ref)
                raise self._quota_error
            if cap.status == 401 or status == 401 or reason in TOKEN_REASONS:
                raise TokenExpired(f"youtube: credentials rejected (HTTP {cap.status}, {reason or 'no reason'}): "
                                   f"{message}", code=reason or 401, ref=cap.ref)
            transient = cap.status >= 500 or cap.status == 429 or reason in RETRY_REASONS
            if not transient or last:
                raise ApiError(f"youtube: HTTP {cap.status} {reason or ''} from {path}: {message}".replace("  ", " "),
                               code=reason or cap.status, transient=transient, ref=cap.ref)
            self._backoff(attempt)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> None:
        self._wait(min(self.backoff_seconds * 2 ** attempt, self.max_wait_seconds))

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[tuple[Capture, list]]:
        token = None
        guard = PagingGuard("youtube", path, "nextPageToken")
        while True:
            cap, doc = self._get(path, {**params, "pageToken": token} if token else params)
            items = doc.get("items")
            if items is None and "error" not in doc and ("pageInfo" in doc or "kind" in doc):
                items = []  # a documented list response with nothing in it
            if not isinstance(items, list):
                raise ApiError(f"youtube: page from {cap.url} has no items list", ref=cap.ref)
            yield cap, items
            token = guard.next(doc.get("nextPageToken"), cap)
            if token is None:
                return

    # -- the walk ------------------------------------------------------------------------------------------

    def _uploads_playlist(self) -> str:
        handle = self.account.handle.strip()
        params: dict[str, Any] = {"part": "contentDetails"}
        if handle == "mine":
            params["mine"] = "true"
        elif handle.startswith("@"):
            params["forHandle"] = handle
        else:
            params["id"] = handle
        cap, doc = self._get("channels", params)
        items = doc.get("items")
        if not isinstance(items, list) or not items:
            raise ApiError(f"youtube: channel {handle} not found (no items)", code="channelNotFound", ref=cap.ref)
        try:
            uploads = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        except (KeyError, TypeError, IndexError):
            raise ApiError(f"youtube: channel {handle} has no uploads playlist in its contentDetails",
                           ref=cap.ref) from None
        if not isinstance(uploads, str) or not uploads:
            raise ApiError(f"youtube: channel {handle}: bad uploads playlist id {uploads!r}", ref=cap.ref)
        return uploads

    def walk(self) -> Iterator[Item | Invalid]:
        uploads = self._uploads_playlist()
        seen_videos: set[str] = set()
        seen_comments: dict[str, str] = {}  # comment id → content digest of its first sighting
        params = {"part": "snippet,contentDetails,status", "playlistId": uploads, "maxResults": PLAYLIST_PAGE}
        for cap, entries in self._upload_pages(params):
            ids, created = [], []
            for entry in entries:
                video_id = _playlist_video_id(entry)
                if video_id is None:
                    yield Invalid("youtube playlist item without a usable video id", entry, cap.ref)
                elif video_id not in seen_videos:
                    seen_videos.add(video_id)
                    ids.append(video_id)
            for start in range(0, len(ids), VIDEO_BATCH):
                batch = ids[start:start + VIDEO_BATCH]
                vcap, doc = self._get("videos", {"part": "snippet,status,statistics", "id": ",".join(batch)})
                videos = doc.get("items")
                if not isinstance(videos, list):
                    raise ApiError(f"youtube: page from {vcap.url} has no items list", ref=vcap.ref)
                for raw in videos:
                    try:
                        video = self._video(raw, vcap)
                    except (KeyError, TypeError, ValueError, AttributeError) as exc:
                        yield Invalid(f"youtube video: {exc}", raw, vcap.ref)
                        continue
                    created.append(video.created_at)
                    yield video
                    yield from self.subtree(video, self._thumbnails(video), self._comments(video, seen_comments))
                # A listed id missing from /videos was deleted (or made private) in between: not seen.
            if self.past_window(created):
                break
        if self._comments_disabled:
            disabled = sorted(self._comments_disabled)
            shown = ", ".join(disabled[:10]) + (" …" if len(disabled) > 10 else "")
            self._note(f"youtube: comments are disabled on {len(disabled)} video(s) ({shown}): "
                       "none of their comments is shown to the public; any archived earlier are recorded as removed")
        self.complete = True

    def _upload_pages(self, params: dict[str, Any]) -> Iterator[tuple[Capture, list]]:
        """The uploads playlist's pages. YouTube answers 404 `playlistNotFound` for the uploads playlist of a
        channel with no public video (a new channel, or one whose last video was deleted): `channels.list`
        has just named this playlist, so that is an empty listing, and the walk completes (a deleted last
        video is then recorded as deleted, not left live for good)."""
        pages = self._pages("playlistItems", params)
        try:
            first = next(pages, None)
        except ApiError as exc:
            if exc.code != "playlistNotFound":
                raise
            self._note(f"youtube: the channel's uploads playlist {params['playlistId']} lists no video "
                       "(404 playlistNotFound, as YouTube answers for a channel without public videos)")
            return
        if first is not None:
            yield first
            yield from pages

    def _thumbnails(self, video: Item) -> Iterator[Item | Invalid]:
        if self.fetch_thumbnails:
            thumb = self._thumbnail(video)
            if thumb is not None:
                yield thumb

    def _video(self, raw: Any, cap: Capture) -> Item:
        if not isinstance(raw, dict):
            raise TypeError(f"video entry is {type(raw).__name__}, not an object")
        video_id = item_id(raw)
        snippet = raw["snippet"]
        if not isinstance(snippet, dict):
            raise TypeError("snippet is not an object")
        status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
        title = snippet.get("title")
        description = snippet.get("description")
        for name, value in (("title", title), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} is {type(value).__name__}")
        content = {"description": description, "tags": snippet.get("tags") or [],
                   "categoryId": snippet.get("categoryId"), "privacyStatus": status.get("privacyStatus"),
                   "defaultLanguage": snippet.get("defaultLanguage")}
        upload = status.get("uploadStatus")
        if upload in TAKEN_DOWN:  # only then: other videos keep the content hash they had
            content["uploadStatus"] = upload
            content["reason"] = status.get("rejectionReason") or status.get("failureReason")
        return Item(
            kind="video", platform_id=video_id, created_at=parse_time(snippet["publishedAt"]), raw=raw,
            ref=cap.ref, author_id=snippet.get("channelId"), author_name=snippet.get("channelTitle"),
            text=title, permalink=f"https://www.youtube.com/watch?v={video_id}",
            hidden=status.get("privacyStatus") == "private" or upload in TAKEN_DOWN, content=content,
        )

    def _thumbnail(self, video: Item) -> Item | Invalid | None:
        thumbs = video.raw["snippet"].get("thumbnails")
        if not isinstance(thumbs, dict):
            return None
        best = next((thumbs[size] for size in THUMBNAIL_SIZES if isinstance(thumbs.get(size), dict)
                     and isinstance(thumbs[size].get("url"), str)), None)
        if best is None:
            return None
        url = best["url"]
        platform_id = f"{video.platform_id}:thumbnail"

        def build(media: Media) -> Item:
            return Item(kind="media", platform_id=platform_id, parent_platform_id=video.platform_id,
                        created_at=video.created_at, raw=best, ref=video.ref, author_id=video.author_id,
                        author_name=video.author_name, permalink=video.permalink, hidden=video.hidden,
                        content={"sha256": media.sha256}, media=media)

        return self.media_item(f"youtube thumbnail {platform_id}", platform_id, url, best, video.ref, build)

    # -- comments ------------------------------------------------------------------------------------------

    def _comments(self, video: Item, seen: dict[str, str]) -> Iterator[Item | Invalid]:
        base = {"part": "snippet,replies", "videoId": video.platform_id, "maxResults": COMMENT_PAGE,
                "textFormat": "plainText"}
        listings: list[str | None] = [None]
        if self._moderation_allowed:
            listings += list(self.moderation_statuses)
        read = 0  # listings read to their end
        for status in listings:
            if status is not None and not self._moderation_allowed:
                break
            if status is None and _no_public_comments(video):
                # The video says its published listing is empty: not asked (a quota unit saved), and counted
                # as read empty. Rejecting a video's only published comment is what turns the count to "0":
                # not counting it left that comment live for good. (The count lags new comments, which are
                # not archived yet and so cannot be misread as gone; one approved from the held listing is
                # checked against the published listing before it is taken for out of view.)
                self._count_zero.add(video.platform_id)
                read += 1
                continue
            params = dict(base, moderationStatus=status) if status else base
            try:
                yield from self._threads(video, params, status, seen)
                read += 1
            except (QuotaExceeded, TokenExpired):
                # A token that may not read the held listings is refused with 403 (below); a 401 is the token
                # itself (expired, revoked) and must stop the run loudly, not pass as "nothing held".
                raise
            except ApiError as exc:
                if exc.code == "commentsDisabled":
                    # The existing comments are hidden from the public (they come back if comments are
                    # turned on again): the subtree counts as walked, and `exists_many` answers "not
                    # conclusive" for its comments, so they are recorded as removed.
                    self._comments_disabled.add(video.platform_id)
                    return
                if exc.code in ("videoNotFound", 404):
                    return  # deleted while we walked
                if status is not None and exc.code in ("forbidden", "insufficientPermissions", 403):
                    self._moderation_denied(status, f"{exc.code}")
                    continue
                raise
        if read == 1 + len(self.moderation_statuses):
            self._all_listings_read.add(video.platform_id)

    def _moderation_denied(self, status: str, why: str) -> None:
        self._moderation_allowed = False
        self._note(f"youtube: the token may not list {status} comments ({why}); held-for-review and likely-spam "
                   "comments are not archived with this token (use the channel owner's OAuth token). "
                   "Published comments are archived as usual")

    def _threads(self, video: Item, params: dict, status: str | None, seen: dict[str, str]
                 ) -> Iterator[Item | Invalid]:
        for cap, threads in self._pages("commentThreads", params):
            for raw in threads:
                try:
                    thread_snippet = raw["snippet"]
                    top = thread_snippet["topLevelComment"]
                    comment = self._comment(top, raw, cap, "comment", video.platform_id, video.platform_id, status)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    yield Invalid(f"youtube comment thread on {video.platform_id}: {exc}", raw, cap.ref)
                    continue
                # A thread is in the held (spam) listing when its top comment *or one of its replies* is held
                # (is spam) (commentThreads.list, moderationStatus): a published comment seen in the published
                # listing comes again with its held replies, which must still be walked.
                if not _seen_before(seen, comment):
                    self._top_hidden[comment.platform_id] = comment.hidden
                    yield comment
                hidden = self._top_hidden.get(comment.platform_id, comment.hidden)
                embedded = (raw.get("replies") or {}).get("comments") if isinstance(raw.get("replies"), dict) else None
                embedded = embedded if isinstance(embedded, list) else []
                for reply_raw in embedded:
                    yield from self._reply(reply_raw, reply_raw, cap, video, comment, status, seen, hidden)
                total = thread_snippet.get("totalReplyCount")
                if isinstance(total, int) and total > len(embedded):
                    yield from self._all_replies(video, comment, status, seen, hidden)

    def _all_replies(self, video: Item, comment: Item, status: str | None, seen: dict[str, str], hidden: bool):
        params = {"part": "snippet", "parentId": comment.platform_id, "maxResults": COMMENT_PAGE,
                  "textFormat": "plainText"}
        try:
            for cap, replies in self._pages("comments", params):
                for raw in replies:
                    yield from self._reply(raw, raw, cap, video, comment, status, seen, hidden)
        except ApiError as exc:
            if exc.code not in ("commentNotFound", "parentCommentNotFound", 404):
                raise  # a comment deleted while we walked takes its replies with it

    def _reply(self, raw, evidence, cap, video: Item, comment: Item, status, seen: dict[str, str], hidden: bool):
        """`hidden`: the reply's comment is out of public view, and so is every reply under it."""
        try:
            item = self._comment(raw, evidence, cap, "reply", comment.platform_id, video.platform_id, status,
                                 thread_hidden=hidden)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            yield Invalid(f"youtube reply to {comment.platform_id}: {exc}", raw, cap.ref)
            return
        if not _seen_before(seen, item):
            yield item

    def _comment(self, comment: Any, raw: Any, cap: Capture, kind: str, parent: str, video_id: str,
                 listing: str | None, thread_hidden: bool = False) -> Item:
        if not isinstance(comment, dict):
            raise TypeError(f"{kind} is {type(comment).__name__}, not an object")
        comment_id = item_id(comment)
        snippet = comment["snippet"]
        if not isinstance(snippet, dict):
            raise TypeError("snippet is not an object")
        text = snippet.get("textDisplay")
        if text is None:
            text = snippet.get("textOriginal")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}")
        author = snippet.get("authorChannelId")
        moderation = snippet.get("moderationStatus")
        # Held / spam comments are not shown to the public, and neither are the replies under them. The comment's
        # own status decides when the answer gives it (the owner's listings do); else the listing it came from
        # (a held listing also carries the published comments of threads with a held reply, with their status).
        own = moderation if isinstance(moderation, str) else listing
        hidden = own in HIDDEN_STATUSES or thread_hidden
        updated = snippet.get("updatedAt")
        return Item(
            kind=kind, platform_id=comment_id, parent_platform_id=parent,
            created_at=parse_time(snippet["publishedAt"]), updated_at=parse_time(updated) if updated else None,
            raw=raw, ref=cap.ref, author_id=author.get("value") if isinstance(author, dict) else None,
            author_name=snippet.get("authorDisplayName"), text=text,
            permalink=f"https://www.youtube.com/watch?v={video_id}&lc={comment_id}", hidden=bool(hidden),
        )

    # -- direct lookup -------------------------------------------------------------------------------------

    def exists(self, kind: str, platform_id: str) -> bool | None:
        return self.exists_many([(kind, platform_id)]).get((kind, platform_id))

    def exists_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool | None]:
        """Videos via `GET /videos?id=` and comments via `GET /comments?id=`, 50 ids a request; an id
        missing from `items` no longer exists (False). Not conclusive (None, recorded as removed): a video
        missing for an API key (it may be private, §4.5: only the owner's token sees those), and a comment
        that still exists although its video's listings were all read this run without it (moderated out
        of public view: `rejected`, §4.5) or its video's comments are disabled.

        A 404 for a batch (`commentNotFound`: "one or more of the comments identified by the id parameter
        cannot be found") is narrowed down by halves to the ids it is about. Any other error stops the
        lookups (the base contract): the answers so far stand, the rest are asked again next run."""
        keys = list(keys)
        videos = sorted({pid.split(":", 1)[0] for kind, pid in keys if kind in ("video", "media", "post")})
        comments = sorted({pid for kind, pid in keys if kind in ("comment", "reply")})
        found: dict[str, bool | None] = {}
        try:
            for path, part, ids in (("videos", "status", videos), ("comments", "snippet", comments)):
                for start in range(0, len(ids), VIDEO_BATCH):
                    batch = ids[start:start + VIDEO_BATCH]
                    for i in batch:
                        if not i or "," in i:  # cannot be asked alone: never conclusive
                            found[i] = None
                    self._look_up(path, part, [i for i in batch if i and "," not in i], found)
        except (TokenExpired, QuotaExceeded):
            raise
        except ApiError as exc:
            self._note(f"youtube: lookups stopped after {len(found)} of {len(videos) + len(comments)} ids; "
                       f"the rest are looked up next run: {exc}")
        answers: dict[tuple[str, str], bool | None] = {}
        for kind, pid in keys:
            lookup = pid.split(":", 1)[0] if kind in ("video", "media", "post") else pid
            if lookup in found:
                answers[(kind, pid)] = found[lookup]
        return answers

    def _look_up(self, path: str, part: str, batch: list[str], found: dict[str, bool | None]) -> None:
        if not batch:
            return
        try:
            _, doc = self._get(path, {"part": part, "id": ",".join(batch)})
        except (TokenExpired, QuotaExceeded):
            raise
        except ApiError as exc:
            if exc.code not in ("commentNotFound", "videoNotFound", 404):
                raise
            if len(batch) == 1:
                found[batch[0]] = False
                return
            half = len(batch) // 2
            self._look_up(path, part, batch[:half], found)
            self._look_up(path, part, batch[half:], found)
            return
        items = doc.get("items")
        if not isinstance(items, list):
            return  # not conclusive: asked again next run
        present = {i.get("id"): i for i in items if isinstance(i, dict)}
        for i in batch:
            if i not in present:
                found[i] = None if path == "videos" and self._api_key else False
            elif path == "comments" and self._out_of_view(present[i]):
                found[i] = None
            else:
                found[i] = True

    def _out_of_view(self, comment: dict) -> bool:
        """Whether a comment the id lookup still returns is out of public view: its video's comments are
        disabled, or its video's three moderation listings were all read this run and it was in none of them
        (the id lookup does not say `moderationStatus`, §4.2)."""
        snippet = comment.get("snippet") if isinstance(comment.get("snippet"), dict) else {}
        video_id = snippet.get("videoId")
        if not isinstance(video_id, str):
            return False
        if video_id in self._comments_disabled:
            return True
        if video_id not in self._all_listings_read:
            return False
        if video_id in self._count_zero:
            # Its published listing was taken to be empty from a count that can lag (a held comment just
            # approved): read it now, once, before concluding (a unit of quota, only for such a video).
            published = self._published_ids(video_id)
            return comment.get("id") not in published and snippet.get("parentId") not in published
        return True

    def _published_ids(self, video_id: str) -> set[str]:
        ids = self._published.get(video_id)
        if ids is None:
            ids = set()
            params = {"part": "snippet,replies", "videoId": video_id, "maxResults": COMMENT_PAGE,
                      "textFormat": "plainText"}
            for _, threads in self._pages("commentThreads", params):
                for raw in threads:
                    if not isinstance(raw, dict):
                        continue
                    ids.add(raw.get("id"))
                    replies = raw.get("replies") if isinstance(raw.get("replies"), dict) else {}
                    ids.update(r.get("id") for r in replies.get("comments") or () if isinstance(r, dict))
            ids.discard(None)
            self._published[video_id] = ids
        return ids


def _error_parts(error: Any, http_status: int) -> tuple[int | None, str | None, str]:
    if not isinstance(error, dict):
        return None, None, str(error) if error is not None else f"HTTP {http_status} without an error body"
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    reason = first.get("reason") or None
    if reason is None and isinstance(error.get("details"), list):  # newer shape: details[].reason
        reason = next((d.get("reason") for d in error["details"] if isinstance(d, dict) and d.get("reason")), None)
    if not isinstance(reason, str):  # a hostile body's list or object must not crash the set lookups
        reason = None
    status = error.get("code") if isinstance(error.get("code"), int) else None
    return status, reason, str(error.get("message") or first.get("message") or "")


def _no_public_comments(video: Item) -> bool:
    """`statistics.commentCount` is "0": no published comment (held and spam ones are not counted)."""
    stats = video.raw.get("statistics")
    return isinstance(stats, dict) and stats.get("commentCount") == "0"


def _seen_before(seen: dict[str, str], item: Item) -> bool:
    """Whether this sighting adds nothing (same id, same content as the first). Otherwise it is remembered
    and yielded: a comment edited while we paged reaches the harvest twice, which archives the first
    sighting and quarantines the later one with its WARC record."""
    if seen.get(item.platform_id) == item.content_sha256():
        return True
    seen.setdefault(item.platform_id, item.content_sha256())
    return False


def _playlist_video_id(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    details = entry.get("contentDetails") if isinstance(entry.get("contentDetails"), dict) else {}
    video_id = details.get("videoId")
    if not video_id:
        resource = (entry.get("snippet") or {}).get("resourceId") if isinstance(entry.get("snippet"), dict) else None
        video_id = resource.get("videoId") if isinstance(resource, dict) else None
    if not isinstance(video_id, str):
        return None
    try:  # ids go into comma-separated `id=` lists: a comma would ask for other videos
        return item_id({"id": video_id}) if "," not in video_id else None
    except ValueError:
        return None


