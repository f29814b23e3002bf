"""What the nightly DAG does, as plain functions (the DAG file only wires them).

The city config comes from `CIVIC_ARCHIVE_CONFIG` (a path; the Airflow Variable of the same name works too).
Without one, the DAG runs the demo city against the bundled fake platforms, so a fresh Airflow shows a
working harvest.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from civic_archive import config as cfg
from civic_archive.harvest import harvest_account
from civic_archive.storage import open_store

CONFIG_VARIABLE = "CIVIC_ARCHIVE_CONFIG"


def config_path() -> str | None:
    path = os.environ.get(CONFIG_VARIABLE)
    if path:
        return path
    try:
        from airflow.sdk import Variable
    except ImportError:
        return None
    try:
        return Variable.get(CONFIG_VARIABLE, default=None)  # None when unset (also outside a task)
    except Exception as exc:
        # A Variable that exists but cannot be read (metadata database or secrets backend down) must fail
        # the task: falling back to the demo city would end the night green without archiving the City.
        raise cfg.ConfigError(f"could not read the Airflow Variable {CONFIG_VARIABLE} "
                              f"({type(exc).__name__}: {exc}); not falling back to the demo city") from exc


def demo_archive() -> str:
    home = os.environ.get("AIRFLOW_HOME", ".")
    return os.environ.get("CIVIC_ARCHIVE_DEMO_ARCHIVE", f"file://{os.path.abspath(home)}/civic-archive-demo")


def archive_uri() -> str:
    """The archive the DAGs work on: the configured city's, else the demo archive."""
    path = config_path()
    return cfg.load(path).archive if path else demo_archive()


@contextlib.contextmanager
def city() -> Iterator[cfg.CityConfig]:
    """The configured city, or the demo city with its fake platforms running for the duration."""
    path = config_path()
    if path:
        yield cfg.load(path)
        return
    from civic_archive.demo import demo_config
    from civic_archive.fakes import FakePlatforms, World

    with FakePlatforms(World.demo()) as fakes:
        yield demo_config(fakes, demo_archive())


def accounts(platform: str | None = None) -> list[str]:
    with city() as c:
        return [a.id for a in c.accounts if platform is None or a.platform == platform]


def harvest(account_id: str) -> dict[str, Any]:
    """Harvest one account. Raises (so Airflow retries) only when nothing could be committed; an account
    whose token expired or whose walk failed still commits what it captured, and the failure is reported."""
    with city() as c:
        result = harvest_account(c, c.account(account_id), open_store(c.archive))
    return result.as_dict()


class AccountsFailed(RuntimeError):
    """Some accounts reported errors (each still committed what it captured)."""


def summarize(results: list[dict[str, Any]], expected: list[str] | None = None,
              unlisted: list[str] | None = None) -> dict[str, Any]:
    """Totals over the night. Raises when an account failed, so the run shows as failed in Airflow: an
    account that reported errors (its report next to its manifest says which), an `expected` account whose
    task ended without a result (it raised even after its retries: storage down, a bug; its task log says
    why), or a platform whose account list could not be read (`unlisted`)."""
    failed = {r["account"]: r["errors"] for r in results if r["errors"]}
    reported = {r["account"] for r in results}
    for account in sorted(set(expected or []) - reported):
        failed[account] = ["its harvest task failed without a result (see the task's log)"]
    for platform in unlisted or []:
        failed[f"accounts_{platform}"] = ["the platform's account list could not be read (see the task's log)"]
    totals: dict[str, int] = {}
    for r in results:
        for k, v in r["counts"].items():
            totals[k] = totals.get(k, 0) + v
    summary = {"accounts": len(set(expected or []) | reported), "failed": sorted(failed), "totals": totals,
               "quarantined": sum(r["quarantined"] for r in results)}
    if failed:
        raise AccountsFailed("; ".join(f"{a}: {errs[0]}" for a, errs in sorted(failed.items())))
    return summary
