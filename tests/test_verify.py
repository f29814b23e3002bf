"""`verify`: passes on an intact archive; flipping one byte in a WARC, a Parquet file or a manifest, or
removing / reordering a manifest, makes it fail and name the object."""
from __future__ import annotations

import gzip
import json
import os
import shutil

import pytest

from archive_builders import harvest_demo
from civic_archive.cli import main
from civic_archive.storage import LocalStore
from civic_archive.verify import verify


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory):
    """Harvested once per module; each test damages its own copy."""
    from civic_archive.fakes import FakePlatforms, World

    root = tmp_path_factory.mktemp("template") / "archive"
    with FakePlatforms(World.demo()) as fakes:
        city, store, results = harvest_demo(fakes, f"file://{root}", nights=2)
    assert all(r.ok for r in results), [r.errors for r in results]
    return root


@pytest.fixture
def archive(demo_template, tmp_path):
    root = tmp_path / "archive"
    shutil.copytree(demo_template, root)
    return LocalStore(root)


def flip_byte(path, offset=None):
    os.chmod(path, 0o644)
    data = bytearray(open(path, "rb").read())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    open(path, "wb").write(bytes(data))


def keys(store, prefix, suffix=""):
    return [k for k in store.list(prefix) if k.endswith(suffix)]


def test_intact_archive_verifies(archive, capsys):
    report = verify(archive)
    assert report.ok, report.summary()
    assert report.manifests >= 2 and report.warc_records > 10 and not report.orphans
    assert main(["verify", "--archive", archive.uri]) == 0
    assert "result: OK" in capsys.readouterr().out


@pytest.mark.parametrize("prefix,suffix", [("warc/", ".warc.gz"), ("records/", ".parquet"),
                                           ("state/", ".parquet"), ("manifests/", ".report.md")])
def test_flipped_byte_in_an_object_is_named(archive, prefix, suffix, capsys):
    key = keys(archive, prefix, suffix)[0]
    flip_byte(archive.local_path(key))
    report = verify(archive)
    assert not report.ok
    assert key in {k for k, _ in report.failures}
    assert main(["verify", "--archive", archive.uri]) == 1
    assert f"FAILED {key}" in capsys.readouterr().out


def test_damaged_warc_record_fails_its_digest_even_with_a_matching_manifest_hash(archive, tmp_path):
    """A WARC rewritten with a changed payload but intact gzip framing fails on the record digest too."""
    key = keys(archive, "warc/", ".warc.gz")[0]
    path = archive.local_path(key)
    members = gzip.decompress(open(path, "rb").read())
    assert b'"data"' in members
    os.chmod(path, 0o644)
    open(path, "wb").write(gzip.compress(members.replace(b'"data"', b'"DATA"', 1)))
    failures = dict(verify(archive).failures)
    assert key in failures


def test_flipped_byte_in_a_manifest_breaks_the_object_and_the_chain(archive):
    first, second = keys(archive, "manifests/", ".json")[:2]
    chain = first.split("/")[1].split(".")[0]
    assert second.split("/")[1].startswith(chain + ".")
    doc = json.loads(open(archive.local_path(first)).read())
    os.chmod(archive.local_path(first), 0o644)
    doc["objects"][0]["size"] += 1
    open(archive.local_path(first), "w").write(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    failures = verify(archive).failures
    named = {k for k, _ in failures}
    assert first in named  # its successor's recorded hash no longer matches it


def test_raw_byte_flip_in_a_manifest_is_named(archive):
    first = keys(archive, "manifests/", ".json")[0]
    flip_byte(archive.local_path(first))
    assert first in {k for k, _ in verify(archive).failures}


def test_summary_names_each_chain_head(archive):
    report = verify(archive)
    heads = [line for line in report.summary().splitlines() if line.startswith("chain ")]
    assert len(heads) == len(report.heads) >= 1 and all(" sha256 " in h for h in heads)


def test_removed_manifest_breaks_the_chain(archive):
    chains = {}
    for key in keys(archive, "manifests/", ".json"):
        chains.setdefault(key.split("/")[1].split(".")[0], []).append(key)
    first, second = next(v for v in chains.values() if len(v) >= 2)[:2]
    os.unlink(archive.local_path(first))
    report = verify(archive)
    assert not report.ok and second in {k for k, _ in report.failures}
    assert any("orphan" not in why for _, why in report.failures)


def test_missing_object_is_named(archive):
    key = keys(archive, "records/", ".parquet")[0]
    os.unlink(archive.local_path(key))
    failures = dict(verify(archive).failures)
    assert "missing" in failures[key]


def test_orphans_of_a_crashed_run_are_reported_but_do_not_fail(archive):
    orphan = "warc/parks-facebook/2026/01/crashed.20260101T000000000000Z.abcdef-0.warc.gz"
    archive.put_bytes(orphan, b"partial")
    report = verify(archive)
    assert report.ok and orphan in report.orphans
