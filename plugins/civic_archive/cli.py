"""`civic-archive`: the command line for the scheduler, clerks, records officers and auditors.

Errors are one clear line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from civic_archive import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A command cannot go on; the message is what the user needs to know."""


def _existing_store(uri: str):
    from civic_archive.storage import open_store

    return open_store(uri, create=False)


def cmd_harvest(args) -> int:
    from civic_archive import config as cfg
    from civic_archive.harvest import harvest_account
    from civic_archive.storage import open_store

    city = cfg.load(args.config)
    accounts = [city.account(args.account)] if args.account else list(city.accounts)
    store = open_store(args.archive or city.archive)
    failed = 0
    for account in accounts:
        try:
            result = harvest_account(city, account, store)
        except cfg.ConfigError as exc:  # e.g. this account's token variable is unset: the others go on
            print(f"{account.id}: FAILED; {exc}", file=sys.stderr)
            failed += 1
            continue
        status = "ok" if result.ok else "FAILED"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
        print(f"{account.id}: {status}; run {result.run_id}; {counts or 'nothing new'}; "
              f"quarantined {result.quarantined}; API calls {result.api_calls}")
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
                          "orphans": report.orphans}, indent=1))
    else:
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_demo(args) -> int:
    from civic_archive.demo import run_demo

    return run_demo(args.archive, nights=args.nights)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    p.set_defaults(func=cmd_harvest)

    p = sub.add_parser("verify", help="re-verify every digest, hash and chain in the archive",
                       description="Recompute WARC record digests, object SHA-256s against the manifests and the "
                                   "manifest chains. Exit 0 only if everything holds; otherwise exit 1 and name "
                                   "each object that failed and why.")
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
