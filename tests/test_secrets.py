"""No token reaches the archive: every byte the demo wrote (gunzipped too) is searched for each token."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

from archive_builders import harvest_demo


def all_bytes(root: Path):
    for dirpath, _, files in os.walk(root):
        for name in files:
            data = (Path(dirpath) / name).read_bytes()
            yield name, data
            if name.endswith(".gz"):
                yield name + " (gunzipped)", gzip.decompress(data)


def test_no_token_anywhere_in_the_archive(fakes, archive_dir):
    city, store, results = harvest_demo(fakes, f"file://{archive_dir}", nights=2)
    tokens = [os.environ[a.credentials.split(":", 1)[1]] for a in city.accounts]
    assert tokens and all(len(t) >= 8 for t in tokens)
    seen_files = 0
    for name, data in all_bytes(archive_dir):
        seen_files += 1
        for token in tokens:
            assert token.encode() not in data, f"token found in {name}"
    assert seen_files > 5
    warc_text = b"".join(d for n, d in all_bytes(archive_dir) if n.endswith("(gunzipped)"))
    assert b"access_token=REDACTED" in warc_text  # the redaction really ran on echoed paging URLs
