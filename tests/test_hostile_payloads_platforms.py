"""API faults and hostile payloads for Instagram, X and YouTube: the Facebook table of
tests/test_hostile_payloads.py (same stub, same checks: see tests/hostile_stub.py) for the other connectors.

Every row runs a real `harvest_account` against a loopback stub that answers in the platform's documented
shapes (shared/reference/platform-apis.md §2 Instagram Graph API, §3 X API v2, §4 YouTube Data API v3) and
checks: the run commits a manifest and verifies; a fault is a clear per-account error in the result and the
run report; quarantined documents name the WARC record of their evidence; good neighbours are archived;
requests never leave the API's base path; no archive key leaves the archive root.

Counted cases (see docs/reliability.md) are the rows of IG_CASES, X_CASES and YT_CASES.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from civic_archive import config as cfg
from civic_archive.sources import base, instagram, x, youtube
from civic_archive.storage import LocalStore
from hostile_stub import (A, Case, DROP, HTML_ERROR, Stub, gzip_bomb, nested, nested_objects, no_host_but_stub, quarantine_docs,
                          no_paths_escape, run_case, script_inert, without_dropped)

SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE_IDS = {"slashes": "../../../etc/passwd", "control": "17_\x00\x07\n\x1b[31m",
               "unicode": "１７_\u202e\u200b\U0001F600ǅ", "query": "1?x=y#frag%2F.."}


def routes(**by_path) -> Callable[[Stub], dict]:
    """Routes relative to the stub's prefix; a value may be an answer, a list of answers, a function of the
    query, or a function of the stub returning one of those (`lambda s: …`, marked by `_needs_stub`)."""
    def build(stub: Stub) -> dict:
        out = {}
        for path, value in by_path.items():
            if getattr(value, "_needs_stub", False):
                value = value(stub)
            out[stub.prefix + path] = value
        return out
    return build


def with_stub(fn):
    fn._needs_stub = True
    return fn


def seq(*answers: A) -> list[A]:
    return list(answers)


# ==================================================================================================
# Instagram Graph API (§2): /{ig-user-id}/media, /{media-id}/children, /{media-id}/comments, /{comment-id}/replies

IG = "17841406338772941"
IG_PREFIX = "/ig/v21.0"
IG_MEDIA = f"/{IG}/media"


def mid(n: int) -> str:
    return f"178957310452{n:05d}"


def media(n: int, **over) -> dict:
    doc = {"id": mid(n), "caption": f"media {n}", "comments_count": 0, "like_count": 4, "media_type": "IMAGE",
           "media_product_type": "FEED", "permalink": f"https://www.instagram.com/p/C{n}/",
           "timestamp": f"2025-03-{n % 28 + 1:02d}T16:25:28+0000", "username": "cityofexample"}
    doc.update(over)
    return without_dropped(doc)


def ig_comment(cid: str, text: str = "Great work!", **over) -> dict:
    doc = {"id": cid, "text": text, "timestamp": "2025-03-04T17:56:52+0000", "username": "resident_a",
           "like_count": 2, "hidden": False, "from": {"id": "6091829384756102", "username": "resident_a"}}
    doc.update(over)
    return without_dropped(doc)


def gpage(items: list, next_url: str | None = None) -> dict:
    doc: dict = {"data": items}
    if next_url:
        doc["paging"] = {"cursors": {"before": "QVFIUnBX", "after": "QVFIUkN6"}, "next": next_url}
    return doc


def graph_error(code: int, message: str = "An unexpected error has occurred.", **extra) -> dict:
    return {"error": {"message": message, "type": "IGApiException", "code": code, "fbtrace_id": "AkLl12hQO", **extra}}


def ig_unrouted(path: str, query: dict) -> A:
    if path.endswith(("/comments", "/replies", "/children")):
        return A({"data": []})
    return A(graph_error(100, "Unsupported get request. Object with ID does not exist", error_subcode=33), 400)


def ig_feed(*answers: A) -> Callable[[Stub], dict]:
    return routes(**{IG_MEDIA: list(answers)})


def ig_items(*docs) -> Callable[[Stub], dict]:
    return ig_feed(A(gpage(list(docs))))


def ig_good() -> A:
    return A(gpage([media(1), media(2)]))


def ig_two_pages(second: A, first_items: list | None = None) -> Callable[[Stub], dict]:
    @with_stub
    def listing(stub):
        return lambda q: (A(gpage(first_items or [media(1)], f"{stub.base}{IG_MEDIA}?after=p2")) if "after" not in q
                          else second)
    return routes(**{IG_MEDIA: listing})


def ig_loop(path: str, items: list) -> Callable[[Stub], dict]:
    """A listing at `path` whose `paging.next` points back at itself."""
    @with_stub
    def listing(stub):
        return A(gpage(items, f"{stub.base}{path}?after=same"))
    return listing


BUC_30_MIN = {"X-Business-Use-Case-Usage": json.dumps({IG: [
    {"type": "instagram", "call_count": 100, "total_cputime": 20, "total_time": 30,
     "estimated_time_to_regain_access": 30}]})}

IG_CASES: list[Case] = [
    # -- 5xx storms and throttling ----------------------------------------------------------------------
    Case("503 storm (HTML), then recovery", "5xx storm", ig_feed(*[A(HTML_ERROR, 503)] * 3, ig_good()),
         archived=(mid(1), mid(2))),
    Case("500 code 2 storm, never recovers", "5xx storm", ig_feed(A(graph_error(2), 500)), error=r"error 2",
         quarantined=1),
    Case("throttled (code 4), access back in 30 min", "5xx storm",
         ig_feed(A(graph_error(4, "Application request limit reached"), 403, headers=BUC_30_MIN)),
         error=r"throttled \(code 4\) for about 30 min", quarantined=1),
    Case("comments 500 storm for one media", "5xx storm",
         routes(**{IG_MEDIA: A(gpage([media(1, comments_count=2)])), f"/{mid(1)}/comments": A(graph_error(2), 500)}),
         error=r"error 2", quarantined=1, archived=(mid(1),)),
    # -- timeouts ---------------------------------------------------------------------------------------
    Case("timeout before headers", "timeout", ig_feed(A(gpage([media(1)]), hang=3.0)), error=r"failed: .*Timeout",
         quarantined=1),
    Case("timeout once, then recovery", "timeout", ig_feed(A(gpage([media(1)]), hang=3.0), ig_good()),
         archived=(mid(1), mid(2))),
    # -- truncated bodies --------------------------------------------------------------------------------
    Case("body cut mid-JSON, connection closed", "truncated body", ig_feed(A(gpage([media(1), media(2)]), cut=40)),
         error=r"truncated", quarantined=1),
    Case("page 2 truncated keeps page 1", "truncated body", ig_two_pages(A(gpage([media(3)]), length=9_999)),
         error=r"truncated", quarantined=1, archived=(mid(1),)),
    # -- invalid JSON, wrong content type, oversized, nesting, UTF-8 -------------------------------------
    Case("invalid JSON", "invalid JSON", ig_feed(A(b'{"data": [{"id": "1",}')), error=r"not JSON", quarantined=1),
    Case("HTML page with 200", "wrong content type", ig_feed(A(HTML_ERROR, 200)), error=r"not JSON.*text/html",
         quarantined=1),
    Case("gzip bomb over the size cap", "oversized body", ig_feed(A(gzip_bomb(), headers={"Content-Encoding": "gzip"})),
         error=r"size cap|truncated", quarantined=1),
    Case("100k nested arrays", "deeply nested JSON", ig_feed(A(nested(100_000))), error=r"nested", quarantined=1),
    Case("invalid UTF-8 bytes in a page", "invalid UTF-8",
         ig_feed(A(b'{"data": [{"id": "1", "caption": "caf\xe9 \xff", "timestamp": "2025-03-01T10:00:00+0000"}]}')),
         error=r"not JSON|UTF-8", quarantined=1),
    # -- paging hazards -----------------------------------------------------------------------------------
    Case("duplicate id across pages", "duplicate / changing item", ig_two_pages(A(gpage([media(1), media(3)]))),
         archived=(mid(1), mid(3))),
    Case("item changes while being paged", "duplicate / changing item",
         ig_two_pages(A(gpage([media(1, caption="edited while paging"), media(3)]))), quarantined=1,
         archived=(mid(1), mid(3))),
    Case("media paging loop (next points at itself)", "duplicate / changing item",
         routes(**{IG_MEDIA: ig_loop(IG_MEDIA, [media(1)])}), error=r"paging loop", quarantined=1,
         archived=(mid(1),)),
    Case("carousel children paging loop", "duplicate / changing item",
         routes(**{IG_MEDIA: A(gpage([media(1, media_type="CAROUSEL_ALBUM"), media(2)])),
                   f"/{mid(1)}/children": ig_loop(f"/{mid(1)}/children", [{"id": "c1", "media_type": "IMAGE"}])}),
         error=r"paging loop", quarantined=1),
    Case("paging.next to another host", "hostile value",
         ig_feed(A(gpage([media(1)], "http://evil.example/steal"))), error=r"leaves the API host", quarantined=1,
         archived=(mid(1),), check=no_host_but_stub),
    Case("embedded replies' paging.next to another host", "hostile value",
         routes(**{IG_MEDIA: A(gpage([media(1, comments_count=3)])),
                   f"/{mid(1)}/comments": A(gpage([ig_comment("c1", replies={
                       "data": [ig_comment("r1", "thanks", parent_id="c1")],
                       "paging": {"next": "http://evil.example/replies?after=x"}})]))}),
         error=r"leaves the API host", quarantined=1, archived=(mid(1), "c1", "r1"), check=no_host_but_stub),
    # -- missing fields, wrong types, nulls ------------------------------------------------------------------
    Case("media without id", "missing id / time", ig_items(media(1, id=DROP), media(2)), quarantined=1,
         archived=(mid(2),)),
    Case("timestamp garbage", "missing id / time", ig_items(media(1, timestamp="yesterday"), media(2)),
         quarantined=1, archived=(mid(2),)),
    Case("id is a number, caption an object", "wrong type",
         ig_items(media(1, id=12345), media(3, caption={"a": 1}), media(2)), quarantined=2, archived=(mid(2),)),
    Case("reply without timestamp", "missing id / time",
         routes(**{IG_MEDIA: A(gpage([media(1, comments_count=3)])),
                   f"/{mid(1)}/comments": A(gpage([ig_comment("c1", replies={"data": [
                       ig_comment("r1", timestamp=DROP), ig_comment("r2")]})]))}),
         quarantined=1, archived=("c1", "r2")),
    Case("error code is a list", "wrong type", ig_feed(A({"error": {"code": [190], "message": "odd"}}, 400)),
         error=r"instagram: error", quarantined=1),
    Case("data is null", "null data", ig_feed(A({"data": None})), error=r"no data list", quarantined=1),
    Case("top level is a list", "null data", ig_feed(A([media(1)])), error=r"no data list", quarantined=1),
    Case("token rejected (code 190)", "API error answer",
         ig_feed(A(graph_error(190, "Error validating access token: Session has expired"), 400)),
         error=r"token rejected", quarantined=1),
    # -- hostile ids and text ----------------------------------------------------------------------------------
    Case("media id with slashes and .. (its comments read)", "hostile value",
         routes(**{IG_MEDIA: A(gpage([media(1, id=HOSTILE_IDS["slashes"], comments_count=1), media(2)]))}),
         archived=(HOSTILE_IDS["slashes"], mid(2)), check=no_paths_escape),
    Case("media id is ..", "hostile value", ig_items(media(1, id=".."), media(2)), quarantined=1,
         archived=(mid(2),), check=no_paths_escape),
    Case("comment ids with control characters, unusual Unicode, ?#%2F (replies read)", "hostile value",
         routes(**{IG_MEDIA: A(gpage([media(1, comments_count=9)])),
                   f"/{mid(1)}/comments": A(gpage([ig_comment(HOSTILE_IDS["control"]),
                                                   ig_comment(HOSTILE_IDS["unicode"]),
                                                   ig_comment(HOSTILE_IDS["query"])]))}),
         archived=(HOSTILE_IDS["control"], HOSTILE_IDS["unicode"], HOSTILE_IDS["query"]), check=no_paths_escape),
    Case("caption and comment with HTML and script", "hostile value",
         routes(**{IG_MEDIA: A(gpage([media(1, caption=SCRIPT, comments_count=1)])),
                   f"/{mid(1)}/comments": A(gpage([ig_comment("c1", SCRIPT)]))}),
         archived=(mid(1), "c1"), check=script_inert),
    Case("error message with script", "hostile value",
         ig_feed(A(graph_error(100, "<script>alert(document.cookie)</script>"), 400)), error=r"error 100",
         quarantined=1, check=script_inert),
]


# ==================================================================================================
# X API v2 (§3): /users/:id/tweets (pagination_token), /tweets/search/recent (next_token), /tweets?ids=

USER = "2244994945"
X_PREFIX = "/x/2"
TIMELINE = f"/users/{USER}/tweets"
SEARCH = "/tweets/search/recent"


def tid(n: int) -> str:
    return str(1897012345678900000 + n)


def tweet(n: int | str, **over) -> dict:
    post_id = tid(n) if isinstance(n, int) else n
    day = n % 9 + 1 if isinstance(n, int) else 4
    doc = {"id": post_id, "text": f"post {n}", "created_at": f"2025-03-0{day}T16:20:11.000Z",
           "author_id": USER, "conversation_id": post_id, "edit_history_tweet_ids": [post_id],
           "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 3, "quote_count": 0}}
    doc.update(over)
    return without_dropped(doc)


def reply(n: int, root: str, **over) -> dict:
    return tweet(n, author_id="98765", conversation_id=root, in_reply_to_user_id=USER,
                 referenced_tweets=[{"type": "replied_to", "id": root}], text=f"@CityOfExample reply {n}", **over)


def xpage(items: list | None, next_token: str | None = None, **extra) -> dict:
    doc: dict = {"data": items} if items is not None else {}
    doc["includes"] = {"users": [{"id": USER, "name": "City of Example", "username": "CityOfExample"}]}
    meta: dict = {"result_count": len(items or [])}
    if next_token is not None:
        meta["next_token"] = next_token
    doc["meta"] = meta
    doc.update(extra)
    return doc


def problem(status: int, title: str, detail: str | None = None) -> dict:
    return {"title": title, "detail": detail or title, "type": "about:blank", "status": status}


def x_unrouted(path: str, query: dict) -> A:
    if path.endswith(SEARCH):
        return A({"meta": {"result_count": 0}})  # documented empty page: no `data`
    return A(problem(404, "Not Found"), 404, ctype="application/problem+json")


def x_feed(*answers: A) -> Callable[[Stub], dict]:
    return routes(**{TIMELINE: list(answers)})


def x_items(*docs) -> Callable[[Stub], dict]:
    return x_feed(A(xpage(list(docs))))


def x_good() -> A:
    return A(xpage([tweet(1), tweet(2)]))


def x_two_pages(second: A, token: str = "7140dibdnow9c7btw421dyz6jism75z99gyxd8egarsc4") -> Callable[[Stub], dict]:
    return routes(**{TIMELINE: lambda q: A(xpage([tweet(1)], token)) if "pagination_token" not in q else second})


def rate_headers(remaining: int, reset_in: float) -> dict:
    return {"x-rate-limit-limit": 900, "x-rate-limit-remaining": remaining,
            "x-rate-limit-reset": int(time.time() + reset_in)}


def x_429(reset_in: float) -> Callable[[dict], A]:
    return lambda q: A(problem(429, "Too Many Requests"), 429, ctype="application/problem+json",
                       headers=rate_headers(0, reset_in))


def waited(stub, result, store) -> None:
    assert any(s >= 1.0 for s in SLEEPS), SLEEPS  # the window's reset was waited out, then the page read


def partial_error_noted(stub, result, store) -> None:
    assert any("partial error" in n and "Could not find tweet" in n for n in result.notes), result.notes


def search_stopped_noted(stub, result, store) -> None:
    """The timeline was read in full: the run is complete, and its report says the replies were not searched."""
    text = store.read_bytes(f"manifests/{result.run_id}.report.md").decode()
    assert result.complete and "searched next run" in text
    assert any("HTTP 503" in q["reason"] for q in quarantine_docs(store, result.run_id))


X_CASES: list[Case] = [
    # -- 5xx storms, rate limits, credentials --------------------------------------------------------------
    Case("503 storm (HTML), then recovery", "5xx storm / 429", x_feed(*[A(HTML_ERROR, 503)] * 3, x_good()),
         archived=(tid(1), tid(2))),
    Case("500 storm, never recovers", "5xx storm / 429", x_feed(A(problem(500, "Internal Error"), 500)),
         error=r"HTTP 500", quarantined=1),
    Case("429, window resets in an hour", "5xx storm / 429", routes(**{TIMELINE: x_429(3600)}),
         error=r"rate limit for .* exhausted until", quarantined=1),
    Case("429, window already reset: waited out, then recovery", "5xx storm / 429",
         routes(**{TIMELINE: seq(x_429(-5)(None), A(xpage([tweet(1)]), headers=rate_headers(899, 900)))}),
         archived=(tid(1),), check=waited),
    Case("429 without rate headers (v1.1 body), never ends", "5xx storm / 429",
         x_feed(A({"errors": [{"code": 88, "message": "Rate limit exceeded"}]}, 429)),
         error=r"still rate limited", quarantined=1),
    Case("replies search 503 storm keeps the post, the walk completes", "5xx storm / 429",
         routes(**{TIMELINE: A(xpage([tweet(1, public_metrics={"reply_count": 2})])),
                   SEARCH: A(HTML_ERROR, 503)}), quarantined=1, archived=(tid(1),), check=search_stopped_noted),
    Case("401 problem+json", "API error answer",
         x_feed(A(problem(401, "Unauthorized"), 401, ctype="application/problem+json")),
         error=r"credentials rejected \(HTTP 401\)", quarantined=1),
    # -- timeouts, truncation, bodies ------------------------------------------------------------------------
    Case("timeout before headers", "timeout", x_feed(A(xpage([tweet(1)]), hang=3.0)), error=r"failed: .*Timeout",
         quarantined=1),
    Case("timeout once, then recovery", "timeout", x_feed(A(xpage([tweet(1)]), hang=3.0), x_good()),
         archived=(tid(1), tid(2))),
    Case("body cut mid-JSON, connection closed", "truncated body", x_feed(A(xpage([tweet(1), tweet(2)]), cut=40)),
         error=r"truncated", quarantined=1),
    Case("page 2 truncated keeps page 1", "truncated body", x_two_pages(A(xpage([tweet(3)]), length=9_999)),
         error=r"truncated", quarantined=1, archived=(tid(1),)),
    Case("invalid JSON", "invalid JSON", x_feed(A(b'{"data": [{"id": "1",}')), error=r"not JSON", quarantined=1),
    Case("HTML page with 200", "wrong content type", x_feed(A(HTML_ERROR, 200)), error=r"not JSON.*text/html",
         quarantined=1),
    Case("gzip bomb over the size cap", "oversized body", x_feed(A(gzip_bomb(), headers={"Content-Encoding": "gzip"})),
         error=r"size cap|truncated", quarantined=1),
    Case("100k nested objects", "deeply nested JSON", x_feed(A(b'{"data": [' + nested_objects(100_000) + b"]}")),
         error=r"nested", quarantined=1),
    Case("invalid UTF-8 bytes in a page", "invalid UTF-8",
         x_feed(A(b'{"data": [{"id": "1", "text": "caf\xe9 \xff", "created_at": "2025-03-01T10:00:00.000Z"}]}')),
         error=r"not JSON|UTF-8", quarantined=1),
    # -- paging hazards ---------------------------------------------------------------------------------------
    Case("duplicate id across pages", "duplicate / changing item", x_two_pages(A(xpage([tweet(1), tweet(3)]))),
         archived=(tid(1), tid(3))),
    Case("post changes while being paged", "duplicate / changing item",
         x_two_pages(A(xpage([tweet(1, text="edited while paging"), tweet(3)]))), quarantined=1,
         archived=(tid(1), tid(3))),
    Case("same next_token twice", "duplicate / changing item",
         routes(**{TIMELINE: A(xpage([tweet(1)], "samesamesame"))}), error=r"paging loop.*next_token", quarantined=1,
         archived=(tid(1),)),
    Case("same next_token twice in the replies search", "duplicate / changing item",
         routes(**{TIMELINE: A(xpage([tweet(1, public_metrics={"reply_count": 1})])),
                   SEARCH: A(xpage([reply(11, tid(1))], "again"))}),
         error=r"paging loop", quarantined=1, archived=(tid(1), tid(11))),
    Case("next_token is a number", "wrong type", x_feed(A(xpage([tweet(1)], 12345))),
         error=r"next_token that is not a string", quarantined=1, archived=(tid(1),)),
    # -- partial errors, missing fields, wrong types, nulls ----------------------------------------------------
    Case("partial errors[] beside data (HTTP 200)", "errors[] partial errors",
         x_feed(A(xpage([tweet(1)], errors=[{
             "value": "1896980000000000001", "detail": "Could not find tweet with id: [1896980000000000001].",
             "title": "Not Found Error", "resource_type": "tweet", "parameter": "referenced_tweets.id",
             "resource_id": "1896980000000000001", "type": "https://api.twitter.com/2/problems/resource-not-found"}]))),
         archived=(tid(1),), check=partial_error_noted),
    Case("errors[] only: no data, no meta", "errors[] partial errors",
         x_feed(A({"errors": [{"detail": "Could not find user with id: [2244994945].", "title": "Not Found Error",
                               "type": "https://api.twitter.com/2/problems/resource-not-found"}]})),
         error=r"no data list \(Could not find user", quarantined=1),
    Case("post without id", "missing id / time", x_items(tweet(1, id=DROP), tweet(2)), quarantined=1,
         archived=(tid(2),)),
    Case("created_at a number, text an object", "wrong type",
         x_items(tweet(1, created_at=1741111200), tweet(3, text={"a": 1}), tweet(2)), quarantined=2,
         archived=(tid(2),)),
    Case("includes.users a number, includes.media a string", "wrong type",
         x_feed(A({**xpage([tweet(1)]), "includes": {"users": 5, "media": "x"}})), archived=(tid(1),)),
    Case("data is null, no meta", "null data", x_feed(A({"data": None})), error=r"no data list", quarantined=1),
    Case("top level is a list", "null data", x_feed(A([tweet(1)])), error=r"not a JSON object", quarantined=1),
    # -- hostile ids and text -------------------------------------------------------------------------------------
    Case("edit history's first id is ..", "hostile value",
         x_items(tweet(1, edit_history_tweet_ids=["..", tid(1)]), tweet(2)), quarantined=1, archived=(tid(2),)),
    Case("post ids with slashes, control characters, unusual Unicode (replies searched)", "hostile value",
         routes(**{TIMELINE: A(xpage([tweet(HOSTILE_IDS["slashes"], public_metrics={"reply_count": 1}),
                                      tweet(HOSTILE_IDS["control"]), tweet(HOSTILE_IDS["unicode"])]))}),
         archived=(HOSTILE_IDS["slashes"], HOSTILE_IDS["control"], HOSTILE_IDS["unicode"]), check=no_paths_escape),
    Case("text with HTML and script", "hostile value", x_items(tweet(1, text=SCRIPT)), archived=(tid(1),),
         check=script_inert),
    Case("error detail with script", "hostile value",
         x_feed(A({"errors": [{"message": "<script>alert(document.cookie)</script>"}], "title": "Invalid Request",
                   "type": "https://api.twitter.com/2/problems/invalid-request"}, 400)),
         error=r"HTTP 400", quarantined=1, check=script_inert),
]


# ==================================================================================================
# YouTube Data API v3 (§4): channels → uploads playlist, playlistItems, videos?id=, commentThreads, comments

CHANNEL = "UCabc123"
UPLOADS = "UUabc123"
YT_PREFIX = "/yt/v3"


def vid(n: int) -> str:
    return f"dQw4w9WgX{n:02d}"


def video(video_id: str, **over) -> dict:
    snippet = {"publishedAt": "2025-03-04T16:20:11Z", "channelId": CHANNEL, "title": f"video {video_id}",
               "description": "Full recording.", "thumbnails": {}, "channelTitle": "City of Example",
               "categoryId": "25"}
    snippet.update(over.pop("snippet", {}))
    doc = {"kind": "youtube#video", "etag": "v1tag", "id": video_id, "snippet": without_dropped(snippet),
           # commentCount "0" would spare the published comments listing (youtube._no_public_comments)
           "status": {"privacyStatus": "public"}, "statistics": {"viewCount": "10", "commentCount": "3"}}
    doc.update(over)
    return without_dropped(doc)


def entry(video_id) -> dict:
    return {"kind": "youtube#playlistItem", "etag": "p1tag", "id": f"PI{video_id}",
            "snippet": {"publishedAt": "2025-03-04T16:20:11Z", "channelId": CHANNEL, "title": "t",
                        "playlistId": UPLOADS, "position": 0, "resourceId": {"kind": "youtube#video", "videoId": video_id}},
            "contentDetails": {"videoId": video_id, "videoPublishedAt": "2025-03-04T16:20:11Z"},
            "status": {"privacyStatus": "public"}}


def ylist(kind: str, items: list | None, next_token=None, **extra) -> dict:
    doc: dict = {"kind": f"youtube#{kind}ListResponse", "etag": "Xq3bN0aK", "items": items,
                 "pageInfo": {"totalResults": len(items or []), "resultsPerPage": 50}}
    if next_token is not None:
        doc["nextPageToken"] = next_token
    doc.update(extra)
    return doc


def uploads(*video_ids, next_token=None) -> A:
    return A(ylist("playlistItem", [entry(v) for v in video_ids], next_token))


def yt_comment(cid: str, video_id: str, text: str = "Why was item 7 skipped?", parent: str | None = None) -> dict:
    snippet = {"channelId": CHANNEL, "videoId": video_id, "textDisplay": text, "textOriginal": text,
               "authorDisplayName": "@resident_a", "authorChannelId": {"value": "UCres111"}, "canRate": True,
               "viewerRating": "none", "likeCount": 0, "publishedAt": "2025-03-04T17:01:22Z",
               "updatedAt": "2025-03-04T17:01:22Z"}
    if parent:
        snippet["parentId"] = parent
    return {"kind": "youtube#comment", "etag": "c1tag", "id": cid, "snippet": snippet}


def thread(cid: str, video_id: str, text: str = "Why was item 7 skipped?", replies: list | None = None,
           total: int | None = None) -> dict:
    doc = {"kind": "youtube#commentThread", "etag": "t1tag", "id": cid,
           "snippet": {"channelId": CHANNEL, "videoId": video_id, "canReply": True, "isPublic": True,
                       "totalReplyCount": len(replies or []) if total is None else total,
                       "topLevelComment": yt_comment(cid, video_id, text)}}
    if replies:
        doc["replies"] = {"comments": replies}
    return doc


def yt_error(code: int, reason: str, message: str, domain: str = "youtube.api") -> dict:
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason}]}}


QUOTA = yt_error(403, "quotaExceeded", 'The request cannot be completed because you have exceeded your '
                 '<a href="/youtube/v3/getting-started#quota">quota</a>.', "youtube.quota")


def yt_unrouted(path: str, query: dict) -> A:
    """Documented answers for whatever a row does not route: the channel, the videos asked for, no comments."""
    if path.endswith("/channels"):
        return A(ylist("channel", [{"kind": "youtube#channel", "etag": "c", "id": CHANNEL,
                                    "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": UPLOADS}}}]))
    if path.endswith("/videos"):
        return A(ylist("video", [video(i) for i in query.get("id", "").split(",") if i]))
    if path.endswith(("/commentThreads", "/comments")):
        return A(ylist("commentThread" if path.endswith("Threads") else "comment", []))
    return A(yt_error(404, "notFound", "Not Found", "global"), 404)


def yt_uploads(*answers: A, **more) -> Callable[[Stub], dict]:
    return routes(**{"/playlistItems": list(answers), **more})


def yt_two_pages(second: A) -> Callable[[Stub], dict]:
    return routes(**{"/playlistItems": lambda q: uploads(vid(1), next_token="EAAaBlBUOkNBSQ") if "pageToken" not in q
                     else second})


def threads_for(video_id: str, *answers: A) -> Callable[[dict], A]:
    """commentThreads answers for one video's published listing; other listings are empty."""
    answers_left = list(answers)

    def answer(q: dict) -> A:
        if q.get("videoId") != video_id or q.get("moderationStatus"):
            return A(ylist("commentThread", []))
        return answers_left.pop(0) if len(answers_left) > 1 else answers_left[0]
    return answer


def asked_once(video_id: str):
    def check(stub, result, store) -> None:
        asked = [i for q in stub.requests_to("/videos") for i in q.get("id", "").split(",")]
        assert asked.count(video_id) == 1, asked
    return check


def no_comma_lookup(stub, result, store) -> None:
    for q in stub.requests_to("/videos"):
        assert "a" not in q["id"].split(",") and "b" not in q["id"].split(","), q


YT_CASES: list[Case] = [
    # -- 5xx storms, quota, rate limits, credentials ----------------------------------------------------------
    Case("503 storm (HTML), then recovery", "5xx storm / quota", yt_uploads(*[A(HTML_ERROR, 503)] * 3,
                                                                            uploads(vid(1), vid(2))),
         archived=(vid(1), vid(2))),
    Case("backendError 500 storm, never recovers", "5xx storm / quota",
         yt_uploads(A(yt_error(500, "backendError", "Backend Error", "global"), 500)), error=r"backendError",
         quarantined=1),
    Case("rateLimitExceeded 403 twice, then recovery", "5xx storm / quota",
         yt_uploads(*[A(yt_error(403, "rateLimitExceeded", "Rate Limit Exceeded", "youtube.quota"), 403)] * 2,
                    uploads(vid(1))), archived=(vid(1),)),
    Case("quotaExceeded (message with HTML)", "5xx storm / quota", yt_uploads(A(QUOTA, 403)),
         error=r"quota exhausted", quarantined=1, check=script_inert),
    Case("commentThreads backendError storm keeps the video", "5xx storm / quota",
         yt_uploads(uploads(vid(1)), **{"/commentThreads": threads_for(
             vid(1), A(yt_error(503, "backendError", "Backend Error", "global"), 503))}),
         error=r"backendError", quarantined=1, archived=(vid(1),)),
    Case("401 Invalid Credentials", "API error answer",
         yt_uploads(A(yt_error(401, "authError", "Invalid Credentials", "global"), 401)),
         error=r"credentials rejected", quarantined=1),
    Case("commentsDisabled is no error", "API error answer",
         yt_uploads(uploads(vid(1)), **{"/commentThreads": threads_for(vid(1), A(yt_error(
             403, "commentsDisabled", "The video identified by the <code>videoId</code> parameter has disabled "
             "comments."), 403))}), archived=(vid(1),)),
    # -- timeouts, truncation, bodies --------------------------------------------------------------------------
    Case("timeout before headers", "timeout", yt_uploads(A(ylist("playlistItem", []), hang=3.0)),
         error=r"failed: .*Timeout", quarantined=1),
    Case("timeout once, then recovery", "timeout", yt_uploads(A(ylist("playlistItem", []), hang=3.0), uploads(vid(1))),
         archived=(vid(1),)),
    Case("Content-Length larger than sent", "truncated body", yt_uploads(A(uploads(vid(1)).body, length=50_000)),
         error=r"truncated", quarantined=1),
    Case("page 2 truncated keeps page 1", "truncated body", yt_two_pages(A(uploads(vid(2)).body, cut=30)),
         error=r"truncated", quarantined=1, archived=(vid(1),)),
    Case("invalid JSON", "invalid JSON", yt_uploads(A(b'{"items": [{"id": "1",}')), error=r"not JSON",
         quarantined=1),
    Case("HTML page with 200", "wrong content type", yt_uploads(A(HTML_ERROR, 200)), error=r"not JSON.*text/html",
         quarantined=1),
    Case("gzip bomb over the size cap", "oversized body",
         yt_uploads(A(gzip_bomb(b'{"items": [%s]}'), headers={"Content-Encoding": "gzip"})),
         error=r"size cap|truncated", quarantined=1),
    Case("100k nested arrays in /videos", "deeply nested JSON",
         yt_uploads(uploads(vid(1)), **{"/videos": A(nested(100_000))}), error=r"nested", quarantined=1),
    Case("invalid UTF-8 bytes in a page", "invalid UTF-8",
         yt_uploads(A(b'{"kind": "youtube#playlistItemListResponse", "items": [{"id": "caf\xe9 \xff"}]}')),
         error=r"not JSON|UTF-8", quarantined=1),
    # -- paging hazards --------------------------------------------------------------------------------------------
    Case("duplicate video across playlist pages", "duplicate / changing item",
         yt_two_pages(uploads(vid(1), vid(3))), archived=(vid(1), vid(3)), check=asked_once(vid(1))),
    Case("comment changes while being paged", "duplicate / changing item",
         yt_uploads(uploads(vid(1)), **{"/commentThreads": lambda q: A(ylist("commentThread", [])) if (
             q.get("moderationStatus")) else A(ylist("commentThread", [thread("Ugz1", vid(1))], "p2")) if (
             "pageToken" not in q) else A(ylist("commentThread", [thread("Ugz1", vid(1), "edited while paging"),
                                                                  thread("Ugz2", vid(1))]))}),
         quarantined=1, archived=("Ugz1", "Ugz2")),
    Case("same nextPageToken twice (uploads)", "duplicate / changing item",
         yt_uploads(uploads(vid(1), next_token="EAAaBlBUOkNBSQ")), error=r"paging loop.*nextPageToken",
         quarantined=1, archived=(vid(1),)),
    Case("same nextPageToken twice (replies)", "duplicate / changing item",
         yt_uploads(uploads(vid(1)), **{
             "/commentThreads": threads_for(vid(1), A(ylist("commentThread", [thread("Ugz1", vid(1), total=5)]))),
             "/comments": A(ylist("comment", [yt_comment("Ugz1.r1", vid(1), "reply", "Ugz1")], "again"))}),
         error=r"paging loop", quarantined=1, archived=(vid(1), "Ugz1", "Ugz1.r1")),
    Case("nextPageToken is a number", "wrong type", yt_uploads(uploads(vid(1), next_token=12345)),
         error=r"nextPageToken that is not a string", quarantined=1, archived=(vid(1),)),
    # -- absent items, missing fields, wrong types, nulls -------------------------------------------------------
    Case("listed video absent from /videos (deleted in between)", "absent items",
         yt_uploads(uploads(vid(1), vid(2)), **{"/videos": A(ylist("video", [video(vid(2))]))}),
         archived=(vid(2),), absent=(vid(1),)),
    Case("channel not found (no items)", "absent items", routes(**{"/channels": A(ylist("channel", []))}),
         error=r"channel UCabc123 not found", quarantined=1),
    Case("video without publishedAt, id a number", "missing id / time",
         yt_uploads(uploads(vid(1), vid(2), vid(3)), **{"/videos": A(ylist("video", [
             video(vid(1), snippet={"publishedAt": DROP}), video(vid(3), id=12345), video(vid(2))]))}),
         quarantined=2, archived=(vid(2),)),
    Case("playlist entries without a usable video id (none, comma)", "missing id / time",
         yt_uploads(A(ylist("playlistItem", [{"kind": "youtube#playlistItem", "id": "x"}, entry("a,b"),
                                             entry(vid(2))]))),
         quarantined=2, archived=(vid(2),), check=no_comma_lookup),
    Case("items is null", "null data", yt_uploads(A({"items": None})), error=r"no items list", quarantined=1),
    Case("error reason is a list", "wrong type",
         yt_uploads(A({"error": {"code": 400, "message": "odd", "errors": [{"reason": ["quotaExceeded"]}]}}, 400)),
         error=r"HTTP 400", quarantined=1),
    # -- hostile ids and text ----------------------------------------------------------------------------------------
    Case("video ids with slashes, control characters, unusual Unicode", "hostile value",
         yt_uploads(uploads(HOSTILE_IDS["slashes"], HOSTILE_IDS["control"], HOSTILE_IDS["unicode"])),
         archived=(HOSTILE_IDS["slashes"], HOSTILE_IDS["control"], HOSTILE_IDS["unicode"]), check=no_paths_escape),
    Case("video id is ..", "hostile value", yt_uploads(uploads("..", vid(2))), quarantined=1, archived=(vid(2),)),
    Case("comment with HTML and script", "hostile value",
         yt_uploads(uploads(vid(1)), **{"/commentThreads": threads_for(
             vid(1), A(ylist("commentThread", [thread("Ugz1", vid(1), SCRIPT)])))}),
         archived=("Ugz1",), check=script_inert),
]


# ==================================================================================================

SLEEPS: list[float] = []

PLATFORMS = {
    "instagram": (IG_PREFIX, ig_unrouted, IG, "EAABhostileigtoken0123456789", IG_CASES),
    "x": (X_PREFIX, x_unrouted, USER, "AAAAhostilexbearer0123456789", X_CASES),
    "youtube": (YT_PREFIX, yt_unrouted, CHANNEL, "ya29.hostileyoutubetoken0123", YT_CASES),
}
SOURCES = (instagram.InstagramSource, x.XSource, youtube.YouTubeSource)
ROWS = [(platform, case) for platform, spec in PLATFORMS.items() for case in spec[4]]


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    """No real waiting: backoffs and rate-limit waits are recorded in SLEEPS instead."""
    SLEEPS.clear()
    # sources/base.py: every connector's waits; x.py also reads the clock for its rate-limit windows
    for module in (base, x):
        monkeypatch.setattr(module, "time", SimpleNamespace(sleep=SLEEPS.append, time=time.time))
    for source in SOURCES:
        monkeypatch.setattr(source, "backoff_seconds", 0.0)


def city(platform: str, stub: Stub, archive: str, monkeypatch) -> cfg.CityConfig:
    _, _, handle, token, _ = PLATFORMS[platform]
    monkeypatch.setenv("HOSTILE_TOKEN", token)
    return cfg.parse({"city": "City of Example", "jurisdiction": "MO", "archive": archive, "accounts": [
        {"id": f"city-{platform}", "platform": platform, "handle": handle, "credentials": "env:HOSTILE_TOKEN",
         "api_base_url": stub.base}]})


@pytest.mark.parametrize("platform,case", ROWS, ids=[f"{p}-{c.name}" for p, c in ROWS])
def test_hostile(platform: str, case: Case, tmp_path, monkeypatch):
    prefix, unrouted, *_ = PLATFORMS[platform]
    stub = Stub(prefix, unrouted)
    try:
        store = LocalStore(tmp_path / "archive")
        run_case(case, stub, store, city(platform, stub, store.uri, monkeypatch))
    finally:
        stub.close()


def test_enough_cases():
    for platform, spec in PLATFORMS.items():
        assert len(spec[4]) >= 15, platform
