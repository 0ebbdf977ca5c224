"""Business days (31 CFR 1010.313(b)): the day a cash transaction counts on.

Detection aggregates CTR cash per business day (``models.features.assign_business_days``,
the same rule over frames), alerts run their CTR deadline from it and the CTR filing groups
transactions by it, so that an alert's CTR features, its deadline and the filed CTR agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import cached_property


def us_bank_holidays(years: Iterable[int]) -> list[date]:
    """Federal Reserve holidays: a Sunday holiday moves to Monday, a Saturday one does not."""

    def nth(year: int, month: int, weekday: int, n: int) -> date:
        first = date(year, month, 1)
        shift = (weekday - first.weekday()) % 7
        return first + timedelta(days=shift + 7 * (n - 1))

    def last(year: int, month: int, weekday: int) -> date:
        day = date(year, month + 1, 1) - timedelta(days=1)
        return day - timedelta(days=(day.weekday() - weekday) % 7)

    result: list[date] = []
    for year in years:
        fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
        if year >= 2021:
            fixed.append(date(year, 6, 19))
        for day in fixed:
            if day.weekday() == 6:
                day += timedelta(days=1)
            if day.weekday() < 5:
                result.append(day)
        result += [
            nth(year, 1, 0, 3),  # Martin Luther King Jr. Day
            nth(year, 2, 0, 3),  # Washington's Birthday
            last(year, 5, 0),  # Memorial Day
            nth(year, 9, 0, 1),  # Labor Day
            nth(year, 10, 0, 2),  # Columbus Day
            nth(year, 11, 3, 4),  # Thanksgiving
        ]
    return sorted(result)


@dataclass(frozen=True)
class BusinessCalendar:
    """How a report's time maps to the business day it counts on (CTR aggregation).

    Local time is UTC plus a fixed offset per jurisdiction (no daylight saving); reports on a
    weekend or holiday count on the next business day, and so do reports at or after
    ``cutoff_hour`` local time (night deposits) when it is set. Any jurisdiction other than
    ``"MX"`` follows the US calendar.
    """

    # Left out of the hash (a mapping has none); equality still compares it.
    utc_offset_hours: Mapping[str, int] = field(
        default_factory=lambda: {"US": -5, "MX": -6}, hash=False
    )
    cutoff_hour: int | None = None
    us_holidays: tuple[date, ...] = field(
        default_factory=lambda: tuple(us_bank_holidays(range(2000, 2101)))
    )
    mx_holidays: tuple[date, ...] = ()

    def zone(self, jurisdiction: str) -> tzinfo:
        """The calendar's local time of a jurisdiction: a fixed UTC offset."""
        key = "MX" if jurisdiction == "MX" else "US"
        return timezone(timedelta(hours=self.utc_offset_hours.get(key, 0)))

    def holidays(self, jurisdiction: str) -> frozenset[date]:
        """The holidays of a jurisdiction (Federal Reserve holidays for the US)."""
        return self._mx_holiday_set if jurisdiction == "MX" else self._us_holiday_set

    @cached_property
    def _us_holiday_set(self) -> frozenset[date]:
        return frozenset(self.us_holidays)

    @cached_property
    def _mx_holiday_set(self) -> frozenset[date]:
        return frozenset(self.mx_holidays)


DEFAULT_CALENDAR = BusinessCalendar()


def business_day(
    moment: datetime,
    jurisdiction: str,
    *,
    zone: tzinfo | None = None,
    cutoff_hour: int | None = None,
    calendar: BusinessCalendar = DEFAULT_CALENDAR,
) -> date:
    """The business day a transaction at ``moment`` counts on (31 CFR 1010.313(b)).

    * the local date of ``moment`` in ``zone`` (an institution's own time zone) when given,
      else at the calendar's fixed UTC offset for the jurisdiction (US −5, MX −6);
    * at or after ``cutoff_hour`` local time (else the calendar's ``cutoff_hour``; none by
      default) it is a night deposit: the next day;
    * a Saturday, Sunday or holiday of the jurisdiction (the calendar's lists: Federal
      Reserve holidays for the US, none for Mexico yet) rolls forward to the next business day.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetimes have no business day")
    local = moment.astimezone(zone if zone is not None else calendar.zone(jurisdiction))
    day = local.date()
    cutoff = cutoff_hour if cutoff_hour is not None else calendar.cutoff_hour
    if cutoff is not None and local.hour >= cutoff:
        day += timedelta(days=1)
    holidays = calendar.holidays(jurisdiction)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day
