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
    assert set(dag.task_dict) == {"accounts", "harvest", "summarize"}
    assert dag.task_dict["accounts"].downstream_task_ids == {"harvest"}
    assert dag.task_dict["harvest"].downstream_task_ids == {"summarize"}
    assert dag.task_dict["harvest"].retries >= 1


def test_harvest_nightly_dag_test_archives_the_demo_city(dagbag, tmp_path, monkeypatch):
    from airflow.utils.state import DagRunState

    archive = tmp_path / "archive"
    monkeypatch.setenv("CIVIC_ARCHIVE_DEMO_ARCHIVE", f"file://{archive}")
    monkeypatch.delenv("CIVIC_ARCHIVE_CONFIG", raising=False)
    run = dagbag.get_dag("harvest_nightly").test()
    assert run.state == DagRunState.SUCCESS
    store = LocalStore(archive)
    manifests = [k for k in store.list("manifests/") if k.endswith(".json")]
    from civic_archive.demo import demo_config  # noqa: F401  (the demo's accounts are what must be there)
    assert len(manifests) >= 2
    report = verify(store)
    assert report.ok, report.summary()
    assert report.warc_records > 0
