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
        assert set(post["from"]) == {"name"}
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
    assert fb(fakes, f"/{comment.id}", token, fields="is_hidden").json() == {"is_hidden": True}
    world.unhide(comment.id)
    assert fb(fakes, f"/{comment.id}", token, fields="is_hidden").json() == {"is_hidden": False}
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
