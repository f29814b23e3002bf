"""Media bytes are fetched and archived once: a later walk that meets the same media item (same platform id,
same content identity) points at the bytes an earlier run archived instead of downloading and storing them
again. Changed or new media, media whose bytes were disposed of, and archives whose state predates this are
fetched as before."""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from warcio.archiveiterator import ArchiveIterator

from civic_archive import changes, manifest
from civic_archive.demo import demo_config
from civic_archive.harvest import HarvestOptions, harvest_account
from civic_archive.records import read_table
from civic_archive.storage import LocalStore
from civic_archive.verify import verify

ACCOUNT = "parks-facebook"  # photos, an album and a video thumbnail


def run_objects(store, run_id: str, kind: str) -> list[str]:
    doc = json.loads(store.read_bytes(manifest.manifest_key(run_id)))
    return [o["key"] for o in doc["objects"] if o["kind"] == kind]


def media_gets(store, run_id: str) -> list[str]:
    """The media (CDN) URLs the run's WARC files hold bytes for. A video whose declared size is over the
    account's cap (the demo's 150 MB concert) is asked for every night and refused without its body: not
    counted (it is quarantined, not archived)."""
    urls = []
    for key in run_objects(store, run_id, "warc"):
        with store.open(key) as fh:
            for rec in ArchiveIterator(fh):
                uri = rec.rec_headers.get_header("WARC-Target-URI") or ""
                if rec.rec_type == "response" and "/cdn/" in uri and rec.content_stream().read():
                    urls.append(uri)
    return urls


OVER_CAP = "the demo's 150 MB video, over the size cap"


def quarantine_reasons(store, run_id: str) -> list[str]:
    """What the run quarantined, the demo's over-cap video named as `OVER_CAP`."""
    reasons = [json.loads(store.read_bytes(k))["reason"] for k in store.list(f"quarantine/{run_id}/")]
    return [OVER_CAP if "parks-concert.mp4" in r and "over the size cap" in r else r for r in reasons]


def run_rows(store, run_id: str) -> list[dict]:
    tables = [read_table(store, k) for k in run_objects(store, run_id, "records")]
    return pa.concat_tables(tables).to_pylist() if tables else []


def media_bytes(store, row: dict) -> bytes:
    """The payload of the WARC record a row's media_* columns point at."""
    with store.open(row["media_warc_file"]) as fh:
        fh.seek(row["media_warc_offset"])
        rec = next(ArchiveIterator(fh))
        assert rec.rec_headers.get_header("WARC-Record-ID") == row["media_warc_record_id"]
        return rec.content_stream().read()


@contextmanager
def before_media_columns(monkeypatch):
    """Harvests in this context behave as before the media columns: state without them, no media reused."""
    old = pa.schema([f for f in changes.STATE_SCHEMA if f.name not in changes.MEDIA_STATE_COLUMNS])
    with monkeypatch.context() as m:
        m.setattr(changes, "STATE_SCHEMA", old)
        m.setattr(changes, "STATE_COLUMNS", old.names)
        m.setattr(changes, "MEDIA_STATE_COLUMNS", [])
        m.setattr(changes, "known_media", lambda files, since=None: {})
        m.setattr(changes.Detector, "media_backfill", lambda self, seen_at: None)
        yield


@pytest.fixture
def night(fakes, archive_dir):
    city = demo_config(fakes, f"file://{archive_dir}")
    store = LocalStore(archive_dir)

    runs = []

    def run(account_id: str = ACCOUNT, **options):
        # The fake world's clock stands still between changes: each run gets a later time (run ids sort by it).
        runs.append(account_id)
        when = datetime.fromtimestamp(fakes.world.now, timezone.utc) + timedelta(minutes=len(runs))
        result = harvest_account(city, city.account(account_id), store, options=HarvestOptions(**options),
                                 clock=lambda: when)
        assert result.ok, result.errors
        return result

    return run, store, fakes.world


def test_second_night_fetches_no_unchanged_media_and_points_at_the_first_nights_bytes(night):
    run, store, world = night
    first = run()
    fetched = media_gets(store, first.run_id)
    media = {r["platform_id"]: r for r in run_rows(store, first.run_id) if r["kind"] == "media"}
    # every media row's bytes are fetched once; the album's cover is its first photo's image (fetched once)
    assert len(media) >= 5 and first.media_fetched == len(fetched) == len(media) - first.media_reused

    # Night 2: nothing about the media changes, but one post with a photo is hidden (its photo is hidden
    # with it, so that photo gets a new row).
    post = next(r for r in run_rows(store, first.run_id) if r["kind"] == "post"
                and r["platform_id"] in {m["parent_platform_id"] for m in media.values()})
    world.hide(post["platform_id"])
    second = run()
    assert second.full_sweep  # the demo account is small: swept in full every night
    assert media_gets(store, second.run_id) == []
    assert second.media_fetched == 0 and second.media_reused >= len(media)
    rows = run_rows(store, second.run_id)
    assert {r["kind"] for r in rows} <= {"post", "media"} and second.counts["hidden"] == len(rows) >= 2
    rewritten = [r for r in rows if r["kind"] == "media"]
    assert rewritten and all(r["status"] == "hidden" and r["version"] == 2 for r in rewritten)
    for row in rewritten:
        before = media[row["platform_id"]]
        assert row["content_sha256"] == before["content_sha256"]
        assert (row["media_sha256"], row["media_warc_file"], row["media_warc_offset"], row["media_warc_record_id"]) \
            == (before["media_sha256"], before["media_warc_file"], before["media_warc_offset"],
                before["media_warc_record_id"])
        assert row["media_warc_file"] in run_objects(store, first.run_id, "warc")
        assert hashlib.sha256(media_bytes(store, row)).hexdigest() == row["media_sha256"]
    # Night 3, nothing changed: still nothing fetched (the hidden rows carried the pointers forward).
    third = run()
    assert media_gets(store, third.run_id) == [] and third.media_fetched == 0
    assert dict(third.counts) == {"seen": second.counts["seen"]}
    report = verify(store)
    assert report.ok, report.summary()


def test_an_album_post_archives_the_album_and_each_photo_without_quarantine(night):
    """An album attachment (`type: album`) has an id of its own and each of its subattachments its photo's
    (platform-apis.md §1.2): every photo gets its own media row, as does the album, whose cover (its first
    photo's image) is fetched once. Nothing is quarantined as "listed again with different content", and the
    next night, nothing having changed, records nothing and fetches nothing."""
    run, store, _ = night
    first = run()
    assert quarantine_reasons(store, first.run_id) == [OVER_CAP] * first.quarantined  # only the big video
    rows = run_rows(store, first.run_id)
    albums = [(r["platform_id"], a) for r in rows if r["kind"] == "post"
              for a in (json.loads(r["raw_json"]).get("attachments") or {}).get("data", []) if a["type"] == "album"]
    assert albums
    fetched = media_gets(store, first.run_id)
    for post_id, album in albums:
        photos = album["subattachments"]["data"]
        media = {r["platform_id"]: r for r in rows if r["kind"] == "media" and r["parent_platform_id"] == post_id}
        photo_ids = [p["target"]["id"] for p in photos]
        assert sorted(media) == sorted([album["target"]["id"], *photo_ids])
        assert [json.loads(media[pid]["raw_json"])["type"] for pid in photo_ids] == ["photo"] * len(photos)
        cover, first_photo = media[album["target"]["id"]], media[photo_ids[0]]
        assert (cover["media_sha256"], cover["media_warc_record_id"]) == \
            (first_photo["media_sha256"], first_photo["media_warc_record_id"])
        assert fetched.count(photos[0]["media"]["image"]["src"]) == 1
        assert len({media[pid]["media_sha256"] for pid in photo_ids}) == len(photos)
    second = run()
    assert quarantine_reasons(store, second.run_id) == [OVER_CAP] * second.quarantined
    assert second.media_fetched == 0
    assert dict(second.counts) == {"seen": first.counts["seen"]}


def test_media_whose_identity_changed_is_fetched_again(night):
    run, store, world = night
    first = run("city-x")
    photos = [r for r in run_rows(store, first.run_id) if r["kind"] == "media"]
    assert photos
    target = photos[0]
    post = world.get(target["parent_platform_id"])
    world._set(post, media=tuple(replace(m, alt="Map of the detour (corrected)") for m in post.media))
    second = run("city-x")
    assert second.media_fetched == 1 and len(media_gets(store, second.run_id)) == 1
    [row] = [r for r in run_rows(store, second.run_id) if r["kind"] == "media"]
    assert row["platform_id"] == target["platform_id"] and row["status"] == "edited" and row["version"] == 2
    assert row["text"] == "Map of the detour (corrected)"
    assert row["media_warc_file"] in run_objects(store, second.run_id, "warc")
    assert hashlib.sha256(media_bytes(store, row)).hexdigest() == row["media_sha256"]


def test_an_incremental_night_reuses_media_of_its_window(night):
    run, store, _ = night
    first = run("city-instagram")
    second = run("city-instagram", full_sweep_below_items=0, recheck_days=3650)
    assert second.since is not None and not second.full_sweep
    assert second.media_reused >= 1 and second.media_fetched == 0 and media_gets(store, second.run_id) == []
    assert dict(second.counts) == {"seen": second.counts["seen"]}
    assert first.media_fetched >= second.media_reused


def test_media_whose_warc_file_is_gone_is_fetched_again(night):
    run, store, _ = night
    first = run("city-instagram")
    media = [r for r in run_rows(store, first.run_id) if r["kind"] == "media"]
    [warc] = {r["media_warc_file"] for r in media}
    path = store.local_path(warc)
    os.chmod(path, 0o644)
    os.unlink(path)  # as if disposed of
    second = run("city-instagram")
    assert (second.media_fetched, second.media_reused) == (first.media_fetched, first.media_reused)
    assert dict(second.counts) == {"seen": second.counts["seen"]}  # same bytes: nothing changed


def test_archive_whose_state_predates_the_media_columns_still_harvests(night, monkeypatch):
    run, store, world = night
    with before_media_columns(monkeypatch):  # night 1 writes state as the code before this change did
        first = run()
    for key in run_objects(store, first.run_id, "state"):
        assert "media_sha256" not in read_table(store, key).column_names
    second = run()  # fetches as before (only the album's cover, met twice in a walk, is fetched once), no changes
    assert (second.media_fetched, second.media_reused) == (first.media_fetched, first.media_reused)
    assert len(media_gets(store, second.run_id)) == second.media_fetched
    assert dict(second.counts) == {"seen": first.counts["seen"]}
    # ...and, a full sweep, its state snapshot learns where the bytes it fetched are: the next walk reuses them.
    third = run()
    assert third.media_fetched == 0 and media_gets(store, third.run_id) == []
    assert dict(third.counts) == {"seen": first.counts["seen"]}
    report = verify(store)
    assert report.ok, report.summary()


def test_pointers_added_over_an_older_delta_win_in_the_next_snapshot(night, monkeypatch):
    """The item's current row is in a delta written before the media columns (hidden on an incremental night):
    the row that adds its pointers has the same version, and wins in the snapshot by being seen later."""
    run, store, world = night
    with before_media_columns(monkeypatch):
        first = run()
        media = [r for r in run_rows(store, first.run_id) if r["kind"] == "media"]
        world.hide(media[0]["parent_platform_id"])
        second = run(full_sweep_below_items=0, recheck_days=3650)  # incremental: writes a delta
        assert second.since is not None and second.counts["hidden"] >= 2
    hidden = {r["platform_id"] for r in run_rows(store, second.run_id) if r["kind"] == "media"}
    third = run()  # a full sweep: fetches everything once more, and its snapshot learns where the bytes are
    assert third.full_sweep and third.media_fetched == first.media_fetched
    snap = pa.concat_tables([read_table(store, k) for k in run_objects(store, third.run_id, "state")
                             if ".snapshot." in k]).to_pylist()
    rows = {r["platform_id"]: r for r in snap if r["kind"] == "media"}
    assert hidden and all(rows[p]["version"] == 2 and rows[p]["media_warc_record_id"] for p in hidden)
    fourth = run()
    assert fourth.media_fetched == 0 and media_gets(store, fourth.run_id) == []
    assert dict(fourth.counts) == {"seen": first.counts["seen"]}
