"""Fake Instagram Graph API (professional accounts, graph.facebook.com-style paths):
/{ig-user-id}, /{ig-user-id}/media, /{media-id}, /{media-id}/children, /{media-id}/comments,
/{comment-id}, /{comment-id}/replies, /me.

Reference: /work/shared/reference/platform-apis.md section 2 ("ref 2.x").  Auth, errors, usage headers,
`fields=` parsing and cursors are the Graph ones from facebook.py (ref 2.3: "Error envelope identical to
Facebook").
"""

from __future__ import annotations

from .facebook import (GraphError, with_id, ListView, authenticate, check_fields, cursor_listing, dec_cursor, does_not_exist,
                       enc_cursor, fbtime, graph_error_response, graph_json, graph_token, invalid_cursor,
                       meter_and_throttle, page_url, parse_fields, parse_limit, parse_time, project, walk,
                       THROTTLE_MESSAGES)
from .server import Request, Response
from .world import B64, Item, World, b64digits, ig_child_id, make_post_id, stable_hash

USER_FIELDS = {"id", "ig_id", "username", "name", "biography", "followers_count", "follows_count", "media_count",
               "profile_picture_url", "website", "media", "stories", "tags"}
MEDIA_FIELDS = {"id", "caption", "comments_count", "ig_id", "is_comment_enabled", "like_count", "media_product_type",
                "media_type", "media_url", "owner", "permalink", "shortcode", "thumbnail_url", "timestamp",
                "username", "children", "comments", "is_shared_to_feed", "alt_text", "boost_eligibility_info",
                "copyright_check_information", "legacy_instagram_media_id", "view_count"}
# IG Media reference: "Some fields, such as permalink, cannot be used on photos within albums (children)": asked
# for on a child, it is a nonexisting field here.
CHILD_FIELDS = {"id", "ig_id", "media_type", "media_url", "shortcode", "thumbnail_url", "timestamp",
                "username", "owner", "alt_text"}
COMMENT_FIELDS = {"id", "text", "timestamp", "username", "like_count", "hidden", "from", "parent_id", "media",
                  "replies", "user", "legacy_instagram_comment_id"}
DEFAULT_MEDIA = [("id", {}, None)]
DEFAULT_USER = [("id", {}, None)]
DEFAULT_COMMENT = [("timestamp", {}, None), ("text", {}, None), ("id", {}, None)]


def ig_error(obj_id: str) -> GraphError:
    # ref 2.3 [observed]: deleted/unknown media -> 100/33 with type IGApiException
    return does_not_exist(obj_id, "IGApiException")


class Ctx:
    def __init__(self, req: Request, token: str):
        self.req, self.token, self.world = req, token, req.world


def shortcode(it: Item) -> str:
    return b64digits(stable_hash("ig", it.id) % 2**60, 10) + B64[it.n % 64]


def media_type(it: Item) -> str:
    kinds = [m.kind for m in it.media]
    if len(kinds) > 1:
        return "CAROUSEL_ALBUM"
    if kinds == ["video"]:
        return "VIDEO"
    return "IMAGE"


def live_comments(world: World, media: Item):
    return [c for c in world.comments(media.id) if not world.is_gone(c)]


def render_media(ctx: Ctx, acct, it: Item, spec):
    spec = spec or DEFAULT_MEDIA
    check_fields(spec, MEDIA_FIELDS, "IGMedia")
    req, world = ctx.req, ctx.world
    mt = media_type(it)
    reel = it.detail == "REELS"
    out = {}
    for name, mods, sub in spec:
        v = None
        if name == "id":
            v = it.id
        elif name == "caption":
            v = it.text or None
        elif name == "comments_count":  # includes replies (ref 2.1)
            v = len(live_comments(world, it))
        elif name == "ig_id":
            v = str(2_000_000_000_000_000_000 + int(it.id) % 10**15)
        elif name == "is_comment_enabled":
            v = not it.comments_disabled
        elif name == "like_count":
            v = it.likes
        elif name == "media_product_type":
            v = it.detail or "FEED"
        elif name == "media_type":
            v = mt
        elif name == "media_url":
            m = it.media[0] if it.media else None
            v = req.fakes.media_url(m.name) if m else None
        elif name == "thumbnail_url":
            if mt == "VIDEO":
                v = req.fakes.media_url(it.media[0].name[:-4] + "-thumb.jpg")
        elif name == "owner":
            v = with_id(project({"id": acct.handle, "username": acct.username}, sub or [("id", {}, None)]),
                        acct.handle)
        elif name == "permalink":
            v = f"https://www.instagram.com/{'reel' if reel else 'p'}/{shortcode(it)}/"
        elif name == "shortcode":
            v = shortcode(it)
        elif name == "timestamp":
            v = fbtime(it.created)  # "2021-08-13T08:25:28+0000" (ref 2.1)
        elif name == "username":
            v = acct.username
        elif name == "is_shared_to_feed":
            v = True if reel else None
        elif name == "children":
            if mt == "CAROUSEL_ALBUM":
                v = {"data": [render_child(ctx, acct, it, k, sub) for k in range(len(it.media))]}
        elif name == "comments":
            v = comments_page(ctx, it, sub, mods, nested=True)
        elif name == "alt_text":
            v = it.media[0].alt or None if it.media else None
        if v is not None:
            out[name] = v
    return with_id(out, it.id)


def render_child(ctx: Ctx, acct, it: Item, k: int, spec):
    spec = spec or [("id", {}, None)]
    check_fields(spec, CHILD_FIELDS, "IGMedia")
    m = it.media[k]
    cid = ig_child_id(acct, it.n, k)
    full = {"id": cid, "media_type": "VIDEO" if m.kind == "video" else "IMAGE",
            "media_url": ctx.req.fakes.media_url(m.name), "permalink": f"https://www.instagram.com/p/{shortcode(it)}/",
            "shortcode": shortcode(it), "timestamp": fbtime(it.created), "username": acct.username,
            "owner": {"id": acct.handle}}
    return with_id({n: project(full[n], s) for n, _, s in spec if n in full}, cid)


def render_comment(ctx: Ctx, it: Item, spec):
    spec = spec or DEFAULT_COMMENT
    check_fields(spec, COMMENT_FIELDS, "IGComment")
    world = ctx.world
    acct = world.account(it.account_id)
    media = world.get(it.post_id)
    out = {}
    for name, mods, sub in spec:
        v = None
        if name == "id":
            v = it.id
        elif name == "text":
            v = it.text
        elif name == "timestamp":
            v = fbtime(it.created)
        elif name == "username":
            v = it.author.username
        elif name == "like_count":
            v = it.likes
        elif name == "hidden":
            v = it.hidden
        elif name == "from":
            v = with_id(project({"id": it.author.id, "username": it.author.username}, sub), it.author.id)
        elif name == "parent_id":
            v = it.parent_id  # replies only (ref 2.1, changelog oct-20-2021)
        elif name == "media":
            v = with_id(project({"id": media.id, "media_product_type": media.detail or "FEED"}, sub or []), media.id)
        elif name == "user":  # only when the app user wrote the comment
            v = {"id": acct.handle} if it.author.id == acct.handle else None
        elif name == "legacy_instagram_comment_id":
            v = str(17_000_000_000_000_000 + int(it.id) % 10**15)
        elif name == "replies":
            if it.parent_id is None:
                reps = [r for r in world.replies(it.id) if _listed(ctx, r)]
                if reps:
                    v = {"data": [render_comment(ctx, r, sub) for r in reps]}
        if v is not None:
            out[name] = v
    return with_id(out, it.id)


def _listed(ctx: Ctx, c: Item) -> bool:
    if ctx.world.is_gone(c):
        return False
    if c.hidden and not ctx.req.faults.ig_hidden_in_listings:  # disputed behaviour: a switch (ref 2.4)
        return False
    return True


def comments_page(ctx: Ctx, obj: Item, spec, params: dict, nested=False, replies=False):
    """Comments of a media (newest first, as in ref 2.5) or replies of a comment (oldest first).
    Paging as captured (ref 2.2): a page with more has `cursors.after` + `next` only; the last page has
    no `paging` key at all; and the observed quirk — empty `data`, cursors, no `next` — when switched on."""
    req, world = ctx.req, ctx.world
    acct = world.account(obj.account_id)
    if replies:
        items = world.replies(obj.id)
        path = f"/{obj.id}/replies"
    else:
        if req.faults.ig_empty_comments_on(acct, obj.id):
            cur = enc_cursor(obj.id)
            return {"data": [], "paging": {"cursors": {"before": cur, "after": cur}}}
        items = [c for c in world.comments(obj.id) if c.parent_id is None]
        items.reverse()
        path = f"/{obj.id}/comments"
    limit = parse_limit(req, {"limit": params.get("limit")}, strict=False)
    view = ListView(items)
    after = params.get("after")
    start = 0
    if after:
        anchor, _ = dec_cursor(after)
        pos = view.position(anchor) if anchor else None
        if pos is None or world.is_gone(view.item_at(pos)):
            raise invalid_cursor()
        start = pos + 1
    window, more = walk(view, start, limit, lambda c: _listed(ctx, c))
    body = {"data": [render_comment(ctx, c, spec) for _, c in window]}
    if more and window:
        cur = enc_cursor(window[-1][1].id)
        if nested:
            pairs = [("fields", ",".join(n for n, _, _ in (spec or DEFAULT_COMMENT)))]
        else:
            pairs = req.query_pairs
        body["paging"] = {"cursors": {"after": cur},
                          "next": page_url(req, path, ctx.token, pairs, {"limit": str(limit), "after": cur})}
    return body


def render_user(ctx: Ctx, acct, spec):
    spec = spec or DEFAULT_USER
    check_fields(spec, USER_FIELDS, "IGUser")
    seq = ctx.world.posts(acct)
    full = {"id": acct.handle, "ig_id": int(acct.handle) % 10**10, "username": acct.username, "name": acct.name,
            "biography": acct.description, "followers_count": 5400 + acct.key, "follows_count": 210,
            "media_count": len(seq) if acct.synthetic else sum(
                1 for p in range(len(seq)) if not ctx.world.is_gone(seq.item_at(p))),
            "profile_picture_url": ctx.req.fakes.media_url(f"{acct.id}-avatar.png"), "website": "https://example.gov"}
    return with_id({n: project(full[n], s) for n, _, s in spec if n in full}, acct.handle)


# --------------------------------------------------------------------------------------------------


def handle(req: Request) -> Response:
    acct = None
    try:
        acct = authenticate(req)
        # Instagram requests count against Business Use Case limits, type "instagram" (ref 2.3)
        meter_and_throttle(req, acct, natural_code=80002)
        if req.method not in ("GET", "HEAD"):
            raise GraphError(f"Unsupported {req.method.lower()} request.", "GraphMethodException", 100)
        ctx = Ctx(req, graph_token(req))
        return graph_json(req, route(ctx, acct), acct)
    except GraphError as err:
        return graph_error_response(req, err, acct, full=err.code in THROTTLE_MESSAGES)


def resolve(ctx: Ctx, obj_id: str, token_acct):
    world = ctx.world
    if obj_id == "me":
        return "user", token_acct
    acct = world.by_handle("instagram", obj_id)
    if acct is not None:
        return "user", acct
    if len(obj_id) == 17 and obj_id.startswith("178"):  # carousel child: "178" + account key + n + k
        for a in world.accounts:
            if a.platform == "instagram" and obj_id[3:6] == f"{a.key:03d}":
                n, k = int(obj_id[6:15]), int(obj_id[15:])
                it = world.get(make_post_id(a, n, 0))
                if it is not None and k < len(it.media) and len(it.media) > 1 and not world.is_gone(it):
                    return "child", (it, k)
    it = world.get(obj_id)
    if it is None or it.platform != "instagram" or world.is_gone(it):
        raise ig_error(obj_id)
    return ("media" if it.kind == "post" else "comment"), it


def route(ctx: Ctx, token_acct):
    req, world = ctx.req, ctx.world
    segs = req.segments
    if not segs:
        raise GraphError("(#100) Missing object id", "GraphMethodException", 100)
    spec = parse_fields(req.query.get("fields", ""))
    kind, obj = resolve(ctx, segs[0], token_acct)
    if len(segs) == 1:
        if kind == "user":
            return render_user(ctx, obj, spec)
        if kind == "media":
            return render_media(ctx, world.account(obj.account_id), obj, spec)
        if kind == "child":
            it, k = obj
            return render_child(ctx, world.account(it.account_id), it, k, spec)
        return render_comment(ctx, obj, spec)
    if len(segs) > 2:
        raise GraphError("Unknown path components: /" + "/".join(segs[2:]), "OAuthException", 2500)
    edge = segs[1]
    if kind == "user" and edge == "media":
        return user_media(ctx, obj, spec)
    if kind == "user" and edge in ("stories", "tags"):
        return {"data": []}
    if kind == "media" and edge == "children":
        if media_type(obj) != "CAROUSEL_ALBUM":
            return {"data": []}
        acct = world.account(obj.account_id)
        return {"data": [render_child(ctx, acct, obj, k, spec) for k in range(len(obj.media))]}
    if kind == "media" and edge == "comments":
        return comments_page(ctx, obj, spec, req.query)
    if kind == "comment" and edge == "replies":
        if obj.parent_id is not None:
            return {"data": []}
        return comments_page(ctx, obj, spec, req.query, replies=True)
    names = {"user": "IGUser", "media": "IGMedia", "comment": "IGComment", "child": "IGMedia"}
    raise GraphError(f"(#100) Tried accessing nonexisting field ({edge}) on node type ({names[kind]})",
                     "OAuthException", 100)


def user_media(ctx: Ctx, acct, spec):
    """Newest first, cursor paging (ref 2.1, 2.5); limit above 100 is capped (not documented as an error)."""
    req, world = ctx.req, ctx.world
    spec = spec or DEFAULT_MEDIA
    check_fields(spec, MEDIA_FIELDS, "IGMedia")
    limit = parse_limit(req, strict=False)
    return cursor_listing(req, world.posts(acct), req.path, ctx.token,
                          present=lambda it: not world.is_gone(it), visible=lambda it: True,
                          render=lambda it: render_media(ctx, acct, it, spec), limit=limit,
                          since=parse_time(req.query.get("since")), until=parse_time(req.query.get("until")),
                          stale=req.faults.stale_cursor)
