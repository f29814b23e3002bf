"""No token reaches the archive: every byte the demo wrote (gunzipped too) is searched for each token."""
from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote

import pyarrow.parquet as pq

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


def readable_forms(path: Path):
    """Every way a file's bytes can be read: raw, gunzipped, unzipped members, and Parquet values decoded
    (Parquet pages are compressed, so a raw scan alone would miss a token inside one)."""
    data = path.read_bytes()
    yield str(path), data
    if path.name.endswith(".gz"):
        yield f"{path} (gunzipped)", gzip.decompress(data)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as bundle:
            for member in bundle.namelist():
                yield f"{path}!{member}", bundle.read(member)
    if path.suffix == ".parquet" and data:  # (legal-hold markers are empty files of the same name)
        table = pq.read_table(path)
        yield f"{path} (values)", json.dumps(table.to_pylist(), default=str, ensure_ascii=False).encode()


def test_no_token_in_logs_reports_cli_output_or_export_bags(fakes, tmp_path, caplog):
    """A two-night run of all four platforms with DEBUG logging (urllib3 then logs every request URL), the
    CLI with -v (verify, export to a folder and a .zip, request show, audit report, disposition plan): every
    byte of the archive (gunzipped, Parquet decoded), of the logs, of the CLI's output and of the export bags
    is searched for every token, the Graph appsecret_proof included."""
    archive = tmp_path / "archive"
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        city, store, results = harvest_demo(fakes, f"file://{archive}", nights=2)
        logging.getLogger("test").error("a failure quoting %s", "https://graph.example/v21.0/1/feed?"
                                        f"access_token={os.environ[city.accounts[0].credentials[4:]]}&limit=5")
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)
    assert {a.platform for a in city.accounts} == {"facebook", "instagram", "x", "youtube"}
    assert all(r.ok for r in results)
    tokens = [os.environ[a.credentials.split(":", 1)[1]] for a in city.accounts]
    tokens += [s for a in city.accounts if a.app_secret for s in (os.environ[a.app_secret.split(":", 1)[1]],)]
    assert len(tokens) >= 6 and all(len(t) >= 8 for t in tokens)

    env = {**os.environ}
    cli = [sys.executable, "-m", "civic_archive.cli", "-v"]
    uri = f"file://{archive}"
    commands = [
        ["verify", "--archive", uri],
        ["export", "--archive", uri, "--request-id", "R-1", "--out", str(tmp_path / "bag"), "--requester", "A",
         "--include-removed"],
        ["export", "--archive", uri, "--request-id", "R-2", "--out", str(tmp_path / "bag.zip"),
         "--include-removed"],
        ["request", "show", "R-1", "--archive", uri],
        ["audit", "report", "--archive", uri, "--config", str(tmp_path / "city.json"),
         "--out", str(tmp_path / "audit.html")],
        ["disposition", "plan", "--archive", uri, "--config", str(tmp_path / "city.json")],
    ]
    doc, _ = fakes.city_config(archive=uri, city=city.city, jurisdiction=city.jurisdiction)
    (tmp_path / "city.json").write_text(json.dumps(doc))
    outputs = []
    for command in commands:
        run = subprocess.run(cli + command, env=env, capture_output=True, timeout=300)
        assert run.returncode == 0, (command, run.stderr[-2000:])
        outputs.append((" ".join(command[:2]), run.stdout + run.stderr))

    logged = log_file.read_bytes()
    assert b"access_token=REDACTED" in logged  # urllib3's DEBUG lines were there, and redacted
    assert b"a failure quoting" in logged
    scanned = 0
    sources = [(f"CLI {name}", data) for name, data in outputs] + [("debug log", logged),
                                                                   ("caplog", caplog.text.encode())]
    files = [p for base in (archive, tmp_path) for p in base.rglob("*") if p.is_file() and p != log_file]
    assert any(p.suffix == ".zip" for p in files) and any("bag" in p.parts for p in files)
    assert any(p.name.endswith(".report.md") for p in files) and any(p.name == "audit.html" for p in files)
    for path in files:
        sources += list(readable_forms(path))
    for name, data in sources:
        scanned += 1
        for token in tokens:
            for form in {token, quote(token, safe=""), token.replace("/", "\\/")}:
                assert form.encode() not in data, f"a token in {name}"
    assert scanned > 50
