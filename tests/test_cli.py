"""The command line: --help everywhere, one-line errors with a non-zero exit, never a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from civic_archive.cli import main

COMMANDS = ["harvest", "verify", "demo"]


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "civic_archive.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("command", [[]] + [[c] for c in COMMANDS])
def test_help(command):
    proc = run(*command, "--help")
    assert proc.returncode == 0 and "usage: civic-archive" in proc.stdout


def test_missing_config_is_one_line(tmp_path):
    proc = run("harvest", "--config", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cannot read city config" in proc.stderr


def test_literal_secret_in_config_is_refused_without_echoing_it(tmp_path):
    secret = "EAABliteralSECRETtoken1234567890"
    path = tmp_path / "city.yaml"
    path.write_text(f"""city: X
jurisdiction: MO
archive: file://{tmp_path}/a
accounts:
  - {{id: parks-facebook, platform: facebook, handle: "1", credentials: "{secret}"}}
""")
    proc = run("harvest", "--config", str(path))
    assert proc.returncode == 1 and "literal secret" in proc.stderr and secret not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_config_names_the_problem(tmp_path):
    path = tmp_path / "city.yaml"
    path.write_text("city: X\njurisdiction: TX\narchive: file://a\naccounts: []\n")
    proc = run("harvest", "--config", str(path))
    assert proc.returncode == 1 and "jurisdiction" in proc.stderr and proc.stderr.count("\n") == 1


def test_unset_credentials_variable_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    path = tmp_path / "city.yaml"
    path.write_text(f"""city: X
jurisdiction: MN
archive: file://{tmp_path}/a
accounts:
  - {{id: parks-facebook, platform: facebook, handle: "1", credentials: "env:NO_SUCH_TOKEN_VAR",
     api_base_url: "http://127.0.0.1:9/facebook/v21.0"}}
""")
    assert main(["harvest", "--config", str(path)]) == 1


def test_verify_of_a_missing_archive_fails_cleanly(tmp_path):
    proc = run("verify", "--archive", f"file://{tmp_path}/nothing-here")
    assert proc.returncode == 1 and "no archive at" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "nothing-here").exists()
