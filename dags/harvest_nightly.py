"""Nightly harvest of every City account: one mapped task per account, then a summary."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="harvest_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10), "retry_exponential_backoff": True},
    tags=["civic-archive"],
    doc_md=__doc__,
)
def harvest_nightly():
    @task
    def accounts() -> list[str]:
        from civic_archive import nightly

        return nightly.accounts()

    @task(max_active_tis_per_dag=4)
    def harvest(account_id: str) -> dict:
        from civic_archive import nightly

        return nightly.harvest(account_id)

    @task(trigger_rule="all_done")
    def summarize(results) -> dict:
        from civic_archive import nightly

        return nightly.summarize(list(results))

    summarize(harvest.expand(account_id=accounts()))


harvest_nightly()
