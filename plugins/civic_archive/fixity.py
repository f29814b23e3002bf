"""Scheduled fixity audit: re-verify every byte of the archive and fail loudly when anything does not match.

What the weekly `fixity_audit` DAG runs (the DAG file only wires it). It is `civic-archive verify` on the
configured city's archive (the demo archive without a config, like the nightly DAG), with the chain heads and
the disposition log head logged every time, so that whoever watches the task logs (or copies them elsewhere)
holds an outside record of the heads to compare against later: a rewritten chain would show up as a changed
head for an unchanged sequence.
"""
from __future__ import annotations

import logging
from typing import Any

from civic_archive.storage import open_store
from civic_archive.verify import verify

log = logging.getLogger(__name__)


class FixityFailed(RuntimeError):
    """Some object, digest or chain link of the archive no longer verifies."""


def audit(uri: str | None = None, *, deep: bool = True) -> dict[str, Any]:
    """Verify the archive; return the summary (JSON-ready), or raise FixityFailed naming what failed."""
    from civic_archive import nightly

    uri = uri or nightly.archive_uri()
    report = verify(open_store(uri, create=False), deep=deep)
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
    return summary
