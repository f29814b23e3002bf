"""Building small real archives for tests: the demo city harvested from the fakes."""
from __future__ import annotations

from civic_archive.demo import demo_config
from civic_archive.harvest import harvest_account
from civic_archive.storage import open_store


def harvest_demo(fakes, archive_uri: str, nights: int = 1, accounts: list[str] | None = None):
    city = demo_config(fakes, archive_uri)
    store = open_store(archive_uri)
    results = []
    for night in range(nights):
        if night:
            fakes.world.next_night()
        for account in city.accounts:
            if accounts is None or account.id in accounts:
                results.append(harvest_account(city, account, store))
    return city, store, results
