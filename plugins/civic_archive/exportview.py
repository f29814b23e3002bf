"""`view/index.html` of a records-request package: a self-contained thread view anyone can open offline.

Post → comments → replies, newest post first; each item shows its latest version, earlier versions under
"edited", status badges (hidden, removed, deleted, edited), times in the City's local time zone, attachments,
and where its evidence is in the package. The page has no script at all and a Content-Security-Policy that
forbids scripts, network access and plugins; every piece of archived text is HTML-escaped, so markup in a
post (`<script>…`) is shown as text.
"""
from __future__ import annotations

import html
import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
TOP_KINDS = ("post", "video")
BADGES = {"hidden": "Hidden by the City", "removed": "Removed", "deleted": "Deleted", "edited": "Edited"}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
header{border-bottom:2px solid #444;margin-bottom:1rem}
.item{border:1px solid #bbb;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0;background:#fff}
.post{background:#f6f8fa}
.children{margin-left:1.6rem;border-left:3px solid #ddd;padding-left:.6rem}
.meta{font-size:.85rem;color:#555}
.text{white-space:pre-wrap;word-wrap:break-word;margin:.3rem 0}
.badge{display:inline-block;font-size:.75rem;font-weight:bold;padding:.05rem .4rem;border-radius:4px;margin-left:.3rem}
.badge-hidden{background:#fff3cd;color:#664d03;border:1px solid #e0c36a}
.badge-removed,.badge-deleted{background:#f8d7da;color:#842029;border:1px solid #e4a0a7}
.badge-edited{background:#cfe2ff;color:#084298;border:1px solid #9ec5fe}
.evidence{font-size:.75rem;color:#666;font-family:monospace}
details{margin:.3rem 0}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _local(value: Any, tz: ZoneInfo) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(tz).strftime("%b %d, %Y %I:%M %p %Z")


def _item_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["account_id"], row["kind"], row["platform_id"]


def _versions(rows: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    items: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        items[_item_key(row)].append(row)
    for versions in items.values():
        versions.sort(key=lambda r: r["version"])
    return items


def _badges(versions: list[dict[str, Any]]) -> str:
    latest = versions[-1]["status"]
    shown = [latest] if latest in BADGES else []
    if latest != "edited" and any(v["status"] == "edited" for v in versions):
        shown.append("edited")
    return "".join(f'<span class="badge badge-{s}" data-status="{s}">{_e(BADGES[s])}</span>' for s in shown)


def _evidence(row: dict[str, Any]) -> str:
    if not row.get("evidence_file"):
        return ""
    return (f'<div class="evidence">evidence: {_e(row["evidence_file"])} @ {_e(row["evidence_offset"])} '
            f'({_e(row["evidence_length"])} bytes), WARC record {_e(row["warc_record_id"])}</div>')


def _item(versions: list[dict[str, Any]], children: dict[str, list], items, tz: ZoneInfo, depth: int = 0) -> str:
    latest = versions[-1]
    css = "item post" if latest["kind"] in TOP_KINDS else "item"
    who = latest.get("author_name") or latest.get("author_id") or "unknown author"
    parts = [f'<article class="{css}" data-kind="{_e(latest["kind"])}" data-platform-id="{_e(latest["platform_id"])}" '
             f'data-status="{_e(latest["status"])}">',
             f'<div class="meta"><strong>{_e(who)}</strong> · {_e(latest["kind"])} · '
             f'posted {_e(_local(latest.get("created_at"), tz))}{_badges(versions)}</div>',
             f'<div class="text">{_e(latest.get("text"))}</div>']
    if latest.get("removed_detected_at"):
        parts.append(f'<div class="meta">{_e(BADGES.get(latest["status"], latest["status"]))}: noticed by the archive '
                     f'{_e(_local(latest["removed_detected_at"], tz))}; the text above is the last copy archived.</div>')
    if len(versions) > 1:
        rows = "".join(f'<tr><td>{v["version"]}</td><td>{_e(v["status"])}</td><td>{_e(_local(v.get("captured_at"), tz))}'
                       f'</td><td class="text">{_e(v.get("text"))}</td></tr>' for v in versions)
        parts.append(f'<details><summary>{len(versions)} versions (history)</summary><table><tr><th>version</th>'
                     f'<th>status</th><th>archived</th><th>text</th></tr>{rows}</table></details>')
    if latest.get("permalink"):
        parts.append(f'<div class="meta">original address (may no longer work): {_e(latest["permalink"])}</div>')
    parts.append(_evidence(latest))
    kids = children.get(latest["platform_id"], [])
    media = [k for k in kids if k[1] == "media"]
    for key in media:
        m = items[key][-1]
        parts.append(f'<div class="meta attachment">attachment: {_e(m.get("media_url") or m.get("text") or m["platform_id"])}'
                     f'{" · sha256 " + _e(m["media_sha256"]) if m.get("media_sha256") else ""}</div>')
        if m.get("media_evidence_file"):
            parts.append(f'<div class="evidence">attachment bytes: {_e(m["media_evidence_file"])} @ '
                         f'{_e(m["media_evidence_offset"])}</div>')
    others = [k for k in kids if k[1] != "media"]
    if others:
        parts.append('<div class="children">')
        for key in sorted(others, key=lambda k: (str(items[k][0].get("created_at")), k)):
            parts.append(_item(items[key], children, items, tz, depth + 1))
        parts.append("</div>")
    parts.append("</article>")
    return "\n".join(parts)


def render(rows: list[dict[str, Any]], meta: dict[str, Any], tz_name: str = "America/Chicago") -> str:
    """The whole page. `rows` are the package's rows (already redacted), with their evidence columns."""
    tz = ZoneInfo(tz_name)
    items = _versions(rows)
    children: dict[str, list] = defaultdict(list)
    present = {k[2] for k in items}
    roots = []
    for key, versions in items.items():
        parent = versions[-1].get("parent_platform_id")
        if parent and parent in present:
            children[parent].append(key)
        else:
            roots.append(key)
    roots.sort(key=lambda k: str(items[k][-1].get("created_at")), reverse=True)
    by_account: dict[str, list] = defaultdict(list)
    for key in roots:
        by_account[key[0]].append(key)
    body = []
    for account in sorted(by_account):
        body.append(f"<section><h2>Account {_e(account)}</h2>")
        for key in by_account[account]:
            versions = items[key]
            if versions[-1]["kind"] not in TOP_KINDS and versions[-1].get("parent_platform_id"):
                body.append(f'<div class="meta">(in reply to {_e(versions[-1]["parent_platform_id"])}, which is not '
                            "part of this export)</div>")
            body.append(_item(versions, children, items, tz))
        body.append("</section>")
    counts = meta.get("counts", {})
    summary = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in counts.items())
    params = _e(json.dumps(meta.get("parameters", {}), ensure_ascii=False, indent=1))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Records request {_e(meta.get("request_id"))}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>Records request {_e(meta.get("request_id"))}</h1>
<p>Requested by {_e(meta.get("requester") or "(not recorded)")}; received {_e(meta.get("received") or "(not recorded)")}.
Exported {_e(_local(meta.get("exported_at"), tz))} by {_e(meta.get("run_by"))}. Times are shown in {_e(tz_name)}.</p>
<p>This page is a reading copy. The records themselves are in <code>records.csv</code> and <code>records.parquet</code>;
each row names the exact archived platform response (WARC record) behind it in <code>evidence/</code>.</p>
<table>{summary}</table>
<details><summary>Search parameters</summary><pre>{params}</pre></details>
</header>
<main>
{"".join(body) if body else "<p>No responsive records.</p>"}
</main>
</body>
</html>
"""
