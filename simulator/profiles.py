"""Who does what: each subject's legitimate habits, as rows of activity tables.

Every legitimate activity (``simulator.legit``) reads one table whose rows are the subjects
that have it: their account, a rate (events per day) or a schedule, an amount scale in the
account's currency, and two or three integer columns of the activity's own (a day of the
month, a counterparty, a phase). The defaults below are the default world's habits; a world
multiplies each segment's rates and amounts (``simulator.world.Habits``).
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from simulator.parties import External
from simulator.population import MX_BORDER, SEGMENT_CODE
from simulator.reference import MXN_PER_USD_X100
from simulator.scene import Simulation
from simulator.world import PERSON_SEGMENTS, Habits

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Persons' default habits: events per day (US, MX), mean amount in US dollars, and the
# spread of that amount between people (sigma of a lognormal).
PERSON_RATES: dict[str, tuple[float, float, float, float]] = {
    "card": (0.85, 0.45, 38.0, 0.4),
    "atm": (0.07, 0.16, 0.0, 0.0),
    "cash_in": (0.015, 0.04, 250.0, 0.7),
    "cash_out": (0.3 / 365, 0.2 / 365, 13_000.0, 0.0),
    "p2p": (0.03, 0.03, 60.0, 0.8),
    "ach_out": (0.01, 0.005, 250.0, 0.8),
    "wires": (0.002, 0.001, 2_500.0, 1.0),
    "abroad": (0.004, 0.004, 1_500.0, 0.9),
}
# Each person segment's (rate, amount) factors on those habits.
PERSON_FACTORS: dict[str, dict[str, tuple[float, float]]] = {
    "salaried": {},
    "gig": {"card": (1.0, 0.8), "cash_in": (1.5, 0.8), "p2p": (1.3, 1.0)},
    "remitter": {"card": (0.65, 1.0)},
    "retiree": {
        "card": (0.7, 1.0),
        "atm": (0.8, 1.0),
        "cash_out": (1.5, 1.0),
        "p2p": (0.5, 1.0),
        "abroad": (0.5, 1.0),
        "ach_out": (1.5, 1.0),
    },
    "student": {
        "card": (1.2, 0.5),
        "atm": (1.0, 0.6),
        "cash_in": (0.5, 0.5),
        "cash_out": (0.2, 1.0),
        "p2p": (1.5, 0.5),
        "abroad": (0.5, 0.5),
        "wires": (0.5, 0.5),
    },
}
# Entities' cash takings: (chance of a deposit on a business day, mean deposit in US dollars);
# cash businesses and MSBs deposit every day they are open (their cash intensity).
ENTITY_CASH: dict[str, tuple[float, float]] = {
    "cash": (1.0, 2_300.0),
    "msb": (1.0, 8_000.0),
    "car_dealer": (0.25, 6_000.0),
    "wholesale": (0.08, 3_000.0),
    "service": (0.05, 800.0),
    "landlord": (0.03, 1_500.0),
    "trade": (0.02, 2_000.0),
}
# Clients' payments in: (per business day, mean US dollars, lognormal sigma).
ENTITY_CLIENTS: dict[str, tuple[float, float, float]] = {
    "service": (0.55, 1_800.0, 0.9),
    "trade": (0.1, 4_000.0, 0.8),
    "payroll": (0.3, 15_000.0, 0.8),
    "car_dealer": (0.4, 25_000.0, 0.5),
    "wholesale": (0.3, 3_000.0, 0.8),
}
# Vendors paid out: (per business day, mean US dollars).
ENTITY_VENDORS: dict[str, tuple[float, float]] = {
    "landlord": (0.12, 1_500.0),
    "wholesale": (0.15, 2_500.0),
    "service": (0.15, 900.0),
    "payroll": (0.05, 2_000.0),
    "car_dealer": (0.1, 3_000.0),
    "msb": (0.05, 800.0),
}
# Business wires: (per business day, mean US dollars, share outgoing).
ENTITY_WIRES: dict[str, tuple[float, float, float]] = {
    "wholesale": (0.02, 20_000.0, 0.5),
    "service": (0.02, 20_000.0, 0.5),
    "landlord": (0.01, 20_000.0, 0.5),
    "cash": (0.005, 20_000.0, 0.5),
    "payroll": (0.02, 20_000.0, 0.5),
    "car_dealer": (0.3, 35_000.0, 0.7),
    "msb": (0.9, 0.0, 0.95),  # the day's cash swept to the principal (amount: the takings)
}
EMPLOYER_SEGMENTS = ("cash", "trade", "service", "escrow", "wholesale", "landlord", "payroll")
# Employees of a payroll employer: many; of another business: a handful.
STAFF_LOG_MEAN = {"payroll": 3.5}

TABLES: tuple[str, ...] = (
    "card", "atm", "deposit", "payroll", "payouts", "monthly_in", "batch", "direct_payroll",
    "rent", "utility", "bill", "ach_out", "person_wires", "remit", "p2p", "own", "big_cash",
    "cash_biz", "settle", "supply", "trade", "clients", "vendors", "escrow", "usd_cash",
    "haven", "abroad", "biz_wires", "cash_out",
)  # fmt: skip


@dataclass
class Table:
    """One activity over the subjects that have it (numpy columns)."""

    subj: IntArray
    acct: IntArray
    rate: FloatArray
    scale: FloatArray
    aux: IntArray
    aux2: IntArray
    aux3: IntArray

    @property
    def size(self) -> int:
        return int(self.subj.size)


class Rows:
    """Columns of a Table while it is built (compact: no tuple per row)."""

    def __init__(self) -> None:
        self.subj = array("q")
        self.acct = array("q")
        self.rate = array("d")
        self.scale = array("d")
        self.aux = array("q")
        self.aux2 = array("q")
        self.aux3 = array("q")

    def append(
        self,
        subj: int,
        acct: int,
        rate: float = 0.0,
        scale: float = 0.0,
        aux: int = 0,
        aux2: int = 0,
        aux3: int = 0,
    ) -> None:
        self.subj.append(subj)
        self.acct.append(acct)
        self.rate.append(rate)
        self.scale.append(scale)
        self.aux.append(aux)
        self.aux2.append(aux2)
        self.aux3.append(aux3)

    def table(self) -> Table:
        def ints(column: array[int]) -> IntArray:
            return np.frombuffer(column, dtype=np.int64)

        def floats(column: array[float]) -> FloatArray:
            return np.frombuffer(column, dtype=np.float64)

        return Table(
            ints(self.subj),
            ints(self.acct),
            floats(self.rate),
            floats(self.scale),
            ints(self.aux),
            ints(self.aux2),
            ints(self.aux3),
        )


@dataclass
class Profiles:
    """Every subject's legitimate habits."""

    tables: dict[str, Table]
    rent_party: dict[int, External]
    monthly_party: dict[int, External]  # who pays a pension or an allowance
    trade_partners: dict[int, list[int | External]]
    friends: IntArray  # (subjects, world.friends): people each person pays now and then
    remit_target: dict[int, int | External]
    employer_phase: IntArray  # which alternate Friday a US employer pays on
    subject_mx: npt.NDArray[np.bool_]
    people: dict[str, list[int]] = field(default_factory=dict)

    def phase_of(self, subjects: IntArray) -> IntArray:
        return self.employer_phase[subjects]


def _count(rng: random.Random, mean: float) -> int:
    """A whole number with the given mean: the integer part, plus one with the remainder."""
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


class ProfileBuilder:
    """Draws each subject's habits into the activity tables."""

    def __init__(self, sim: Simulation, rng: random.Random) -> None:
        self.sim = sim
        self.rng = rng
        self.world = sim.world
        self.pop = sim.pop
        self.rows = {name: Rows() for name in TABLES}
        self.rent_party: dict[int, External] = {}
        self.monthly_party: dict[int, External] = {}
        self.trade_partners: dict[int, list[int | External]] = {}
        self.remit_target: dict[int, int | External] = {}
        n = sim.n_subjects
        self.friends = np.full((n, max(1, self.world.friends)), -1, dtype=np.int64)
        self.employer_phase = np.zeros(n, dtype=np.int64)
        self.idle = set(self.pop.dormant)
        countries = ("US", "MX")
        self.people = {c: self._active(c, PERSON_SEGMENTS) for c in countries}
        self.landlords = {c: self._active(c, ("landlord",)) for c in countries}
        self.wholesalers = {c: self._active(c, ("wholesale",)) for c in countries}
        self.traders = {c: self._active(c, ("trade", "wholesale")) for c in countries}
        # Payroll employers employ many: they are ten times as likely to be someone's employer.
        self.employers = {
            c: self._active(c, EMPLOYER_SEGMENTS) + self._active(c, ("payroll",)) * 9
            for c in countries
        }

    def _active(self, country: str, segments: tuple[str, ...]) -> list[int]:
        # Idle accounts never receive legitimate flows, so their silence is real.
        codes = {SEGMENT_CODE[s] for s in segments}
        pop = self.pop
        return [
            s
            for s in range(pop.size)
            if pop.country[s] == country and pop.segment[s] in codes and s not in self.idle
        ]

    # ---- amounts and rates ------------------------------------------------------------------
    def habits(self, s: int) -> Habits:
        return self.world.habit(self.pop.of_segment(s))

    def native(self, account: int, usd: float) -> float:
        """US dollars as minor units of the account's currency (a float scale)."""
        mxn = self.sim.inst_currency[self.sim.a_inst[account]] == "MXN"
        return usd * (MXN_PER_USD_X100 if mxn else 100)

    def person_rate(self, s: int, activity: str, act: float) -> float:
        us_rate, mx_rate, _, _ = PERSON_RATES[activity]
        base = mx_rate if self.pop.country[s] == "MX" else us_rate
        factor = PERSON_FACTORS[self.pop.of_segment(s)].get(activity, (1.0, 1.0))[0]
        return base * factor * getattr(self.habits(s), activity).rate * act

    def person_amount(self, s: int, account: int, activity: str) -> float:
        _, _, usd, sigma = PERSON_RATES[activity]
        factor = PERSON_FACTORS[self.pop.of_segment(s)].get(activity, (1.0, 1.0))[1]
        habits = self.habits(s)
        spread = self.rng.lognormvariate(0, sigma) if sigma else 1.0
        scale = getattr(habits, activity).amount * habits.scale
        return self.native(account, usd * factor * scale * spread)

    def amount_scale(self, s: int, activity: str) -> float:
        habits = self.habits(s)
        return float(getattr(habits, activity).amount * habits.scale)

    # ---- the whole population ---------------------------------------------------------------
    def build(self) -> Profiles:
        r = self.rng
        pop = self.pop
        for s in self.pop.dormant:
            # Legitimately idle accounts: silent for the whole run, or going quiet within it.
            self.sim.active_until[s] = 0 if r.random() < 0.7 else r.randint(1, self.sim.days)
        for s in range(pop.size):
            self.employer_phase[s] = r.randint(0, 1)
            if pop.is_entity[s]:
                self.entity(s)
            else:
                self.person(s)
        return Profiles(
            tables={name: rows.table() for name, rows in self.rows.items()},
            rent_party=self.rent_party,
            monthly_party=self.monthly_party,
            trade_partners=self.trade_partners,
            friends=self.friends,
            remit_target=self.remit_target,
            employer_phase=self.employer_phase,
            subject_mx=np.asarray([c == "MX" for c in pop.country], dtype=np.bool_),
            people=self.people,
        )

    # ---- persons ----------------------------------------------------------------------------
    def person(self, s: int) -> None:
        acct = self.pop.accounts[s][0]
        act = self.rng.lognormvariate(0, 0.45)
        mx = int(self.pop.country[s] == "MX")
        rows, rate, amount = self.rows, self.person_rate, self.person_amount
        rows["card"].append(s, acct, rate(s, "card", act), amount(s, acct, "card"), mx)
        rows["atm"].append(s, acct, rate(s, "atm", act), self.amount_scale(s, "atm"), mx)
        rows["deposit"].append(s, acct, rate(s, "cash_in", act), amount(s, acct, "cash_in"), mx)
        rows["p2p"].append(s, acct, rate(s, "p2p", act), amount(s, acct, "p2p"))
        rows["ach_out"].append(s, acct, rate(s, "ach_out", act), amount(s, acct, "ach_out"))
        rows["person_wires"].append(s, acct, rate(s, "wires", act), amount(s, acct, "wires"))
        rows["big_cash"].append(s, acct, rate(s, "cash_out", 1.0), amount(s, acct, "cash_out"))
        # tuition, property, purchases or family abroad
        rows["abroad"].append(s, acct, rate(s, "abroad", act), amount(s, acct, "abroad"))
        self.income(s, acct)
        self.bills(s, acct)
        self.person_extras(s, acct)

    def income(self, s: int, acct: int) -> None:
        """Pay (biweekly US, quincena MX), platform payouts, a pension or an allowance."""
        r, pop = self.rng, self.pop
        segment, country = pop.of_segment(s), pop.country[s]
        mx = country == "MX"
        habit = self.habits(s).income
        scale = self.amount_scale(s, "income")
        if segment in ("salaried", "remitter") or (segment == "student" and r.random() < 0.3):
            employed = min(0.98, (0.7 if mx else 0.85) * habit.rate)
            if r.random() < employed and self.employers[country]:
                employer = r.choice(self.employers[country])
                part_time = 0.4 if segment == "student" else 1.0
                pay = r.lognormvariate(0, 0.5) * (2_000.0 if not mx else 348.0) * part_time
                employer_account = pop.accounts[employer][0]
                self.rows["payroll"].append(
                    s, acct, 0.0, self.native(acct, pay * scale), employer_account, employer
                )
        if segment == "gig":
            rate = (0.4 if mx else 0.5) * habit.rate * r.lognormvariate(0, 0.4)
            payout = self.native(acct, 90.0 * scale * r.lognormvariate(0, 0.5))
            self.rows["payouts"].append(s, acct, rate, payout, r.randrange(4))
        elif segment == "retiree":
            pension = self.native(acct, (1_900.0 if not mx else 290.0) * scale)
            payer = r.choice(self.sim.parties.pensions[country])
            self.monthly_party[s] = payer
            self.rows["monthly_in"].append(s, acct, 0.0, pension * r.lognormvariate(0, 0.3), 3)
        elif segment == "student" and r.random() < min(0.98, 0.8 * habit.rate):
            allowance = self.native(acct, (500.0 if not mx else 174.0) * scale)
            self.monthly_party[s] = r.choice(self.sim.parties.landlords[country])
            day = r.randint(1, 28)
            self.rows["monthly_in"].append(s, acct, 0.0, allowance * r.lognormvariate(0, 0.4), day)

    def bills(self, s: int, acct: int) -> None:
        """Rent, utilities and other monthly bills, each on its own day of the month."""
        r, pop = self.rng, self.pop
        segment, country = pop.of_segment(s), pop.country[s]
        mx = country == "MX"
        habit = self.habits(s).bills
        scale = self.amount_scale(s, "bills")
        renter = (0.35 if mx else 0.55) * (0.5 if segment == "retiree" else 1.0)
        if r.random() < min(0.95, renter * habit.rate):
            usd = r.lognormvariate(0, 0.35) * (1_450.0 if not mx else 377.0) * scale
            usd *= 0.6 if segment == "student" else 1.0
            amount = round(self.native(acct, usd), -3)
            target = -1
            if self.landlords[country] and r.random() < 0.6:
                target = pop.accounts[r.choice(self.landlords[country])][0]
            else:
                self.rent_party[s] = r.choice(self.sim.parties.landlords[country])
            self.rows["rent"].append(s, acct, 0.0, amount, r.randint(1, 28), target)
        utility = self.native(acct, r.uniform(60, 260) * scale)
        self.rows["utility"].append(s, acct, 0.0, utility, r.randint(1, 28), r.randrange(12))
        for _ in range(_count(r, self.world.extra_bills * habit.rate)):
            bill = self.native(acct, 120.0 * scale * r.lognormvariate(0, 0.6))
            self.rows["bill"].append(s, acct, 0.0, bill, r.randint(1, 28), r.randrange(20))

    def person_extras(self, s: int, acct: int) -> None:
        """Friends, one's own accounts, remittances, USD cash at the border, offshore savings."""
        r, pop, sim = self.rng, self.pop, self.sim
        country = pop.country[s]
        pool = self.people[country]
        if len(pool) > 1:
            self.friends[s] = [r.choice(pool) for _ in range(self.friends.shape[1])]
        second = [
            a
            for a in pop.accounts[s][1:]
            if sim.insts[pop.a_inst[a]].kind in ("bank", "credit_union")
        ]
        if second:
            self.rows["own"].append(s, acct, 0.02, 0.0, second[0])
        if pop.of_segment(s) == "remitter":
            self.remittances(s, acct)
        if country == "MX" and pop.region[s] in MX_BORDER and r.random() < 0.15:
            self.rows["usd_cash"].append(s, acct, 0.04, r.uniform(100, 1_500) * 100)
        if country == "US" and r.random() < 0.006:
            self.rows["haven"].append(s, acct, 1 / 30, r.uniform(10_000, 90_000) * 100)

    def remittances(self, s: int, acct: int) -> None:
        """Money sent home every week, fortnight or month, to family in the population or not."""
        r, pop, sim = self.rng, self.pop, self.sim
        habit = self.habits(s).abroad
        via = [a for a in pop.accounts[s] if sim.insts[pop.a_inst[a]].kind == "msb"]
        period = max(3, round(r.choice((7, 14, 14, 15, 30, 30)) / habit.rate))
        amount_usd = r.lognormvariate(0, 0.45) * 320 * self.amount_scale(s, "abroad")
        recipients = self.people["MX"]
        if r.random() < 0.15 or not recipients:
            self.remit_target[s] = r.choice(sim.parties.family_abroad)
        else:
            accounts = pop.accounts[r.choice(recipients)]
            paid = [a for a in accounts if sim.insts[pop.a_inst[a]].kind == "transmisor"]
            self.remit_target[s] = (paid or accounts)[0]
        source = via[0] if via else acct
        self.rows["remit"].append(s, source, float(period), amount_usd * 100, r.randrange(period))

    # ---- entities ---------------------------------------------------------------------------
    def entity(self, s: int) -> None:
        acct = self.pop.accounts[s][0]
        act = self.rng.lognormvariate(0, 0.45)
        segment = self.pop.of_segment(s)
        self.operating_costs(s, acct, segment, act)
        if segment in ENTITY_CASH:
            self.cash_takings(s, acct, segment)
        if segment in ENTITY_CLIENTS:
            rate, usd, sigma = ENTITY_CLIENTS[segment]
            habit = self.habits(s).income
            amount = self.native(acct, usd * self.amount_scale(s, "income"))
            amount *= self.rng.lognormvariate(0, sigma)
            self.rows["clients"].append(s, acct, rate * act * habit.rate, amount)
        if segment == "trade":
            self.trade(s, acct, act)
        elif segment == "wholesale":
            habit = self.habits(s).abroad
            usd = self.rng.lognormvariate(0, 0.6) * 20_000_00 * self.amount_scale(s, "abroad")
            self.rows["trade"].append(s, acct, 0.1 * act * habit.rate, usd, 0)
        elif segment == "escrow":
            self.rows["escrow"].append(s, acct, 0.25 * act * self.habits(s).income.rate)

    def operating_costs(self, s: int, acct: int, segment: str, act: float) -> None:
        """Card spending, utilities, rent, vendors, payroll, business wires, cash withdrawals."""
        r, rows = self.rng, self.rows
        habits = self.habits(s)
        mx = int(self.pop.country[s] == "MX")
        card = self.native(acct, 90.0 * self.amount_scale(s, "card") * r.lognormvariate(0, 0.5))
        rows["card"].append(s, acct, 0.2 * act * habits.card.rate, card, mx)
        bills = self.amount_scale(s, "bills")
        if segment in EMPLOYER_SEGMENTS:
            self.payroll(s, acct, segment)
            utility = self.native(acct, r.uniform(200, 1_500) * bills)
            rows["utility"].append(s, acct, 0.0, utility, r.randint(1, 28), r.randrange(12))
        if segment in ("cash", "service", "trade", "wholesale", "car_dealer", "msb"):
            if r.random() < min(0.95, 0.7 * habits.bills.rate):
                self.business_rent(s, acct, bills)
        if segment in ENTITY_VENDORS:
            rate, usd = ENTITY_VENDORS[segment]
            amount = self.native(acct, usd * bills * r.lognormvariate(0, 0.8))
            rows["vendors"].append(s, acct, rate * act * habits.bills.rate, amount)
        if segment in ENTITY_WIRES:
            rate, usd, out_share = ENTITY_WIRES[segment]
            amount = self.native(acct, usd * self.amount_scale(s, "wires"))
            rows["biz_wires"].append(
                s, acct, rate * habits.wires.rate, amount, round(out_share * 100), mx
            )
        if segment == "msb":
            amount = self.native(acct, 5_000.0 * self.amount_scale(s, "cash_out"))
            rows["cash_out"].append(s, acct, 0.3 * habits.cash_out.rate, amount)

    def business_rent(self, s: int, acct: int, scale: float) -> None:
        r, pop = self.rng, self.pop
        country = pop.country[s]
        usd = r.lognormvariate(0, 0.5) * (3_500.0 if country == "US" else 1_450.0) * scale
        amount = round(self.native(acct, usd), -3)
        target = -1
        if self.landlords[country] and r.random() < 0.5:
            target = pop.accounts[r.choice(self.landlords[country])][0]
        else:
            self.rent_party[s] = r.choice(self.sim.parties.landlords[country])
        self.rows["rent"].append(s, acct, 0.0, amount, r.randint(1, 28), target)

    def payroll(self, s: int, acct: int, segment: str) -> None:
        """Staff paid every other Friday (US) or quincena (MX): one batch, or one by one."""
        r = self.rng
        staff = max(2.0, r.lognormvariate(STAFF_LOG_MEAN.get(segment, 1.6), 0.7))
        per_head = r.lognormvariate(0, 0.3) * (1_900.0 if self.pop.country[s] == "US" else 319.0)
        per_head *= self.amount_scale(s, "ach_out")
        if r.random() < self.world.payroll_direct_share:
            people = min(40, round(staff))
            self.rows["direct_payroll"].append(s, acct, 0.0, self.native(acct, per_head), people)
        else:
            self.rows["batch"].append(s, acct, 0.0, self.native(acct, per_head * staff))

    def cash_takings(self, s: int, acct: int, segment: str) -> None:
        """Cash deposits: daily takings (cash businesses, MSBs) or now and then (other sectors)."""
        r, world = self.rng, self.world
        chance, usd = ENTITY_CASH[segment]
        habit = self.habits(s).cash_in
        daily = self.native(acct, usd * self.amount_scale(s, "cash_in") * r.lognormvariate(0, 0.65))
        if chance >= 1.0:
            # Daily depositors: the world's cash intensity scales what they take, not how often.
            daily *= habit.rate
            closed = r.randrange(7) if segment == "cash" else 6
            every = r.randint(*world.cash_deposit_every)
            self.rows["cash_biz"].append(s, acct, 1.0, daily, closed, every, r.randrange(every))
            self.sim.cash_daily[s] = int(daily)
            country = self.pop.country[s]
            self.sim.conductors[s] = (
                self.sim.person_name(r, country),
                self.sim.person_name(r, country),
            )
        else:
            self.rows["cash_biz"].append(s, acct, min(1.0, chance * habit.rate), daily, -1, 1, 0)
        if segment == "cash":
            self.rows["settle"].append(s, acct, 0.0, daily * r.uniform(0.4, 1.5))
            country = self.pop.country[s]
            if self.wholesalers[country]:
                target = self.pop.accounts[r.choice(self.wholesalers[country])][0]
                weekly = daily * 7 * r.uniform(0.15, 0.35)
                self.rows["supply"].append(s, acct, 0.0, weekly, r.randrange(5), target)

    def trade(self, s: int, acct: int, act: float) -> None:
        """An importer-exporter: partners across the border and abroad, some high-risk."""
        r, pop, parties = self.rng, self.pop, self.sim.parties
        country = pop.country[s]
        partners: list[int | External] = []
        other = self.traders["MX" if country == "US" else "US"] + self.traders[country]
        for _ in range(r.randint(*self.world.trade_partners)):
            if other and r.random() < 0.5:
                partners.append(pop.accounts[r.choice(other)][0])
            else:
                partners.append(r.choice(parties.foreign_suppliers))
        if r.random() < self.world.high_risk_trade_share:
            partners.append(r.choice(parties.high_risk_partners + parties.havens))
        self.trade_partners[s] = partners
        habit = self.habits(s).abroad
        usd_cents = r.lognormvariate(0, 0.9) * 35_000_00 * self.amount_scale(s, "abroad")
        self.rows["trade"].append(s, acct, 0.22 * act * habit.rate, usd_cents, 1)


def build_profiles(sim: Simulation) -> Profiles:
    """Every subject's habits, drawn with the run's own seeded stream."""
    rng = random.Random(f"{sim.seed}:habits")  # noqa: S311 - a seeded simulation, not security
    return ProfileBuilder(sim, rng).build()
