"""The compiled record-row checker gives jsonschema's verdict on every row: good rows from `records.to_row`,
and the same rows with fields replaced by near-misses (wrong types, bools for integers, 1.0, NaN, patterns with
a trailing newline, impossible dates, leap seconds, offsets, lower-case `t`/`z`), removed, or added."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civic_archive import recordcheck, records, schemas
from civic_archive.resources import data_dir
from civic_archive.warc import WarcRef

SCHEMA = json.loads((data_dir("schemas") / "record.schema.json").read_text())
FIELDS = list(SCHEMA["properties"])
WHEN = datetime(2026, 3, 4, 16, 20, 11, 123456, tzinfo=timezone.utc)


def good_row(n: int = 0, **item_fields) -> dict:
    ref = WarcRef("warc/acct/2026/03/a-0.warc.gz", 1234 + n, 567, "<urn:uuid:00000000-0000-4000-8000-000000000002>")
    item = records.Item(kind="comment", platform_id=f"1_{n}", created_at=WHEN - timedelta(days=n),
                        raw={"id": f"1_{n}", "message": "Main St closed ✓"}, ref=ref, parent_platform_id="1",
                        author_id="42", author_name="Resident", text="Main St closed ✓",
                        updated_at=WHEN if n % 2 else None, permalink="https://example/1_2", **item_fields)
    row = records.to_row(item, account_id="city-facebook", platform="facebook", version=1 + n % 3, status="live",
                         captured_at=WHEN, run_id="city-facebook.20260304T162011123456Z.abcdef", jurisdiction="MO",
                         series_code="GS-1" if n % 2 else None, retention_period="P3Y" if n % 2 else None,
                         eligible_on=date(2029, 3, 4) if n % 2 else None)
    return row


HEX32, HEX64 = "0123456789abcdef" * 2, "0123456789abcdef" * 4
NEAR_MISSES = [
    None, "", " ", "a", "x" * 512, "x" * 513, [], {}, ["a"], 0, 1, -1, 2, 10 ** 20, True, False, 1.0, 0.0, 1.5, -0.5,
    float("nan"), float("inf"), float("-inf"),
    HEX32, HEX32.upper(), HEX32 + "\n", HEX32[:-1], HEX32 + "0", HEX64, HEX64 + "\n", HEX64[:-1], HEX64.upper(),
    "<urn:uuid:00000000-0000-4000-8000-000000000002>", "<urn:uuid:00000000-0000-4000-8000-00000000000>",
    "<urn:uuid:00000000-0000-4000-8000-000000000002>\n", "urn:uuid:00000000-0000-4000-8000-000000000002",
    "2026-03-04T16:20:11Z", "2026-03-04T16:20:11.123456Z", "2026-03-04t16:20:11z", "2026-03-04T16:20:11+05:30",
    "2026-03-04T16:20:11-23:59", "2026-03-04T16:20:11+24:00", "2026-03-04T24:00:00Z", "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "2026-03-04T16:20:11", "2026-03-04 16:20:11Z",
    "2026-03-04T16:20:60Z", "2026-03-04T16:20:11Z\n", "2026-13-04T16:20:11Z", "2026-03-04T16:20:11.Z",
    "2026-03-04", "2026-02-29", "2024-02-29", "2026-3-04", "20260304", "2026-03-04\n", "2026-03-32", "0000-01-01",
    "live", "Live", "edited", "hidden", "removed", "deleted", "facebook", "Facebook", "x", "instagram", "youtube",
    "post", "comment", "reply", "media", "video", "MO", "mo", "MN", "CA",
    "city-facebook", "-city", "c" * 63, "c" * 64, "City", "c_1", "0", "{}", "[]",
]
VALUES = st.one_of(st.sampled_from(NEAR_MISSES), st.text(max_size=6), st.integers(-3, 3),
                   st.floats(allow_nan=True, allow_infinity=True))
MUTATION = st.tuples(st.sampled_from(FIELDS + ["extra_field"]), st.sampled_from(["set", "set", "set", "delete"]),
                     VALUES)


def jsonschema_ok(row) -> bool:
    return not schemas.errors(recordcheck.SCHEMA, row)


def test_the_record_schema_is_compiled():
    assert recordcheck.compiled()


@pytest.mark.parametrize("n", range(6))
def test_good_rows_pass_both(n):
    row = good_row(n)
    assert jsonschema_ok(row) and recordcheck.errors(row) == []


@settings(max_examples=3000, deadline=None)
@given(n=st.integers(0, 5), mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_same_verdict_as_jsonschema(n, mutations):
    row = good_row(n)
    for field, action, value in mutations:
        if action == "delete":
            row.pop(field, None)
        else:
            row[field] = value
    expected = schemas.errors(recordcheck.SCHEMA, row)
    assert recordcheck.errors(row) == expected  # [] on both for a good row; jsonschema's own messages otherwise


def test_every_field_against_every_near_miss():
    differ = []
    for field in FIELDS:
        for value in NEAR_MISSES:
            row = good_row(1)
            row[field] = value
            if (recordcheck.errors(row) == []) != jsonschema_ok(row):
                differ.append((field, value))
    assert differ == []


def test_rows_that_are_not_objects_or_lack_fields():
    for bad in ([], "row", None, {}, {k: v for k, v in good_row().items() if k != "run_id"}):
        assert recordcheck.errors(bad) and not jsonschema_ok(bad)


def test_other_keywords_are_not_compiled():
    with pytest.raises(recordcheck.Unsupported):
        recordcheck.compile_schema({**SCHEMA, "properties": {**SCHEMA["properties"], "n": {"type": "integer", "maximum": 3}}})
    with pytest.raises(recordcheck.Unsupported):
        recordcheck.compile_schema({**SCHEMA, "additionalProperties": True})


DT_DAYS = [f"{y}-{m}-{d}" for y in ("0000", "0001", "1900", "2000", "2024", "2025", "9999")
           for m in ("00", "01", "02", "04", "12", "13") for d in ("00", "01", "28", "29", "30", "31", "32")]
DT_TIMES = ["T00:00:00", "T23:59:59", "T24:00:00", "T12:60:00", "T12:00:60", "t12:00:00", " 12:00:00", "T1:00:00"]
DT_ENDS = ["Z", ".1Z", ".123456Z", ".Z", "z", "+00:00", "-23:59", "Z\n", "", "Z "]


def datetime_verdict(value) -> bool:
    return schemas.errors(recordcheck.SCHEMA, {**good_row(), "created_at": value}) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(DT_DAYS), st.sampled_from(DT_TIMES), st.sampled_from(DT_ENDS)),
                min_size=1, max_size=40))
def test_date_time_format_memo_agrees_with_jsonschema(parts):
    """The date-time check answers plain UTC date-times per day: in any order of strings (a day first met
    through a valid string or an invalid one), every verdict is jsonschema's."""
    ok = recordcheck._format_ok("date-time")
    for day, time_, end in parts + parts:  # twice: the second time from the memos
        value = day + time_ + end
        assert ok(value) == datetime_verdict(value), value


def test_date_time_format_grid():
    ok = recordcheck._format_ok("date-time")
    for day in DT_DAYS:
        for time_ in DT_TIMES:
            for end in DT_ENDS:
                value = day + time_ + end
                assert ok(value) == datetime_verdict(value), value
