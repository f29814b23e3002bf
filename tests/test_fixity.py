"""The weekly fixity audit DAG: green on an intact archive, failed (naming the object) after one flipped byte."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from archive_builders import harvest_demo

DAGS = Path(__file__).resolve().parents[1] / "dags"
pytestmark = pytest.mark.airflow


def test_fixity_audit_dag_passes_then_catches_a_flipped_byte(airflow_db, fakes, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState, TaskInstanceState

    archive = tmp_path / "archive"
    harvest_demo(fakes, f"file://{archive}", accounts=["parks-facebook", "city-x"])
    monkeypatch.setenv("CIVIC_ARCHIVE_DEMO_ARCHIVE", f"file://{archive}")
    monkeypatch.delenv("CIVIC_ARCHIVE_CONFIG", raising=False)
    dagbag = DagBag(dag_folder=str(DAGS / "fixity_audit.py"))
    assert dagbag.import_errors == {}
    dag = dagbag.get_dag("fixity_audit")

    run = dag.test()
    assert run.state == DagRunState.SUCCESS

    warc = next(archive.glob("warc/city-x/**/*.warc.gz"))
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01
    os.chmod(warc, 0o644)
    warc.write_bytes(bytes(data))
    run = dag.test()
    assert run.state == DagRunState.FAILED
    (ti,) = run.get_task_instances()
    assert ti.state == TaskInstanceState.FAILED


def test_fixity_audit_names_the_failing_object(fakes, tmp_path):
    from civic_archive import fixity

    archive = tmp_path / "archive"
    harvest_demo(fakes, f"file://{archive}", accounts=["parks-facebook"])
    summary = fixity.audit(f"file://{archive}")
    assert summary["ok"] and summary["objects"] > 3 and "parks-facebook" in summary["chain_heads"]
    records = next(archive.glob("records/**/*.parquet"))
    os.chmod(records, 0o644)
    records.write_bytes(records.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(fixity.FixityFailed, match=str(records.relative_to(archive))):
        fixity.audit(f"file://{archive}")


def test_a_chain_cut_back_after_an_audit_fails_every_later_verification(fakes, tmp_path):
    """The newest manifest of a chain has no successor to vouch for it: deleting it, or a whole account,
    left a shorter chain that verified (found by an audit). An audit now records the heads it verified."""
    from civic_archive import fixity, heads
    from civic_archive.storage import LocalStore
    from civic_archive.verify import verify

    archive = tmp_path / "archive"
    harvest_demo(fakes, f"file://{archive}", accounts=["parks-facebook", "city-x"], nights=2)
    summary = fixity.audit(f"file://{archive}", deep=False)
    store = LocalStore(archive, create=False)
    assert summary["heads_recorded"].startswith(heads.PREFIX) and verify(store, deep=False).ok
    head = summary["chain_heads"]["city-x"]["key"]
    os.chmod(archive / head, 0o644)
    (archive / head).unlink()  # the newest run of city-x, gone: its chain is still a valid chain
    report = verify(store, deep=False)
    assert not report.ok and "the chain was cut back" in dict(report.failures)[head]
    with pytest.raises(fixity.FixityFailed, match="cut back"):
        fixity.audit(f"file://{archive}", deep=False)


def test_an_empty_archive_fails_the_audit(tmp_path):
    from civic_archive import fixity
    from civic_archive.storage import LocalStore

    LocalStore(tmp_path / "empty")
    with pytest.raises(fixity.FixityFailed, match="no run manifests"):
        fixity.audit(f"file://{tmp_path / 'empty'}")
