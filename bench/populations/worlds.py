"""The catalogue of worlds: who reports, how many customers of which kinds, their habits, and
which typologies are embedded. Every number is drawn from a range by the world's seed, so two
seeds of one world are two different populations of the same kind."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from bench.populations.core import TYPOLOGIES, Branch, Calendar, Institution

US_REGIONS = {
    "TX": -6,
    "CA": -8,
    "AZ": -7,
    "NM": -7,
    "IL": -6,
    "NY": -5,
    "FL": -5,
    "GA": -5,
    "NC": -5,
    "CO": -7,
    "WA": -8,
    "NV": -8,
    "NJ": -5,
    "OK": -6,
    "LA": -6,
}
US_BORDER = ("TX", "CA", "AZ", "NM")
MX_REGIONS = {
    "CMX": -6,
    "JAL": -6,
    "NLE": -6,
    "BC": -8,
    "CHH": -6,
    "SON": -7,
    "TAM": -6,
    "MIC": -6,
    "GTO": -6,
    "PUE": -6,
    "QRO": -6,
    "SIN": -7,
    "YUC": -6,
    "COA": -6,
    "VER": -6,
}
MX_BORDER = ("BC", "SON", "CHH", "COA", "NLE", "TAM")

US_PERSON_SEGMENTS = {
    "salaried": 0.52,
    "gig_worker": 0.1,
    "remitter": 0.1,
    "retiree": 0.12,
    "student": 0.06,
    "affluent": 0.04,
    "self_employed": 0.06,
}
MX_PERSON_SEGMENTS = {
    "mx_salaried": 0.55,
    "mx_remittance_receiver": 0.15,
    "mx_merchant": 0.13,
    "mx_retiree": 0.1,
    "mx_professional": 0.07,
}
US_ENTITY_SEGMENTS = {
    "cash_business": 0.3,
    "wholesaler": 0.08,
    "importer": 0.06,
    "payroll_processor": 0.02,
    "msb_business": 0.03,
    "car_dealer": 0.05,
    "treasury": 0.02,
    "escrow": 0.04,
    "nonprofit": 0.05,
    "professional_services": 0.14,
    "construction": 0.08,
    "landlord": 0.06,
    "seasonal_business": 0.04,
    "produce_importer": 0.03,
}
MX_ENTITY_SEGMENTS = {
    "mx_cash_business": 0.42,
    "mx_gas_station": 0.08,
    "mx_exporter": 0.12,
    "maquiladora": 0.06,
    "mx_importer": 0.14,
    "mx_transport": 0.18,
}
# Walk-in customers of money transmitters and casas de cambio.
MSB_SEGMENTS = {"msb_remitter": 0.75, "check_casher": 0.25}
CAMBIO_SEGMENTS = {"fx_customer": 0.6, "mx_payout_receiver": 0.4}
# Legitimate customers whose behaviour looks like a typology.
LOOKALIKES = {
    "US": (
        "near_threshold_business",
        "wedding",
        "crowdfunding",
        "dormant_returner",
        "cash_tips",
        "hr_trader",
        "round_investor",
        "car_buyer",
    ),
    "MX": (
        "mx_near_threshold_business",
        "wedding",
        "dormant_returner",
        "hr_trader",
        "round_investor",
    ),
}


@dataclass(frozen=True)
class World:
    name: str
    seed: int
    description: str
    calendar: Calendar
    institutions: tuple[Institution, ...]
    n_subjects: int
    entity_share: float
    person_mix: dict[str, dict[str, float]]  # country -> segment weights
    entity_mix: dict[str, dict[str, float]]
    lookalike_share: float
    laundering_share: float
    typologies: tuple[str, ...]
    roaming: tuple[float, float]  # range of the per-customer share of visits away from home
    roaming_breadth: int  # how many other branches a roaming customer uses
    business_scale: float  # multiplier on legitimate business volumes
    person_scale: float
    cross_border: float  # multiplier on legitimate cross-border activity
    fx: dict[str, float]  # units of currency per US dollar
    foreign_currency_share: float  # share of wires in a third currency
    multi_location_share: float  # share of cash businesses depositing at several branches
    dormant_idle_days: int
    extra: dict[str, float] = field(default_factory=dict)


def _fx(rng: random.Random) -> dict[str, float]:
    return {
        "USD": 1.0,
        "MXN": rng.uniform(16.8, 20.4),
        "EUR": rng.uniform(0.84, 0.95),
        "CAD": rng.uniform(1.30, 1.42),
        "GBP": rng.uniform(0.72, 0.82),
        "CNY": rng.uniform(6.9, 7.35),
        "JPY": rng.uniform(140.0, 158.0),
        "COP": rng.uniform(3800.0, 4400.0),
        "GTQ": rng.uniform(7.6, 7.9),
    }


def _institution(
    rng: random.Random,
    country: str,
    kind: str,
    *,
    branches: int,
    regions: int,
    size: float,
    str_scale: float,
    border: bool = False,
    joins_on_day: int = 0,
) -> Institution:
    table = US_REGIONS if country == "US" else MX_REGIONS
    preferred = US_BORDER if country == "US" else MX_BORDER
    names = list(preferred if border else table)
    rng.shuffle(names)
    footprint = names[: max(1, min(regions, len(names)))]
    prefix = {"bank": "FI", "credit_union": "CU", "msb": "MSB", "casa_de_cambio": "CC"}[kind]
    institution_id = f"{country}-{prefix}-{rng.randint(100, 9999):04d}"
    branch_list = []
    for index in range(branches):
        region = (
            footprint[index % len(footprint)] if index < len(footprint) else rng.choice(footprint)
        )
        branch_list.append(
            Branch(f"{prefix}{rng.randint(10, 99)}{index:03d}", region, country, table[region])
        )
    defensive = rng.uniform(0.004, 0.012) * str_scale
    return Institution(
        institution_id=institution_id,
        country=country,
        kind=kind,
        branches=tuple(branch_list),
        size=size,
        defensive_str_rate=defensive,
        str_detection_rate=rng.uniform(0.12, 0.4),
        lvtr_miss_rate=rng.uniform(0.0, 0.03),
        feed_delay_hours=(rng.uniform(0.05, 1.0), rng.uniform(2.0, 20.0)),
        joins_on_day=joins_on_day,
    )


def _typologies(rng: random.Random, required: tuple[str, ...] = ()) -> tuple[str, ...]:
    rest = [name for name in TYPOLOGIES if name not in required]
    chosen = [*required, *rng.sample(rest, 8 - len(required))]
    return tuple(name for name in TYPOLOGIES if name in chosen)


def _start(rng: random.Random) -> date:
    return date(2025, 7, 7) + timedelta(days=rng.randint(0, 420))


def _jitter(rng: random.Random, weights: dict[str, float], spread: float = 0.5) -> dict[str, float]:
    return {key: value * rng.uniform(1 - spread, 1 + spread) for key, value in weights.items()}


def _common(rng: random.Random, name: str, seed: int, *, days: int = 60, **overrides: Any) -> World:
    """The parameters every world draws; ``overrides`` replace some of them."""
    world = World(
        name=name,
        seed=seed,
        description="",
        calendar=Calendar(_start(rng), days),
        institutions=(),
        n_subjects=3000,
        entity_share=rng.uniform(0.12, 0.2),
        person_mix={
            "US": _jitter(rng, US_PERSON_SEGMENTS),
            "MX": _jitter(rng, MX_PERSON_SEGMENTS),
        },
        entity_mix={
            "US": _jitter(rng, US_ENTITY_SEGMENTS),
            "MX": _jitter(rng, MX_ENTITY_SEGMENTS),
        },
        lookalike_share=rng.uniform(0.03, 0.06),
        laundering_share=0.02,
        typologies=_typologies(rng),
        roaming=(0.0, rng.uniform(0.1, 0.25)),
        roaming_breadth=rng.randint(1, 3),
        business_scale=rng.uniform(0.7, 1.4),
        person_scale=rng.uniform(0.8, 1.25),
        cross_border=rng.uniform(0.7, 1.4),
        fx=_fx(rng),
        foreign_currency_share=rng.uniform(0.02, 0.08),
        multi_location_share=rng.uniform(0.0, 0.1),
        dormant_idle_days=max(25, days * 2 // 3),
    )
    return replace(world, **overrides)


def _standard_institutions(rng: random.Random, str_scale: float = 1.0) -> tuple[Institution, ...]:
    return (
        _institution(
            rng,
            "US",
            "bank",
            branches=rng.randint(20, 40),
            regions=rng.randint(5, 9),
            size=rng.uniform(0.25, 0.35),
            str_scale=str_scale,
        ),
        _institution(
            rng,
            "US",
            "bank",
            branches=rng.randint(8, 16),
            regions=rng.randint(2, 4),
            size=rng.uniform(0.12, 0.2),
            str_scale=str_scale,
            border=True,
        ),
        _institution(
            rng,
            "US",
            "bank",
            branches=rng.randint(3, 8),
            regions=1,
            size=rng.uniform(0.05, 0.1),
            str_scale=str_scale,
        ),
        _institution(
            rng,
            "US",
            "credit_union",
            branches=rng.randint(3, 7),
            regions=rng.randint(1, 2),
            size=rng.uniform(0.05, 0.09),
            str_scale=str_scale,
        ),
        _institution(
            rng,
            "US",
            "msb",
            branches=rng.randint(6, 15),
            regions=rng.randint(2, 4),
            size=rng.uniform(0.03, 0.06),
            str_scale=str_scale,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "bank",
            branches=rng.randint(15, 30),
            regions=rng.randint(5, 9),
            size=rng.uniform(0.12, 0.2),
            str_scale=str_scale,
        ),
        _institution(
            rng,
            "MX",
            "bank",
            branches=rng.randint(5, 12),
            regions=rng.randint(2, 4),
            size=rng.uniform(0.05, 0.1),
            str_scale=str_scale,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "casa_de_cambio",
            branches=rng.randint(3, 8),
            regions=rng.randint(1, 3),
            size=rng.uniform(0.02, 0.05),
            str_scale=str_scale,
            border=True,
        ),
    )


def baseline(seed: int) -> World:
    rng = random.Random(f"baseline:{seed}")
    world = _common(rng, "baseline", seed)
    return replace(
        world,
        institutions=_standard_institutions(rng),
        description="3,000 customers of 5 US and 3 Mexican institutions over 60 days.",
    )


def many_branches(seed: int) -> World:
    rng = random.Random(f"many_branches:{seed}")
    world = _common(
        rng,
        "many_branches",
        seed,
        roaming=(rng.uniform(0.1, 0.3), rng.uniform(0.6, 0.9)),
        roaming_breadth=rng.randint(3, 8),
        multi_location_share=rng.uniform(0.3, 0.6),
    )
    institutions = tuple(
        _institution(
            rng,
            country,
            kind,
            branches=branches,
            regions=regions,
            size=size,
            str_scale=1.0,
            border=border,
        )
        for country, kind, branches, regions, size, border in (
            ("US", "bank", rng.randint(60, 120), rng.randint(8, 14), 0.3, False),
            ("US", "bank", rng.randint(30, 60), rng.randint(4, 8), 0.2, False),
            ("US", "bank", rng.randint(15, 30), rng.randint(2, 4), 0.1, True),
            ("US", "credit_union", rng.randint(10, 20), rng.randint(1, 3), 0.08, False),
            ("US", "msb", rng.randint(20, 40), rng.randint(3, 6), 0.05, True),
            ("MX", "bank", rng.randint(60, 120), rng.randint(8, 14), 0.16, False),
            ("MX", "bank", rng.randint(20, 40), rng.randint(3, 6), 0.08, True),
            ("MX", "casa_de_cambio", rng.randint(10, 20), rng.randint(2, 4), 0.04, True),
        )
    )
    return replace(
        world,
        institutions=institutions,
        description="Large branch networks; customers bank at many branches and businesses "
        "deposit at several of their locations.",
    )


def mx_heavy(seed: int) -> World:
    rng = random.Random(f"mx_heavy:{seed}")
    world = _common(rng, "mx_heavy", seed, typologies=_typologies(rng, ("structuring",)))
    institutions = (
        _institution(
            rng,
            "US",
            "bank",
            branches=rng.randint(8, 16),
            regions=3,
            size=0.1,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "bank",
            branches=rng.randint(25, 45),
            regions=rng.randint(6, 10),
            size=0.32,
            str_scale=1.0,
        ),
        _institution(
            rng,
            "MX",
            "bank",
            branches=rng.randint(15, 30),
            regions=rng.randint(4, 8),
            size=0.22,
            str_scale=1.0,
        ),
        _institution(
            rng,
            "MX",
            "bank",
            branches=rng.randint(5, 12),
            regions=rng.randint(2, 3),
            size=0.14,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "casa_de_cambio",
            branches=rng.randint(4, 10),
            regions=2,
            size=0.1,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "casa_de_cambio",
            branches=rng.randint(3, 8),
            regions=2,
            size=0.08,
            str_scale=1.0,
        ),
    )
    return replace(
        world,
        institutions=institutions,
        description="Mostly Mexican banks and casas de cambio: MXN amounts, the ROR threshold "
        "(USD 7,500 equivalent cash), one US border bank.",
    )


def big_business(seed: int) -> World:
    rng = random.Random(f"big_business:{seed}")
    world = _common(
        rng,
        "big_business",
        seed,
        n_subjects=2000,
        entity_share=rng.uniform(0.4, 0.55),
        business_scale=rng.uniform(2.5, 6.0),
        cross_border=rng.uniform(1.2, 2.0),
        foreign_currency_share=rng.uniform(0.06, 0.15),
    )
    mix = dict(world.entity_mix)
    boosted = {
        "wholesaler": 2.5,
        "importer": 3.0,
        "payroll_processor": 3.0,
        "treasury": 4.0,
        "msb_business": 2.0,
        "car_dealer": 1.5,
        "escrow": 1.5,
        "produce_importer": 2.0,
    }
    mix["US"] = {key: value * boosted.get(key, 1.0) for key, value in mix["US"].items()}
    mix["MX"] = {
        key: value * (2.5 if key in ("mx_exporter", "maquiladora", "mx_importer") else 1)
        for key, value in mix["MX"].items()
    }
    return replace(
        world,
        institutions=_standard_institutions(rng),
        entity_mix=mix,
        description="Half the customers are businesses, with several times the legitimate "
        "volumes: importers, treasuries, payroll processors, money transmitters.",
    )


def small_bank(seed: int) -> World:
    rng = random.Random(f"small_bank:{seed}")
    country = "US" if rng.random() < 0.7 else "MX"
    world = _common(rng, "small_bank", seed, n_subjects=rng.randint(350, 500), days=30)
    institution = _institution(
        rng,
        country,
        "bank",
        branches=rng.randint(2, 5),
        regions=1,
        size=1.0,
        str_scale=1.0,
        border=rng.random() < 0.5,
    )
    return replace(
        world,
        institutions=(institution,),
        laundering_share=0.02,
        description="One community bank, a few hundred customers, 30 days of history.",
    )


def noisy_str(seed: int) -> World:
    rng = random.Random(f"noisy_str:{seed}")
    world = _common(rng, "noisy_str", seed)
    return replace(
        world,
        institutions=_standard_institutions(rng, str_scale=rng.uniform(6.0, 12.0)),
        description="Institutions file many defensive STRs on legitimate customers.",
    )


def border_trade(seed: int) -> World:
    rng = random.Random(f"border_trade:{seed}")
    world = _common(
        rng,
        "border_trade",
        seed,
        cross_border=rng.uniform(2.0, 3.5),
        entity_share=rng.uniform(0.2, 0.3),
    )
    institutions = (
        _institution(
            rng,
            "US",
            "bank",
            branches=rng.randint(15, 30),
            regions=4,
            size=0.25,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "US",
            "bank",
            branches=rng.randint(5, 10),
            regions=2,
            size=0.12,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "US",
            "msb",
            branches=rng.randint(10, 20),
            regions=3,
            size=0.1,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "bank",
            branches=rng.randint(15, 30),
            regions=5,
            size=0.22,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "bank",
            branches=rng.randint(5, 10),
            regions=3,
            size=0.11,
            str_scale=1.0,
            border=True,
        ),
        _institution(
            rng,
            "MX",
            "casa_de_cambio",
            branches=rng.randint(5, 12),
            regions=3,
            size=0.08,
            str_scale=1.0,
            border=True,
        ),
    )
    mix = dict(world.person_mix)
    mix["US"] = {**mix["US"], "remitter": mix["US"]["remitter"] * 3}
    mix["MX"] = {**mix["MX"], "mx_remittance_receiver": mix["MX"]["mx_remittance_receiver"] * 2}
    emix = dict(world.entity_mix)
    emix["US"] = {**emix["US"], "produce_importer": 0.12, "importer": 0.1, "msb_business": 0.06}
    emix["MX"] = {**emix["MX"], "maquiladora": 0.15, "mx_exporter": 0.2}
    return replace(
        world,
        institutions=institutions,
        person_mix=mix,
        entity_mix=emix,
        description="Border region: remittances, maquiladoras, produce trade and casas de "
        "cambio make legitimate cross-border flows common.",
    )


def long_history(seed: int) -> World:
    rng = random.Random(f"long_history:{seed}")
    world = _common(rng, "long_history", seed, n_subjects=1000, days=180)
    return replace(
        world,
        institutions=_standard_institutions(rng),
        laundering_share=0.025,
        description="1,000 customers over 180 days: seasons, long dormancy, slow schemes.",
    )


def new_reporter(seed: int) -> World:
    rng = random.Random(f"new_reporter:{seed}")
    world = _common(rng, "new_reporter", seed)
    standard = list(_standard_institutions(rng))
    joining = rng.sample(range(len(standard)), 2)
    for index in joining:
        original = standard[index]
        standard[index] = replace(original, joins_on_day=rng.randint(20, 40))
    return replace(
        world,
        institutions=tuple(standard),
        description="Two institutions join the feed part-way through: their customers arrive "
        "with no history.",
    )


WORLDS: dict[str, Callable[[int], World]] = {
    "baseline": baseline,
    "many_branches": many_branches,
    "mx_heavy": mx_heavy,
    "big_business": big_business,
    "small_bank": small_bank,
    "noisy_str": noisy_str,
    "border_trade": border_trade,
    "long_history": long_history,
    "new_reporter": new_reporter,
}


def build_world(name: str, seed: int) -> World:
    """The world ``name`` drawn with ``seed``."""
    try:
        factory = WORLDS[name]
    except KeyError:
        raise ValueError(f"unknown world {name!r}; known: {', '.join(WORLDS)}") from None
    return factory(seed)
