"""DAG records_request_export: its trigger form is the export-request JSON Schema, and dag.test() with
params exports from a demo archive into exports/{request_id}/ with the request's hold in place."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import bagit
import pytest

from civic_archive import holds
from civic_archive.storage import LocalStore

from test_export import ACCOUNT, demo  # noqa: F401  (module fixture)

DAGS = Path(__file__).resolve().parents[1] / "dags"
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not {k: v for k, v in bag.import_errors.items() if "records_request_export" in k}
    return bag.get_dag("records_request_export")


def test_params_form(dag):
    assert type(dag.timetable).__name__ == "NullTimetable"  # no schedule: triggered by a clerk
    schema = json.loads((DAGS.parent / "schemas" / "export-request.schema.json").read_text())
    assert set(dag.params) == set(schema["properties"])
    assert dag.params.get_param("received").schema["format"] == "date"
    assert dag.params.get_param("redaction_profile").schema["enum"] == ["none", "commenter-identities"]


def test_dag_test_exports_with_params(dag, demo, tmp_path, monkeypatch):  # noqa: F811
    from airflow.utils.state import DagRunState

    root, _ = demo
    archive = tmp_path / "archive"
    shutil.copytree(root, archive)
    monkeypatch.setenv("CIVIC_ARCHIVE_DEMO_ARCHIVE", f"file://{archive}")
    monkeypatch.delenv("CIVIC_ARCHIVE_CONFIG", raising=False)
    monkeypatch.setenv("CIVIC_ARCHIVE_EXPORT_DIR", str(tmp_path / "zips"))
    run = dag.test(run_conf={"request_id": "R-dag-7", "requester": "Pat Doe", "received": "2026-11-20",
                             "accounts": [ACCOUNT], "query": "pool", "include_removed": True,
                             "redaction_profile": "commenter-identities", "requested_by": "clerk"})
    assert run.state == DagRunState.SUCCESS
    store = LocalStore(archive)
    keys = list(store.list("exports/R-dag-7/"))
    assert "exports/R-dag-7/request.json" in keys and any(k.endswith("data/view/index.html") for k in keys)
    assert holds.get(store, "REQ-R-dag-7").active
    zips = list((tmp_path / "zips").glob("R-dag-7-*.zip"))
    assert len(zips) == 1
    shutil.unpack_archive(zips[0], tmp_path / "unz")
    bagit.Bag(str(tmp_path / "unz" / "bag")).validate()
    summary = json.loads((tmp_path / "unz" / "bag" / "data" / "summary.json").read_text())
    assert summary["parameters"]["redaction_profile"] == "commenter-identities" and summary["redactions"] > 0
    # the Airflow user who triggered the run (dag.test() names itself), with the form's name as a label
    assert summary["run_by"] == "dag_test (Airflow user; form says: requested by clerk)"


def test_bad_params_fail_the_run(dag, demo, tmp_path, monkeypatch):  # noqa: F811
    from airflow.utils.state import DagRunState

    root, _ = demo
    monkeypatch.setenv("CIVIC_ARCHIVE_DEMO_ARCHIVE", f"file://{root}")
    monkeypatch.delenv("CIVIC_ARCHIVE_CONFIG", raising=False)
    try:
        run = dag.test(run_conf={"request_id": "no spaces allowed", "received": "not-a-date"})
    except Exception:  # Airflow refuses params that do not match the form's schema
        return
    assert run.state == DagRunState.FAILED
