"""Records-request export: the clerk fills in the trigger form; the package lands in the archive.

No schedule: trigger it with the form (Params validated by `schemas/export-request.schema.json`). The task
searches the archive, places a hold on every responsive record (until `civic-archive request close ID`), and
writes the BagIt package under `exports/{request_id}/{export_id}/` in the archive (and, when the
CIVIC_ARCHIVE_EXPORT_DIR environment variable is set, a .zip of it in that folder).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "export-request.schema.json").read_text())
DEFAULTS = {"request_id": "", "requester": None, "received": None, "accounts": [], "since": None, "until": None,
            "query": None, "include_removed": False, "threads": False, "redaction_profile": "none", "jurisdiction": None,
            "requested_by": None}


def _param(name: str) -> Param:
    spec = dict(SCHEMA["properties"][name])
    if name == "request_id":
        spec["minLength"] = 1
    return Param(DEFAULTS[name], **spec)


@dag(
    dag_id="records_request_export",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz=os.environ.get("CIVIC_ARCHIVE_TIMEZONE", "America/Chicago")),
    catchup=False,
    params={name: _param(name) for name in SCHEMA["properties"]},
    tags=["civic-archive", "records-request"],
    doc_md=__doc__,
)
def records_request_export():
    @task(retries=0)  # an export is a clerk's action: a failure should be seen, not retried silently
    def export_request() -> dict:
        from civic_archive import export

        context = get_current_context()
        return export.run_params(dict(context["params"]), os.environ.get("CIVIC_ARCHIVE_EXPORT_DIR"),
                                 triggered_by=getattr(context.get("dag_run"), "triggering_user_name", None))

    export_request()


records_request_export()
