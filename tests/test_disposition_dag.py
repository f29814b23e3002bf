"""The `disposition` DAG under dag.test(): plan -> human-in-the-loop approval -> execute -> logged purge.

Airflow 3.3's ApprovalOperator parks its task in AWAITING_INPUT and dag.test() keeps the run alive until a
response is recorded from outside. Here a second thread answers as a user would through the API: it calls
Airflow's own HITL response handler (the PATCH .../hitlDetails route function, with a real metadata-DB
session and a SimpleAuthManager user), which stores the response and resumes the task.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from civic_archive import auditlog, disposition
from civic_archive.storage import LocalStore
from civic_archive.verify import verify
from test_disposition import harvest_with_schedule
from test_disposition_helpers import accounts_of, city_config

DAGS = Path(__file__).resolve().parents[1] / "dags"
pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_disposition_dag_imports_and_shape(dagbag):
    assert dagbag.import_errors == {}
    dag = dagbag.get_dag("disposition")
    assert dag.max_active_runs == 1
    assert set(dag.task_dict) == {"plan", "has_work", "approve", "needs_second_approval", "second_approval", "execute"}
    assert dag.task_dict["plan"].downstream_task_ids == {"has_work", "needs_second_approval", "execute"}
    assert dag.task_dict["approve"].downstream_task_ids == {"needs_second_approval", "execute"}
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    assert isinstance(dag.task_dict["approve"], ApprovalOperator)
    assert dag.task_dict["approve"].defaults is None  # no answer never means yes


class Responder(threading.Thread, logging.Handler):
    """Answers every HITL request of the running `disposition` DAG run, as `user`, through Airflow's API handler.

    It answers a task only once dag.test() has said it waits for it. dag.test() runs a task, which parks it in
    AWAITING_INPUT, and then writes the state it got back (AWAITING_INPUT) once more: an answer given between
    the two writes is overwritten and the run waits forever for an answer already given. That is how this
    test hung a CI run. dag.test() waits as long as a task awaits input, so this thread must not just die
    either: a failed attempt (SQLite "database is locked" under load) is tried again on the next poll, and
    past the deadline it rejects whatever still waits, so the run ends and the test fails instead of hanging."""

    LOGGER = "airflow.sdk.definitions.dag"  # dag.test()'s own: "Waiting for Human-in-the-loop input for tasks: [...]"

    def __init__(self, answers: dict[str, tuple[str, str]], timeout: float = 300):
        threading.Thread.__init__(self, daemon=True)
        logging.Handler.__init__(self, logging.INFO)
        self.answers = answers  # task_id -> (option, user id)
        self.announced: set[str] = set()  # task ids dag.test() said it waits for
        self.answered: list[str] = []
        self.retried: list[BaseException] = []  # attempts that failed and were tried again
        self.timed_out: list[str] = []  # tasks still waiting at the deadline, rejected to end the run
        self.deadline = time.monotonic() + timeout
        self.stop = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Waiting for Human-in-the-loop input") and record.args:
            self.announced.update(record.args[0])

    def __enter__(self):
        logger = logging.getLogger(self.LOGGER)
        self._level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(5)
        logger = logging.getLogger(self.LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._level)

    def run(self):
        while not self.stop.is_set():
            try:
                self._poll(late=time.monotonic() > self.deadline)
            except Exception as exc:
                self.retried.append(exc)
            time.sleep(0.3)

    def _poll(self, late: bool):
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
        from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
        from airflow.models.taskinstance import TaskInstance
        from airflow.settings import Session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        session = Session()
        try:
            waiting = session.scalars(select(TaskInstance).where(
                TaskInstance.dag_id == "disposition",
                TaskInstance.state == TaskInstanceState.AWAITING_INPUT)).all()
            for ti in waiting:
                if late:
                    option, user = "Reject", "civic-archive-test-deadline"
                elif ti.task_id in self.answered or ti.task_id not in self.answers:
                    continue
                elif ti.task_id not in self.announced:
                    continue  # parked, but dag.test() may not have written its state back yet
                else:
                    option, user = self.answers[ti.task_id]
                update_hitl_detail(dag_id=ti.dag_id, dag_run_id=ti.run_id, task_id=ti.task_id,
                                   update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option]),
                                   user=SimpleAuthManagerUser(username=user, role="admin"), session=session,
                                   map_index=ti.map_index)
                session.commit()
                (self.timed_out if late else self.answered).append(ti.task_id)
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()


@pytest.fixture
def configured(tmp_path, monkeypatch, request):
    root = tmp_path / "archive"
    city = harvest_with_schedule(root, tmp_path)
    two = getattr(request, "param", False)
    path = tmp_path / "city.yaml"
    city = city_config(f"file://{root}", accounts_of(city), schedule=city.retention.schedule, path=path,
                       two_person_rule=two)
    monkeypatch.setenv("CIVIC_ARCHIVE_CONFIG", str(path))
    monkeypatch.setenv("CIVIC_ARCHIVE_CACHE_DIR", str(tmp_path / "cache"))
    return city, LocalStore(root)


def _run(dagbag, answers):
    with Responder(answers) as responder:
        run = dagbag.get_dag("disposition").test()
    assert not responder.timed_out, f"no answer in time to {responder.timed_out}; retried: {responder.retried}"
    return run, responder


def _states(run):
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_dag_test_runs_through_approval_to_a_logged_purge(dagbag, configured):
    from airflow.utils.state import DagRunState, TaskInstanceState

    city, store = configured
    run, responder = _run(dagbag, {"approve": ("Approve", "clerk")})
    assert run.state == DagRunState.SUCCESS, _states(run)
    states = _states(run)
    assert states["execute"] == TaskInstanceState.SUCCESS
    assert states["second_approval"] == TaskInstanceState.SKIPPED
    assert responder.answered == ["approve"]
    entries = auditlog.read_entries(store)
    assert len(entries) == 1
    entry = entries[0].doc
    assert entry["approvals"][0]["approver"] == "clerk" and entry["approvals"][0]["via"] == "airflow"
    assert entry["plan"]["created_by"] == "airflow:disposition" and entry["quantity"]["objects"] > 0
    assert not any(store.exists(o["key"]) for o in entry["objects"])
    report = verify(store)
    assert report.ok, report.summary()
    assert len(report.disposed) == entry["quantity"]["objects"]


def test_rejection_skips_execution(dagbag, configured):
    from airflow.utils.state import TaskInstanceState

    city, store = configured
    run, _ = _run(dagbag, {"approve": ("Reject", "clerk")})
    assert _states(run)["execute"] == TaskInstanceState.SKIPPED
    assert auditlog.read_entries(store) == []
    rejections = [k for k in store.list(disposition.APPROVALS) if k.endswith("-reject.json")]
    assert len(rejections) == 1  # the decision is on record in the archive too


@pytest.fixture
def slow_write_back(monkeypatch):
    """Widens the window in which dag.test() writes back a parked task's state, as a loaded machine does, so
    a responder answering inside it strands the run (it did, in CI) instead of passing by luck."""
    from airflow.sdk.execution_time import supervisor

    run_task_in_process = supervisor.run_task_in_process

    def slowly(*args, **kwargs):
        result = run_task_in_process(*args, **kwargs)
        time.sleep(1)
        return result

    monkeypatch.setattr(supervisor, "run_task_in_process", slowly)


@pytest.mark.parametrize("configured", [True], indirect=True)
def test_two_person_rule_waits_for_a_second_approver(dagbag, configured, slow_write_back):
    from airflow.utils.state import TaskInstanceState

    city, store = configured
    run, responder = _run(dagbag, {"approve": ("Approve", "clerk"), "second_approval": ("Approve", "attorney")})
    assert responder.answered == ["approve", "second_approval"]
    assert _states(run)["execute"] == TaskInstanceState.SUCCESS
    entry = auditlog.read_entries(store)[0].doc
    assert sorted(a["approver"] for a in entry["approvals"]) == ["attorney", "clerk"]
    assert entry["two_person_rule"] is True
