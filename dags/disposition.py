"""Monthly disposition: plan what is eligible, wait for a records officer's approval (Airflow human-in-the-loop),
a second approval when the city's two-person rule asks for one, then execute (which re-checks everything and
logs each destroyed object). Logic lives in civic_archive.disposition_airflow."""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from civic_archive.disposition_airflow import RecordedApprovalOperator


@dag(
    dag_id="disposition",
    schedule="0 6 1 * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=os.environ.get("CIVIC_ARCHIVE_TIMEZONE", "America/Chicago")),
    catchup=False,
    max_active_runs=1,
    tags=["civic-archive", "retention"],
    doc_md=__doc__,
)
def disposition():
    @task
    def plan() -> dict:
        from civic_archive import disposition_airflow

        return disposition_airflow.make_plan()

    @task.short_circuit
    def has_work(p: dict) -> bool:
        from civic_archive import disposition_airflow

        return disposition_airflow.has_work(p)

    approve = RecordedApprovalOperator(task_id="approve", response_timeout=timedelta(days=14))

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def needs_second_approval(p: dict) -> bool:
        from civic_archive import disposition_airflow

        return disposition_airflow.needs_another_approval(p)

    second = RecordedApprovalOperator(task_id="second_approval", response_timeout=timedelta(days=14))

    @task(trigger_rule="none_failed_min_one_success")
    def execute(p: dict) -> dict:
        from civic_archive import disposition_airflow

        return disposition_airflow.execute(p)

    p = plan()
    check = needs_second_approval(p)
    done = execute(p)
    has_work(p) >> approve >> check >> second
    [approve, second] >> done


disposition()
