"""Instagram professional accounts through the Instagram Graph API: media, their comments and replies, images.

Follows the documented behaviour (shared/reference/platform-apis.md §2):
- `GET /{ig-user-id}/media` lists the account's media newest first (the API stops at the 10K most recent);
  carousels carry `children{…}`; a carousel without them is completed from `GET /{media-id}/children`.
- `paging.next` is followed as an opaque absolute URL and is the only end signal: a page may be empty and
  carry cursors without `next` (that is the end), and the last page may have no `paging` key at all. A
  `next` off the API's host is refused (the session would send it the token), one already followed is a
  paging loop, and one that is not a string is an error, not the end (graph.next_url).
- `GET /{media-id}/comments` lists top-level comments with their `replies{…}` expanded; when a comment's
  replies are not in the listing (or continue on further pages) they are read from
  `GET /{comment-id}/replies`. `hidden` becomes `Item.hidden`. Only comments of media with
  `comments_count` 0 are skipped without a request.
- Errors are keyed off `error.code`, never the HTTP status (graph.py, shared with Facebook): 190/102 →
  `TokenExpired`; 1, 2 and the throttling codes (4, 17, 32, 341, 613, 8000x) → bounded retries, waiting the
  Business Use Case header's `estimated_time_to_regain_access`, then a transient `ApiError`; a deleted object
  answers code 100 / subcode 33, which `exists()` turns into False. Only 100/33 counts as "deleted while we
  walked"; other code-100 answers end the walk like any other error.
- Whether hidden comments stay in `/comments` is disputed (§2.4): `fetch()` reads a known comment directly, and
  the harvest uses it for archived comments that the listings no longer show (hidden since, or unhidden).

Media items: an IMAGE post's image (platform id = the media id), each carousel child's image (child id), a
VIDEO's thumbnail (`<id>:thumbnail`) and, subject to `account.media_max_bytes`, its video bytes (`<id>`).
"""
from __future__ import annotations

from typing import Any, Iterator

from civic_archive.capture import Capture
from civic_archive.records import Item, Media
from civic_archive.sources.base import (
    ApiError,
    Invalid,
    item_id,
    parse_time,
    path_segment,
)
from civic_archive.sources.graph import GraphSource, does_not_exist, lookup_answer

# Not `permalink`: "Some fields, such as permalink, cannot be used on photos within albums (children)" (IG Media
# reference); asking for it can fail the whole /media page. A child takes its album's permalink.
CHILD_FIELDS = "id,media_type,media_url,thumbnail_url,timestamp"
MEDIA_FIELDS = ("id,caption,media_type,media_url,permalink,timestamp,username,comments_count,like_count,"
                "media_product_type,thumbnail_url,shortcode,is_comment_enabled,owner,"
                f"children{{{CHILD_FIELDS}}}")
REPLY_FIELDS = "id,text,timestamp,username,from,hidden,like_count,parent_id"
COMMENT_FIELDS = f"id,text,timestamp,username,from,hidden,like_count,parent_id,replies{{{REPLY_FIELDS}}}"
PAGE_LIMIT = 50


class InstagramSource(GraphSource):
    platform = "instagram"
    fetch_video_bytes = True  # VIDEO bytes, subject to account.media_max_bytes (thumbnails always)

    # -- the walk ------------------------------------------------------------------------------------------

    def walk(self) -> Iterator[Item | Invalid]:
        base = self.account.api_base_url
        for cap, media in self._pages(f"{base}/{path_segment(self.account.handle)}/media",
                                      {"fields": MEDIA_FIELDS, "limit": PAGE_LIMIT}):
            created = []
            for raw in media:
                try:
                    children = self._children(raw, cap)
                    post = self._post(raw, cap, children)
                except ApiError as exc:
                    if does_not_exist(exc):  # deleted while we were paging: it will simply not be seen
                        continue
                    raise
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    yield Invalid(f"instagram media: {exc}", raw, cap.ref)
                    continue
                created.append(post.created_at)
                yield post
                yield from self.root_subtree(post, self._media(post, children), self._comments(post))
            if self.past_window(created):
                break
        self.complete = True

    def _children(self, raw: Any, cap: Capture) -> list[tuple[dict, Capture]]:
        """A carousel's children, with the capture each came from (empty for other media types)."""
        if not isinstance(raw, dict) or raw.get("media_type") != "CAROUSEL_ALBUM":
            return []
        embedded = raw.get("children")
        if isinstance(embedded, dict) and isinstance(embedded.get("data"), list) and not _next(embedded):
            return [(c, cap) for c in embedded["data"] if isinstance(c, dict)]
        found = []
        for child_cap, children in self._pages(f"{self.account.api_base_url}/{path_segment(item_id(raw))}/children",
                                               {"fields": CHILD_FIELDS}):
            found.extend((c, child_cap) for c in children if isinstance(c, dict))
        return found

    def _post(self, raw: dict, cap: Capture, children: list[tuple[dict, Capture]]) -> Item:
        if not isinstance(raw, dict):
            raise TypeError(f"media entry is {type(raw).__name__}, not an object")
        caption = raw.get("caption")
        if caption is not None and not isinstance(caption, str):
            raise TypeError(f"caption is {type(caption).__name__}")
        owner = raw.get("owner") if isinstance(raw.get("owner"), dict) else {}
        return Item(
            kind="post", platform_id=item_id(raw), created_at=parse_time(raw["timestamp"]), raw=raw, ref=cap.ref,
            author_id=owner.get("id") or self.account.handle, author_name=raw.get("username"), text=caption,
            permalink=raw.get("permalink"), hidden=False,
            content={"media_type": raw.get("media_type"), "media_product_type": raw.get("media_product_type"),
                     "children": [c.get("id") for c, _ in children]},
        )

    # -- media bytes ---------------------------------------------------------------------------------------

    def _media(self, post: Item, children: list[tuple[dict, Capture]]) -> Iterator[Item | Invalid]:
        if post.raw.get("media_type") == "CAROUSEL_ALBUM":
            sources = [(child, child.get("id"), ref_cap.ref) for child, ref_cap in children]
        else:
            sources = [(post.raw, post.platform_id, post.ref)]
        for n, (obj, media_id, ref) in enumerate(sources):
            if not isinstance(media_id, str) or not media_id:
                media_id = f"{post.platform_id}:child:{n}"
            targets = []
            if obj.get("media_type") == "VIDEO":
                if obj.get("thumbnail_url"):
                    targets.append((f"{media_id}:thumbnail", obj["thumbnail_url"]))
                if self.fetch_video_bytes and obj.get("media_url"):
                    targets.append((media_id, obj["media_url"]))
            elif obj.get("media_url"):  # IMAGE (media_url is omitted for copyrighted / flagged media)
                targets.append((media_id, obj["media_url"]))
            for platform_id, url in targets:
                yield self._fetch(post, obj, platform_id, url, ref)

    def _fetch(self, post: Item, obj: dict, platform_id: str, url: Any, ref) -> Item | Invalid:
        try:
            created = parse_time(obj["timestamp"]) if obj.get("timestamp") else post.created_at
        except ValueError:
            created = post.created_at

        def build(media: Media) -> Item:
            return Item(kind="media", platform_id=platform_id, parent_platform_id=post.platform_id,
                        created_at=created, raw=obj, ref=ref, author_id=post.author_id,
                        author_name=post.author_name, text=None, permalink=obj.get("permalink") or post.permalink,
                        hidden=post.hidden, content={"sha256": media.sha256, "media_type": obj.get("media_type")},
                        media=media)

        return self.media_item(f"instagram media {platform_id}", platform_id, url, obj, ref, build)

    # -- comments and replies ------------------------------------------------------------------------------

    def _comments(self, post: Item) -> Iterator[Item | Invalid]:
        total = post.raw.get("comments_count")
        if isinstance(total, int) and not isinstance(total, bool) and total == 0:
            return
        base = self.account.api_base_url
        listed = 0
        pending: list[str] = []  # comments whose replies were not in the listing
        # A media deleted while we walk answers 100/33 here: root_subtree() skips it.
        for cap, comments in self._pages(f"{base}/{path_segment(post.platform_id)}/comments",
                                         {"fields": COMMENT_FIELDS, "limit": PAGE_LIMIT}):
            for raw in comments:
                try:
                    comment = self._comment(raw, cap, "comment", post.platform_id)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    yield Invalid(f"instagram comment on {post.platform_id}: {exc}", raw, cap.ref)
                    continue
                listed += 1
                yield comment
                replies = raw.get("replies")
                if not (isinstance(replies, dict) and isinstance(replies.get("data"), list)):
                    pending.append(comment.platform_id)
                    continue
                for reply_raw in replies["data"]:
                    listed += 1
                    yield self._reply(reply_raw, cap, comment.platform_id)
                more = _next(replies)
                if more:
                    listed += yield from self._replies(more, None, comment.platform_id, from_body=cap)
        if listed == 0 and isinstance(total, int) and total > 0:
            # Observed: an empty page with cursors and no `next` although comments_count > 0 (ref §2.2).
            self._note(f"instagram: media {post.platform_id} reports {total} comments but its comment listing "
                       "returned none (a known Instagram API behaviour); they could not be archived this run")
        # `comments_count` includes replies: when everything is accounted for, there is nothing left to ask.
        if pending and not (isinstance(total, int) and listed >= total):
            for comment_id in pending:
                try:
                    yield from self._replies(f"{base}/{path_segment(comment_id)}/replies",
                                             {"fields": REPLY_FIELDS, "limit": PAGE_LIMIT}, comment_id)
                except ApiError as exc:
                    if not does_not_exist(exc):  # "cannot get replies to a comment that has been deleted"
                        raise

    def _replies(self, url: str, params: dict | None, comment_id: str, from_body: Capture | None = None):
        count = 0
        for cap, replies in self._pages(url, params, from_body=from_body):
            for raw in replies:
                count += 1
                yield self._reply(raw, cap, comment_id)
        return count

    def _reply(self, raw: Any, cap: Capture, comment_id: str) -> Item | Invalid:
        try:
            return self._comment(raw, cap, "reply", comment_id)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return Invalid(f"instagram reply to {comment_id}: {exc}", raw, cap.ref)

    def _comment(self, raw: Any, cap: Capture, kind: str, parent: str) -> Item:
        if not isinstance(raw, dict):
            raise TypeError(f"{kind} entry is {type(raw).__name__}, not an object")
        text = raw.get("text")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}")
        author = raw.get("from") if isinstance(raw.get("from"), dict) else {}
        return Item(
            kind=kind, platform_id=item_id(raw), parent_platform_id=parent,
            created_at=parse_time(raw["timestamp"]), raw=raw, ref=cap.ref,
            author_id=author.get("id"), author_name=author.get("username") or raw.get("username"),
            text=text, hidden=raw.get("hidden") is True,
        )

    # -- direct lookup -------------------------------------------------------------------------------------

    def fetch(self, kind: str, platform_id: str) -> Item | Invalid | bool | None:
        """The item as it is now, read directly: an `Item` (e.g. a comment that left the listings because it
        was hidden: whether hidden comments stay in `/comments` is disputed, §2.4), False if the platform
        says it does not exist (100/33), None if not conclusive; media items are only looked up (`exists`). A
        transient failure is raised (graph.lookup_answer)."""
        if kind not in ("post", "comment", "reply"):
            return self.exists(kind, platform_id)
        fields = MEDIA_FIELDS if kind == "post" else f"{REPLY_FIELDS},media{{id}}"
        try:
            cap, raw = self._graph(f"{self.account.api_base_url}/{path_segment(platform_id)}", {"fields": fields})
        except ApiError as exc:
            if lookup_answer(exc) is False:
                return False
            return self.exists(kind, platform_id)  # not conclusive (a field refused): does it exist at all?
        try:
            if kind == "post":
                return self._post(raw, cap, self._children(raw, cap))
            parent = raw.get("parent_id") if kind == "reply" else (raw.get("media") or {}).get("id")
            if not isinstance(parent, str) or not parent:
                raise ValueError(f"no {'parent_id' if kind == 'reply' else 'media id'} in the {kind}")
            return self._comment(raw, cap, kind, parent)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return Invalid(f"instagram {kind} {platform_id}: {exc}", raw, cap.ref)


def _next(doc: Any) -> str | None:
    paging = doc.get("paging") if isinstance(doc, dict) else None
    nxt = paging.get("next") if isinstance(paging, dict) else None
    return nxt if isinstance(nxt, str) and nxt else None


