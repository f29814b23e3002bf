"""Statutory clocks: RSMo 610.023.3 (third business day), federal holidays observed per 5 U.S.C. 6103."""
from datetime import date

from civic_archive.records_request import add_business_days, deadline, federal_holidays


def test_federal_holidays_2026_observed():
    h = federal_holidays(2026)
    assert h[date(2026, 7, 3)] == "Independence Day"  # July 4 2026 is a Saturday: observed Friday
    assert h[date(2026, 11, 26)] == "Thanksgiving Day" and h[date(2026, 1, 19)].startswith("Birthday of Martin")
    assert date(2027, 12, 31) in federal_holidays(2027)  # New Year's Day 2028 is a Saturday


def test_missouri_three_business_days_skip_weekend_and_holidays():
    # received Tue 2026-11-24: Wed 25 (1), Thu 26 Thanksgiving skipped, Fri 27 (2), weekend, Mon 30 (3)
    d = deadline("MO", date(2026, 11, 24))
    assert d["deadline"] == "2026-11-30" and d["citation"] == "RSMo 610.023.3"
    assert d["skipped"] == ["2026-11-26 Thanksgiving Day"]
    # received Friday: Mon, Tue, Wed
    assert deadline("MO", date(2026, 11, 20))["deadline"] == "2026-11-25"
    # a closure day given by the clerk counts too (e.g. Lincoln Day, RSMo 9.010, not built in)
    assert add_business_days(date(2027, 2, 10), 3, [date(2027, 2, 12)])[0] == date(2027, 2, 17)  # 15th: Washington's Birthday


def test_minnesota_has_no_fixed_deadline():
    d = deadline("MN", date(2026, 11, 20))
    assert d["deadline"] is None and "prompt" in d["rule"] and d["data_subject_deadline"] == "2026-12-07"
    assert deadline("MO", None)["deadline"] is None
