"""The DAG files import cleanly, and harvest_nightly runs the demo harvest under dag.test()."""
from __future__ import annotations

from pathlib import Path

import pytest

from civic_archive.storage import LocalStore
from civic_archive.verify import verify

DAGS = Path(__file__).resolve().parents[1] / "dags"
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dag_files_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "harvest_nightly" in dagbag.dag_ids


def test_harvest_nightly_shape(dagbag):
    dag = dagbag.get_dag("harvest_nightly")
    assert dag.max_active_runs == 1
    platforms = ("facebook", "instagram", "x", "youtube")
    assert set(dag.task_dict) == {f"{t}_{p}" for t in ("accounts", "harvest") for p in platforms} | {"summarize"}
    for p in platforms:
        harvest = dag.task_dict[f"harvest_{p}"]
        assert dag.task_dict[f"accounts_{p}"].downstream_task_ids == {f"harvest_{p}", "summarize"}
        assert harvest.downstream_task_ids == {"summarize"}
        assert harvest.pool == f"civic_archive_{p}" and harvest.retries >= 1


def test_harvest_nightly_dag_test_archives_the_demo_city(dagbag, tmp_path, monkeypatch):
    from airflow.utils.state import DagRunState

    archive = tmp_path / "archive"
    monkeypatch.setenv("CIVIC_ARCHIVE_DEMO_ARCHIVE", f"file://{archive}")
    monkeypatch.delenv("CIVIC_ARCHIVE_CONFIG", raising=False)
    run = dagbag.get_dag("harvest_nightly").test()
    assert run.state == DagRunState.SUCCESS
    store = LocalStore(archive)
    manifests = [k for k in store.list("manifests/") if k.endswith(".json")]
    chains = {k.split("/")[1].split(".")[0] for k in manifests}
    assert chains == {"parks-facebook", "mayor-facebook", "police-facebook", "city-instagram", "city-x",
                      "city-youtube"}
    reports = [k for k in store.list("manifests/") if k.endswith(".report.md")]
    assert len(reports) == len(manifests)
    report = verify(store)
    assert report.ok, report.summary()
    assert report.warc_records > 0


def test_one_failing_account_does_not_block_the_others(dagbag, fakes, tmp_path, monkeypatch):
    """An expired token fails that account (and the run, visibly); every other account is archived."""
    import os

    import yaml
    from airflow.utils.state import DagRunState, TaskInstanceState

    archive = tmp_path / "archive"
    doc, env = fakes.city_config(archive=f"file://{archive}", city="City of Example", jurisdiction="MN")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("CIVIC_ARCHIVE_CONFIG", str(path))
    fakes.faults.expire_token("mayor-facebook")
    run = dagbag.get_dag("harvest_nightly").test()
    assert run.state == DagRunState.FAILED
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("summarize", -1)] == TaskInstanceState.FAILED
    assert all(s == TaskInstanceState.SUCCESS for (t, _), s in states.items() if t.startswith("harvest_"))
    store = LocalStore(archive)
    chains = {k.split("/")[1].split(".")[0] for k in store.list("manifests/") if k.endswith(".json")}
    assert chains == {a["id"] for a in doc["accounts"]}  # the failing account still committed its evidence
    report = next(k for k in store.list("manifests/mayor-facebook.") if k.endswith(".report.md"))
    assert "access token" in store.read_bytes(report).decode()
    assert verify(store).ok
    assert os.environ["CIVIC_ARCHIVE_CONFIG"] == str(path)


def test_an_account_whose_task_fails_outright_fails_the_run(dagbag, fakes, tmp_path, monkeypatch):
    """A harvest task that raises even after its retries leaves no result; the summary still fails the run
    (it compares the accounts listed with the results reported), naming the account."""
    import yaml
    from airflow.utils.state import DagRunState, TaskInstanceState

    archive = tmp_path / "archive"
    doc, env = fakes.city_config(archive=f"file://{archive}", city="City of Example", jurisdiction="MO")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    broken = next(a for a in doc["accounts"] if a["id"] == "city-x")
    monkeypatch.delenv(broken["credentials"].split(":", 1)[1])  # its token is missing: the task raises
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("CIVIC_ARCHIVE_CONFIG", str(path))
    run = dagbag.get_dag("harvest_nightly").test()
    assert run.state == DagRunState.FAILED
    tis = {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances()}
    assert tis[("summarize", -1)].state == TaskInstanceState.FAILED
    assert tis[("harvest_x", 0)].state == TaskInstanceState.FAILED
    chains = {k.split("/")[1].split(".")[0] for k in LocalStore(archive).list("manifests/") if k.endswith(".json")}
    assert chains == {a["id"] for a in doc["accounts"]} - {"city-x"}


def test_summary_counts_missing_results_and_unlisted_platforms_as_failures():
    from civic_archive import nightly

    ok = {"account": "a", "errors": [], "counts": {"new": 2}, "quarantined": 0}
    assert nightly.summarize([ok], expected=["a"])["totals"] == {"new": 2}
    with pytest.raises(nightly.AccountsFailed, match="b: its harvest task failed"):
        nightly.summarize([ok], expected=["a", "b"])
    with pytest.raises(nightly.AccountsFailed, match="accounts_youtube"):
        nightly.summarize([ok], expected=["a"], unlisted=["youtube"])


def test_an_unreadable_config_variable_fails_instead_of_harvesting_the_demo(monkeypatch):
    from airflow.sdk import Variable

    from civic_archive import nightly
    from civic_archive.config import ConfigError

    def unreachable(*args, **kwargs):
        raise ConnectionError("metadata database unreachable")

    monkeypatch.delenv("CIVIC_ARCHIVE_CONFIG", raising=False)
    monkeypatch.setattr(Variable, "get", staticmethod(unreachable))
    with pytest.raises(ConfigError, match="not falling back to the demo city"):
        nightly.config_path()
