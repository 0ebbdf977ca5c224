"""Laundering typologies injected by the synthetic generator (DOMAIN.md §2).

Each typology is a *scheme builder*: given a :class:`World` (the simulated population, its
institutions and accounts) it schedules the transactions of one case. Builders only see the
world through the protocol below, so the wire format, the population and the stream order stay
the generator's business.

:class:`TypologyParams` holds every knob of the injected laundering. ``training()`` and
``evaluation()`` are two deliberately different regimes (other leg fractions, degrees, lags,
cycle lengths, idle periods, …) so that a model trained on one is evaluated on laundering it
has not memorised. The evaluation ranges were chosen from the domain (what else launderers
plausibly do), never by looking at a model's errors.

Amounts handed to the world are integer minor units of the account's own currency ("native");
``World.native`` converts from US dollars.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from refdata.fx import units_per_usd
from refdata.thresholds import MX_ROR_CENTS

TYPOLOGIES: tuple[str, ...] = (
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

# The fixed exchange rate of the simulation is detection's (refdata.fx): features and rules
# convert MXN as the world drew it.
MXN_PER_USD = units_per_usd("MXN")
MXN_PER_USD_X100 = int(MXN_PER_USD * 100)
# MX operación relevante: cash of *at least* the MXN equivalent of USD 7,500, in centavos.
MX_ROR_THRESHOLD_MXN_MINOR = MX_ROR_CENTS * MXN_PER_USD_X100 // 100
# Fan-in legs per FFIEC App. F are "< $3,000".
FAN_IN_LEG_CAP_USD_MINOR = 300_000

# The high-risk countries are refdata.countries.HIGH_RISK_COUNTRIES, which features and rules
# use whole; each parameter regime injects flows to a subset.

# Foreign countries for ordinary cross-border flows (trade partners, beneficiaries).
FOREIGN_COUNTRIES: tuple[str, ...] = (
    "CN",
    "CA",
    "DE",
    "CO",
    "GT",
    "SV",
    "HN",
    "ES",
    "GB",
    "HK",
    "AE",
    "BR",
    "JP",
    "KR",
    "IN",
    "DO",
    "PE",
    "TR",
)

# SAR subtype codes (DOMAIN.md §1.4, design mapping in §2) an institution files for a pattern.
SAR_CODES: dict[str, tuple[str, ...]] = {
    "structuring": ("114", "910", "911"),
    "funnel_account": ("824", "910"),
    "rapid_movement": ("805",),
    "fan_in": ("807", "911"),
    "fan_out": ("805",),
    "round_tripping": ("925",),
    "high_risk_jurisdiction": ("928",),
    "dormant_reactivation": ("812",),
    "cash_intensive_anomaly": ("812", "821"),
    "round_amounts": ("805", "925"),
    "tbml_third_party": ("823", "822"),
}
ALL_SAR_CODES: tuple[str, ...] = tuple(sorted({c for codes in SAR_CODES.values() for c in codes}))

# What an investigator at the filing institution writes; the wording avoids the typology ids.
NARRATIVES: dict[str, tuple[str, ...]] = {
    "114": (
        "Customer made several cash deposits just under the reporting threshold.",
        "Cash deposits kept below the CTR amount on consecutive days.",
    ),
    "910": ("Cash activity at several branches in different locations within a short period.",),
    "911": ("Several individuals appear to act together on the same account.",),
    "824": ("Cash deposited in distant states and withdrawn or wired out shortly afterwards.",),
    "805": (
        "Wire activity without an apparent business purpose.",
        "Funds move in and out of the account repeatedly.",
    ),
    "807": ("Many small deposits from unrelated parties, later consolidated and sent abroad.",),
    "925": ("Transfers between related parties with no apparent economic purpose.",),
    "928": ("Transfers involving a higher-risk jurisdiction without a known business reason.",),
    "812": (
        "Account activity out of pattern with the customer's history.",
        "Activity inconsistent with the declared business and its peers.",
    ),
    "821": ("Source of funds for the cash deposits could not be established.",),
    "823": ("Payments for goods received from parties other than the buyer.",),
    "822": ("Currency exchange activity on behalf of third parties.",),
}

FloatRange = tuple[float, float]
IntRange = tuple[int, int]


@dataclass(frozen=True)
class TypologyParams:
    """Every knob of the injected laundering; two instances are two "regimes".

    Ranges are inclusive ``(low, high)`` and drawn uniformly per case; amounts are US dollars.
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
    # institutions' filings: share of cases with an STR, false STRs per true STR
    str_share: float = 0.3
    false_str_ratio: float = 1.5
    # relative frequency of the typologies (same order as TYPOLOGIES)
    typology_weights: tuple[float, ...] = (3, 2, 2, 2, 1.5, 1.5, 1.5, 1, 1, 1, 1.5)

    @classmethod
    def training(cls) -> TypologyParams:
        """The regime models are trained on."""
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


class World(Protocol):
    """What a scheme builder may do in the simulated world.

    Times are integer seconds since the start of the simulation; ``day_time`` turns a day
    index and a local hour into one. Subjects and accounts are integer handles.
    """

    days: int

    def day_time(self, day: int, local_hour: float) -> int: ...

    def weekday(self, t: int) -> int:
        """The local weekday of a time (Monday 0)."""
        ...

    def pick(self, pool: str, rng: random.Random, n: int = 1) -> list[int]:
        """Draws ``n`` distinct subjects of ``pool`` not yet involved in another case."""
        ...

    def account_of(self, subject: int, where: str | None = None) -> int:
        """The subject's first account in a jurisdiction ("US", "MX") or institution kind."""
        ...

    def jurisdiction(self, account: int) -> str: ...

    def threshold(self, account: int) -> int:
        """The cash reporting threshold of the account's institution, in native minor units."""
        ...

    def native(self, account: int, usd: float) -> int:
        """Converts US dollars to minor units of the account's currency."""
        ...

    def to_usd(self, account: int, amount: int) -> float:
        """Converts native minor units of the account's currency to US dollars."""
        ...

    def branches(self, account: int) -> list[int]:
        """The branches of the account's institution: home branch, same region, the rest."""
        ...

    def branch_region(self, branch: int) -> str: ...

    def cash_scale(self, subject: int) -> int:
        """A business's mean daily cash deposit, native minor units (0 if not cash-based)."""
        ...

    def staff(self, subject: int) -> list[str]:
        """The people who usually make a business's cash deposits."""
        ...

    def person_name(self, rng: random.Random, country: str) -> str: ...

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
    ) -> None: ...

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
        """Moves ``amount`` (source currency): an out leg at the source, an in leg at the target.

        ``delay`` is the seconds until the in leg is booked; by default a few minutes to hours.
        """
        ...

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
        """A transfer with a party outside the simulated population.

        ``channel`` is how an outgoing payment was made; credits get the booking channel.
        """
        ...

    def file_str(
        self,
        t: int,
        account: int,
        case: int,
        categories: list[str],
        narrative: str,
        activity_from: int,
        activity_to: int,
    ) -> None: ...


@dataclass
class Case:
    """One injected laundering scheme (or a benign scripted episode when typology is None)."""

    index: int
    case_id: str
    typology: str
    day: int
    subject: int = -1  # pre-selected main subject (dormant reactivation), else -1
    idle_days: int = 0


HOUR = 3600
DAY = 86_400


def _ri(rng: random.Random, bounds: IntRange) -> int:
    return rng.randint(bounds[0], bounds[1])


def _rf(rng: random.Random, bounds: FloatRange) -> float:
    return rng.uniform(bounds[0], bounds[1])


def _workday(world: World, t: int) -> int:
    """Moves a time falling on a weekend to the same local time on the next Monday."""
    while world.weekday(t) >= 5:
        t += DAY
    return t


def _business_day(world: World, day: int, rng: random.Random) -> int:
    """Returns a time during local business hours (09:00–17:00) of ``day``, or the next workday.

    Wires, ACH and branch cash of the legitimate population happen on business days, so
    schemes keep to them too (a weekend wire would give the label away).
    """
    return _workday(world, world.day_time(day, rng.uniform(9.0, 17.0)))


def _round_down(amount: int, unit: int) -> int:
    return max(unit, amount - amount % unit)


def _maybe_file(
    world: World,
    rng: random.Random,
    params: TypologyParams,
    case: Case,
    account: int,
    first: int,
    last: int,
) -> None:
    """Has the account's institution file an STR on some cases, days after the activity."""
    if rng.random() >= params.str_share:
        return
    codes = SAR_CODES[case.typology]
    # Institutions do not always classify the activity the way the FIU would.
    code = rng.choice(codes) if rng.random() < 0.8 else rng.choice(ALL_SAR_CODES)
    categories = sorted({code} | ({rng.choice(codes)} if rng.random() < 0.3 else set()))
    prefix = "SAR" if world.jurisdiction(account) == "US" else "ROI"
    narrative = rng.choice(NARRATIVES[categories[0]])
    filed = last + int(rng.uniform(2, 25) * DAY)
    world.file_str(
        filed, account, case.index, [f"{prefix}-{c}" for c in categories], narrative, first, last
    )


def structuring(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """Cash legs in [f_lo, f_hi] x threshold, several branches and conductors, daily sum > T."""
    jurisdiction = "MX" if rng.random() < params.structuring_mx_share else "US"
    pool = "person_mx" if jurisdiction == "MX" else "person_us"
    if rng.random() < 0.25:
        pool = "entity_mx" if jurisdiction == "MX" else "entity_us"
    main = world.pick(pool, rng)[0]
    account = world.account_of(main, jurisdiction)
    limit = world.threshold(account)
    branches = world.branches(account)
    n_branches = min(len(branches), _ri(rng, params.structuring_branches))
    nearby = branches[1 : n_branches + 3]
    used_branches = [branches[0], *rng.sample(nearby, min(len(nearby), n_branches - 1))]
    n_conductors = _ri(rng, params.structuring_conductors)
    own_accounts = rng.random() < params.structuring_own_accounts_share
    person_pool = "person_mx" if jurisdiction == "MX" else "person_us"
    conductor_accounts: list[int] = []
    conductor_names: list[str] = []
    if own_accounts:
        conductor_accounts = [
            world.account_of(s, jurisdiction) for s in world.pick(person_pool, rng, n_conductors)
        ]
    else:
        country = jurisdiction
        conductor_names = [world.person_name(rng, country) for _ in range(n_conductors)]
    n_days = _ri(rng, params.structuring_days)
    first = last = world.day_time(case.day, 9.0)
    total = 0
    day = case.day
    for _ in range(n_days):
        legs = _ri(rng, params.structuring_legs_per_day)
        times = sorted(_business_day(world, day, rng) for _ in range(legs))
        for leg, t in enumerate(times):
            amount = int(_rf(rng, params.structuring_leg_fraction) * limit)
            if rng.random() < 0.5:
                amount = _round_down(amount, 10_000 if jurisdiction == "US" else 100_000)
            amount = min(amount, limit - 100)
            branch = used_branches[leg % len(used_branches)]
            if own_accounts:
                source = conductor_accounts[leg % len(conductor_accounts)]
                # Each conductor uses branches of their own bank, near home.
                options = world.branches(source)[:n_branches]
                world.cash(t, source, "in", amount, case.index, branch=options[leg % len(options)])
                delay = int(rng.uniform(0.5, 30) * HOUR)
                world.transfer(
                    t + 60, source, account, amount, case.index, instrument="ach", delay=delay
                )
            else:
                conductor = conductor_names[leg % len(conductor_names)]
                world.cash(t, account, "in", amount, case.index, branch=branch, conductor=conductor)
            total += amount
            last = max(last, t)
        day += 1 if rng.random() < 0.7 else 2
    # The structured cash leaves soon after, usually across the border.
    out_day = day + rng.randint(0, 3)
    t = _business_day(world, out_day, rng)
    country = "MX" if jurisdiction == "US" else rng.choice(("US", "CO", "GT", "PA"))
    world.external(t, account, "out", int(total * rng.uniform(0.8, 0.97)), country, case.index, rng)
    _maybe_file(world, rng, params, case, account, first, t)


def funnel_account(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """Cash in branches of many US states, quickly withdrawn at the border or wired to MX."""
    main = world.pick("national_us", rng)[0]
    account = world.account_of(main, "US")
    limit = world.threshold(account)
    by_state: dict[str, list[int]] = {}
    for branch in world.branches(account):
        by_state.setdefault(world.branch_region(branch), []).append(branch)
    states = sorted(by_state)
    n_states = min(len(states), _ri(rng, params.funnel_states))
    chosen = rng.sample(states, n_states)
    border = [s for s in ("TX", "AZ", "CA", "NM") if s in by_state] or states
    recipients = [world.account_of(s, "MX") for s in world.pick("entity_mx", rng, 2)]
    n_deposits = _ri(rng, params.funnel_deposits)
    day = case.day
    first = world.day_time(day, 9.0)
    last = first
    pending = 0
    for i in range(n_deposits):
        state = chosen[i % len(chosen)]
        t = _business_day(world, day, rng)
        amount = int(_rf(rng, params.funnel_deposit_fraction) * limit)
        conductor = world.person_name(rng, "US")
        world.cash(
            t,
            account,
            "in",
            amount,
            case.index,
            branch=rng.choice(by_state[state]),
            conductor=conductor,
        )
        pending += amount
        last = max(last, t)
        if rng.random() < 0.45 or i == n_deposits - 1:
            lag = _workday(world, t + int(_rf(rng, params.funnel_lag_hours) * HOUR)) - t
            out = int(pending * rng.uniform(0.9, 0.99))
            if rng.random() < params.funnel_wire_share:
                world.transfer(t + lag, account, rng.choice(recipients), out, case.index)
            else:
                branch = rng.choice(by_state[rng.choice(border)])
                # Withdrawn in pieces, each short of the CTR amount when it can be.
                while out > 0:
                    piece = min(out, int(limit * rng.uniform(0.6, 0.98)))
                    world.cash(t + lag, account, "out", piece, case.index, branch=branch)
                    out -= piece
                    lag += int(rng.uniform(0.1, 2.0) * HOUR)
            last = max(last, t + lag)
            pending = 0
        if rng.random() < 0.6:
            day += 1
    _maybe_file(world, rng, params, case, account, first, last)


def rapid_movement(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """Funds come in and leave within hours, in/out ratio close to one, several times."""
    pool = rng.choice(("person_us", "entity_us", "entity_mx", "person_mx"))
    main = world.pick(pool, rng)[0]
    account = world.account_of(main)
    feeders = [world.account_of(s) for s in world.pick("entity_any", rng, 2)]
    sinks = [world.account_of(s) for s in world.pick("entity_any", rng, 2)]
    cycles = _ri(rng, params.rapid_cycles)
    day = case.day
    first = last = world.day_time(day, 9.0)
    for _ in range(cycles):
        t = _business_day(world, day, rng)
        amount_usd = _rf(rng, params.rapid_amount_usd)
        dwell = int(_rf(rng, params.rapid_dwell_hours) * HOUR)
        ratio = _rf(rng, params.rapid_out_ratio)
        if rng.random() < 0.5:
            source = rng.choice(feeders)
            incoming = world.native(source, amount_usd)
            world.transfer(t, source, account, incoming, case.index, delay=rng.randint(60, 1_800))
        else:
            country = rng.choice(FOREIGN_COUNTRIES)
            world.external(
                t,
                account,
                "in",
                world.native(account, amount_usd),
                country,
                case.index,
                rng,
                channel="correspondent",
            )
        out_native = world.native(account, amount_usd * ratio)
        t_out = _workday(world, t + 300 + dwell)
        if rng.random() < 0.5:
            world.transfer(t_out, account, rng.choice(sinks), out_native, case.index)
        else:
            country = rng.choice(("MX", "US", *FOREIGN_COUNTRIES[:8]))
            world.external(t_out, account, "out", out_native, country, case.index, rng)
        last = max(last, t_out)
        day += rng.randint(1, 4)
    _maybe_file(world, rng, params, case, account, first, last)


def fan_in(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """Many originators make small deposits (< $3,000) to collectors, consolidated, sent abroad."""
    master = world.account_of(world.pick(rng.choice(("person_us", "entity_us")), rng)[0], "US")
    n_collectors = _ri(rng, params.fan_in_collectors)
    collectors = [world.account_of(s, "US") for s in world.pick("person_us", rng, n_collectors)]
    degree = _ri(rng, params.fan_in_degree)
    n_population = degree // 2
    originators = [world.account_of(s, "US") for s in world.pick("person_us", rng, n_population)]
    span = _ri(rng, params.fan_in_days)
    cap = FAN_IN_LEG_CAP_USD_MINOR - 100
    collected = [0] * len(collectors)
    first = world.day_time(case.day, 9.0)
    last = first
    for i in range(degree):
        day = case.day + rng.randint(0, span - 1)
        t = world.day_time(day, rng.uniform(8.0, 20.0))
        k = i % len(collectors)
        collector = collectors[k]
        amount = min(cap, world.native(collector, _rf(rng, params.fan_in_leg_usd)))
        if rng.random() < 0.4:
            amount = _round_down(amount, 5_000)
        if i < len(originators):
            channel = rng.choice(("mobile", "online"))
            world.transfer(
                t,
                originators[i],
                collector,
                amount,
                case.index,
                instrument="ach",
                channel=channel,
                delay=rng.randint(5, 600),
            )
        else:
            t = _business_day(world, day, rng)
            branches = world.branches(collector)
            world.cash(
                t,
                collector,
                "in",
                amount,
                case.index,
                branch=rng.choice(branches[:4]),
                conductor=world.person_name(rng, "US"),
            )
        collected[k] += amount
        last = max(last, t)
    t = _workday(world, world.day_time(case.day + span, rng.uniform(9.0, 12.0)))
    total = 0
    for collector, amount in zip(collectors, collected, strict=True):
        if amount == 0:
            continue
        moved = int(amount * rng.uniform(0.9, 1.0))
        world.transfer(t, collector, master, moved, case.index)
        total += moved
        t += int(rng.uniform(0.2, 3) * HOUR)
    t = _workday(world, t + int(rng.uniform(2, 48) * HOUR))
    country = rng.choice(("MX", "CO", "GT", "CN", "HN", "SV"))
    world.external(t, master, "out", int(total * rng.uniform(0.9, 0.99)), country, case.index, rng)
    _maybe_file(world, rng, params, case, master, first, t)


def fan_out(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """One account pays an unusually large number and variety of beneficiaries."""
    pool = rng.choice(("entity_us", "person_us", "entity_mx"))
    account = world.account_of(world.pick(pool, rng)[0])
    total = world.native(account, _rf(rng, params.fan_out_amount_usd))
    t0 = _business_day(world, case.day, rng)
    if rng.random() < 0.6:
        world.external(
            t0,
            account,
            "in",
            total,
            rng.choice(FOREIGN_COUNTRIES),
            case.index,
            rng,
            channel="correspondent",
        )
    else:
        source = world.account_of(world.pick("entity_any", rng)[0])
        incoming = world.native(source, world.to_usd(account, total))
        world.transfer(t0 - 600, source, account, incoming, case.index)
    degree = _ri(rng, params.fan_out_degree)
    n_countries = min(len(FOREIGN_COUNTRIES), _ri(rng, params.fan_out_countries))
    countries = rng.sample(FOREIGN_COUNTRIES, n_countries)
    n_domestic = int(degree * rng.uniform(0.0, 0.4))
    domestic = [world.account_of(s) for s in world.pick("person_any", rng, n_domestic)]
    weights = [rng.uniform(0.5, 1.5) for _ in range(degree)]
    scale = total * rng.uniform(0.85, 0.98) / sum(weights)
    span = _ri(rng, params.fan_out_days)
    last = t0
    for i, weight in enumerate(weights):
        day = case.day + rng.randint(0, span)
        t = max(t0 + HOUR + rng.randint(0, 4 * HOUR), _business_day(world, day, rng))
        amount = max(100, int(weight * scale))
        if i < len(domestic):
            world.transfer(t, account, domestic[i], amount, case.index)
        else:
            country = countries[i % len(countries)]
            world.external(
                t,
                account,
                "out",
                amount,
                country,
                case.index,
                rng,
                party_type="person" if rng.random() < 0.6 else "entity",
            )
        last = max(last, t)
    _maybe_file(world, rng, params, case, account, t0, last)


def round_tripping(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """A -> B -> ... -> A, returning most of the value, often across the border."""
    length = _ri(rng, params.cycle_length)
    main = world.pick(rng.choice(("entity_us", "entity_mx")), rng)[0]
    others = world.pick("entity_any", rng, length - 1)
    accounts = [world.account_of(main), *(world.account_of(s) for s in others)]
    repeats = _ri(rng, params.cycle_repeats)
    t = _business_day(world, case.day, rng)
    first = t
    for _ in range(repeats):
        usd = _rf(rng, params.cycle_amount_usd)
        returned = _rf(rng, params.cycle_return)
        keep = returned ** (1.0 / length)
        for hop in range(length):
            source, target = accounts[hop], accounts[(hop + 1) % length]
            amount = world.native(source, usd)
            world.transfer(
                t, source, target, amount, case.index, delay=int(rng.uniform(60, 4 * HOUR))
            )
            usd *= keep
            t = _workday(world, t + int(_rf(rng, params.cycle_hop_hours) * HOUR) + 4 * HOUR)
        t = _workday(world, t + int(rng.uniform(1, 10) * DAY))
    _maybe_file(world, rng, params, case, accounts[0], first, t)


def high_risk_jurisdiction(
    world: World, rng: random.Random, params: TypologyParams, case: Case
) -> None:
    """Transfers with counterparties in higher-risk countries, no business reason."""
    pool = rng.choice(("person_us", "person_mx", "entity_us", "entity_mx"))
    account = world.account_of(world.pick(pool, rng)[0])
    n = _ri(rng, params.hrj_transfers)
    day = case.day
    first = last = _business_day(world, day, rng)
    for _ in range(n):
        t = _business_day(world, day, rng)
        amount = world.native(account, _rf(rng, params.hrj_amount_usd))
        if rng.random() < 0.5:
            amount = _round_down(amount, 100_000)
        direction = "out" if rng.random() < params.hrj_outbound_share else "in"
        country = rng.choice(params.high_risk_countries)
        world.external(
            t,
            account,
            direction,
            amount,
            country,
            case.index,
            rng,
            channel="correspondent" if direction == "in" else "online",
        )
        first, last = min(first, t), max(last, t)
        day += rng.randint(1, 6)
    _maybe_file(world, rng, params, case, account, first, last)


def dormant_reactivation(
    world: World, rng: random.Random, params: TypologyParams, case: Case
) -> None:
    """An account idle for months suddenly sees large deposits and withdrawals."""
    account = world.account_of(case.subject)
    volume = _rf(rng, params.dormant_volume_usd)
    active = _ri(rng, params.dormant_active_days)
    first = _business_day(world, case.day, rng)
    last = first
    moved_in = 0
    n_in = rng.randint(1, 4)
    for i in range(n_in):
        day = case.day + (0 if i == 0 else rng.randint(0, active))
        t = max(first, _business_day(world, day, rng))
        amount = world.native(account, volume / n_in * rng.uniform(0.7, 1.3))
        kind = rng.random()
        if kind < 0.5:
            world.external(
                t,
                account,
                "in",
                amount,
                rng.choice(("US", "MX", *FOREIGN_COUNTRIES[:6])),
                case.index,
                rng,
                channel="correspondent",
            )
        elif kind < 0.75:
            world.cash(t, account, "in", min(amount, 3 * world.threshold(account)), case.index)
        else:
            source = world.account_of(world.pick("entity_any", rng)[0])
            world.transfer(t, source, account, world.native(source, volume / n_in), case.index)
        moved_in += amount
        last = max(last, t)
    out = int(moved_in * rng.uniform(0.85, 1.0))
    n_out = rng.randint(1, 5)
    shares = [rng.uniform(0.5, 1.5) for _ in range(n_out)]
    for share in shares:
        t = _workday(world, last + int(rng.uniform(2, 24 * max(1, active // 2)) * HOUR))
        piece = max(100, int(out * share / sum(shares)))
        if rng.random() < 0.7:
            country = rng.choice(("MX", "US", *FOREIGN_COUNTRIES))
            world.external(t, account, "out", piece, country, case.index, rng)
        else:
            world.cash(t, account, "out", piece, case.index)
        last = max(last, t)
    _maybe_file(world, rng, params, case, account, first, last)


def cash_intensive_anomaly(
    world: World, rng: random.Random, params: TypologyParams, case: Case
) -> None:
    """A cash business deposits far more cash than its peers, with a flat weekly profile."""
    subject = world.pick(rng.choice(("cash_us", "cash_us", "cash_mx")), rng)[0]
    account = world.account_of(subject)
    daily = world.cash_scale(subject)
    jump = _rf(rng, params.cash_jump_factor)
    span = _ri(rng, params.cash_jump_days)
    branches = world.branches(account)
    staff = world.staff(subject)
    first = _business_day(world, case.day, rng)
    last = first
    week_total = 0
    for offset in range(span):
        day = case.day + offset
        extra = int(daily * (jump - 1.0) * rng.uniform(0.8, 1.2))
        if rng.random() < 0.6:
            parts = [extra]
        else:
            head = int(extra * rng.uniform(0.3, 0.7))
            parts = [head, extra - head]
        for amount in parts:
            t = world.day_time(day, rng.uniform(10.0, 19.0))
            if rng.random() < 0.7:
                conductor = rng.choice(staff)
            else:
                conductor = world.person_name(rng, world.jurisdiction(account))
            world.cash(
                t,
                account,
                "in",
                max(100, amount),
                case.index,
                branch=rng.choice(branches[:3]),
                conductor=conductor,
            )
            last = max(last, t)
        week_total += extra
        if offset % 7 == 6 or offset == span - 1:
            t = _business_day(world, day + 1, rng)
            country = rng.choice(("MX", "CN", "CO", "US", "GT"))
            world.external(
                t, account, "out", int(week_total * rng.uniform(0.6, 0.9)), country, case.index, rng
            )
            last = max(last, t)
            week_total = 0
    _maybe_file(world, rng, params, case, account, first, last)


def round_amounts(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """Repeated transactions in round hundred or thousand amounts."""
    pool = rng.choice(("person_us", "entity_us", "person_mx", "entity_mx"))
    account = world.account_of(world.pick(pool, rng)[0])
    unit = rng.choice(params.round_units_usd)
    if world.jurisdiction(account) == "MX":
        unit *= 10  # round peso amounts: 10,000 / 50,000 MXN
    n = _ri(rng, params.round_count)
    day = case.day
    first = last = _business_day(world, day, rng)
    partners = [world.account_of(s) for s in world.pick("entity_any", rng, 2)]
    for _ in range(n):
        t = _business_day(world, day, rng)
        amount = unit * 100 * _ri(rng, params.round_multiples)
        kind = rng.random()
        if kind < 0.3:
            world.cash(t, account, rng.choice(("in", "out")), amount, case.index)
        elif kind < 0.6:
            direction = rng.choice(("in", "out"))
            world.external(
                t,
                account,
                direction,
                amount,
                rng.choice(("US", "MX", *FOREIGN_COUNTRIES[:6])),
                case.index,
                rng,
                instrument=rng.choice(("wire", "check")),
            )
        else:
            partner = rng.choice(partners)
            if rng.random() < 0.5:
                world.transfer(t, account, partner, amount, case.index)
            else:
                if world.jurisdiction(partner) != world.jurisdiction(account):
                    theirs = _round_down(
                        world.native(partner, world.to_usd(account, amount)), 10_000
                    )
                else:
                    theirs = amount
                world.transfer(t, partner, account, theirs, case.index)
        first, last = min(first, t), max(last, t)
        day += rng.randint(0, 3)
    _maybe_file(world, rng, params, case, account, first, last)


def tbml_third_party(world: World, rng: random.Random, params: TypologyParams, case: Case) -> None:
    """A US exporter is paid by third parties (casas de cambio, unrelated businesses)."""
    exporter = world.account_of(world.pick("trade_us", rng)[0], "US")
    n = _ri(rng, params.tbml_payers)
    n_casa = sum(1 for _ in range(n) if rng.random() < params.tbml_casa_share)
    casa_customers = world.pick("casa_customer", rng, n_casa)
    payers = [world.account_of(s, "casa_de_cambio") for s in casa_customers]
    # Businesses whose trade has nothing to do with the exporter's goods.
    payers += [world.account_of(s) for s in world.pick("nontrade_entity", rng, n - n_casa)]
    span = _ri(rng, params.tbml_days)
    first = last = _business_day(world, case.day, rng)
    for payer in payers:
        for _ in range(rng.randint(1, 3)):
            t = _business_day(world, case.day + rng.randint(0, span), rng)
            amount = world.native(payer, _rf(rng, params.tbml_amount_usd))
            world.transfer(
                t, payer, exporter, amount, case.index, delay=int(rng.uniform(1, 20) * HOUR)
            )
            first, last = min(first, t), max(last, t + 20 * HOUR)
    _maybe_file(world, rng, params, case, exporter, first, last)


SchemeBuilder = Callable[[World, random.Random, TypologyParams, Case], None]

BUILDERS: dict[str, SchemeBuilder] = {
    "structuring": structuring,
    "funnel_account": funnel_account,
    "rapid_movement": rapid_movement,
    "fan_in": fan_in,
    "fan_out": fan_out,
    "round_tripping": round_tripping,
    "high_risk_jurisdiction": high_risk_jurisdiction,
    "dormant_reactivation": dormant_reactivation,
    "cash_intensive_anomaly": cash_intensive_anomaly,
    "round_amounts": round_amounts,
    "tbml_third_party": tbml_third_party,
}

# How many days a scheme may span after its start (for scheduling within the horizon).
SPAN_DAYS: dict[str, int] = {
    "structuring": 10,
    "funnel_account": 20,
    "rapid_movement": 25,
    "fan_in": 22,
    "fan_out": 12,
    "round_tripping": 30,
    "high_risk_jurisdiction": 25,
    "dormant_reactivation": 20,
    "cash_intensive_anomaly": 40,
    "round_amounts": 25,
    "tbml_third_party": 30,
}
