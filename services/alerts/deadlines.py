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
from datetime import datetime, time, timedelta

from refdata.business_days import DEFAULT_CALENDAR, BusinessCalendar, business_day
from services.alerts.enums import DeadlineKind

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
    calendar: BusinessCalendar = DEFAULT_CALENDAR,
) -> datetime:
    """The end of the last day to file the CTR of a US transaction at ``transaction_at``.

    Day 0 is the transaction's business day in the detection calendar (its fixed UTC offset,
    its cut-off if any, weekends and Federal Reserve holidays), and the report is due by the
    end of day ``us_ctr_days`` after it, local time.
    """
    day = business_day(transaction_at, "US", calendar=calendar)
    due = day + timedelta(days=policy.us_ctr_days)
    return datetime.combine(due, END_OF_DAY, calendar.zone("US")).astimezone(transaction_at.tzinfo)
