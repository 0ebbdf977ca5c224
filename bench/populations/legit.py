"""Legitimate customers: persons and businesses with their own habits, and legitimate customers
whose behaviour resembles a typology (look-alikes).

Every segment is a function ``(population, party) -> None`` that draws the party's habits and
emits its transactions over the whole window; ``SEGMENTS`` maps a segment name to the kind of
party, its sector, occupation or NAICS choices, its propensity to attract a defensive STR, and
the function.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bench.populations.core import Counterparty, Institution, Party, chance, lognormal, poisson
from bench.populations.population import HIGH_RISK, SECRECY, TRADE_PARTNERS, Population

Behaviour = Callable[[Population, Party], None]

# Only purchases on the reporting institution's own debit cards reach its feed; most persons
# also pay with other issuers' credit cards, cash and wallets.
CARD_REPORTED_SHARE = 0.15


class Habits:
    """The building blocks of a customer's activity, bound to one party."""

    def __init__(self, pop: Population, party: Party) -> None:
        self.pop = pop
        self.p = party
        self.rng = pop.rng
        self.mx = party.institution.country == "MX"
        self.country = party.institution.country
        self.active = [True] * pop.days

    # --- schedules ---------------------------------------------------------------------
    def pay_days(self, kind: str) -> list[int]:
        cal, rng = self.pop.calendar, self.rng
        if kind == "weekly":
            return [day for day in range(cal.days) if cal.weekday(day) == 4]
        if kind == "biweekly":
            fridays = [day for day in range(cal.days) if cal.weekday(day) == 4]
            phase = rng.randint(0, 1)
            return fridays[phase::2]
        if kind == "semimonthly":
            return sorted(set(cal.monthly(15) + cal.monthly(31)))
        return cal.monthly(rng.choice((1, 28, 31)))

    def days_matching(
        self, per_day: float, envelope: Callable[[int], float] | None = None
    ) -> list[int]:
        """Days with a Poisson number of occurrences each (a day appears once per occurrence)."""
        days = []
        for day in range(self.pop.days):
            if not self.active[day]:
                continue
            weekend = 1.25 if self.pop.calendar.weekday(day) >= 5 else 1.0
            rate = per_day * weekend * (envelope(day) if envelope else 1.0)
            days.extend([day] * poisson(self.rng, rate))
        return days

    # --- persons -----------------------------------------------------------------------
    def income(
        self,
        kind: str,
        usd: float,
        payer: Counterparty,
        *,
        instrument: str = "ach",
        jitter: float = 0.03,
    ) -> None:
        for day in self.pay_days(kind):
            if self.active[day]:
                amount = usd * (1 + self.rng.gauss(0, jitter))
                if chance(self.rng, 0.08):
                    amount *= self.rng.uniform(1.05, 1.3)  # overtime, bonus
                self.pop.emit(
                    self.p,
                    day,
                    self.pop.hour("ach"),
                    amount,
                    instrument=instrument,
                    direction="in",
                    channel="other",
                    counterparty=payer,
                )

    def card(
        self, per_day: float, median: float, envelope: Callable[[int], float] | None = None
    ) -> None:
        pool = "comercio" if self.mx else "merchant"
        for day in self.days_matching(per_day * CARD_REPORTED_SHARE, envelope):
            amount = min(lognormal(self.rng, median, 0.95), median * 40)
            channel = self.rng.choices(("other", "online", "mobile"), (0.65, 0.25, 0.1))[0]
            merchant = self.pop.pooled(pool, self.country, size=500, sector="retail", account=False)
            self.pop.emit(
                self.p,
                day,
                self.pop.hour("card"),
                amount,
                instrument="card",
                direction="out",
                channel=channel,
                counterparty=merchant,
            )

    def bills(self, count: int, median: float) -> None:
        pool = "servicios" if self.mx else "biller"
        for _ in range(count):
            biller = self.pop.pooled(pool, self.country, size=40, sector="utility")
            base = lognormal(self.rng, median, 0.6)
            instrument = self.rng.choices(("ach", "card", "check"), (0.7, 0.22, 0.08))[0]
            for day in self.pop.calendar.monthly(self.rng.randint(1, 28)):
                if self.active[day]:
                    self.pop.emit(
                        self.p,
                        day,
                        self.pop.hour("ach"),
                        base * self.rng.uniform(0.85, 1.15),
                        instrument=instrument,
                        direction="out",
                        channel="online",
                        counterparty=biller,
                    )

    def rent(self, usd: float) -> None:
        landlord = (
            self.pop.pooled("landlord_person", self.country, size=300, person=True)
            if chance(self.rng, 0.4)
            else self.pop.pooled("property_manager", self.country, size=60, sector="landlord")
        )
        instrument = self.rng.choices(("ach", "check", "other", "wire"), (0.5, 0.2, 0.2, 0.1))[0]
        if self.mx and instrument == "ach":
            instrument = "wire"  # SPEI
        step = 100.0 if self.mx else 5.0
        for day in self.pop.calendar.monthly(self.rng.randint(1, 5)):
            if self.active[day]:
                self.pop.emit(
                    self.p,
                    day,
                    self.pop.hour("online"),
                    usd,
                    instrument=instrument,
                    direction="out",
                    channel="online",
                    counterparty=landlord,
                    step=step,
                )

    def atm(self, per_month: float, median: float) -> None:
        step = 100.0 if self.mx else 20.0
        for day in self.days_matching(per_month / 30):
            self.pop.emit(
                self.p,
                day,
                self.pop.hour("atm"),
                lognormal(self.rng, median, 0.6),
                instrument="cash",
                direction="out",
                channel="atm",
                step=step,
            )

    def cash_in(self, per_month: float, median: float, *, atm_share: float = 0.5) -> None:
        for day in self.days_matching(per_month / 30):
            channel = "atm" if chance(self.rng, atm_share) else "branch"
            step = 50.0 if self.mx else (20.0 if channel == "atm" else 1.0)
            self.pop.emit(
                self.p,
                day,
                self.pop.hour(channel if channel == "atm" else "branch"),
                lognormal(self.rng, median, 0.7),
                instrument="cash",
                direction="in",
                channel=channel,
                step=step,
            )

    def friends(self, count: int) -> list[Counterparty]:
        return [self.pop.person(self.country) for _ in range(count)]

    def p2p(self, per_month: float, median: float, friends: Sequence[Counterparty]) -> None:
        instrument = "wire" if self.mx else "other"  # SPEI in Mexico, app payments in the US
        for day in self.days_matching(per_month / 30):
            direction = "out" if chance(self.rng, 0.6) else "in"
            self.pop.emit(
                self.p,
                day,
                self.pop.hour("online"),
                lognormal(self.rng, median, 0.8),
                instrument=instrument,
                direction=direction,
                channel="mobile",
                counterparty=self.rng.choice(friends),
                step=5.0 if chance(self.rng, 0.6) else None,
            )

    def checks_in(self, per_month: float, median: float, payers: Sequence[Counterparty]) -> None:
        for day in self.days_matching(per_month / 30):
            channel = self.rng.choice(("mobile", "branch", "atm"))
            self.pop.emit(
                self.p,
                day,
                self.pop.hour("online" if channel == "mobile" else channel),
                lognormal(self.rng, median, 0.8),
                instrument="check",
                direction="in",
                channel=channel,
                counterparty=self.rng.choice(payers),
            )

    # --- businesses --------------------------------------------------------------------
    def cash_deposits(
        self,
        median: float,
        *,
        every_day: bool,
        sigma: float = 0.35,
        envelope: Callable[[int], float] | None = None,
        locations: int = 1,
        runs_per_day: int = 1,
    ) -> None:
        """Daily takings deposited at the home branch (or at the business's own few locations):
        weekend takings arrive with Monday's deposit when the business does not bank daily."""
        cal, rng = self.pop.calendar, self.rng
        branches = [self.p.home, *self.p.other_branches[: max(0, locations - 1)]]
        weekday_shape = [0.85, 0.9, 0.95, 1.0, 1.25, 1.4, 1.1]
        carried = 0.0
        for day in range(self.pop.days):
            takings = median * weekday_shape[cal.weekday(day)] * math.exp(rng.gauss(0, sigma))
            takings *= envelope(day) if envelope else 1.0
            if not self.active[day]:
                continue
            if not every_day and not cal.is_business_day(day):
                carried += takings
                continue
            total, carried = takings + carried, 0.0
            for branch in branches:
                share = total / len(branches)
                runs = runs_per_day if share > median * 0.5 else 1
                for run in range(runs):
                    night = chance(rng, 0.2)
                    hour = self.pop.hour("night") if night else rng.uniform(9.0, 16.5)
                    self.pop.emit(
                        self.p,
                        day,
                        hour + run * 5,
                        share / runs * rng.uniform(0.85, 1.15),
                        instrument="cash",
                        direction="in",
                        channel="branch",
                        branch=branch,
                        step=1.0 if chance(rng, 0.7) else None,
                    )

    def settlements(self, median: float, envelope: Callable[[int], float] | None = None) -> None:
        processor = self.pop.pooled("card_processor", self.country, size=6, sector="processor")
        for day in self.pop.calendar.business_days():
            if self.active[day]:
                amount = lognormal(self.rng, median, 0.3) * (envelope(day) if envelope else 1.0)
                self.pop.emit(
                    self.p,
                    day,
                    self.pop.hour("ach"),
                    amount,
                    instrument="ach",
                    direction="in",
                    channel="other",
                    counterparty=processor,
                )

    def receipts(
        self,
        per_week: float,
        median: float,
        customers: Sequence[Counterparty],
        *,
        instruments: tuple[tuple[str, float], ...] = (("ach", 0.5), ("check", 0.3), ("wire", 0.2)),
        envelope: Callable[[int], float] | None = None,
        sigma: float = 0.8,
    ) -> None:
        names, weights = zip(*instruments, strict=True)
        for day in self.business_day_occurrences(per_week / 5, envelope):
            customer = self.rng.choice(customers)
            instrument = self.rng.choices(names, weights)[0]
            cross = customer.country != self.country
            if cross:
                instrument = "wire"
            self.pop.emit(
                self.p,
                day,
                self.pop.hour("wire" if instrument == "wire" else "ach"),
                lognormal(self.rng, median, sigma),
                instrument=instrument,
                direction="in",
                channel="correspondent"
                if cross
                else ("branch" if instrument == "check" and chance(self.rng, 0.3) else "online"),
                counterparty=customer,
                currency=self.pop.wire_currency(self.p) if cross else None,
            )

    def payments(
        self,
        per_week: float,
        median: float,
        suppliers: Sequence[Counterparty],
        *,
        instruments: tuple[tuple[str, float], ...] = (("ach", 0.5), ("check", 0.3), ("wire", 0.2)),
        envelope: Callable[[int], float] | None = None,
        sigma: float = 0.8,
        step: float | None = None,
    ) -> None:
        names, weights = zip(*instruments, strict=True)
        for day in self.business_day_occurrences(per_week / 5, envelope):
            supplier = self.rng.choice(suppliers)
            instrument = self.rng.choices(names, weights)[0]
            cross = supplier.country != self.country
            if cross:
                instrument = "wire"
            self.pop.emit(
                self.p,
                day,
                self.pop.hour("wire" if instrument == "wire" else "online"),
                lognormal(self.rng, median, sigma),
                instrument=instrument,
                direction="out",
                channel="online" if chance(self.rng, 0.8) else "branch",
                counterparty=supplier,
                step=step,
                currency=self.pop.wire_currency(self.p) if cross else None,
            )

    def business_day_occurrences(
        self, per_day: float, envelope: Callable[[int], float] | None = None
    ) -> list[int]:
        days = []
        for day in self.pop.calendar.business_days():
            if self.active[day]:
                rate = per_day * (envelope(day) if envelope else 1.0)
                days.extend([day] * poisson(self.rng, rate))
        return days

    def payroll_out(self, employees: int, median_pay: float, *, individual: bool) -> None:
        """Pay runs: one debit to a payroll processor, or one ACH credit per employee."""
        kind = (
            "semimonthly"
            if self.mx
            else self.rng.choice(("biweekly", "biweekly", "weekly", "semimonthly"))
        )
        pay_days = self.pay_days(kind)
        if kind == "weekly":
            median_pay /= 2
        if individual:
            staff = [
                (self.pop.person(self.country), lognormal(self.rng, median_pay, 0.35))
                for _ in range(employees)
            ]
            for day in pay_days:
                if not self.active[day]:
                    continue
                for person, pay in staff:
                    self.pop.emit(
                        self.p,
                        day,
                        self.pop.hour("ach"),
                        pay * self.rng.uniform(0.95, 1.08),
                        instrument="ach",
                        direction="out",
                        channel="online",
                        counterparty=person,
                    )
            return
        processor = self.pop.pooled("payroll_provider", self.country, size=5, sector="payroll")
        for day in pay_days:
            if self.active[day]:
                total = employees * median_pay * self.rng.uniform(0.93, 1.1)
                self.pop.emit(
                    self.p,
                    day - 1,
                    self.pop.hour("ach"),
                    total,
                    instrument="ach",
                    direction="out",
                    channel="online",
                    counterparty=processor,
                )

    def monthly_out(self, usd: float, pool: str, sector: str, *, instrument: str = "ach") -> None:
        payee = self.pop.pooled(pool, self.country, size=60, sector=sector)
        for day in self.pop.calendar.monthly(self.rng.randint(1, 25)):
            if self.active[day]:
                self.pop.emit(
                    self.p,
                    day,
                    self.pop.hour("ach"),
                    usd * self.rng.uniform(0.97, 1.03),
                    instrument=instrument,
                    direction="out",
                    channel="online",
                    counterparty=payee,
                )

    def cash_out(self, per_week: float, median: float) -> None:
        for day in self.business_day_occurrences(per_week / 5):
            self.pop.emit(
                self.p,
                day,
                self.pop.hour("branch"),
                lognormal(self.rng, median, 0.4),
                instrument="cash",
                direction="out",
                channel="branch",
                step=100.0 if self.mx else 20.0,
            )

    def counterparties(
        self, count: int, sector: str, *, abroad: float = 0.0, countries: Sequence[str] = ()
    ) -> list[Counterparty]:
        result = []
        for _ in range(max(1, count)):
            if countries and chance(self.rng, abroad):
                result.append(self.pop.entity(self.rng.choice(countries), sector))
            else:
                result.append(self.pop.entity(self.country, sector))
        return result


def seasonal_envelope(rng: random.Random, days: int, peak: float) -> Callable[[int], float]:
    """A season: volume rises to ``peak`` times normal over part of the window."""
    centre = rng.uniform(0.2, 0.8) * days
    width = rng.uniform(0.08, 0.25) * days

    def envelope(day: int) -> float:
        return 0.35 + (peak - 0.35) * math.exp(-(((day - centre) / width) ** 2))

    return envelope


# === persons ===============================================================================


def salaried(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.person_scale
    pay = lognormal(rng, 1750, 0.45) * scale
    kind = rng.choices(("biweekly", "semimonthly", "monthly", "weekly"), (0.5, 0.25, 0.1, 0.15))[0]
    per_period = {"biweekly": 1.0, "semimonthly": 1.08, "monthly": 2.17, "weekly": 0.5}[kind]
    h.income(kind, pay * per_period, pop.pooled("employer", "US", size=250, sector="employer"))
    h.card(rng.uniform(0.4, 2.2), rng.uniform(22, 55))
    h.bills(rng.randint(2, 7), rng.uniform(40, 160))
    if chance(rng, 0.75):
        h.rent(pay * 2.17 * rng.uniform(0.25, 0.45))
    h.atm(rng.uniform(0, 4), rng.uniform(60, 200))
    h.p2p(rng.uniform(0, 6), rng.uniform(25, 120), h.friends(rng.randint(2, 8)))
    if chance(rng, 0.3):
        h.cash_in(rng.uniform(0.2, 1.0), rng.uniform(80, 400))
    if chance(rng, 0.25):
        h.checks_in(rng.uniform(0.2, 1.0), rng.uniform(100, 900), h.friends(3))
    if chance(rng, 0.2):
        h.monthly_out(pay * rng.uniform(0.1, 0.3), "brokerage", "holding")


def gig_worker(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    for _ in range(rng.randint(1, 3)):
        platform = pop.pooled("gig_platform", "US", size=8, sector="professional")
        for day in h.days_matching(rng.uniform(0.08, 0.45)):
            pop.emit(
                p,
                day,
                pop.hour("online"),
                lognormal(rng, rng.uniform(45, 160), 0.6),
                instrument="ach",
                direction="in",
                channel="mobile",
                counterparty=platform,
            )
    if chance(rng, 0.45):
        h.cash_in(rng.uniform(3, 12), rng.uniform(60, 220), atm_share=0.8)
    h.card(rng.uniform(0.5, 2.0), rng.uniform(18, 40))
    h.bills(rng.randint(1, 4), rng.uniform(40, 120))
    h.p2p(rng.uniform(1, 8), rng.uniform(25, 150), h.friends(rng.randint(2, 10)))
    h.atm(rng.uniform(0, 3), rng.uniform(40, 160))


def remitter(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    pay = lognormal(rng, 1100, 0.35) * pop.world.person_scale
    if chance(rng, 0.6):
        h.income(
            "weekly" if chance(rng, 0.4) else "biweekly",
            pay,
            pop.pooled("employer", "US", size=250, sector="employer"),
        )
    else:  # paid in cash: deposits on the weekend at the branch or an ATM
        for day in range(pop.days):
            if pop.calendar.weekday(day) == rng.choice((4, 5)):
                pop.emit(
                    p,
                    day,
                    pop.hour("branch"),
                    pay * 0.5 * rng.uniform(0.7, 1.2),
                    instrument="cash",
                    direction="in",
                    channel="atm" if chance(rng, 0.4) else "branch",
                    step=20.0,
                )
    family = [
        pop.person(rng.choices(("MX", "GT", "SV", "HN"), (0.8, 0.08, 0.07, 0.05))[0])
        for _ in range(rng.randint(1, 3))
    ]
    median = rng.uniform(180, 600) * pop.world.cross_border
    for day in h.days_matching(rng.uniform(1, 5) / 30):
        pop.emit(
            p,
            day,
            pop.hour("branch"),
            lognormal(rng, median, 0.4),
            instrument="wire",
            direction="out",
            channel=rng.choice(("branch", "online", "mobile")),
            counterparty=rng.choice(family),
            step=50.0 if chance(rng, 0.6) else None,
            currency="MXN" if chance(rng, 0.15) else "USD",
        )
    h.card(rng.uniform(0.2, 1.0), rng.uniform(18, 45))
    h.atm(rng.uniform(1, 6), rng.uniform(60, 200))
    h.bills(rng.randint(1, 3), rng.uniform(40, 100))
    if chance(rng, 0.6):
        h.rent(pay * 2.17 * rng.uniform(0.25, 0.4))


def retiree(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    ssa = pop.pooled("social_security", "US", size=1, sector="government")
    h.income("monthly", lognormal(rng, 1750, 0.3), ssa, jitter=0.0)
    if chance(rng, 0.4):
        h.income(
            "monthly",
            lognormal(rng, 1300, 0.6),
            pop.pooled("pension_fund", "US", size=12, sector="holding"),
            jitter=0.0,
        )
    h.card(rng.uniform(0.2, 1.2), rng.uniform(25, 60))
    h.bills(rng.randint(3, 6), rng.uniform(50, 180))
    h.atm(rng.uniform(0, 3), rng.uniform(80, 300))
    church = pop.pooled("charity", "US", size=40, sector="nonprofit")
    for day in h.days_matching(rng.uniform(0, 3) / 30):
        pop.emit(
            p,
            day,
            pop.hour("branch"),
            lognormal(rng, 80, 0.7),
            instrument="check",
            direction="out",
            channel="other",
            counterparty=church,
            step=5.0,
        )
    if chance(rng, 0.08):  # a gift to a grandchild
        day = rng.randrange(pop.days)
        pop.emit(
            p,
            day,
            pop.hour("branch"),
            rng.choice((2000, 5000, 10000, 15000)),
            instrument="check",
            direction="out",
            channel="branch",
            counterparty=pop.person("US"),
        )


def student(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    parents = h.friends(rng.randint(1, 2))
    for day in h.pay_days("biweekly" if chance(rng, 0.5) else "monthly"):
        pop.emit(
            p,
            day,
            pop.hour("online"),
            lognormal(rng, 300, 0.5),
            instrument="other",
            direction="in",
            channel="mobile",
            counterparty=rng.choice(parents),
            step=10.0,
        )
    if chance(rng, 0.4):
        h.income(
            "biweekly",
            lognormal(rng, 520, 0.4),
            pop.pooled("employer", "US", size=250, sector="employer"),
        )
    h.card(rng.uniform(0.5, 2.0), rng.uniform(12, 30))
    h.p2p(rng.uniform(1, 8), rng.uniform(15, 60), h.friends(rng.randint(3, 10)))


def affluent(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    pay = lognormal(rng, 8000, 0.45) * pop.world.person_scale
    h.income(
        rng.choice(("biweekly", "semimonthly")),
        pay,
        pop.pooled("employer", "US", size=250, sector="employer"),
    )
    h.card(rng.uniform(1.0, 3.5), rng.uniform(45, 120))
    h.bills(rng.randint(4, 9), rng.uniform(80, 400))
    h.monthly_out(pay * rng.uniform(0.6, 1.2), "mortgage_lender", "holding")
    brokerage = pop.pooled("brokerage", "US", size=10, sector="holding")
    for day in h.days_matching(rng.uniform(0.5, 3) / 30):
        pop.emit(
            p,
            day,
            pop.hour("online"),
            lognormal(rng, pay * 0.8, 0.6),
            instrument=rng.choice(("ach", "wire")),
            direction=rng.choice(("out", "out", "in")),
            channel="online",
            counterparty=brokerage,
            step=500.0 if chance(rng, 0.5) else None,
        )
    if chance(rng, 0.15 * pop.world.cross_border):
        country = rng.choice(("MX", "ES", "FR", "IT", "GB", "CA", "CR"))
        day = rng.randrange(pop.days)
        pop.emit(
            p,
            day,
            pop.hour("wire"),
            lognormal(rng, 9000, 0.8),
            instrument="wire",
            direction="out",
            channel="online",
            counterparty=pop.person(country),
            currency=pop.wire_currency(p),
        )


def self_employed(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    clients = [
        pop.person("US") if chance(rng, 0.6) else pop.entity("US", "professional")
        for _ in range(rng.randint(4, 20))
    ]
    h.checks_in(rng.uniform(3, 14), rng.uniform(250, 1800) * pop.world.person_scale, clients)
    if chance(rng, 0.5):
        h.cash_in(rng.uniform(1, 8), rng.uniform(200, 1500), atm_share=0.3)
    h.card(rng.uniform(0.8, 2.5), rng.uniform(30, 90))
    h.bills(rng.randint(2, 6), rng.uniform(50, 200))
    h.p2p(rng.uniform(1, 6), rng.uniform(40, 300), clients[:3] + h.friends(3))
    irs = pop.pooled("tax_authority", "US", size=1, sector="government")
    for day in range(pop.days):
        moment = pop.calendar.start + timedelta(days=day)
        if moment.day == 15 and moment.month in (1, 4, 6, 9):
            pop.emit(
                p,
                day,
                pop.hour("online"),
                lognormal(rng, 2500, 0.6),
                instrument="ach",
                direction="out",
                channel="online",
                counterparty=irs,
                step=1.0,
            )


def mx_salaried(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    pay = lognormal(rng, 480, 0.5) * pop.world.person_scale
    h.income("semimonthly", pay, pop.pooled("patron", "MX", size=250, sector="employer"))
    h.card(rng.uniform(0.3, 1.5), rng.uniform(12, 35))
    h.atm(rng.uniform(3, 10), rng.uniform(60, 160))
    h.bills(rng.randint(1, 4), rng.uniform(15, 60))
    h.p2p(rng.uniform(1, 5), rng.uniform(30, 150), h.friends(rng.randint(2, 6)))
    if chance(rng, 0.3):
        for day in h.days_matching(rng.uniform(0.5, 3) / 30):
            pop.emit(
                p,
                day,
                pop.hour("card"),
                lognormal(rng, 60, 0.6),
                instrument="cash",
                direction="in",
                channel="other",
                step=50.0,  # a deposit at a convenience store
            )
    if chance(rng, 0.5):
        h.rent(pay * 2 * rng.uniform(0.2, 0.35))


def mx_remittance_receiver(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    senders = [pop.person("US") for _ in range(rng.randint(1, 2))]
    median = rng.uniform(180, 700) * pop.world.cross_border
    for day in h.days_matching(rng.uniform(1, 4) / 30):
        sent = pop.emit(
            p,
            day,
            pop.hour("online"),
            lognormal(rng, median, 0.4),
            instrument="wire",
            direction="in",
            channel="correspondent",
            counterparty=rng.choice(senders),
            currency="USD" if chance(rng, 0.6) else "MXN",
            step=50.0 if chance(rng, 0.5) else None,
        )
        if sent is not None and chance(rng, 0.7):
            pop.emit(
                p,
                day + rng.choice((0, 0, 1, 2)),
                pop.hour("atm"),
                sent.usd * rng.uniform(0.5, 1),
                instrument="cash",
                direction="out",
                channel="atm",
                step=100.0,
            )
    h.card(rng.uniform(0.1, 0.6), rng.uniform(10, 30))
    h.atm(rng.uniform(0, 3), rng.uniform(40, 120))


def mx_merchant(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    h.cash_in(rng.uniform(6, 18), rng.uniform(150, 900) * pop.world.person_scale, atm_share=0.3)
    suppliers = h.counterparties(rng.randint(2, 6), "importer")
    h.payments(rng.uniform(0.5, 3), rng.uniform(200, 1200), suppliers, instruments=(("wire", 1.0),))
    h.atm(rng.uniform(2, 6), rng.uniform(60, 200))
    h.card(rng.uniform(0.2, 1.0), rng.uniform(15, 40))


def mx_retiree(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    h.income(
        "monthly",
        lognormal(rng, 420, 0.5),
        pop.pooled("imss", "MX", size=2, sector="government"),
        jitter=0.0,
    )
    h.atm(rng.uniform(1, 4), rng.uniform(80, 250))
    h.card(rng.uniform(0.1, 0.6), rng.uniform(10, 30))
    h.bills(rng.randint(1, 3), rng.uniform(15, 50))


def mx_professional(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    clients = h.counterparties(rng.randint(2, 8), "professional")
    h.receipts(
        rng.uniform(0.5, 3),
        rng.uniform(400, 2500) * pop.world.person_scale,
        clients,
        instruments=(("wire", 1.0),),
    )
    h.card(rng.uniform(0.6, 2.5), rng.uniform(25, 70))
    h.bills(rng.randint(2, 5), rng.uniform(25, 120))
    h.atm(rng.uniform(1, 5), rng.uniform(80, 250))
    h.rent(rng.uniform(400, 1500))
    if chance(rng, 0.2):
        h.monthly_out(rng.uniform(500, 3000), "afore", "holding", instrument="wire")


def msb_remitter(pop: Population, p: Party) -> None:
    rng = pop.rng
    h = Habits(pop, p)
    family = [
        pop.person(rng.choices(("MX", "GT", "SV", "HN", "DO"), (0.75, 0.1, 0.07, 0.05, 0.03))[0])
        for _ in range(rng.randint(1, 3))
    ]
    median = rng.uniform(150, 500) * pop.world.cross_border
    for day in h.days_matching(rng.uniform(1.5, 6) / 30):
        pop.emit(
            p,
            day,
            pop.hour("branch"),
            lognormal(rng, median, 0.45),
            instrument="wire",
            direction="out",
            channel="branch",
            counterparty=rng.choice(family),
            step=10.0 if chance(rng, 0.6) else None,
        )
    if chance(rng, 0.4):
        landlord = pop.person("US", account=False)
        for day in pop.calendar.monthly(rng.randint(1, 4)):
            pop.emit(
                p,
                day,
                pop.hour("branch"),
                rng.uniform(500, 1400),
                instrument="money_order",
                direction="out",
                channel="branch",
                counterparty=landlord,
                step=1.0,
            )


def check_casher(pop: Population, p: Party) -> None:
    rng = pop.rng
    h = Habits(pop, p)
    employer = pop.pooled("employer", "US", size=250, sector="employer")
    pay = lognormal(rng, 700, 0.4)
    for day in h.pay_days(rng.choice(("weekly", "biweekly"))):
        cashed = pop.emit(
            p,
            day,
            pop.hour("branch"),
            pay * rng.uniform(0.9, 1.15),
            instrument="check",
            direction="in",
            channel="branch",
            counterparty=employer,
        )
        if cashed is not None:
            pop.emit(
                p,
                day,
                pop.hour("branch"),
                cashed.usd * 0.985,
                instrument="cash",
                direction="out",
                channel="branch",
                branch=cashed.branch,
            )


def fx_customer(pop: Population, p: Party) -> None:
    """A border commuter or traveller changing cash at a casa de cambio."""
    rng = pop.rng
    h = Habits(pop, p)
    median = rng.uniform(80, 900)
    sells_dollars = chance(rng, 0.7)
    for day in h.days_matching(rng.uniform(0.5, 6) / 30):
        usd = lognormal(rng, median, 0.6)
        step = 20.0 if chance(rng, 0.8) else 1.0
        pop.emit(
            p,
            day,
            pop.hour("branch"),
            usd,
            instrument="cash",
            direction="in",
            channel="branch",
            currency="USD" if sells_dollars else "MXN",
            step=step if sells_dollars else 50.0,
        )
        pop.emit(
            p,
            day,
            pop.hour("branch"),
            usd * 0.98,
            instrument="cash",
            direction="out",
            channel="branch",
            currency="MXN" if sells_dollars else "USD",
            step=1.0,
        )


def mx_payout_receiver(pop: Population, p: Party) -> None:
    rng = pop.rng
    h = Habits(pop, p)
    sender = pop.person("US")
    median = rng.uniform(150, 600) * pop.world.cross_border
    for day in h.days_matching(rng.uniform(1, 3) / 30):
        received = pop.emit(
            p,
            day,
            pop.hour("branch"),
            lognormal(rng, median, 0.4),
            instrument="wire",
            direction="in",
            channel="correspondent",
            counterparty=sender,
            currency="USD" if chance(rng, 0.5) else "MXN",
        )
        if received is not None:
            pop.emit(
                p,
                day,
                pop.hour("branch") + 1,
                received.usd,
                instrument="cash",
                direction="out",
                channel="branch",
                currency="MXN",
                step=1.0,
            )


# === businesses ============================================================================

# (sector key, NAICS, daily cash median in USD, card settlement as a multiple of cash)
_CASH_SECTORS = (
    ("restaurant", "722511", 900, 2.2),
    ("restaurant", "722513", 700, 1.5),
    ("laundromat", "812310", 260, 0.2),
    ("convenience", "445131", 1400, 1.0),
    ("bar", "722410", 1100, 1.3),
    ("car_wash", "811192", 650, 1.0),
    ("salon", "812113", 380, 1.4),
    ("grocery", "445110", 1900, 2.0),
    ("liquor", "445320", 1500, 1.2),
    ("gas_station", "457110", 2200, 3.0),
)


@dataclass(frozen=True)
class Spec:
    kind: str  # person | entity
    behaviour: Behaviour
    str_risk: float
    sectors: tuple[tuple[str, str], ...] = ()  # (sector key, NAICS) for entities
    occupations: tuple[str, ...] = ()
    foreign_born: float = 0.0


def _envelope_or_none(pop: Population, p: Party) -> Callable[[int], float] | None:
    if p.segment == "seasonal_business":
        return seasonal_envelope(pop.rng, pop.days, pop.rng.uniform(2.5, 6.0))
    return None


def cash_business(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    cash_median, card_ratio = next(
        ((cash, ratio) for sector, naics, cash, ratio in _CASH_SECTORS if naics == p.naics),
        (800.0, 1.0),
    )
    envelope = _envelope_or_none(pop, p)
    cash = cash_median * lognormal(rng, 1.0, 0.55) * scale
    if p.lookalike == "near_threshold_business":
        cash = rng.uniform(6500, 9000)
    multi = chance(rng, pop.world.multi_location_share)
    h.cash_deposits(
        cash,
        every_day=chance(rng, 0.35),
        envelope=envelope,
        locations=rng.randint(2, 4) if multi else 1,
        runs_per_day=2 if p.lookalike == "near_threshold_business" and chance(rng, 0.5) else 1,
    )
    h.settlements(cash * card_ratio * rng.uniform(0.6, 1.4), envelope)
    suppliers = h.counterparties(rng.randint(3, 12), "wholesale")
    h.payments(rng.uniform(1.5, 6), cash * rng.uniform(0.8, 2.5), suppliers, envelope=envelope)
    employees = rng.randint(2, 25)
    h.payroll_out(employees, lognormal(rng, 900, 0.3), individual=chance(rng, 0.35))
    h.monthly_out(cash * rng.uniform(4, 12), "commercial_landlord", "landlord")
    h.monthly_out(cash * rng.uniform(1, 4), "state_tax", "government")
    if chance(rng, 0.6):
        h.cash_out(rng.uniform(0.5, 2), rng.uniform(150, 900))
    owner = pop.person("US")
    for day in h.pay_days("biweekly"):
        pop.emit(
            p,
            day,
            pop.hour("online"),
            cash * rng.uniform(1.5, 4),
            instrument="ach",
            direction="out",
            channel="online",
            counterparty=owner,
            step=100.0,
        )


def wholesaler(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    size = lognormal(rng, 5000, 0.7) * scale
    cross = 0.12 * pop.world.cross_border
    customers = h.counterparties(
        rng.randint(8, 40), "convenience", abroad=cross, countries=("MX", "CA")
    )
    suppliers = h.counterparties(
        rng.randint(4, 15), "wholesale", abroad=cross * 2, countries=TRADE_PARTNERS
    )
    h.receipts(rng.uniform(4, 15), size, customers)
    h.payments(rng.uniform(2, 8), size * 1.5, suppliers)
    h.payroll_out(rng.randint(5, 60), lognormal(rng, 1300, 0.3), individual=chance(rng, 0.3))
    h.monthly_out(size * rng.uniform(1, 3), "commercial_landlord", "landlord")
    if chance(rng, 0.25):  # small retailers pay in cash at the counter
        h.cash_deposits(size * rng.uniform(0.2, 0.8), every_day=False, sigma=0.7)


def importer(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    size = lognormal(rng, 22000, 0.8) * scale
    suppliers = h.counterparties(
        rng.randint(3, 10), "electronics", abroad=0.85, countries=(*TRADE_PARTNERS, "MX", "MX")
    )
    customers = h.counterparties(rng.randint(10, 50), "wholesale", abroad=0.05, countries=("CA",))
    h.payments(
        rng.uniform(0.8, 4) * pop.world.cross_border, size, suppliers, instruments=(("wire", 1.0),)
    )
    h.receipts(rng.uniform(4, 15), size * 0.35, customers)
    h.payroll_out(rng.randint(5, 40), lognormal(rng, 1400, 0.3), individual=False)
    h.monthly_out(rng.uniform(3000, 20000) * scale, "customs_broker", "trucking")


def payroll_processor(pop: Population, p: Party) -> None:
    """Collects client funding, then pays each client's employees one ACH credit each."""
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    clients = h.counterparties(rng.randint(5, 25), "professional")
    staff = [
        (pop.person(p.institution.country), lognormal(rng, 1300, 0.4))
        for _ in range(int(rng.randint(30, 160) * min(scale, 3)))
    ]
    total = sum(pay for _, pay in staff)
    for day in h.pay_days("biweekly"):
        shares = [rng.random() for _ in clients]
        for client, share in zip(clients, shares, strict=True):
            pop.emit(
                p,
                day - 2,
                pop.hour("ach"),
                total * share / sum(shares),
                instrument="ach",
                direction="in",
                channel="other",
                counterparty=client,
            )
        for person, pay in staff:
            pop.emit(
                p,
                day,
                pop.hour("ach"),
                pay * rng.uniform(0.97, 1.05),
                instrument="ach",
                direction="out",
                channel="other",
                counterparty=person,
            )
        pop.emit(
            p,
            day + 1,
            pop.hour("wire"),
            total * 0.22,
            instrument="wire",
            direction="out",
            channel="online",
            counterparty=pop.pooled("tax_authority", "US", size=1, sector="government"),
        )


def msb_business(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    cash = lognormal(rng, 9000, 0.6) * scale
    h.cash_deposits(cash, every_day=False, sigma=0.45, locations=rng.randint(1, 3))
    partners = [
        pop.entity(country, "msb")
        for country in rng.sample(("MX", "MX", "GT", "SV", "HN", "DO", "CO"), rng.randint(2, 4))
    ]
    for day in pop.calendar.business_days():
        for partner in partners:
            if chance(rng, 0.7):
                pop.emit(
                    p,
                    day,
                    rng.uniform(15, 18),
                    cash * rng.uniform(0.3, 0.8) / len(partners) * 1.6,
                    instrument="wire",
                    direction="out",
                    channel="online",
                    counterparty=partner,
                    step=1000.0 if chance(rng, 0.3) else None,
                )
    agents = h.counterparties(rng.randint(3, 12), "msb")
    h.receipts(rng.uniform(3, 10), cash * 0.5, agents, instruments=(("ach", 1.0),))


def car_dealer(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    volume = rng.uniform(0.6, 1.6) * scale
    for day in h.business_day_occurrences(rng.uniform(0.3, 1.2) * volume):
        whole_car = chance(rng, 0.15)
        pop.emit(
            p,
            day,
            pop.hour("branch"),
            rng.uniform(9000, 28000) if whole_car else lognormal(rng, 2500, 0.6),
            instrument="cash",
            direction="in",
            channel="branch",
            step=100.0,
        )
    lenders = h.counterparties(rng.randint(3, 8), "holding")
    h.receipts(
        rng.uniform(3, 10) * volume,
        24000,
        lenders,
        instruments=(("wire", 0.6), ("ach", 0.4)),
        sigma=0.4,
    )
    makers = h.counterparties(rng.randint(2, 5), "car_dealer")
    h.payments(rng.uniform(2, 6) * volume, 30000, makers, instruments=(("wire", 1.0),), sigma=0.5)
    h.payroll_out(rng.randint(6, 40), lognormal(rng, 1600, 0.3), individual=False)


def treasury(pop: Population, p: Party) -> None:
    """A group treasury account: money comes in and leaves the same day."""
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    size = lognormal(rng, 250000, 0.9) * scale
    subsidiaries = h.counterparties(
        rng.randint(3, 12), "holding", abroad=0.2, countries=("CA", "MX", "GB", "DE")
    )
    targets = h.counterparties(rng.randint(3, 8), "holding")
    for day in pop.calendar.business_days():
        for _ in range(poisson(rng, rng.uniform(0.6, 2.5))):
            incoming = pop.emit(
                p,
                day,
                rng.uniform(8, 13),
                lognormal(rng, size, 0.8),
                instrument="wire",
                direction="in",
                channel="correspondent",
                counterparty=rng.choice(subsidiaries),
                step=1000.0 if chance(rng, 0.4) else None,
            )
            if incoming is None:
                continue
            legs = rng.randint(1, 3)
            for leg in range(legs):
                pop.emit(
                    p,
                    day,
                    rng.uniform(13, 16.5),
                    incoming.usd / legs * rng.uniform(0.97, 1.0),
                    instrument="wire",
                    direction="out",
                    channel="online",
                    counterparty=targets[(leg + day) % len(targets)],
                    step=1000.0 if chance(rng, 0.5) else None,
                )


def escrow(pop: Population, p: Party) -> None:
    """A title company or law firm trust account: closings pass money through in days."""
    rng, scale = pop.rng, pop.world.business_scale
    h = Habits(pop, p)
    for day in h.business_day_occurrences(rng.uniform(0.2, 1.0) * min(scale, 3)):
        price = lognormal(rng, 320000, 0.6)
        buyer, lender = (
            pop.person("US"),
            pop.pooled("mortgage_lender", "US", size=20, sector="holding"),
        )
        pop.emit(
            p,
            day,
            pop.hour("wire"),
            price * 0.2,
            instrument="wire",
            direction="in",
            channel="online",
            counterparty=buyer,
            step=rng.choice((None, 100.0)),
        )
        pop.emit(
            p,
            day,
            pop.hour("wire"),
            price * 0.8,
            instrument="wire",
            direction="in",
            channel="online",
            counterparty=lender,
        )
        close = day + rng.choice((0, 1, 1, 2, 3))
        seller = pop.person("US")
        pop.emit(
            p,
            close,
            pop.hour("wire"),
            price * rng.uniform(0.35, 0.6),
            instrument="wire",
            direction="out",
            channel="online",
            counterparty=seller,
        )
        pop.emit(
            p,
            close,
            pop.hour("wire"),
            price * rng.uniform(0.3, 0.55),
            instrument="wire",
            direction="out",
            channel="online",
            counterparty=pop.pooled("mortgage_lender", "US", size=20, sector="holding"),
        )
        pop.emit(
            p,
            close,
            pop.hour("ach"),
            price * rng.uniform(0.02, 0.06),
            instrument="check",
            direction="out",
            channel="other",
            counterparty=pop.pooled("realtor", "US", size=30, sector="landlord"),
        )
    retainers = [pop.person("US") for _ in range(rng.randint(2, 10))]
    for day in h.business_day_occurrences(rng.uniform(0.1, 0.5)):
        pop.emit(
            p,
            day,
            pop.hour("wire"),
            rng.choice((2500, 5000, 7500, 10000, 15000, 25000)),
            instrument=rng.choice(("wire", "check")),
            direction="in",
            channel="online",
            counterparty=rng.choice(retainers),
        )


def nonprofit(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    collection = rng.uniform(400, 5000)
    for day in range(pop.days):
        if pop.calendar.weekday(day) == 0:
            pop.emit(
                p,
                day,
                pop.hour("branch"),
                collection * rng.uniform(0.7, 1.3),
                instrument="cash",
                direction="in",
                channel="branch",
                step=1.0,
            )
            pop.emit(
                p,
                day,
                pop.hour("branch"),
                collection * rng.uniform(0.8, 2.0),
                instrument="check",
                direction="in",
                channel="branch",
            )
    donors = [pop.person("US") for _ in range(rng.randint(20, 120))]
    for day in h.days_matching(rng.uniform(1, 8)):
        pop.emit(
            p,
            day,
            pop.hour("online"),
            lognormal(rng, 60, 0.8),
            instrument="ach",
            direction="in",
            channel="online",
            counterparty=rng.choice(donors),
            step=5.0,
        )
    missions = [
        pop.entity(country, "nonprofit")
        for country in rng.sample(("MX", "GT", "HN", "HT", "NI", "SV", "KE"), rng.randint(1, 3))
    ]
    for day in pop.calendar.monthly(rng.randint(5, 20)):
        pop.emit(
            p,
            day,
            pop.hour("wire"),
            collection * rng.uniform(1, 4),
            instrument="wire",
            direction="out",
            channel="online",
            counterparty=rng.choice(missions),
            step=100.0,
        )
    h.payroll_out(rng.randint(1, 8), lognormal(rng, 1400, 0.3), individual=False)
    h.bills(rng.randint(2, 5), rng.uniform(100, 900))


def professional_services(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    size = lognormal(rng, 1500, 0.7) * scale
    clients = [
        pop.person("US") if chance(rng, 0.5) else pop.entity("US", "professional")
        for _ in range(rng.randint(10, 60))
    ]
    h.receipts(
        rng.uniform(3, 15),
        size,
        clients,
        instruments=(("ach", 0.5), ("check", 0.35), ("wire", 0.15)),
    )
    h.settlements(size * rng.uniform(0.5, 2))
    h.payroll_out(rng.randint(2, 30), lognormal(rng, 1800, 0.35), individual=chance(rng, 0.4))
    h.monthly_out(size * rng.uniform(2, 6), "commercial_landlord", "landlord")
    h.card(rng.uniform(0.3, 1.5), rng.uniform(40, 200))


def construction(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    size = lognormal(rng, 25000, 0.8) * scale
    clients = h.counterparties(rng.randint(3, 15), "construction")
    h.receipts(
        rng.uniform(0.8, 3),
        size,
        clients,
        instruments=(("check", 0.6), ("ach", 0.2), ("wire", 0.2)),
    )
    suppliers = h.counterparties(rng.randint(3, 10), "wholesale")
    h.payments(rng.uniform(1, 4), size * 0.4, suppliers)
    h.payroll_out(rng.randint(4, 40), lognormal(rng, 1500, 0.3), individual=chance(rng, 0.5))
    if chance(rng, 0.4):  # day labour paid in cash
        h.cash_out(rng.uniform(0.5, 1.5), rng.uniform(1500, 7000))


def landlord(pop: Population, p: Party) -> None:
    h, rng = Habits(pop, p), pop.rng
    tenants = [pop.person("US") for _ in range(rng.randint(6, 60))]
    for tenant in tenants:
        rent = rng.uniform(700, 2600)
        instrument = rng.choices(("ach", "check", "other", "money_order"), (0.45, 0.3, 0.15, 0.1))[
            0
        ]
        for day in pop.calendar.monthly(rng.randint(1, 6)):
            pop.emit(
                p,
                day,
                pop.hour("online"),
                rent,
                instrument=instrument,
                direction="in",
                channel="online" if instrument != "money_order" else "branch",
                counterparty=tenant,
                step=5.0,
            )
    total = sum(1 for _ in tenants) * 1500
    h.monthly_out(total * rng.uniform(0.3, 0.6), "mortgage_lender", "holding")
    contractors = h.counterparties(rng.randint(2, 8), "construction")
    h.payments(
        rng.uniform(0.3, 2),
        rng.uniform(300, 3000),
        contractors,
        instruments=(("check", 0.6), ("ach", 0.4)),
    )


def seasonal_business(pop: Population, p: Party) -> None:
    cash_business(pop, p)


def produce_importer(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    envelope = seasonal_envelope(rng, pop.days, rng.uniform(1.5, 3.0))
    size = lognormal(rng, 18000, 0.7) * scale
    growers = [pop.entity("MX", "exporter") for _ in range(rng.randint(3, 15))]
    h.payments(
        rng.uniform(1.5, 5) * pop.world.cross_border,
        size,
        growers,
        instruments=(("wire", 1.0),),
        envelope=envelope,
    )
    chains = h.counterparties(rng.randint(4, 20), "grocery")
    h.receipts(
        rng.uniform(3, 10),
        size * 0.8,
        chains,
        instruments=(("ach", 0.7), ("wire", 0.3)),
        envelope=envelope,
    )
    h.payroll_out(rng.randint(5, 50), lognormal(rng, 1100, 0.3), individual=chance(rng, 0.3))


def mx_cash_business(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    cash = lognormal(rng, 450, 0.7) * scale
    if p.lookalike == "mx_near_threshold_business":
        cash = rng.uniform(5200, 7200)
    if p.segment == "mx_gas_station":
        cash = lognormal(rng, 5000, 0.5) * scale
    multi = chance(rng, pop.world.multi_location_share)
    h.cash_deposits(cash, every_day=chance(rng, 0.5), locations=rng.randint(2, 3) if multi else 1)
    h.settlements(cash * rng.uniform(0.4, 1.5))
    suppliers = h.counterparties(rng.randint(2, 10), "importer")
    h.payments(
        rng.uniform(1, 5),
        cash * rng.uniform(1, 3),
        suppliers,
        instruments=(("wire", 0.8), ("check", 0.2)),
    )
    h.payroll_out(rng.randint(2, 20), lognormal(rng, 330, 0.3), individual=chance(rng, 0.6))
    h.monthly_out(cash * rng.uniform(3, 8), "arrendador", "landlord", instrument="wire")
    if chance(rng, 0.5):
        h.cash_out(rng.uniform(0.3, 1.5), rng.uniform(100, 600))


def mx_exporter(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    envelope = seasonal_envelope(rng, pop.days, rng.uniform(1.5, 4.0))
    size = lognormal(rng, 30000, 0.8) * scale
    buyers = [pop.entity("US", "produce") for _ in range(rng.randint(2, 8))]
    h.receipts(
        rng.uniform(1, 4) * pop.world.cross_border,
        size,
        buyers,
        instruments=(("wire", 1.0),),
        envelope=envelope,
    )
    growers = h.counterparties(rng.randint(4, 20), "exporter")
    h.payments(
        rng.uniform(2, 6), size * 0.3, growers, instruments=(("wire", 1.0),), envelope=envelope
    )
    h.payroll_out(rng.randint(10, 80), lognormal(rng, 280, 0.3), individual=chance(rng, 0.5))
    if chance(rng, 0.5):  # field workers paid in cash
        h.cash_out(rng.uniform(0.5, 1.5), rng.uniform(2000, 8000))


def maquiladora(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    employees = int(rng.randint(40, 200) * min(scale, 2.5))
    parent = pop.entity("US", "maquiladora")
    wage = lognormal(rng, 300, 0.25)
    for day in pop.calendar.monthly(rng.randint(1, 10)):
        pop.emit(
            p,
            day,
            pop.hour("wire"),
            employees * wage * 2.6 * rng.uniform(0.95, 1.1),
            instrument="wire",
            direction="in",
            channel="correspondent",
            counterparty=parent,
            currency="USD",
        )
    h.payroll_out(employees, wage, individual=True)
    suppliers = h.counterparties(rng.randint(3, 10), "transport")
    h.payments(rng.uniform(1, 4), employees * wage * 0.5, suppliers, instruments=(("wire", 1.0),))


def mx_importer(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    size = lognormal(rng, 15000, 0.8) * scale
    suppliers = h.counterparties(
        rng.randint(2, 8),
        "electronics",
        abroad=0.9,
        countries=("US", "US", "CN", "CN", "TW", "KR", "DE"),
    )
    h.payments(
        rng.uniform(0.6, 3) * pop.world.cross_border, size, suppliers, instruments=(("wire", 1.0),)
    )
    customers = h.counterparties(rng.randint(10, 40), "tienda")
    h.receipts(
        rng.uniform(4, 12), size * 0.3, customers, instruments=(("wire", 0.85), ("check", 0.15))
    )
    if chance(rng, 0.3):
        h.cash_deposits(size * rng.uniform(0.03, 0.12), every_day=False, sigma=0.7)
    h.payroll_out(rng.randint(3, 30), lognormal(rng, 380, 0.3), individual=chance(rng, 0.5))


def mx_transport(pop: Population, p: Party) -> None:
    h, rng, scale = Habits(pop, p), pop.rng, pop.world.business_scale
    size = lognormal(rng, 2500, 0.7) * scale
    clients = h.counterparties(rng.randint(4, 20), "importer", abroad=0.15, countries=("US",))
    h.receipts(rng.uniform(2, 8), size, clients, instruments=(("wire", 1.0),))
    h.card(rng.uniform(1, 4), rng.uniform(60, 250))  # diesel and tolls
    h.payroll_out(rng.randint(3, 30), lognormal(rng, 420, 0.3), individual=chance(rng, 0.5))
    if chance(rng, 0.4):
        h.cash_out(rng.uniform(0.5, 2), rng.uniform(200, 1200))


# === legitimate look-alikes ================================================================


def wedding(pop: Population, p: Party) -> None:
    """Gifts from dozens of guests within a week, then payments to the venue and caterer."""
    (mx_salaried if p.institution.country == "MX" else salaried)(pop, p)
    rng = pop.rng
    day0 = rng.randrange(max(1, pop.days - 10))
    guests = [pop.person(p.institution.country) for _ in range(rng.randint(20, 90))]
    total = 0.0
    for guest in guests:
        instrument = rng.choice(("other", "check", "ach")) if p.currency == "USD" else "wire"
        sent = pop.emit(
            p,
            day0 + rng.randint(0, 7),
            pop.hour("online"),
            rng.choice((50, 75, 100, 150, 200, 250, 300, 500, 1000)),
            instrument=instrument,
            direction="in",
            channel="mobile",
            counterparty=guest,
        )
        total += sent.usd if sent else 0.0
    vendors = [pop.entity(p.institution.country, "restaurant") for _ in range(rng.randint(1, 3))]
    for vendor in vendors:
        pop.emit(
            p,
            day0 + rng.randint(5, 12),
            pop.hour("online"),
            total * rng.uniform(0.3, 0.9) / len(vendors) + rng.uniform(2000, 12000),
            instrument=rng.choice(("check", "wire")),
            direction="out",
            channel="online",
            counterparty=vendor,
            step=100.0,
        )


def crowdfunding(pop: Population, p: Party) -> None:
    salaried(pop, p)
    rng = pop.rng
    platform = pop.pooled("fundraising_platform", "US", size=3, sector="professional")
    day0 = rng.randrange(max(1, pop.days - 14))
    for week in range(rng.randint(1, 3)):
        pop.emit(
            p,
            day0 + 7 * week,
            pop.hour("ach"),
            rng.uniform(2000, 25000),
            instrument="ach",
            direction="in",
            channel="other",
            counterparty=platform,
        )
    friends = [pop.person("US") for _ in range(rng.randint(10, 40))]
    for friend in friends:
        pop.emit(
            p,
            day0 + rng.randint(0, 10),
            pop.hour("online"),
            lognormal(rng, 80, 0.7),
            instrument="other",
            direction="in",
            channel="mobile",
            counterparty=friend,
            step=5.0,
        )
    hospital = pop.entity("US", "professional")
    for _ in range(rng.randint(1, 4)):
        pop.emit(
            p,
            day0 + rng.randint(3, 20),
            pop.hour("online"),
            rng.uniform(1500, 15000),
            instrument=rng.choice(("check", "ach")),
            direction="out",
            channel="online",
            counterparty=hospital,
        )


def dormant_returner(pop: Population, p: Party) -> None:
    """Banks for a few days, goes quiet for weeks (travel, illness), comes back, sometimes with
    a large legitimate amount (an inheritance, the sale of a house)."""
    rng = pop.rng
    h = Habits(pop, p)
    awake = rng.randint(2, max(3, pop.days // 6))
    back = min(pop.days - 3, awake + rng.randint(pop.days // 3, pop.days * 2 // 3))
    h.active = [day < awake or day >= back for day in range(pop.days)]
    h.card(rng.uniform(0.5, 1.5), rng.uniform(20, 50))
    h.atm(rng.uniform(1, 4), rng.uniform(60, 200))
    h.bills(rng.randint(1, 3), rng.uniform(30, 100))
    if p.currency == "USD":
        h.income(
            "biweekly",
            lognormal(rng, 1600, 0.4),
            pop.pooled("employer", "US", size=250, sector="employer"),
        )
    else:
        h.income(
            "semimonthly",
            lognormal(rng, 450, 0.4),
            pop.pooled("patron", "MX", size=250, sector="employer"),
        )
    if chance(rng, 0.6):
        amount = lognormal(rng, 60000, 0.8)
        source = pop.entity(p.institution.country, "escrow")
        pop.emit(
            p,
            back + rng.randint(0, 2),
            pop.hour("wire"),
            amount,
            instrument=rng.choice(("wire", "check")),
            direction="in",
            channel="branch",
            counterparty=source,
        )
        if chance(rng, 0.6):
            pop.emit(
                p,
                back + rng.randint(2, 10),
                pop.hour("wire"),
                amount * rng.uniform(0.3, 0.9),
                instrument="wire",
                direction="out",
                channel="branch",
                counterparty=pop.entity(p.institution.country, "escrow"),
                step=1000.0,
            )


def cash_tips(pop: Population, p: Party) -> None:
    """A server or bartender: small wages by payroll, tips deposited in cash several times a
    week."""
    h, rng = Habits(pop, p), pop.rng
    h.income(
        "biweekly",
        lognormal(rng, 450, 0.3),
        pop.pooled("employer", "US", size=250, sector="employer"),
    )
    h.cash_in(rng.uniform(8, 16), rng.uniform(150, 700), atm_share=0.6)
    h.card(rng.uniform(0.5, 2.0), rng.uniform(20, 45))
    h.rent(rng.uniform(800, 1600))
    h.bills(rng.randint(2, 4), rng.uniform(40, 120))


def hr_trader(pop: Population, p: Party) -> None:
    """A legitimate business whose trade runs through higher-risk or secrecy jurisdictions."""
    h, rng = Habits(pop, p), pop.rng
    countries = rng.sample((*HIGH_RISK[3:], *SECRECY, "TR", "PK", "GH", "LB"), rng.randint(1, 3))
    size = lognormal(rng, 15000, 0.7) * pop.world.business_scale
    partners = [pop.entity(country, "wholesale") for country in countries]
    h.payments(rng.uniform(0.5, 3), size, partners, instruments=(("wire", 1.0),))
    h.receipts(rng.uniform(0.2, 1.5), size * 0.8, partners, instruments=(("wire", 1.0),))
    customers = h.counterparties(rng.randint(5, 25), "wholesale")
    h.receipts(rng.uniform(2, 8), size * 0.3, customers)
    h.payroll_out(rng.randint(3, 20), lognormal(rng, 1200, 0.3), individual=False)


def round_investor(pop: Population, p: Party) -> None:
    """Round transfers to and from a brokerage and family, every month."""
    (mx_professional if p.institution.country == "MX" else affluent)(pop, p)
    rng = pop.rng
    h = Habits(pop, p)
    brokerage = pop.pooled("brokerage", p.institution.country, size=10, sector="holding")
    family = h.friends(rng.randint(1, 3))
    for day in h.days_matching(rng.uniform(2, 8) / 30):
        pop.emit(
            p,
            day,
            pop.hour("online"),
            rng.choice((1000, 2000, 5000, 10000, 20000, 25000)),
            instrument=rng.choice(("wire", "ach")),
            direction=rng.choice(("out", "in")),
            channel="online",
            counterparty=rng.choice([brokerage, *family]),
            step=1000.0 if p.currency == "USD" else 10000.0,
        )


def car_buyer(pop: Population, p: Party) -> None:
    """Sells a car for cash, or withdraws cash to buy one: one large legitimate cash day."""
    salaried(pop, p)
    rng = pop.rng
    day = rng.randrange(pop.days)
    pop.emit(
        p,
        day,
        pop.hour("branch"),
        rng.uniform(8000, 30000),
        instrument="cash",
        direction=rng.choice(("in", "out")),
        channel="branch",
        step=100.0,
    )


_US_OCCUPATIONS = (
    "nurse",
    "warehouse associate",
    "teacher",
    "truck driver",
    "cashier",
    "cook",
    "electrician",
    "office manager",
    "mechanic",
    "sales associate",
    "software developer",
    "home health aide",
    "security guard",
    "accountant",
)
_MX_OCCUPATIONS = (
    "empleado",
    "obrero",
    "maestra",
    "chofer",
    "vendedor",
    "enfermera",
    "contador",
    "ingeniero",
    "comerciante",
    "ama de casa",
    "tecnico",
)

SEGMENTS: dict[str, Spec] = {
    "salaried": Spec("person", salaried, 0.3, occupations=_US_OCCUPATIONS, foreign_born=0.15),
    "gig_worker": Spec(
        "person",
        gig_worker,
        0.6,
        occupations=("rideshare driver", "delivery driver", "freelancer", "handyman"),
    ),
    "remitter": Spec(
        "person",
        remitter,
        1.2,
        occupations=(
            "construction worker",
            "cook",
            "farm worker",
            "landscaper",
            "housekeeper",
            "meat packer",
        ),
        foreign_born=0.9,
    ),
    "retiree": Spec("person", retiree, 0.3, occupations=("retired",)),
    "student": Spec("person", student, 0.2, occupations=("student",)),
    "affluent": Spec(
        "person",
        affluent,
        0.8,
        occupations=("physician", "attorney", "executive", "engineer", "business owner"),
    ),
    "self_employed": Spec(
        "person",
        self_employed,
        1.0,
        occupations=("contractor", "plumber", "painter", "hair stylist", "photographer"),
    ),
    "mx_salaried": Spec("person", mx_salaried, 0.3, occupations=_MX_OCCUPATIONS),
    "mx_remittance_receiver": Spec(
        "person", mx_remittance_receiver, 0.8, occupations=("ama de casa", "jubilado", "campesino")
    ),
    "mx_merchant": Spec("person", mx_merchant, 1.5, occupations=("comerciante",)),
    "mx_retiree": Spec("person", mx_retiree, 0.3, occupations=("jubilado", "pensionado")),
    "mx_professional": Spec(
        "person", mx_professional, 0.7, occupations=("medico", "abogado", "arquitecto", "consultor")
    ),
    "msb_remitter": Spec(
        "person",
        msb_remitter,
        1.0,
        occupations=("construction worker", "cook", "farm worker", "housekeeper"),
        foreign_born=0.9,
    ),
    "check_casher": Spec(
        "person", check_casher, 0.8, occupations=("laborer", "cook", "cashier"), foreign_born=0.5
    ),
    "fx_customer": Spec(
        "person", fx_customer, 0.8, occupations=("comerciante", "empleado", "turista")
    ),
    "mx_payout_receiver": Spec(
        "person", mx_payout_receiver, 0.6, occupations=("ama de casa", "campesino")
    ),
    "cash_business": Spec(
        "entity",
        cash_business,
        3.0,
        sectors=tuple((sector, naics) for sector, naics, *_ in _CASH_SECTORS),
    ),
    "wholesaler": Spec(
        "entity",
        wholesaler,
        1.5,
        sectors=(
            ("wholesale", "424410"),
            ("wholesale", "423990"),
            ("apparel", "424350"),
            ("auto_parts", "423120"),
        ),
    ),
    "importer": Spec(
        "entity",
        importer,
        2.0,
        sectors=(
            ("electronics", "423690"),
            ("apparel", "424350"),
            ("auto_parts", "423120"),
            ("wholesale", "423220"),
        ),
    ),
    "payroll_processor": Spec(
        "entity", payroll_processor, 1.0, sectors=(("payroll", "541214"), ("payroll", "561330"))
    ),
    "msb_business": Spec("entity", msb_business, 6.0, sectors=(("msb", "522390"),)),
    "car_dealer": Spec(
        "entity", car_dealer, 4.0, sectors=(("car_dealer", "441110"), ("car_dealer", "441120"))
    ),
    "treasury": Spec(
        "entity", treasury, 1.5, sectors=(("treasury", "551114"), ("treasury", "551112"))
    ),
    "escrow": Spec("entity", escrow, 2.0, sectors=(("escrow", "541191"), ("escrow", "541110"))),
    "nonprofit": Spec(
        "entity", nonprofit, 1.5, sectors=(("nonprofit", "813110"), ("nonprofit", "813219"))
    ),
    "professional_services": Spec(
        "entity",
        professional_services,
        0.5,
        sectors=(
            ("professional", "621210"),
            ("professional", "541211"),
            ("professional", "541611"),
            ("professional", "541330"),
        ),
    ),
    "construction": Spec(
        "entity",
        construction,
        1.0,
        sectors=(
            ("construction", "236118"),
            ("construction", "238160"),
            ("construction", "238110"),
        ),
    ),
    "landlord": Spec("entity", landlord, 0.8, sectors=(("landlord", "531110"),)),
    "seasonal_business": Spec(
        "entity",
        seasonal_business,
        2.0,
        sectors=(
            ("seasonal", "541213"),
            ("seasonal", "713990"),
            ("seasonal", "561730"),
            ("seasonal", "722515"),
        ),
    ),
    "produce_importer": Spec("entity", produce_importer, 2.0, sectors=(("produce", "424480"),)),
    "mx_cash_business": Spec(
        "entity",
        mx_cash_business,
        2.5,
        sectors=(("tienda", "461110"), ("restaurant", "722511"), ("tienda", "462112")),
    ),
    "mx_gas_station": Spec("entity", mx_cash_business, 3.0, sectors=(("gasolinera", "468411"),)),
    "mx_exporter": Spec(
        "entity", mx_exporter, 1.5, sectors=(("exporter", "111219"), ("exporter", "434111"))
    ),
    "maquiladora": Spec(
        "entity", maquiladora, 0.8, sectors=(("maquiladora", "336390"), ("maquiladora", "334418"))
    ),
    "mx_importer": Spec(
        "entity", mx_importer, 2.0, sectors=(("importer", "435419"), ("importer", "434229"))
    ),
    "mx_transport": Spec("entity", mx_transport, 0.8, sectors=(("transport", "484121"),)),
    # look-alikes
    "near_threshold_business": Spec(
        "entity",
        cash_business,
        8.0,
        sectors=(
            ("liquor", "445320"),
            ("grocery", "445110"),
            ("gas_station", "457110"),
            ("convenience", "445131"),
        ),
    ),
    "mx_near_threshold_business": Spec(
        "entity", mx_cash_business, 8.0, sectors=(("gasolinera", "468411"), ("tienda", "462112"))
    ),
    "wedding": Spec("person", wedding, 3.0, occupations=_US_OCCUPATIONS),
    "crowdfunding": Spec("person", crowdfunding, 3.0, occupations=_US_OCCUPATIONS),
    "dormant_returner": Spec("person", dormant_returner, 3.0, occupations=_US_OCCUPATIONS),
    "cash_tips": Spec("person", cash_tips, 3.0, occupations=("server", "bartender", "valet")),
    "hr_trader": Spec(
        "entity",
        hr_trader,
        6.0,
        sectors=(("wholesale", "423110"), ("electronics", "423690"), ("trucking", "488510")),
    ),
    "round_investor": Spec(
        "person", round_investor, 2.0, occupations=("executive", "investor", "business owner")
    ),
    "car_buyer": Spec("person", car_buyer, 2.0, occupations=_US_OCCUPATIONS),
}


def create_party(
    pop: Population,
    institution: Institution,
    segment: str,
    *,
    lookalike: str | None = None,
    identity_of: Party | None = None,
) -> Party:
    """A new customer of ``segment`` (its kind, sector, occupation and STR propensity)."""
    spec = SEGMENTS[segment]
    rng = pop.rng
    sector, naics = rng.choice(spec.sectors) if spec.sectors else ("", None)
    occupations = spec.occupations
    if institution.country == "MX" and occupations is _US_OCCUPATIONS:
        occupations = _MX_OCCUPATIONS
    return pop.new_party(
        institution,
        segment,
        spec.kind,
        sector=sector,
        occupation=rng.choice(occupations) if occupations else None,
        naics=naics,
        str_risk=spec.str_risk,
        lookalike=lookalike,
        foreign_born=institution.country == "US" and chance(rng, spec.foreign_born),
        identity_of=identity_of,
    )


def run(pop: Population, party: Party, segment: str | None = None) -> None:
    """Emits the legitimate activity of ``segment`` (the party's own by default)."""
    SEGMENTS[segment or party.segment].behaviour(pop, party)
