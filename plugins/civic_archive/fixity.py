"""Scheduled fixity audit: re-verify every byte of the archive and fail loudly when anything does not match.

What the weekly `fixity_audit` DAG runs (the DAG file only wires it). It is `civic-archive verify` on the
configured city's archive (the demo archive without a config, like the nightly DAG), which also fails on an
archive with no manifests at all. A successful audit records the chain heads it verified in the archive
(`civic_archive.heads`), and every later verification fails if one of them is gone or changed: a chain cut
back after an audit (its newest manifest, or a whole account, deleted) no longer passes. The heads are also
logged, for whoever keeps the task logs elsewhere.
"""
from __future__ import annotations

import logging
from typing import Any

from civic_archive import heads
from civic_archive.storage import StorageError, open_store
from civic_archive.verify import verify

log = logging.getLogger(__name__)


class FixityFailed(RuntimeError):
    """Some object, digest or chain link of the archive no longer verifies."""


def audit(uri: str | None = None, *, deep: bool = True) -> dict[str, Any]:
    """Verify the archive; return the summary (JSON-ready), or raise FixityFailed naming what failed."""
    from civic_archive import nightly

    uri = uri or nightly.archive_uri()
    store = open_store(uri, create=False)
    report = verify(store, deep=deep)
    if report.ok and report.manifests == 0:
        report.fail("manifests/", "the archive holds no run manifests: nothing was ever harvested into it, or "
                                  "everything was deleted")
    for chain, (key, digest) in sorted(report.heads.items()):
        log.info("chain %s: head %s sha256 %s", chain, key, digest)
    if report.disposition_head:
        log.info("disposition log head %s sha256 %s", *report.disposition_head)
    summary = {"archive": uri, "ok": report.ok, "manifests": report.manifests, "objects": report.objects,
               "bytes": report.bytes, "warc_records": report.warc_records, "orphans": len(report.orphans),
               "failures": [{"key": k, "why": w} for k, w in report.failures],
               "chain_heads": {c: {"key": k, "sha256": d} for c, (k, d) in report.heads.items()},
               "disposition_entries": report.disposition_entries}
    if not report.ok:
        shown = "; ".join(f"{k}: {w}" for k, w in report.failures[:10])
        more = f" (and {len(report.failures) - 10} more)" if len(report.failures) > 10 else ""
        raise FixityFailed(f"{len(report.failures)} fixity failures in {uri}: {shown}{more}")
    try:  # what later verifications hold these heads to (civic_archive.heads)
        summary["heads_recorded"] = heads.record(store, report)
    except StorageError as exc:  # e.g. a read-only auditor identity: the audit itself stands
        log.warning("chain heads not recorded in %s: %s", uri, exc)
        summary["heads_recorded"] = None
    return summary
