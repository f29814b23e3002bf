"""The demo city's content (World.demo) and its nightly activity (World.next_night).

Deterministic: every choice comes from random.Random seeded with the world's seed (and the night number).
What the demo deliberately contains, so a harvest exercises every path (brief + ref 0.5):
- six accounts: three Facebook Pages (one an elected official's; one, police-facebook, whose post
  listings serve an empty page that still carries `next`, ref 1.4), Instagram, X, YouTube;
- photos served by the fake itself (real PNG/JPEG bytes), a Facebook album, Instagram carousels, an X video,
  and one Facebook video larger than a typical download cap (150 MiB, streamed);
- comments, replies, the city's own replies, hidden comments (FB/IG), heldForReview/likelySpam comments
  (YouTube), an already-edited post on every platform, a Facebook visitor post (in /feed only), two
  privacy-restricted police posts (never returned, so pages come back short), a YouTube video with
  comments disabled and a private one, an Instagram media whose comment listing is the observed
  "empty data, cursors, no next" (ref 2.2);
- text with unicode, emoji, right-to-left script, newlines and a `<script>alert(1)</script>` comment.
"""

from __future__ import annotations

import random

from .world import DAY, Media, World, stable_hash

BIG_VIDEO_BYTES = 150 * 1024 * 1024  # bigger than a typical per-file cap (50-100 MB)

PARKS = ["Riverside Park", "Oak Hollow", "Lincoln Square", "Maple Grove", "Bluff Trail", "Hawthorne Pool",
         "Founders Green", "Cedar Creek Greenway"]
DAYS = ["Saturday", "Sunday", "Monday", "next Tuesday", "this Friday", "Wednesday evening"]

POST_TEMPLATES = {
    "parks-facebook": [
        "Trail maintenance at {park} on {day}: expect short closures near the north entrance.",
        "Registration for youth soccer opens {day}! Sign up at the rec center front desk.",
        "The splash pad at {park} is closed for repairs until further notice.",
        "Volunteers needed: tree planting at {park} on {day}, 9am–noon. Gloves provided 🌳",
        "New pickleball courts are open at {park}. Reserve through the city website.",
        "Reminder: dogs must be leashed on the {park} trails.",
        "Free concert in the park {day} at 7pm — bring a blanket! 🎶",
        "Leaf collection starts {day}. Rake leaves to the curb, not into the street.",
        "Summer camp scholarships are available. Applications due {day}.",
        "Photos from the {park} cleanup — thank you to 60+ volunteers!",
    ],
    "mayor-facebook": [
        "Tonight's council meeting starts at 7pm at City Hall. Public comment is open to everyone.",
        "I'll hold office hours at the {park} library branch on {day}. Come say hello.",
        "The proposed budget is posted online. Read it and tell us what you think.",
        "Proud to join our firefighters for the new station ribbon-cutting {day}.",
        "Road repair update: Main St resurfacing finishes {day}, weather permitting.",
        "Thank you to everyone who came to the town hall on housing. The recording is online.",
        "Voting reminder: polls are open 6am–7pm {day}. Find your polling place on the county site.",
        "Snow emergency routes are posted. Please move vehicles off marked streets by 10pm.",
    ],
    "police-facebook": [
        "Traffic advisory: {park} Rd closed {day} for the 5K. Plan another route.",
        "Coffee with a Cop this {day} at the Main St bakery ☕ — all welcome.",
        "Reminder: lock your car and take valuables inside. Most thefts are from unlocked vehicles.",
        "We are hiring! Applications for the next academy class close {day}.",
        "Found: a bicycle near {park}. Call the non-emergency line to describe and claim it.",
        "National Night Out is {day} at {park}. Food trucks, K-9 demo and more.",
        "Scam alert: we will never call asking for gift cards.",
    ],
    "city-instagram": [
        "Sunrise over {park} 🌅 #ExampleCity",
        "Spring cleanup day at {park} — thank you volunteers!",
        "New benches and bike racks downtown 🚲",
        "Our snowplows are ready. Meet the fleet! ❄️🚜",
        "Library summer reading kickoff {day} 📚",
        "Farmers market opens {day} on Founders Green 🍎🥕",
        "Behind the scenes at the water treatment plant 💧",
    ],
    "city-x": [
        "Main St closed {day} for repaving. Detour via Oak St & 3rd Ave.",
        "Council meeting tonight at 7pm. Watch live on our YouTube channel.",
        "Trash & recycling pickup is delayed one day this week because of the holiday.",
        "Boil-water advisory lifted for the {park} neighborhood. Thanks for your patience.",
        "Cooling centers are open {day} at all library branches. Stay safe in the heat ☀️",
        "Report potholes with the 311 app or call 311. Crews patch within 48h.",
        "Leaf collection begins {day} in Zone 2 & Zone 3.",
    ],
    "city-youtube": [
        "City Council Meeting {n}",
        "Parks & Recreation Board {n}",
        "Planning Commission Public Hearing {n}",
        "Mayor's Monthly Update {n}",
        "How to use the new recycling carts",
    ],
}

COMMENTS = [
    "Will the bus route change?", "Thank you for the update!", "Is parking available nearby?",
    "Great work everyone!", "What time does it end?", "Why wasn't this announced earlier?",
    "This is the third time this year...", "Love this 😍", "Can someone fix the streetlight on 5th?",
    "Where can I read the full document?", "My kids loved it last year.", "Is this accessible by wheelchair?",
    "Please add more trash cans near the playground.", "Who do I contact about a permit?",
    "¡Qué bonito! 🌳🌞 Gracias a todos.", "谢谢！公园很美。", "شكرا للبلدية على العمل الرائع",
    "Family day 👨‍👩‍👧‍👦 — naïve café résumé, ½ price tickets?", "Line one\nLine two\n\nLine four",
    "Meeting at 7 — \"quoted\" & <b>bold</b>?", "Ｆｕｌｌｗｉｄｔｈ and combining: é e\u0301",
]
CITY_REPLIES = [
    "Thanks for asking! Details are on the city website.", "Yes — Route 4 detours via Oak St.",
    "We've passed this along to the team.", "It runs until 9pm.", "Good question: the agenda is posted online.",
    "Please call 311 so we can open a work order.",
]
SPAM = "Buy cheap followers at spam.example !!! 💰💰"
SCRIPT = "<script>alert(1)</script>"


def _text(rng: random.Random, acct_id: str, n: int) -> str:
    t = rng.choice(POST_TEMPLATES[acct_id])
    return t.format(park=rng.choice(PARKS), day=rng.choice(DAYS), n=n + 1)


def build(w: World) -> None:
    rng = random.Random(w.seed)
    now0 = w.now
    parks = w.add_account("parks-facebook", "facebook", "104735998765432", "Example City Parks & Recreation",
                          "ExampleCityParks", "department",
                          description="Parks, trails, pools and recreation programs.")
    mayor = w.add_account("mayor-facebook", "facebook", "104735998700011", "Mayor Jordan Rivera",
                          "MayorJordanRivera", "elected_official", description="Official page of the Mayor.")
    police = w.add_account("police-facebook", "facebook", "104735998700022", "Example City Police Department",
                           "ExampleCityPD", "department", quirks={"empty_page_with_next"},
                           description="Not monitored 24/7. In an emergency call 911.")
    ig = w.add_account("city-instagram", "instagram", "17841406338772941", "City of Example", "cityofexample",
                       "department", description="Official Instagram of the City of Example.")
    x = w.add_account("city-x", "x", "1463372101405069312", "City of Example", "CityOfExample", "department",
                      description="Official account of the City of Example. Not monitored 24/7.")
    yt = w.add_account("city-youtube", "youtube", "UCEx4mpleC1tyG0vChanne1A", "City of Example",
                       "@cityofexample", "department", description="Meetings and updates from the City.")
    assert len(yt.handle) == 24

    sizes = {parks.id: 32, mayor.id: 24, police.id: 28, ig.id: 24, x.id: 30, yt.id: 14}
    start = w.now - 120 * DAY
    for acct in (parks, mayor, police, ig, x, yt):
        count = sizes[acct.id]
        times = sorted(rng.sample(range(start, w.now - 6 * 3600, 600), count))
        for n, ts in enumerate(times):
            _demo_post(w, rng, acct, n, ts, count)

    # deliberate fixtures, independent of the random draw --------------------------------------------
    first = {a.id: _posts(w, a) for a in w.accounts}  # newest first
    # an already-edited post on every platform (FB updated_time, X edit history, YT updatedAt, IG caption)
    p = first["parks-facebook"][3]
    w.edit(p.id, p.text + " UPDATE: moved to the east entrance.", at=p.created + 5400)
    p = first["mayor-facebook"][6]
    w.edit(p.id, p.text + " (Corrected the date.)", at=p.created + 1800)
    p = first["city-instagram"][2]
    w.edit(p.id, p.text + " 📸 by our parks crew", at=p.created + 900)
    p = first["city-x"][4]
    w.edit(p.id, p.text + " (fixed link)", at=p.created + 600)
    thread = next(c for p in first["city-youtube"][1:] for c in w.comments(p.id)
                  if c.parent_id is None and c.author.id != yt.handle and c.moderation == "published")
    w.edit(thread.id, thread.text + " [edited: never mind, found it]", at=thread.created + 3600)

    # the <script> comment, on a parks post and an X post
    for acct_id in ("parks-facebook", "city-x", "city-youtube"):
        post = first[acct_id][5]
        w.add_comment(post.id, SCRIPT, author="Sam O'Connor", created=min(post.created + 4000, w.now - 120))
    # a resident's photo in a comment (FB `attachment`, ref 1.3) and in a reply found by X's recent search
    # (`attachments.media_keys` + `includes.media`, ref 3.1), on the newest post: recent search reaches it
    for acct_id in ("parks-facebook", "city-x"):
        post = first[acct_id][0]
        w.add_comment(post.id, "The pothole at Elm & 5th is back (photo).", author="Jane Resident",
                      created=min(post.created + 2000, w.now - 240),
                      media=(Media("photo", f"{acct_id}-comment-pothole.jpg", 64, 48),))
    # a Facebook visitor post (shows in /feed, not in /posts or /published_posts)
    w.add_post(parks.id, "Found a set of keys by the Riverside Park fountain — message me to claim.",
               created=w.now - 3 * DAY, visitor=w._resolve_author(parks, "Dana Whitfield", 0))
    # two privacy-restricted police posts: never returned, so some pages come back short (ref 1.4)
    for k in (9, 10):
        w._set(first["police-facebook"][k], restricted=True)
    # a post hidden by the page
    w.hide(first["mayor-facebook"][11].id)
    # YouTube: one video with comments disabled, one private (owner token only), one unlisted
    w._set(first["city-youtube"][7], comments_disabled=True)
    w._set(first["city-youtube"][9], privacy="private", hidden=True)  # as world.hide() on a video does
    w._set(first["city-youtube"][10], privacy="unlisted")
    # Instagram: one media whose /comments answers "empty data, cursors, no next" (ref 2.2 [observed])
    ig_media = next(m for m in first["city-instagram"][8:] if any(
        not c.deleted for c in w.comments(m.id)))
    ig.quirks.add("empty_comments:" + ig_media.id)
    w.now = now0  # the fixtures above are dated in the past; the clock has not moved
    w.log.clear()


def _posts(w: World, acct):
    seq = w.posts(acct)
    return [w.get(seq.id_at(p)) for p in range(len(seq))]


def _demo_post(w: World, rng: random.Random, acct, n: int, ts: int, count: int) -> str:
    text = _text(rng, acct.id, n)
    media = ()
    title = ""
    slug = acct.id.split("-")[0]
    if acct.platform == "facebook":
        r = rng.random()
        if acct.id == "parks-facebook" and n == count - 8:
            media = (Media("video", "parks-concert.mp4", 1280, 720, size=BIG_VIDEO_BYTES, duration_ms=5_400_000),)
            text = "Full recording of the summer concert in the park 🎶"
        elif acct.id == "parks-facebook" and n == count - 12:
            media = tuple(Media("photo", f"{slug}-{n}-{k}.{'jpg' if k % 2 else 'png'}", 64 if k % 2 == 0 else 32,
                                48 if k % 2 == 0 else 24, alt=f"Album photo {k + 1}") for k in range(3))
            text = "Album: the new Lincoln Square playground"
        elif r < 0.35:
            ext = "jpg" if n % 2 else "png"
            media = (Media("photo", f"{slug}-{n}.{ext}", 32 if ext == "jpg" else 64, 24 if ext == "jpg" else 48),)
    elif acct.platform == "instagram":
        if n % 7 == 3:
            media = tuple(Media("photo", f"ig-{n}-{k}.jpg", 32, 24) for k in range(3))
        elif n % 9 == 5:
            media = (Media("video", f"ig-{n}.mp4", 720, 1280, size=3 * 1024 * 1024, duration_ms=15000),)
        else:
            media = (Media("photo", f"ig-{n}.{'png' if n % 2 else 'jpg'}", 64 if n % 2 else 32, 48 if n % 2 else 24),)
    elif acct.platform == "x":
        if n == count - 3:
            media = (Media("video", f"x-{n}.mp4", 1280, 720, size=2 * 1024 * 1024, duration_ms=30000),)
        elif rng.random() < 0.3:
            media = (Media("photo", f"x-{n}.png", 64, 48, alt="Map of the detour"),)
    elif acct.platform == "youtube":
        title = text
        text = f"Recording of {title}. Agenda and minutes: https://example.gov/meetings\n\nChapters:\n0:00 Call to order"
        media = (Media("photo", f"yt-thumb-{n}.jpg", 32, 24),)
    detail = ""
    if acct.platform == "instagram":
        detail = "REELS" if media and media[0].kind == "video" and n % 2 else "FEED"
    pid = w.add_post(acct.id, text, media=media, title=title, created=ts, likes=rng.randint(0, 120), detail=detail)

    # comments: a handful per post, some replies, some from the city itself
    ncom = rng.choice([0, 1, 2, 3, 3, 4, 5, 6, 8])
    t = ts + 300
    tops = []
    for k in range(ncom):
        t = min(t + rng.randint(60, 7200), w.now - 600 + k)  # never in the future
        if tops and rng.random() < 0.35:
            parent = rng.choice(tops)
            if rng.random() < 0.6:
                body = rng.choice(CITY_REPLIES)
                if acct.platform == "x":
                    body = f"@{w.get(parent).author.username} " + body
                w.add_comment(parent, body, author="owner", created=t)
            else:
                w.add_comment(parent, rng.choice(COMMENTS), created=t)
        else:
            if rng.random() < 0.08:
                hidden = acct.platform in ("facebook", "instagram")
                mod = "likelySpam" if acct.platform == "youtube" else "published"
                cid = w.add_comment(pid, SPAM, created=t, hidden=hidden, moderation=mod)
            else:
                mod = "heldForReview" if acct.platform == "youtube" and rng.random() < 0.12 else "published"
                cid = w.add_comment(pid, rng.choice(COMMENTS), created=t, moderation=mod,
                                    likes=rng.randint(0, 9))
            tops.append(cid)
    return pid


def night(w: World) -> None:
    """One night of activity on every account (see World.next_night)."""
    rng = random.Random(stable_hash(w.seed, "night", w.night))
    start = w.now
    for i, acct in enumerate(w.accounts):
        w.now = start + 3600 * (i + 1)
        seq = w.posts(acct)
        recent = []
        for p in range(min(len(seq), 40)):
            it = seq.item_at(p)
            if it is not None and not w.is_gone(it) and not it.restricted and not it.visitor:
                recent.append(it)
        # a new post on most nights
        if (w.night + i) % 3 != 0 or not recent:
            text = f"Night {w.night} update: " + (_text(rng, acct.id, len(seq)) if acct.id in POST_TEMPLATES
                                                 else "service notice.")
            media = (Media("photo", f"night-{acct.id}-{w.night}.png", 64, 48),) if w.night % 2 else ()
            title = f"Update for night {w.night}" if acct.platform == "youtube" else ""
            pid = w.add_post(acct.id, text, media=media, title=title)
            recent.insert(0, w.get(pid))
        # a few new comments: a resident on the newest post, the city's reply, one on an older post
        newest = recent[0]
        c1 = w.add_comment(newest.id, rng.choice(COMMENTS))
        reply = rng.choice(CITY_REPLIES)
        if acct.platform == "x":
            reply = f"@{w.get(c1).author.username} " + reply
        w.add_comment(c1, reply, author="owner")
        if len(recent) > 2:
            w.add_comment(rng.choice(recent[1:]).id, rng.choice(COMMENTS))
        # an edit
        if acct.platform == "youtube":
            cands = _live_comments(w, recent[:10], resident_only=True)
            if cands:
                c = rng.choice(cands)
                w.edit(c.id, c.text + f" (edited night {w.night})")
        else:
            p = rng.choice(recent[: min(len(recent), 8)])
            w.edit(p.id, p.text + f" [Edited night {w.night}]")
        # a hide
        cands = [c for c in _live_comments(w, recent[:10], resident_only=True) if not c.hidden]
        hidden_now = None
        if cands:
            hidden_now = rng.choice(cands).id
            w.hide(hidden_now)
        # a delete: a comment on every account; a whole post on one account per night (rotating)
        cands = [c for c in _live_comments(w, recent[:10], resident_only=True) if c.id != hidden_now]
        if cands:
            w.delete(rng.choice(cands).id)
        if i == w.night % len(w.accounts) and len(recent) > 3:
            w.delete(rng.choice(recent[2:]).id)
    w.now = start + DAY


def _live_comments(w: World, posts, resident_only=False):
    out = []
    for p in posts:
        for c in w.comments(p.id):
            if w.is_gone(c) or (resident_only and c.author.id == w.account(c.account_id).handle):
                continue
            out.append(c)
    return out
