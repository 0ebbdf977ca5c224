"""The scene of one run: population, institutions, parties and the events scheduled so far.

:class:`Simulation` implements ``simulator.typologies.Scene``: scheme builders and legitimate
look-alikes act on it (pick subjects, move money, file reports); the legitimate daily
activity (``simulator.legit``) adds its events through the same methods.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from refdata.thresholds import US_CTR_CENTS
from simulator.events import DAY, HOUR, Events, Party
from simulator.parties import External, Parties, external
from simulator.population import (
    ENTITY_CODES,
    PERSON_CODES,
    SEGMENT_CODE,
    Institution,
    Population,
    build_population,
    has_kind,
    person_name,
    world_institutions,
)
from simulator.reference import (
    COUNTRY_CURRENCY,
    MX_ROR_THRESHOLD_MXN_MINOR,
    MXN_PER_USD_X100,
    convert,
)
from simulator.world import World

# Local business time in the simulated US and Mexico is about UTC-6.
LOCAL_OFFSET = 6 * HOUR

# Pools of subjects scheme builders and look-alikes draw from, and where to look when empty.
POOL_FALLBACK = {
    "person_us": "person_any",
    "person_mx": "person_any",
    "entity_us": "entity_any",
    "entity_mx": "entity_any",
    "national_us": "person_us",
    "cash_us": "entity_us",
    "cash_mx": "entity_mx",
    "cash_any": "entity_any",
    "trade_us": "entity_us",
    "trade_any": "entity_any",
    "casa_customer": "person_mx",
    "nontrade_entity": "entity_any",
    "employer": "entity_any",
}


class Simulation:
    """One run's world in motion (see the module docstring)."""

    def __init__(
        self,
        world: World,
        seed: int,
        start: datetime,
        days: int,
        n_subjects: int,
        *,
        pool_scale: float | None = None,
    ) -> None:
        self.world = world
        self.seed = seed
        self.days = days
        start = start.astimezone(UTC)
        self.t0 = int(start.timestamp())
        self.start_date = start.date()
        self.start_weekday = self.start_date.weekday()
        self.insts: tuple[Institution, ...] = world_institutions(world)
        self.inst_country = [inst.jurisdiction for inst in self.insts]
        self.inst_currency = [inst.currency for inst in self.insts]
        self.events = Events()
        self.used: set[int] = set()
        rng = random.Random(f"{seed}:population")  # noqa: S311 - a seeded simulation, not security
        self.pop: Population
        self.pop, self.branch_index = build_population(
            world, n_subjects, rng, self.start_date, self.insts
        )
        self.n_subjects = self.pop.size
        self.a_inst = self.pop.a_inst
        self.parties = Parties.draw(rng, world.pool_scale if pool_scale is None else pool_scale)
        self.cash_daily = np.zeros(self.n_subjects, dtype=np.int64)
        self.conductors: dict[int, tuple[str, str]] = {}
        # A subject is active on day k while active_until > k (dormant accounts: never).
        self.active_until: npt.NDArray[np.int64] = np.full(self.n_subjects, 1 << 40, np.int64)
        self.pools = self._build_pools()

    # ---- pools ------------------------------------------------------------------------------
    def _build_pools(self) -> dict[str, array[int]]:
        pop = self.pop
        dormant = set(pop.dormant)
        national = {
            i
            for i, inst in enumerate(self.insts)
            if len(set(inst.regions)) >= 10 and inst.jurisdiction == "US"
        }
        seg = pop.segment
        cash, trade, escrow = SEGMENT_CODE["cash"], SEGMENT_CODE["trade"], SEGMENT_CODE["escrow"]
        nontrade = {SEGMENT_CODE[s] for s in ("cash", "service", "landlord", "car_dealer")}
        employers = {SEGMENT_CODE[s] for s in ("service", "payroll", "trade", "wholesale")}
        entities = ENTITY_CODES - {escrow, SEGMENT_CODE["msb"]}

        def members(test: Callable[[int], bool]) -> array[int]:
            # Compact int arrays: pools hold most of the population several times over.
            return array("q", (s for s in range(pop.size) if s not in dormant and test(s)))

        def us(s: int) -> bool:
            return pop.country[s] == "US"

        return {
            "person_us": members(lambda s: us(s) and seg[s] in PERSON_CODES),
            "person_mx": members(lambda s: not us(s) and seg[s] in PERSON_CODES),
            "entity_us": members(lambda s: us(s) and seg[s] in entities),
            "entity_mx": members(lambda s: not us(s) and seg[s] in entities),
            "entity_any": members(lambda s: seg[s] in entities),
            "person_any": members(lambda s: seg[s] in PERSON_CODES),
            "national_us": members(
                lambda s: us(s) and seg[s] != escrow and pop.a_inst[pop.accounts[s][0]] in national
            ),
            "cash_us": members(lambda s: us(s) and seg[s] == cash),
            "cash_mx": members(lambda s: not us(s) and seg[s] == cash),
            "cash_any": members(lambda s: seg[s] == cash),
            "trade_us": members(lambda s: us(s) and seg[s] == trade),
            "trade_any": members(lambda s: seg[s] == trade),
            "casa_customer": members(lambda s: has_kind(pop, self.insts, s, "casa_de_cambio")),
            "nontrade_entity": members(lambda s: seg[s] in nontrade),
            "employer": members(lambda s: seg[s] in employers),
        }

    # ---- the Scene protocol -----------------------------------------------------------------
    def day_time(self, day: int, local_hour: float) -> int:
        return day * DAY + LOCAL_OFFSET + int(local_hour * HOUR)

    def weekday(self, t: int) -> int:
        return (self.start_weekday + (t - LOCAL_OFFSET) // DAY) % 7

    def pick(self, pool: str, rng: random.Random, n: int = 1) -> list[int]:
        members = self.pools.get(pool)
        while not members:
            pool = POOL_FALLBACK.get(pool, "person_any")
            members = self.pools[pool] or array("q", [0])
        chosen: list[int] = []
        for _ in range(n):
            for _attempt in range(40):
                subject = rng.choice(members)
                if subject not in self.used and subject not in chosen:
                    break
            else:  # a small population: allow a subject in two episodes rather than fail
                subject = rng.choice(members)
            chosen.append(subject)
            self.used.add(subject)
        return chosen

    def account_of(self, subject: int, where: str | None = None) -> int:
        accounts = self.pop.accounts[subject]
        if where is None:
            return accounts[0]
        for account in accounts:
            inst = self.insts[self.a_inst[account]]
            if where in (inst.jurisdiction, inst.kind):
                return account
        return accounts[0]

    def jurisdiction(self, account: int) -> str:
        return self.inst_country[self.a_inst[account]]

    def threshold(self, account: int) -> int:
        if self.inst_country[self.a_inst[account]] == "US":
            return US_CTR_CENTS
        return MX_ROR_THRESHOLD_MXN_MINOR

    def native(self, account: int, usd: float) -> int:
        if self.inst_currency[self.a_inst[account]] == "USD":
            return max(1, int(usd * 100))
        return max(1, int(usd * MXN_PER_USD_X100))

    def to_usd(self, account: int, amount: int) -> float:
        if self.inst_currency[self.a_inst[account]] == "USD":
            return amount / 100
        return amount / MXN_PER_USD_X100

    def branches(self, account: int) -> list[int]:
        return self.branch_index.ordered(self.a_inst[account], self.pop.a_branch[account])

    def branch_region(self, branch: int) -> str:
        return self.branch_index.region[branch]

    def cash_scale(self, subject: int) -> int:
        return int(self.cash_daily[subject]) or 150_000

    def staff(self, subject: int) -> list[str]:
        names = self.conductors.get(subject)
        return list(names) if names else [self.pop.name[subject]]

    def person_name(self, rng: random.Random, country: str) -> str:
        return person_name(rng, country)

    def cash(
        self,
        t: int,
        account: int,
        direction: str,
        amount: int,
        case: int,
        *,
        branch: int = -1,
        conductor: str | None = None,
        channel: str = "branch",
    ) -> None:
        if branch < 0:
            branch = self.pop.a_branch[account]
        party: External | None = None
        if conductor is not None:
            party = (conductor, None, None, self.inst_country[self.a_inst[account]], "person")
        self.events.add(t, account, direction, "cash", channel, amount, None, party, branch, case)

    def transfer(
        self,
        t: int,
        source: int,
        target: int,
        amount: int,
        case: int,
        *,
        instrument: str = "wire",
        channel: str = "online",
        delay: int | None = None,
    ) -> None:
        source_inst, target_inst = self.a_inst[source], self.a_inst[target]
        if delay is None:
            # Booking delays vary; derived from the sequence so no RNG state is consumed.
            delay = 60 + (self.events.seq * 2_654_435_761) % (6 * HOUR)
        add = self.events.add
        add(t, source, "out", instrument, channel, amount, None, target, -1, case)
        received = convert(amount, self.inst_currency[source_inst], self.inst_currency[target_inst])
        cross = self.inst_country[source_inst] != self.inst_country[target_inst]
        in_channel = "correspondent" if cross and instrument == "wire" else "other"
        add(t + delay, target, "in", instrument, in_channel, received, None, source, -1, case)

    def external(
        self,
        t: int,
        account: int,
        direction: str,
        amount: int,
        country: str,
        case: int,
        rng: random.Random,
        *,
        instrument: str = "wire",
        channel: str = "online",
        party_type: str = "entity",
    ) -> None:
        self.wire_with(
            t, account, direction, amount, external(rng, country, party_type), case, rng.random(),
            instrument=instrument, channel=channel,
        )  # fmt: skip

    def wire_with(
        self,
        t: int,
        account: int,
        direction: str,
        amount: int,
        party: External,
        case: int,
        roll: float,
        *,
        instrument: str = "wire",
        channel: str = "online",
    ) -> None:
        """A payment with an external party; abroad, perhaps booked in the party's currency.

        ``roll`` in [0, 1) decides the currency (below ``World.foreign_currency_share``).
        """
        country = party[3]
        home = self.inst_country[self.a_inst[account]]
        if direction == "in":
            # Incoming funds are booked like every other credit: by correspondent if foreign.
            channel = "other" if country == home or instrument != "wire" else "correspondent"
        amount, currency = self.booked(account, amount, country, roll, instrument)
        self.events.add(
            t, account, direction, instrument, channel, amount, currency, party, -1, case
        )

    def booked(
        self, account: int, amount: int, country: str, roll: float, instrument: str = "wire"
    ) -> tuple[int, str | None]:
        """The amount and currency of a payment with ``country`` (None: the account's own)."""
        if instrument != "wire" or roll >= self.world.foreign_currency_share:
            return amount, None
        own = self.inst_currency[self.a_inst[account]]
        currency = COUNTRY_CURRENCY.get(country, "USD")
        if currency == own or country == self.inst_country[self.a_inst[account]]:
            return amount, None
        return convert(amount, own, currency), currency

    def file_str(
        self,
        t: int,
        account: int,
        case: int,
        categories: list[str],
        narrative: str,
        activity_from: int,
        activity_to: int,
    ) -> None:
        self.events.add_str(t, account, case, categories, narrative, activity_from, activity_to)

    # ---- helpers for the legitimate population ---------------------------------------------
    def add(
        self,
        t: int,
        account: int,
        direction: str,
        instrument: str,
        channel: str,
        amount: int,
        party: Party,
        branch: int = -1,
        episode: int = -1,
    ) -> None:
        """A transaction in the account's own currency."""
        self.events.add(
            t, account, direction, instrument, channel, amount, None, party, branch, episode
        )

    def cash_branch(self, account: int, roll: float) -> int:
        """Where a customer takes cash: the home branch, or one of a roaming customer's."""
        roaming = self.pop.roaming.get(account)
        if roaming is None:
            return self.pop.a_branch[account]
        return roaming[int(roll * len(roaming))]
