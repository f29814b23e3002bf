"""`records.rows_to_table` (Arrow converts whole columns) gives exactly the table, or the error, that building
each column value by value gives: for harvest rows, rows holding datetimes, extra columns, and timestamp and
date strings just outside the plain form Arrow's casts are trusted with."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civic_archive import records
from civic_archive.warc import WarcRef


def by_value(rows, schema=records.ARROW_SCHEMA):
    return records._rows_to_table_by_value(rows, schema)


def outcome(fn, *args):
    try:
        return fn(*args)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        return type(exc).__name__


def row(created: datetime, n: int = 0) -> dict:
    ref = WarcRef("warc/a-0.warc.gz", n, 10, "<urn:uuid:00000000-0000-4000-8000-000000000002>")
    item = records.Item(kind="post", platform_id=str(n), created_at=created, raw={"id": n}, ref=ref, text="t",
                        updated_at=created if n % 2 else None)
    return records.to_row(item, account_id="acct", platform="facebook", version=1, status="live",
                          captured_at=created + timedelta(seconds=n), run_id="r", jurisdiction="MO",
                          eligible_on=created.date() if n % 3 else None)


DATETIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                         timezones=st.just(timezone.utc))


@settings(max_examples=300, deadline=None)
@given(st.lists(DATETIMES, min_size=1, max_size=20))
def test_harvest_rows_convert_alike(instants):
    rows = [row(dt, n) for n, dt in enumerate(instants)]
    assert records.rows_to_table(rows).equals(by_value(rows))


NEAR = ["2026-03-04T16:20:11Z", "2026-03-04T16:20:11.123456Z", "2026-03-04T16:20:11.123Z", "2026-03-04T24:00:00Z",
        "2026-03-04T23:59:60Z", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2026-03-04T16:20:11+05:30", "2026-03-04T16:20:11",
        "2026-03-04 16:20:11Z", "2026-03-04", "2026-02-30", "2024-02-29", "20260304", "2026-03-04t16:20:11z",
        "", "x", None]


@pytest.mark.parametrize("column", ["created_at", "updated_at", "captured_at", "removed_detected_at", "eligible_on"])
@pytest.mark.parametrize("value", NEAR)
def test_strings_outside_the_plain_form_convert_or_fail_alike(column, value):
    rows = [row(datetime(2026, 3, 4, tzinfo=timezone.utc), n) for n in range(3)]
    rows[1][column] = value
    fast, slow = outcome(records.rows_to_table, rows), outcome(by_value, rows)
    assert (fast.equals(slow) if isinstance(slow, pa.Table) else fast == slow), (fast, slow)


def test_datetimes_extra_columns_and_missing_keys():
    """The rows `_gone` builds: datetimes instead of strings, and extra columns."""
    rows = [row(datetime(2026, 3, 4, tzinfo=timezone.utc), n) for n in range(4)]
    rows[0]["created_at"] = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rows[2]["eligible_on"] = date(2030, 1, 1)
    del rows[3]["permalink"]
    schema = pa.schema(list(records.ARROW_SCHEMA) + [pa.field("what", pa.string()), pa.field("edited", pa.bool_())])
    for r in rows:
        r.update(what="deleted", edited=False)
    assert records.rows_to_table(rows, schema).equals(by_value(rows, schema))
    assert records.rows_to_table([], schema).equals(by_value([], schema))


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-7)), timezone(timedelta(0))])))
def test_iso_is_the_utc_rfc3339_form(dt):
    assert records.iso(dt) == dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def test_iso_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        records.iso(datetime(2026, 1, 1))
