"""Weekly fixity audit: re-verify every object hash, WARC record digest and manifest chain of the archive.

The task fails (and Airflow alerts) when anything no longer matches; its log names each failing object and
records the chain heads. Logic lives in civic_archive.fixity.
"""
from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="fixity_audit",
    schedule="0 4 * * 0",  # Sundays 04:00, after the night's harvest
    start_date=pendulum.datetime(2026, 1, 1, tz=os.environ.get("CIVIC_ARCHIVE_TIMEZONE", "America/Chicago")),
    catchup=False,
    max_active_runs=1,
    tags=["civic-archive"],
    doc_md=__doc__,
)
def fixity_audit():
    @task(retries=0)  # a mismatch is news, not a transient error
    def verify_archive() -> dict:
        from civic_archive import fixity

        return fixity.audit()

    verify_archive()


fixity_audit()
