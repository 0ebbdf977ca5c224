"""One day of legitimate activity: one function per kind of activity.

Each function reads its activity table (``simulator.profiles``), draws who acts today with
numpy (Poisson counts for rates, calendars for scheduled payments), and adds the day's events
to the scene. Only the day's events are held at a time.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from simulator.events import DAY, HOUR
from simulator.parties import External, external
from simulator.profiles import FloatArray, IntArray, Profiles, Table
from simulator.reference import convert
from simulator.scene import LOCAL_OFFSET, Simulation

SEASON = {1: 0.85, 2: 0.9, 3: 0.97, 4: 0.98, 5: 1.0, 6: 1.0, 7: 1.02, 8: 1.0, 9: 0.97,
          10: 1.0, 11: 1.12, 12: 1.38}  # fmt: skip
CARD_WEEKDAY = (0.9, 0.9, 0.95, 1.0, 1.15, 1.3, 0.95)
CASH_WEEKDAY = (0.7, 0.75, 0.85, 0.95, 1.3, 1.6, 1.1)
# Where US persons send money abroad, other than Mexico (World.mx_corridor_share), and where
# Mexican persons do.
ABROAD_FROM_US = ("GT", "SV", "HN", "CO", "DO", "IN", "CN", "CA", "GB", "ES", "PH")
ABROAD_FROM_MX = ("US", "US", "US", "GT", "CO", "ES", "CA", "PE", "BR")


def is_quincena(day: date) -> bool:
    """Mexican paydays: the 15th and the last day of the month, moved back to a Friday."""
    last = calendar.monthrange(day.year, day.month)[1]
    for target in (15, last):
        payday = day.replace(day=target)
        while payday.weekday() >= 5:
            payday -= timedelta(days=1)
        if payday == day:
            return True
    return False


@dataclass
class Day:
    """The calendar and random draws of one simulated day."""

    k: int
    today: date
    g: np.random.Generator
    alive: npt.NDArray[np.bool_]
    seed: int

    @property
    def weekday(self) -> int:
        return self.today.weekday()

    @property
    def business(self) -> bool:
        return self.today.weekday() < 5

    @property
    def season(self) -> float:
        return SEASON[self.today.month]

    def rng(self, purpose: str) -> random.Random:
        """A stream of its own for the day's draws that are not vectorised."""
        return random.Random(f"{self.seed}:{purpose}:{self.k}")  # noqa: S311 - a seeded simulation, not security

    def draw(self, table: Table, factor: float) -> IntArray:
        """Rows acting today, repeated as many times as they act (Poisson at rate x factor)."""
        if table.size == 0 or factor <= 0:
            return np.zeros(0, dtype=np.int64)
        rates = table.rate * factor * self.alive[table.subj]
        return np.repeat(np.arange(rates.size), self.g.poisson(rates))

    def due(self, table: Table, mask: npt.NDArray[np.bool_]) -> IntArray:
        """Rows of a scheduled activity due today (among active subjects)."""
        return np.nonzero(mask & self.alive[table.subj])[0]

    def times(self, m: int, lo: float, hi: float) -> list[int]:
        base = self.k * DAY + LOCAL_OFFSET
        return (base + (self.g.uniform(lo, hi, m) * HOUR).astype(np.int64)).tolist()

    def noisy(self, values: FloatArray, sigma: float) -> list[int]:
        spread = np.exp(self.g.normal(0.0, sigma, values.size))
        return np.maximum(100, values * spread).astype(np.int64).tolist()


Activity = Callable[[Simulation, Profiles, Day], None]


# ---- persons' everyday payments ------------------------------------------------------------


def card_spend(sim: Simulation, p: Profiles, day: Day) -> None:
    t = p.tables["card"]
    idx = day.draw(t, day.season * CARD_WEEKDAY[day.weekday])
    if not idx.size:
        return
    m = idx.size
    merchants, foreign = sim.parties.merchants, sim.parties.merchants_foreign
    picks = day.g.integers(0, 1 << 30, m).tolist()
    kinds = day.g.random(m).tolist()
    for a, amount, ts, pick, kind, mx in zip(
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.9),
        day.times(m, 7, 23.5),
        picks,
        kinds,
        t.aux[idx].tolist(),
        strict=True,
    ):
        if kind < 0.02:
            party = foreign[pick % len(foreign)]
        else:
            pool = merchants["MX" if mx else "US"]
            party = pool[pick % len(pool)]
        sim.add(ts, a, "out", "card", "online" if kind < 0.27 else "other", amount, party)


def atm_withdrawals(sim: Simulation, p: Profiles, day: Day) -> None:
    """Cash from the machine, in round notes, at the home branch's ATM."""
    t = p.tables["atm"]
    idx = day.draw(t, 1.15 if day.weekday >= 4 else 1.0)
    if not idx.size:
        return
    m = idx.size
    notes = day.g.integers(2, 21, m).tolist()
    home = sim.pop.a_branch
    for a, n_notes, ts, mx, scale in zip(
        t.acct[idx].tolist(),
        notes,
        day.times(m, 6, 24),
        t.aux[idx].tolist(),
        t.scale[idx].tolist(),
        strict=True,
    ):
        unit = 20_000 if mx else 2_000
        amount = max(unit, int(n_notes * scale) * unit)
        sim.add(ts, a, "out", "cash", "atm", amount, None, home[a])


def cash_deposits(sim: Simulation, p: Profiles, day: Day) -> None:
    """Small cash deposits by persons (sometimes made by a relative; some at an ATM)."""
    t = p.tables["deposit"]
    idx = day.draw(t, 1.0 if day.weekday < 6 else 0.0)
    if not idx.size:
        return
    m = idx.size
    helpers = day.g.random(m).tolist()
    rng = day.rng("deposit")
    at_atm = sim.world.atm_deposit_share
    for a, amount, ts, helper, mx in zip(
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.3),
        day.times(m, 9, 17),
        helpers,
        t.aux[idx].tolist(),
        strict=True,
    ):
        party: External | None = None
        if helper < 0.12:
            country = "MX" if mx else "US"
            party = (sim.person_name(rng, country), None, None, country, "person")
        channel = "atm" if helper >= 1.0 - at_atm else "branch"
        sim.add(ts, a, "in", "cash", channel, amount, party, sim.cash_branch(a, helper))


def p2p_payments(sim: Simulation, p: Profiles, day: Day) -> None:
    """Person-to-person payments between friends, by mobile ACH."""
    t = p.tables["p2p"]
    idx = day.draw(t, 1.1 if day.weekday >= 4 else 1.0)
    if not idx.size:
        return
    m = idx.size
    pick = day.g.integers(0, p.friends.shape[1], m).tolist()
    accounts = sim.pop.accounts
    for s, a, amount, ts, which in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.4),
        day.times(m, 7, 23),
        pick,
        strict=True,
    ):
        friend = int(p.friends[s, which])
        if friend < 0 or friend == s:
            continue
        if which == 0:
            amount = max(500, amount - amount % 500)
        target = accounts[friend][0]
        sim.transfer(
            ts, a, target, amount, -1, instrument="ach", channel="mobile", delay=5 + amount % 600
        )


def ach_payments(sim: Simulation, p: Profiles, day: Day) -> None:
    """Other outgoing ACH: loan instalments, card balances, purchases paid from the account."""
    t = p.tables["ach_out"]
    idx = day.draw(t, 1.0)
    if not idx.size:
        return
    m = idx.size
    billers, merchants = sim.parties.billers, sim.parties.merchants
    picks = day.g.integers(0, 1 << 30, m).tolist()
    for s, a, amount, ts, pick in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.5),
        day.times(m, 1, 22),
        picks,
        strict=True,
    ):
        country = sim.pop.country[s]
        pool = billers[country] if pick % 3 else merchants[country]
        sim.add(ts, a, "out", "ach", "online", amount, pool[pick % len(pool)])


def person_wires(sim: Simulation, p: Profiles, day: Day) -> None:
    """Persons' occasional wires: a deposit on a house, a car, money from or to family."""
    t = p.tables["person_wires"]
    idx = day.draw(t, 1.0 if day.business else 0.0)
    if not idx.size:
        return
    rng = day.rng("person-wire")
    for s, a, amount, ts in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.6),
        day.times(idx.size, 9, 16),
        strict=True,
    ):
        party = external(rng, sim.pop.country[s], "person" if rng.random() < 0.5 else "entity")
        direction = "out" if rng.random() < 0.5 else "in"
        sim.wire_with(ts, a, direction, amount, party, -1, 1.0)


def own_transfers(sim: Simulation, p: Profiles, day: Day) -> None:
    """Transfers between one's own accounts, in round amounts."""
    t = p.tables["own"]
    idx = day.draw(t, 1.0)
    if not idx.size:
        return
    m = idx.size
    units = day.g.choice(np.asarray([50_000, 100_000, 200_000, 500_000]), m).tolist()
    flips = day.g.random(m).tolist()
    for a, other, unit, ts, flip in zip(
        t.acct[idx].tolist(), t.aux[idx].tolist(), units, day.times(m, 7, 22), flips, strict=True
    ):
        source, target = (a, other) if flip < 0.5 else (other, a)
        amount = unit * (1 + int(flip * 8))
        if sim.inst_currency[sim.a_inst[source]] == "MXN":
            amount *= 10
        delay = int((1 + flip * 20) * HOUR)
        sim.transfer(ts, source, target, amount, -1, instrument="ach", delay=delay)


def large_cash(sim: Simulation, p: Profiles, day: Day) -> None:
    """Legitimate large cash: a car bought or sold, savings withdrawn."""
    t = p.tables["big_cash"]
    idx = day.draw(t, 1.0 if day.weekday < 6 else 0.0)
    if not idx.size:
        return
    m = idx.size
    flips = day.g.random(m).tolist()
    sizes = np.exp(day.g.normal(0.0, 0.4, m)).tolist()
    for a, scale, ts, flip, size in zip(
        t.acct[idx].tolist(), t.scale[idx].tolist(), day.times(m, 9, 16), flips, sizes, strict=True
    ):
        amount = int(size * scale)
        amount = max(10_000, amount - amount % 10_000)
        direction = "out" if flip < 0.6 else "in"
        sim.add(ts, a, direction, "cash", "branch", amount, None, sim.cash_branch(a, flip))


# ---- income --------------------------------------------------------------------------------


def payroll_in(sim: Simulation, p: Profiles, day: Day) -> None:
    """Pay from an employer of the population: US every other Friday, MX on quincena days."""
    t = p.tables["payroll"]
    idx = _paydays(p, t, t.aux2, day)
    if not idx.size:
        return
    amounts = np.maximum(100, t.scale[idx] * day.g.uniform(0.97, 1.03, idx.size)).astype(np.int64)
    for a, amount, ts, employer in zip(
        t.acct[idx].tolist(),
        amounts.tolist(),
        day.times(idx.size, 3, 6),
        t.aux[idx].tolist(),
        strict=True,
    ):
        sim.add(ts, a, "in", "ach", "other", amount, employer)


def _paydays(p: Profiles, t: Table, employers: IntArray, day: Day) -> IntArray:
    us_payday = day.weekday == 4
    mx_payday = is_quincena(day.today)
    if t.size == 0 or not (us_payday or mx_payday):
        return np.zeros(0, dtype=np.int64)
    parity = (day.today.toordinal() // 7) % 2
    phase = p.employer_phase[employers]
    mx_rows = p.subject_mx[t.subj]
    return day.due(t, np.where(mx_rows, mx_payday, us_payday & ((phase + parity) % 2 == 0)))


def payroll_batches(sim: Simulation, p: Profiles, day: Day) -> None:
    """Employers' payroll, one batch to their payroll processor."""
    t = p.tables["batch"]
    idx = _paydays(p, t, t.subj, day)
    if not idx.size:
        return
    amounts = np.maximum(100, t.scale[idx] * day.g.uniform(0.97, 1.03, idx.size)).astype(np.int64)
    processors = sim.parties.processors
    for s, a, amount, ts in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        amounts.tolist(),
        day.times(idx.size, 0.5, 2.5),
        strict=True,
    ):
        party = processors[sim.pop.country[s]][a % 3]
        sim.add(ts, a, "out", "ach", "online", amount, party)


def direct_payroll(sim: Simulation, p: Profiles, day: Day) -> None:
    """Employers paying each employee by ACH (a payday looks like a fan-out)."""
    t = p.tables["direct_payroll"]
    idx = _paydays(p, t, t.subj, day)
    if not idx.size:
        return
    for s, a, per_head, people, ts in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        t.scale[idx].tolist(),
        t.aux[idx].tolist(),
        day.times(idx.size, 0.5, 2.5),
        strict=True,
    ):
        # The same staff every payday: their names and accounts come from the employer's seed.
        staff = random.Random(f"{day.seed}:staff:{s}")  # noqa: S311 - a seeded simulation, not security
        country = sim.pop.country[s]
        for i in range(people):
            party = external(staff, country, "person")
            amount = max(100, int(per_head * staff.lognormvariate(0, 0.25)))
            sim.add(ts + i * 7, a, "out", "ach", "online", amount, party)


def gig_payouts(sim: Simulation, p: Profiles, day: Day) -> None:
    """Platform payouts to gig workers: small, frequent, any day."""
    t = p.tables["payouts"]
    idx = day.draw(t, 1.0)
    if not idx.size:
        return
    platforms = sim.parties.platforms
    for s, a, amount, ts, which in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.6),
        day.times(idx.size, 2, 8),
        t.aux[idx].tolist(),
        strict=True,
    ):
        sim.add(ts, a, "in", "ach", "other", amount, platforms[sim.pop.country[s]][which])


def monthly_income(sim: Simulation, p: Profiles, day: Day) -> None:
    """Pensions (early in the month) and students' allowances, on their day of the month."""
    t = p.tables["monthly_in"]
    if t.size == 0:
        return
    idx = day.due(t, t.aux == day.today.day)
    for s, a, amount, ts in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        t.scale[idx].astype(np.int64).tolist(),
        day.times(idx.size, 2, 9),
        strict=True,
    ):
        sim.add(ts, a, "in", "ach", "other", max(100, amount), p.monthly_party[s])


# ---- monthly bills -------------------------------------------------------------------------


def rent(sim: Simulation, p: Profiles, day: Day) -> None:
    """Rent, monthly on its own day: to a landlord of the population or outside it."""
    t = p.tables["rent"]
    if t.size == 0:
        return
    idx = day.due(t, t.aux == day.today.day)
    m = idx.size
    checks = day.g.random(m).tolist()
    by_ach = sim.world.bill_ach_share
    for s, a, amount, target, ts, roll in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        t.scale[idx].astype(np.int64).tolist(),
        t.aux2[idx].tolist(),
        day.times(m, 6, 20),
        checks,
        strict=True,
    ):
        instrument = "ach" if roll < by_ach else "check"
        amount = max(100, amount)
        if target >= 0:
            delay = int(2 * HOUR + roll * 20 * HOUR)
            sim.transfer(ts, a, target, amount, -1, instrument=instrument, delay=delay)
        else:
            sim.add(ts, a, "out", instrument, "online", amount, p.rent_party[s])


def utilities(sim: Simulation, p: Profiles, day: Day) -> None:
    """Power, water, gas: monthly by ACH (or by card, where the world pays bills so)."""
    _monthly_bills(sim, p, day, "utility", sim.parties.utilities, 0.2)


def other_bills(sim: Simulation, p: Profiles, day: Day) -> None:
    """Insurance, phone, loans, card balances: the world's ``extra_bills`` per month."""
    _monthly_bills(sim, p, day, "bill", sim.parties.billers, 0.1)


def _monthly_bills(
    sim: Simulation, p: Profiles, day: Day, name: str, parties: dict[str, list[External]],
    sigma: float,
) -> None:  # fmt: skip
    t = p.tables[name]
    if t.size == 0:
        return
    idx = day.due(t, t.aux == day.today.day)
    m = idx.size
    rolls = day.g.random(m).tolist()
    by_ach = sim.world.bill_ach_share
    for s, a, amount, which, ts, roll in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], sigma),
        t.aux2[idx].tolist(),
        day.times(m, 1, 8),
        rolls,
        strict=True,
    ):
        pool = parties[sim.pop.country[s]]
        party = pool[which % len(pool)]
        if roll < by_ach:
            sim.add(ts, a, "out", "ach", "other", amount, party)
        else:
            sim.add(ts, a, "out", "card", "online", amount, party)


# ---- across the border ---------------------------------------------------------------------


def remittances(sim: Simulation, p: Profiles, day: Day) -> None:
    """US -> MX remittances (and to Central America), often withdrawn in cash on arrival."""
    t = p.tables["remit"]
    if t.size == 0:
        return
    period = t.rate.astype(np.int64)
    idx = day.due(t, (day.k + t.aux) % period == 0)
    if not idx.size:
        return
    m = idx.size
    rolls = day.g.random(m).tolist()
    waits = day.g.uniform(0.2, 20, m).tolist()
    for s, a, amount, ts, roll, wait in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        t.scale[idx].tolist(),
        day.times(m, 9, 20),
        rolls,
        waits,
        strict=True,
    ):
        cents = int(amount * (0.9 + roll * 0.2))
        if roll < 0.6:
            cents = max(2_000, cents - cents % 1_000)
        via_msb = sim.insts[sim.a_inst[a]].kind == "msb"
        instrument = "money_order" if via_msb and roll < 0.25 else "wire"
        channel = "branch" if via_msb else ("mobile" if roll < 0.5 else "online")
        branch = sim.pop.a_branch[a] if via_msb else -1
        target = p.remit_target[s]
        sim.add(ts, a, "out", instrument, channel, cents, target, branch)
        if isinstance(target, int):
            _remittance_received(sim, ts + int(wait * HOUR), a, target, cents, roll)


def _remittance_received(
    sim: Simulation, t: int, source: int, target: int, cents: int, roll: float
) -> None:
    received = convert(cents, "USD", sim.inst_currency[sim.a_inst[target]])
    sim.add(t, target, "in", "wire", "correspondent", received, source)
    if roll >= 0.6:
        return
    out = received * (80 + int(roll * 33)) // 100
    out -= out % 10_000
    if out > 0:
        later = t + int((0.5 + roll * 60) * HOUR)
        channel = "atm" if out < 800_000 else "branch"
        sim.add(later, target, "out", "cash", channel, out, None, sim.pop.a_branch[target])


def payments_abroad(sim: Simulation, p: Profiles, day: Day) -> None:
    """One-off payments to and from new parties abroad (tuition, property, family)."""
    t = p.tables["abroad"]
    idx = day.draw(t, 1.0 if day.business else 0.3)
    if not idx.size:
        return
    rng = day.rng("abroad")
    corridor = sim.world.mx_corridor_share
    for s, a, amount, ts in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.3),
        day.times(idx.size, 8, 20),
        strict=True,
    ):
        if sim.pop.country[s] == "US":
            country = "MX" if rng.random() < corridor else rng.choice(ABROAD_FROM_US)
        else:
            country = rng.choice(ABROAD_FROM_MX)
        party = external(rng, country, "person" if rng.random() < 0.6 else "entity")
        direction = "out" if rng.random() < 0.8 else "in"
        channel = "online" if direction == "out" else "correspondent"
        sim.wire_with(ts, a, direction, amount, party, -1, rng.random(), channel=channel)


def usd_cash_border(sim: Simulation, p: Profiles, day: Day) -> None:
    """USD cash deposited at Mexican banks near the border, within the caps."""
    t = p.tables["usd_cash"]
    idx = day.draw(t, 1.0 if day.weekday < 6 else 0.0)
    for a, amount, ts in zip(
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.2),
        day.times(idx.size, 9, 16),
        strict=True,
    ):
        amount = amount - amount % 1_000 or 1_000
        branch = sim.pop.a_branch[a]
        sim.events.add(ts, a, "in", "cash", "branch", amount, "USD", None, branch, -1)


def offshore_investments(sim: Simulation, p: Profiles, day: Day) -> None:
    """A few wealthy customers invest through offshore vehicles, legitimately."""
    t = p.tables["haven"]
    idx = day.draw(t, 1.0 if day.business else 0.0)
    havens = sim.parties.havens
    for a, amount, ts, pick in zip(
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.3),
        day.times(idx.size, 9, 16),
        day.g.integers(0, len(havens), idx.size).tolist(),
        strict=True,
    ):
        amount = amount - amount % 100_000 or 100_000
        sim.add(ts, a, "out", "wire", "online", amount, havens[pick])


# ---- businesses ----------------------------------------------------------------------------


def cash_takings(sim: Simulation, p: Profiles, day: Day) -> None:
    """Businesses deposit their cash: daily takings with a weekly cycle, or now and then.

    A business that gathers ``every`` days of takings deposits them in one go on its day.
    """
    t = p.tables["cash_biz"]
    if t.size == 0:
        return
    open_today = (t.aux != day.weekday) & ((t.aux >= 0) | day.business)
    gathered = (day.k + t.aux3) % t.aux2 == 0
    chance = day.g.random(t.size) < t.rate
    idx = day.due(t, open_today & gathered & chance)
    if not idx.size:
        return
    factor = CASH_WEEKDAY[day.weekday] * day.season
    takings = day.noisy(t.scale[idx] * t.aux2[idx] * factor, 0.25)
    splits = day.g.random(idx.size).tolist()
    for s, a, amount, ts, split in zip(
        t.subj[idx].tolist(), t.acct[idx].tolist(), takings, day.times(idx.size, 15, 20), splits,
        strict=True,
    ):  # fmt: skip
        staff = sim.staff(s)
        country = sim.pop.country[s]
        branch = sim.cash_branch(a, split)
        if split < 0.12 and len(staff) > 1:
            half = amount // 2
            sim.add(
                ts - 5 * HOUR, a, "in", "cash", "branch", half, _person(staff[1], country), branch
            )
            amount -= half
        sim.add(ts, a, "in", "cash", "branch", amount, _person(staff[0], country), branch)


def _person(name: str, country: str) -> External:
    return (name, None, None, country, "person")


def card_settlements(sim: Simulation, p: Profiles, day: Day) -> None:
    """Card processors settle a cash business's card takings on business days."""
    t = p.tables["settle"]
    if t.size == 0 or not day.business:
        return
    idx = day.due(t, np.ones(t.size, dtype=np.bool_))
    factor = day.season * (2.6 if day.weekday == 0 else 1.0)
    processors = sim.parties.processors
    for s, a, amount, ts in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx] * factor, 0.2),
        day.times(idx.size, 1, 5),
        strict=True,
    ):
        sim.add(ts, a, "in", "ach", "other", amount, processors[sim.pop.country[s]][s % 3])


def supplier_payments(sim: Simulation, p: Profiles, day: Day) -> None:
    """Cash businesses pay their wholesaler weekly, by check or ACH."""
    t = p.tables["supply"]
    if t.size == 0 or not day.business:
        return
    idx = day.due(t, t.aux == day.weekday)
    checks = day.g.random(idx.size).tolist()
    for a, target, amount, ts, check in zip(
        t.acct[idx].tolist(),
        t.aux2[idx].tolist(),
        day.noisy(t.scale[idx], 0.2),
        day.times(idx.size, 8, 17),
        checks,
        strict=True,
    ):
        instrument = "check" if check < 0.3 else "ach"
        delay = int((2 + check * 30) * HOUR)
        sim.transfer(ts, a, target, amount, -1, instrument=instrument, delay=delay)


def trade_payments(sim: Simulation, p: Profiles, day: Day) -> None:
    """Trade payments between importers and exporters, across the border and abroad."""
    t = p.tables["trade"]
    idx = day.draw(t, 1.4 if day.business else 0.0)
    if not idx.size:
        return
    m = idx.size
    rolls = day.g.random(m).tolist()
    choice = day.g.integers(0, 1_000, m).tolist()
    suppliers = sim.parties.foreign_suppliers
    for s, a, amount_usd, ts, roll, pick, is_trader in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.5),
        day.times(m, 8, 17),
        rolls,
        choice,
        t.aux[idx].tolist(),
        strict=True,
    ):
        if is_trader:
            partners = p.trade_partners[s]
            partner = partners[pick % len(partners)]
        else:
            partner = suppliers[pick % len(suppliers)]
        _trade_payment(sim, s, a, partner, amount_usd, ts, roll, bool(is_trader))


def _trade_payment(
    sim: Simulation, s: int, a: int, partner: int | External, amount_usd: int, ts: int,
    roll: float, is_trader: bool,
) -> None:  # fmt: skip
    source = a
    if roll < 0.5 and sim.pop.country[s] == "MX" and len(sim.pop.accounts[s]) > 1:
        # Importers sometimes pay through their casa de cambio account.
        source = sim.account_of(s, "casa_de_cambio")
    amount = convert(amount_usd, "USD", sim.inst_currency[sim.a_inst[source]])
    delay = int((0.5 + roll * 20) * HOUR)
    if isinstance(partner, int):
        if roll < 0.55:
            sim.transfer(ts, source, partner, amount, -1, delay=delay)
        else:
            theirs = convert(amount_usd, "USD", sim.inst_currency[sim.a_inst[partner]])
            sim.transfer(ts, partner, a, theirs, -1, delay=delay)
    elif roll < 0.6 or not is_trader:
        sim.wire_with(ts, source, "out", amount, partner, -1, roll / 0.6)
    else:
        sim.wire_with(ts, a, "in", amount, partner, -1, (roll - 0.6) / 0.4)


def client_payments(sim: Simulation, p: Profiles, day: Day) -> None:
    """Clients pay in by ACH or check: regular clients, and new ones."""
    _counterparty_payments(sim, p, day, "clients", "in", sim.parties.clients)


def vendor_payments(sim: Simulation, p: Profiles, day: Day) -> None:
    """Vendors paid out by ACH or check: regular vendors, and new ones."""
    _counterparty_payments(sim, p, day, "vendors", "out", sim.parties.vendors)


def _counterparty_payments(
    sim: Simulation, p: Profiles, day: Day, name: str, direction: str,
    pool: dict[str, list[External]],
) -> None:  # fmt: skip
    t = p.tables[name]
    idx = day.draw(t, 1.35 if day.business else 0.0)
    if not idx.size:
        return
    choice = day.g.integers(0, 1_000_000, idx.size).tolist()
    rolls = day.g.random(idx.size).tolist()
    fresh = day.rng(direction)
    new_share = sim.world.new_party_share
    channel = "other" if direction == "in" else "online"
    for s, a, amount, ts, pick, roll in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.5),
        day.times(idx.size, 7, 18),
        choice,
        rolls,
        strict=True,
    ):
        country = sim.pop.country[s]
        instrument = "check" if pick % 5 == 0 else "ach"
        if roll < new_share:
            party = external(fresh, country, "person" if pick % 3 == 0 else "entity")
        else:
            parties = pool[country]
            party = parties[pick % len(parties)]
        sim.add(ts, a, direction, instrument, channel, amount, party)


def escrow_closings(sim: Simulation, p: Profiles, day: Day) -> None:
    """Escrow and title companies: home purchases pass through within hours."""
    t = p.tables["escrow"]
    idx = day.draw(t, 1.0 if day.business else 0.0)
    if not idx.size:
        return
    rng = day.rng("escrow")
    pop = sim.pop
    for s, a, ts in zip(
        t.subj[idx].tolist(), t.acct[idx].tolist(), day.times(idx.size, 9, 13), strict=True
    ):
        country = pop.country[s]
        people = p.people[country] or [s]
        price = sim.native(a, rng.uniform(150_000, 700_000))
        sim.transfer(ts, pop.accounts[rng.choice(people)][0], a, price, -1)
        out = int(price * rng.uniform(0.95, 0.985))
        later = ts + int(rng.uniform(2, 8) * HOUR)
        if rng.random() < 0.4:
            sim.transfer(later, a, pop.accounts[rng.choice(people)][0], out, -1)
        else:
            sim.add(later, a, "out", "wire", "online", out, external(rng, country, "person"))


def business_wires(sim: Simulation, p: Profiles, day: Day) -> None:
    """Entities' wires in and out, at home and abroad; an MSB sweeps its takings out."""
    t = p.tables["biz_wires"]
    idx = day.draw(t, 1.0 if day.business else 0.0)
    if not idx.size:
        return
    rng = day.rng("business-wire")
    parties = sim.parties
    abroad = sim.world.foreign_party_share
    for s, a, scale, ts, out_share, mx in zip(
        t.subj[idx].tolist(),
        t.acct[idx].tolist(),
        t.scale[idx].tolist(),
        day.times(idx.size, 9, 17),
        t.aux[idx].tolist(),
        t.aux2[idx].tolist(),
        strict=True,
    ):
        base = scale or sim.cash_daily[s] * 1.0
        amount = max(100, int(base * rng.lognormvariate(0, 0.8 if scale else 0.15)))
        direction = "out" if rng.random() * 100 < out_share else "in"
        if rng.random() < abroad:
            party = rng.choice(parties.foreign_suppliers)
        else:
            pool = (parties.vendors if direction == "out" else parties.clients)[
                "MX" if mx else "US"
            ]
            party = rng.choice(pool)
        sim.wire_with(ts, a, direction, amount, party, -1, rng.random())


def msb_cash_withdrawals(sim: Simulation, p: Profiles, day: Day) -> None:
    """An MSB (check casher) draws cash at its bank to pay out checks."""
    t = p.tables["cash_out"]
    idx = day.draw(t, 1.0 if day.business else 0.0)
    for a, amount, ts in zip(
        t.acct[idx].tolist(),
        day.noisy(t.scale[idx], 0.4),
        day.times(idx.size, 8, 11),
        strict=True,
    ):
        amount = max(10_000, amount - amount % 10_000)
        sim.add(ts, a, "out", "cash", "branch", amount, None, sim.pop.a_branch[a])


DAILY: tuple[Activity, ...] = (
    card_spend,
    atm_withdrawals,
    cash_deposits,
    payroll_in,
    payroll_batches,
    direct_payroll,
    gig_payouts,
    monthly_income,
    rent,
    utilities,
    other_bills,
    ach_payments,
    person_wires,
    remittances,
    p2p_payments,
    own_transfers,
    large_cash,
    cash_takings,
    card_settlements,
    supplier_payments,
    trade_payments,
    client_payments,
    vendor_payments,
    escrow_closings,
    usd_cash_border,
    offshore_investments,
    payments_abroad,
    business_wires,
    msb_cash_withdrawals,
)


def legit_day(sim: Simulation, profiles: Profiles, k: int, g: np.random.Generator) -> None:
    """Adds day ``k``'s legitimate activity of the whole population to the scene."""
    today = sim.start_date + timedelta(days=k)
    day = Day(k, today, g, sim.active_until > k, sim.seed)
    for activity in DAILY:
        activity(sim, profiles, day)
