"""The auditor's report: one self-contained HTML page (no scripts, no external resources).

It shows the disposition history (every log entry, with what, why, who approved and when, and whether the log's
hash chain verifies), the upcoming eligibility by series and month with a stacked bar chart (inline SVG), the
status of every series in use (purgeable, or why its records are kept), the holds, and how much eligible data
is kept because it shares a file with records that are not eligible.
"""
from __future__ import annotations

import html
from collections import defaultdict
from datetime import date, datetime, timezone
from typing import Any

from civic_archive import SOFTWARE, auditlog, disposition, holds as holds_mod
from civic_archive.retention import RetentionPolicy
from civic_archive.storage import ArchiveStore

PALETTE = ["#1b6ca8", "#e07b39", "#3a9d5d", "#b83b5e", "#7a5c99", "#c9a227", "#4aa3a2", "#8c564b", "#5d6d7e",
           "#d35400"]
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1e7b34;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#666}
code{font-size:.8rem;word-break:break-all}
"""



def _approval(a: dict) -> str:
    by = f" <span class='muted'>({_e(a['acted_by'])})</span>" if a.get("acted_by") else ""
    return f"{_e(a['approver'])} {_e(a['decided_at'][:10])}{by}"

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _e(value)


def chart_svg(rows: list[dict[str, Any]], months: list[str], width: int = 900, height: int = 280) -> str:
    """Stacked bars: records becoming eligible per month, one colour per series."""
    series = sorted({r["series_code"] for r in rows})
    by = defaultdict(int)
    for r in rows:
        by[(r["month"], r["series_code"])] += r["records"]
    totals = [sum(by[(m, s)] for s in series) for m in months]
    top = max(totals + [1])
    left, bottom, right, top_pad = 60, 40, 10, 10
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    bar_w = plot_w / max(len(months), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20 * len(series)}" '
             f'role="img" aria-label="Records becoming eligible for disposition, by month and series">',
             f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" y2="{top_pad + plot_h}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#888"/>']
    for frac in (0, 0.5, 1):
        y = top_pad + plot_h * (1 - frac)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{int(top * frac):,}</text>')
    for i, m in enumerate(months):
        x = left + i * bar_w
        y = top_pad + plot_h
        for j, s in enumerate(series):
            v = by[(m, s)]
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"><title>{_e(m)} {_e(s)}: {v:,}</title></rect>')
        if len(months) <= 12 or i % 3 == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top_pad + plot_h + 14}" font-size="10" '
                         f'text-anchor="middle">{_e(m)}</text>')
    for j, s in enumerate(series):
        y = height + 20 * j
        parts.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{left + 18}" y="{y}" font-size="12">{_e(s)}</text>')
    if not series:
        parts.append(f'<text x="{left + 10}" y="{top_pad + plot_h / 2}" font-size="13" fill="#666">No record '
                     'becomes eligible in this period (no confirmed, verified series, or nothing under one).</text>')
    parts.append("</svg>")
    return "".join(parts)


def _months(as_of: date, count: int) -> list[str]:
    out = []
    index = as_of.year * 12 + as_of.month - 1
    for k in range(count):
        y, m = divmod(index + k, 12)
        out.append(f"{y:04d}-{m + 1:02d}")
    return out


def render(store: ArchiveStore, config, *, policy: RetentionPolicy | None = None, as_of: date | None = None,
           months: int = 24) -> str:
    policy = policy or RetentionPolicy(config)
    as_of = as_of or policy.today
    check = auditlog.check(store)
    analysis = disposition.analyze(store, policy, as_of=as_of, manifests=False)
    coming = disposition.upcoming(store, policy, as_of=as_of, months=months)
    month_list = _months(as_of, months)
    all_holds = holds_mod.list_holds(store)
    kept = analysis.kept_past_eligibility()
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>Disposition report: {_e(config.city)}</title><style>{CSS}</style></head><body>",
           f"<h1>Records disposition report: {_e(config.city)} ({_e(config.jurisdiction)})</h1>",
           f"<p class='muted'>Archive <code>{_e(store.uri)}</code>. Report date {as_of.isoformat()}, generated {now} "
           f"by {_e(SOFTWARE)}. Schedule <code>{_e(policy.schedule.describe()['file'])}</code> "
           f"(SHA-256 <code>{_e(policy.schedule.sha256)}</code>).</p>"]

    out.append("<h2>Disposition log</h2>")
    if check.ok:
        out.append(f"<p class='ok'>The log's hash chain verifies: {len(check.entries)} entries"
                   + (f"; newest <code>{_e(check.head.key)}</code>, SHA-256 <code>{_e(check.head.sha256)}</code> "
                      "(note it outside the archive)." if check.head else ".") + "</p>")
    else:
        out.append(f"<p class='bad'>The log does NOT verify ({len(check.problems)} problems):</p><ul>")
        out += [f"<li><code>{_e(k)}</code>: {_e(w)}</li>" for k, w in check.problems]
        out.append("</ul>")
    if check.entries:
        out.append("<table><tr><th>No.</th><th>completed</th><th>series</th><th>records</th><th>objects</th>"
                   "<th>bytes</th><th>records created</th><th>approved by</th><th>method</th><th>certificate</th></tr>")
        for e in check.entries:
            d = e.doc
            out.append(
                f"<tr><td class='n'>{e.sequence}</td><td>{_e(d['completed_at'])}</td>"
                f"<td>{'<br>'.join(_e(s['code']) + ' (' + _e(s['retention']) + ')' for s in d['series'])}</td>"
                f"<td class='n'>{_n(d['quantity']['records'])}</td><td class='n'>{_n(d['quantity']['objects'])}</td>"
                f"<td class='n'>{_n(d['quantity']['bytes'])}</td>"
                f"<td>{_e(d['date_range']['from'][:10])} to {_e(d['date_range']['to'][:10])}</td>"
                f"<td>{'<br>'.join(_approval(a) for a in d['approvals'])}</td>"
                f"<td class='muted'>{_e(d['method'][:90])}…</td>"
                f"<td><code>{_e(auditlog.certificate_key(e.sequence))}</code></td></tr>")
        out.append("</table>")
        destroyed = defaultdict(int)
        for e in check.entries:
            for s in e.doc["series"]:
                destroyed[s["code"]] += s["records"]
        out.append("<p>Records destroyed so far, by series: "
                   + "; ".join(f"{_e(k)}: {v:,}" for k, v in sorted(destroyed.items())) + ".</p>")
    else:
        out.append("<p>Nothing has been disposed of.</p>")

    out.append(f"<h2>Upcoming eligibility ({month_list[0]} to {month_list[-1]})</h2>")
    out.append("<p class='muted'>Records whose retention ends in each month, by series (before holds, and before "
               "waiting for the other records sharing their files). Only verified series the city has confirmed "
               "ever become eligible.</p>")
    out.append(chart_svg(coming, month_list))
    if coming:
        by_series = defaultdict(int)
        for r in coming:
            by_series[r["series_code"]] += r["records"]
        out.append("<table><tr><th>series</th><th>records becoming eligible</th></tr>"
                   + "".join(f"<tr><td>{_e(k)}</td><td class='n'>{v:,}</td></tr>" for k, v in sorted(by_series.items()))
                   + "</table>")

    out.append("<h2>Series in the archive</h2><table><tr><th>series</th><th>title</th><th>retention</th>"
               "<th>records</th><th>eligible now</th><th>next eligible</th><th>status</th></tr>")
    for s in analysis.series:
        status = ("<span class='ok'>purgeable</span>" if s["purgeable"] else
                  "<span class='bad'>kept</span>: " + "; ".join(_e(w) for w in s["why_not"]))
        out.append(f"<tr><td>{_e(s['series'] or '(no series)')}</td><td>{_e(s['title'])}</td>"
                   f"<td>{_e(s['retention'])}</td><td class='n'>{_n(s['records'])}</td>"
                   f"<td class='n'>{_n(s['eligible'])}</td><td>{_e(s['next_eligible'] or '')}</td><td>{status}</td></tr>")
    out.append("</table>")

    out.append("<h2>Kept past eligibility</h2><ul>"
               f"<li>{kept['records_in_kept_records_files']:,} eligible records wait in {kept['kept_records_files']:,} "
               "records files that also hold records not yet eligible.</li>"
               f"<li>{kept['eligible_warc_bytes_kept']:,} bytes of WARC evidence of {kept['records_in_kept_warc_files']:,} "
               f"eligible records wait in {kept['kept_warc_files']:,} WARC files shared with younger records"
               + (f" (purgeable in {kept['warc_days_until_purgeable_median']} days median, "
                  f"{kept['warc_days_until_purgeable_max']} max)" if kept["warc_days_until_purgeable_max"] is not None else "")
               + ".</li>"
               f"<li>{len(analysis.unreferenced_warcs):,} WARC files evidence no record (captures that changed "
               "nothing): no series governs them, so they are kept.</li></ul>")

    out.append("<h2>Legal holds</h2>")
    if all_holds:
        out.append("<table><tr><th>hold</th><th>kind</th><th>scope</th><th>placed</th><th>reason</th><th>status</th></tr>")
        for h in all_holds:
            state = ("<span class='bad'>active</span>" if h.active else
                     f"released {_e(h.released['released_at'])} by {_e(h.released['released_by'])}")
            out.append(f"<tr><td>{_e(h.hold_id)}</td><td>{_e(h.kind)}</td><td>{_e(h.describe())}</td>"
                       f"<td>{_e(h.placed_at)} by {_e(h.placed_by)}</td><td>{_e(h.reason)}</td><td>{state}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>No holds have been placed.</p>")
    approvers = ", ".join(policy.approvers) or "none (nothing can be approved)"
    out.append(f"<h2>Approval rules</h2><p>Approvers: {_e(approvers)}. Two-person rule: "
               f"{'yes' if policy.two_person_rule else 'no'}.</p>")
    confs = config.retention.confirmations if getattr(config, "retention", None) else ()
    if confs:
        out.append("<table><tr><th>series</th><th>confirmed by</th><th>on</th><th>clock start</th><th>note</th></tr>"
                   + "".join(f"<tr><td>{_e(c.series)}</td><td>{_e(c.confirmed_by)}</td><td>{_e(c.confirmed_on)}</td>"
                             f"<td>{_e(c.clock_start or '(schedule)')}</td><td>{_e(c.note or '')}</td></tr>" for c in confs)
                   + "</table>")
    out.append("</body></html>\n")
    return "\n".join(out)


__all__ = ["render", "chart_svg"]
