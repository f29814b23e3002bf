"""The retention commands' --help and one-line errors, and a smoke run of the plan benchmark on tiny data."""
from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = [["hold"], ["hold", "add"], ["hold", "release"], ["hold", "list"], ["disposition"],
            ["disposition", "plan"], ["disposition", "approve"], ["disposition", "execute"], ["disposition", "log"],
            ["audit"], ["audit", "log"], ["audit", "certificate"], ["audit", "report"]]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "civic_archive.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help(command):
    proc = run(*command, "--help")
    assert proc.returncode == 0 and "usage: civic-archive" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["hold", "list", "--archive", "file:///nonexistent/archive"], "no archive at"),
    (["disposition", "plan", "--config", "/nonexistent/city.yaml"], "cannot read city config"),
    (["audit", "log", "--verify", "--archive", "file:///nonexistent/archive"], "no archive at"),
])
def test_errors_are_one_line(args, message):
    proc = run(*args)
    assert proc.returncode == 1 and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_disposition_without_approvers_or_bad_plan_id(tmp_path):
    from test_disposition_helpers import SIMPLE_ACCOUNTS, city_config, write_schedule

    (tmp_path / "archive").mkdir()
    path = tmp_path / "city.yaml"
    city_config(f"file://{tmp_path}/archive", SIMPLE_ACCOUNTS, schedule=write_schedule(tmp_path), path=path,
                approvers=())
    proc = run("disposition", "approve", "20260101-0123456789ab", "--config", str(path), "--approver", "clerk")
    assert proc.returncode == 1 and "names no approvers" in proc.stderr and proc.stderr.count("\n") == 1
    proc = run("disposition", "execute", "../../etc", "--config", str(path))
    assert proc.returncode == 1 and "is not a plan id" in proc.stderr
    proc = run("disposition", "plan", "--config", str(path), "--as-of", "2099-01-01", "--save")
    assert proc.returncode == 1 and "in the future" in proc.stderr


def test_plan_benchmark_smoke():
    """The benchmark runs end to end on tiny data (no timing assertions: benchmarks are not unit tests)."""
    import json
    from pathlib import Path

    code = ("import json; from bench import disposition_plan; "
            "print(json.dumps(disposition_plan.bench(4000, accounts=2, per_run=100)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["records"] > 3_000 and result["plan_objects"] > 0
    for key in ("cold_seconds", "warm_seconds", "hold_seconds", "cold_peak_rss_mb"):
        assert result[key] > 0
