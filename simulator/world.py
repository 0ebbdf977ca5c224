"""Worlds: every parameter of a simulated population, its habits and its laundering.

A :class:`World` is what differs between one deployment's population and another's: which
segments of customers it has and how many, how often and how large each segment's payments
are, how much cash each sector handles, whether customers keep to their home branch, how
many counterparties they deal with, how much crosses the border and in which currency, how
often legitimate customers behave like launderers, how readily institutions file defensive
suspicion reports, and how the launderers themselves operate (:class:`TypologyParams`).

``World.default()`` is the population the generator always simulated. ``World.draw(seed)``
samples every parameter from a wide prior (ranges in ``docs/detection.md``, "Worlds"), so
that a detector trained on some worlds can be judged on worlds it never saw.

Habits are multipliers of the default habits of each segment (``simulator.profiles`` holds
the default rates and amounts): ``Activity(rate=2.0, amount=0.5)`` is twice as often, half as
large. Shares are absolute.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

FloatRange = tuple[float, float]
IntRange = tuple[int, int]

PERSON_SEGMENTS: tuple[str, ...] = ("salaried", "gig", "remitter", "retiree", "student")
ENTITY_SEGMENTS: tuple[str, ...] = (
    "cash",  # cash-intensive businesses: restaurants, car washes, convenience stores
    "trade",  # importers and exporters
    "service",  # professional services, contractors
    "wholesale",
    "landlord",
    "payroll",  # payroll employers: staffing agencies, farms, contractors
    "msb",  # money services businesses banked as customers (check cashers, agents)
    "car_dealer",
    "escrow",  # title and escrow companies
)
SEGMENTS: tuple[str, ...] = PERSON_SEGMENTS + ENTITY_SEGMENTS

# Shares of each country's customers by segment in the default world.
DEFAULT_US_MIX: dict[str, float] = {
    "salaried": 0.27,
    "gig": 0.03,
    "remitter": 0.125,
    "retiree": 0.05,
    "student": 0.025,
    "cash": 0.03,
    "trade": 0.02,
    "service": 0.025,
    "wholesale": 0.01,
    "landlord": 0.011,
    "payroll": 0.003,
    "msb": 0.002,
    "car_dealer": 0.003,
    "escrow": 0.004,
}
DEFAULT_MX_MIX: dict[str, float] = {
    "salaried": 0.22,
    "gig": 0.02,
    "remitter": 0.0,
    "retiree": 0.04,
    "student": 0.02,
    "cash": 0.03,
    "trade": 0.025,
    "service": 0.025,
    "wholesale": 0.01,
    "landlord": 0.01,
    "payroll": 0.002,
    "msb": 0.001,
    "car_dealer": 0.002,
    "escrow": 0.0,
}

# Legitimate episodes shaped like laundering, in episodes per 1,000 subjects per 30 days.
LOOKALIKES: tuple[str, ...] = (
    "near_threshold",  # a business that deposits just under the reporting threshold at times
    "treasury_sweep",  # an entity that passes money through within the day
    "crowd_receiver",  # a person paid once by many people (a collection, a sale)
    "seasonal",  # a cash business in its season: takings several times the usual
    "dormant_return",  # an idle account woken by an inheritance, a settlement, a sale
    "round_amounts",  # savings, investments and family support in round amounts
    "contractor_payouts",  # an entity paying many people at once, some abroad
    "intercompany",  # related companies lending to each other and paying back
    "third_party_payers",  # an exporter paid by its buyers' agents or factors
)
DEFAULT_LOOKALIKES: dict[str, float] = {
    "near_threshold": 1.0,
    "treasury_sweep": 0.5,
    "crowd_receiver": 1.0,
    "seasonal": 0.5,
    "dormant_return": 3.3,
    "round_amounts": 2.0,
    "contractor_payouts": 0.5,
    "intercompany": 0.3,
    "third_party_payers": 0.3,
}


@dataclass(frozen=True)
class Activity:
    """One kind of activity of a segment, relative to the default world's."""

    rate: float = 1.0  # x the default events per subject and day
    amount: float = 1.0  # x the default amount


@dataclass(frozen=True)
class Habits:
    """How one segment uses its accounts; each field multiplies the default habit.

    Persons: ``card`` spending, ``atm`` withdrawals, ``cash_in`` deposits, ``cash_out`` large
    cash, ``income`` (pay, payouts, pension, allowance), ``bills`` (rent, utilities, other
    bills), ``ach_out`` (other outgoing ACH: loans, card balances, purchases), ``p2p``,
    ``wires`` (domestic wires in and out), ``abroad`` (payments across the border).
    Entities: ``cash_in`` is the sector's cash takings (its cash intensity), ``income`` its
    clients' and card processors' payments, ``bills`` rent, utilities and suppliers,
    ``ach_out`` payroll and direct vendor payments, ``wires`` business wires in and out,
    ``abroad`` trade and other cross-border payments.
    """

    scale: float = 1.0  # x every amount of the segment
    card: Activity = Activity()
    atm: Activity = Activity()
    cash_in: Activity = Activity()
    cash_out: Activity = Activity()
    income: Activity = Activity()
    bills: Activity = Activity()
    ach_out: Activity = Activity()
    p2p: Activity = Activity()
    wires: Activity = Activity()
    abroad: Activity = Activity()


ACTIVITIES: tuple[str, ...] = tuple(f.name for f in fields(Habits) if f.name != "scale")


@dataclass(frozen=True)
class TypologyParams:
    """Every knob of the injected laundering.

    Ranges are inclusive ``(low, high)`` and drawn uniformly per case; amounts are US dollars.
    ``training()`` and ``evaluation()`` are two fixed regimes; drawn worlds sample from the
    envelope of both (:func:`draw_typology`).
    """

    name: str = "training"
    # structuring / smurfing under the US $10,000 and MX USD 7,500 thresholds
    structuring_leg_fraction: FloatRange = (0.85, 0.99)
    structuring_legs_per_day: IntRange = (2, 4)
    structuring_days: IntRange = (1, 3)
    structuring_branches: IntRange = (2, 4)
    structuring_conductors: IntRange = (1, 3)
    structuring_mx_share: float = 0.3
    structuring_own_accounts_share: float = 0.3
    # funnel accounts
    funnel_states: IntRange = (4, 8)
    funnel_deposits: IntRange = (8, 18)
    funnel_deposit_fraction: FloatRange = (0.3, 0.9)
    funnel_lag_hours: FloatRange = (1.0, 24.0)
    funnel_wire_share: float = 0.6
    # rapid movement / pass-through
    rapid_dwell_hours: FloatRange = (0.5, 12.0)
    rapid_cycles: IntRange = (3, 8)
    rapid_amount_usd: FloatRange = (5_000.0, 60_000.0)
    rapid_out_ratio: FloatRange = (0.95, 0.995)
    # fan-in
    fan_in_degree: IntRange = (10, 25)
    fan_in_collectors: IntRange = (1, 3)
    fan_in_leg_usd: FloatRange = (300.0, 2_900.0)
    fan_in_days: IntRange = (3, 10)
    # fan-out
    fan_out_degree: IntRange = (8, 20)
    fan_out_countries: IntRange = (3, 8)
    fan_out_days: IntRange = (1, 5)
    fan_out_amount_usd: FloatRange = (50_000.0, 300_000.0)
    # round-tripping
    cycle_length: IntRange = (3, 4)
    cycle_return: FloatRange = (0.85, 0.98)
    cycle_hop_hours: FloatRange = (2.0, 72.0)
    cycle_repeats: IntRange = (1, 3)
    cycle_amount_usd: FloatRange = (20_000.0, 250_000.0)
    # high-risk jurisdictions
    high_risk_countries: tuple[str, ...] = ("IR", "KP", "MM", "SY", "KY", "VG", "PA")
    hrj_transfers: IntRange = (2, 6)
    hrj_amount_usd: FloatRange = (5_000.0, 150_000.0)
    hrj_outbound_share: float = 0.7
    # dormant reactivation
    dormant_idle_days: IntRange = (180, 365)
    dormant_volume_usd: FloatRange = (20_000.0, 200_000.0)
    dormant_active_days: IntRange = (2, 10)
    # cash-intensive business anomaly
    cash_jump_factor: FloatRange = (2.5, 5.0)
    cash_jump_days: IntRange = (14, 30)
    # round amounts
    round_units_usd: tuple[int, ...] = (1_000, 5_000)
    round_count: IntRange = (4, 10)
    round_multiples: IntRange = (2, 20)
    # trade-based, third-party payments
    tbml_payers: IntRange = (3, 8)
    tbml_casa_share: float = 0.5
    tbml_amount_usd: FloatRange = (15_000.0, 120_000.0)
    tbml_days: IntRange = (5, 20)
    # the institution's filing: share of cases with an STR
    str_share: float = 0.3
    # relative frequency of the typologies (same order as simulator.typologies.TYPOLOGIES)
    typology_weights: tuple[float, ...] = (3, 2, 2, 2, 1.5, 1.5, 1.5, 1, 1, 1, 1.5)

    @classmethod
    def training(cls) -> TypologyParams:
        """The regime the default world uses."""
        return cls()

    @classmethod
    def evaluation(cls) -> TypologyParams:
        """A different regime: shifted and widened ranges, other countries, longer lags."""
        return cls(
            name="evaluation",
            structuring_leg_fraction=(0.78, 0.95),
            structuring_legs_per_day=(2, 6),
            structuring_days=(2, 6),
            structuring_branches=(3, 6),
            structuring_conductors=(2, 6),
            structuring_mx_share=0.4,
            structuring_own_accounts_share=0.5,
            funnel_states=(3, 12),
            funnel_deposits=(6, 30),
            funnel_deposit_fraction=(0.15, 0.95),
            funnel_lag_hours=(6.0, 72.0),
            funnel_wire_share=0.4,
            rapid_dwell_hours=(2.0, 48.0),
            rapid_cycles=(2, 12),
            rapid_amount_usd=(2_000.0, 120_000.0),
            rapid_out_ratio=(0.9, 0.99),
            fan_in_degree=(6, 40),
            fan_in_collectors=(1, 4),
            fan_in_leg_usd=(150.0, 2_999.0),
            fan_in_days=(5, 20),
            fan_out_degree=(5, 35),
            fan_out_countries=(2, 12),
            fan_out_days=(2, 10),
            fan_out_amount_usd=(20_000.0, 500_000.0),
            cycle_length=(2, 6),
            cycle_return=(0.75, 0.95),
            cycle_hop_hours=(12.0, 240.0),
            cycle_repeats=(1, 4),
            cycle_amount_usd=(10_000.0, 400_000.0),
            high_risk_countries=("IR", "KP", "MM", "YE", "HT", "BZ", "SC", "BS"),
            hrj_transfers=(1, 8),
            hrj_amount_usd=(2_000.0, 250_000.0),
            hrj_outbound_share=0.55,
            dormant_idle_days=(240, 900),
            dormant_volume_usd=(10_000.0, 300_000.0),
            dormant_active_days=(1, 20),
            cash_jump_factor=(1.6, 3.0),
            cash_jump_days=(10, 40),
            round_units_usd=(100, 500, 1_000),
            round_count=(3, 14),
            round_multiples=(5, 60),
            tbml_payers=(2, 12),
            tbml_casa_share=0.7,
            tbml_amount_usd=(5_000.0, 200_000.0),
            tbml_days=(3, 30),
        )


def _all_institutions() -> tuple[str, ...]:
    # The registry in simulator.population: 11 US, then 8 MX institutions.
    return tuple(f"US-FI-{n:04d}" for n in range(1, 12)) + tuple(
        f"MX-FI-{n:04d}" for n in range(1, 9)
    )


@dataclass(frozen=True)
class World:
    """Every parameter of one simulated population (see the module docstring)."""

    name: str = "default"
    seed: int | None = None
    # -- population: where customers live, which segments, where they bank
    us_share: float = 0.6  # share of subjects living in the US (the rest in Mexico)
    us_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_US_MIX))
    mx_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MX_MIX))
    institutions: tuple[str, ...] = field(default_factory=_all_institutions)
    dual_banking: float = 1.0  # x the default shares with accounts at a second institution
    dormant_share: float = 0.04  # accounts idle through the run (persons; entities x 0.75)
    recent_account_share: float = 0.07  # accounts opened within the last four months
    # -- habits by segment (multipliers of the default habits)
    habits: dict[str, Habits] = field(default_factory=lambda: {s: Habits() for s in SEGMENTS})
    cash_deposit_every: IntRange = (1, 1)  # days a cash business gathers takings per deposit
    roaming_share: float = 0.0  # customers who take cash to many branches, not only home
    roaming_branches: IntRange = (2, 5)  # branches such a customer uses
    atm_deposit_share: float = 0.0  # persons' cash deposits made at an ATM
    bill_ach_share: float = 0.85  # persons' rent and bills paid by outgoing ACH (else check)
    extra_bills: float = 0.0  # bills per person and month beyond rent and utilities
    payroll_direct_share: float = 0.0  # employers paying each employee, not one batch
    # -- counterparties
    pool_scale: float = 1.0  # x the default pools of merchants, clients, vendors, landlords
    new_party_share: float = 0.3  # client and vendor payments to a party never seen before
    friends: int = 3  # people each person pays now and then
    trade_partners: IntRange = (3, 6)
    # -- across the border and currencies
    foreign_party_share: float = 0.3  # entities' wires with a party abroad
    mx_corridor_share: float = 0.21  # US persons' payments abroad that go to Mexico
    foreign_currency_share: float = 0.0  # cross-border wires booked in the party's currency
    high_risk_trade_share: float = 0.08  # traders with a partner in a traded high-risk country
    # -- legitimate look-alikes and the institutions' defensive filing
    lookalikes: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOOKALIKES))
    defensive_str: float = 4.5  # STRs on legitimate customers per 1,000 subjects per 30 days
    defensive_str_on_lookalikes: float = 0.3  # of those, the share filed on a look-alike
    # -- laundering
    typology: TypologyParams = field(default_factory=TypologyParams.training)

    @classmethod
    def default(cls) -> World:
        """The population the generator simulated before worlds existed."""
        return cls()

    @classmethod
    def draw(cls, seed: int) -> World:
        """Samples every parameter from its prior; the same seed gives the same world."""
        return draw_world(seed)

    def describe(self) -> dict[str, Any]:
        """Every parameter as a JSON-able dict (tuples as lists)."""
        return _jsonable(asdict(self))

    def habit(self, segment: str) -> Habits:
        return self.habits.get(segment) or Habits()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


# ---------------------------------------------------------------------------------------------
# Priors


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _float_range(rng: random.Random, low: float, high: float) -> FloatRange:
    a, b = sorted((rng.uniform(low, high), rng.uniform(low, high)))
    return (round(a, 4), round(b, 4))


def _int_range(rng: random.Random, low: int, high: int) -> IntRange:
    a, b = sorted((rng.randint(low, high), rng.randint(low, high)))
    return (a, b)


def draw_mix(rng: random.Random, default: dict[str, float]) -> dict[str, float]:
    """Each segment's share times log-uniform [1/4, 4], renormalised (absent stays absent)."""
    weights = {s: w * _log_uniform(rng, 0.25, 4.0) for s, w in default.items()}
    total = sum(weights.values())
    return {s: round(w / total, 6) for s, w in weights.items()}


def draw_habits(rng: random.Random) -> Habits:
    """Segment scale log-uniform [0.4, 2.5]; per activity rate [1/4, 4], amount [0.6, 1.7]."""
    activities = {
        name: Activity(
            rate=round(_log_uniform(rng, 0.25, 4.0), 4),
            amount=round(_log_uniform(rng, 0.6, 1.7), 4),
        )
        for name in ACTIVITIES
    }
    return Habits(scale=round(_log_uniform(rng, 0.4, 2.5), 4), **activities)


def draw_institutions(rng: random.Random) -> tuple[str, ...]:
    """3-11 US and 2-8 MX institutions, always two US banks and one MX bank among them."""
    every = _all_institutions()
    us = [i for i in every if i.startswith("US")]
    mx = [i for i in every if i.startswith("MX")]
    # Registry order: US-FI-0001..0008 banks, 0009 credit union, 0010-0011 MSBs;
    # MX-FI-0001..0004 banks, 0005-0007 casas de cambio, 0008 a transmisor.
    us_keep = rng.sample(us[:2], 1) + rng.sample(us[2:8], 1)
    mx_keep = rng.sample(mx[:4], 1)
    us_rest = [i for i in us if i not in us_keep]
    mx_rest = [i for i in mx if i not in mx_keep]
    us_keep += rng.sample(us_rest, rng.randint(3, 11) - len(us_keep))
    mx_keep += rng.sample(mx_rest, rng.randint(2, 8) - len(mx_keep))
    return tuple(i for i in every if i in set(us_keep) | set(mx_keep))


def draw_typology(rng: random.Random) -> TypologyParams:
    """Each range drawn inside the envelope of the training and evaluation regimes."""
    training, evaluation = TypologyParams.training(), TypologyParams.evaluation()
    values: dict[str, Any] = {}
    for item in fields(TypologyParams):
        a, b = getattr(training, item.name), getattr(evaluation, item.name)
        if item.name in ("name", "typology_weights", "high_risk_countries", "round_units_usd"):
            continue
        if isinstance(a, tuple) and isinstance(a[0], int):
            values[item.name] = _int_range(rng, min(a[0], b[0]), max(a[1], b[1]))
        elif isinstance(a, tuple):
            values[item.name] = _float_range(rng, min(a[0], b[0]), max(a[1], b[1]))
    values.update(
        structuring_mx_share=round(rng.uniform(0.1, 0.6), 4),
        structuring_own_accounts_share=round(rng.uniform(0.1, 0.7), 4),
        funnel_wire_share=round(rng.uniform(0.2, 0.8), 4),
        hrj_outbound_share=round(rng.uniform(0.4, 0.9), 4),
        tbml_casa_share=round(rng.uniform(0.3, 0.9), 4),
        str_share=round(rng.uniform(0.05, 0.6), 4),
    )
    countries = sorted(set(training.high_risk_countries) | set(evaluation.high_risk_countries))
    values["high_risk_countries"] = tuple(sorted(rng.sample(countries, rng.randint(3, 8))))
    units = (100, 500, 1_000, 5_000)
    values["round_units_usd"] = tuple(sorted(rng.sample(units, rng.randint(1, 3))))
    values["typology_weights"] = tuple(
        round(w * _log_uniform(rng, 0.5, 2.0), 4) for w in training.typology_weights
    )
    return replace(training, name="drawn", **values)


def draw_world(seed: int) -> World:
    """Samples a world; the priors are listed in docs/detection.md ("Worlds")."""
    rng = random.Random(f"amlscreen-world:{seed}")  # noqa: S311 - a seeded simulation, not security
    every_low = rng.randint(1, 3)
    every_high = rng.randint(every_low, 7)
    return World(
        name=f"world-{seed}",
        seed=seed,
        us_share=round(rng.uniform(0.3, 0.9), 4),
        us_mix=draw_mix(rng, DEFAULT_US_MIX),
        mx_mix=draw_mix(rng, DEFAULT_MX_MIX),
        institutions=draw_institutions(rng),
        dual_banking=round(_log_uniform(rng, 0.3, 3.0), 4),
        dormant_share=round(rng.uniform(0.01, 0.12), 4),
        recent_account_share=round(rng.uniform(0.02, 0.2), 4),
        habits={segment: draw_habits(rng) for segment in SEGMENTS},
        cash_deposit_every=(every_low, every_high),
        roaming_share=round(rng.uniform(0.0, 0.6), 4),
        roaming_branches=(2, rng.randint(3, 10)),
        atm_deposit_share=round(rng.uniform(0.0, 0.6), 4),
        bill_ach_share=round(rng.uniform(0.3, 1.0), 4),
        extra_bills=round(rng.uniform(0.0, 6.0), 4),
        payroll_direct_share=round(rng.uniform(0.0, 0.8), 4),
        pool_scale=round(_log_uniform(rng, 0.2, 5.0), 4),
        new_party_share=round(rng.uniform(0.05, 0.6), 4),
        friends=rng.randint(1, 10),
        trade_partners=_trade_partners(rng),
        foreign_party_share=round(rng.uniform(0.05, 0.8), 4),
        mx_corridor_share=round(rng.uniform(0.1, 0.7), 4),
        foreign_currency_share=round(rng.uniform(0.0, 0.6), 4),
        high_risk_trade_share=round(rng.uniform(0.02, 0.3), 4),
        lookalikes={
            name: round(rate * _log_uniform(rng, 0.2, 8.0), 4)
            for name, rate in DEFAULT_LOOKALIKES.items()
        },
        defensive_str=round(_log_uniform(rng, 1.0, 30.0), 4),
        defensive_str_on_lookalikes=round(rng.uniform(0.0, 0.8), 4),
        typology=draw_typology(rng),
    )


def _trade_partners(rng: random.Random) -> IntRange:
    low = rng.randint(1, 4)
    return (low, low + rng.randint(0, 8))
