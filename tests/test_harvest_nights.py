"""End to end, per platform, over several simulated nights against the fakes: everything listed is
archived; edits become versions with the old text kept; hides, unhides and deletions are detected, and a
deleted item keeps its last copy and the time its removal was noticed."""
from __future__ import annotations

import hashlib
import io
import json

import pyarrow as pa
import pytest
from civic_archive import recordscan
from civic_archive.demo import demo_config
from civic_archive.harvest import HarvestOptions, harvest_account
from civic_archive.records import read_table
from civic_archive.sources import source_class
from civic_archive.storage import LocalStore
from civic_archive.verify import verify
from warcio.archiveiterator import ArchiveIterator

ACCOUNTS = {"facebook": "parks-facebook", "instagram": "city-instagram", "x": "city-x", "youtube": "city-youtube"}


def all_rows(store, account):
    tables = [read_table(store, k) for k in store.list(f"records/account={account}/")]
    return pa.concat_tables(tables).to_pylist() if tables else []


def latest(rows):
    out = {}
    for r in sorted(rows, key=lambda r: r["version"]):
        out[(r["kind"], r["platform_id"])] = r
    return out


@pytest.mark.parametrize("platform", sorted(ACCOUNTS))
def test_three_nights(platform, fakes, archive_dir):
    three_nights(platform, fakes, archive_dir)


def test_three_nights_facebook_hidden_comments_that_leave_the_listings_are_read_directly(fakes, archive_dir):
    """§1.8: a missing id may be filtering, not deletion: confirm with a direct GET. A hidden comment that
    leaves `/comments` is read alone (all its fields), so its hide is recorded and then its unhide, instead of
    it staying live (found by an audit: Facebook only asked whether the comment existed)."""
    fakes.faults.fb_hidden_in_listings = False
    store, hidden_id = three_nights("facebook", fakes, archive_dir)
    rows = sorted((r for r in all_rows(store, "parks-facebook") if r["platform_id"] == hidden_id),
                  key=lambda r: r["version"])
    assert [(r["version"], r["status"]) for r in rows] == [(1, "live"), (2, "hidden"), (3, "live")]
    assert rows[1]["parent_platform_id"] == rows[0]["parent_platform_id"]  # read alone: its post from the state
    assert rows[1]["removed_detected_at"] is not None


def test_three_nights_instagram_hidden_comments_leave_the_listings(fakes, archive_dir):
    """Whether hidden Instagram comments stay in `/comments` is disputed (§2.4): when they leave it, the harvest
    reads the archived comment directly, records the hide as a new version pointing at that read's WARC record,
    reads it again on later nights (no new version while nothing changes), and sees the unhide."""
    fakes.faults.ig_hidden_in_listings = False
    store, hidden_id = three_nights("instagram", fakes, archive_dir)
    rows = sorted((r for r in all_rows(store, "city-instagram") if r["platform_id"] == hidden_id),
                  key=lambda r: r["version"])
    assert [(r["version"], r["status"]) for r in rows] == [(1, "live"), (2, "hidden"), (3, "live")]
    assert [r["removed_detected_at"] is not None for r in rows] == [False, True, False]  # read directly: same rule
    with store.open(rows[1]["warc_file"]) as fh:  # version 2 is the direct read of the comment
        fh.seek(rows[1]["warc_offset"])
        record = next(ArchiveIterator(io.BytesIO(fh.read(rows[1]["warc_length"]))))
    assert record.rec_headers.get_header("WARC-Target-URI").split("?")[0].endswith(f"/{hidden_id}")
    assert json.loads(record.content_stream().read())["hidden"] is True
    city = demo_config(fakes, f"file://{archive_dir}")
    fakes.world.hide(hidden_id)
    for _ in range(2):  # hidden again (read directly again), then a night without changes: one new version
        assert harvest_account(city, city.account("city-instagram"), store, options=HarvestOptions()).ok
    rows = [r for r in all_rows(store, "city-instagram") if r["platform_id"] == hidden_id]
    assert sorted((r["version"], r["status"]) for r in rows)[3:] == [(4, "hidden")]
    fakes.world.edit(hidden_id, "Edited while hidden")  # an edit is read the same way
    assert harvest_account(city, city.account("city-instagram"), store, options=HarvestOptions()).ok
    last = latest(all_rows(store, "city-instagram"))[("comment", hidden_id)]
    assert (last["version"], last["status"], last["text"]) == (5, "hidden", "Edited while hidden")


@pytest.mark.parametrize("platform", ["facebook", "instagram"])
def test_lookups_during_a_throttle_take_nothing_for_removed(platform, fakes, archive_dir, monkeypatch):
    """A throttle says nothing about the item looked up (§1.5). When the API starts throttling just as the
    harvest looks up what its walk did not see, nothing is recorded as removed: the lookups wait for the next
    night, which records the deletion as `deleted`."""
    monkeypatch.setattr(source_class(platform), "backoff_seconds", 0.0)
    world = fakes.world
    account_id = ACCOUNTS[platform]
    city = demo_config(fakes, f"file://{archive_dir}")
    store = LocalStore(archive_dir)
    doomed = world.add_comment(world.posts(account_id).front[0], "Resident question about the budget")

    def night():
        return harvest_account(city, city.account(account_id), store, options=HarvestOptions())

    def api_calls():
        return sum(1 for _, path, _ in fakes.requests_seen if path.startswith(f"/{platform}/"))

    assert night().ok
    before = api_calls()
    assert night().ok  # a night with nothing to look up: how many calls its walk takes
    walk_calls = api_calls() - before
    world.delete(doomed)
    fakes.faults.throttle_after(platform, walk_calls, reset_after=None)  # from the first lookup on
    throttled = night()
    assert throttled.complete and any("lookups stopped" in note for note in throttled.notes), throttled.notes
    assert [(r["version"], r["status"]) for r in all_rows(store, account_id) if r["platform_id"] == doomed] == [
        (1, "live")]
    fakes.faults.clear()
    assert night().ok
    assert latest(all_rows(store, account_id))[("comment", doomed)]["status"] == "deleted"


def three_nights(platform, fakes, archive_dir):
    """Night 1 archives; night 2 edits a post, hides a comment and deletes another; night 3 unhides. Returns the
    store and the id of the comment hidden on night 2."""
    world = fakes.world
    account_id = ACCOUNTS[platform]
    city = demo_config(fakes, f"file://{archive_dir}")
    account = city.account(account_id)
    store = LocalStore(archive_dir)
    options = HarvestOptions()
    newest = world.get(world.posts(account_id).front[0])
    mine = [world.get(world.add_comment(newest.id, f"Resident question {n} about {platform}")) for n in (1, 2)]

    first = harvest_account(city, account, store, options=options)
    assert first.ok and first.complete, first.errors
    rows = all_rows(store, account_id)
    archived = {r["platform_id"] for r in rows}
    posts = [p for p in world.posts(account_id).front if world.get(p) and not world.is_gone(world.get(p))
             and not world.get(p).restricted and world.get(p).privacy != "private"]
    assert posts and set(posts) <= archived, set(posts) - archived

    # Night 2: edit the newest post, hide one comment, delete another (on a post with at least two).
    post = world.get(posts[0])
    to_hide, to_delete = mine
    assert {to_hide.id, to_delete.id} <= archived
    old_post_text, deleted_text = post.text, to_delete.text
    world.edit(post.id, old_post_text + " (updated: time changed to 7pm)")
    if platform != "x":  # X exposes no hidden flag to read (platform-apis.md §3.6)
        world.hide(to_hide.id)
    world.delete(to_delete.id)
    second = harvest_account(city, account, store, options=options)
    assert second.ok and second.complete, second.errors
    rows = all_rows(store, account_id)
    now = latest(rows)
    post_kind = "video" if platform == "youtube" else "post"
    versions = sorted((r for r in rows if r["platform_id"] == post.id and r["kind"] == post_kind),
                      key=lambda r: r["version"])
    assert [r["version"] for r in versions] == [1, 2]
    if platform != "youtube":  # a video's title/description is its content; the fake edits comment text there
        assert versions[0]["text"] == old_post_text and versions[1]["text"].endswith("(updated: time changed to 7pm)")
    assert versions[1]["status"] == "edited" and versions[0]["content_sha256"] != versions[1]["content_sha256"]
    gone = [r for k, r in now.items() if k[1] == to_delete.id]
    assert len(gone) == 1 and gone[0]["status"] in ("deleted", "removed")
    assert gone[0]["text"] == deleted_text and gone[0]["removed_detected_at"] is not None
    assert gone[0]["raw_json"] and gone[0]["version"] == 2
    if platform != "x":
        hidden = [r for k, r in now.items() if k[1] == to_hide.id]
        assert len(hidden) == 1 and hidden[0]["status"] == "hidden" and hidden[0]["text"] == to_hide.text
        # DESIGN §5: seen before, then hidden: when that was noticed is recorded, as for a removal
        assert hidden[0]["removed_detected_at"] == hidden[0]["captured_at"] is not None

    # Night 3: unhide; nothing else about these items changes, and the deleted item stays deleted.
    if platform != "x":
        world.unhide(to_hide.id)
    third = harvest_account(city, account, store, options=options)
    assert third.ok, third.errors
    now = latest(all_rows(store, account_id))
    if platform != "x":
        assert now[(gone[0]["kind"], to_hide.id)]["status"] == "live"
        assert now[(gone[0]["kind"], to_hide.id)]["version"] == 3
        assert now[(gone[0]["kind"], to_hide.id)]["removed_detected_at"] is None  # shown again
    assert now[(gone[0]["kind"], to_delete.id)]["version"] == 2
    assert third.counts["new"] == 0 or third.counts["new"] < first.counts["new"]
    report = verify(store)
    assert report.ok, report.summary()
    # every records file's summary is listed in its run's manifest, and says what its rows say
    keys = recordscan.records_keys(store)
    listed, unlisted = recordscan.manifest_summaries(store, keys)
    assert keys and unlisted == [] and _sorted(listed).equals(_sorted(recordscan.summarize_files(store, keys)))
    return store, to_hide.id


def _sorted(table):
    return table.sort_by([(name, "ascending") for name in table.column_names])


def test_rows_trace_to_their_warc_records(fakes, archive_dir):
    """Every row's (warc_file, warc_offset, warc_length) cuts out the response record it names, and the
    item's JSON is in that record's payload."""
    import io
    import json

    from warcio.archiveiterator import ArchiveIterator

    city = demo_config(fakes, f"file://{archive_dir}")
    store = LocalStore(archive_dir)
    harvest_account(city, city.account("parks-facebook"), store)
    rows = all_rows(store, "parks-facebook")
    assert len(rows) > 50
    for row in rows[:200]:
        with store.open(row["warc_file"]) as fh:
            fh.seek(row["warc_offset"])
            member = fh.read(row["warc_length"])
        rec = next(ArchiveIterator(io.BytesIO(member)))
        assert rec.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"]
        assert rec.rec_type == "response"
        payload = json.loads(rec.content_stream().read())
        items = payload.get("data", [])
        raw = json.loads(row["raw_json"])
        if row["kind"] != "media":
            assert raw in items


def _photo_comment(world, account_id):
    """The demo's resident comment (an X reply) that carries a photo, on one of the account's newest posts."""
    return next(c for post in world.posts(account_id).front[:3] for c in world.comments(post) if c.media)


def _nights(fakes, archive_dir, account_id):
    """(store, night): `night()` harvests the demo account once and returns its latest rows by (kind, id)."""
    city = demo_config(fakes, f"file://{archive_dir}")
    store = LocalStore(archive_dir)

    def night():
        result = harvest_account(city, city.account(account_id), store, options=HarvestOptions())
        assert result.ok and result.complete, result.errors
        return latest(all_rows(store, account_id))

    return store, night


def _photo_of(rows, parent_id):
    """(key, row) of the one media item under `parent_id` in a night's latest rows."""
    (key, row), = [(k, r) for k, r in rows.items() if k[0] == "media" and r["parent_platform_id"] == parent_id]
    return key, row


def _warc_payload(store, row):
    with store.open(row["media_warc_file"]) as fh:
        fh.seek(row["media_warc_offset"])
        record = next(ArchiveIterator(fh))
    assert record.rec_headers.get_header("WARC-Record-ID") == row["media_warc_record_id"]
    return record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read()


@pytest.mark.parametrize("platform", ["facebook", "x"])
def test_comment_photo_is_archived_and_deleted_with_its_comment(platform, fakes, archive_dir):
    """A resident's photo on a comment (Facebook `attachment`) or reply (X, found by recent search) is a media
    item of its own: night 1 archives it under the comment with its bytes in the WARC and the comment's
    retention series; a night without changes leaves it alone; when the comment is deleted, the photo is
    recorded `deleted` with it, as a post's photos are with their post, its last copy (and bytes) kept."""
    world = fakes.world
    account_id = ACCOUNTS[platform]
    store, night = _nights(fakes, archive_dir, account_id)
    comment = _photo_comment(world, account_id)

    now = night()
    key, photo = _photo_of(now, comment.id)
    parent = next(r for k, r in now.items() if k[1] == comment.id and k[0] != "media")
    assert (photo["version"], photo["status"]) == (1, "live")
    assert photo["series_code"] == parent["series_code"] == "UNVERIFIED-public-comments"
    uri, payload = _warc_payload(store, photo)
    assert uri.endswith(f"/cdn/{comment.media[0].name}") and payload[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")
    assert hashlib.sha256(payload).hexdigest() == photo["media_sha256"]

    assert night()[key]["version"] == 1  # listed again, unchanged: no new version, nothing taken for removed

    world.delete(comment.id)
    now = night()
    assert (now[(parent["kind"], comment.id)]["status"], now[(parent["kind"], comment.id)]["version"]) == (
        "deleted", 2)
    gone = now[key]
    assert (gone["version"], gone["status"]) == (2, "deleted") and gone["removed_detected_at"] is not None
    assert (gone["media_sha256"], gone["media_warc_record_id"]) == (photo["media_sha256"],
                                                                   photo["media_warc_record_id"])
    assert gone["series_code"] == photo["series_code"]
    assert night()[key]["version"] == 2
    assert verify(store).ok


def test_x_reply_photo_outlives_the_deleted_post_as_its_reply_does(fakes, archive_dir):
    """On X a reply outlives the post it answers (§3.6), and so does the reply's photo: deleting the post
    must not take the photo with it (found by a review: it was marked deleted with the post)."""
    world = fakes.world
    store, night = _nights(fakes, archive_dir, "city-x")
    reply = _photo_comment(world, "city-x")

    now = night()
    key, photo = _photo_of(now, reply.id)
    world.delete(reply.post_id)
    now = night()
    assert now[("post", reply.post_id)]["status"] == "deleted"
    assert now[("comment", reply.id)]["status"] == "live" and now[key]["status"] == "live"


def test_facebook_hidden_comment_left_out_of_the_listing_does_not_take_its_photo(fakes, archive_dir):
    """A comment hidden and filtered out of /comments is read alone (hidden); its photo, unlisted with it, is
    not looked up on its own (the photo's lookup may fail while the comment is hidden): it is not recorded
    deleted (found by a review), and the comment's unhide brings nothing new for it."""
    fakes.faults.fb_hidden_in_listings = False
    world = fakes.world
    store, night = _nights(fakes, archive_dir, "parks-facebook")
    comment = _photo_comment(world, "parks-facebook")

    now = night()
    key, photo = _photo_of(now, comment.id)
    world.hide(comment.id)
    now = night()
    assert now[("comment", comment.id)]["status"] == "hidden"
    assert (now[key]["version"], now[key]["status"]) == (1, "live")
    world.unhide(comment.id)
    now = night()
    assert now[("comment", comment.id)]["status"] == "live" and now[key]["version"] == 1


def test_facebook_comment_photo_replaced_or_removed_keeps_the_archived_photo(fakes, archive_dir):
    """A comment edited to carry another photo is a new version of the comment, and the new photo is archived;
    the photo it no longer carries keeps its archived copy (recorded as gone from the platform, not lost). A
    comment whose photo is taken off keeps its archived photo the same way."""
    from civic_archive.fakes.world import Media

    world = fakes.world
    store, night = _nights(fakes, archive_dir, "parks-facebook")
    comment = _photo_comment(world, "parks-facebook")

    def photos(rows):
        return {k[1]: r for k, r in rows.items() if k[0] == "media" and r["parent_platform_id"] == comment.id}

    first = photos(night())
    assert len(first) == 1
    world._set(comment, media=(Media("photo", "parks-comment-pothole-closer.jpg", 32, 24),))
    now = night()
    assert (now[("comment", comment.id)]["version"], now[("comment", comment.id)]["status"]) == (2, "edited")
    second = photos(now)
    (old_id, old), = first.items()
    (new_id,) = set(second) - {old_id}
    assert (second[new_id]["version"], second[new_id]["status"]) == (1, "live")
    assert _warc_payload(store, second[new_id])[0].endswith("/cdn/parks-comment-pothole-closer.jpg")
    assert second[old_id]["status"] in ("deleted", "removed") and second[old_id]["version"] == 2
    assert second[old_id]["media_sha256"] == old["media_sha256"]
    world._set(comment, media=())
    now = night()
    assert now[("comment", comment.id)]["version"] == 3
    kept = photos(now)[new_id]
    assert kept["media_sha256"] == second[new_id]["media_sha256"]
    assert _warc_payload(store, kept)[1] and verify(store).ok
