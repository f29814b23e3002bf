"""Nightly harvest of every City account.

One mapped task per account, grouped by platform so that each platform's accounts share an Airflow pool
(`civic_archive_<platform>`: the platform's rate budget). A failing account never blocks the others: each
commits what it captured and reports its errors; the summary task fails the run if any account failed, so
the failure is visible, after every account has had its turn.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

PLATFORMS = ("facebook", "instagram", "x", "youtube")
RETRY_DELAY = timedelta(seconds=int(os.environ.get("CIVIC_ARCHIVE_RETRY_DELAY_SECONDS", "600")))


@dag(
    dag_id="harvest_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz=os.environ.get("CIVIC_ARCHIVE_TIMEZONE", "America/Chicago")),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY, "retry_exponential_backoff": True,
                  "max_retry_delay": timedelta(hours=1)},
    tags=["civic-archive"],
    doc_md=__doc__,
)
def harvest_nightly():
    @task
    def accounts(platform: str) -> list[str]:
        from civic_archive import nightly

        return nightly.accounts(platform)

    @task(max_active_tis_per_dag=4)
    def harvest(account_id: str) -> dict:
        from civic_archive import nightly

        return nightly.harvest(account_id)

    @task(trigger_rule="all_done", retries=0)  # it only reports; retrying would just delay the alarm
    def summarize(listed: list, harvested: list) -> dict:
        # A failed task leaves no result: the accounts listed but not reported are the failed harvests.
        from civic_archive import nightly

        return nightly.summarize(
            [r for per_platform in harvested for r in (per_platform or [])],
            expected=[a for per_platform in listed for a in (per_platform or [])],
            unlisted=[p for p, ids in zip(PLATFORMS, listed) if ids is None])

    listed, harvested = [], []
    for platform in PLATFORMS:
        ids = accounts.override(task_id=f"accounts_{platform}")(platform)
        listed.append(ids)
        harvested.append(harvest.override(task_id=f"harvest_{platform}", pool=f"civic_archive_{platform}")
                         .expand(account_id=ids))
    summarize(listed, harvested)


harvest_nightly()
