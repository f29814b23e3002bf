"""Fake X API v2: /users/:id/tweets, /tweets/search/recent, /tweets/search/all, /tweets?ids=, /tweets/:id,
/users/:id, /users/by/username/:username, /users/me.

Reference: /work/shared/reference/platform-apis.md section 3 ("ref 3.x").
"""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone
from html import escape as _html_escape

from .server import Request, Response, json_response
from .world import Item, World, sort_key, stable_hash

JSON = "application/json; charset=utf-8"  # ref 3.7
PROBLEM = "application/problem+json"  # ref 0.3, 3.5
INVALID = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
TIMELINE_CAP = 3200  # ref 3.1: only the 3,200 most recent Posts are reachable by paging
RECENT_WINDOW = 7 * 86400  # ref 3.3: search/recent covers the last 7 days

TWEET_FIELDS = {"article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
                "conversation_id", "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids",
                "entities", "geo", "id", "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics",
                "note_tweet", "organic_metrics", "possibly_sensitive", "promoted_metrics", "public_metrics",
                "referenced_tweets", "reply_settings", "scopes", "source", "text", "withheld"}
EXPANSIONS = {"article.cover_media", "article.media_entities", "attachments.media_keys",
              "attachments.media_source_tweet", "attachments.poll_ids", "author_id", "edit_history_tweet_ids",
              "entities.mentions.username", "geo.place_id", "in_reply_to_user_id", "entities.note.mentions.username",
              "referenced_tweets.id", "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id"}
USER_FIELDS = {"affiliation", "connection_status", "created_at", "description", "entities", "id", "is_identity_verified",
               "location", "most_recent_tweet_id", "name", "parody", "pinned_tweet_id", "profile_banner_url",
               "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscription",
               "subscription_type", "url", "username", "verified", "verified_followers_count", "verified_type",
               "withheld"}
MEDIA_FIELDS = {"alt_text", "duration_ms", "height", "media_key", "non_public_metrics", "organic_metrics",
                "preview_image_url", "promoted_metrics", "public_metrics", "type", "url", "variants", "width"}
PLACE_FIELDS = {"contained_within", "country", "country_code", "full_name", "geo", "id", "name", "place_type"}
POLL_FIELDS = {"duration_minutes", "end_datetime", "id", "options", "voting_status"}
FIELD_PARAMS = {"tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS, "user.fields": USER_FIELDS,
                "media.fields": MEDIA_FIELDS, "place.fields": PLACE_FIELDS, "poll.fields": POLL_FIELDS}
COMMON = set(FIELD_PARAMS)
TIMELINE_PARAMS = COMMON | {"end_time", "exclude", "max_results", "pagination_token", "since_id", "start_time",
                            "until_id"}
SEARCH_PARAMS = COMMON | {"query", "start_time", "end_time", "since_id", "until_id", "max_results", "next_token",
                          "pagination_token", "sort_order"}
LOOKUP_PARAMS = COMMON | {"ids"}

# Published per-endpoint limits (ref 3.1 legacy figures; plan-dependent today), per 15-minute window.
LIMITS = {"timeline": 900, "search_recent": 450, "search_all": 300, "lookup": 900, "users": 900}


class XError(Exception):
    def __init__(self, status, body, content_type=JSON):
        super().__init__(str(body))
        self.status, self.body, self.content_type = status, body, content_type


def invalid(param, value, message):
    # ref 3.5: 400 {"errors":[{"parameters":{...},"message":...}],"title":"Invalid Request",...}
    return XError(400, {"errors": [{"parameters": {param: [value]}, "message": message}],
                        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
                        "type": INVALID})


def unauthorized():
    # ref 3.5 [observed]: 401 problem+json
    return XError(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
                  PROBLEM)


def iso(ts: int) -> str:
    # created_at has milliseconds: "2020-07-06T15:58:10.000Z" (ref 3.1)
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_iso(param, value) -> int:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            dt = datetime.strptime(value, fmt)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return int(dt.timestamp())
        except ValueError:
            continue
    raise invalid(param, value, f"Invalid '{param}':'{value}'. '{param}' must be a valid RFC 3339 date-time")


# --------------------------------------------------------------------------------------------------
# tokens: opaque lowercase strings like "7140dibdnow9c7btw421dyz6jism75z99gyxd8egarsc4" (ref 3.7)

_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = _ALNUM[r] + s
        if not n:
            return s


def make_token(direction: str, anchor: int) -> str:
    body = _b36(anchor)
    check = _b36(stable_hash("xtok", direction, anchor) % 36**6).rjust(6, "0")
    return ("7140" if direction == "next" else "77qp") + check + body


def read_token(param, value):
    if not value or len(value) < 11 or value[:4] not in ("7140", "77qp"):
        raise invalid(param, value, f"The `{param}` query parameter value [{value}] is not valid")
    direction = "next" if value[:4] == "7140" else "prev"
    try:
        anchor = int(value[10:], 36)
    except ValueError:
        raise invalid(param, value, f"The `{param}` query parameter value [{value}] is not valid") from None
    if make_token(direction, anchor) != value:
        raise invalid(param, value, f"The `{param}` query parameter value [{value}] is not valid")
    return direction, anchor


# --------------------------------------------------------------------------------------------------
# rendering


class Ctx:
    def __init__(self, req: Request):
        self.req, self.world = req, req.world
        q = req.query
        self.tweet_fields = _csv(q.get("tweet.fields"))
        self.expansions = _csv(q.get("expansions"))
        self.user_fields = _csv(q.get("user.fields"))
        self.media_fields = _csv(q.get("media.fields"))
        self.inc_users: dict = {}
        self.inc_tweets: dict = {}
        self.inc_media: dict = {}


def _csv(v) -> list:
    return [p for p in (v or "").split(",") if p]


def versions(it: Item):
    """[(version id, created ts, text)] oldest first, the current version last (ref 3.6).  world.edit
    records each replaced version in `history` with the id and time it had."""
    if not it.version_ids:
        return [(it.id, it.created, it.text)]
    return [(h["id"], h["ts"], h["text"]) for h in it.history] + [(it.current_id, it.updated, it.text)]


def x_text(text: str) -> str:
    # X returns &, <, > HTML-escaped in `text` (long-standing v1.1/v2 behaviour)
    return _html_escape(text, quote=False)


def _entities(world: World, it: Item, text: str):
    ents = {}
    mentions = []
    for m in re.finditer(r"@(\w{1,15})", text):
        mentions.append({"start": m.start(), "end": m.end(), "username": m.group(1),
                         "id": _user_id_for(world, it, m.group(1))})
    if mentions:
        ents["mentions"] = mentions
    urls = [{"start": m.start(), "end": m.end(), "url": m.group(0), "expanded_url": m.group(0),
             "display_url": m.group(0).split("://", 1)[1]} for m in re.finditer(r"https?://\S+", text)]
    if urls:
        ents["urls"] = urls
    tags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in re.finditer(r"#(\w+)", text)]
    if tags:
        ents["hashtags"] = tags
    return ents or None


def _user_id_for(world: World, it: Item, username: str):
    acct = world.account(it.account_id)
    if username == acct.username:
        return acct.handle
    for a in world._residents_for("x"):
        if a.username == username:
            return a.id
    return str(10**17 + stable_hash("x-user", username) % 10**17)


def media_key(it: Item, k: int) -> str:
    m = it.media[k]
    return f"{'7' if m.kind == 'video' else '3'}_{int(it.id) + k + 1}"


def render_media(ctx: Ctx, it: Item, k: int) -> dict:
    m = it.media[k]
    fields = set(ctx.media_fields) | {"media_key", "type"}
    full = {"media_key": media_key(it, k), "type": "video" if m.kind == "video" else "photo",
            "width": m.width, "height": m.height}
    fakes = ctx.req.fakes
    if m.kind == "video":
        full["preview_image_url"] = fakes.media_url(m.name[:-4] + "-thumb.jpg")
        full["duration_ms"] = m.duration_ms
        full["variants"] = [{"bit_rate": 2176000, "content_type": "video/mp4", "url": fakes.media_url(m.name)}]
        full["public_metrics"] = {"view_count": 100 + it.likes * 9}
    else:
        full["url"] = fakes.media_url(m.name)
    if m.alt:
        full["alt_text"] = m.alt
    return {f: full[f] for f in ("media_key", "type", "url", "preview_image_url", "width", "height", "duration_ms",
                                 "alt_text", "variants", "public_metrics") if f in fields and f in full}


def render_user(ctx: Ctx, author, acct=None) -> dict:
    fields = set(ctx.user_fields)
    out = {"id": author.id, "name": author.name, "username": author.username}
    extra = {"created_at": "2012-03-01T15:00:00.000Z", "description": acct.description if acct else "",
             "profile_image_url": ctx.req.fakes.media_url(f"{acct.id if acct else 'resident'}-avatar.png"),
             "protected": False, "verified": bool(acct), "verified_type": "government" if acct else "none",
             "url": "https://example.gov" if acct else "", "location": "Example City",
             "public_metrics": {"followers_count": 12000 if acct else 80, "following_count": 300,
                                "tweet_count": 5000 if acct else 900, "listed_count": 40, "like_count": 100}}
    for f in fields:
        if f in extra:
            out[f] = extra[f]
    return out


def render_tweet(ctx: Ctx, it: Item, version: int = -1) -> dict:
    """One tweet (post or reply).  Default fields are id, text and edit_history_tweet_ids."""
    world = ctx.world
    vers = versions(it)
    vid, ts, text = vers[version]
    fields = set(ctx.tweet_fields)
    out = {"id": vid, "text": x_text(text), "edit_history_tweet_ids": [v[0] for v in vers]}
    acct = world.account(it.account_id)
    post = world.get(it.post_id)
    parent = (world.get(it.parent_id) if it.parent_id else post) if it.kind == "comment" else None
    if "author_id" in fields:
        out["author_id"] = it.author.id
    if "created_at" in fields:
        out["created_at"] = iso(ts)
    if "conversation_id" in fields:  # every reply carries the root post's id (ref 3.3)
        out["conversation_id"] = post.id
    if "in_reply_to_user_id" in fields and it.in_reply_to_user:
        out["in_reply_to_user_id"] = it.in_reply_to_user
    if "referenced_tweets" in fields and parent is not None:
        out["referenced_tweets"] = [{"type": "replied_to", "id": parent.id}]
    if "public_metrics" in fields:
        if it.kind == "comment":
            replies = sum(1 for c in world.comments(it.post_id) if c.parent_id == it.id and not c.deleted)
        else:
            replies = sum(1 for c in world.comments(it.id) if c.parent_id is None and not c.deleted)
        out["public_metrics"] = {"retweet_count": it.likes // 5, "reply_count": replies, "like_count": it.likes,
                                 "quote_count": it.likes // 20, "bookmark_count": it.likes // 10,
                                 "impression_count": 150 + it.likes * 31}
    if "attachments" in fields and it.media:
        out["attachments"] = {"media_keys": [media_key(it, k) for k in range(len(it.media))]}
    if "entities" in fields:
        ents = _entities(world, it, text)
        if ents:
            out["entities"] = ents
    if "lang" in fields:
        out["lang"] = "en"
    if "possibly_sensitive" in fields:
        out["possibly_sensitive"] = False
    if "reply_settings" in fields:
        out["reply_settings"] = "everyone"
    if "edit_controls" in fields:
        edits = len(vers) - 1
        out["edit_controls"] = {"edits_remaining": max(0, 5 - edits), "is_edit_eligible": True,
                                "editable_until": iso(it.created + 3600)}
    if "display_text_range" in fields:
        out["display_text_range"] = [0, len(text)]
    # expansions -> includes
    exp = set(ctx.expansions)
    if "author_id" in exp:
        ctx.inc_users.setdefault(it.author.id, render_user(ctx, it.author, acct if it.author.id == acct.handle else None))
    if "in_reply_to_user_id" in exp and it.in_reply_to_user:
        _include_user_id(ctx, it.in_reply_to_user)
    if "attachments.media_keys" in exp:
        for k in range(len(it.media)):
            ctx.inc_media.setdefault(media_key(it, k), render_media(ctx, it, k))
    if parent is not None and ("referenced_tweets.id" in exp or "referenced_tweets.id.author_id" in exp):
        if "referenced_tweets.id" in exp and not world.is_gone(parent):
            ctx.inc_tweets.setdefault(parent.id, render_tweet(_no_expansions(ctx), parent, 0))
        if "referenced_tweets.id.author_id" in exp:
            pa = world.account(parent.account_id)
            ctx.inc_users.setdefault(parent.author.id, render_user(ctx, parent.author,
                                                                   pa if parent.author.id == pa.handle else None))
    if "edit_history_tweet_ids" in exp and len(vers) > 1:
        sub = _no_expansions(ctx)
        for k in range(len(vers)):
            if vers[k][0] != vid:
                ctx.inc_tweets.setdefault(vers[k][0], render_tweet(sub, it, k))
    if "entities.mentions.username" in exp:
        for m in (_entities(world, it, text) or {}).get("mentions", []):
            _include_user_id(ctx, m["id"], m["username"])
    return out


def _no_expansions(ctx: Ctx) -> Ctx:
    """Tweets placed in includes.tweets are rendered with the same fields but are not expanded again."""
    sub = copy.copy(ctx)
    sub.expansions = []
    return sub


def _include_user_id(ctx: Ctx, user_id: str, username: str | None = None):
    world = ctx.world
    for a in world.accounts:
        if a.platform == "x" and a.handle == user_id:
            ctx.inc_users.setdefault(user_id, render_user(ctx, a.author, a))
            return
    for r in world._residents_for("x"):
        if r.id == user_id:
            ctx.inc_users.setdefault(user_id, render_user(ctx, r))
            return
    if username:
        from .world import Author  # noqa: PLC0415

        ctx.inc_users.setdefault(user_id, render_user(ctx, Author(user_id, username, username)))


def envelope(ctx: Ctx, data, meta=None, errors=None) -> dict:
    body = {}
    if data is not None:
        body["data"] = data
    includes = {}
    if ctx.inc_users:
        includes["users"] = list(ctx.inc_users.values())
    if ctx.inc_tweets:
        includes["tweets"] = list(ctx.inc_tweets.values())
    if ctx.inc_media:
        includes["media"] = list(ctx.inc_media.values())
    if includes and data is not None:
        body["includes"] = includes
    if errors:
        body["errors"] = errors
    if meta is not None:
        body["meta"] = meta
    return body


# --------------------------------------------------------------------------------------------------
# routing


def handle(req: Request) -> Response:
    endpoint = _endpoint(req)
    headers = []
    try:
        acct = _auth(req)
        limit = LIMITS.get(endpoint, 900)
        remaining, reset, over = req.fakes.meter.x_call((endpoint, acct.id), limit)
        t = req.faults.throttled("x")
        if req.world.call_budget is None:  # benchmarks: no natural limit
            over = False
            remaining = max(1, remaining)
        if t is not None:
            remaining, reset, over = 0, t["reset_at"], True
        # ref 3.4: x-rate-limit-limit/remaining/reset on every response (twarc reads them on 429)
        headers = [("x-rate-limit-limit", str(limit)), ("x-rate-limit-remaining", str(remaining)),
                   ("x-rate-limit-reset", str(reset))]
        if over:
            raise XError(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                               "status": 429}, PROBLEM)
        if req.method != "GET":
            raise XError(405, {"title": "Method Not Allowed", "type": "about:blank", "status": 405,
                               "detail": "Method Not Allowed"}, PROBLEM)
        body = route(req, endpoint)
        return json_response(body, 200, content_type=JSON, headers=headers)
    except XError as err:
        return json_response(err.body, err.status, content_type=err.content_type, headers=headers)


def _endpoint(req: Request) -> str:
    s = req.segments
    if s[:2] == ["tweets", "search"]:
        return "search_all" if s[2:3] == ["all"] else "search_recent"
    if s[:1] == ["users"] and s[2:3] == ["tweets"]:
        return "timeline"
    if s[:1] == ["tweets"]:
        return "lookup"
    return "users"


def _auth(req: Request):
    token = req.bearer()
    acct = req.world.by_token(token) if token else None
    if acct is None or acct.platform != "x" or acct.id in req.faults.expired:
        raise unauthorized()
    return acct


def _check_params(req: Request, allowed: set):
    for k, v in req.query_pairs:
        if k not in allowed:
            raise invalid(k, v, f"The query parameter [{k}] is not one of [{','.join(sorted(allowed))}]")
    for param, allowed_values in FIELD_PARAMS.items():
        for v in _csv(req.query.get(param)):
            if v not in allowed_values:
                raise invalid(param, v, f"The `{param}` query parameter value [{v}] is not one of "
                                        f"[{','.join(sorted(allowed_values))}]")


def route(req: Request, endpoint: str):
    s = req.segments
    world = req.world
    if endpoint == "timeline" and len(s) == 3:
        _check_params(req, TIMELINE_PARAMS)
        acct = world.by_handle("x", s[1])
        if acct is None:
            return _user_not_found(s[1], "id")
        return timeline(req, acct)
    if endpoint in ("search_recent", "search_all") and len(s) == 3:
        _check_params(req, SEARCH_PARAMS)
        return search(req, endpoint == "search_all")
    if endpoint == "lookup" and len(s) == 1:
        _check_params(req, LOOKUP_PARAMS)
        ids = _csv(req.query.get("ids"))
        if not ids:
            raise XError(400, {"errors": [{"parameters": {"ids": []}, "message": "The `ids` query parameter can not "
                                           "be empty"}], "title": "Invalid Request",
                               "detail": "One or more parameters to your request was invalid.", "type": INVALID})
        if len(ids) > 100:
            raise invalid("ids", req.query["ids"], f"The number of values in the `ids` query parameter list "
                                                   f"[{len(ids)}] is not between 1 and 100")
        return lookup(req, ids, "ids")
    if endpoint == "lookup" and len(s) == 2:
        _check_params(req, COMMON)
        return lookup(req, [s[1]], "id")
    if s[:1] == ["users"]:
        _check_params(req, {"user.fields", "expansions", "tweet.fields"})
        ctx = Ctx(req)
        if len(s) == 2 and s[1] == "me":
            acct = world.by_token(req.bearer())
            return envelope(ctx, render_user(ctx, acct.author, acct))
        if len(s) == 2:
            acct = world.by_handle("x", s[1])
            return envelope(ctx, render_user(ctx, acct.author, acct)) if acct else _user_not_found(s[1], "id")
        if len(s) == 4 and s[1:3] == ["by", "username"]:
            acct = next((a for a in world.accounts if a.platform == "x" and a.username.lower() == s[3].lower()), None)
            return envelope(ctx, render_user(ctx, acct.author, acct)) if acct else _user_not_found(s[3], "username")
    raise XError(404, {"title": "Not Found Error", "detail": "Sorry, that page does not exist.", "type": "about:blank",
                       "status": 404}, PROBLEM)


def _user_not_found(value, param):
    # ref 3.5: partial error inside HTTP 200
    what = "id" if param == "id" else "username"
    return {"errors": [{"value": value, "detail": f"Could not find user with {what}: [{value}].",
                        "title": "Not Found Error", "resource_type": "user", "parameter": param,
                        "resource_id": value, "type": NOT_FOUND}]}


def _max_results(req: Request, lo: int, hi: int, default: int) -> int:
    raw = req.query.get("max_results")
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise invalid("max_results", raw, f"The `max_results` query parameter value [{raw}] is not between {lo} and {hi}")
    return v


class _ListView:
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def item_at(self, p):
        return self.items[p]

    def first_pos(self, pred):
        for p, it in enumerate(self.items):
            if pred(it):
                return p
        return len(self.items)


def timeline_view(world: World, acct):
    """The user's tweets newest first: posts plus the account's own replies (they are its tweets too).
    Synthetic accounts: the lazily generated posts (their comments are never the account's own)."""
    if acct.synthetic:
        return world.posts(acct)
    items = [world.get(i) for i in acct.order]
    for post in items[:]:
        for c in world.comments(post.id):
            if c.author.id == acct.handle:
                items.append(c)
    items.sort(key=sort_key, reverse=True)
    return _ListView(items)


def _time_filters(req: Request):
    start = parse_iso("start_time", req.query["start_time"]) if req.query.get("start_time") else None
    end = parse_iso("end_time", req.query["end_time"]) if req.query.get("end_time") else None
    since_id = int(req.query["since_id"]) if req.query.get("since_id", "").isdigit() else None
    until_id = int(req.query["until_id"]) if req.query.get("until_id", "").isdigit() else None
    for p in ("since_id", "until_id"):
        if req.query.get(p) and not req.query[p].isdigit():
            raise invalid(p, req.query[p], f"The `{p}` query parameter value [{req.query[p]}] is not valid")
    return start, end, since_id, until_id


def _version_ts(it: Item) -> int:
    return versions(it)[-1][1]


def _page(req: Request, view, max_results: int, token_param: str, cap=None, extra_pred=None):
    """Newest-first paging over `view` by id: next_token = "older than the last id", previous_token =
    "newer than the first id" (ref 3.2).  Tokens survive deletions because they carry ids, not positions."""
    start_ts, end_ts, since_id, until_id = _time_filters(req)
    tok = req.query.get(token_param)
    direction, anchor = read_token(token_param, tok) if tok else (None, None)

    def ok(it):
        if it is None or it.deleted or it.restricted:
            return False
        tid = int(it.current_id)
        ts = _version_ts(it)
        if since_id is not None and tid <= since_id:
            return False
        if until_id is not None and tid >= until_id:
            return False
        if start_ts is not None and ts < start_ts:
            return False
        if end_ts is not None and ts >= end_ts:  # end_time is exclusive
            return False
        return extra_pred(it) if extra_pred else True

    n = len(view) if cap is None else min(len(view), cap)
    if direction == "prev":
        pos = view.first_pos(lambda it: int(it.current_id) <= anchor) - 1
        window = []
        while pos >= 0 and len(window) < max_results:
            it = view.item_at(pos)
            if ok(it):
                window.append(it)
            pos -= 1
        window.reverse()
        more_older = True
    else:
        pos = view.first_pos(lambda it: int(it.current_id) < anchor) if direction == "next" else 0
        # since_id / start_time bound the newest end; skip quickly past newer items with until_id / end_time
        if until_id is not None and direction is None:
            pos = view.first_pos(lambda it: int(it.current_id) < until_id)
        window = []
        while pos < n and len(window) < max_results:
            it = view.item_at(pos)
            if it is not None and since_id is not None and int(it.current_id) <= since_id:
                break
            if it is not None and start_ts is not None and _version_ts(it) < start_ts:
                break
            if ok(it):
                window.append(it)
            pos += 1
        more_older = False
        while pos < n:
            it = view.item_at(pos)
            if it is not None and since_id is not None and int(it.current_id) <= since_id:
                break
            if it is not None and start_ts is not None and _version_ts(it) < start_ts:
                break
            if ok(it):
                more_older = True
                break
            pos += 1
    ctx = Ctx(req)
    data = [render_tweet(ctx, it) for it in window]
    if not data:
        return envelope(ctx, None, {"result_count": 0})  # ref 3.2: no `data` key on an empty page
    meta = {"result_count": len(data), "newest_id": data[0]["id"], "oldest_id": data[-1]["id"]}
    if more_older:
        meta["next_token"] = make_token("next", int(data[-1]["id"]))
    if tok:
        meta["previous_token"] = make_token("prev", int(data[0]["id"]))
    return envelope(ctx, data, meta)


def timeline(req: Request, acct):
    max_results = _max_results(req, 5, 100, 10)  # ref 3.1: default 10, 5..100
    exclude = set(_csv(req.query.get("exclude")))
    pred = None
    if "replies" in exclude:
        pred = lambda it: it.kind == "post"  # noqa: E731
    return _page(req, timeline_view(req.world, acct), max_results, "pagination_token", cap=TIMELINE_CAP,
                 extra_pred=pred)


def lookup(req: Request, ids, param):
    """ref 3.6: deleted (or never existing) ids come back in `errors` with HTTP 200."""
    world = req.world
    ctx = Ctx(req)
    data, errors = [], []
    for tid in ids:
        it = world.get(tid) if tid.isdigit() else None
        if it is None or it.platform != "x" or it.deleted or it.restricted:
            what = "ids" if param == "ids" else "id"
            errors.append({"value": tid, "detail": f"Could not find tweet with {what}: [{tid}].",
                           "title": "Not Found Error", "resource_type": "tweet", "parameter": param,
                           "resource_id": tid, "type": NOT_FOUND})
            continue
        vers = [v[0] for v in versions(it)]
        k = vers.index(tid) if tid in vers else len(vers) - 1
        data.append(render_tweet(ctx, it, k))
    if param == "id":
        return envelope(ctx, data[0] if data else None, errors=errors)
    return envelope(ctx, data or None, errors=errors)


# Query syntax (X "Build a query"): a space is AND, `OR` (upper case) is OR, ANDs bind first, parentheses
# group, a leading `-` negates a term. Values stop at white space or a parenthesis.
_QUERY_TOKEN = re.compile(r'\s*(?:(\()|(\))|(-?)(conversation_id|from|to|is|in_reply_to_tweet_id):([^\s()]+)'
                          r'|(-?)"([^"]*)"|(-?)([^\s()]+))')
QUERY_LIMITS = {False: 512, True: 1024}  # recent / full-archive search, self-serve access levels (characters)


def _query_error(query: str, message: str) -> XError:
    return invalid("query", query, f"There were errors processing your request: {message}")


def _parse_query(world: World, query: str):
    """The query as a tree: ("or", [...]) / ("and", [...]) / ("term", predicate, conversation root or None)."""
    tokens = []
    pos = 0
    while pos < len(query):
        m = _QUERY_TOKEN.match(query, pos)
        if m is None or m.end() == pos:
            if query[pos:].strip() == "":
                break
            raise _query_error(query, f"cannot parse the query at position {pos + 1}")
        pos = m.end()
        tokens.append(m)
    # the word "and" is taken for the implicit AND (the fake has always ignored it)
    tokens = [t for t in tokens if any(g is not None for g in t.groups()) and (t.group(9) or "").lower() != "and"]
    at = 0

    def disjunction():
        branches = [conjunction()]
        while at < len(tokens) and tokens[at].group(9) == "OR" and not tokens[at].group(8):
            advance()
            branches.append(conjunction())
        return branches[0] if len(branches) == 1 else ("or", branches)

    def conjunction():
        units = []
        while at < len(tokens) and tokens[at].group(2) is None and not (tokens[at].group(9) == "OR"
                                                                       and not tokens[at].group(8)):
            units.append(unit())
        if not units:
            raise _query_error(query, "an operand is missing (empty group, or OR at an end)")
        return units[0] if len(units) == 1 else ("and", units)

    def advance():
        nonlocal at
        at += 1
        return tokens[at - 1]

    def unit():
        tok = advance()
        if tok.group(1):
            node = disjunction()
            if at >= len(tokens) or tokens[at].group(2) is None:
                raise _query_error(query, "unbalanced parentheses")
            advance()
            return node
        return _term(world, tok)

    tree = disjunction()
    if at < len(tokens):
        raise _query_error(query, "unbalanced parentheses")
    return tree


def _term(world: World, tok):
    _, _, neg, op, val, pneg, phrase, wneg, word = tok.groups()
    if op == "conversation_id":
        root = world.get(val)
        post_id = root.post_id if root is not None and root.platform == "x" else None
        match = lambda it: it.kind == "comment" and it.post_id == post_id  # noqa: E731  (replies, not the root)
        return ("term", (lambda it: not match(it)) if neg else match, None if neg else post_id)
    if op == "in_reply_to_tweet_id":
        fn = lambda it, v=val: it.parent_id == v or (it.parent_id is None and it.post_id == v  # noqa: E731
                                                     and it.kind == "comment")
    elif op == "from":
        fn = lambda it, v=val.lower(): it.author.username.lower() == v  # noqa: E731
    elif op == "to":
        fn = lambda it, v=val.lower(): _to_username(world, it) == v  # noqa: E731
    elif op == "is":
        if val not in ("reply", "retweet", "quote"):
            return ("term", lambda it: True, None)  # other is: filters are not modelled
        fn = (lambda it: it.kind == "comment") if val == "reply" else (lambda it: False)  # no retweets/quotes
    else:
        neg = pneg if phrase is not None else wneg
        text = (phrase if phrase is not None else word).lower()
        fn = lambda it, t=text: t in it.text.lower()  # noqa: E731
    return ("term", (lambda it, f=fn: not f(it)) if neg else fn, None)


def _matches(node, it) -> bool:
    if node[0] == "or":
        return any(_matches(n, it) for n in node[1])
    if node[0] == "and":
        return all(_matches(n, it) for n in node[1])
    return node[1](it)


def _conversations(node):
    """The conversations every match must be in (None: not bounded by conversation_id terms)."""
    if node[0] == "term":
        return None if node[2] is None else {node[2]}
    parts = [_conversations(n) for n in node[1]]
    if node[0] == "or":
        return None if any(p is None for p in parts) else set().union(*parts)
    bounded = [p for p in parts if p is not None]
    return min(bounded, key=len) if bounded else None


def search(req: Request, full_archive: bool):
    world = req.world
    query = req.query.get("query")
    if not query:
        raise XError(400, {"errors": [{"parameters": {"query": []}, "message": "The `query` query parameter can not "
                                       "be empty"}], "title": "Invalid Request",
                           "detail": "One or more parameters to your request was invalid.", "type": INVALID})
    if len(query) > QUERY_LIMITS[full_archive]:  # message wording [unverified]
        raise _query_error(query, f"Query length {len(query)} exceeds the maximum of {QUERY_LIMITS[full_archive]} "
                                  "characters")
    max_results = _max_results(req, 10, 500 if full_archive else 100, 10)
    if not full_archive:
        oldest = world.now - RECENT_WINDOW
        if req.query.get("start_time"):
            st = parse_iso("start_time", req.query["start_time"])
            if st < oldest:
                v = req.query["start_time"]
                raise invalid("start_time", v, f"Invalid 'start_time':'{v}'. 'start_time' must be on or after "
                                               f"{datetime.fromtimestamp(oldest, timezone.utc).strftime('%Y-%m-%dT%H:%MZ')}")
    tree = _parse_query(world, query)
    candidates = _search_corpus(world, _conversations(tree), full_archive)
    items = [it for it in candidates if _matches(tree, it)]
    if not full_archive:
        oldest = world.now - RECENT_WINDOW
        items = [it for it in items if _version_ts(it) >= oldest]
    items.sort(key=sort_key, reverse=True)
    token_param = "next_token" if req.query.get("next_token") or not req.query.get("pagination_token") else \
        "pagination_token"
    return _page(req, _ListView(items), max_results, token_param)


def _to_username(world: World, it: Item):
    if not it.in_reply_to_user:
        return None
    for a in world.accounts:
        if a.handle == it.in_reply_to_user:
            return a.username.lower()
    for r in world._residents_for("x"):
        if r.id == it.in_reply_to_user:
            return r.username.lower()
    return None


def _search_corpus(world: World, conversations, full_archive: bool):
    if conversations is not None:  # every match is a reply in one of these conversations (the roots are not returned)
        return [c for post_id in sorted(conversations - {None}) for c in world.comments(post_id) if not c.deleted]
    out = []
    horizon = world.now - RECENT_WINDOW
    for acct in world.accounts:
        if acct.platform != "x":
            continue
        seq = world.posts(acct)
        limit = len(seq) if not acct.synthetic else min(len(seq), 20000)
        for p in range(limit):
            it = seq.item_at(p)
            if it is None:
                continue
            if not full_archive and acct.synthetic and it.created + 86400 * 2 < horizon:
                break
            out.append(it)
            out += world.comments(it.id)
    return [it for it in out if not it.deleted]
