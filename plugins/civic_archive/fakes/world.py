"""The content model behind the fake platforms, and the scenario mutations.

One `World` holds accounts on the four platforms, their posts, comments and replies, media, and what has
happened to them (edits, hides, deletions). The platform modules (facebook.py, instagram.py, x.py,
youtube.py) only *render* this model the way each real API shows it; nothing here is platform JSON.

Reference: /work/shared/reference/platform-apis.md ("ref" below).  Section 0.5 asks for deterministic
scenarios ("delete item X between run 1 and run 2", "hide/unhide item", ...): everything here is seeded,
and the fake clock (`world.now`, unix seconds) only moves when `next_night()` or an add/edit/hide/delete
is called.

Two kinds of accounts:
- demo accounts (`World.demo()`): a few dozen items each, held in a dict;
- synthetic accounts (`World.synthetic()`): n items generated lazily *by index* from the seed.  Nothing is
  stored per item; mutations of generated items are kept as small override dicts (`_over`) and items
  added later go in the ordinary dict.  Item ids encode (account key, post serial n, comment serial c)
  so any id can be turned back into its index without a table (see the *_id helpers below).
"""

from __future__ import annotations

import calendar
import hashlib
import threading
from dataclasses import dataclass, field, replace

PLATFORMS = ("facebook", "instagram", "x", "youtube")

# Fixed fake "now" of the demo city (deterministic; the real clock is never read for content).
DEMO_START = calendar.timegm((2026, 11, 16, 7, 0, 0))
DAY = 86400
# X ids are snowflakes: (ms since the Twitter epoch) << 22 | machine bits << 12 | sequence.  Because
# ids grow with time, `since_id`/`until_id` and the timeline order are simply numeric (ref 3.1, 3.2).
X_EPOCH_MS = 1288834974657
# Oldest moment a synthetic item may have (kept after the X epoch so snowflakes stay positive).
SYNTH_OLDEST = calendar.timegm((2011, 1, 1, 0, 0, 0))

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_INDEX = {ch: i for i, ch in enumerate(B64)}


_MASK60 = (1 << 60) - 1
_MUL = 0x9E3779B97F4A7C15 & _MASK60  # odd: a bijection on 60-bit numbers
_INV = pow(_MUL, -1, 1 << 60)


def scramble(n: int) -> int:
    """Reversible mixing so YouTube ids look random (real ones do) yet decode to their index."""
    return ((n ^ 0x5DEECE66D) * _MUL) & _MASK60


def unscramble(v: int) -> int:
    return ((v * _INV) & _MASK60) ^ 0x5DEECE66D


def scramble36(n: int) -> int:
    return ((n ^ 0x5A5A5) * 0x9E3779B) & ((1 << 36) - 1)


def unscramble36(v: int) -> int:
    return ((v * pow(0x9E3779B, -1, 1 << 36)) & ((1 << 36) - 1)) ^ 0x5A5A5


def b64digits(n: int, width: int) -> str:
    """Fixed-width base-64 digits (YouTube ids use this alphabet)."""
    out = []
    for _ in range(width):
        out.append(B64[n & 63])
        n >>= 6
    if n:
        raise ValueError("number too large for width")
    return "".join(reversed(out))


def unb64digits(s: str) -> int:
    n = 0
    for ch in s:
        n = n * 64 + _B64_INDEX[ch]
    return n


def stable_hash(*parts) -> int:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big")


# --------------------------------------------------------------------------------------------------
# model


@dataclass
class Media:
    """A photo or video attached to a post/comment.  `name` is the file served by the fake's /cdn/ route
    (real bytes: PNG/JPEG images; MP4 videos streamed at `size` bytes)."""

    kind: str  # "photo" | "video"
    name: str  # e.g. "parks-3.jpg", "parks-9.mp4"
    width: int
    height: int
    size: int = 0  # videos: bytes served
    duration_ms: int = 0
    alt: str = ""


@dataclass
class Author:
    id: str
    name: str
    username: str


@dataclass
class Account:
    id: str  # the archive's own id, e.g. "parks-facebook"
    platform: str
    handle: str  # page id / ig-user-id / X user id / YouTube channel id
    name: str
    username: str
    role: str  # department | elected_official
    token: str
    key: int  # small number embedded in item ids
    quirks: set = field(default_factory=set)
    synthetic: dict | None = None  # {"n", "k", "seed", "t0", "interval", "cspace"}
    # Demo accounts: every post id, newest first.  Synthetic accounts: only added/relisted ids, newest
    # first, in front of the lazily generated ones.
    order: list = field(default_factory=list)
    description: str = ""

    @property
    def author(self) -> Author:
        return Author(self.handle, self.name, self.username)


@dataclass
class Item:
    id: str  # platform id (for X: the first version's id)
    account_id: str
    platform: str
    kind: str  # "post" | "comment"
    n: int  # post serial in the account
    c: int  # comment serial within the post (0 for the post itself)
    post_id: str  # root post id
    parent_id: str | None  # replies: the comment replied to; top-level comments and posts: None
    text: str
    created: int
    updated: int
    author: Author
    title: str = ""  # YouTube video title
    media: tuple = ()  # Media, ...
    hidden: bool = False  # FB is_hidden / IG hidden; X: recorded only (no read-side field, ref 3.6)
    deleted: bool = False
    deleted_at: int | None = None
    moderation: str = "published"  # YouTube comments: published | heldForReview | likelySpam | rejected
    privacy: str = "public"  # YouTube videos: public | unlisted | private
    restricted: bool = False  # never returned to the harvesting token (Graph privacy filtering, ref 1.4)
    visitor: bool = False  # Facebook visitor post: in /feed, not in /posts or /published_posts (ref 1.1)
    comments_disabled: bool = False  # YouTube commentsDisabled (ref 4.4); IG is_comment_enabled false
    likes: int = 0
    views: int = 0
    detail: str = ""  # FB status_type / IG media_product_type
    # earlier versions, oldest first: ({"ts", "text", "id"}, ...); "id" is set on X (a new id per edit)
    history: tuple = ()
    version_ids: tuple = ()  # X: every version id, oldest first, current last (ref 3.6)
    relisted: bool = False  # X: an edited post moves to the top of the timeline under its new id
    in_reply_to_user: str | None = None  # X replies

    @property
    def current_id(self) -> str:
        return self.version_ids[-1] if self.version_ids else self.id

    @property
    def is_reply(self) -> bool:
        return self.parent_id is not None


# --------------------------------------------------------------------------------------------------
# id schemes: (account key, post serial n, comment serial c) <-> platform-looking ids


def fb_suffix(acct: Account, n: int) -> str:
    # `{page-id}_{post-id}` and comments `{post-suffix}_{comment-id}` (ref 1.2, 1.3)
    return f"7{acct.key:03d}{n:011d}"


def x_snowflake(created_ms: int, key: int, seq: int) -> str:
    return str(((created_ms - X_EPOCH_MS) << 22) | ((key & 0x3FF) << 12) | (seq & 0xFFF))


def x_unsnowflake(tweet_id: str):
    v = int(tweet_id)
    return (v >> 22) + X_EPOCH_MS, (v >> 12) & 0x3FF, v & 0xFFF


def make_post_id(acct: Account, n: int, created: int, seq: int = 0) -> str:
    p = acct.platform
    if p == "facebook":
        return f"{acct.handle}_{fb_suffix(acct, n)}"
    if p == "instagram":
        return f"179{acct.key:03d}{n:011d}"
    if p == "x":
        return x_snowflake(created * 1000, acct.key, seq)
    if p == "youtube":  # 11-character video id
        return B64[acct.key] + b64digits(scramble(n), 10)
    raise ValueError(p)


def make_comment_id(acct: Account, n: int, c: int, parent_c: int, created: int) -> str:
    p = acct.platform
    if p == "facebook":
        return f"{fb_suffix(acct, n)}_{1000 + c}"
    if p == "instagram":
        return f"18{acct.key:03d}{n:08d}{c:04d}"
    if p == "x":
        return x_snowflake(created * 1000, acct.key, c)
    if p == "youtube":
        thread = "Ug" + B64[acct.key] + b64digits(scramble(n), 10) + b64digits(scramble36(parent_c or c), 6) + "4AaABAg"
        if parent_c:  # reply ids are "<thread id>.<suffix>" (ref 4.6)
            return thread + "." + b64digits(scramble(c), 11)
        return thread
    raise ValueError(p)


def ig_child_id(acct: Account, n: int, k: int) -> str:
    return f"178{acct.key:03d}{n:09d}{k:02d}"


# --------------------------------------------------------------------------------------------------
# ordered views


class Seq:
    """Post ids of one account, newest first, with O(1) `position(id)`.  Deleted ids stay in the
    sequence; renderers skip them (so a cursor anchored on a deleted item can be detected as stale)."""

    def __init__(self, world: "World", acct: Account):
        self.world = world
        self.acct = acct
        self.front = acct.order
        self._front_pos = {i: p for p, i in enumerate(self.front)}
        self.n_lazy = acct.synthetic["n"] if acct.synthetic else 0

    def __len__(self):
        return len(self.front) + self.n_lazy

    def id_at(self, pos: int) -> str:
        if pos < len(self.front):
            return self.front[pos]
        n = pos - len(self.front)
        return self.world._synth_post_id(self.acct, n)

    def item_at(self, pos: int) -> Item | None:
        """The item at `pos`, or None if it is not listed there (relisted X edits live in `front`)."""
        it = self.world.get(self.id_at(pos))
        if it is not None and it.relisted and pos >= len(self.front):
            return None
        return it

    def position(self, item_id: str) -> int | None:
        it = self.world.get(item_id)
        if it is None or it.kind != "post" or it.account_id != self.acct.id:
            return None
        if it.id in self._front_pos:
            return self._front_pos[it.id]
        if self.acct.synthetic and it.n < self.n_lazy and not it.relisted:
            return len(self.front) + it.n
        return None

    def sort_key(self, pos: int):
        """Monotonically non-increasing along the sequence: X by current id, others by creation time."""
        it = self.world.get(self.id_at(pos))
        return sort_key(it)

    def first_pos(self, pred_older) -> int:
        """First position whose item satisfies `pred_older(item)` (a predicate that is False for a prefix
        and True afterwards, e.g. "created <= until").  Binary search on the lazy part."""
        for p, i in enumerate(self.front):
            if pred_older(self.world.get(i)):
                return p
        lo, hi = 0, self.n_lazy
        while lo < hi:
            mid = (lo + hi) // 2
            if pred_older(self.world._synth_post(self.acct, mid, overrides=False)):
                hi = mid
            else:
                lo = mid + 1
        return len(self.front) + lo


def sort_key(it: Item):
    if it.platform == "x":
        return int(it.current_id)
    return (it.created, it.n, it.c)


# --------------------------------------------------------------------------------------------------
# the world


class World:
    def __init__(self, now: int = DEMO_START, seed: int = 0, call_budget: int | None = 4800):
        self.now = now
        self.seed = seed
        self.night = 0
        # Natural rate limits / quotas are enforced when call_budget is set (demo); synthetic worlds
        # used by benchmarks switch them off (None).  Faults can always force them (server.Faults).
        self.call_budget = call_budget
        self.lock = threading.RLock()
        self.accounts: list[Account] = []
        self._by_id: dict[str, Account] = {}
        self._by_handle: dict[tuple, Account] = {}
        self._by_key: dict[tuple, Account] = {}
        self._items: dict[str, Item] = {}  # demo items and everything added later
        self._over: dict[str, dict] = {}  # overrides of lazily generated items
        self._comment_ids: dict[str, list] = {}  # post id -> stored comment ids (demo + added)
        self._next_c: dict[str, int] = {}
        self._alias: dict[str, str] = {}  # X: later version id -> original id
        self._residents: list[Author] = []
        self.version = 0  # bumped by every mutation
        self.log: list[tuple] = []  # (night, action, account id, item id): what the scenario did

    # ------------------------------------------------------------------ accounts
    def add_account(self, id, platform, handle, name, username, role="department", token=None,
                    quirks=(), description="", synthetic=None) -> Account:
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        key = 1 + sum(1 for a in self.accounts if a.platform == platform)
        if token is None:
            token = _token_for(platform, id, self.seed)
        acct = Account(id=id, platform=platform, handle=str(handle), name=name, username=username, role=role,
                       token=token, key=key, quirks=set(quirks), synthetic=synthetic, description=description)
        self.accounts.append(acct)
        self._by_id[id] = acct
        self._by_handle[(platform, acct.handle)] = acct
        self._by_key[(platform, key)] = acct
        return acct

    def account(self, account_id: str) -> Account:
        return self._by_id[account_id]

    def by_handle(self, platform: str, handle: str) -> Account | None:
        return self._by_handle.get((platform, str(handle)))

    def by_token(self, token: str) -> Account | None:
        for a in self.accounts:
            if a.token == token:
                return a
        return None

    def posts(self, acct: Account | str) -> Seq:
        if isinstance(acct, str):
            acct = self.account(acct)
        return Seq(self, acct)

    # ------------------------------------------------------------------ lookup
    def get(self, item_id: str) -> Item | None:
        """The item with this id (any X version id works), deleted or not; None if it never existed."""
        item_id = self._alias.get(item_id, item_id)
        it = self._items.get(item_id)
        if it is not None:
            return it
        return self._synth_lookup(item_id)

    def comments(self, post_id: str) -> list[Item]:
        """All comments and replies of a post, chronological, deleted ones included (renderers filter)."""
        post = self.get(post_id)
        if post is None or post.kind != "post":
            return []
        acct = self.account(post.account_id)
        out = []
        if acct.synthetic and post.n < acct.synthetic["n"]:
            out = [self._synth_comment(acct, post.n, c) for c in range(1, acct.synthetic["k"] + 1)]
        out += [self._items[c] for c in self._comment_ids.get(post.id, ())]
        out.sort(key=lambda it: (it.created, it.c))
        return out

    def replies(self, comment_id: str) -> list[Item]:
        it = self.get(comment_id)
        if it is None or it.kind != "comment":
            return []
        return [c for c in self.comments(it.post_id) if c.parent_id == it.id]

    def parent_of(self, it: Item) -> Item | None:
        """What a comment answers: its parent comment (replies) or its post; None for posts."""
        if it.kind != "comment":
            return None
        return self.get(it.parent_id or it.post_id)

    def is_gone(self, it: Item | None) -> bool:
        """Deleted, or belongs to a deleted post / deleted parent comment.  Facebook, Instagram and YouTube
        take a comment's replies with it; X does not (replies to a deleted tweet stay readable)."""
        if it is None or it.deleted:
            return True
        if it.kind == "comment" and it.platform != "x":
            post = self.get(it.post_id)
            if post is None or post.deleted:
                return True
            if it.parent_id:
                parent = self.get(it.parent_id)
                if parent is None or parent.deleted:
                    return True
        return False

    def owner_of(self, it: Item) -> Account:
        return self.account(it.account_id)

    # ------------------------------------------------------------------ mutations
    def _set(self, it: Item, **changes):
        if it.id in self._items:
            for k, v in changes.items():
                setattr(it, k, v)
        else:
            self._over.setdefault(it.id, {}).update(changes)
        self.version += 1

    def _require(self, item_id) -> Item:
        it = self.get(item_id)
        if it is None:
            raise KeyError(f"no such item: {item_id}")
        return it

    def edit(self, item_id: str, new_text: str, title: str | None = None, at: int | None = None) -> str:
        """Edit a post/comment.  Facebook: `updated_time` advances; YouTube comments: `updatedAt`;
        Instagram: the caption changes (no timestamp shows it); X: a *new* tweet id is minted and appended
        to `edit_history_tweet_ids`, and the new version heads the timeline (ref 3.6).  Returns the id the
        platform now shows for the item."""
        with self.lock:
            it = self._require(item_id)
            now = self._tick() if at is None else at
            hist = it.history + ({"ts": it.updated, "text": it.text, "title": it.title, "id": it.current_id},)
            changes = dict(text=new_text, updated=now, history=hist)
            if title is not None:
                changes["title"] = title
            if it.platform == "x":
                acct = self.account(it.account_id)
                new_id = self._unique_x_id(now, acct.key, 4000 + len(it.history) % 95)
                versions = (it.version_ids or (it.id,)) + (new_id,)
                changes["version_ids"] = versions
                self._alias[new_id] = it.id
                if it.kind == "post":
                    changes["relisted"] = True
                    self._set(it, **changes)
                    self._relist(acct, it.id)
                    self._log("edit", it, new_id)
                    return new_id
            self._set(it, **changes)
            self._log("edit", it)
            return self.get(it.id).current_id

    def hide(self, item_id: str):
        """Facebook `is_hidden: true`; Instagram `hidden: true`; YouTube: a comment moves to the
        `heldForReview` listing, a video becomes private; X: recorded, but X has no read-side field for
        hidden replies (ref 3.6), so nothing visible changes."""
        with self.lock:
            it = self._require(item_id)
            if it.platform == "youtube":
                if it.kind == "comment":
                    self._set(it, moderation="heldForReview", hidden=True)
                else:
                    self._set(it, privacy="private", hidden=True)
            else:
                self._set(it, hidden=True)
            self._tick()
            self._log("hide", it)

    def unhide(self, item_id: str):
        with self.lock:
            it = self._require(item_id)
            if it.platform == "youtube":
                if it.kind == "comment":
                    self._set(it, moderation="published", hidden=False)
                else:
                    self._set(it, privacy="public", hidden=False)
            else:
                self._set(it, hidden=False)
            self._tick()
            self._log("unhide", it)

    def set_moderation(self, item_id: str, status: str):
        """YouTube: published | heldForReview | likelySpam | rejected (ref 4.2, 4.5)."""
        if status not in ("published", "heldForReview", "likelySpam", "rejected"):
            raise ValueError(status)
        with self.lock:
            it = self._require(item_id)
            self._set(it, moderation=status, hidden=status != "published")
            self._log("moderate:" + status, it)

    def disable_comments(self, item_id: str, disabled: bool = True):
        """YouTube: commentThreads for the video answer 403 `commentsDisabled` (ref 4.4); the existing comments
        are kept (they come back when comments are turned on again) and still answer comments?id=."""
        with self.lock:
            it = self._require(item_id)
            self._set(it, comments_disabled=disabled)
            self._tick()
            self._log("comments_disabled" if disabled else "comments_enabled", it)

    def delete(self, item_id: str):
        """Gone from every listing; direct lookups answer the platform's "does not exist"."""
        with self.lock:
            it = self._require(item_id)
            self._set(it, deleted=True, deleted_at=self._tick())
            self._log("delete", it)

    def add_post(self, account_id: str, text: str, *, media=(), title: str = "", created: int | None = None,
                 detail: str = "", visitor: Author | None = None, restricted: bool = False,
                 privacy: str = "public", comments_disabled: bool = False, likes: int = 0,
                 in_reply_to_user: str | None = None) -> str:
        with self.lock:
            acct = self.account(account_id)
            ts = self._tick() if created is None else created
            n = self._next_post_serial(acct)
            if acct.platform == "x":
                pid = self._unique_x_id(ts, acct.key, 0)
            else:
                pid = make_post_id(acct, n, ts)
            if not detail:
                detail = _default_detail(acct.platform, media)
            it = Item(id=pid, account_id=acct.id, platform=acct.platform, kind="post", n=n, c=0, post_id=pid,
                      parent_id=None, text=text, created=ts, updated=ts,
                      author=visitor or acct.author, title=title, media=tuple(media), visitor=visitor is not None,
                      restricted=restricted, privacy=privacy, comments_disabled=comments_disabled, likes=likes,
                      views=likes * 17 + 40, detail=detail, in_reply_to_user=in_reply_to_user)
            self._items[pid] = it
            self._comment_ids[pid] = []
            self._insert_order(acct, pid)
            self.version += 1
            self._log("add_post", it)
            return pid

    def add_comment(self, parent_item_id: str, text: str, *, author=None, created: int | None = None,
                    media=(), hidden: bool = False, moderation: str = "published", likes: int = 0) -> str:
        """`author`: None (a resident, chosen deterministically), "owner" or the account id (the city's own
        reply), an Author, or a display name."""
        with self.lock:
            parent = self._require(parent_item_id)
            acct = self.account(parent.account_id)
            post = parent if parent.kind == "post" else self.get(parent.post_id)
            # Facebook, Instagram and YouTube have one reply level: replying to a reply attaches the new
            # comment to the top-level comment (ref 1.3: parent{id}; ref 2.1 "one level"; ref 4.2).
            top = None
            if parent.kind == "comment":
                top = parent
                if parent.parent_id and acct.platform != "x":
                    top = self.get(parent.parent_id)
            ts = self._tick() if created is None else created
            c = self._next_c.get(post.id)
            if c is None:
                c = (acct.synthetic["k"] + 1) if (acct.synthetic and post.n < acct.synthetic["n"]) else 1
            self._next_c[post.id] = c + 1
            auth = self._resolve_author(acct, author, c + post.n)
            if acct.platform == "x":
                cid = self._unique_x_id(ts, acct.key, c)
            else:
                cid = make_comment_id(acct, post.n, c, top.c if top else 0, ts)
            in_reply_to = None
            if acct.platform == "x":
                in_reply_to = (parent.author.id)
            it = Item(id=cid, account_id=acct.id, platform=acct.platform, kind="comment", n=post.n, c=c,
                      post_id=post.id, parent_id=top.id if top else None, text=text, created=ts, updated=ts,
                      author=auth, media=tuple(media), hidden=hidden or moderation != "published",
                      moderation=moderation, likes=likes, in_reply_to_user=in_reply_to)
            self._items[cid] = it
            self._comment_ids.setdefault(post.id, []).append(cid)
            self.version += 1
            self._log("add_comment", it)
            return cid

    # ------------------------------------------------------------------ helpers
    def _tick(self) -> int:
        """Each mutation happens a few seconds after the previous one on the fake clock."""
        self.now += 7
        return self.now

    def _log(self, action, it: Item, extra=None):
        self.log.append((self.night, action, it.account_id, it.id if extra is None else extra))

    def _unique_x_id(self, ts: int, key: int, seq: int) -> str:
        ms = ts * 1000
        while True:
            tid = x_snowflake(ms, key, seq)
            if tid not in self._items and tid not in self._alias and self._synth_lookup(tid) is None:
                return tid
            ms += 1

    def _next_post_serial(self, acct: Account) -> int:
        base = acct.synthetic["n"] if acct.synthetic else 0
        return base + sum(1 for i in self._items.values() if i.account_id == acct.id and i.kind == "post")

    def _insert_order(self, acct: Account, pid: str):
        it = self._items[pid]
        key = sort_key(it)
        order = acct.order
        pos = 0
        while pos < len(order) and sort_key(self.get(order[pos])) > key:
            pos += 1
        order.insert(pos, pid)

    def _relist(self, acct: Account, pid: str):
        if pid in acct.order:
            acct.order.remove(pid)
        it = self.get(pid)
        if pid not in self._items:  # a generated item that now lives in front of the lazy part
            self._items[pid] = it
            self._over.pop(pid, None)
        self._insert_order(acct, pid)

    def _resolve_author(self, acct: Account, author, salt: int) -> Author:
        if isinstance(author, Author):
            return author
        if author in ("owner", "city", acct.id):
            return acct.author
        residents = self._residents_for(acct.platform)
        if author is None:
            return residents[stable_hash(self.seed, acct.id, salt) % len(residents)]
        for r in residents:
            if r.name == author or r.username == author:
                return r
        h = stable_hash(acct.platform, author)
        return Author(_resident_id(acct.platform, h), author, _slug(author))

    def _residents_for(self, platform) -> list[Author]:
        return [Author(_resident_id(platform, stable_hash(platform, name)), name, user)
                for name, user in RESIDENTS]

    # ------------------------------------------------------------------ synthetic items
    @classmethod
    def synthetic(cls, platform: str, n_items: int, seed: int = 0, comments_per_post: int = 0,
                  now: int = DEMO_START, account_id: str | None = None) -> "World":
        """One account with `n_items` posts (newest first) and exactly `comments_per_post` comments each
        (every third comment is a reply to the one before it; the rest are top-level).  Nothing is stored
        per item: items are computed from their index on demand.  Natural rate limits are off
        (call_budget=None) so benchmarks measure the connector, not the throttle; faults still work."""
        if platform not in PLATFORMS:
            raise ValueError(platform)
        if not 0 <= comments_per_post <= 4000:
            raise ValueError("comments_per_post must be 0..4000")
        w = cls(now=now, seed=seed, call_budget=None)
        t0 = now - 3600
        span = max(1, t0 - SYNTH_OLDEST)
        interval = max(1, min(600, span // max(1, n_items)))
        cspace = max(1, interval // (comments_per_post + 1))
        handle = {"facebook": f"10{900 + seed % 100:03d}0000000{seed % 1000:03d}",
                  "instagram": f"1784190{seed % 10**10:010d}",
                  "x": str(1500000000000000000 + seed),
                  "youtube": "UC" + "Synth" + b64digits(seed % 2**60, 10) + "Channel"}[platform]
        if platform == "youtube":
            handle = handle[:24]
        w.add_account(account_id or f"synthetic-{platform}", platform, handle,
                      f"Synthetic {platform.title()} Account", f"synthetic_{platform}", "department",
                      synthetic={"n": n_items, "k": comments_per_post, "seed": seed, "t0": t0,
                                 "interval": interval, "cspace": cspace})
        return w

    def _synth_created(self, acct: Account, n: int) -> int:
        s = acct.synthetic
        return s["t0"] - n * s["interval"]

    def _synth_post_id(self, acct: Account, n: int) -> str:
        return make_post_id(acct, n, self._synth_created(acct, n))

    def _synth_post(self, acct: Account, n: int, overrides: bool = True) -> Item:
        s = acct.synthetic
        created = self._synth_created(acct, n)
        pid = make_post_id(acct, n, created)
        h = stable_hash(s["seed"], acct.id, n)
        media = ()
        if n % 10 == 3:  # every tenth post has a photo (served by the fake)
            media = (Media("photo", f"syn-{acct.platform}-{n}.png", 64, 48),)
        it = Item(id=pid, account_id=acct.id, platform=acct.platform, kind="post", n=n, c=0, post_id=pid,
                  parent_id=None, text=_synth_text(h, n), created=created, updated=created, author=acct.author,
                  title=f"Synthetic video {n}" if acct.platform == "youtube" else "", media=media,
                  likes=h % 97, views=h % 5000, detail=_default_detail(acct.platform, media))
        if overrides and pid in self._over:
            it = replace(it, **self._over[pid])
        return it

    def _synth_comment(self, acct: Account, n: int, c: int) -> Item:
        s = acct.synthetic
        post_created = self._synth_created(acct, n)
        created = post_created + c * s["cspace"]
        parent_c = c - 1 if c % 3 == 0 else 0
        cid = make_comment_id(acct, n, c, parent_c, created)
        pid = make_post_id(acct, n, post_created)
        parent_id = None
        if parent_c:
            parent_id = make_comment_id(acct, n, parent_c, 0, post_created + parent_c * s["cspace"])
        h = stable_hash(s["seed"], acct.id, n, c)
        residents = self._residents_for(acct.platform)
        author = residents[h % len(residents)]
        it = Item(id=cid, account_id=acct.id, platform=acct.platform, kind="comment", n=n, c=c, post_id=pid,
                  parent_id=parent_id, text=_synth_text(h, c, comment=True), created=created, updated=created,
                  author=author, likes=h % 7,
                  in_reply_to_user=(acct.handle if not parent_c else None) if acct.platform == "x" else None)
        if acct.platform == "x" and parent_c:
            it.in_reply_to_user = residents[stable_hash(s["seed"], acct.id, n, parent_c) % len(residents)].id
        if cid in self._over:
            it = replace(it, **self._over[cid])
        return it

    def _synth_lookup(self, item_id: str) -> Item | None:
        """Turn a generated id back into (account, n, c) and regenerate the item."""
        for acct in self.accounts:
            s = acct.synthetic
            if not s:
                continue
            try:
                n, c = _parse_id(acct, item_id)
            except (ValueError, KeyError, IndexError):
                continue
            if n is None:
                continue
            if acct.platform == "x":  # snowflake: time tells the post; sequence tells the comment
                ms, key, seq = x_unsnowflake(item_id)
                if key != acct.key or ms % 1000:
                    continue
                ts = ms // 1000
                c = seq
                if c == 0:
                    off = s["t0"] - ts
                else:
                    off = s["t0"] - (ts - c * s["cspace"])
                if off < 0 or off % s["interval"]:
                    continue
                n = off // s["interval"]
            if not (0 <= n < s["n"]) or not (0 <= c <= s["k"]):
                continue
            it = self._synth_post(acct, n) if c == 0 else self._synth_comment(acct, n, c)
            if it.id != item_id:
                continue
            return it
        return None

    # ------------------------------------------------------------------ the demo city
    @classmethod
    def demo(cls, seed: int = 7, now: int = DEMO_START) -> "World":
        """The demo city: six accounts on the four platforms, ~4 months of history each."""
        from . import demo  # noqa: PLC0415  (the demo city's content tables)

        w = cls(now=now, seed=seed, call_budget=4800)
        demo.build(w)
        return w

    def next_night(self) -> dict:
        """Advance the fake clock one day.  Every demo account gets a little activity: a new post on some,
        new comments (one of them the city's own reply), and one edit, one hide and one delete — so a
        multi-night demo shows every status on every platform.  Returns what happened."""
        from . import demo  # noqa: PLC0415

        with self.lock:
            self.night += 1
            start = len(self.log)
            demo.night(self)
            done = {"new": [], "edited": [], "hidden": [], "deleted": []}
            for _, action, _acct, item_id in self.log[start:]:
                key = {"add_post": "new", "add_comment": "new", "edit": "edited", "hide": "hidden",
                       "delete": "deleted"}.get(action)
                if key:
                    done[key].append(item_id)
            self.version += 1
            return done


def _parse_id(acct: Account, item_id: str):
    """(n, c) encoded in an id of this account's scheme; raises ValueError if it is not one."""
    p = acct.platform
    if p == "facebook":
        a, b = item_id.split("_")
        if a == acct.handle:
            suf, c = b, 0
        else:
            suf, c = a, int(b) - 1000
            if c < 1:
                raise ValueError(item_id)
        if len(suf) != 15 or suf[0] != "7" or int(suf[1:4]) != acct.key:
            raise ValueError(item_id)
        return int(suf[4:]), c
    if p == "instagram":
        if len(item_id) != 17 or not item_id.isdigit():
            raise ValueError(item_id)
        if item_id.startswith("179") and int(item_id[3:6]) == acct.key:
            return int(item_id[6:]), 0
        if item_id.startswith("18") and int(item_id[2:5]) == acct.key:
            return int(item_id[5:13]), int(item_id[13:])
        raise ValueError(item_id)
    if p == "x":
        if not item_id.isdigit():
            raise ValueError(item_id)
        return 0, 0  # resolved from the snowflake by the caller
    if p == "youtube":
        if len(item_id) == 11:
            if item_id[0] != B64[acct.key]:
                raise ValueError(item_id)
            return unscramble(unb64digits(item_id[1:])), 0
        thread, _, reply = item_id.partition(".")
        if len(thread) != 26 or not thread.startswith("Ug") or thread[2] != B64[acct.key]:
            raise ValueError(item_id)
        n = unscramble(unb64digits(thread[3:13]))
        c = unscramble(unb64digits(reply)) if reply else unscramble36(unb64digits(thread[13:19]))
        return n, c
    raise ValueError(p)


def _default_detail(platform, media) -> str:
    kinds = [m.kind for m in media]
    if platform == "facebook":
        if "video" in kinds:
            return "added_video"
        if kinds:
            return "added_photos"
        return "mobile_status_update"
    if platform == "instagram":
        return "FEED"
    return ""


def _token_for(platform, account_id, seed) -> str:
    h = hashlib.sha256(f"{platform}:{account_id}:{seed}".encode()).hexdigest()
    if platform in ("facebook", "instagram"):
        return "EAAB" + h[:40].upper() + h[40:56]  # Graph tokens start "EAA…"
    if platform == "x":
        return "AAAAAAAAAAAAAAAAAAAAA" + h[:48]
    return "ya29.a0" + h[:52]  # Google OAuth access token


def _resident_id(platform, h) -> str:
    if platform == "facebook":
        return str(2700000000000000 + h % 10**14)
    if platform == "instagram":
        return str(6000000000000000 + h % 10**14)
    if platform == "x":
        return str(10**17 + h % 10**17)
    return "UC" + b64digits(h % 2**60, 10) + "Resident" + b64digits(h >> 40, 4)


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower().replace(" ", "_") if ch.isalnum() or ch == "_")[:30] or "user"


RESIDENTS = [
    ("Jane Resident", "resident_a"), ("Marcus Lee", "marcus.lee"), ("Priya Natarajan", "priya_n"),
    ("José Álvarez", "jose.alvarez"), ("Sam O'Connor", "samoc"), ("Li Wei", "liwei88"),
    ("Fatima Haddad", "fhaddad"), ("Dana Whitfield", "dana_w"), ("Tom Becker", "tbecker"),
    ("Renée Dubois", "renee.d"), ("Oak St Neighbors", "oakstneighbors"), ("Kwame Mensah", "kmensah"),
]

_WORDS = ("park trail budget council street repair library permit meeting water bridge zoning snow "
          "recycling festival bus route sidewalk hearing vote grant pool ballot survey").split()


def _synth_text(h: int, n: int, comment: bool = False) -> str:
    words = [_WORDS[(h >> (i * 5)) % len(_WORDS)] for i in range(6 + h % 6)]
    if comment:
        return f"Comment {n}: " + " ".join(words) + "?"
    return f"Update #{n}: " + " ".join(words).capitalize() + "."
