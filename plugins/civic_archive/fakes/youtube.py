"""Fake YouTube Data API v3: /channels, /playlistItems, /videos, /commentThreads, /comments, /search.

Reference: /work/shared/reference/platform-apis.md section 4 ("ref 4.x").
Auth: `Authorization: Bearer <token>` (the channel owner's OAuth token: sees private videos and the
heldForReview/likelySpam listings) or `key=` (public data only).  Every call is charged to the quota of the
credential's project: 1 unit per list call, 100 per search call (ref 4.4).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from datetime import datetime, timezone

from .server import Request, Response, fake_day, json_response
from .world import Item, World, stable_hash

DAILY_QUOTA = 10_000  # ref 4.4
QUOTA_MSG = ('The request cannot be completed because you have exceeded your '
             '<a href="/youtube/v3/getting-started#quota">quota</a>.')
PARTS = {
    "channels": {"id", "snippet", "contentDetails", "statistics", "status", "brandingSettings", "topicDetails",
                 "localizations", "auditDetails", "contentOwnerDetails"},
    "playlistItems": {"id", "snippet", "contentDetails", "status"},
    "videos": {"id", "snippet", "contentDetails", "statistics", "status", "player", "topicDetails",
               "recordingDetails", "liveStreamingDetails", "localizations", "fileDetails", "processingDetails",
               "suggestions"},
    "commentThreads": {"id", "snippet", "replies"},
    "comments": {"id", "snippet"},
    "search": {"id", "snippet"},
}
OWNER_ONLY_PARTS = {"fileDetails", "processingDetails", "suggestions"}


class YTError(Exception):
    def __init__(self, code, message, reason, domain="global", location=None, location_type=None, status=None):
        super().__init__(message)
        err = {"message": message, "domain": domain, "reason": reason}
        if location:
            err["location"] = location
            err["locationType"] = location_type or "parameter"
        # Google's envelope: {"error": {"code", "message", "errors": [{"message","domain","reason"}], "status"}}
        self.body = {"error": {"code": code, "message": message, "errors": [err]}}
        if status:
            self.body["error"]["status"] = status
        self.code = code


def yt_json(obj, status=200) -> Response:
    # Google APIs answer pretty-printed UTF-8 JSON
    return json_response(obj, status, content_type="application/json; charset=UTF-8", indent=2,
                         headers=[("Vary", "Origin"), ("Vary", "X-Origin"), ("Vary", "Referer")])


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # ref 4.6


def etag(*parts) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(json.dumps(parts, default=str).encode()).digest()[:20]).decode()[:27]


# --------------------------------------------------------------------------------------------------
# auth and quota


class Caller:
    def __init__(self, acct, owner_token: bool):
        self.acct = acct  # the account whose credentials were used (quota is charged to it)
        self.oauth = owner_token

    def owns(self, channel_id: str) -> bool:
        return self.oauth and self.acct is not None and self.acct.handle == channel_id


def authenticate(req: Request) -> Caller:
    world = req.world
    token = req.bearer()
    if token:
        acct = world.by_token(token)
        if acct is None or acct.platform != "youtube" or acct.id in req.faults.expired:
            # ref 4.4 [observed]: expired/invalid token -> 401 "Invalid Credentials"
            raise YTError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                               "cookie or other valid authentication credential. See "
                               "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                          "authError", location="Authorization", location_type="header", status="UNAUTHENTICATED")
        return Caller(acct, True)
    key = req.query.get("key")
    if key:
        acct = world.by_token(key)
        if acct is None or acct.platform != "youtube":
            raise YTError(400, "API key not valid. Please pass a valid API key.", "badRequest",
                          status="INVALID_ARGUMENT")
        if acct.id in req.faults.expired:
            raise YTError(400, "API key expired. Please renew the API key.", "badRequest", status="INVALID_ARGUMENT")
        return Caller(acct, False)
    # ref 4.4 [observed]: no credential at all
    raise YTError(401, "Request is missing required authentication credential. Expected OAuth 2 access token, login "
                       "cookie or other valid authentication credential. See "
                       "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                  "required", location="Authorization", location_type="header", status="UNAUTHENTICATED")


def charge(req: Request, caller: Caller, units: int):
    """Every request costs (even invalid ones, ref 4.4); quotaExceeded is 403 with reason quotaExceeded —
    which google-api-python-client deliberately does not retry."""
    used = req.fakes.meter.youtube_charge(caller.acct.id, fake_day(req.world), units)
    if caller.acct.id in req.faults.quota or (req.world.call_budget and used > DAILY_QUOTA):
        raise YTError(403, QUOTA_MSG, "quotaExceeded", domain="youtube.quota")
    t = req.faults.throttled("youtube")
    if t is not None:
        # retryable per google-api-python-client (reason rateLimitExceeded, ref 4.4); message [unverified]
        raise YTError(403, "The request cannot be completed because you have exceeded your quota rate limit.",
                      "rateLimitExceeded", domain="youtube.quota")


# --------------------------------------------------------------------------------------------------
# parameters


def parts(req: Request, resource: str) -> list:
    raw = req.query.get("part")
    if not raw:
        raise YTError(400, "Required parameter: part", "required", location="part", status="INVALID_ARGUMENT")
    out = [p.strip() for p in raw.split(",") if p.strip()]
    for p in out:
        if p not in PARTS[resource]:
            raise YTError(400, f"'{p}'", "unknownPart", domain="youtube.part", location="part",
                          status="INVALID_ARGUMENT")
    return out


def max_results(req: Request, lo: int, hi: int, default: int) -> int:
    raw = req.query.get("maxResults")
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        msg = f"Invalid value '{raw}'. Values must be within the range: [{lo}, {hi}]"
        raise YTError(400, msg, "invalid", location="maxResults", status="INVALID_ARGUMENT")
    return v


def enc_token(state: dict) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return "EAAa" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def dec_token(req: Request) -> dict | None:
    tok = req.query.get("pageToken")
    if not tok:
        return None
    try:
        if not tok.startswith("EAAa"):
            raise ValueError
        body = tok[4:]
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        # [unverified] reason name
        raise YTError(400, "The request specifies an invalid page token.", "invalidPageToken",
                      domain="youtube.parameter", location="pageToken", status="INVALID_ARGUMENT") from None


def list_response(kind: str, items: list, total: int, per_page: int, next_token=None, prev_token=None, extra=None):
    body = {"kind": f"youtube#{kind}ListResponse", "etag": etag(kind, [i.get("id") for i in items])}
    if next_token:
        body["nextPageToken"] = next_token
    if prev_token:
        body["prevPageToken"] = prev_token
    if extra:
        body.update(extra)
    body["pageInfo"] = {"totalResults": total, "resultsPerPage": per_page}
    body["items"] = items
    return body


def offset_page(req: Request, items: list, per_page: int):
    """Offset paging like playlistItems' real tokens ("PT:CAI" = position): a deletion between two pages
    shifts the offsets, exactly as on YouTube."""
    state = dec_token(req) or {"o": 0}
    off = int(state.get("o", 0))
    page = items[off:off + per_page]
    nxt = enc_token({"o": off + per_page}) if off + per_page < len(items) and per_page else None
    prv = enc_token({"o": max(0, off - per_page)}) if off > 0 else None
    return page, nxt, prv


# --------------------------------------------------------------------------------------------------
# resources


def uploads_id(channel_id: str) -> str:
    return "UU" + channel_id[2:]  # ref 4.1


def thumbnails(req: Request, it: Item) -> dict:
    if not it.media:
        return {}
    url = req.fakes.media_url(it.media[0].name)
    return {"default": {"url": url, "width": 120, "height": 90}, "medium": {"url": url, "width": 320, "height": 180},
            "high": {"url": url, "width": 480, "height": 360}}


def visible_video(world: World, caller: Caller, it: Item | None) -> bool:
    if it is None or it.platform != "youtube" or it.kind != "post" or world.is_gone(it):
        return False
    if it.privacy == "private":
        return caller.owns(world.account(it.account_id).handle)
    return True


def channel_resource(req: Request, acct, ps) -> dict:
    world = req.world
    seq = world.posts(acct)
    n_videos = len(seq) if acct.synthetic else sum(
        1 for p in range(len(seq)) if not world.is_gone(seq.item_at(p)))
    out = {"kind": "youtube#channel", "etag": etag("channel", acct.id, world.version), "id": acct.handle}
    if "snippet" in ps:
        out["snippet"] = {"title": acct.name, "description": acct.description, "customUrl": acct.username,
                          "publishedAt": "2012-03-01T15:00:00Z",
                          "thumbnails": {"default": {"url": req.fakes.media_url(f"{acct.id}-avatar.png"),
                                                     "width": 88, "height": 88}},
                          "localized": {"title": acct.name, "description": acct.description}, "country": "US"}
    if "contentDetails" in ps:
        out["contentDetails"] = {"relatedPlaylists": {"likes": "", "uploads": uploads_id(acct.handle)}}
    if "statistics" in ps:  # counts are strings in the Data API
        out["statistics"] = {"viewCount": str(250000 + n_videos * 113), "subscriberCount": "4210",
                             "hiddenSubscriberCount": False, "videoCount": str(n_videos)}
    if "status" in ps:
        out["status"] = {"privacyStatus": "public", "isLinked": True, "longUploadsStatus": "longUploadsUnspecified",
                         "madeForKids": False}
    return out


def video_resource(req: Request, it: Item, ps) -> dict:
    world = req.world
    acct = world.account(it.account_id)
    out = {"kind": "youtube#video", "etag": etag("video", it.id, it.updated, it.privacy, it.text), "id": it.id}
    if "snippet" in ps:
        out["snippet"] = {"publishedAt": iso(it.created), "channelId": acct.handle, "title": it.title,
                          "description": it.text, "thumbnails": thumbnails(req, it), "channelTitle": acct.name,
                          "tags": ["city council", "Example City"], "categoryId": "25",
                          "liveBroadcastContent": "none", "defaultAudioLanguage": "en",
                          "localized": {"title": it.title, "description": it.text}}
    if "contentDetails" in ps:
        secs = 300 + stable_hash("dur", it.id) % 7200
        out["contentDetails"] = {"duration": f"PT{secs // 3600}H{secs % 3600 // 60}M{secs % 60}S".replace("PT0H", "PT"),
                                 "dimension": "2d", "definition": "hd", "caption": "false", "licensedContent": False,
                                 "contentRating": {}, "projection": "rectangular"}
    if "statistics" in ps:
        stats = {"viewCount": str(it.views), "likeCount": str(it.likes), "favoriteCount": "0"}
        if not it.comments_disabled:
            stats["commentCount"] = str(sum(1 for c in world.comments(it.id) if _public_comment(world, c)))
        out["statistics"] = stats
    if "status" in ps:
        out["status"] = {"uploadStatus": "processed", "privacyStatus": it.privacy, "license": "youtube",
                         "embeddable": True, "publicStatsViewable": True, "madeForKids": False}
    if "player" in ps:
        out["player"] = {"embedHtml": f'<iframe width="480" height="270" src="//www.youtube.com/embed/{it.id}" '
                                      'frameborder="0" allowfullscreen></iframe>'}
    return out


def playlist_item_resource(req: Request, it: Item, position: int, ps) -> dict:
    acct = req.world.account(it.account_id)
    pl = uploads_id(acct.handle)
    out = {"kind": "youtube#playlistItem", "etag": etag("pli", it.id, it.updated),
           "id": base64.b64encode(f"{pl}.{it.id}".encode()).decode()}
    if "snippet" in ps:
        out["snippet"] = {"publishedAt": iso(it.created), "channelId": acct.handle, "title": it.title,
                          "description": it.text, "thumbnails": thumbnails(req, it), "channelTitle": acct.name,
                          "playlistId": pl, "position": position,
                          "resourceId": {"kind": "youtube#video", "videoId": it.id},
                          "videoOwnerChannelTitle": acct.name, "videoOwnerChannelId": acct.handle}
    if "contentDetails" in ps:
        out["contentDetails"] = {"videoId": it.id, "videoPublishedAt": iso(it.created)}
    if "status" in ps:
        out["status"] = {"privacyStatus": it.privacy}
    return out


def text_display(text: str, fmt: str) -> str:
    if fmt == "plainText":
        return text
    # textFormat=html (the default): escaped, newlines as <br>, links as anchors
    out = html.escape(text, quote=True).replace("\n", "<br>")
    return re.sub(r"(https?://[^\s<]+)", r'<a href="\1">\1</a>', out)


def comment_resource(req: Request, c: Item, fmt: str, with_status: bool) -> dict:
    world = req.world
    acct = world.account(c.account_id)
    author_handle = c.author.username if c.author.username.startswith("@") else "@" + c.author.username
    snip = {"channelId": acct.handle, "videoId": c.post_id, "textDisplay": text_display(c.text, fmt),
            "textOriginal": c.text}
    if c.parent_id:
        snip["parentId"] = c.parent_id
    snip.update({"authorDisplayName": author_handle,
                 "authorProfileImageUrl": req.fakes.media_url("resident-avatar.png"),
                 "authorChannelUrl": f"http://www.youtube.com/{author_handle}",
                 "authorChannelId": {"value": c.author.id}, "canRate": True, "viewerRating": "none",
                 "likeCount": c.likes})
    if with_status:  # "Will not be set if the comments were requested through the id filter" (ref 4.2)
        snip["moderationStatus"] = c.moderation
    snip["publishedAt"] = iso(c.created)
    snip["updatedAt"] = iso(c.updated)
    return {"kind": "youtube#comment", "etag": etag("c", c.id, c.updated, c.moderation), "id": c.id, "snippet": snip}


def _public_comment(world: World, c: Item) -> bool:
    return not world.is_gone(c) and c.moderation == "published"


def thread_resource(req: Request, top: Item, ps, fmt: str, with_status: bool, listing: str = "published") -> dict:
    """A thread as listed with `moderationStatus=listing`: the replies it carries are those of that status (a
    held listing shows a published thread for its held replies), and the published replies of a top comment
    of that status; each with its status when the owner asks."""
    world = req.world
    acct = world.account(top.account_id)
    replies = [r for r in world.replies(top.id) if not world.is_gone(r)
               and (r.moderation == listing or (r.moderation == "published" and top.moderation == listing))]
    out = {"kind": "youtube#commentThread", "etag": etag("t", top.id, top.updated, len(replies)), "id": top.id}
    if "snippet" in ps:
        out["snippet"] = {"channelId": acct.handle, "videoId": top.post_id,
                          "topLevelComment": comment_resource(req, top, fmt, with_status),
                          "canReply": True, "totalReplyCount": len(replies), "isPublic": True}
    if "replies" in ps and replies:
        # "a limited number of replies" (ref 4.2): page the rest with comments.list?parentId=
        out["replies"] = {"comments": [comment_resource(req, r, fmt, with_status) for r in replies[:5]]}
    return out


# --------------------------------------------------------------------------------------------------
# routing


def handle(req: Request) -> Response:
    try:
        caller = authenticate(req)
        resource = req.segments[0] if len(req.segments) == 1 else ""
        charge(req, caller, 100 if resource == "search" else 1)
        if req.method != "GET":
            raise YTError(405, "Method not allowed in this fake.", "methodNotAllowed")
        fn = ROUTES.get(resource)
        if fn is None:
            raise YTError(404, "Not Found", "notFound")
        return yt_json(fn(req, caller))
    except YTError as err:
        return yt_json(err.body, err.code)


def _one_filter(req: Request, names, resource):
    given = [n for n in names if req.query.get(n)]
    if len(given) != 1:
        msg = ("No filter selected. Expected one of: " if not given else
               "Incompatible parameters specified in the request: ") + ", ".join(names if not given else given)
        raise YTError(400, msg, "missingRequiredParameter" if not given else "incompatibleParameters",
                      domain="youtube.parameter", status="INVALID_ARGUMENT")
    return given[0]


def channels(req: Request, caller: Caller):
    ps = parts(req, "channels")
    world = req.world
    f = _one_filter(req, ["id", "mine", "forHandle", "forUsername", "managedByMe", "categoryId"], "channels")
    if f == "id":
        accts = [world.by_handle("youtube", i) for i in req.query["id"].split(",")]
    elif f == "mine":
        if not caller.oauth:
            raise YTError(401, "Request is missing required authentication credential.", "required",
                          location="Authorization", location_type="header", status="UNAUTHENTICATED")
        accts = [caller.acct]
    else:
        want = req.query[f].lstrip("@").lower()
        accts = [a for a in world.accounts if a.platform == "youtube" and a.username.lstrip("@").lower() == want]
    items = [channel_resource(req, a, ps) for a in accts if a is not None]
    per = max_results(req, 0, 50, 5)
    return list_response("channel", items, len(items), per)


def playlist_items(req: Request, caller: Caller):
    """The uploads playlist, newest first; deleted videos vanish, private ones only for the owner (ref 4.1, 4.5)."""
    ps = parts(req, "playlistItems")
    world = req.world
    per = max_results(req, 0, 50, 5)
    pl = req.query.get("playlistId")
    if not pl and not req.query.get("id"):
        raise YTError(400, "No filter selected. Expected one of: playlistId, id", "missingRequiredParameter",
                      domain="youtube.parameter", status="INVALID_ARGUMENT")
    acct = next((a for a in world.accounts if a.platform == "youtube" and uploads_id(a.handle) == pl), None)
    if acct is None:
        raise YTError(404, "The playlist identified with the request's <code>playlistId</code> parameter cannot be "
                           "found.", "playlistNotFound", domain="youtube.playlistItem", location="playlistId",
                      status="NOT_FOUND")
    seq = world.posts(acct)
    if acct.synthetic:
        return _lazy_playlist(req, caller, acct, seq, per, ps)
    videos = [seq.item_at(p) for p in range(len(seq))]
    videos = [v for v in videos if visible_video(world, caller, v)]
    if not videos:  # what YouTube answers for the uploads playlist of a channel without videos
        raise YTError(404, "The playlist identified with the request's <code>playlistId</code> parameter cannot be "
                           "found.", "playlistNotFound", domain="youtube.playlistItem", location="playlistId",
                      status="NOT_FOUND")
    page, nxt, prv = offset_page(req, videos, per)
    off = (dec_token(req) or {"o": 0}).get("o", 0)
    items = [playlist_item_resource(req, v, off + k, ps) for k, v in enumerate(page)]
    return list_response("playlistItem", items, len(videos), per, nxt, prv)


def _lazy_playlist(req, caller, acct, seq, per, ps):
    """Synthetic channels: offset paging straight on the lazy sequence (nothing materialised)."""
    world = req.world
    state = dec_token(req) or {"o": 0}
    pos = int(state["o"])
    items = []
    while pos < len(seq) and len(items) < per:
        it = seq.item_at(pos)
        if visible_video(world, caller, it):
            items.append(playlist_item_resource(req, it, pos, ps))
        pos += 1
    nxt = enc_token({"o": pos}) if pos < len(seq) and per else None
    prv = enc_token({"o": max(0, int(state["o"]) - per)}) if int(state["o"]) else None
    return list_response("playlistItem", items, len(seq), per, nxt, prv)


def videos(req: Request, caller: Caller):
    """Deleted (or, for others, private) videos are simply absent from `items` (ref 4.5)."""
    ps = parts(req, "videos")
    world = req.world
    _one_filter(req, ["id", "chart", "myRating"], "videos")
    ids = [i for i in (req.query.get("id") or "").split(",") if i]
    if len(ids) > 50:
        raise YTError(400, "The request specifies too many video IDs.", "tooManyIds", domain="youtube.video",
                      status="INVALID_ARGUMENT")
    items = []
    for vid in ids:
        it = world.get(vid)
        if visible_video(world, caller, it):
            if set(ps) & OWNER_ONLY_PARTS and not caller.owns(world.account(it.account_id).handle):
                raise YTError(403, "The request is not properly authorized to access video file or processing "
                                   "information.", "forbidden", domain="youtube.video")
            items.append(video_resource(req, it, ps))
    return list_response("video", items, len(items), len(items))


def _video_for_comments(req: Request, caller: Caller, vid: str) -> Item:
    world = req.world
    it = world.get(vid)
    if not visible_video(world, caller, it):
        raise YTError(404, 'The video identified by the <code><a href="/youtube/v3/docs/commentThreads/list#videoId">'
                           'videoId</a></code> parameter could not be found.', "videoNotFound",
                      domain="youtube.commentThread", location="videoId", status="NOT_FOUND")
    if it.comments_disabled:  # ref 4.4 [observed]
        raise YTError(403, 'The video identified by the <code><a href="/youtube/v3/docs/commentThreads/list#videoId">'
                           'videoId</a></code> parameter has disabled comments.', "commentsDisabled",
                      domain="youtube.commentThread", location="videoId", status="PERMISSION_DENIED")
    return it


def comment_threads(req: Request, caller: Caller):
    ps = parts(req, "commentThreads")
    world = req.world
    f = _one_filter(req, ["videoId", "allThreadsRelatedToChannelId", "channelId", "id"], "commentThreads")
    fmt = req.query.get("textFormat", "html")
    if fmt not in ("html", "plainText"):
        raise YTError(400, f"Invalid value '{fmt}'. Values must be one of: html, plainText", "invalid",
                      location="textFormat", status="INVALID_ARGUMENT")
    status = req.query.get("moderationStatus")
    if status and f == "id":  # ref 4.2: not compatible with id
        raise YTError(400, "Incompatible parameters specified in the request: moderationStatus, id",
                      "incompatibleParameters", domain="youtube.parameter", status="INVALID_ARGUMENT")
    status = status or "published"
    if status not in ("published", "heldForReview", "likelySpam"):
        raise YTError(400, f"Invalid value '{status}'. Values must be one of: heldForReview, likelySpam, published",
                      "invalid", location="moderationStatus", status="INVALID_ARGUMENT")
    if f == "id":
        tops = []
        for cid in req.query["id"].split(","):
            c = world.get(cid)
            if c is not None and c.platform == "youtube" and c.kind == "comment" and not c.parent_id \
                    and not world.is_gone(c):
                tops.append(c)
        items = [thread_resource(req, c, ps, fmt, False) for c in tops]
        return list_response("commentThread", items, len(items), len(items))
    per = max_results(req, 1, 100, 20)
    if f == "videoId":
        video = _video_for_comments(req, caller, req.query["videoId"])
        channel = world.account(video.account_id)
        videos_ = [video]
    else:
        channel = world.by_handle("youtube", req.query[f])
        if channel is None:
            raise YTError(404, "The channel could not be found.", "channelNotFound", domain="youtube.commentThread",
                          location=f, status="NOT_FOUND")
        videos_ = None
    owner = caller.owns(channel.handle)
    if status != "published" and not owner:
        # only the channel owner can list heldForReview / likelySpam (ref 4.2)
        raise YTError(403, "The request is not properly authorized to retrieve the specified comment threads.",
                      "forbidden", domain="youtube.commentThread", status="PERMISSION_DENIED")
    order = req.query.get("order", "time")

    def listed(c):
        # "A comment thread can be included in the response if the top-level comment or at least one of the
        # replies to that comment are awaiting review" (likewise spam); a published thread: its top comment is.
        if c.parent_id is not None or world.is_gone(c):
            return False
        if c.moderation == status:
            return True
        return status != "published" and any(r.moderation == status and not world.is_gone(r)
                                              for r in world.replies(c.id))

    if videos_ is not None or not channel.synthetic:
        if videos_ is None:
            seq = world.posts(channel)
            videos_ = [v for v in (seq.item_at(p) for p in range(len(seq))) if visible_video(world, caller, v)
                       and not v.comments_disabled]
        tops = [c for v in videos_ for c in world.comments(v.id) if listed(c)]
        if order == "relevance":
            tops.sort(key=lambda c: (-c.likes, -c.created, c.id))
        else:  # "time": newest first
            tops.sort(key=lambda c: (c.created, c.c), reverse=True)
        page, nxt, prv = offset_page(req, tops, per)
        items = [thread_resource(req, c, ps, fmt, owner, status) for c in page]
        return list_response("commentThread", items, len(tops), per, nxt)
    # synthetic channel, all threads: walk videos newest first (token = video position + index)
    state = dec_token(req) or {"v": 0, "i": 0}
    seq = world.posts(channel)
    vpos, idx, items = int(state["v"]), int(state["i"]), []
    while vpos < len(seq) and len(items) < per:
        v = seq.item_at(vpos)
        if v is not None and visible_video(world, caller, v) and not v.comments_disabled:
            tops = [c for c in world.comments(v.id) if listed(c)][::-1]
            while idx < len(tops) and len(items) < per:
                items.append(thread_resource(req, tops[idx], ps, fmt, owner, status))
                idx += 1
            if idx < len(tops):
                break
        vpos, idx = vpos + 1, 0
    nxt = enc_token({"v": vpos, "i": idx}) if vpos < len(seq) else None
    return list_response("commentThread", items, len(seq) * channel.synthetic["k"], per, nxt)


def comments(req: Request, caller: Caller):
    parts(req, "comments")  # validates `part` (an unknown part is an error, ref 4.4)
    world = req.world
    f = _one_filter(req, ["parentId", "id"], "comments")
    fmt = req.query.get("textFormat", "html")
    if f == "id":
        found = []
        for cid in req.query["id"].split(","):
            c = world.get(cid)
            if c is not None and c.platform == "youtube" and c.kind == "comment" and not world.is_gone(c):
                found.append(c)
        items = [comment_resource(req, c, fmt, False) for c in found]
        return list_response("comment", items, len(items), len(items))
    per = max_results(req, 1, 100, 20)
    parent = world.get(req.query["parentId"])
    if parent is None or parent.platform != "youtube" or parent.kind != "comment" or world.is_gone(parent):
        # [unverified] shape of a missing parent
        raise YTError(404, "The comment identified by the <code>parentId</code> parameter could not be found.",
                      "commentNotFound", domain="youtube.comment", location="parentId", status="NOT_FOUND")
    replies = [r for r in world.replies(parent.id) if _public_comment(world, r)]
    page, nxt, _ = offset_page(req, replies, per)
    items = [comment_resource(req, r, fmt, False) for r in page]
    body = list_response("comment", items, len(replies), per, nxt)
    del body["pageInfo"]["totalResults"]  # comments.list reports only resultsPerPage
    return body


def search(req: Request, caller: Caller):
    """search.list (100 units, ref 4.4): the channel's public videos, newest first; not exhaustive."""
    parts(req, "search")
    world = req.world
    per = max_results(req, 0, 50, 5)
    if req.query.get("forMine") == "true":
        channel = caller.acct if caller.oauth else None
    else:
        channel = world.by_handle("youtube", req.query.get("channelId", ""))
    if channel is None:
        return list_response("search", [], 0, per, extra={"regionCode": "US"})
    seq = world.posts(channel)
    vids = []
    for p in range(min(len(seq), 500)):  # search is not exhaustive (ref 4.1)
        v = seq.item_at(p)
        if visible_video(world, caller, v) and v.privacy == "public":
            vids.append(v)
    page, nxt, prv = offset_page(req, vids, per)
    items = [{"kind": "youtube#searchResult", "etag": etag("s", v.id), "id": {"kind": "youtube#video", "videoId": v.id},
              "snippet": {"publishedAt": iso(v.created), "channelId": channel.handle, "title": v.title,
                          "description": v.text[:160], "thumbnails": thumbnails(req, v), "channelTitle": channel.name,
                          "liveBroadcastContent": "none", "publishTime": iso(v.created)}} for v in page]
    return list_response("search", items, len(vids), per, nxt, prv, extra={"regionCode": "US"})


ROUTES = {"channels": channels, "playlistItems": playlist_items, "videos": videos, "commentThreads": comment_threads,
          "comments": comments, "search": search}
