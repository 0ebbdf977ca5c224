"""Business days (31 CFR 1010.313(b)) and the CTR deadline, with worked examples.

Calendar of the examples (2026): Fri 13 Nov, Sat 14, Sun 15, Mon 16; Wed 11 Nov is Veterans
Day, Thu 26 Nov Thanksgiving (Federal Reserve holidays). The detection calendar's local time
is UTC−5 for the US, UTC−6 for Mexico, with no night cut-off unless one is set.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from models.features import DEFAULT_CALENDAR, F_MX
from services.alerts.deadlines import alert_deadline, business_day, ctr_due
from services.alerts.enums import DeadlineKind

CHICAGO = ZoneInfo("America/Chicago")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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

    @pytest.mark.parametrize("cutoff_hour", [None, 18])
    def test_agrees_with_the_detection_calendar(self, cutoff_hour: int | None) -> None:
        """The scalar rule and BusinessCalendar.assign (detection's CTR features) agree."""
        calendar = dataclasses.replace(DEFAULT_CALENDAR, cutoff_hour=cutoff_hour)
        start = int(utc("2025-12-20 00:00").timestamp())
        moments = [start + step * 5400 for step in range(0, 16 * 60)]  # 60 days, every 90 min
        frame = pl.LazyFrame(
            {
                "t": moments * 2,
                "flags": [0] * len(moments) + [F_MX] * len(moments),
            },
            schema={"t": pl.Int64(), "flags": pl.Int64()},
        )
        expected = calendar.assign(frame).collect()["bday"].to_list()
        actual = [
            business_day(datetime.fromtimestamp(t, UTC), jurisdiction, calendar=calendar)
            for jurisdiction in ("US", "MX")
            for t in moments
        ]
        assert actual == expected


class TestCtrDeadline:
    def test_due_at_the_end_of_the_fifteenth_day_after_the_business_day(self) -> None:
        # Wednesday 10 Nov 2026, 10:00 local: due Wednesday 25 Nov, 23:59:59 at UTC−5.
        assert ctr_due(utc("2026-11-10 15:00")) == utc("2026-11-26 04:59:59")

    def test_a_saturday_deposit_runs_from_monday(self) -> None:
        # Saturday 14 Nov → Monday 16 Nov → due Tuesday 1 Dec.
        assert ctr_due(utc("2026-11-14 15:00")) == utc("2026-12-02 04:59:59")

    def test_a_holiday_deposit_runs_from_the_next_business_day(self) -> None:
        # Thanksgiving (Thursday 26 Nov) → Friday 27 Nov → due Saturday 12 Dec.
        assert ctr_due(utc("2026-11-26 15:00")) == utc("2026-12-13 04:59:59")

    def test_the_alert_deadline_uses_it_for_us_large_value_reports(self) -> None:
        created = utc("2026-11-16 09:00")
        deadline = alert_deadline(
            jurisdiction="US",
            report_type="LVTR",
            created_at=created,
            transaction_at=utc("2026-11-14 15:00"),
            suspicion_determined_at=None,
            subject_identified=True,
        )
        assert deadline.kind is DeadlineKind.US_CTR
        assert deadline.at == utc("2026-12-02 04:59:59")
        # Without a transaction time the alert's own time is the anchor (Monday the 16th).
        fallback = alert_deadline(
            jurisdiction="US",
            report_type="LVTR",
            created_at=created,
            transaction_at=None,
            suspicion_determined_at=None,
            subject_identified=True,
        )
        assert fallback.at == utc("2026-12-02 04:59:59")

    def test_other_clocks_are_calendar_days(self) -> None:
        created = utc("2026-11-14 15:00")  # a Saturday: SAR and ROI clocks do not care
        roi = alert_deadline(
            jurisdiction="MX",
            report_type="LVTR",
            created_at=created,
            transaction_at=created,
            suspicion_determined_at=None,
            subject_identified=True,
        )
        assert roi.at == created + timedelta(days=60)
        sar = alert_deadline(
            jurisdiction="US",
            report_type="STR",
            created_at=created,
            transaction_at=created,
            suspicion_determined_at=created,
            subject_identified=True,
        )
        assert sar.at == created + timedelta(days=30)
