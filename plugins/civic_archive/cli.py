"""`civic-archive`: the command line for the scheduler, clerks, records officers and auditors.

Errors are one clear line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from civic_archive import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A command cannot go on; the message is what the user needs to know."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (subparsers are made with this class too): exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _existing_store(uri: str):
    from civic_archive.storage import open_store

    return open_store(uri, create=False)


def cmd_harvest(args) -> int:
    from civic_archive import config as cfg
    from civic_archive.harvest import config_options, harvest_account
    from civic_archive.lease import LeaseHeld
    from civic_archive.storage import StorageError, open_store

    city = cfg.load(args.config)
    options = config_options(city)
    options.force_full = args.full_sweep
    accounts = [city.account(args.account)] if args.account else list(city.accounts)
    store = open_store(args.archive or city.archive)
    failed = 0
    for account in accounts:
        try:
            result = harvest_account(city, account, store, options=options)
        except (cfg.ConfigError, LeaseHeld) as exc:  # e.g. an unset token variable, a run already going: others go on
            print(f"{account.id}: FAILED; {exc}", file=sys.stderr)
            failed += 1
            continue
        except StorageError as exc:  # the archive is unreachable or failing; retried already, others go on
            print(f"{account.id}: FAILED; storage: {exc}; nothing committed for this account, the next run "
                  "starts over", file=sys.stderr)
            failed += 1
            continue
        status = "ok" if result.ok else "FAILED"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
        print(f"{account.id}: {status}; run {result.run_id}; {counts or 'nothing new'}; "
              f"quarantined {result.quarantined}; API calls {result.api_calls}; {result.window}")
        for error in result.errors:
            print(f"  error: {error}", file=sys.stderr)
        failed += not result.ok
    return EXIT_FAILED if failed else EXIT_OK


def cmd_verify(args) -> int:
    from civic_archive.verify import verify

    report = verify(_existing_store(args.archive), deep=not args.fast)
    if args.json:
        print(json.dumps({"ok": report.ok, "manifests": report.manifests, "objects": report.objects,
                          "bytes": report.bytes, "warc_records": report.warc_records,
                          "failures": [{"key": k, "why": w} for k, w in report.failures],
                          "orphans": report.orphans, "chain_heads": {c: {"key": k, "sha256": d}
                                                                     for c, (k, d) in report.heads.items()},
                          "disposed": [{"key": k, "log_entry": n} for k, n in report.disposed],
                          "disposition_entries": report.disposition_entries,
                          "disposition_head": report.disposition_head, "hold_entries": report.hold_entries,
                          "holds_head": report.holds_head, "export_packages": report.export_packages}, indent=1))
    else:
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_demo(args) -> int:
    from civic_archive.demo import run_demo

    return run_demo(args.archive, nights=args.nights)


# -- retention: holds, disposition, audit (issue 4) ---------------------------------------------------------------


def _retention_context(args, *, need_config: bool = True):
    """(config or None, store, policy or None) from --config / --archive / --schedule."""
    from civic_archive import config as cfg
    from civic_archive.retention import RetentionPolicy

    city = cfg.load(args.config) if getattr(args, "config", None) else None
    if need_config and city is None:
        raise CommandError("--config CITY.yaml is required (it names the approvers, confirmations and schedule)")
    uri = getattr(args, "archive", None) or (city.archive if city else None) or "file://./archive"
    store = _existing_store(uri)
    policy = RetentionPolicy(city, schedule_path=getattr(args, "schedule", None)) if city else None
    return city, store, policy


def _date(value: str):
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_hold_add(args) -> int:
    from civic_archive import holds

    _, store, _ = _retention_context(args, need_config=False)
    result = holds.place(store, scope={"accounts": args.account, "since": args.since, "until": args.until,
                                       "query": args.query, "record_ids": args.record_id,
                                       "threads": args.threads or None},
                         reason=args.reason, placed_by=args.by, kind=args.kind, hold_id=args.id,
                         request_id=args.request_id, lock_objects=not args.no_lock)
    h = result.hold
    print(f"hold {h.hold_id} placed by {h.placed_by}: {h.describe()}")
    print(f"  stored as {result.key}; covers {result.records} record(s) now (and any archived later in scope)")
    print(f"  storage legal hold set on {len(result.locked)} object(s)")
    for problem in result.problems:
        print(f"  warning: {problem}", file=sys.stderr)
    return EXIT_OK


def cmd_hold_release(args) -> int:
    from civic_archive import holds

    _, store, _ = _retention_context(args, need_config=False)
    result = holds.release(store, args.hold_id, released_by=args.by, reason=args.reason)
    print(f"hold {args.hold_id} released by {result.hold.released['released_by']} ({result.key})")
    print(f"  storage legal hold lifted from {len(result.unlocked)} object(s); "
          f"{len(result.still_held)} stay held by other holds")
    for problem in result.problems:
        print(f"  warning: {problem}", file=sys.stderr)
    return EXIT_OK


def cmd_hold_list(args) -> int:
    from civic_archive import holds

    _, store, _ = _retention_context(args, need_config=False)
    found = holds.list_holds(store, include_released=args.all)
    if args.json:
        print(json.dumps([holds.hold_doc(h) for h in found], indent=1))
        return EXIT_OK
    if not found:
        print("no active holds" if not args.all else "no holds")
    for h in found:
        state = "active" if h.active else f"released {h.released['released_at']} by {h.released['released_by']}"
        print(f"{h.hold_id}  {h.kind}  {state}  placed {h.placed_at} by {h.placed_by}")
        print(f"    scope: {h.describe()}")
        print(f"    reason: {h.reason}" + (f" (request {h.request_id})" if h.request_id else ""))
    return EXIT_OK


def _configless_policy(store, schedule: str | None):
    """A plan without --config: the jurisdiction stamped on the records, that jurisdiction's shipped schedule
    (or --schedule), and no city retention settings, so no confirmations: nothing is purgeable."""
    from civic_archive import config as cfg, recordscan
    from civic_archive.retention import RetentionPolicy

    keys = recordscan.records_keys(store)
    if not keys:
        raise CommandError(f"{store.uri} holds no records: nothing to plan")
    with recordscan.local_files(store) as files:
        jurisdiction = recordscan.jurisdiction(store, keys, files)
    if jurisdiction is None:
        raise CommandError(f"cannot tell the jurisdiction from {keys[-1]}: give --config CITY.yaml")
    city = cfg.CityConfig(city="(no city config)", jurisdiction=jurisdiction, archive=store.uri, accounts=())
    policy = RetentionPolicy(city, schedule_path=schedule)
    note = (f"No --config: jurisdiction {city.jurisdiction} (from the records), schedule "
            f"{os.path.basename(policy.schedule.path)}, no city confirmations: nothing is eligible until a city "
            "config confirms a series (retention.confirmations).")
    return city, policy, note


def cmd_disposition_plan(args) -> int:
    from civic_archive import disposition

    city, store, policy = _retention_context(args, need_config=False)
    note = None
    if city is None:
        if args.save:
            raise CommandError("--save needs --config CITY.yaml: a plan for approval is made under the city's "
                               "own retention settings")
        city, policy, note = _configless_policy(store, args.schedule)
    doc, analysis, key = disposition.plan(store, city, as_of=args.as_of, policy=policy, accounts=args.account,
                                          series=args.series, save=args.save, cache=not args.no_cache)
    if args.json:
        print(json.dumps({**({"note": note} if note else {}), "plan": doc, "saved_as": key,
                          "by_series": analysis.series,
                          "unreferenced_warc_files": len(analysis.unreferenced_warcs),
                          "timings_s": {k: round(v, 3) for k, v in analysis.timings.items()}}, indent=1, default=str))
    else:
        if note:
            print(note)
        print(disposition.plan_text(doc, analysis, saved_key=key))
    return EXIT_OK


def cmd_disposition_approve(args) -> int:
    from civic_archive import disposition

    city, store, policy = _retention_context(args)
    key, doc = disposition.approve(store, city, args.plan_id, approver=args.approver,
                                   decision="reject" if args.reject else "approve", comment=args.comment,
                                   policy=policy)
    import hashlib

    plan_doc, _, data = disposition.load_plan(store, args.plan_id)
    q = disposition.quorum(store, args.plan_id, hashlib.sha256(data).hexdigest(), policy)
    print(f"{'rejected' if args.reject else 'approved'}: plan {args.plan_id} by {doc['approver']} "
          f"(recorded as {doc['acted_by']}; {key})")
    print(f"  plan: {plan_doc['totals']['objects']} objects, {plan_doc['totals']['records']} records; "
          f"now {q.describe()}" + ("; ready to execute" if q.met else ""))
    return EXIT_OK


def cmd_disposition_execute(args) -> int:
    from civic_archive import disposition

    city, store, policy = _retention_context(args)
    result = disposition.execute(store, city, args.plan_id, executed_by=args.by, policy=policy)
    print(result.summary())
    return EXIT_OK


def _print_log(store, as_json: bool) -> None:
    from civic_archive import auditlog

    entries = auditlog.read_entries(store)
    if as_json:
        print(json.dumps([{"key": e.key, "sha256": e.sha256, **e.doc} for e in entries], indent=1))
    elif not entries:
        print("the disposition log is empty: nothing has been disposed of")
    else:
        print("\n".join(auditlog.summary_lines(entries)))


def cmd_audit_log(args) -> int:
    from civic_archive import auditlog

    _, store, _ = _retention_context(args, need_config=False)
    if not args.verify:
        _print_log(store, args.json)
        return EXIT_OK
    check = auditlog.check(store)
    if args.json:
        print(json.dumps({"ok": check.ok, "entries": len(check.entries),
                          "head": {"key": check.head.key, "sha256": check.head.sha256} if check.head else None,
                          "failures": [{"key": k, "why": w} for k, w in check.problems]}, indent=1))
    else:
        _print_log(store, False)
        print(f"entries: {len(check.entries)}" + (f"; head {check.head.key} sha256 {check.head.sha256}"
                                                  if check.head else ""))
        print("result: OK" if check.ok else f"result: FAILED ({len(check.problems)} problems)")
        for key, why in check.problems:
            print(f"FAILED {key}: {why}")
    return EXIT_OK if check.ok else EXIT_FAILED


def cmd_disposition_log(args) -> int:
    args.verify = getattr(args, "verify", False)
    return cmd_audit_log(args)


def cmd_audit_certificate(args) -> int:
    from civic_archive import auditlog

    _, store, _ = _retention_context(args, need_config=False)
    entry = next((e for e in auditlog.read_entries(store) if e.sequence == args.sequence), None)
    if entry is None:
        raise CommandError(f"no disposition log entry {args.sequence}")
    if args.write:
        key = auditlog.write_certificate(store, entry)
        print(f"certificate of entry {entry.sequence}: {key}")
    else:
        print(auditlog.certificate(entry), end="")
    return EXIT_OK


def cmd_audit_report(args) -> int:
    from civic_archive import auditreport

    city, store, policy = _retention_context(args)
    html = auditreport.render(store, city, policy=policy, as_of=args.as_of)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(html)
    print(f"auditor report written to {args.out}")
    return EXIT_OK


def _add_retention_parsers(sub) -> None:
    def archive_opts(p, config_required=False, config_help=None):
        p.add_argument("--config", required=config_required, metavar="CITY.yaml",
                       help=config_help or ("city configuration" + ("" if config_required else
                                                                    " (for its archive location)")))
        p.add_argument("--archive", metavar="URI", help="archive location (default: the config's, else ./archive)")

    def schedule_opt(p):
        p.add_argument("--schedule", metavar="PATH", help="retention schedule file to use instead of the "
                                                          "config's or the shipped one")

    hold = sub.add_parser("hold", help="place, release and list legal holds",
                          description="Legal holds suspend disposition of every record their scope matches "
                                      "(all versions of each matching item). They are archive objects under holds/; "
                                      "on S3 the affected objects also get Object Lock legal holds.")
    hs = hold.add_subparsers(dest="hold_command", metavar="ACTION", required=True)
    p = hs.add_parser("add", help="place a hold", description="Place a legal hold. Every criterion given must "
                      "match (accounts AND date range AND query AND record ids); at least one is required.")
    archive_opts(p)
    p.add_argument("--by", metavar="NAME", help="who places the hold (default: the login name)")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why (case, request, audit)")
    p.add_argument("--kind", default="litigation", choices=["litigation", "records_request", "audit", "other"],
                   help="kind of hold (default litigation)")
    p.add_argument("--account", nargs="+", action="extend", metavar="ID",
                   help="account id(s): one or more, repeatable")
    p.add_argument("--since", type=_date, metavar="DATE", help="records created on or after DATE")
    p.add_argument("--until", type=_date, metavar="DATE", help="records created on or before DATE")
    p.add_argument("--query", metavar="TEXT", help="records whose text, author or raw JSON contains TEXT")
    p.add_argument("--record-id", nargs="+", action="extend", metavar="ID",
                   help="record id(s): one or more, repeatable")
    p.add_argument("--threads", action="store_true",
                   help="also hold the whole thread of each matching item (its post or video and everything under it)")
    p.add_argument("--id", metavar="HOLD_ID", help="hold id (default H-YYYYMMDD-random)")
    p.add_argument("--request-id", metavar="ID", help="the records request this hold serves")
    p.add_argument("--no-lock", action="store_true", help="do not set storage legal holds on the objects")
    p.set_defaults(func=cmd_hold_add)
    p = hs.add_parser("release", help="release a hold", description="Release a hold (a second archive object; "
                      "the hold's record stays). Storage legal holds are lifted where no other hold applies.")
    p.add_argument("hold_id", metavar="HOLD_ID")
    archive_opts(p)
    p.add_argument("--by", metavar="NAME", help="who releases it (default: the login name)")
    p.add_argument("--reason", default="released", metavar="TEXT", help="why it is released (default: released)")
    p.set_defaults(func=cmd_hold_release)
    p = hs.add_parser("list", help="list holds", description="List active holds (with --all, released ones too).")
    archive_opts(p)
    p.add_argument("--all", action="store_true", help="include released holds")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_hold_list)

    disp = sub.add_parser("disposition", help="plan, approve and execute disposition; print the log",
                          description="Disposition in three steps: plan (dry run), approve, execute (re-checks "
                                      "everything and logs each destroyed object with its SHA-256).")
    ds = disp.add_subparsers(dest="disposition_command", metavar="ACTION", required=True)
    p = ds.add_parser("plan", help="dry run: what is eligible and why",
                      description="List what could be purged as of a date (default today) and why everything "
                                  "else is kept. With --save, write the plan for approval. Without --config "
                                  "(e.g. on the demo archive) the plan uses the jurisdiction on the records and "
                                  "its shipped schedule but no city confirmations, so nothing is eligible; it "
                                  "still shows why each series is kept.")
    archive_opts(p, config_help="city configuration: jurisdiction, schedule, confirmations (required for --save; "
                                "without it nothing is eligible)")
    schedule_opt(p)
    p.add_argument("--as-of", type=_date, metavar="DATE", help="evaluate eligibility on DATE (preview the future)")
    p.add_argument("--account", nargs="+", action="extend", metavar="ID",
                   help="only these account ids: one or more, repeatable")
    p.add_argument("--series", nargs="+", action="extend", metavar="CODE",
                   help="only these series codes: one or more, repeatable")
    p.add_argument("--save", action="store_true", help="write the plan to the archive for approval")
    p.add_argument("--json", action="store_true", help="print JSON (every object)")
    p.add_argument("--no-cache", action="store_true", help="read every records file, ignoring the summary caches (local and in the archive)")
    p.set_defaults(func=cmd_disposition_plan)
    p = ds.add_parser("approve", help="approve (or reject) a saved plan",
                      description="Record the approval of a saved plan by one of the config's approvers. The "
                                  "approval also records the login this command runs as: under the two-person "
                                  "rule, one login counts once whatever names it approves as.")
    p.add_argument("plan_id", metavar="PLAN_ID")
    archive_opts(p, config_required=True)
    schedule_opt(p)
    p.add_argument("--approver", required=True, metavar="NAME", help="an approver named in the city config")
    p.add_argument("--reject", action="store_true", help="reject the plan instead")
    p.add_argument("--comment", metavar="TEXT", help="a note kept with the decision")
    p.set_defaults(func=cmd_disposition_approve)
    p = ds.add_parser("execute", help="purge an approved plan (re-checking everything) and log it",
                      description="Re-check approvals, eligibility, holds, storage locks and object hashes now; "
                                  "purge what passes; append a disposition log entry and certificate.")
    p.add_argument("plan_id", metavar="PLAN_ID")
    archive_opts(p, config_required=True)
    schedule_opt(p)
    p.add_argument("--by", metavar="NAME", help="who executes (default user@host)")
    p.set_defaults(func=cmd_disposition_execute)
    p = ds.add_parser("log", help="print the disposition log", description="Print the disposition log "
                      "(civic-archive audit log --verify also checks its chain).")
    archive_opts(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_disposition_log)

    audit = sub.add_parser("audit", help="disposition log, certificates and the auditor report",
                           description="For auditors: print and verify the disposition log, print certificates, "
                                       "write the HTML report.")
    aus = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = aus.add_parser("log", help="print the disposition log; --verify checks its hash chain",
                       description="Print the disposition log. With --verify, recompute its hash chain, "
                                   "certificates and references; exit 1 naming each problem.")
    archive_opts(p)
    p.add_argument("--verify", action="store_true", help="check the chain")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_audit_log)
    p = aus.add_parser("certificate", help="print the certificate of destruction of a log entry",
                       description="Print (or, if missing, --write) the certificate of destruction of entry N.")
    p.add_argument("sequence", type=int, metavar="N")
    archive_opts(p)
    p.add_argument("--write", action="store_true", help="write the certificate object if it is missing")
    p.set_defaults(func=cmd_audit_certificate)
    p = aus.add_parser("report", help="write the auditor's HTML report",
                       description="Disposition history, upcoming eligibility by series (with a chart), holds "
                                   "and what is kept and why, as one self-contained HTML page.")
    archive_opts(p, config_required=True)
    schedule_opt(p)
    p.add_argument("--out", required=True, metavar="FILE.html", help="where to write the report")
    p.add_argument("--as-of", type=_date, metavar="DATE", help="date of the report (default today)")
    p.set_defaults(func=cmd_audit_report)



# -- records requests (export, request close/show) ----------------------------------------------------------------


def cmd_export(args) -> int:
    from civic_archive import export, search

    _, store, _ = _retention_context(args, need_config=False)
    req = export.ExportRequest(
        request_id=args.request_id,
        criteria=search.Criteria(accounts=args.account or [], since=args.since, until=args.until, query=args.query,
                                 include_removed=args.include_removed, threads=args.threads),
        requester=args.requester, received=args.received, redaction_profile=args.redaction_profile,
        jurisdiction=args.jurisdiction, timezone=args.timezone, run_by=args.by, closed_days=args.closed or [])
    result = export.export(store, req, args.out, place_hold=not args.no_hold, store_in_archive=not args.no_archive_copy)
    c = result.counts
    print(f"request {args.request_id}: {c['rows']} row(s), {c['items']} item(s), {c['evidence records']} WARC "
          f"record(s); package {result.path}")
    if result.archive_prefix:
        print(f"  copied into the archive under {result.archive_prefix}")
    print(f"  hold: {result.hold_id or 'none'}; redactions: {result.redactions}")
    d = result.deadline
    print(f"  deadline: {d.get('deadline') or 'none fixed by statute'} ({d.get('citation', d.get('rule'))})")
    if not c["rows"]:
        print("  note: nothing in the archive matches these criteria; the package says so (check the criteria "
              "before answering that no records exist)", file=sys.stderr)
    return EXIT_OK


def cmd_request_close(args) -> int:
    from civic_archive import records_request

    _, store, _ = _retention_context(args, need_config=False)
    closed = records_request.close(store, args.request_id, closed_by=args.by, reason=args.reason)
    held = ", ".join(closed["holds_released"]) or "none"
    print(f"request {args.request_id} closed by {closed['closed_by']} at {closed['closed_at']}; holds released: {held}")
    return EXIT_OK


def cmd_request_show(args) -> int:
    from civic_archive import records_request

    _, store, _ = _retention_context(args, need_config=False)
    doc = records_request.load(store, args.request_id)
    if doc is None:
        raise CommandError(f"no records request {args.request_id} in {store.uri}")
    print(json.dumps(doc, indent=1, ensure_ascii=False))
    return EXIT_OK


def _add_request_parsers(sub) -> None:
    def archive_opts(p):
        p.add_argument("--config", metavar="CITY.yaml", help="city configuration (for its archive location)")
        p.add_argument("--archive", metavar="URI", help="archive location (default: the config's, else ./archive)")

    p = sub.add_parser("export", help="answer a records request: search, hold and package responsive records",
                       description="Find every version of every responsive record, place a hold on them until "
                                   "`request close`, and write a BagIt bag (records CSV + Parquet, the WARC "
                                   "evidence, an offline thread view, chain of custody, deadline summary) to "
                                   "--out (a new folder, or a .zip), plus a copy under exports/ID/ in the archive.")
    archive_opts(p)
    p.add_argument("--request-id", required=True, metavar="ID", help="the request's id (letters, digits, - and _)")
    p.add_argument("--account", nargs="+", action="extend", metavar="ID",
                   help="account id(s): one or more, repeatable (default: all)")
    p.add_argument("--since", type=_date, metavar="DATE", help="items created on or after DATE (UTC)")
    p.add_argument("--until", type=_date, metavar="DATE", help="items created on or before DATE (UTC)")
    p.add_argument("--query", metavar="TEXT", help="items whose text or author contains TEXT (any case)")
    p.add_argument("--include-removed", action="store_true", help="include hidden, removed and deleted content")
    p.add_argument("--threads", action="store_true",
                   help="with each responsive item, its whole thread: the post or video and every comment, reply "
                        "and photo under it, whenever written (the request's hold covers them too)")
    p.add_argument("--out", required=True, metavar="PATH", help="new folder for the bag, or a .zip file")
    p.add_argument("--requester", metavar="NAME", help="who made the request")
    p.add_argument("--received", type=_date, metavar="DATE", help="date the custodian received the request")
    p.add_argument("--redaction-profile", metavar="NAME|FILE",
                   help="redaction for the package only: none (default), commenter-identities, or a JSON file")
    p.add_argument("--jurisdiction", choices=["MO", "MN"], help="statutory clock (default: the records')")
    p.add_argument("--timezone", default="America/Chicago", metavar="TZ", help="local time zone for the view")
    p.add_argument("--closed", type=_date, nargs="+", action="extend", metavar="DATE",
                   help="days the office is closed besides weekends and federal holidays: one or more, repeatable")
    p.add_argument("--by", metavar="NAME", help="who runs the export (default: the login name)")
    p.add_argument("--no-hold", action="store_true", help="do not place the request's hold (not recommended)")
    p.add_argument("--no-archive-copy", action="store_true", help="do not copy the package into exports/ID/")
    p.set_defaults(func=cmd_export)

    req = sub.add_parser("request", help="show or close a records request",
                         description="A records request is opened by its first export; closing it releases its hold.")
    rs = req.add_subparsers(dest="request_command", metavar="ACTION", required=True)
    p = rs.add_parser("close", help="close a request and release its hold")
    p.add_argument("request_id", metavar="ID")
    archive_opts(p)
    p.add_argument("--by", required=True, metavar="NAME", help="who closes it")
    p.add_argument("--reason", default="request answered", metavar="TEXT", help="why (default: request answered)")
    p.set_defaults(func=cmd_request_close)
    p = rs.add_parser("show", help="print a request's record")
    p.add_argument("request_id", metavar="ID")
    archive_opts(p)
    p.set_defaults(func=cmd_request_show)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="civic-archive",
        description="Keep a city's official social-media accounts as verifiable public records.")
    parser.add_argument("--version", action="version", version=f"civic-archive {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("harvest", help="harvest a city's accounts once (what the nightly DAG runs per account)",
                       description="Harvest every account of the city config (or one, with --account) into the "
                                   "archive: WARC + Parquet + manifest per account run.")
    p.add_argument("--config", required=True, metavar="CITY.yaml", help="city configuration file")
    p.add_argument("--account", metavar="ID", help="harvest only this account id")
    p.add_argument("--archive", metavar="URI", help="archive location (default: the config's `archive`)")
    p.add_argument("--full-sweep", action="store_true",
                   help="walk every item of the account, not just the re-check window (see `harvest:` in the "
                        "city config: recheck_days, full_sweep_days, full_sweep_below_items)")
    p.set_defaults(func=cmd_harvest)

    p = sub.add_parser("verify", help="re-verify every digest, hash and chain in the archive",
                       description="Recompute WARC record digests, object SHA-256s against the manifests and the "
                                   "manifest chains; check the disposition and holds logs, that every chain "
                                   "head an earlier fixity audit recorded is still there, and that every export "
                                   "package kept in the archive is still a valid bag. Exit 0 only if "
                                   "everything holds; otherwise exit 1 and name each object that failed and why.")
    p.add_argument("--archive", metavar="URI", default="file://./archive",
                   help="archive location: file://PATH or s3://BUCKET/PREFIX (default: ./archive)")
    p.add_argument("--fast", action="store_true", help="check object hashes and chains only, not WARC record digests")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("demo", help="run the bundled fake platforms and harvest the demo city into ./archive",
                       description="Start the bundled fake platform APIs on loopback, harvest the demo city "
                                   "(several accounts) into the archive, and print where things are and how "
                                   "to verify them.")
    p.add_argument("--archive", metavar="URI", default="file://./archive", help="where to archive (default ./archive)")
    p.add_argument("--nights", type=int, default=2, metavar="N",
                   help="simulated nights to harvest; content changes between nights (default 2)")
    p.set_defaults(func=cmd_demo)
    _add_retention_parsers(sub)
    _add_request_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from civic_archive.config import ConfigError
    from civic_archive.schemas import SchemaError
    from civic_archive.storage import StorageError

    try:
        return args.func(args)
    except (CommandError, ConfigError, SchemaError, StorageError, ValueError) as exc:
        print(f"civic-archive {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"civic-archive {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, but the user still gets one line; -v shows the traceback
        if args.verbose:
            logging.exception("unexpected error")
        print(f"civic-archive {args.command}: unexpected error: {type(exc).__name__}: {exc} "
              "(run with -v for details)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
