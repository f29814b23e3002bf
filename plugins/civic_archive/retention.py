"""Retention: which schedule series governs a record, and when it becomes eligible for disposition.

Until a series is mapped and confirmed, a record carries no series and no eligibility date: it is kept
and can never be purged (the safe default the law requires).
"""
from __future__ import annotations

import re
from typing import Any


def classify(config, account, row: dict[str, Any]) -> dict[str, Any]:
    """Series code, retention period and eligibility date for a record row (None where not yet known)."""
    code = account.series.get(row["kind"]) if account.series else None
    return {"series_code": code, "retention_period": None, "eligible_on": None}


def partition_value(series_code: str | None) -> str:
    """A key-safe form of the series code for the records/ partition path."""
    if not series_code:
        return "unclassified"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", series_code)
