"""What the `disposition` DAG does, as plain functions plus one operator (the DAG file only wires them).

plan -> (nothing eligible: stop) -> approve (Airflow human-in-the-loop ApprovalOperator) -> [second approval when
the city's two-person rule still needs one] -> execute.

Every human decision taken in Airflow is written to the archive as an approval object (approver = the Airflow
user id that responded, which must be one of the city config's `retention.approvers`), exactly like
`civic-archive disposition approve`, so approvals given on the command line count too, and `execute` re-checks
them from the archive whatever the DAG's state says. A rejection skips execution. There is no default answer:
a request nobody answers times out and fails, it never approves itself.

The city config comes from `CIVIC_ARCHIVE_CONFIG` (path; an Airflow Variable of that name works too).
"""
from __future__ import annotations

import hashlib
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

PLAN_TASK = "plan"


def load_city():
    from civic_archive import config as cfg, nightly
    from civic_archive.disposition import DispositionError

    path = nightly.config_path()
    if not path:
        raise DispositionError(f"set {nightly.CONFIG_VARIABLE} to the city config: disposition needs its "
                               "confirmations and approvers (there is no demo default for destroying records)")
    return cfg.load(path)


def _store(city):
    from civic_archive.storage import open_store

    return open_store(city.archive, create=False)


def make_plan() -> dict[str, Any]:
    """Plan as of today and save it if anything is purgeable. Returns what the approval request shows."""
    from civic_archive import disposition
    from civic_archive.retention import RetentionPolicy

    city = load_city()
    store = _store(city)
    policy = RetentionPolicy(city)
    doc, analysis, _ = disposition.plan(store, city, policy=policy, save=False, created_by="airflow:disposition",
                                        write_cache=True)  # workers are ephemeral: keep the summaries in the archive
    if not doc["objects"]:
        return {"plan_id": None, "summary": "nothing is eligible for disposition"}
    key, _ = disposition.save_plan(store, doc)
    text = disposition.plan_text(doc, analysis, saved_key=key, limit=30)
    t = doc["totals"]
    return {
        "plan_id": doc["plan_id"], "plan_key": key, "objects": t["objects"], "records": t["records"],
        "bytes": t["bytes"], "series": [s["code"] for s in doc["series"]],
        "subject": f"Approve disposition plan {doc['plan_id']}: {t['records']:,} records "
                   f"({', '.join(s['code'] for s in doc['series'])}) of {city.city}",
        "body": "Approving destroys the objects listed below once `execute` has re-checked them (eligibility, "
                "legal holds, storage locks, hashes). Only the approvers named in the city config count"
                + (", and two different approvers are required." if policy.two_person_rule else ".")
                + "\n\n```\n" + text + "\n```\n",
    }


def has_work(plan: dict[str, Any]) -> bool:
    return bool(plan and plan.get("plan_id"))


def record_decision(plan: dict[str, Any], *, chosen: list[str], user: dict[str, Any] | None,
                    context_ids: dict[str, Any]) -> dict[str, Any]:
    """Write the Airflow user's decision to the archive as an approval object."""
    from civic_archive import disposition

    city = load_city()
    store = _store(city)
    from civic_archive.retention import RetentionPolicy

    policy = RetentionPolicy(city)
    approver = disposition.airflow_approver(policy, user)
    who = (user or {}).get("id") or (user or {}).get("name") or ""
    decision = "approve" if ApprovalOperator.APPROVE in chosen else "reject"
    key, doc = disposition.approve(store, city, plan["plan_id"], approver=approver, decision=decision,
                                   via="airflow", airflow={**context_ids, "responded_by": user or {}},
                                   acted_by=f"airflow:{who}", policy=policy)
    return {"key": key, "approver": doc["approver"], "decision": decision}


def needs_another_approval(plan: dict[str, Any]) -> bool:
    """True when the approvals recorded so far (Airflow or CLI) do not yet meet the city's rule."""
    from civic_archive import disposition
    from civic_archive.retention import RetentionPolicy

    city = load_city()
    store = _store(city)
    _, _, data = disposition.load_plan(store, plan["plan_id"])
    q = disposition.quorum(store, plan["plan_id"], hashlib.sha256(data).hexdigest(), RetentionPolicy(city))
    return not q.met and not q.rejections


def execute(plan: dict[str, Any]) -> dict[str, Any]:
    from civic_archive import disposition

    city = load_city()
    result = disposition.execute(_store(city), city, plan["plan_id"], executed_by="airflow:disposition")
    return {"plan_id": result.plan_id, "destroyed": len(result.destroyed), "kept": result.not_destroyed,
            "log_entry": result.entry.key if result.entry else None,
            "log_sha256": result.entry.sha256 if result.entry else None}


class RecordedApprovalOperator(ApprovalOperator):
    """Airflow's ApprovalOperator whose decision is also written to the archive as an approval object."""

    def __init__(self, *, plan_task_id: str = PLAN_TASK, **kwargs):
        kwargs.setdefault("subject", "{{ ti.xcom_pull(task_ids='%s')['subject'] }}" % plan_task_id)
        kwargs.setdefault("body", "{{ ti.xcom_pull(task_ids='%s')['body'] }}" % plan_task_id)
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id

    def execute_complete(self, context, event: dict[str, Any]) -> Any:
        if "error" not in event:  # a timeout or trigger error is raised by the base class: nothing to record
            plan = context["ti"].xcom_pull(task_ids=self.plan_task_id)
            ti = context["ti"]
            record_decision(plan, chosen=list(event.get("chosen_options") or []), user=event.get("responded_by_user"),
                            context_ids={"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id,
                                         "responded_at": str(event.get("responded_at"))})
        return super().execute_complete(context, event)


__all__ = ["make_plan", "has_work", "record_decision", "needs_another_approval", "execute",
           "RecordedApprovalOperator"]
