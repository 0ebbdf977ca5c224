"""Parties outside the simulated population: merchants, billers, clients, suppliers abroad.

An external party is a tuple ``(name, account_id | None, institution_id | None, country,
type)``, exactly the counterparty fields of a report. Pools are drawn once per run; their
sizes follow the world (``World.pool_scale``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulator.population import (
    ENTITY_PREFIX,
    ENTITY_WORDS,
    MX_LAST,
    MX_SUFFIX,
    US_LAST,
    clabe,
    person_name,
)
from simulator.reference import FOREIGN_COUNTRIES, TRADED_HIGH_RISK_COUNTRIES

External = tuple[str, str | None, str | None, str, str]

MERCHANT_WORDS = (
    "Market", "Pharmacy", "Gas", "Supermarket", "Coffee", "Restaurant", "Online Store",
    "Hardware", "Electronics", "Clothing", "Streaming", "Airline", "Hotel", "Cinema",
)  # fmt: skip
BILLER_WORDS = ("Insurance", "Wireless", "Auto Finance", "Card Services", "Student Loans")
FOREIGN_SUFFIX = {
    "CN": "Co Ltd",
    "HK": "Limited",
    "DE": "GmbH",
    "ES": "S.L.",
    "GB": "Ltd",
    "CO": "S.A.S.",
    "BR": "Ltda",
    "PA": "S.A.",
    "KY": "Ltd",
    "VG": "Ltd",
}
HAVENS = ("KY", "BS", "PA", "VG")
PENSION_PAYERS = {
    "US": (
        "US Treasury SSA Benefits",
        "State Teachers Retirement System",
        "Pension Trust Services",
    ),
    "MX": ("IMSS Pensiones", "ISSSTE Pensiones", "Afore Retiro Programado"),
}


def external_account(rng: random.Random, country: str) -> tuple[str, str]:
    """An account number and institution id of a bank outside the simulation."""
    if country == "US":
        return f"{rng.randint(10**9, 10**10 - 1)}", f"US-FI-{rng.randint(101, 140):04d}"
    if country == "MX":
        bank = f"{rng.randint(30, 199):03d}"
        number = clabe(bank, "010", rng.randint(10**9, 10**11 - 1))
        return number, f"MX-FI-{rng.randint(101, 130):04d}"
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(14, 20)))
    return f"{country}{rng.randint(10, 99)}{digits}", f"{country}-FI-{rng.randint(1, 4):04d}"


def external_name(rng: random.Random, country: str, party_type: str) -> str:
    if party_type == "person":
        return person_name(rng, country)
    word = rng.choice(ENTITY_WORDS[rng.choice(("trade", "service", "wholesale"))])
    if country == "MX":
        return f"{rng.choice(ENTITY_PREFIX)} {word} {rng.choice(MX_SUFFIX)}"
    suffix = FOREIGN_SUFFIX.get(country) or rng.choice(("Ltd", "S.A.", "LLC", "Inc"))
    return f"{rng.choice(ENTITY_PREFIX)} {word} {suffix}"


def external(rng: random.Random, country: str, party_type: str) -> External:
    """A new party with an account at a bank outside the simulation."""
    account, institution = external_account(rng, country)
    return (external_name(rng, country, party_type), account, institution, country, party_type)


def _sized(base: int, scale: float) -> int:
    return max(2, round(base * scale))


@dataclass
class Parties:
    """The pools of external parties of one run."""

    merchants: dict[str, list[External]]
    merchants_foreign: list[External]
    utilities: dict[str, list[External]]
    billers: dict[str, list[External]]
    processors: dict[str, list[External]]
    platforms: dict[str, list[External]]
    pensions: dict[str, list[External]]
    landlords: dict[str, list[External]]
    clients: dict[str, list[External]]
    vendors: dict[str, list[External]]
    family_abroad: list[External]
    havens: list[External]
    foreign_suppliers: list[External]
    high_risk_partners: list[External]

    @classmethod
    def draw(cls, rng: random.Random, scale: float) -> Parties:
        def pool(country: str, party_type: str, base: int) -> list[External]:
            return [external(rng, country, party_type) for _ in range(_sized(base, scale))]

        def by_country(party_type: str, base: int) -> dict[str, list[External]]:
            return {c: pool(c, party_type, base) for c in ("US", "MX")}

        merchants = {
            "US": _merchants(rng, "US", _sized(400, scale)),
            "MX": _merchants(rng, "MX", _sized(300, scale)),
        }
        return cls(
            merchants=merchants,
            merchants_foreign=[
                (
                    f"{rng.choice(ENTITY_PREFIX)} {rng.choice(MERCHANT_WORDS)} Ltd",
                    None,
                    None,
                    c,
                    "entity",
                )
                for c in ("IE", "CN", "GB", "CA", "NL", "SG", "ES", "CO")
            ],  # fmt: skip
            utilities=by_country("entity", 12),
            billers=_billers(rng),
            processors={c: [external(rng, c, "entity") for _ in range(3)] for c in ("US", "MX")},
            platforms={c: [external(rng, c, "entity") for _ in range(4)] for c in ("US", "MX")},
            pensions={
                c: [(name, *external_account(rng, c), c, "entity") for name in names]
                for c, names in PENSION_PAYERS.items()
            },
            landlords=by_country("person", 300),
            clients={
                c: [
                    external(rng, c, t)
                    for _ in range(_sized(600, scale))
                    for t in ("entity", "person")
                ]
                for c in ("US", "MX")
            },
            vendors=by_country("entity", 300),
            family_abroad=[
                external(rng, c, "person") for c in ("GT", "SV", "HN") for _ in range(200)
            ],
            havens=[external(rng, c, "entity") for c in HAVENS for _ in range(20)],
            foreign_suppliers=[
                external(rng, c, "entity")
                for c in FOREIGN_COUNTRIES
                for _ in range(_sized(25, scale))
            ],
            high_risk_partners=[
                external(rng, c, "entity") for c in TRADED_HIGH_RISK_COUNTRIES for _ in range(6)
            ],
        )


def _merchants(rng: random.Random, country: str, n: int) -> list[External]:
    out: list[External] = []
    for _ in range(n):
        surnames = MX_LAST if country == "MX" else US_LAST
        head = rng.choice(ENTITY_PREFIX) if rng.random() < 0.5 else rng.choice(surnames)
        out.append((f"{head} {rng.choice(MERCHANT_WORDS)}", None, None, country, "entity"))
    return out


def _billers(rng: random.Random) -> dict[str, list[External]]:
    """Insurers, phone companies, lenders and card issuers, paid monthly by ACH."""
    pools: dict[str, list[External]] = {}
    for country in ("US", "MX"):
        suffixes = MX_SUFFIX if country == "MX" else ("Inc", "Corp", "LLC")
        pools[country] = [
            (
                f"{rng.choice(ENTITY_PREFIX)} {word} {rng.choice(suffixes)}",
                *external_account(rng, country),
                country,
                "entity",
            )
            for word in BILLER_WORDS
            for _ in range(4)
        ]
    return pools
