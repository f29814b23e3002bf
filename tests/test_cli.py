"""The command line: --help everywhere, one-line errors with a non-zero exit, never a traceback."""
from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from civic_archive.cli import build_parser, main

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


# -- the DESIGN contract: one-line usage errors, `--account ID…`, holds without --by, plan without --config ------


@pytest.mark.parametrize("args,prog", [
    (["harvest"], "civic-archive harvest"),
    (["bogus"], "civic-archive"),
    (["disposition", "approve", "20260101-0123456789ab"], "civic-archive disposition approve"),
    (["hold", "add", "--reason", "r", "--since", "2025-13-01"], "civic-archive hold add"),
])
def test_usage_errors_are_one_line(args, prog):
    proc = run(*args)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"{prog}: error: ")
    assert proc.stderr.rstrip().endswith(f"(see {prog} --help)")


def test_yaml_syntax_errors_are_one_line_with_line_and_column(tmp_path):
    from civic_archive.retention import RetentionError, load_schedule

    bad = tmp_path / "city.yaml"
    bad.write_text("city: X\njurisdiction: MO\naccounts:\n  - id: a\n    platform: [facebook\narchive: x\n")
    proc = run("harvest", "--config", str(bad))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "is not valid YAML: " in proc.stderr and "at line 6, column 8" in proc.stderr
    bad.write_text("series:\n  - code: A\n   title: x\n")
    with pytest.raises(RetentionError) as exc:
        load_schedule(path=bad)
    assert "\n" not in str(exc.value) and "at line 3, column" in str(exc.value)


@pytest.mark.parametrize("args,dest,expected", [
    (["export", "--request-id", "R", "--out", "o", "--account", "a", "b", "--account", "c"], "account", ["a", "b", "c"]),
    (["export", "--request-id", "R", "--out", "o", "--closed", "2026-01-02", "2026-01-05"], "closed",
     [date(2026, 1, 2), date(2026, 1, 5)]),
    (["hold", "add", "--reason", "r", "--account", "a", "b"], "account", ["a", "b"]),
    (["hold", "add", "--reason", "r", "--record-id", "x", "y", "--record-id", "z"], "record_id", ["x", "y", "z"]),
    (["disposition", "plan", "--account", "a", "b"], "account", ["a", "b"]),
    (["disposition", "plan", "--series", "S1", "S2", "--series", "S3"], "series", ["S1", "S2", "S3"]),
])
def test_list_options_take_several_values_after_one_flag(args, dest, expected):
    assert getattr(build_parser().parse_args(args), dest) == expected


def test_hold_add_and_release_need_only_a_scope_and_a_reason(tmp_path, capsys):
    from civic_archive import holds, identity
    from civic_archive.storage import LocalStore
    from test_disposition_helpers import Item, SyntheticArchive, day

    store = LocalStore(tmp_path / "archive")
    SyntheticArchive(store).run("parks-facebook",
                                [Item("parks-facebook", "post", "TEST POSTS", day(2025, 3, 1), "p1")])
    login = identity.login_name()
    assert main(["hold", "add", "--archive", store.uri, "--reason", "Doe v. City",
                 "--account", "parks-facebook", "mayor-x", "--id", "DOE-1"]) == 0
    assert f"hold DOE-1 placed by {login}: accounts mayor-x, parks-facebook" in capsys.readouterr().out
    assert main(["hold", "release", "DOE-1", "--archive", store.uri]) == 0
    assert f"hold DOE-1 released by {login}" in capsys.readouterr().out
    hold = holds.get(store, "DOE-1")
    assert hold.placed_by == login and hold.released["released_by"] == login
    assert hold.released["reason"] == "released"
    with pytest.raises(SystemExit):  # a hold still names a reason
        main(["hold", "add", "--archive", store.uri, "--account", "parks-facebook"])
    assert main(["hold", "add", "--archive", store.uri, "--reason", "Doe v. City", "--query", "pool",
                 "--threads", "--id", "DOE-2"]) == 0
    assert "hold DOE-2 placed by" in capsys.readouterr().out
    assert holds.get(store, "DOE-2").scope == {"query": "pool", "threads": True}
    assert main(["hold", "add", "--archive", store.uri, "--reason", "r", "--threads"]) != 0  # threads of nothing
    assert build_parser().parse_args(["export", "--request-id", "R", "--out", "o", "--threads"]).threads is True


def test_disposition_plan_runs_on_the_demo_archive_without_a_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["demo", "--nights", "1"]) == 0
    assert "civic-archive disposition plan --archive file://" in capsys.readouterr().out
    assert main(["disposition", "plan"]) == 0  # the demo's ./archive
    out = capsys.readouterr().out
    assert out.startswith("No --config: jurisdiction MO (from the records), schedule missouri.yaml")
    assert "nothing is eligible" in out and "not confirmed by the city's records officer" in out
    assert "Purgeable now: 0 objects" in out
    assert main(["disposition", "plan", "--save"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--save needs --config" in err
    assert not (tmp_path / "archive" / "disposition").exists()
