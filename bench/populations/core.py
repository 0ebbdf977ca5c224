"""Building blocks of a population: institutions, branches, parties, counterparties and the
transactions they make, plus the small random helpers every behaviour uses.

Amounts are drawn as floats in US-dollar equivalents (distributions are easier to reason about
in one unit) and become exact decimal strings in the party's currency only when emitted.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

# Two decimals for every currency we use except these.
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW"})

TYPOLOGIES = (
    "structuring",
    "funnel_account",
    "rapid_movement",
    "fan_in",
    "fan_out",
    "round_tripping",
    "high_risk_jurisdiction",
    "dormant_reactivation",
    "cash_intensive_anomaly",
    "round_amounts",
    "tbml_third_party",
)


def to_decimal(amount: float, currency: str) -> Decimal:
    """Returns ``amount`` as an exact decimal with the currency's number of decimals (> 0)."""
    digits = 0 if currency in _ZERO_DECIMAL_CURRENCIES else 2
    value = Decimal(f"{amount:.{digits}f}")
    smallest = Decimal(1).scaleb(-digits)
    return value if value >= smallest else smallest


def round_to(amount: float, step: float) -> float:
    """Rounds to the nearest multiple of ``step`` (never below one step)."""
    return max(step, round(amount / step) * step)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method for small means, a rounded normal above 30)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """A log-normal draw parameterised by its median."""
    return median * math.exp(rng.gauss(0.0, sigma))


def chance(rng: random.Random, probability: float) -> bool:
    return rng.random() < probability


@dataclass(frozen=True, slots=True)
class Branch:
    branch_id: str
    region: str
    country: str
    utc_offset: int  # hours east of UTC, standard time (no daylight saving is modelled)


@dataclass(frozen=True, slots=True)
class Institution:
    institution_id: str
    country: str  # "US" or "MX": the jurisdiction it reports to
    kind: str  # bank | credit_union | msb | casa_de_cambio
    branches: tuple[Branch, ...]
    size: float  # relative share of customers within its country
    defensive_str_rate: float  # base probability of an STR on an unremarkable legit customer
    str_detection_rate: float  # probability its own monitoring files an STR on a launderer
    lvtr_miss_rate: float  # share of reportable cash it fails to report as LVTR
    feed_delay_hours: tuple[float, float]  # how long after a transaction its feed delivers it
    joins_on_day: int = 0  # a reporter that joins the feed late never sends older activity


@dataclass(frozen=True, slots=True)
class Counterparty:
    name: str
    account_id: str | None
    institution_id: str | None
    country: str
    type: str  # person | entity

    def as_wire(self) -> dict[str, str]:
        doc = {"name": self.name, "country": self.country, "type": self.type}
        if self.account_id:
            doc["account_id"] = self.account_id
        if self.institution_id:
            doc["institution_id"] = self.institution_id
        return doc


@dataclass(slots=True)
class Party:
    """A customer of one institution: one subject of the population."""

    institution: Institution
    subject_id: str
    kind: str  # person | entity
    name: str
    country: str
    identifiers: list[dict[str, str]]
    occupation: str | None
    naics: str | None
    account_id: str
    home: Branch
    other_branches: tuple[Branch, ...]
    segment: str
    roaming: float  # probability an in-person visit is not at the home branch
    typology: str | None = None
    str_risk: float = 1.0  # multiplier on the institution's defensive STR rate
    lookalike: str | None = None
    _wire: dict[str, Any] | None = field(default=None, repr=False)
    _as_counterparty: Counterparty | None = field(default=None, repr=False)

    @property
    def currency(self) -> str:
        return "MXN" if self.institution.country == "MX" else "USD"

    @property
    def key(self) -> tuple[str, str]:
        """(institution id, subject id): how the evaluation names a subject."""
        return self.institution.institution_id, self.subject_id

    @property
    def laundering(self) -> bool:
        return self.typology is not None

    def subject_wire(self) -> dict[str, Any]:
        """The wire-format ``subject`` object (built once, shared by all its reports)."""
        if self._wire is None:
            doc: dict[str, Any] = {
                "subject_id": self.subject_id,
                "type": self.kind,
                "name": self.name,
                "country": self.country,
                "identifiers": self.identifiers,
            }
            if self.occupation:
                doc["occupation"] = self.occupation
            if self.naics:
                doc["naics"] = self.naics
            self._wire = doc
        return self._wire

    def as_counterparty(self) -> Counterparty:
        if self._as_counterparty is None:
            self._as_counterparty = Counterparty(
                self.name,
                self.account_id,
                self.institution.institution_id,
                self.institution.country,
                self.kind,
            )
        return self._as_counterparty

    def visit_branch(self, rng: random.Random) -> Branch:
        if self.other_branches and chance(rng, self.roaming):
            return rng.choice(self.other_branches)
        return self.home


@dataclass(slots=True)
class Txn:
    party: Party
    timestamp: datetime
    amount: Decimal
    currency: str
    usd: float  # US-dollar equivalent, for the reporting thresholds
    instrument: str
    direction: str
    channel: str
    counterparty: Counterparty | None
    branch: Branch | None
    country: str
    typology: str | None
    transaction_id: str
    report_type: str = "TXN"


@dataclass(frozen=True, slots=True)
class Calendar:
    start: date
    days: int

    def weekday(self, day: int) -> int:
        return (self.start + timedelta(days=day)).weekday()

    def is_business_day(self, day: int) -> bool:
        return self.weekday(day) < 5

    def day_of_month(self, day: int) -> int:
        return (self.start + timedelta(days=day)).day

    def days_in_month(self, day: int) -> int:
        current = self.start + timedelta(days=day)
        following = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
        return (following - timedelta(days=1)).day

    def business_days(self) -> list[int]:
        return [day for day in range(self.days) if self.is_business_day(day)]

    def previous_business_day(self, day: int) -> int:
        while day > 0 and not self.is_business_day(day):
            day -= 1
        return day

    def monthly(self, day_of_month: int) -> list[int]:
        """Days of the window on ``day_of_month`` (clamped to the month's length), moved back to
        the previous business day as payroll and bill runs are."""
        result = []
        for day in range(self.days):
            wanted = min(day_of_month, self.days_in_month(day))
            if self.day_of_month(day) == wanted:
                result.append(self.previous_business_day(day))
        return result

    def utc(self, day: int, local_hour: float, utc_offset: int) -> datetime:
        base = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return base + timedelta(days=day, hours=local_hour - utc_offset)
