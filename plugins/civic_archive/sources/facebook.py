"""Facebook Pages through the Graph API: the Page feed, every post's comments and replies, attachments (a
post's, and the image a comment or reply carries in its `attachment`, §1.3: a media item under the comment).

Follows the documented behaviour (shared/reference/platform-apis.md §1): `paging.next` is followed as an
opaque absolute URL and is the only end signal (a page may be empty and still have `next`); comments are
read with `filter=stream` so replies come in the same list with `parent`; errors are keyed off
`error.code`, never the HTTP status, and throttling waits `estimated_time_to_regain_access` (graph.py); a
deleted object answers code 100 / subcode 33. A post whose comments cannot be read (deleted meanwhile, or a
visitor's post that needs a permission we lack) is skipped, not the end of the walk.
"""
from __future__ import annotations

from typing import Iterator

from civic_archive.capture import Capture
from civic_archive.records import Item, Media
from civic_archive.sources.base import ApiError, Invalid, item_id, parse_time, path_segment
from civic_archive.sources.graph import GraphSource, lookup_answer

POST_FIELDS = ("id,message,story,created_time,updated_time,permalink_url,status_type,is_hidden,is_published,"
               "from{id,name},attachments{media_type,type,url,unshimmed_url,title,description,target,media,"
               "subattachments}")
COMMENT_FIELDS = ("id,message,created_time,from{id,name},parent{id},is_hidden,permalink_url,attachment,"
                  "comment_count,like_count")
PAGE_LIMIT = 100
# The feed leaves out posts the Page hid, and expired ones, unless asked (`include_hidden`, `show_expired`: the
# Page feed's read parameters in Meta's own SDK, `Page.get_feed`). Both are public records: a post hidden before
# its first harvest would otherwise never be archived, and one hidden later would drop out of the walk.
FEED_PARAMS = {"fields": POST_FIELDS, "limit": PAGE_LIMIT, "include_hidden": "true", "show_expired": "true"}


class FacebookSource(GraphSource):
    platform = "facebook"
    fetch_video_bytes = True  # a video attachment's `media.source`, subject to account.media_max_bytes

    def walk(self) -> Iterator[Item | Invalid]:
        base = self.account.api_base_url
        for cap, posts in self._pages(f"{base}/{path_segment(self.account.handle)}/feed", FEED_PARAMS):
            created = []
            for raw in posts:
                try:
                    post = self._post(raw, cap)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    yield Invalid(f"facebook post: {type(exc).__name__}: {exc}", raw, cap.ref)
                    continue
                created.append(post.created_at)
                yield post
                yield from self.root_subtree(post, self._media(post), self._comments(post))
            if self.past_window(created):
                break
        self.complete = True

    def _post(self, raw: dict, cap: Capture) -> Item:
        author = raw.get("from") or {}
        attachments = (raw.get("attachments") or {}).get("data") or []
        content = {"attachments": [_attachment_identity(a) for a in attachments]}
        if raw.get("is_published") is False:  # scheduled/unpublished (§1.8): its publication shows as a change
            content["is_published"] = False  # (only then: published posts keep the content hash they had)
        return Item(
            kind="post", platform_id=item_id(raw), created_at=parse_time(raw["created_time"]), raw=raw, ref=cap.ref,
            author_id=author.get("id"), author_name=author.get("name"),
            text=raw.get("message") if raw.get("message") is not None else raw.get("story"),
            updated_at=parse_time(raw["updated_time"]) if raw.get("updated_time") else None,
            permalink=raw.get("permalink_url"), hidden=bool(raw.get("is_hidden")), content=content,
        )

    def _comments(self, post: Item) -> Iterator[Item | Invalid]:
        base = self.account.api_base_url
        params = {"filter": "stream", "order": "chronological", "fields": COMMENT_FIELDS, "limit": PAGE_LIMIT}
        for cap, comments in self._pages(f"{base}/{path_segment(post.platform_id)}/comments", params):
            for raw in comments:
                try:
                    comment = self._comment(raw, cap, post.platform_id)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    yield Invalid(f"facebook comment on {post.platform_id!r}: {type(exc).__name__}: {exc}", raw,
                                  cap.ref)
                    continue
                yield comment
                attachment = raw.get("attachment")
                if attachment:  # right after its comment: the harvest files it under the comment's series
                    yield from self._comment_media(comment, post, attachment)

    def _comment(self, raw: dict, cap: Capture, post_id: str | None) -> Item:
        """A comment or reply (`parent{id}`: a reply). `post_id` None: read alone, its post not known here."""
        parent = (raw.get("parent") or {}).get("id")
        author = raw.get("from") or {}
        attachment = raw.get("attachment")
        return Item(
            kind="reply" if parent else "comment", platform_id=item_id(raw), parent_platform_id=parent or post_id,
            created_at=parse_time(raw["created_time"]), raw=raw, ref=cap.ref,
            author_id=author.get("id"), author_name=author.get("name"), text=raw.get("message"),
            permalink=raw.get("permalink_url"), hidden=bool(raw.get("is_hidden")),
            content={"attachment": _attachment_identity(attachment) if attachment else None},
        )

    # -- direct lookup -------------------------------------------------------------------------------------

    def fetch(self, kind: str, platform_id: str) -> Item | Invalid | bool | None:
        """A post, comment or reply that the listings no longer show, read alone (§1.8: a missing id may be
        permission or privacy filtering; confirm with a direct GET): the `Item` as it is now, so a hide
        (`is_hidden`) or an edit is recorded instead of leaving it live; False if it does not exist (100/33);
        None if not conclusive. Media are only looked up (`exists`). A transient failure is raised."""
        if kind not in ("post", "comment", "reply"):
            return self.exists(kind, platform_id)
        fields = POST_FIELDS if kind == "post" else COMMENT_FIELDS
        try:
            cap, raw = self._graph(f"{self.account.api_base_url}/{path_segment(platform_id)}", {"fields": fields})
        except ApiError as exc:
            if lookup_answer(exc) is False:
                return False
            # Not conclusive (a field this node or token does not allow, say): ask whether it exists at all,
            # as before there was a direct read, rather than take it for removed.
            return self.exists(kind, platform_id)
        if not isinstance(raw, dict) or "created_time" not in raw:
            return True  # it exists, but the answer does not carry the item (fields not granted)
        try:
            return self._post(raw, cap) if kind == "post" else self._comment(raw, cap, None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return Invalid(f"facebook {kind} {platform_id}: {type(exc).__name__}: {exc}", raw, cap.ref)

    def _media(self, post: Item) -> Iterator[Item | Invalid]:
        """One media item per attachment with an image: an album attachment (`type: album`) and each of its
        `subattachments` (the photos). The album is keyed by its `target.id` (the real API gives it an id of its
        own, the post's photo set) and each photo by its photo id; the album's cover is its first photo's image,
        fetched once (`media_item`). An album whose target id is one of its own photos' ids (no id of its own)
        is keyed like an attachment without one (`<post>:attachment:<n>`), so that photo keeps its id."""
        attachments = (post.raw.get("attachments") or {}).get("data") or []
        flat, borrowed = [], set()  # borrowed: positions in `flat` of albums whose target id is a photo's
        for att in attachments:
            at = len(flat)
            flat.append(att)
            try:
                subs = ((att.get("subattachments") or {}).get("data")) or []
                flat.extend(subs)
                own = _target_id(att)
                if own is not None and any(_target_id(sub) == own for sub in subs):
                    borrowed.add(at)
            except (AttributeError, TypeError) as exc:
                yield Invalid(f"facebook subattachments of {post.platform_id!r}: {exc}", att, post.ref)
        for n, att in enumerate(flat):
            own = None if n in borrowed else _target_id(att)
            media_id = own or f"{post.platform_id}:attachment:{n}"
            yield from self._attachment_media(post, att, media_id, lambda media: {"sha256": media.sha256})

    def _comment_media(self, comment: Item, post: Item, att) -> Iterator[Item | Invalid]:
        """The image a comment or reply carries in its `attachment` (a StoryAttachment, as on posts): an
        uploaded photo, a sticker, a GIF share, a video's thumbnail; `media.image.src` in each case. Its parent
        is the comment. An uploaded photo is keyed by its photo id (`target.id`): a Graph object of its own,
        made for this comment. Anything else is keyed `<comment>:attachment` (a comment has one attachment;
        its id never changes): a sticker's target id is the sticker's, the same in every comment that uses
        it, and a GIF or link share has none. That id is looked up as the comment (graph `exists`), so the
        image lives and dies with its comment. The attachment's type and target id are part of the media's
        content: another sticker under the same `<comment>:attachment` id is a change, and its bytes are
        fetched instead of taken for those archived (`media_item` compares content, never CDN URLs)."""
        kind = att.get("type") if isinstance(att, dict) else None
        own = _target_id(att) if kind == "photo" else None
        media_id = own or f"{comment.platform_id}:attachment"
        yield from self._attachment_media(
            comment, att, media_id,
            lambda media: {"sha256": media.sha256, "type": kind, "target": _target_id(att)},
            root=post.platform_id)

    def _attachment_media(self, parent: Item, att, media_id: str, content, root: str | None = None
                          ) -> Iterator[Item | Invalid]:
        """The media item of one attachment with an image (`media.image.src`), under `parent` (a post, or a
        comment or reply), its bytes fetched or reused through `media_item`; nothing when it has no image.
        A video's attachment also gives the video itself (`media.source`, StoryAttachmentMedia): its bytes
        are a media item of their own, `<id>:video`, under the account's `media_max_bytes` (a video over
        the cap is reported, not archived, as on Instagram); the image stays the video's thumbnail."""
        try:
            media_obj = att.get("media") or {}
            src = (media_obj.get("image") or {}).get("src")
            video = media_obj.get("source") if self.fetch_video_bytes else None
            for name, value in (("src", src), ("source", video)):
                if value is not None and not isinstance(value, str):
                    raise TypeError(f"media {name} is {type(value).__name__}")
        except (AttributeError, TypeError) as exc:
            yield Invalid(f"facebook attachment of {parent.platform_id!r}: {exc}", att, parent.ref)
            return

        def builder(platform_id: str, item_content):
            def build(media: Media) -> Item:
                return Item(kind="media", platform_id=platform_id, parent_platform_id=parent.platform_id,
                            created_at=parent.created_at, raw=att, ref=parent.ref, author_id=parent.author_id,
                            author_name=parent.author_name, text=att.get("description") or att.get("title"),
                            permalink=att.get("url"), hidden=parent.hidden, content=item_content(media),
                            media=media, root_platform_id=root)
            return build

        if src:
            yield self.media_item(f"facebook media {media_id}", media_id, src, att, parent.ref,
                                  builder(media_id, content))
        if video:
            video_id = f"{media_id}:video"
            yield self.media_item(f"facebook video {video_id}", video_id, video, att, parent.ref,
                                  builder(video_id, lambda media: {"sha256": media.sha256, "type": "video"}))


def _target_id(att) -> str | None:
    """An attachment's `target.id` as a string, or None when it has none."""
    target = att.get("target") if isinstance(att, dict) else None
    value = target.get("id") if isinstance(target, dict) else None
    return str(value) if value else None


def _attachment_identity(att: dict) -> dict:
    """What identifies an attachment's content (CDN URLs rotate; the target id and type do not)."""
    return {"type": att.get("type"), "media_type": att.get("media_type"),
            "target": (att.get("target") or {}).get("id"), "title": att.get("title"),
            "description": att.get("description")}
