"""The fake platform APIs, exercised with plain `requests` the way a real client would use them.

Reference: /work/shared/reference/platform-apis.md ("ref").
"""

from __future__ import annotations

import base64
import time
import tracemalloc
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from civic_archive.fakes import FakePlatforms, World

PARKS = "104735998765432"


@pytest.fixture
def world():
    return World.demo()


@pytest.fixture
def fakes(world):
    with FakePlatforms(world) as f:
        yield f


@pytest.fixture
def env(fakes):
    return fakes.city_config(archive="file:///tmp/archive", city="City of Example", jurisdiction="MO")[1]


def fb(fakes, path, token, **params):
    params.setdefault("access_token", token)
    return requests.get(fakes.base_url("facebook") + path, params=params, timeout=10)


def follow(first_url, params=None, key="next", headers=None):
    """Follow paging.next verbatim until it is absent; -> list of page bodies."""
    pages = []
    r = requests.get(first_url, params=params, headers=headers, timeout=10)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        nxt = body.get("paging", {}).get(key)
        if not nxt:
            return pages
        r = requests.get(nxt, headers=headers, timeout=10)


def live_posts(world, account_id, pred=lambda it: True):
    seq = world.posts(account_id)
    out = []
    for p in range(len(seq)):
        it = seq.item_at(p)
        if it is not None and not world.is_gone(it) and pred(it):
            out.append(it)
    return out


# ----------------------------------------------------------------------------------------------------
# interface


def test_city_config_and_demo_accounts(fakes, world):
    config, env = fakes.city_config(archive="file:///tmp/archive", city="City of Example", jurisdiction="MO")
    assert config["city"] == "City of Example" and config["jurisdiction"] == "MO"
    assert config["archive"] == "file:///tmp/archive"
    ids = [a["id"] for a in config["accounts"]]
    assert ids == ["parks-facebook", "mayor-facebook", "police-facebook", "city-instagram", "city-x", "city-youtube"]
    parks = config["accounts"][0]
    assert parks == {"id": "parks-facebook", "platform": "facebook", "handle": PARKS,
                     "api_base_url": fakes.base_url("facebook"), "credentials": "env:DEMO_PARKS_FB_TOKEN",
                     "role": "department"}
    assert fakes.base_url("facebook").endswith("/facebook/v21.0")
    assert fakes.base_url("instagram").endswith("/instagram/v21.0")
    assert fakes.base_url("x").endswith("/x/2")
    assert fakes.base_url("youtube").endswith("/youtube/v3")
    assert {a["role"] for a in config["accounts"] if a["id"] == "mayor-facebook"} == {"elected_official"}
    assert set(env) == {"DEMO_PARKS_FB_TOKEN", "DEMO_MAYOR_FB_TOKEN", "DEMO_POLICE_FB_TOKEN", "DEMO_CITY_IG_TOKEN",
                        "DEMO_CITY_X_TOKEN", "DEMO_CITY_YT_TOKEN"}
    for a in config["accounts"]:
        assert a["credentials"].startswith("env:")


def test_demo_is_deterministic():
    a, b = World.demo(), World.demo()
    for acct in a.accounts:
        ia = [(i.id, i.text, i.created) for i in live_posts(a, acct.id)]
        ib = [(i.id, i.text, i.created) for i in live_posts(b, acct.id)]
        assert ia == ib and len(ia) >= 14
    a.next_night(), b.next_night()
    assert a.log == b.log


# ----------------------------------------------------------------------------------------------------
# Facebook


def test_fb_feed_pages_to_the_end_following_next_verbatim(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    fields = "id,message,created_time,updated_time,permalink_url,is_hidden,attachments{media_type,url,media}"
    pages = follow(fakes.base_url("facebook") + f"/{PARKS}/feed",
                   {"access_token": token, "fields": fields, "limit": 7})
    got = [p["id"] for page in pages for p in page["data"]]
    expected = [it.id for it in live_posts(world, "parks-facebook")]
    assert got == expected and len(got) > 20
    assert "next" not in pages[-1].get("paging", {})
    # every next link: absolute, on the fake, repeating every parameter incl. access_token (ref 0.1, 0.2)
    nxt = pages[0]["paging"]["next"]
    assert nxt.startswith(fakes.base_url("facebook") + f"/{PARKS}/feed?access_token=")
    q = parse_qs(urlsplit(nxt).query)
    assert q["access_token"] == [token] and q["fields"] == [fields] and q["limit"] == ["7"] and "after" in q
    cursors = pages[0]["paging"]["cursors"]
    base64.b64decode(cursors["after"] + "==")  # opaque base64
    # calls counted
    assert sum(1 for m, path, _ in fakes.requests_seen if path.endswith("/feed")) == len(pages)


def test_fb_fields_filtering_and_nested_fields(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    r = fb(fakes, f"/{PARKS}/feed", token, fields="id,from{name},attachments{media{image{src}}}", limit=100)
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
    data = r.json()["data"]
    for post in data:
        assert set(post) <= {"id", "from", "attachments"}
        assert set(post["from"]) == {"name", "id"}  # Graph adds the node id
    with_att = [p for p in data if "attachments" in p]
    assert with_att
    for p in with_att:
        for a in p["attachments"]["data"]:
            assert set(a) == {"media"} and set(a["media"]) == {"image"} and set(a["media"]["image"]) == {"src"}
    # default fields when none are asked for
    r = fb(fakes, f"/{PARKS}/feed", token, limit=2)
    assert set(r.json()["data"][0]) == {"created_time", "message", "id"}
    # a single post with comments summary field expansion (ref 1.2)
    post = live_posts(world, "parks-facebook", lambda it: len(world.comments(it.id)) > 2)[0]
    r = fb(fakes, f"/{post.id}", token, fields="id,comments.filter(stream).summary(true).limit(0)")
    body = r.json()
    assert body["comments"]["data"] == []
    assert body["comments"]["summary"] == {"order": "chronological", "can_comment": True,
                                           "total_count": len([c for c in world.comments(post.id)
                                                               if not world.is_gone(c)])}
    # unknown and deprecated fields are errors, as JSON with status 400
    r = fb(fakes, f"/{post.id}", token, fields="id,bogus")
    assert r.status_code == 400 and r.json()["error"]["code"] == 100 and "bogus" in r.json()["error"]["message"]
    r = fb(fakes, f"/{PARKS}/feed", token, fields="id,type")
    assert r.status_code == 400 and r.json()["error"]["code"] == 12


def test_fb_limit_over_100_is_an_error(fakes, env):
    r = fb(fakes, f"/{PARKS}/feed", env["DEMO_PARKS_FB_TOKEN"], limit=101)
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert r.json()["error"]["code"] == 100 and r.json()["error"]["type"] == "OAuthException"


def test_fb_comments_stream_with_replies_order_and_summary(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    post = next(p for p in live_posts(world, "parks-facebook")
                if any(c.parent_id for c in world.comments(p.id)))
    fields = "id,message,created_time,from,parent{id},is_hidden,can_hide,comment_count,permalink_url"
    pages = follow(fakes.base_url("facebook") + f"/{post.id}/comments",
                   {"access_token": token, "filter": "stream", "order": "chronological", "summary": "true",
                    "fields": fields, "limit": 2})
    got = [c for page in pages for c in page["data"]]
    live = [c for c in world.comments(post.id) if not world.is_gone(c)]
    assert [c["id"] for c in got] == [c.id for c in live]
    replies = [c for c in got if "parent" in c]
    assert replies and all(set(c["parent"]) == {"id"} for c in replies)
    assert all("reply_comment_id=" in c["permalink_url"] for c in replies)
    assert all(set(c["from"]) == {"name", "id"} for c in got)
    assert pages[0]["summary"]["total_count"] == len(live)
    assert "paging" not in pages[-1] or "next" not in pages[-1]["paging"]
    # toplevel (default filter) has no replies; /{comment}/comments lists them
    top = fb(fakes, f"/{post.id}/comments", token, fields="id,parent", limit=100).json()["data"]
    assert all("parent" not in c for c in top)
    parent_id = replies[0]["parent"]["id"]
    sub = fb(fakes, f"/{parent_id}/comments", token, fields="id,parent{id}").json()["data"]
    assert sub and all(c["parent"]["id"] == parent_id for c in sub)
    # reverse order
    rev = fb(fakes, f"/{post.id}/comments", token, filter="stream", order="reverse_chronological",
             limit=100, fields="id").json()["data"]
    assert [c["id"] for c in rev] == [c.id for c in reversed(live)]


def test_fb_demo_content_unicode_script_hidden_and_edited(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    comments = []
    for post in live_posts(world, "parks-facebook"):
        comments += fb(fakes, f"/{post.id}/comments", token, filter="stream", limit=100,
                       fields="id,message,is_hidden").json().get("data", [])
    messages = [c["message"] for c in comments]
    assert "<script>alert(1)</script>" in messages
    assert any("🌳" in m or "谢谢" in m or "شكرا" in m for m in messages)
    assert any(c["is_hidden"] for c in comments)
    posts = fb(fakes, f"/{PARKS}/feed", token, fields="id,created_time,updated_time", limit=100).json()["data"]
    assert any(p["updated_time"] > p["created_time"] for p in posts)


def test_fb_delete_then_direct_lookup_is_100_33(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    post = live_posts(world, "parks-facebook")[2]
    assert fb(fakes, f"/{post.id}", token).status_code == 200
    world.delete(post.id)
    r = fb(fakes, f"/{post.id}", token, fields="id,message")
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
    err = r.json()["error"]
    assert err["code"] == 100 and err["error_subcode"] == 33 and err["type"] == "GraphMethodException"
    assert f"Object with ID '{post.id}' does not exist" in err["message"] and err["fbtrace_id"]
    ids = [p["id"] for p in fb(fakes, f"/{PARKS}/feed", token, limit=100).json()["data"]]
    assert post.id not in ids
    # a deleted comment too, and its summary count drops
    post2 = next(p for p in live_posts(world, "parks-facebook") if len(world.comments(p.id)) >= 2)
    before = fb(fakes, f"/{post2.id}/comments", token, filter="stream", summary="true").json()["summary"]
    victim = next(c for c in world.comments(post2.id) if not world.is_gone(c))
    world.delete(victim.id)
    after = fb(fakes, f"/{post2.id}/comments", token, filter="stream", summary="true").json()["summary"]
    assert after["total_count"] < before["total_count"]
    assert fb(fakes, f"/{victim.id}", token).json()["error"]["error_subcode"] == 33


def test_fb_hide_unhide_and_edit(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    post = next(p for p in live_posts(world, "parks-facebook") if world.comments(p.id))
    comment = next(c for c in world.comments(post.id) if not c.hidden and not world.is_gone(c))
    world.hide(comment.id)
    assert fb(fakes, f"/{comment.id}", token, fields="is_hidden").json() == {"is_hidden": True, "id": comment.id}
    world.unhide(comment.id)
    assert fb(fakes, f"/{comment.id}", token, fields="is_hidden").json() == {"is_hidden": False, "id": comment.id}
    world.hide(post.id)
    assert fb(fakes, f"/{post.id}", token, fields="is_hidden").json()["is_hidden"] is True
    before = fb(fakes, f"/{post.id}", token, fields="message,updated_time").json()
    world.next_night()
    world.edit(post.id, "Edited text ✏️")
    after = fb(fakes, f"/{post.id}", token, fields="message,updated_time,created_time").json()
    assert after["message"] == "Edited text ✏️" and after["updated_time"] > before["updated_time"]
    assert after["updated_time"] > after["created_time"]


def test_fb_empty_page_that_still_has_next(fakes, world, env):
    """police-facebook: an empty page carrying `next`, and short pages (privacy-filtered posts), ref 1.4."""
    token = env["DEMO_POLICE_FB_TOKEN"]
    handle = world.account("police-facebook").handle
    pages = follow(fakes.base_url("facebook") + f"/{handle}/feed", {"access_token": token, "limit": 5})
    assert any(p["data"] == [] and "next" in p.get("paging", {}) for p in pages)
    assert any(0 < len(p["data"]) < 5 and "next" in p["paging"] for p in pages)  # short page, not the end
    got = [p["id"] for page in pages for p in page["data"]]
    assert got == [it.id for it in live_posts(world, "police-facebook", lambda it: not it.restricted)]
    fakes.faults.empty_page_with_next("police-facebook", False)
    pages = follow(fakes.base_url("facebook") + f"/{handle}/feed", {"access_token": token, "limit": 5})
    assert not any(p["data"] == [] for p in pages)


def test_fb_stale_cursor(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    r = fb(fakes, f"/{PARKS}/feed", token, limit=3)
    nxt = r.json()["paging"]["next"]
    last_id = r.json()["data"][-1]["id"]
    world.delete(last_id)  # the item the cursor points at
    r = requests.get(nxt, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == 2642
    fakes.faults.stale_cursor = "empty"
    r = requests.get(nxt, timeout=10)
    assert r.status_code == 200 and r.json() == {"data": []}
    r = fb(fakes, f"/{PARKS}/feed", token, after="garbage")
    assert r.status_code == 400 and "error" in r.json()


def test_fb_posts_edge_time_paging_and_visitor_posts(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    pages = follow(fakes.base_url("facebook") + f"/{PARKS}/posts", {"access_token": token, "limit": 10})
    got = [p["id"] for page in pages for p in page["data"]]
    assert got == [it.id for it in live_posts(world, "parks-facebook", lambda it: not it.visitor)]
    first = pages[0]["paging"]
    assert "cursors" not in first
    q = parse_qs(urlsplit(first["next"]).query)
    assert "until" in q and "__paging_token" in q and q["access_token"] == [token]
    feed_ids = [p["id"] for p in fb(fakes, f"/{PARKS}/feed", token, limit=100).json()["data"]]
    visitor = [it.id for it in live_posts(world, "parks-facebook", lambda it: it.visitor)]
    assert visitor and set(visitor) <= set(feed_ids) and not set(visitor) & set(got)
    pub = fb(fakes, f"/{PARKS}/published_posts", token, limit=100).json()["data"]
    assert not set(visitor) & {p["id"] for p in pub}


def test_fb_since_until(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    posts = live_posts(world, "parks-facebook")
    since = posts[5].created
    until = posts[1].created
    data = fb(fakes, f"/{PARKS}/feed", token, since=since, until=until, limit=100,
              fields="id,created_time").json()["data"]
    assert [p["id"] for p in data] == [it.id for it in posts[1:6]]


def test_fb_auth_errors_and_token_expiry(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    r = requests.get(fakes.base_url("facebook") + f"/{PARKS}/feed", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == 104
    r = fb(fakes, f"/{PARKS}/feed", "EAABnotatoken")
    assert r.status_code == 400 and r.json()["error"]["code"] == 190
    # Authorization: Bearer works too; appsecret_proof is accepted
    r = requests.get(fakes.base_url("facebook") + f"/{PARKS}", headers={"Authorization": f"Bearer {token}"},
                     params={"appsecret_proof": "ab" * 32}, timeout=10)
    assert r.json() == {"name": "Example City Parks & Recreation", "id": PARKS}
    fakes.faults.expire_token("parks-facebook")
    r = fb(fakes, f"/{PARKS}/feed", token)
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/json; charset=UTF-8"
    err = r.json()["error"]
    assert (err["code"], err["error_subcode"], err["type"]) == (190, 463, "OAuthException")
    assert err["message"].startswith("Error validating access token: Session has expired on")
    assert fb(fakes, f"/{PARKS}/feed", env["DEMO_MAYOR_FB_TOKEN"]).status_code == 200  # other tokens still fine
    fakes.faults.clear()
    assert fb(fakes, f"/{PARKS}/feed", token).status_code == 200


def test_fb_usage_headers_grow_and_throttle(fakes, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    import json

    seen = []
    for _ in range(60):
        r = fb(fakes, f"/{PARKS}", token)
        buc = json.loads(r.headers["X-Business-Use-Case-Usage"])[PARKS][0]
        seen.append((json.loads(r.headers["X-App-Usage"])["call_count"], buc["call_count"]))
        assert buc["type"] == "pages"
    assert seen == sorted(seen) and seen[-1][0] > seen[0][0] and seen[-1][1] > seen[0][1]
    fakes.faults.throttle_after("facebook", 2, reset_after=1.0)
    assert fb(fakes, f"/{PARKS}", token).status_code == 200
    assert fb(fakes, f"/{PARKS}", token).status_code == 200
    r = fb(fakes, f"/{PARKS}", token)
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/json; charset=UTF-8"
    err = r.json()["error"]
    assert err["code"] == 4 and err["is_transient"] is True and err["message"] == "(#4) Application request limit reached"
    assert json.loads(r.headers["X-App-Usage"])["call_count"] == 100
    time.sleep(1.1)
    assert fb(fakes, f"/{PARKS}", token).status_code == 200
    fakes.faults.throttle_after("facebook", 0, code=32, reset_after=None)
    err = fb(fakes, f"/{PARKS}", token).json()["error"]
    assert err["code"] == 32 and err["is_transient"] is True
    fakes.faults.clear()
    assert fb(fakes, f"/{PARKS}", token).status_code == 200


def test_fb_media_served_by_the_fake(fakes, world, env):
    token = env["DEMO_PARKS_FB_TOKEN"]
    data = fb(fakes, f"/{PARKS}/feed", token, fields="id,attachments", limit=100).json()["data"]
    srcs, videos = [], []
    for p in data:
        for a in p.get("attachments", {}).get("data", []):
            subs = a.get("subattachments", {}).get("data", [a])
            srcs += [s["media"]["image"]["src"] for s in subs]
            if a["media_type"] == "video":
                videos.append(a["media"]["source"])
    assert srcs and all(s.startswith(fakes.root + "/cdn/") for s in srcs)
    kinds = set()
    for s in srcs:
        r = requests.get(s, timeout=10)
        assert r.status_code == 200
        if r.content.startswith(b"\x89PNG\r\n\x1a\n"):
            kinds.add("png")
        else:
            assert r.content.startswith(b"\xff\xd8") and r.content.endswith(b"\xff\xd9")
            kinds.add("jpeg")
    assert kinds == {"png", "jpeg"}
    assert len(videos) == 1
    h = requests.head(videos[0], timeout=10)
    assert h.headers["Content-Type"] == "video/mp4" and int(h.headers["Content-Length"]) > 100 * 1024 * 1024
    r = requests.get(videos[0], headers={"Range": "bytes=0-31"}, timeout=10)
    assert r.status_code == 206 and r.content[4:8] == b"ftyp"


def test_fb_album_attachment_has_an_id_of_its_own(fakes, world, env):
    """ref 1.2: a multi-photo post's attachment is `type: album` whose target is the post's photo set
    (`pcb.<post>`), an id of its own; each subattachment targets its photo. The cover is the first photo."""
    token = env["DEMO_PARKS_FB_TOKEN"]
    data = fb(fakes, f"/{PARKS}/feed", token, fields="id,attachments", limit=100).json()["data"]
    albums = [(p, a) for p in data for a in p.get("attachments", {}).get("data", []) if a["type"] == "album"]
    assert albums
    for post, album in albums:
        suffix = post["id"].split("_", 1)[1]
        photos = album["subattachments"]["data"]
        assert len(photos) > 1 and {s["type"] for s in photos} == {"photo"}
        assert album["target"] == {"id": suffix, "url": f"https://www.facebook.com/media/set/?set=pcb.{suffix}&type=1"}
        ids = [album["target"]["id"]] + [s["target"]["id"] for s in photos]
        assert len(set(ids)) == len(ids), ids
        assert album["media"] == photos[0]["media"]


def test_next_night_shows_every_status(fakes, world, env):
    done = world.next_night()
    assert done["new"] and done["edited"] and done["hidden"] and done["deleted"]
    platforms = {world.get(i).platform for i in done["deleted"]}
    assert platforms == {"facebook", "instagram", "x", "youtube"}
    token = env["DEMO_PARKS_FB_TOKEN"]
    deleted_fb = [i for i in done["deleted"] if world.get(i).platform == "facebook"]
    for i in deleted_fb:
        assert fb(fakes, f"/{i}", token).json()["error"]["error_subcode"] == 33


def test_fb_synthetic_million_pages_cheaply():
    tracemalloc.start()
    w = World.synthetic("facebook", 1_000_000, seed=3, comments_per_post=4)
    with FakePlatforms(w) as fakes:
        config, env = fakes.city_config()
        acct = config["accounts"][0]
        token = env[acct["credentials"][4:]]
        t = time.time()
        url = acct["api_base_url"] + f"/{acct['handle']}/feed"
        r = requests.get(url, params={"access_token": token, "limit": 100, "fields": "id,created_time,comments.summary(true).limit(0)"},
                         timeout=10)
        ids = []
        for _ in range(5):
            body = r.json()
            ids += [p["id"] for p in body["data"]]
            r = requests.get(body["paging"]["next"], timeout=10)
        assert len(ids) == len(set(ids)) == 500
        assert time.time() - t < 5
        # a post deep in the account, its comments, and a mutation stored as an override
        deep = w.posts(w.accounts[0]).id_at(999_999)
        assert requests.get(acct["api_base_url"] + f"/{deep}", params={"access_token": token}, timeout=10).status_code == 200
        comments = requests.get(acct["api_base_url"] + f"/{deep}/comments",
                                params={"access_token": token, "filter": "stream"}, timeout=10).json()["data"]
        assert len(comments) == 4
        w.delete(deep)
        assert requests.get(acct["api_base_url"] + f"/{deep}", params={"access_token": token},
                            timeout=10).json()["error"]["error_subcode"] == 33
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # no list of a million items


# ----------------------------------------------------------------------------------------------------
# Instagram

IG = "17841406338772941"


def ig(fakes, path, token, **params):
    params.setdefault("access_token", token)
    return requests.get(fakes.base_url("instagram") + path, params=params, timeout=10)


def test_ig_media_paging_fields_children_and_timestamp(fakes, world, env):
    token = env["DEMO_CITY_IG_TOKEN"]
    fields = "id,caption,comments_count,like_count,media_type,media_product_type,media_url,permalink,timestamp,username"
    pages = follow(fakes.base_url("instagram") + f"/{IG}/media", {"access_token": token, "fields": fields, "limit": 5})
    media = [m for p in pages for m in p["data"]]
    assert [m["id"] for m in media] == [it.id for it in live_posts(world, "city-instagram")]
    assert all(set(m) <= set(fields.split(",")) for m in media)
    import re

    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", m["timestamp"]) for m in media)  # ref 2.1
    assert {m["media_type"] for m in media} == {"IMAGE", "VIDEO", "CAROUSEL_ALBUM"}
    assert pages[0]["paging"]["next"].startswith(fakes.base_url("instagram"))
    assert "access_token=" in pages[0]["paging"]["next"]
    default = ig(fakes, f"/{IG}/media", token, limit=1).json()["data"][0]
    assert set(default) == {"id"}
    album = next(m for m in media if m["media_type"] == "CAROUSEL_ALBUM")
    kids = ig(fakes, f"/{album['id']}/children", token, fields="id,media_type,media_url").json()["data"]
    assert len(kids) == 3 and all(k["media_type"] == "IMAGE" for k in kids)
    assert requests.get(kids[0]["media_url"], timeout=10).content.startswith(b"\xff\xd8")
    one = ig(fakes, f"/{kids[0]['id']}", token, fields="id,media_type").json()
    assert one == {"id": kids[0]["id"], "media_type": "IMAGE"}
    nested = ig(fakes, f"/{album['id']}", token, fields="children{media_url}").json()
    assert len(nested["children"]["data"]) == 3 and set(nested["children"]["data"][0]) == {"media_url", "id"}
    r = ig(fakes, f"/{IG}", token, fields="username")
    assert r.json() == {"username": "cityofexample", "id": IG}
    assert '"type":"instagram"' in r.headers["X-Business-Use-Case-Usage"]


def test_ig_comments_replies_hidden_and_paging_shapes(fakes, world, env):
    token = env["DEMO_CITY_IG_TOKEN"]
    acct = world.account("city-instagram")
    quirk = next(q.split(":", 1)[1] for q in acct.quirks if q.startswith("empty_comments:"))
    media = next(m for m in live_posts(world, "city-instagram")
                 if m.id != quirk and sum(1 for c in world.comments(m.id) if c.parent_id is None) >= 3
                 and any(c.parent_id for c in world.comments(m.id)))
    fields = "id,text,timestamp,username,like_count,hidden,from,replies{id,text,timestamp,username,hidden,parent_id}"
    pages = follow(fakes.base_url("instagram") + f"/{media.id}/comments",
                   {"access_token": token, "fields": fields, "limit": 2})
    # page 1: only cursors.after + next; last page: no paging key at all (ref 2.2)
    assert set(pages[0]["paging"]) == {"cursors", "next"} and set(pages[0]["paging"]["cursors"]) == {"after"}
    assert "paging" not in pages[-1]
    got = [c for p in pages for c in p["data"]]
    tops = [c for c in world.comments(media.id) if c.parent_id is None and not world.is_gone(c)]
    assert [c["id"] for c in got] == [c.id for c in reversed(tops)]  # newest first
    with_replies = [c for c in got if "replies" in c]
    assert with_replies and all(r["parent_id"] == c["id"] for c in with_replies for r in c["replies"]["data"])
    reply_list = ig(fakes, f"/{with_replies[0]['id']}/replies", token, fields="id,text,parent_id").json()["data"]
    assert [r["id"] for r in reply_list] == [r["id"] for r in with_replies[0]["replies"]["data"]]
    # hide -> `hidden`, both by direct lookup and in the listing; the listing switch drops it
    target = got[0]["id"]
    world.hide(target)
    assert ig(fakes, f"/{target}", token, fields="hidden").json() == {"hidden": True, "id": target}
    listed = ig(fakes, f"/{media.id}/comments", token, fields="id,hidden", limit=50).json()["data"]
    assert {"id": target, "hidden": True} in listed
    fakes.faults.ig_hidden_in_listings = False
    listed = ig(fakes, f"/{media.id}/comments", token, fields="id,hidden", limit=50).json()["data"]
    assert target not in [c["id"] for c in listed]
    # the observed quirk: empty data + cursors, no next, although comments_count > 0 (ref 2.2)
    count = ig(fakes, f"/{quirk}", token, fields="comments_count").json()["comments_count"]
    body = ig(fakes, f"/{quirk}/comments", token).json()
    assert count > 0 and body["data"] == [] and "cursors" in body["paging"] and "next" not in body["paging"]
    fakes.faults.instagram_empty_comments(quirk, False)
    assert ig(fakes, f"/{quirk}/comments", token).json()["data"]


def test_ig_delete_edit_and_errors(fakes, world, env):
    token = env["DEMO_CITY_IG_TOKEN"]
    media = live_posts(world, "city-instagram")
    victim = media[1]
    comment = next(c for m in media for c in world.comments(m.id) if c.parent_id is None and world.replies(c.id)
                   and not world.is_gone(c))
    world.delete(victim.id)
    r = ig(fakes, f"/{victim.id}", token, fields="id")
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/json; charset=UTF-8"
    err = r.json()["error"]
    assert (err["code"], err["error_subcode"], err["type"]) == (100, 33, "IGApiException")
    assert victim.id not in [m["id"] for m in ig(fakes, f"/{IG}/media", token, limit=100).json()["data"]]
    # a deleted comment takes its replies with it ("cannot get replies to a comment that has been deleted")
    before = ig(fakes, f"/{comment.post_id}", token, fields="comments_count").json()["comments_count"]
    world.delete(comment.id)
    assert ig(fakes, f"/{comment.id}/replies", token).json()["error"]["error_subcode"] == 33
    after = ig(fakes, f"/{comment.post_id}", token, fields="comments_count").json()["comments_count"]
    assert after < before - 1
    world.edit(media[0].id, "New caption ✨")
    assert ig(fakes, f"/{media[0].id}", token, fields="caption").json()["caption"] == "New caption ✨"
    fakes.faults.expire_token("city-instagram")
    err = ig(fakes, f"/{IG}/media", token).json()["error"]
    assert (err["code"], err["error_subcode"]) == (190, 463)
    fakes.faults.clear()
    fakes.faults.throttle_after("instagram", 0)
    r = ig(fakes, f"/{IG}/media", token)
    assert r.status_code == 400 and r.json()["error"]["code"] == 4 and r.json()["error"]["is_transient"]


# ----------------------------------------------------------------------------------------------------
# X

XUSER = "1463372101405069312"


def xget(fakes, path, token, **params):
    return requests.get(fakes.base_url("x") + path, params=params, headers={"Authorization": f"Bearer {token}"},
                        timeout=10)


def x_all(fakes, path, token, token_param="pagination_token", **params):
    pages, tok = [], None
    while True:
        p = dict(params)
        if tok:
            p[token_param] = tok
        r = xget(fakes, path, token, **p)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        tok = r.json()["meta"].get("next_token")
        if not tok:
            return pages


def test_x_timeline_paging_fields_expansions_and_headers(fakes, world, env):
    token = env["DEMO_CITY_X_TOKEN"]
    r = xget(fakes, f"/users/{XUSER}/tweets", token)
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    for h in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
        assert r.headers[h].isdigit()
    assert len(r.json()["data"]) == 10  # default page size
    assert set(r.json()["data"][0]) == {"id", "text", "edit_history_tweet_ids"}  # default fields
    pages = x_all(fakes, f"/users/{XUSER}/tweets", token, max_results=7,
                  **{"tweet.fields": "created_at,conversation_id,author_id,referenced_tweets,in_reply_to_user_id,"
                                     "attachments,public_metrics,edit_history_tweet_ids",
                     "expansions": "author_id,attachments.media_keys", "media.fields": "url,variants,preview_image_url"})
    tweets = [t for p in pages for t in p["data"]]
    ids = [int(t["id"]) for t in tweets]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))
    assert all(t["author_id"] == XUSER for t in tweets)
    assert any("in_reply_to_user_id" in t for t in tweets)  # the city's own replies are its tweets too
    assert pages[0]["meta"]["result_count"] == 7 and "next_token" in pages[0]["meta"]
    assert "next_token" not in pages[-1]["meta"] and "previous_token" in pages[-1]["meta"]
    assert any(u["username"] == "CityOfExample" for p in pages for u in p["includes"]["users"])
    media = [m for p in pages for m in p.get("includes", {}).get("media", [])]
    assert {m["type"] for m in media} == {"photo", "video"}
    assert all(m.get("url", m.get("preview_image_url", "")).startswith(fakes.root) for m in media)
    assert all(t["created_at"].endswith(".000Z") for t in tweets)
    # exclude=replies, since_id, start/end time
    no_replies = [t for p in x_all(fakes, f"/users/{XUSER}/tweets", token, max_results=100, exclude="replies",
                                   **{"tweet.fields": "in_reply_to_user_id"}) for t in p["data"]]
    assert no_replies and not any("in_reply_to_user_id" in t for t in no_replies)
    newer = xget(fakes, f"/users/{XUSER}/tweets", token, since_id=tweets[3]["id"], max_results=100).json()["data"]
    assert [t["id"] for t in newer] == [t["id"] for t in tweets[:3]]
    window = xget(fakes, f"/users/{XUSER}/tweets", token, start_time=tweets[5]["created_at"][:19] + "Z",
                  end_time=tweets[1]["created_at"][:19] + "Z", max_results=100).json()["data"]
    assert [t["id"] for t in window] == [t["id"] for t in tweets[2:6]]
    # unfaithful parameters are 400s with the documented shape (ref 3.5)
    r = xget(fakes, f"/users/{XUSER}/tweets", token, max_results=1000)
    assert r.status_code == 400 and r.json()["title"] == "Invalid Request"
    assert r.json()["errors"][0]["parameters"] == {"max_results": ["1000"]}
    assert xget(fakes, f"/users/{XUSER}/tweets", token, **{"tweet.fields": "bogus"}).status_code == 400
    assert xget(fakes, f"/users/{XUSER}/tweets", token, bogus="1").status_code == 400


def test_x_html_escaping_and_replies_by_conversation(fakes, world, env):
    token = env["DEMO_CITY_X_TOKEN"]
    world.next_night()  # fresh replies inside the 7-day search window
    tweets = [t for p in x_all(fakes, f"/users/{XUSER}/tweets", token, max_results=100,
                               **{"tweet.fields": "created_at"}) for t in p["data"]]
    root = next(it for it in live_posts(world, "city-x")
                if any(not c.deleted for c in world.comments(it.id)) and it.created > world.now - 6 * 86400)
    pages = x_all(fakes, "/tweets/search/recent", token, token_param="next_token",
                  query=f"conversation_id:{root.id}", max_results=10,
                  **{"tweet.fields": "conversation_id,in_reply_to_user_id,referenced_tweets,author_id",
                     "expansions": "author_id"})
    replies = [t for p in pages for t in p.get("data", [])]
    expected = sorted((c for c in world.comments(root.id) if not c.deleted), key=lambda c: int(c.id), reverse=True)
    assert [t["id"] for t in replies] == [c.id for c in expected]
    assert all(t["conversation_id"] == root.id and t["referenced_tweets"][0]["type"] == "replied_to"
               for t in replies)
    # the 7-day window: an old conversation is empty on search/recent but found on search/all
    old = next(it for it in live_posts(world, "city-x")
               if any(not c.deleted for c in world.comments(it.id)) and it.created < world.now - 30 * 86400)
    body = xget(fakes, "/tweets/search/recent", token, query=f"conversation_id:{old.id}").json()
    assert body == {"meta": {"result_count": 0}}
    assert xget(fakes, "/tweets/search/all", token, query=f"conversation_id:{old.id}").json()["meta"]["result_count"] > 0
    r = xget(fakes, "/tweets/search/recent", token, query="from:CityOfExample", start_time="2020-01-01T00:00:00Z")
    assert r.status_code == 400 and "start_time" in r.json()["errors"][0]["message"]
    # & < > come back HTML-escaped in `text`
    script = next(c for p in live_posts(world, "city-x") for c in world.comments(p.id) if "<script>" in c.text)
    t = xget(fakes, f"/tweets/{script.id}", token).json()["data"]
    assert t["text"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert any("&amp;" in t["text"] for t in tweets)  # "Zone 2 & Zone 3" in the demo


def test_x_search_several_conversations_with_or(fakes, world, env):
    """X query syntax: a space is AND, `OR` joins, ANDs bind first, parentheses group; a recent-search query
    is at most 512 characters. One search can list the replies of several conversations."""
    token = env["DEMO_CITY_X_TOKEN"]
    a, b, c = live_posts(world, "city-x")[3:6]
    for post in (a, b, c):
        world.add_comment(post.id, f"fresh reply to {post.id}")
    world.add_comment(b.id, "another fresh one", author="resident_a")
    recent = world.now - 7 * 86400

    def replies(*posts, author=None):
        return sorted((r.id for p in posts for r in world.comments(p.id) if not r.deleted and r.updated >= recent
                       and (author is None or r.author.username == author)), key=int, reverse=True)

    def ids(query):
        pages = x_all(fakes, "/tweets/search/recent", token, token_param="next_token", query=query, max_results=10,
                      **{"tweet.fields": "conversation_id"})
        return [t["id"] for p in pages for t in p.get("data", [])]

    assert ids(f"conversation_id:{a.id} OR conversation_id:{b.id}") == replies(a, b)
    assert ids(f"(conversation_id:{a.id} OR conversation_id:{b.id}) from:resident_a") == replies(b, author="resident_a")
    # AND binds first: c's replies, or b's by resident_a
    assert ids(f"conversation_id:{c.id} OR conversation_id:{b.id} from:resident_a") == sorted(
        set(replies(c)) | set(replies(b, author="resident_a")), key=int, reverse=True)
    assert ids(f"conversation_id:{a.id} -from:resident_a") == [i for i in replies(a)
                                                                 if i not in replies(a, author="resident_a")]
    too_long = " OR ".join(f"conversation_id:{p.id}" for p in live_posts(world, "city-x")[:14])
    assert len(too_long) > 512
    r = xget(fakes, "/tweets/search/recent", token, query=too_long)
    assert r.status_code == 400 and r.json()["title"] == "Invalid Request"
    assert r.json()["errors"][0]["parameters"] == {"query": [too_long]}
    assert xget(fakes, "/tweets/search/all", token, query=too_long).status_code == 200  # 1,024 there
    assert xget(fakes, "/tweets/search/recent", token, query=f"(conversation_id:{a.id}").status_code == 400


def test_x_edit_history_and_deleted_lookup(fakes, world, env):
    token = env["DEMO_CITY_X_TOKEN"]
    # the demo already holds an edited tweet: two versions, newest last (ref 3.6)
    data = [t for p in x_all(fakes, f"/users/{XUSER}/tweets", token, max_results=100) for t in p["data"]]
    edited = [t for t in data if len(t["edit_history_tweet_ids"]) > 1]
    assert edited and all(t["edit_history_tweet_ids"][-1] == t["id"] for t in edited)
    # edit a tweet now: a new id heads the timeline, the old id still looks up as the old version
    post = live_posts(world, "city-x", lambda it: it.kind == "post" and not it.version_ids)[3]
    old_text = post.text
    new_id = world.edit(post.id, "Corrected: Main St opens Monday.")
    assert new_id != post.id
    top = xget(fakes, f"/users/{XUSER}/tweets", token, max_results=5,
               **{"tweet.fields": "edit_history_tweet_ids,created_at"}).json()["data"][0]
    assert top["id"] == new_id and top["edit_history_tweet_ids"] == [post.id, new_id]
    assert top["text"] == "Corrected: Main St opens Monday."
    old = xget(fakes, "/tweets", token, ids=post.id).json()["data"][0]
    assert old["id"] == post.id and old["text"] == old_text.replace("&", "&amp;")
    assert old["edit_history_tweet_ids"] == [post.id, new_id]
    inc = xget(fakes, f"/tweets/{new_id}", token, expansions="edit_history_tweet_ids").json()
    assert [t["id"] for t in inc["includes"]["tweets"]] == [post.id]
    # deleted: gone from the timeline, lookup answers 200 with errors[] (ref 3.6)
    victim = live_posts(world, "city-x")[6]
    world.delete(victim.id)
    r = xget(fakes, "/tweets", token, ids=f"{victim.current_id},{new_id}")
    assert r.status_code == 200
    body = r.json()
    assert [t["id"] for t in body["data"]] == [new_id]
    assert body["errors"] == [{"value": victim.current_id,
                               "detail": f"Could not find tweet with ids: [{victim.current_id}].",
                               "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                               "resource_id": victim.current_id,
                               "type": "https://api.twitter.com/2/problems/resource-not-found"}]
    only = xget(fakes, "/tweets", token, ids=victim.current_id).json()
    assert "data" not in only and only["errors"][0]["title"] == "Not Found Error"
    ids = [t["id"] for p in x_all(fakes, f"/users/{XUSER}/tweets", token, max_results=100) for t in p["data"]]
    assert victim.current_id not in ids


def test_x_errors_401_and_429(fakes, env):
    token = env["DEMO_CITY_X_TOKEN"]
    r = xget(fakes, f"/users/{XUSER}/tweets", "not-a-token")
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
    assert r.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    fakes.faults.expire_token("city-x")
    assert xget(fakes, f"/users/{XUSER}/tweets", token).status_code == 401
    fakes.faults.clear()
    fakes.faults.throttle_after("x", 1, reset_after=30)
    assert xget(fakes, f"/users/{XUSER}/tweets", token).status_code == 200
    r = xget(fakes, f"/users/{XUSER}/tweets", token)
    assert r.status_code == 429 and r.headers["Content-Type"] == "application/problem+json"
    assert r.json() == {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                        "status": 429}
    assert r.headers["x-rate-limit-remaining"] == "0"
    assert int(r.headers["x-rate-limit-reset"]) >= int(time.time()) + 25
    assert xget(fakes, f"/users/{XUSER}", token).status_code == 429
    fakes.faults.clear()
    r = xget(fakes, f"/users/{XUSER}", token)
    assert r.json()["data"]["username"] == "CityOfExample"


# ----------------------------------------------------------------------------------------------------
# YouTube

CHANNEL = "UCEx4mpleC1tyG0vChanne1A"


def yt(fakes, path, token=None, key=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if key:
        params["key"] = key
    return requests.get(fakes.base_url("youtube") + path, params=params, headers=headers, timeout=10)


def yt_all(fakes, path, token=None, key=None, **params):
    items, tok = [], None
    while True:
        p = dict(params)
        if tok:
            p["pageToken"] = tok
        r = yt(fakes, path, token, key, **p)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        tok = r.json().get("nextPageToken")
        if not tok:
            return items


def test_yt_uploads_videos_and_deletion(fakes, world, env):
    token = env["DEMO_CITY_YT_TOKEN"]
    ch = yt(fakes, "/channels", token, part="contentDetails,snippet,statistics", id=CHANNEL)
    assert ch.headers["Content-Type"] == "application/json; charset=UTF-8"
    uploads = ch.json()["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"]
    assert uploads == "UU" + CHANNEL[2:]
    items = yt_all(fakes, "/playlistItems", token, part="snippet,contentDetails,status", playlistId=uploads,
                   maxResults=4)
    vids = [i["contentDetails"]["videoId"] for i in items]
    assert vids == [it.id for it in live_posts(world, "city-youtube")]
    assert [i["snippet"]["position"] for i in items] == list(range(len(items)))
    assert {i["status"]["privacyStatus"] for i in items} == {"public", "private", "unlisted"}
    # public access with key= does not see the private video
    public = yt_all(fakes, "/playlistItems", key=token, part="contentDetails", playlistId=uploads, maxResults=50)
    assert len(public) == len(items) - 1
    r = yt(fakes, "/playlistItems", token, part="snippet", playlistId=uploads, maxResults=51)
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["reason"] == "invalid"
    v = yt(fakes, "/videos", token, part="snippet,statistics,status", id=",".join(vids[:3])).json()["items"]
    assert [x["id"] for x in v] == vids[:3] and v[0]["statistics"]["viewCount"].isdigit()
    world.delete(vids[1])
    body = yt(fakes, "/videos", token, part="snippet", id=vids[1]).json()
    assert body["items"] == [] and body["kind"] == "youtube#videoListResponse"
    again = [i["contentDetails"]["videoId"] for i in
             yt_all(fakes, "/playlistItems", token, part="contentDetails", playlistId=uploads, maxResults=50)]
    assert vids[1] not in again
    r = yt(fakes, "/videos", token, part="bogus", id=vids[0])
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["reason"] == "unknownPart"


def test_yt_comment_threads_moderation_text_format_and_replies(fakes, world, env):
    token = env["DEMO_CITY_YT_TOKEN"]
    threads = yt_all(fakes, "/commentThreads", token, part="snippet,replies", allThreadsRelatedToChannelId=CHANNEL,
                     maxResults=7)
    ids = [t["id"] for t in threads]
    assert len(ids) == len(set(ids)) > 10
    published = {c.id for p in live_posts(world, "city-youtube") if not p.comments_disabled
                 for c in world.comments(p.id) if c.parent_id is None and c.moderation == "published"
                 and not world.is_gone(c)}
    assert set(ids) == published
    held = yt_all(fakes, "/commentThreads", token, part="snippet", allThreadsRelatedToChannelId=CHANNEL,
                  moderationStatus="heldForReview")
    spam = yt_all(fakes, "/commentThreads", token, part="snippet", allThreadsRelatedToChannelId=CHANNEL,
                  moderationStatus="likelySpam")
    assert held and spam
    assert all(t["snippet"]["topLevelComment"]["snippet"]["moderationStatus"] == "heldForReview" for t in held)
    # only the owner's token may list them
    r = yt(fakes, "/commentThreads", key=token, part="snippet", allThreadsRelatedToChannelId=CHANNEL,
           moderationStatus="heldForReview")
    assert r.status_code == 403 and r.json()["error"]["errors"][0]["reason"] == "forbidden"
    # hide moves a comment to heldForReview; unhide back
    victim = threads[0]["id"]
    world.hide(victim)
    assert victim not in [t["id"] for t in yt_all(fakes, "/commentThreads", token, part="snippet",
                                                 allThreadsRelatedToChannelId=CHANNEL)]
    assert victim in [t["id"] for t in yt_all(fakes, "/commentThreads", token, part="snippet",
                                             allThreadsRelatedToChannelId=CHANNEL, moderationStatus="heldForReview")]
    # textFormat: html escapes, plainText does not
    script = next(c for p in live_posts(world, "city-youtube") for c in world.comments(p.id) if "<script>" in c.text)
    html_ = yt(fakes, "/commentThreads", token, part="snippet", videoId=script.post_id, maxResults=100).json()
    plain = yt(fakes, "/commentThreads", token, part="snippet", videoId=script.post_id, maxResults=100,
               textFormat="plainText").json()
    find = lambda body: next(t["snippet"]["topLevelComment"]["snippet"] for t in body["items"] if t["id"] == script.id)  # noqa: E731
    assert find(html_)["textDisplay"] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert find(plain)["textDisplay"] == "<script>alert(1)</script>"
    assert find(plain)["textOriginal"] == "<script>alert(1)</script>"
    # replies: comments.list?parentId= pages all of them
    with_replies = next(t for t in threads if t["snippet"]["totalReplyCount"] > 0)
    replies = yt_all(fakes, "/comments", token, part="snippet", parentId=with_replies["id"], maxResults=1)
    assert len(replies) == with_replies["snippet"]["totalReplyCount"]
    assert all(r["snippet"]["parentId"] == with_replies["id"] for r in replies)
    # the edited comment: updatedAt after publishedAt
    assert any(t["snippet"]["topLevelComment"]["snippet"]["updatedAt"] >
               t["snippet"]["topLevelComment"]["snippet"]["publishedAt"] for t in threads)
    # comments disabled
    disabled = next(p for p in live_posts(world, "city-youtube") if p.comments_disabled)
    r = yt(fakes, "/commentThreads", token, part="snippet", videoId=disabled.id)
    assert r.status_code == 403 and r.json()["error"]["errors"][0]["reason"] == "commentsDisabled"


def test_yt_auth_quota_and_costs(fakes, world, env):
    token = env["DEMO_CITY_YT_TOKEN"]
    r = yt(fakes, "/channels", part="id", id=CHANNEL)
    assert r.status_code == 401 and r.json()["error"]["errors"][0]["reason"] == "required"
    used0 = fakes.youtube_quota_used("city-youtube")
    yt(fakes, "/channels", token, part="id", id=CHANNEL)
    yt(fakes, "/videos", token, part="bogus", id="x")  # even an invalid request costs
    yt(fakes, "/search", token, part="snippet", channelId=CHANNEL, type="video", order="date")
    assert fakes.youtube_quota_used("city-youtube") == used0 + 1 + 1 + 100
    fakes.faults.quota_exceeded("city-youtube")
    r = yt(fakes, "/channels", token, part="id", id=CHANNEL)
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == 403 and err["errors"][0]["reason"] == "quotaExceeded"
    assert err["errors"][0]["domain"] == "youtube.quota" and "quota" in err["message"]
    fakes.faults.clear()
    fakes.faults.expire_token("city-youtube")
    r = yt(fakes, "/channels", token, part="id", id=CHANNEL)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    assert r.json()["error"]["errors"][0]["message"] == "Invalid Credentials" or "invalid authentication" in \
        r.json()["error"]["message"]
    fakes.faults.clear()
    # the natural daily quota (10,000 units) runs out; the next fake day it is back (midnight PT)
    fakes.meter.youtube_charge("city-youtube", __import__("civic_archive.fakes.server", fromlist=["x"]).fake_day(world),
                               10_000)
    assert yt(fakes, "/channels", token, part="id", id=CHANNEL).json()["error"]["errors"][0]["reason"] == "quotaExceeded"
    world.next_night()
    assert yt(fakes, "/channels", token, part="id", id=CHANNEL).status_code == 200


# ----------------------------------------------------------------------------------------------------
# synthetic accounts on the other platforms


@pytest.mark.parametrize("platform", ["instagram", "x", "youtube"])
def test_synthetic_million_first_pages(platform):
    w = World.synthetic(platform, 1_000_000, seed=5, comments_per_post=3)
    with FakePlatforms(w) as fakes:
        config, env = fakes.city_config()
        acct = config["accounts"][0]
        token = env[acct["credentials"][4:]]
        base, handle = acct["api_base_url"], acct["handle"]
        t = time.time()
        ids = []
        if platform == "instagram":
            r = requests.get(f"{base}/{handle}/media", params={"access_token": token, "limit": 100}, timeout=10)
            for _ in range(3):
                ids += [m["id"] for m in r.json()["data"]]
                r = requests.get(r.json()["paging"]["next"], timeout=10)
            first = ids[0]
            c = requests.get(f"{base}/{first}/comments", params={"access_token": token}, timeout=10).json()["data"]
            assert len(c) == 2  # 3 comments, one of them a reply
        elif platform == "x":
            h = {"Authorization": f"Bearer {token}"}
            p = {"max_results": 100}
            for _ in range(3):
                body = requests.get(f"{base}/users/{handle}/tweets", params=p, headers=h, timeout=10).json()
                ids += [t_["id"] for t_ in body["data"]]
                p["pagination_token"] = body["meta"]["next_token"]
            conv = requests.get(f"{base}/tweets/search/recent", headers=h, timeout=10,
                                params={"query": f"conversation_id:{ids[0]}"}).json()
            assert conv["meta"]["result_count"] == 3
        else:
            h = {"Authorization": f"Bearer {token}"}
            up = requests.get(f"{base}/channels", params={"part": "contentDetails", "id": handle}, headers=h,
                              timeout=10).json()["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"]
            p = {"part": "contentDetails", "playlistId": up, "maxResults": 50}
            for _ in range(3):
                body = requests.get(f"{base}/playlistItems", params=p, headers=h, timeout=10).json()
                ids += [i["contentDetails"]["videoId"] for i in body["items"]]
                p["pageToken"] = body["nextPageToken"]
            threads = requests.get(f"{base}/commentThreads", headers=h, timeout=10,
                                   params={"part": "snippet,replies", "allThreadsRelatedToChannelId": handle,
                                           "maxResults": 100}).json()
            assert len(threads["items"]) == 100 and "nextPageToken" in threads
        assert len(ids) == len(set(ids)) >= 150
        assert time.time() - t < 10
        # mutations of generated items are small overrides
        w.delete(ids[1])
        assert len(w._over) == 1 and len(w._items) == 0
