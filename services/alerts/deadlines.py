"""Regulatory deadlines (DOMAIN.md §4.2). The anchor of the clock differs by jurisdiction.

* US SAR: 30 calendar days from the *suspicion determination* (not from the alert: the clock
  starts when the review concludes there is reason to suspect), 60 when no subject is
  identified. Until suspicion is determined the kind is known and the date is not.
* US CTR: within 15 days of the transaction's *business day* (large-value reports, LVTR):
  night, weekend and holiday deposits count on the next business day (31 CFR 1010.313(b)),
  so a Saturday deposit is due 15 days after the Monday. The deadline is the end of that day
  (23:59:59 local time).
* MX ROI (operación inusual): 60 calendar days from the alert.

MX quarterly ROR windows and the 24-hour report are not computed (DOMAIN.md §5 lists them
as unconfirmed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from services.alerts.enums import DeadlineKind

if TYPE_CHECKING:
    from models.features import BusinessCalendar

# The end of a due day, local time.
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    us_sar_days: int = 30
    us_sar_unidentified_days: int = 60
    us_ctr_days: int = 15
    mx_roi_days: int = 60


DEFAULT_POLICY = DeadlinePolicy()


@dataclass(frozen=True, slots=True)
class Deadline:
    kind: DeadlineKind | None
    at: datetime | None


def alert_deadline(
    *,
    jurisdiction: str,
    report_type: str,
    created_at: datetime,
    transaction_at: datetime | None,
    suspicion_determined_at: datetime | None,
    subject_identified: bool,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> Deadline:
    """Returns the deadline an alert runs against."""
    if jurisdiction == "MX":
        return Deadline(DeadlineKind.MX_ROI, created_at + timedelta(days=policy.mx_roi_days))
    if jurisdiction == "US" and report_type == "LVTR":
        return Deadline(DeadlineKind.US_CTR, ctr_due(transaction_at or created_at, policy))
    if jurisdiction == "US":
        return _sar(suspicion_determined_at, subject_identified, policy)
    return Deadline(None, None)


def case_deadline(
    *,
    jurisdiction: str,
    first_alert_at: datetime | None,
    created_at: datetime,
    suspicion_determined_at: datetime | None,
    subject_identified: bool,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> Deadline:
    """Returns the deadline of a case: a SAR for US cases, an ROI for Mexican ones."""
    if jurisdiction == "MX":
        anchor = first_alert_at or created_at
        return Deadline(DeadlineKind.MX_ROI, anchor + timedelta(days=policy.mx_roi_days))
    if jurisdiction == "US":
        return _sar(suspicion_determined_at, subject_identified, policy)
    return Deadline(None, None)


def _sar(
    determined_at: datetime | None, subject_identified: bool, policy: DeadlinePolicy
) -> Deadline:
    if determined_at is None:
        return Deadline(DeadlineKind.US_SAR, None)
    days = policy.us_sar_days if subject_identified else policy.us_sar_unidentified_days
    return Deadline(DeadlineKind.US_SAR, determined_at + timedelta(days=days))


def ctr_due(
    transaction_at: datetime,
    policy: DeadlinePolicy = DEFAULT_POLICY,
    calendar: BusinessCalendar | None = None,
) -> datetime:
    """The end of the last day to file the CTR of a US transaction at ``transaction_at``.

    Day 0 is the transaction's business day in the detection calendar (its fixed UTC offset,
    its cut-off if any, weekends and Federal Reserve holidays), and the report is due by the
    end of day ``us_ctr_days`` after it, local time.
    """
    calendar = calendar or default_calendar()
    day = business_day(transaction_at, "US", calendar=calendar)
    zone = calendar_zone("US", calendar)
    due = day + timedelta(days=policy.us_ctr_days)
    return datetime.combine(due, END_OF_DAY, zone).astimezone(transaction_at.tzinfo)


def calendar_zone(jurisdiction: str, calendar: BusinessCalendar | None = None) -> tzinfo:
    """The calendar's local time of a jurisdiction: a fixed UTC offset (no daylight saving)."""
    calendar = calendar or default_calendar()
    key = "MX" if jurisdiction == "MX" else "US"  # as BusinessCalendar.assign does
    return timezone(timedelta(hours=calendar.utc_offset_hours.get(key, 0)))


def business_day(
    moment: datetime,
    jurisdiction: str,
    *,
    zone: tzinfo | None = None,
    cutoff_hour: int | None = None,
    calendar: BusinessCalendar | None = None,
) -> date:
    """The business day a transaction at ``moment`` counts on (31 CFR 1010.313(b)).

    The scalar form of :meth:`models.features.BusinessCalendar.assign`, which detection uses
    for the same rule over frames (the tests hold the two together), so that an alert's CTR
    features, its deadline and the filed CTR agree:

    * the local date of ``moment`` in ``zone`` (an institution's own time zone) when given,
      else at the calendar's fixed UTC offset for the jurisdiction (US −5, MX −6);
    * at or after ``cutoff_hour`` local time (else the calendar's ``cutoff_hour``; none by
      default) it is a night deposit: the next day;
    * a Saturday, Sunday or holiday of the jurisdiction (the calendar's lists: Federal
      Reserve holidays for the US, none for Mexico yet) rolls forward to the next business day.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetimes have no business day")
    calendar = calendar or default_calendar()
    local = moment.astimezone(zone if zone is not None else calendar_zone(jurisdiction, calendar))
    day = local.date()
    cutoff = cutoff_hour if cutoff_hour is not None else calendar.cutoff_hour
    if cutoff is not None and local.hour >= cutoff:
        day += timedelta(days=1)
    holidays = _holidays(calendar.mx_holidays if jurisdiction == "MX" else calendar.us_holidays)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day


def default_calendar() -> BusinessCalendar:
    """Detection's calendar, imported on first use: it brings Polars, which the API otherwise
    does not load."""
    from models.features import DEFAULT_CALENDAR

    return DEFAULT_CALENDAR


_HOLIDAY_SETS: dict[int, tuple[tuple[date, ...], frozenset[date]]] = {}


def _holidays(days: tuple[date, ...]) -> frozenset[date]:
    """The calendar's holiday tuple as a set, built once per tuple."""
    cached = _HOLIDAY_SETS.get(id(days))
    if cached is None or cached[0] is not days:
        cached = _HOLIDAY_SETS[id(days)] = (days, frozenset(days))
    return cached[1]
