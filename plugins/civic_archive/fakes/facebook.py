"""Fake Facebook Graph API (Pages): /{page-id}/feed|posts|published_posts, /{post-id}, /{post-id}/comments,
/{comment-id}/comments, /{page-id}, /me.

Also holds the Graph plumbing instagram.py reuses: auth, errors, usage headers, `fields=` parsing, cursor
paging.  Reference: /work/shared/reference/platform-apis.md section 1 ("ref 1.x") and section 0.
"""

from __future__ import annotations

import base64
import math
import time
from datetime import datetime, timezone
from urllib.parse import urlencode

from .server import Request, Response, json_response
from .world import Item, World, stable_hash

MAX_LIMIT = 100  # ref 1.1: "Specifying any higher limit will throw an error"
DEFAULT_LIMIT = 25
DEPRECATED_POST_FIELDS = {"caption", "description", "link", "name", "object_id", "source", "type"}  # ref 1.1 (v3.3)


class GraphError(Exception):
    """Raised anywhere while answering; turned into the Graph error envelope (ref 1.5)."""

    def __init__(self, message, type_="OAuthException", code=100, subcode=None, status=400, **extra):
        super().__init__(message)
        self.message, self.type, self.code, self.subcode, self.status, self.extra = (
            message, type_, code, subcode, status, extra)


def does_not_exist(obj_id: str, type_="GraphMethodException") -> GraphError:
    # what a deleted post/comment answers: HTTP 400, code 100, subcode 33 (ref 1.5, 1.8, 1.9)
    return GraphError(f"Unsupported get request. Object with ID '{obj_id}' does not exist, cannot be loaded due to "
                      "missing permissions, or does not support this operation. Please read the Graph API "
                      "documentation at https://developers.facebook.com/docs/graph-api", type_, 100, 33)


def fbtime(ts: int) -> str:
    # "YYYY-MM-DDTHH:MM:SS+0000" (ref 1.2; Instagram `timestamp` uses the same form, ref 2.1)
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


# --------------------------------------------------------------------------------------------------
# responses: JSON + usage headers on success and on error (ref 0.3, 0.4, 1.6)


def usage_headers(req: Request, acct, full: bool = False) -> list:
    """X-App-Usage (per app) and X-Business-Use-Case-Usage (per Page / IG account): percentages that grow
    with every call in the hour (ref 1.6).  `full` reports 100 (throttled)."""
    world = req.world
    budget = world.call_budget or 4800
    app_calls = req.fakes.meter.graph.get(("app",), [0, 0])[1]
    obj_calls = req.fakes.meter.graph.get((req.platform, acct.id), [0, 0])[1] if acct else 0
    app_pct = 100 if full else min(100, math.ceil(app_calls * 100 / budget))
    obj_pct = 100 if full else min(100, math.ceil(obj_calls * 100 / budget))
    headers = [("X-App-Usage", '{"call_count":%d,"total_time":%d,"total_cputime":%d}' % (
        app_pct, app_pct // 2, app_pct // 3))]
    if acct is not None:
        kind = "instagram" if req.platform == "instagram" else "pages"
        eta = 0
        if full:
            t = req.faults.throttles.get(req.platform) or {}
            eta = max(1, math.ceil((t.get("reset_at", time.time() + 60) - time.time()) / 60))  # minutes
        headers.append(("X-Business-Use-Case-Usage",
                        '{"%s":[{"type":"%s","call_count":%d,"total_cputime":%d,"total_time":%d,'
                        '"estimated_time_to_regain_access":%d}]}' % (
                            acct.handle, kind, obj_pct, obj_pct // 3, obj_pct // 2, eta)))
    return headers


def graph_json(req: Request, obj, acct=None, status=200, full=False) -> Response:
    headers = [("facebook-api-version", req.version or "v21.0"), ("x-fb-trace-id", req.fakes.fbtrace_id()[1:])]
    headers += usage_headers(req, acct, full)
    # Graph escapes non-ASCII and "/" in its JSON; Content-Type is JSON on success and error (ref 0.3)
    return json_response(obj, status, headers=headers, ensure_ascii=True, escape_slashes=True)


def graph_error_response(req: Request, err: GraphError, acct=None, full=False) -> Response:
    body = {"message": err.message, "type": err.type, "code": err.code}
    if err.subcode is not None:
        body["error_subcode"] = err.subcode
    body.update(err.extra)
    body["fbtrace_id"] = req.fakes.fbtrace_id()
    return graph_json(req, {"error": body}, acct, err.status, full)


# --------------------------------------------------------------------------------------------------
# auth, throttling


def graph_token(req: Request) -> str | None:
    # access_token query parameter; Authorization: Bearer/OAuth also accepted (ref 1)
    return req.query.get("access_token") or req.bearer()


def authenticate(req: Request):
    """-> the Account whose token was sent.  appsecret_proof is accepted when present (ref 1)."""
    token = graph_token(req)
    if not token:
        raise GraphError("An access token is required to request this resource.", "OAuthException", 104)
    acct = req.world.by_token(token)
    if acct is None or acct.platform not in ("facebook", "instagram"):
        raise GraphError("Invalid OAuth access token - Cannot parse access token", "OAuthException", 190)
    if acct.id in req.faults.expired:
        # ref 1.5: code 190, subcode 463, HTTP 400, message as observed
        exp = _pst(req.world.now - 3600)
        cur = _pst(req.world.now)
        raise GraphError(f"Error validating access token: Session has expired on {exp}. The current time is {cur}.",
                         "OAuthException", 190, 463)
    return acct


def _pst(ts: int) -> str:
    return datetime.fromtimestamp(ts - 8 * 3600, timezone.utc).strftime("%A, %d-%b-%y %H:%M:%S PST")


THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, "
           "please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. For more "
           "info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}


def meter_and_throttle(req: Request, acct, natural_code: int):
    """Count the call (usage headers grow) and refuse it when a throttle fault is active, or — when the
    world has a call budget — when usage reaches 100% (ref 1.6: 'once any value >= 100 answer with error
    code 4 (app) / 32 or 80001 (page)').  Throttle errors carry is_transient: true (ref 1.5)."""
    meter = req.fakes.meter
    meter.graph_call(("app",))
    calls = meter.graph_call((req.platform, acct.id))
    t = req.faults.throttled(req.platform)
    if t is not None:
        code = t["code"] or 4
        raise GraphError(THROTTLE_MESSAGES.get(code, f"(#{code}) Rate limit reached"), "OAuthException", code,
                         is_transient=True)
    budget = req.world.call_budget
    if budget and calls > budget:  # the previous call took usage to 100%
        raise GraphError(THROTTLE_MESSAGES[natural_code], "OAuthException", natural_code, is_transient=True)


# --------------------------------------------------------------------------------------------------
# fields=  (field expansion: a,b{c,d{e}},comments.limit(0).summary(true){id}) — ref 1.2, 1.3


def parse_fields(s: str):
    """-> [(name, {modifier: value}, subfields or None), ...]"""
    pos = 0

    def fail():
        raise GraphError(f'(#100) Syntax error "Expected end of string instead of "{s[pos:pos + 1]}"." at character '
                         f"{pos}: {s}", "OAuthException", 100)

    def ident():
        nonlocal pos
        start = pos
        while pos < len(s) and (s[pos].isalnum() or s[pos] == "_"):
            pos += 1
        if start == pos:
            fail()
        return s[start:pos]

    def items():
        nonlocal pos
        out = []
        while True:
            while pos < len(s) and s[pos] == " ":
                pos += 1
            name = ident()
            mods, sub = {}, None
            while pos < len(s) and s[pos] in ".{":
                if s[pos] == ".":
                    pos += 1
                    mname = ident()
                    if pos >= len(s) or s[pos] != "(":
                        fail()
                    end = s.find(")", pos)
                    if end < 0:
                        fail()
                    mods[mname] = s[pos + 1:end]
                    pos = end + 1
                else:
                    pos += 1
                    sub = items()
                    if pos >= len(s) or s[pos] != "}":
                        fail()
                    pos += 1
            out.append((name, mods, sub))
            while pos < len(s) and s[pos] == " ":
                pos += 1
            if pos < len(s) and s[pos] == ",":
                pos += 1
                continue
            return out

    if not s.strip():
        return None
    result = items()
    if pos != len(s):
        fail()
    return result


def fields_to_str(spec) -> str:
    parts = []
    for name, mods, sub in spec or ():
        p = name + "".join(f".{k}({v})" for k, v in mods.items())
        if sub:
            p += "{" + fields_to_str(sub) + "}"
        parts.append(p)
    return ",".join(parts)


def project(value, sub):
    """Keep only the requested sub-fields of a nested value ({"data": [...]} lists are projected per item)."""
    if sub is None:
        return value
    if isinstance(value, list):
        return [project(v, sub) for v in value]
    if isinstance(value, dict):
        names = [n for n, _, _ in sub]
        if isinstance(value.get("data"), list) and "data" not in names:
            return {**{k: v for k, v in value.items() if k != "data"}, "data": [project(v, sub) for v in value["data"]]}
        return {n: project(value[n], s2) for n, _, s2 in sub if n in value}
    return value


def with_id(out: dict, obj_id: str) -> dict:
    """Graph returns a node's id even when `fields=` does not ask for it (nested nodes too)."""
    if "id" not in out:
        out["id"] = obj_id
    return out


def check_fields(spec, allowed, node_type):
    for name, _, _ in spec:
        if name not in allowed:
            raise GraphError(f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})",
                             "OAuthException", 100)


# --------------------------------------------------------------------------------------------------
# cursor paging (ref 1.4): opaque base64 cursors; absolute next URLs repeating every parameter


def enc_cursor(item_id: str, gap: bool = False) -> str:
    # real cursors look like "QVFIUmlUNXhGNTNh" = base64("AQHR..."): same prefix here, opaque to clients
    return base64.b64encode(b"AQH" + (b"G" if gap else b"C") + item_id.encode()).decode().rstrip("=")


def dec_cursor(cursor: str):
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        return None, False
    if not raw.startswith(b"AQH") or len(raw) < 5:
        return None, False
    return raw[4:].decode(errors="replace"), raw[3:4] == b"G"


def invalid_cursor() -> GraphError:
    # [observed: facebook/facebook-java-business-sdk#292] {"message":"(#2642) Invalid cursors values","code":2642}
    return GraphError("(#2642) Invalid cursors values", "OAuthException", 2642)


def page_url(req: Request, path: str, token: str, params: list, replace: dict, drop=()) -> str:
    """Absolute URL on the fake itself: access_token first, then every other parameter as sent, then the
    new paging parameters (ref 0.1, 0.2; example in ref 1.9)."""
    out = [("access_token", token)]
    skip = {"access_token"} | set(replace) | set(drop)
    seen = set()
    for k, v in params:
        if k in skip or k in seen:
            continue
        seen.add(k)
        out.append((k, v))
    out += [(k, v) for k, v in replace.items()]
    return req.base + path + "?" + urlencode(out)


class ListView:
    """A plain list with the same interface as world.Seq."""

    def __init__(self, items: list):
        self.items = items
        self._pos = {it.id: i for i, it in enumerate(items)}

    def __len__(self):
        return len(self.items)

    def item_at(self, p):
        return self.items[p]

    def position(self, item_id):
        return self._pos.get(item_id)


def walk(view, start: int, limit: int, present, stop=None, step=1):
    """Collect up to `limit` present items from `start` in direction `step`.  -> ([(pos, item)], more)."""
    window, pos, n = [], start, len(view)
    while len(window) < limit and 0 <= pos < n:
        it = view.item_at(pos)
        if it is not None and present(it):
            if stop is not None and stop(it):
                return window, False
            window.append((pos, it))
        pos += step
    while 0 <= pos < n:
        it = view.item_at(pos)
        if it is not None and present(it):
            return window, not (stop is not None and stop(it))
        pos += step
    return window, False


def cursor_listing(req: Request, view, path: str, token: str, *, present, visible, render, limit: int,
                   since=None, until=None, empty_gap=False, extra=None, params=None, stale="error"):
    """One page of a cursor-paged edge.  Deleted items are gone; items failing `visible` (privacy
    filtering) still take room in the page, so pages can be short or empty (ref 1.4)."""
    q = req.query if params is None else dict(params)
    params = req.query_pairs if params is None else params
    after, before = q.get("after"), q.get("before")
    stop = (lambda it: it.created < since) if since is not None else None
    body = {}
    if after or before:
        anchor, gap = dec_cursor(after or before)
        pos = view.position(anchor) if anchor else None
        it = view.item_at(pos) if pos is not None else None
        if it is None or not present(it):
            # Cursors die with the item they point at (ref 0.6, 1.4): fail, or answer an empty last page.
            if stale == "empty" and anchor:
                return {"data": []}
            raise invalid_cursor()
        if gap:  # the quirk: an empty page that still carries `next` (ref 1.4)
            nxt = page_url(req, path, token, params, {"limit": str(limit), "after": enc_cursor(anchor)},
                           drop=("before",))
            return {"data": [], "paging": {"next": nxt}}
        if after:
            window, more = walk(view, pos + 1, limit, present, stop)
            has_prev = True
        else:
            window, has_prev = walk(view, pos - 1, limit, present, None, step=-1)
            window.reverse()
            more = True
    else:
        start = 0
        if until is not None:
            start = _first_pos(view, lambda it: it.created <= until)
        window, more = walk(view, start, limit, present, stop)
        has_prev = False
    if limit == 0:
        return {"data": []}
    body["data"] = [render(it) for _, it in window if visible(it)]
    if not window:
        return body  # an empty edge has no paging at all
    first_id, last_id = window[0][1].id, window[-1][1].id
    paging = {"cursors": {"before": enc_cursor(first_id), "after": enc_cursor(last_id)}}
    if has_prev:
        paging["previous"] = page_url(req, path, token, params, {"limit": str(limit), "before": enc_cursor(first_id)},
                                      drop=("after",))
    if more:
        gap = empty_gap and not (after or before)
        paging["next"] = page_url(req, path, token, params, {"limit": str(limit), "after": enc_cursor(last_id, gap)},
                                  drop=("before",))
    body["paging"] = paging
    if extra:
        body.update(extra)
    return body


def _first_pos(view, pred):
    if hasattr(view, "first_pos"):
        return view.first_pos(pred)
    for p in range(len(view)):
        if pred(view.item_at(p)):
            return p
    return len(view)


def time_listing(req: Request, view, path: str, token: str, *, present, visible, render, limit, since, until,
                 empty_gap=False):
    """Time-based paging as some post edges return it: paging has only previous/next, carrying
    `until`/`since` + `__paging_token` (+ `__previous`) and no cursors (ref 1.4, captured /4/posts)."""
    q = req.query
    token_param, previous = q.get("__paging_token"), q.get("__previous")
    gap = False
    if token_param:
        anchor, gap = dec_cursor(token_param)
        pos = view.position(anchor) if anchor else None
        if pos is None or not present(view.item_at(pos)):
            # time-based paging survives a deleted anchor: fall back to the timestamp
            pos = None
        if gap:
            nxt = page_url(req, path, token, req.query_pairs, {"limit": str(limit), "until": q.get("until", ""),
                                                                "__paging_token": enc_cursor(anchor)},
                           drop=("__previous",))
            return {"data": [], "paging": {"next": nxt}}
        if previous:
            start = pos - 1 if pos is not None else _first_pos(view, lambda it: it.created <= since) - 1
            window, _ = walk(view, start, limit, present, None, step=-1)
            window.reverse()
            more = True
        else:
            start = pos + 1 if pos is not None else _first_pos(view, lambda it: it.created < (until or 0))
            stop = (lambda it: it.created < since) if since is not None else None
            window, more = walk(view, start, limit, present, stop)
    else:
        start = _first_pos(view, lambda it: it.created <= until) if until is not None else 0
        stop = (lambda it: it.created < since) if since is not None else None
        window, more = walk(view, start, limit, present, stop)
    body = {"data": [render(it) for _, it in window if visible(it)]}
    if not window:
        return body
    first, last = window[0][1], window[-1][1]
    paging = {"previous": page_url(req, path, token, req.query_pairs,
                                   {"limit": str(limit), "since": str(first.created),
                                    "__paging_token": enc_cursor(first.id), "__previous": "1"}, drop=("until",))}
    if more:
        first_page = not token_param
        paging["next"] = page_url(req, path, token, req.query_pairs,
                                  {"limit": str(limit), "until": str(last.created),
                                   "__paging_token": enc_cursor(last.id, empty_gap and first_page)},
                                  drop=("__previous",))
    body["paging"] = paging
    return body


def parse_limit(req: Request, q=None, default=DEFAULT_LIMIT, maximum=MAX_LIMIT, strict=True) -> int:
    q = req.query if q is None else q
    raw = q.get("limit")
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise GraphError("(#100) Param limit must be a number", "OAuthException", 100) from None
    if v < 0:
        raise GraphError("(#100) Param limit must be a non-negative number", "OAuthException", 100)
    if v > maximum:
        if strict:  # ref 1.1 [doc]: "Specifying any higher limit will throw an error" (message [unverified])
            raise GraphError(f"(#100) The limit parameter cannot be greater than {maximum}", "OAuthException", 100)
        return maximum
    return v


def parse_time(value):
    """since/until: a unix timestamp, or a date/time string (Graph accepts strtotime values)."""
    if value is None or value == "":
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            dt = datetime.strptime(value.replace("Z", "+0000"), fmt)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return int(dt.timestamp())
        except ValueError:
            continue
    raise GraphError(f"(#100) Invalid parameter: cannot parse time '{value}'", "OAuthException", 100)


# --------------------------------------------------------------------------------------------------
# Facebook nodes

POST_FIELDS = {"id", "message", "created_time", "updated_time", "permalink_url", "status_type", "is_hidden",
               "is_published", "is_expired", "is_popular", "from", "attachments", "full_picture", "picture",
               "shares", "story", "message_tags", "scheduled_publish_time", "parent_id", "privacy", "comments",
               "reactions", "likes", "icon", "to", "place", "timeline_visibility", "is_eligible_for_promotion",
               "is_instagram_eligible", "promotable_id", "admin_creator", "application", "with_tags",
               "story_tags", "backdated_time", "call_to_action", "coordinates", "actions", "properties",
               "sharedposts", "subscribed", "is_spherical", "instagram_eligibility", "event", "targeting",
               "feed_targeting", "expanded_height", "expanded_width", "height", "width", "child_attachments",
               "multi_share_end_card", "multi_share_optimized", "video_buying_eligibility",
               "allowed_advertising_objectives"} | DEPRECATED_POST_FIELDS
COMMENT_FIELDS = {"id", "message", "created_time", "from", "parent", "is_hidden", "can_hide", "can_remove",
                  "can_comment", "can_like", "can_reply_privately", "comment_count", "like_count", "attachment",
                  "message_tags", "permalink_url", "is_private", "user_likes", "object", "comments", "reactions",
                  "likes", "private_reply_conversation", "application", "live_broadcast_timestamp"}
PAGE_FIELDS = {"id", "name", "username", "link", "about", "category", "fan_count", "followers_count",
               "description", "website", "verification_status", "picture", "instagram_business_account",
               "is_published", "global_brand_page_name", "emails", "phone", "single_line_address"}
DEFAULT_POST = [("created_time", {}, None), ("message", {}, None), ("id", {}, None)]
DEFAULT_COMMENT = [("created_time", {}, None), ("from", {}, None), ("message", {}, None), ("id", {}, None)]
DEFAULT_PAGE = [("name", {}, None), ("id", {}, None)]


def _suffix(post_id: str) -> str:
    return post_id.split("_", 1)[1]


def post_permalink(acct, it: Item) -> str:
    return f"https://www.facebook.com/{acct.handle}/posts/{_suffix(it.id)}/"


def comment_permalink(world: World, acct, it: Item) -> str:
    post = world.get(it.post_id)
    base = post_permalink(acct, post)
    cid = it.id.split("_", 1)[1]
    if it.parent_id:  # replies carry reply_comment_id (ref 1.3, captured)
        return f"{base}?comment_id={it.parent_id.split('_', 1)[1]}&reply_comment_id={cid}"
    return f"{base}?comment_id={cid}"


def _photo_att(req, acct, m, k, it) -> dict:
    if it.kind == "comment":  # a photo uploaded with a comment is a photo object of its own: a new upload, a new id
        fbid = f"{81000000000 + stable_hash('fb-comment-photo', it.id, m.name) % 10**10}"
    else:
        fbid = f"{78900000000 + (int(_suffix(it.post_id)) % 10**8) * 10 + k}"
    url = f"https://www.facebook.com/{acct.username}/photos/a.441861428552/{fbid}/?type=3"
    att = {"media": {"image": {"height": m.height, "src": req.fakes.media_url(m.name), "width": m.width}},
           "target": {"id": fbid, "url": url}, "type": "photo", "media_type": "photo", "url": url,
           "unshimmed_url": url}
    if m.alt:
        att["description"] = m.alt
    return att


def attachments(req: Request, acct, it: Item):
    if not it.media:
        return None
    photos = [m for m in it.media if m.kind == "photo"]
    videos = [m for m in it.media if m.kind == "video"]
    if videos:
        m = videos[0]
        vid = f"{1200000000000000 + int(_suffix(it.post_id)) % 10**12}"
        url = f"https://www.facebook.com/{acct.username}/videos/{vid}/"
        thumb = req.fakes.media_url(m.name[:-4] + "-thumb.jpg")
        return {"data": [{"media": {"image": {"height": 24, "src": thumb, "width": 32},
                                    "source": req.fakes.media_url(m.name)},
                          "target": {"id": vid, "url": url}, "title": it.text[:60], "type": "video_inline",
                          "media_type": "video", "url": url}]}
    if len(photos) > 1:  # an album: subattachments (ref 1.2)
        # As the real Graph API answers for a multi-photo post: the album attachment's target is the post's own
        # photo set ("pcb.<post suffix>"), an id of its own; its cover is the first photo's image, and each
        # subattachment's target is that photo's id.
        subs = [_photo_att(req, acct, m, k, it) for k, m in enumerate(photos)]
        album_id = _suffix(it.post_id)
        album_url = f"https://www.facebook.com/media/set/?set=pcb.{album_id}&type=1"
        return {"data": [{"media": subs[0]["media"], "target": {"id": album_id, "url": album_url},
                          "title": it.text[:60], "type": "album", "media_type": "album", "url": album_url,
                          "subattachments": {"data": subs}}]}
    return {"data": [_photo_att(req, acct, photos[0], 0, it)]}


class Ctx:
    """What renderers need: the request, the token, and the world."""

    def __init__(self, req: Request, token: str):
        self.req, self.token, self.world = req, token, req.world


def validate_post_spec(spec):
    check_fields(spec, POST_FIELDS, "Post")
    for name, _, sub in spec:
        if name in DEPRECATED_POST_FIELDS:  # ref 1.1: deprecated in v3.3 on feed/posts/published_posts
            raise GraphError("(#12) deprecate_post_aggregated_fields_for_attachement is deprecated for versions "
                             "v3.3 and higher", "OAuthException", 12)
        if name == "comments" and sub:
            check_fields(sub, COMMENT_FIELDS, "Comment")


def render_post(ctx: Ctx, it: Item, spec):
    spec = spec or DEFAULT_POST
    validate_post_spec(spec)
    acct = ctx.world.account(it.account_id)
    out = {}
    for name, mods, sub in spec:
        v = _post_value(ctx, acct, it, name, mods, sub)
        if v is not None:
            out[name] = v
    return with_id(out, it.id)


def _post_value(ctx, acct, it, name, mods, sub):
    req = ctx.req
    if name == "id":
        return it.id
    if name == "message":
        return it.text or None
    if name == "created_time":
        return fbtime(it.created)
    if name == "updated_time":
        return fbtime(it.updated)
    if name == "permalink_url":
        return post_permalink(acct, it)
    if name == "status_type":
        return "mobile_status_update" if it.visitor else it.detail
    if name == "is_hidden":
        return it.hidden
    if name == "is_published":
        return True
    if name in ("is_expired", "is_popular", "is_spherical", "is_instagram_eligible", "is_eligible_for_promotion"):
        return False
    if name == "from":
        return with_id(project({"name": it.author.name, "id": it.author.id}, sub), it.author.id)
    if name == "attachments":
        return project(attachments(req, acct, it), sub)
    if name in ("full_picture", "picture"):
        att = attachments(req, acct, it)
        return att["data"][0]["media"]["image"]["src"] if att else None
    if name == "shares":
        return {"count": it.likes // 7} if it.likes // 7 else None
    if name == "privacy":
        return {"allow": "", "deny": "", "description": "Public", "friends": "", "value": "EVERYONE"}
    if name == "comments":
        return comments_connection(ctx, it, mods, sub)
    if name in ("reactions", "likes"):
        return reactions_connection(ctx, it, mods, sub)
    if name == "timeline_visibility":
        return "hidden" if it.hidden else "normal"
    return None  # known field without a value here: Graph omits it


def render_comment(ctx: Ctx, it: Item, spec):
    spec = spec or DEFAULT_COMMENT
    check_fields(spec, COMMENT_FIELDS, "Comment")
    acct = ctx.world.account(it.account_id)
    out = {}
    for name, mods, sub in spec:
        v = _comment_value(ctx, acct, it, name, mods, sub)
        if v is not None:
            out[name] = v
    return with_id(out, it.id)


def _comment_value(ctx, acct, it, name, mods, sub):
    world = ctx.world
    own = it.author.id == acct.handle
    if name == "id":
        return it.id
    if name == "message":
        return it.text
    if name == "created_time":
        return fbtime(it.created)
    if name == "from":
        return with_id(project({"name": it.author.name, "id": it.author.id}, sub), it.author.id)
    if name == "parent":
        if not it.parent_id:
            return None
        parent = world.get(it.parent_id)
        return render_comment(ctx, parent, sub or [("created_time", {}, None), ("from", {}, None),
                                                   ("message", {}, None), ("id", {}, None)])
    if name == "is_hidden":
        return it.hidden
    if name == "can_hide":
        return not own  # a Page cannot hide its own comments (example in ref 1.9)
    if name in ("can_remove", "can_like"):
        return True
    if name == "can_comment":
        return it.parent_id is None
    if name == "can_reply_privately":
        return not own and it.parent_id is None
    if name == "comment_count":
        return 0 if it.parent_id else sum(1 for r in world.replies(it.id) if not world.is_gone(r))
    if name == "like_count":
        return it.likes
    if name in ("is_private", "user_likes"):
        return False
    if name == "permalink_url":
        return comment_permalink(world, acct, it)
    if name == "object":
        return {"id": it.post_id}
    if name == "attachment":
        if not it.media:
            return None
        return project(_photo_att(ctx.req, acct, it.media[0], 0, it), sub)
    if name == "comments":
        return replies_connection(ctx, it, mods, sub)
    if name in ("reactions", "likes"):
        return reactions_connection(ctx, it, mods, sub)
    return None


def render_page(ctx: Ctx, acct, spec):
    spec = spec or DEFAULT_PAGE
    check_fields(spec, PAGE_FIELDS, "Page")
    full = {"id": acct.handle, "name": acct.name, "username": acct.username,
            "link": f"https://www.facebook.com/{acct.username}", "about": acct.description,
            "description": acct.description, "category": "Government organization",
            "fan_count": 1000 + acct.key * 137, "followers_count": 1200 + acct.key * 151,
            "website": "https://example.gov", "verification_status": "blue_verified", "is_published": True,
            "picture": {"data": {"height": 48, "is_silhouette": False, "url": ctx.req.fakes.media_url(f"{acct.id}-avatar.png"),
                                 "width": 64}}}
    return with_id({n: project(full[n], sub) for n, _, sub in spec if n in full}, acct.handle)


# --------------------------------------------------------------------------------------------------
# connections: /{post}/comments, /{comment}/comments, and the same as nested fields


def _truthy(v) -> bool:
    return str(v).lower() in ("true", "1", "total_count")


def comment_list(ctx: Ctx, post: Item, filter_: str, order: str):
    world = ctx.world
    items = world.comments(post.id)
    if filter_ != "stream":  # default "toplevel" (ref 1.3)
        items = [c for c in items if c.parent_id is None]
    if order == "reverse_chronological":
        items = list(reversed(items))
    return items


def _comments_page(ctx: Ctx, obj: Item, items, params: list, spec, path: str, order: str, summary: bool, limit: int):
    world = ctx.world
    body = cursor_listing(ctx.req, ListView(items), path, ctx.token,
                          present=lambda c: not world.is_gone(c),
                          # Hidden comments are listed to the Page (is_hidden: true); with the switch off they
                          # leave the listing, as a permission- or privacy-filtered item would (ref 1.8).
                          visible=lambda c: ctx.req.faults.fb_hidden_in_listings or not c.hidden,
                          render=lambda c: render_comment(ctx, c, spec), limit=limit, params=params,
                          stale=ctx.req.faults.stale_cursor)
    if summary:  # ref 1.2, 1.3: summary{order,total_count,can_comment}
        body["summary"] = {"order": order, "total_count": sum(1 for c in items if not world.is_gone(c)),
                           "can_comment": obj.kind == "post" or obj.parent_id is None}
    return body


def _mods_params(mods, sub) -> list:
    params = []
    if sub:
        params.append(("fields", fields_to_str(sub)))
    for k in ("filter", "order", "summary", "limit", "after", "before"):
        if k in mods:
            params.append((k, mods[k]))
    return params


def comments_connection(ctx: Ctx, post: Item, mods, sub):
    filter_ = mods.get("filter", "toplevel")
    order = mods.get("order", "chronological")
    limit = parse_limit(ctx.req, {"limit": mods.get("limit")})
    items = comment_list(ctx, post, filter_, order)
    return _comments_page(ctx, post, items, _mods_params(mods, sub), sub, f"/{post.id}/comments", order,
                          _truthy(mods.get("summary", "")), limit)


def replies_connection(ctx: Ctx, comment: Item, mods, sub):
    order = mods.get("order", "chronological")
    items = ctx.world.replies(comment.id)
    if order == "reverse_chronological":
        items.reverse()
    limit = parse_limit(ctx.req, {"limit": mods.get("limit")})
    return _comments_page(ctx, comment, items, _mods_params(mods, sub), sub, f"/{comment.id}/comments", order,
                          _truthy(mods.get("summary", "")), limit)


def reactions_connection(ctx: Ctx, it: Item, mods, sub):
    limit = parse_limit(ctx.req, {"limit": mods.get("limit")})
    people = [{"id": str(2800000000000000 + k), "name": f"Neighbor {k + 1}", "type": "LIKE"} for k in range(it.likes)]
    data = [project(p, sub) for p in people[:limit]]
    body = {"data": data}
    if _truthy(mods.get("summary", "")):
        body["summary"] = {"total_count": it.likes, "viewer_reaction": "NONE"}
    return body


# --------------------------------------------------------------------------------------------------
# routing


def handle(req: Request) -> Response:
    acct = None
    try:
        acct = authenticate(req)
        meter_and_throttle(req, acct, natural_code=32)
        if req.method not in ("GET", "HEAD"):
            raise GraphError(f"Unsupported {req.method.lower()} request.", "GraphMethodException", 100)
        ctx = Ctx(req, graph_token(req))
        body = route(ctx, acct)
        return graph_json(req, body, acct)
    except GraphError as err:
        throttled = err.code in THROTTLE_MESSAGES
        return graph_error_response(req, err, acct, full=throttled)


def resolve(ctx: Ctx, obj_id: str, token_acct):
    """-> ("page", Account) | ("post"/"comment", Item); raises 100/33 for anything gone or unknown."""
    world = ctx.world
    if obj_id == "me":
        return "page", token_acct
    page = world.by_handle("facebook", obj_id)
    if page is not None:
        return "page", page
    it = world.get(obj_id)
    if it is None or it.platform != "facebook" or world.is_gone(it) or it.restricted:
        raise does_not_exist(obj_id)
    return it.kind, it


def route(ctx: Ctx, token_acct):
    req = ctx.req
    segs = req.segments
    if not segs:
        raise GraphError("(#100) Missing object id", "GraphMethodException", 100)
    spec = parse_fields(req.query.get("fields", ""))
    kind, obj = resolve(ctx, segs[0], token_acct)
    if len(segs) == 1:
        if kind == "page":
            return render_page(ctx, obj, spec)
        if kind == "post":
            return render_post(ctx, obj, spec)
        return render_comment(ctx, obj, spec)
    if len(segs) > 2:
        raise GraphError("Unknown path components: /" + "/".join(segs[2:]), "OAuthException", 2500)
    edge = segs[1]
    if kind == "page" and obj.platform == "facebook" and edge in ("feed", "posts", "published_posts", "visitor_posts",
                                                                   "tagged"):
        return page_posts(ctx, obj, edge, spec)
    if kind in ("post", "comment") and edge == "comments":
        filter_ = req.query.get("filter", "toplevel")
        order = req.query.get("order", "chronological")
        if order not in ("chronological", "reverse_chronological"):
            raise GraphError("(#100) param order must be one of {CHRONOLOGICAL, REVERSE_CHRONOLOGICAL}",
                             "OAuthException", 100)
        if kind == "post":
            items = comment_list(ctx, obj, filter_, order)
        else:
            items = ctx.world.replies(obj.id)
            if order == "reverse_chronological":
                items.reverse()
        limit = parse_limit(req)
        return _comments_page(ctx, obj, items, None, spec, req.path, order, _truthy(req.query.get("summary", "")),
                              limit)
    if kind in ("post", "comment") and edge in ("reactions", "likes"):
        mods = {k: req.query[k] for k in ("limit", "summary") if k in req.query}
        return reactions_connection(ctx, obj, mods, spec)
    if kind == "post" and edge == "attachments":
        return project(attachments(req, ctx.world.account(obj.account_id), obj) or {"data": []}, spec)
    if kind == "post" and edge == "sharedposts":
        return {"data": []}
    raise GraphError(f"(#100) Tried accessing nonexisting field ({edge}) on node type "
                     f"({ {'page': 'Page', 'post': 'Post', 'comment': 'Comment'}[kind] })", "OAuthException", 100)


def page_posts(ctx: Ctx, page, edge: str, spec):
    """/feed: Page posts + visitor posts; /posts, /published_posts: the Page's own (ref 1.1);
    /visitor_posts: visitors' posts; /tagged: posts tagging the Page (none in the fake)."""
    req, world = ctx.req, ctx.world
    if edge == "tagged":
        return {"data": []}
    spec = spec or DEFAULT_POST
    validate_post_spec(spec)
    limit = parse_limit(req)
    since = parse_time(req.query.get("since"))
    until = parse_time(req.query.get("until"))

    include_hidden = req.query.get("include_hidden") == "true"

    def present(it):
        if world.is_gone(it):
            return False
        if edge == "feed" and it.hidden and not include_hidden:
            return False  # the feed lists posts the Page hid only with include_hidden=true (Page.get_feed params)
        if edge in ("posts", "published_posts"):
            return not it.visitor
        if edge == "visitor_posts":
            return it.visitor
        return True

    def visible(it):
        return not it.restricted

    seq = world.posts(page)
    gap = req.faults.empty_page_on(page)
    render = lambda it: render_post(ctx, it, spec)  # noqa: E731
    if edge == "posts" and req.faults.fb_posts_time_paging:
        return time_listing(req, seq, req.path, ctx.token, present=present, visible=visible, render=render,
                            limit=limit, since=since, until=until, empty_gap=gap)
    return cursor_listing(req, seq, req.path, ctx.token, present=present, visible=visible, render=render,
                          limit=limit, since=since, until=until, empty_gap=gap, stale=req.faults.stale_cursor)
