"""Records-request exports from a multi-night demo archive: the bag validates, every row traces to its WARC
record inside the bag, hidden/removed items appear only when asked for, redacted values appear nowhere,
the request's hold is placed and released, and the CLI does the same."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import bagit
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from civic_archive import cli, export, holds, records_request, recordscan, redaction_profiles, search
from civic_archive.storage import LocalStore

from archive_builders import harvest_demo

ACCOUNT = "parks-facebook"
SCRIPT_POST = 'Pool schedule <script>document.title="pwned";document.body.append("INJECTED")</script> <b>bold?</b>'
RESIDENT = "Zebulon Quartermaine"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Three nights of the demo city, with a post holding markup, a named resident's comment, a hidden and a
    deleted comment, and an edit. Returns the pristine archive folder and what was done."""
    from civic_archive.fakes import FakePlatforms, World
    from civic_archive.fakes.world import Media

    root = tmp_path_factory.mktemp("demo") / "archive"
    with FakePlatforms(World.demo()) as fakes:
        world = fakes.world
        post = world.add_post(ACCOUNT, SCRIPT_POST)
        named = world.add_comment(post, "Will the pool open at 6? " + "thanks", author=RESIDENT)
        hidden = world.add_comment(post, "This comment gets hidden by the city",
                                   media=(Media("photo", "hidden-comment-photo.jpg", 32, 24),))
        gone = world.add_comment(post, "This comment gets deleted later")
        reply = world.add_comment(named, f"Replying to {RESIDENT}: yes, at six")
        harvest_demo(fakes, f"file://{root}", nights=1)
        world.hide(hidden)
        fakes.faults.fb_hidden_in_listings = False  # the hidden comment is read alone; its photo stays "live"
        world.delete(gone)
        world.edit(post, SCRIPT_POST + " (updated)")
        fakes.world.next_night()
        city, store, _ = harvest_demo(fakes, f"file://{root}", nights=2)
    ids = {"post": post, "named": named, "hidden": hidden, "gone": gone, "reply": reply}
    return root, ids


@pytest.fixture
def store(demo, tmp_path):
    root, _ = demo
    copy = tmp_path / "archive"
    shutil.copytree(root, copy)
    for p in copy.rglob("*"):  # the archive's objects are read-only; the copy must be removable
        p.chmod(0o755 if p.is_dir() else 0o644)
    return LocalStore(copy)


def run(store, tmp_path, name="pkg", **kw):
    criteria = search.Criteria(**{k: kw.pop(k) for k in list(kw) if k in ("accounts", "since", "until", "query",
                                                                           "include_removed", "threads")})
    req = export.ExportRequest(request_id=kw.pop("request_id", "R-2026-001"), criteria=criteria,
                               requester=kw.pop("requester", "A. Reporter"), received=date(2026, 11, 20),
                               run_by="clerk", **kw)
    return export.export(store, req, tmp_path / name)


def package_rows(bag: Path) -> list[dict]:
    return pq.read_table(bag / "data" / "records.parquet").to_pylist()


def test_bag_validates_and_every_row_traces_to_its_warc_record(store, tmp_path, demo):
    result = run(store, tmp_path, accounts=[ACCOUNT], include_removed=True)
    bag = bagit.Bag(str(result.path))
    bag.validate()  # full validation: every checksum of every payload and tag file
    assert (result.path / "bagit.txt").read_text().startswith("BagIt-Version: 1.0\n")
    rows = package_rows(result.path)
    assert rows and {r["account_id"] for r in rows} == {ACCOUNT}
    with open(result.path / "data" / "records.csv", newline="", encoding="utf-8") as fh:
        assert [r["record_id"] for r in csv.DictReader(fh)] == [r["record_id"] for r in rows]
    files = {}
    for row in rows:
        path = result.path / "data" / row["evidence_file"]
        if path not in files:
            with open(path, "rb") as fh:
                for rec in ArchiveIterator(fh, check_digests=True):
                    rec.content_stream().read()  # reading to the end runs the digest check
                    assert rec.digest_checker.passed is not False, rec.digest_checker.problems
            first = next(iter(ArchiveIterator(open(path, "rb"))))
            assert first.rec_type == "warcinfo"
            files[path] = path.read_bytes()
        member = files[path][row["evidence_offset"]:row["evidence_offset"] + row["evidence_length"]]
        record = next(iter(ArchiveIterator(io.BytesIO(member), check_digests=True)))
        assert record.rec_headers.get_header("WARC-Record-ID") == row["warc_record_id"] == row["evidence_record_id"]
        assert record.rec_type == "response"
        body = record.content_stream().read().decode("utf-8")  # reading to the end runs the digest check
        assert record.digest_checker.passed is not False, record.digest_checker.problems
        assert row["platform_id"] in body  # the platform's own response names the item
        assert record.digest_checker.passed is not False
    # the WARC files in the bag read whole, with valid digests
    for path in files:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, check_digests=True):
                rec.content_stream().read()
                assert rec.digest_checker.passed is not False, rec.digest_checker.problems
    custody = json.loads((result.path / "data" / "chain-of-custody.json").read_text())
    assert custody["run_by"] == "clerk" and custody["software"].startswith("civic-archive/")
    assert custody["parameters"]["accounts"] == [ACCOUNT] and custody["counts"]["rows"] == len(rows)
    for rel, info in custody["files"].items():
        assert bag.entries[f"data/{rel}"]["sha256"] == info["sha256"]
    assert set(custody["files"]) >= {"records.csv", "records.parquet", "view/index.html", "summary.md"}
    summary = json.loads((result.path / "data" / "summary.json").read_text())
    assert summary["deadline"]["deadline"] == "2026-11-25" and summary["deadline"]["citation"] == "RSMo 610.023.3"
    # a copy of the package lives in the archive under exports/{request_id}/
    keys = list(store.list("exports/R-2026-001/"))
    assert any(k.endswith("/data/records.parquet") for k in keys) and "exports/R-2026-001/request.json" in keys


def test_hidden_and_removed_only_when_asked(store, tmp_path, demo):
    _, ids = demo
    without = package_rows(run(store, tmp_path, "a", request_id="R-a", accounts=[ACCOUNT]).path)
    with_ = package_rows(run(store, tmp_path, "b", request_id="R-b", accounts=[ACCOUNT], include_removed=True).path)
    moderated = ("hidden", "removed", "deleted")
    assert not [r for r in without if r["status"] in moderated or r["item_status"] in moderated]
    assert not {ids["hidden"], ids["gone"]} & {r["platform_id"] for r in without}
    # nor the photo of the hidden comment, though the photo's own rows still say live (its comment was left
    # out of the listing, so the photo was not seen again): it goes with its comment
    assert not [r for r in without if r["kind"] == "media" and r["parent_platform_id"] == ids["hidden"]]
    photo = [r for r in with_ if r["kind"] == "media" and r["parent_platform_id"] == ids["hidden"]]
    assert photo and photo[-1]["status"] == "live"
    by_id = {}
    for r in with_:
        by_id.setdefault(r["platform_id"], []).append(r)
    assert by_id[ids["hidden"]][-1]["status"] == "hidden"
    gone = by_id[ids["gone"]]
    assert gone[-1]["status"] in ("deleted", "removed") and gone[-1]["text"] == "This comment gets deleted later"
    timeline = json.loads(gone[-1]["moderation_timeline"])
    assert [t["status"] for t in timeline][0] == "live" and timeline[-1]["removed_detected_at"]
    post = by_id[ids["post"]]
    assert [r["version"] for r in post] == [1, 2] and post[0]["text"] == SCRIPT_POST  # every version
    view = (tmp_path / "a" / "data" / "view" / "index.html").read_text()
    assert "This comment gets hidden by the city" not in view and "This comment gets deleted later" not in view
    assert "hidden-comment-photo" not in json.dumps(without, default=str)
    # Nor in the evidence: a comments page that evidences the responsive comments held them too; its record
    # is a conversion record with their text and author taken out, referring to the original.
    for path, data in _all_bytes(tmp_path / "a"):
        for text in (b"This comment gets hidden by the city", b"This comment gets deleted later"):
            assert text not in data, path
    log = list(csv.DictReader(open(tmp_path / "a" / "data" / "redaction-log.csv", encoding="utf-8")))
    assert log and all(e["profile"] == "moderated-content" for e in log)
    evidence = b"".join(d for p, d in _all_bytes(tmp_path / "b") if p.suffix == ".gz")
    assert b"This comment gets hidden by the city" in evidence  # asked for: the original records


def test_text_query_and_dates(store, tmp_path, demo):
    _, ids = demo
    rows = package_rows(run(store, tmp_path, request_id="R-q", query="POOL SCHEDULE").path)
    assert {r["platform_id"] for r in rows} == {ids["post"]}
    none = search.find(store, search.Criteria(since=date(2001, 1, 1), until=date(2001, 1, 31)))
    assert none is None or none.num_rows == 0


def _all_bytes(root: Path):
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield path, data
        if path.suffix == ".gz":
            yield path, gzip.decompress(data)
        if path.suffix == ".parquet":
            yield path, pq.read_table(path).to_pandas().to_csv().encode() if False else \
                json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False).encode()


def test_redacted_values_appear_nowhere_in_the_bag(store, tmp_path, demo):
    _, ids = demo
    plain = run(store, tmp_path, "plain", request_id="R-plain", accounts=[ACCOUNT], include_removed=True)
    plain_rows = package_rows(plain.path)
    commenters = {r["author_name"] for r in plain_rows if r["kind"] in ("comment", "reply")} - {None}
    officials = redaction_profiles.official_identities(plain_rows)
    assert "Example City Parks & Recreation" in officials
    commenter_ids = {r["author_id"] for r in plain_rows if r["kind"] in ("comment", "reply")} - {None}
    assert RESIDENT in commenters
    assert any(RESIDENT.encode() in data for _, data in _all_bytes(plain.path))  # the check can see it

    result = run(store, tmp_path, "red", request_id="R-red", accounts=[ACCOUNT], include_removed=True,
                 redaction_profile="commenter-identities")
    bagit.Bag(str(result.path)).validate()
    rows = package_rows(result.path)
    assert result.redactions > 0 and len(rows) == len(plain_rows)
    secrets = {v for v in commenters | commenter_ids if v not in officials and len(v) >= 4}
    assert secrets
    for path, data in _all_bytes(result.path):
        for value in secrets:
            for form in {value, json.dumps(value)[1:-1]}:
                assert form.encode() not in data, f"{value!r} found in {path}"
    named = next(r for r in rows if r["platform_id"] == ids["named"])
    assert named["author_name"] == "[REDACTED]" and named["text"].startswith("Will the pool open")
    reply = next(r for r in rows if r["platform_id"] == ids["reply"])
    assert reply["text"] == "Replying to [REDACTED]: yes, at six"
    # a record holding a redacted value is a conversion record that names the original
    member_rows = [r for r in rows if r["evidence_record_id"] != r["warc_record_id"]]
    assert member_rows
    r = member_rows[0]
    data = (result.path / "data" / r["evidence_file"]).read_bytes()
    rec = next(iter(ArchiveIterator(io.BytesIO(data[r["evidence_offset"]:r["evidence_offset"] + r["evidence_length"]]))))
    assert rec.rec_type == "conversion" and rec.rec_headers.get_header("WARC-Refers-To") == r["warc_record_id"]
    log = (result.path / "data" / "redaction-log.csv").read_text()
    assert "commenter-identities" in log and RESIDENT not in log
    # the archive itself is untouched
    assert search.find(store, search.Criteria(query=RESIDENT)).num_rows >= 1


def test_hold_is_placed_and_released_on_close(store, tmp_path):
    result = run(store, tmp_path, request_id="R-hold", accounts=[ACCOUNT], since=date(2020, 1, 1))
    hold = holds.get(store, result.hold_id)
    assert hold.active and hold.kind == "records_request" and hold.request_id == "R-hold"
    assert hold.scope == {"accounts": [ACCOUNT], "since": "2020-01-01"}
    keys = [k for k in store.list("records/") if k.endswith(".parquet")]
    covered = holds.covered_rows(store, [hold], keys)
    exported = {r["record_id"] for r in package_rows(result.path)}
    assert exported <= set(covered.column("record_id").to_pylist())
    closed = records_request.close(store, "R-hold", closed_by="clerk")
    assert closed["holds_released"] == [hold.hold_id] and not holds.get(store, hold.hold_id).active
    with pytest.raises(records_request.RequestError):
        run(store, tmp_path, "again", request_id="R-hold")


def test_zip_output(store, tmp_path):
    req = export.ExportRequest(request_id="R-zip", criteria=search.Criteria(accounts=[ACCOUNT]))
    result = export.export(store, req, tmp_path / "out.zip", store_in_archive=False)
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(tmp_path / "unz")
    bagit.Bag(str(tmp_path / "unz" / "bag")).validate()


def test_cli_export_and_request_close(store, tmp_path, capsys):
    uri = f"file://{store.root}" if hasattr(store, "root") else store.uri
    out = tmp_path / "cli-pkg"
    code = cli.main(["export", "--archive", uri, "--request-id", "R-cli", "--account", ACCOUNT, "--query", "pool",
                     "--include-removed", "--out", str(out), "--requester", "Jo", "--received", "2026-11-20",
                     "--by", "clerk"])
    text = capsys.readouterr().out
    assert code == 0 and "request R-cli:" in text and "deadline: 2026-11-25" in text
    bagit.Bag(str(out)).validate()
    assert cli.main(["request", "close", "R-cli", "--archive", uri, "--by", "clerk"]) == 0
    assert "holds released: REQ-R-cli" in capsys.readouterr().out
    code = cli.main(["export", "--archive", uri, "--request-id", "bad id!", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "not a request id" in err


def test_a_query_brings_the_media_attached_to_a_matching_post(store, tmp_path):
    """A photo carries no text a query could match: it is responsive with its post, and held with it (found by
    an audit: a query left a matching post's photo out of the package and out of the hold)."""
    keys = [k for k in store.list("records/") if k.endswith(".parquet")]
    everything = search.rows(search.find(store, search.Criteria(), keys=keys))
    media = [r for r in everything if r["kind"] == "media" and r["parent_platform_id"]]
    posts = {r["platform_id"]: r for r in everything if r["kind"] == "post" and (r["text"] or "").strip()}
    photo = next(m for m in media if m["parent_platform_id"] in posts)
    post = posts[photo["parent_platform_id"]]
    word = max(post["text"].split(), key=len)
    result = run(store, tmp_path, request_id="R-photo", accounts=[post["account_id"]], query=word)
    rows = package_rows(result.path)
    assert post["platform_id"] in {r["platform_id"] for r in rows if r["kind"] == "post"}
    assert photo["platform_id"] in {r["platform_id"] for r in rows if r["kind"] == "media"}
    assert not [r for r in rows if r["kind"] == "media" and r["parent_platform_id"] not in
                {p["platform_id"] for p in rows if p["kind"] != "media"}]
    covered = holds.covered_rows(store, [holds.get(store, result.hold_id)], keys)
    assert {r["record_id"] for r in rows} <= set(covered.column("record_id").to_pylist())


def test_a_repeat_export_regenerates_the_same_request_only(store, tmp_path):
    first = run(store, tmp_path, "first", request_id="R-rep", accounts=[ACCOUNT], query="pool")
    req = export.ExportRequest(request_id="R-rep", criteria=search.Criteria(accounts=[ACCOUNT], query="pool"))
    again = export.export(store, req, tmp_path / "again")  # no requester or date given: the recorded ones
    meta = json.loads((again.path / "data" / "summary.json").read_text())
    assert meta["requester"] == "A. Reporter" and meta["received"] == "2026-11-20"
    assert again.deadline == first.deadline and again.deadline["deadline"]
    with pytest.raises(records_request.RequestError, match="was opened with criteria"):
        run(store, tmp_path, "other", request_id="R-rep", accounts=["mayor-facebook"])
    with pytest.raises(records_request.RequestError, match="was opened with requester"):
        run(store, tmp_path, "who", request_id="R-rep", accounts=[ACCOUNT], query="pool", requester="B. Other")
    assert not (tmp_path / "other").exists()


def test_an_unknown_account_is_refused_before_anything_is_written(store, tmp_path):
    before = sorted(store.list(""))
    for account in ("no-such-account", "Parks-Facebook"):
        with pytest.raises(export.ExportError, match=f"no account {account}"):
            run(store, tmp_path, f"x-{account}", request_id="R-unknown", accounts=[account])
    assert sorted(store.list("")) == before and records_request.load(store, "R-unknown") is None


def test_an_account_harvested_with_nothing_in_it_gets_an_empty_package(store, tmp_path):
    """Answering that no responsive records exist is an answer: an account the archive has harvested (it has
    a manifest chain) but that holds no records is exported, empty."""
    from civic_archive.run import ArchiveRun

    ArchiveRun(store, "quiet-account", warcinfo={}).commit()
    result = run(store, tmp_path, request_id="R-quiet", accounts=["quiet-account"])
    assert result.counts["rows"] == 0 and records_request.load(store, "R-quiet") is not None


def test_bad_inputs_are_refused_before_anything_is_written(store, tmp_path):
    before = sorted(store.list(""))
    with pytest.raises(export.ExportError, match="unknown time zone"):
        run(store, tmp_path, "tz", request_id="R-bad", accounts=[ACCOUNT], timezone="Mars/Olympus")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(export.ExportError, match="already exists"):
        run(store, tmp_path, "afile", request_id="R-bad", accounts=[ACCOUNT])
    assert sorted(store.list("")) == before


def test_custody_ties_the_package_to_the_manifests(store, tmp_path):
    result = run(store, tmp_path, request_id="R-custody", accounts=[ACCOUNT])
    custody = json.loads((result.path / "data" / "chain-of-custody.json").read_text())
    sources = custody["source_objects"]
    assert sources and all(s["sha256"] and s["manifest"] for s in sources)
    for source in sources[:5]:
        manifest_doc = json.loads(store.read_bytes(source["manifest"]))
        listed = {o["key"]: o for o in manifest_doc["objects"]}[source["key"]]
        assert listed["sha256"] == source["sha256"] == hashlib.sha256(store.read_bytes(source["key"])).hexdigest()


@pytest.mark.parametrize("damage", ["none", "edited", "removed", "added", "loose", "deleted"])
def test_verify_checks_the_packages_kept_in_the_archive(store, tmp_path, damage):
    """The archive's copy of a package is one run of the `exports` manifest chain: verify checks its files'
    SHA-256s like any object's and validates the bag; a whole package deleted shows once a fixity audit has
    recorded the chain's head. A stray file under exports/ is an orphan, as anywhere else."""
    from civic_archive import heads
    from civic_archive.verify import verify

    result = run(store, tmp_path, request_id="R-kept", accounts=[ACCOUNT], query="pool")
    prefix = result.archive_prefix
    manifests = [json.loads(store.read_bytes(k)) for k in store.list("manifests/exports.")]
    assert [m["export_id"] for m in manifests] == [prefix.split("/")[2]]
    assert {o["key"] for o in manifests[0]["objects"]} == {k for k in store.list(prefix)}
    heads.record(store, verify(store, deep=False))
    package = Path(store.local_path(prefix + "bagit.txt")).parent
    csv_file = package / "data" / "records.csv"
    if damage == "edited":  # one byte of the records changed
        csv_file.chmod(0o644)
        data = bytearray(csv_file.read_bytes())
        data[-2] ^= 0x01
        csv_file.write_bytes(bytes(data))
    elif damage == "removed":
        csv_file.unlink()
    elif damage == "added":
        (package / "data" / "note.txt").write_text("added later")
    elif damage == "loose":
        (package.parent / "stray.txt").write_text("x")
    elif damage == "deleted":  # the package and its manifest
        for key in [*store.list(prefix), *store.list("manifests/exports.")]:
            os.chmod(store.local_path(key), 0o644)
            os.unlink(store.local_path(key))
    report = verify(store, deep=False)
    failed = {key for key, _ in report.failures}
    if damage in ("none", "loose", "added"):  # a file nothing lists is an orphan: the package is what it was
        assert report.ok, report.summary()
        assert report.export_packages == 1
        stray = {"loose": "exports/R-kept/stray.txt", "added": prefix + "data/note.txt"}.get(damage)
        assert [k for k in report.orphans if k.startswith("exports/")] == ([stray] if stray else [])
        return
    assert not report.ok
    expected = {"edited": {prefix + "data/records.csv", prefix}, "removed": {prefix + "data/records.csv"}}.get(damage)
    if expected is not None:
        assert failed == expected, report.failures
    else:  # deleted: the recorded head of the exports chain is gone
        assert any(k.startswith("manifests/exports.") for k in failed), report.failures


def test_an_empty_result_still_gets_the_statutory_clock(store, tmp_path):
    result = run(store, tmp_path, request_id="R-empty", query="zzzz-nothing-matches-zzzz")
    assert result.counts["rows"] == 0 and result.deadline["jurisdiction"] == "MO" and result.deadline["deadline"]


def test_records_a_crashed_run_left_behind_are_not_exported(store, tmp_path):
    """A run exists when its manifest does: after a crash and its resume, the crashed run's records files
    stay as orphans, and an export listed every row twice (found by an audit)."""
    committed = package_rows(run(store, tmp_path, "before", request_id="R-orphan", accounts=[ACCOUNT]).path)
    key = next(k for k in store.list(f"records/account={ACCOUNT}/") if k.endswith(".parquet"))
    run_id = key.rsplit("/", 1)[1].rsplit("-", 1)[0]
    orphan = key.replace(run_id, run_id[:-6] + "ffffff")  # the same rows, under a run that never committed
    store.put_bytes(orphan, store.read_bytes(key))
    again = package_rows(run(store, tmp_path, "after", request_id="R-orphan", accounts=[ACCOUNT]).path)
    assert len(again) == len(committed) and orphan not in {r["key"] for r in again}
    # the same file under a committed run's id but listed in no manifest: refused, before anything is written
    forged = key.rsplit("-", 1)[0] + "-99.parquet"
    store.put_bytes(forged, store.read_bytes(key))
    with pytest.raises(export.ExportError, match="not listed in its run's manifest"):
        run(store, tmp_path, "forged", request_id="R-forged", accounts=[ACCOUNT])
    assert records_request.load(store, "R-forged") is None


def test_the_custody_record_names_the_airflow_user_who_triggered_the_export():
    assert export._run_by("pat.clerk", "Mayor's office") == \
        "pat.clerk (Airflow user; form says: requested by Mayor's office)"
    assert export._run_by("pat.clerk", None) == export._run_by("pat.clerk", "pat.clerk") == "pat.clerk"
    assert export._run_by(None, None) == "airflow"


def test_withheld_items_are_blanked_in_api_answers_of_every_shape():
    """What `_without` takes out of an evidence record: every value of a withheld item but its id, on the
    shapes the platforms answer with; the replies it carries and the other items stay as they are."""
    ig = {"data": [{"id": "c1", "text": "hidden words", "username": "someone", "hidden": True,
                    "replies": {"data": [{"id": "r1", "text": "a reply", "username": "other"}]}},
                   {"id": "c2", "text": "kept", "username": "resident"}]}
    assert export._without(ig, {"c1"}) == 2
    assert ig["data"][0] == {"id": "c1", "text": "[REDACTED]", "username": "[REDACTED]", "hidden": True,
                             "replies": {"data": [{"id": "r1", "text": "a reply", "username": "other"}]}}
    assert ig["data"][1]["text"] == "kept"
    fb = {"data": [{"id": "p_1", "message": "gone", "from": {"name": "Pat", "id": "55"}, "is_hidden": False}]}
    assert export._without(fb, {"p_1"}) == 3 and fb["data"][0]["from"] == {"name": "[REDACTED]", "id": "[REDACTED]"}
    yt = {"items": [{"id": "t1", "snippet": {"topLevelComment": {"id": "t1", "snippet": {
        "textDisplay": "spam", "authorDisplayName": "x"}}}, "replies": {"comments": [
            {"id": "t1.a", "snippet": {"textDisplay": "fine"}}]}}]}
    assert export._without(yt, {"t1"}) >= 3
    assert "spam" not in json.dumps(yt) and "fine" in json.dumps(yt)
    x = {"data": [{"id": "9", "text": "withheld"}, {"id": "10", "text": "ok"}]}
    assert export._without(x, {"9"}) == 1 and x["data"][1]["text"] == "ok"
    assert export._without({"data": []}, {"9"}) == 0


def test_withheld_x_posts_take_what_only_they_refer_to_out_of_includes():
    """An X answer names a post's author, photos and the posts it quotes under `includes`. Once a hidden reply
    is blanked, what only it referred to goes too (its author's name, its photo): what a post left in the
    answer refers to stays, directly or through a post it quotes."""
    doc = {"data": [
        {"id": "9", "text": "hidden words", "author_id": "u9", "in_reply_to_user_id": "city",
         "attachments": {"media_keys": ["3_9"]}, "referenced_tweets": [{"type": "replied_to", "id": "1"}]},
        {"id": "10", "text": "kept", "author_id": "u10", "in_reply_to_user_id": "city",
         "referenced_tweets": [{"type": "quoted", "id": "7"}]}],
        "includes": {
            "users": [{"id": "u9", "name": "Hidden Author", "username": "hidden_author"},
                      {"id": "u10", "name": "Kept Author", "username": "kept_author"},
                      {"id": "city", "name": "City of Example", "username": "cityofexample"},
                      {"id": "u7", "name": "Quoted", "username": "quoted_author"}],
            "media": [{"media_key": "3_9", "type": "photo", "url": "https://pbs.twimg.com/media/hidden.jpg"}],
            "tweets": [{"id": "7", "text": "quoted words", "author_id": "u7"},
                       {"id": "1", "text": "the city's post", "author_id": "city"}]},
        "meta": {"result_count": 2}}
    taken = export._without(doc, {"9"})
    taken += export._orphaned_includes(doc)
    text = json.dumps(doc)
    for gone in ("hidden_author", "Hidden Author", "hidden.jpg", "3_9", "hidden words"):
        assert gone not in text
    users = {u["username"] for u in doc["includes"]["users"]}
    assert users == {"[REDACTED]", "kept_author", "cityofexample", "quoted_author"}
    # the city's post was referred to only by the hidden reply: blanked too (the archive keeps it as captured)
    assert [t["text"] for t in doc["includes"]["tweets"]] == ["quoted words", "[REDACTED]"]
    assert taken == 6 + 3 + 3 + 3  # the reply's 6 values, its author, its photo, the post only it replied to
    assert export._orphaned_includes({"data": [{"id": "1"}]}) == 0


def test_a_deleted_x_reply_leaves_no_trace_of_its_author_in_the_evidence(tmp_path):
    """X names each post's author under `includes.users` of the answer. A reply deleted since it was captured
    is withheld from an export made without --include-removed; the page that evidences its sibling reply named
    the deleted reply's author there, and still did after the reply itself was blanked."""
    from civic_archive.fakes import FakePlatforms, World
    from civic_archive.fakes.world import Author

    root = tmp_path / "archive"
    with FakePlatforms(World.demo()) as fakes:
        world = fakes.world
        post = world.add_post("city-x", "Leaf pickup starts Monday")
        kept = world.add_comment(post, "Which streets first?", author=Author("8101", "Kept Resident", "kept_resident"))
        gone = world.add_comment(post, "A reply its author deletes",
                                 author=Author("8102", "Gone Resident", "gone_resident"))
        harvest_demo(fakes, f"file://{root}", nights=1, accounts=["city-x"])
        world.delete(gone)
        harvest_demo(fakes, f"file://{root}", nights=2, accounts=["city-x"])
    store = LocalStore(root)
    without = run(store, tmp_path, "a", request_id="R-x", accounts=["city-x"], query="Which streets")
    assert {r["platform_id"] for r in package_rows(without.path)} == {kept}
    evidence = b"".join(d for p, d in _all_bytes(without.path) if p.suffix == ".gz")
    assert b"kept_resident" in evidence  # the responsive reply's own page is there
    for trace in (b"gone_resident", b"Gone Resident", b"A reply its author deletes"):
        assert trace not in evidence
    with_ = run(store, tmp_path, "b", request_id="R-xb", accounts=["city-x"], query="Which streets",
                include_removed=True)
    assert b"gone_resident" in b"".join(d for p, d in _all_bytes(with_.path) if p.suffix == ".gz")


def test_threads_bring_the_conversation_of_each_responsive_item(store, tmp_path, demo):
    """A query matching only a reply finds the reply; with threads, the post it hangs under and every other
    comment and reply there (not hidden or deleted ones, unless asked for). The request's hold says so."""
    _, ids = demo
    alone = package_rows(run(store, tmp_path, "a", request_id="R-t1", accounts=[ACCOUNT], query="yes, at six").path)
    assert {r["platform_id"] for r in alone} == {ids["reply"]}
    result = run(store, tmp_path, "b", request_id="R-t2", accounts=[ACCOUNT], query="yes, at six", threads=True)
    rows = package_rows(result.path)
    assert {r["platform_id"] for r in rows} == {ids["post"], ids["named"], ids["reply"]}
    assert holds.get(store, result.hold_id).scope == {"accounts": [ACCOUNT], "query": "yes, at six", "threads": True}
    assert records_request.load(store, "R-t2")["criteria"]["threads"] is True
    assert "- Whole threads: yes" in (result.path / "data" / "summary.md").read_text()
    assert "- Whole threads: no" in (tmp_path / "a" / "data" / "summary.md").read_text()
    everything = package_rows(run(store, tmp_path, "c", request_id="R-t3", accounts=[ACCOUNT], query="yes, at six",
                                  threads=True, include_removed=True).path)
    assert {ids["hidden"], ids["gone"]} <= {r["platform_id"] for r in everything}
    assert any(r["kind"] == "media" and r["parent_platform_id"] == ids["hidden"] for r in everything)


def test_a_thread_reaches_comments_written_months_after_its_post(tmp_path):
    """The date range picks the post; its thread brings a comment written six weeks later (another month's
    records file), in the package and under the request's hold, which disposition must respect."""
    from civic_archive.fakes import FakePlatforms, World

    root = tmp_path / "archive"
    with FakePlatforms(World.demo()) as fakes:
        world = fakes.world
        then = world.now - 42 * 86400
        post = world.add_post(ACCOUNT, "Splash pad hours for the summer", created=then)
        early = world.add_comment(post, "Thanks for posting", created=then + 3600)
        late = world.add_comment(post, "Is it still open this week?")
        harvest_demo(fakes, f"file://{root}", nights=1, accounts=[ACCOUNT])
    store = LocalStore(root)
    day = datetime.fromtimestamp(then, timezone.utc).date()
    criteria = dict(accounts=[ACCOUNT], since=day, until=day, query="splash pad")
    plain = package_rows(run(store, tmp_path, "a", request_id="R-m1", **criteria).path)
    assert {r["platform_id"] for r in plain} == {post}
    result = run(store, tmp_path, "b", request_id="R-m2", threads=True, **criteria)
    rows = package_rows(result.path)
    assert {r["platform_id"] for r in rows} == {post, early, late}
    late_key = next(r["key"] for r in rows if r["platform_id"] == late)
    assert recordscan.versions_group(late_key) != recordscan.versions_group(
        next(r["key"] for r in rows if r["platform_id"] == post))
    hold = holds.get(store, result.hold_id)
    covered = holds.covered_objects(store, [hold])
    assert late_key in covered and result.hold_id in covered[late_key]
    # the plain request's hold (no threads) does not reach the later comment's records file
    assert late_key not in holds.covered_objects(store, [holds.get(store, records_request.hold_id_for("R-m1"))])
