"""Business days (31 CFR 1010.313(b)), with worked examples.

Calendar of the examples (2026): Fri 13 Nov, Sat 14, Sun 15, Mon 16; Wed 11 Nov is Veterans
Day, Thu 26 Nov Thanksgiving (Federal Reserve holidays). The default calendar's local time is
UTC−5 for the US, UTC−6 for Mexico, with no night cut-off unless one is set. The frame form
detection uses is held to this rule in tests/models/test_features.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from refdata.business_days import business_day, us_bank_holidays

CHICAGO = ZoneInfo("America/Chicago")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class TestUsBankHolidays:
    def test_us_holidays(self) -> None:
        holidays = set(us_bank_holidays([2026, 2027]))
        assert date(2026, 11, 26) in holidays  # Thanksgiving
        assert date(2026, 7, 3) not in holidays  # July 4th on a Saturday is not moved
        assert date(2027, 7, 5) in holidays  # July 4th 2027 is a Sunday: Monday
        assert date(2026, 1, 19) in holidays  # Martin Luther King Jr. Day


class TestBusinessDay:
    def test_a_weekday_is_its_own_business_day(self) -> None:
        assert business_day(utc("2026-11-13 15:00"), "US") == date(2026, 11, 13)

    def test_saturday_and_sunday_deposits_count_on_monday(self) -> None:
        assert business_day(utc("2026-11-14 15:00"), "US") == date(2026, 11, 16)
        assert business_day(utc("2026-11-15 23:00"), "US") == date(2026, 11, 16)

    def test_the_day_boundary_is_local(self) -> None:
        # 03:00Z on Saturday is still Friday 22:00 at UTC−5 ...
        assert business_day(utc("2026-11-14 03:00"), "US") == date(2026, 11, 13)
        # ... and, in the institution's own zone (Chicago, UTC−6 in November), 21:00 Friday.
        assert business_day(utc("2026-11-14 03:00"), "US", zone=CHICAGO) == date(2026, 11, 13)
        # 05:30Z Saturday: Saturday at UTC−5, still Friday 23:30 in Chicago.
        assert business_day(utc("2026-11-14 05:30"), "US") == date(2026, 11, 16)
        assert business_day(utc("2026-11-14 05:30"), "US", zone=CHICAGO) == date(2026, 11, 13)

    def test_friday_night_after_the_cut_off_counts_on_monday(self) -> None:
        friday_evening = datetime(2026, 11, 13, 19, 30, tzinfo=CHICAGO)
        assert business_day(friday_evening, "US", zone=CHICAGO) == date(2026, 11, 13)
        assert business_day(friday_evening, "US", zone=CHICAGO, cutoff_hour=18) == date(
            2026, 11, 16
        )
        before_cut_off = datetime(2026, 11, 13, 17, 59, tzinfo=CHICAGO)
        assert business_day(before_cut_off, "US", zone=CHICAGO, cutoff_hour=18) == date(
            2026, 11, 13
        )

    def test_federal_holidays_roll_forward(self) -> None:
        assert business_day(utc("2026-11-11 15:00"), "US") == date(2026, 11, 12)  # Veterans Day
        assert business_day(utc("2026-11-26 15:00"), "US") == date(2026, 11, 27)  # Thanksgiving
        # The night before Thanksgiving, after a 17:00 cut-off: Thursday is a holiday too.
        wednesday_night = datetime(2026, 11, 25, 20, tzinfo=CHICAGO)
        assert business_day(wednesday_night, "US", zone=CHICAGO, cutoff_hour=17) == date(
            2026, 11, 27
        )
        # Christmas 2026 is a Friday: the weekend follows, Monday the 28th is the business day.
        assert business_day(utc("2026-12-25 15:00"), "US") == date(2026, 12, 28)

    def test_us_holidays_do_not_apply_to_mexico(self) -> None:
        assert business_day(utc("2026-11-26 15:00"), "MX") == date(2026, 11, 26)
        assert business_day(utc("2026-11-14 15:00"), "MX") == date(2026, 11, 16)

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            business_day(datetime(2026, 11, 14, 15), "US")
