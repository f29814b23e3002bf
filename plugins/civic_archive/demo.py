"""The demo: a fake city served by the bundled fake platform APIs on loopback, harvested over a few nights.

Nothing leaves the machine: the fakes listen on 127.0.0.1 and the city config points every account at them.
Between nights the fake world changes (new comments, an edit, a hide, a deletion), so the archive shows
every status a real one would.
"""
from __future__ import annotations

import os
from civic_archive import config as cfg
from civic_archive.harvest import harvest_account
from civic_archive.sources import supported_platforms
from civic_archive.storage import open_store
from civic_archive.verify import verify

DEMO_CITY = "City of Example (demo)"


def demo_config(fakes, archive: str, jurisdiction: str = "MO") -> cfg.CityConfig:
    doc, env = fakes.city_config(archive=archive, city=DEMO_CITY, jurisdiction=jurisdiction)
    os.environ.update(env)  # the demo's fake tokens, referenced as env:VAR like real ones
    doc["accounts"] = [a for a in doc["accounts"] if a["platform"] in supported_platforms()]
    return cfg.parse(doc, "demo city")


def run_demo(archive: str = "file://./archive", nights: int = 2, out=print) -> int:
    from civic_archive.fakes import FakePlatforms, World

    world = World.demo()
    store = open_store(archive)
    failures = 0
    with FakePlatforms(world) as fakes:
        city = demo_config(fakes, archive)
        out(f"Fake platform APIs on {fakes.base_url('facebook').split('/facebook')[0]} (loopback only)")
        out(f"Harvesting {city.city}: {len(city.accounts)} accounts, {nights} night(s) into {store.uri}")
        for night in range(1, nights + 1):
            if night > 1:
                world.next_night()
            for account in city.accounts:
                result = harvest_account(city, account, store)
                counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()) if k != "seen")
                out(f"  night {night} {account.id:<18} {'ok' if result.ok else 'FAILED'}: "
                    f"seen {result.counts.get('seen', 0)}; {counts or 'no changes'}; "
                    f"quarantined {result.quarantined}")
                for error in result.errors:
                    out(f"    error: {error}")
                failures += not result.ok
    report = verify(store)
    out("")
    out(f"Archive: {store.uri}")
    out("  warc/        WARC/1.1 evidence of every API exchange (tokens redacted)")
    out("  records/     Parquet rows, one per version of every post, comment, reply and media item")
    out("  manifests/   per-run manifests (sha256 of every object, hash-chained) and run reports")
    out("  state/       what each run saw, for change detection")
    out(f"Verify it yourself:  civic-archive verify --archive {store.uri}")
    out(f"Retention dry run:   civic-archive disposition plan --archive {store.uri} (the demo city confirms no "
        "series, so nothing is eligible; the plan says why)")
    out(f"Verification now: {'OK' if report.ok else 'FAILED'} ({report.objects} objects, "
        f"{report.warc_records} WARC records, {len(report.failures)} problems)")
    return 0 if report.ok and not failures else 1
