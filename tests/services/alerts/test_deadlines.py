"""The CTR deadline and the other alert clocks, with worked examples.

Calendar of the examples (2026): Fri 13 Nov, Sat 14, Sun 15, Mon 16; Wed 11 Nov is Veterans
Day, Thu 26 Nov Thanksgiving (Federal Reserve holidays). The detection calendar's local time
is UTC−5 for the US, UTC−6 for Mexico, with no night cut-off unless one is set. Business days
themselves: tests/refdata/test_business_days.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerts.deadlines import alert_deadline, ctr_due
from services.alerts.enums import DeadlineKind


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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
