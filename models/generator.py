"""Synthetic population and typology generator: a labelled stream of wire-format v1 reports.

The simulation builds a population of US and Mexican persons and entities with accounts at
US and Mexican institutions (banks, a credit union, money transmitters, casas de cambio), then
walks the calendar one day at a time. Each day it draws the legitimate activity of the whole
population with numpy (payroll, card spend, rent, utilities, remittances, cash businesses with
weekly cycles, trade payments, escrow closings, legitimate large cash, …), adds the
transactions of the laundering schemes whose day has come (``models.typologies``), sorts the
day and emits it. Only a day of compact event tuples is held at a time, so a 10M-report stream
runs in memory bounded by the population, never by the stream.

Every report is labelled on the side (:class:`Labelled`); the wire message itself carries no
label, and launderers are ordinary members of the population (same names, ids, accounts).

Wire notes:

* A cash transaction above the US CTR amount, or at least the MX operación-relevante amount,
  is reported as ``LVTR`` (one report per transaction, carrying it); the rest are ``TXN``.
  Aggregation across the business day is left to the rules.
* ``STR`` reports carry ``suspicion`` (categories ``SAR-<subtype>`` in the US, ``ROI-<subtype>``
  in Mexico) and no ``transaction``; their stream time is ``filed_at``.
* Transfers between two simulated accounts produce two reports, the payer's ``out`` leg and the
  payee's ``in`` leg, each naming the other side's real account, so flows can be traced.
* ``transaction.account_opened`` (ISO date) is an extension field (wire v1 keeps unknown
  fields): the account's opening date, as in goAML ``t_account.opened``.
* MXN converts at the fixed rate ``MXN_PER_USD``.
"""

from __future__ import annotations

import calendar
import itertools
import random
import unicodedata
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from models.typologies import (
    BUILDERS,
    FOREIGN_COUNTRIES,
    MX_ROR_THRESHOLD_MXN_MINOR,
    MXN_PER_USD,
    MXN_PER_USD_X100,
    NARRATIVES,
    SPAN_DAYS,
    TYPOLOGIES,
    Case,
    TypologyParams,
)
from refdata.thresholds import MX_ROR_CENTS, US_CTR_CENTS

__all__ = [
    "MXN_PER_USD",
    "TYPOLOGIES",
    "GeneratorConfig",
    "Institution",
    "Labelled",
    "TypologyParams",
    "generate",
    "institutions",
    "write_jsonl",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DAY = 86_400
HOUR = 3_600
# Local business time in the simulated US and Mexico is about UTC-6.
LOCAL_OFFSET = 6 * HOUR
# Mean reports per subject and day, measured in September-November (season factor ~1.03).
REPORTS_PER_SUBJECT_DAY = 1.13


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate: the seed, the stream length and the laundering regime.

    The population is sized so that ``n_reports`` span about ``days`` days; the stream always
    has exactly ``n_reports`` reports (it runs a little past ``days`` if it must).
    ``laundering_share`` is the number of schemes per subject: each scheme has one main
    subject, and with its conductors, mules and counterparties about 3-4 times as many
    subjects appear in laundering reports (2% gives ~7% of subjects, ~0.5% of reports).
    """

    seed: int
    n_reports: int
    start: datetime  # aware UTC
    days: int = 60
    laundering_share: float = 0.02  # share of subjects that launder (roughly)
    params: TypologyParams = TypologyParams.training()


@dataclass(frozen=True, slots=True)
class Labelled:
    """One wire-format v1 report and its label (never inside the report)."""

    report: dict[str, Any]
    typology: str | None
    case_id: str | None


# ---------------------------------------------------------------------------------------------
# Geography, institutions and name pools (fixed; the same for every seed)

# fmt: off
US_STATES: tuple[tuple[str, float], ...] = (
    ("CA", 12.0), ("TX", 9.0), ("FL", 6.8), ("NY", 6.0), ("IL", 3.8), ("PA", 3.9),
    ("OH", 3.5), ("GA", 3.3), ("NC", 3.2), ("MI", 3.0), ("NJ", 2.8), ("VA", 2.6),
    ("WA", 2.3), ("AZ", 2.2), ("MA", 2.1), ("TN", 2.1), ("IN", 2.0), ("MO", 1.9),
    ("MD", 1.8), ("CO", 1.8), ("WI", 1.8), ("MN", 1.7), ("NV", 1.0), ("OK", 1.2),
    ("NM", 0.6), ("OR", 1.3), ("UT", 1.0), ("KS", 0.9), ("LA", 1.4), ("SC", 1.5),
)
# (ISO 3166-2 subdivision code, CURP state code, weight, CLABE plaza code)
MX_STATES: tuple[tuple[str, str, float, str], ...] = (
    ("MEX", "MC", 13.0, "180"), ("CMX", "DF", 7.0, "010"), ("JAL", "JC", 6.5, "320"),
    ("VER", "VZ", 6.4, "905"), ("PUE", "PL", 5.0, "650"), ("GUA", "GT", 4.8, "225"),
    ("NLE", "NL", 4.5, "580"), ("CHP", "CS", 4.3, "100"), ("MIC", "MN", 3.8, "470"),
    ("OAX", "OC", 3.3, "610"), ("CHH", "CH", 3.0, "150"), ("BCN", "BC", 3.0, "027"),
    ("TAM", "TS", 2.8, "810"), ("COA", "CL", 2.5, "078"), ("SIN", "SL", 2.4, "743"),
    ("SON", "SR", 2.3, "760"), ("YUC", "YN", 1.9, "910"), ("QUE", "QT", 1.8, "680"),
    ("DUR", "DG", 1.4, "190"), ("ZAC", "ZS", 1.3, "930"),
)
# fmt: on
MX_BORDER = ("BCN", "SON", "CHH", "COA", "NLE", "TAM")


@dataclass(frozen=True)
class Institution:
    """A reporting institution of the simulation."""

    institution_id: str
    jurisdiction: str
    kind: str  # bank | credit_union | msb | casa_de_cambio | transmisor
    name: str
    regions: tuple[str, ...]  # one entry per branch
    bank_code: str = ""  # CLABE bank code for Mexican institutions

    @property
    def currency(self) -> str:
        return "USD" if self.jurisdiction == "US" else "MXN"


_US_INSTITUTIONS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("bank", "First Continental Bank", tuple(s for s, _ in US_STATES[:24]), 3),
    ("bank", "Union Federal Bank", tuple(s for s, _ in US_STATES[:20]), 3),
    ("bank", "Pacific & Atlantic National", tuple(s for s, _ in US_STATES[:16]), 2),
    ("bank", "Lone Star Community Bank", ("TX", "NM", "OK"), 6),
    ("bank", "Golden West Savings", ("CA", "NV", "AZ", "OR"), 5),
    ("bank", "Great Lakes Bancorp", ("IL", "WI", "IN", "MI", "OH", "MN"), 3),
    ("bank", "Peachtree Bank", ("GA", "FL", "SC", "NC", "TN"), 3),
    ("bank", "Empire Trust", ("NY", "NJ", "PA", "MA", "MD", "VA"), 3),
    ("credit_union", "Rio Grande Federal Credit Union", ("TX",), 5),
    ("msb", "Envios Rapidos Inc", ("CA", "TX", "IL", "AZ", "FL", "NY", "GA", "NC", "CO"), 3),
    ("msb", "Northstar Money Transfer", ("CA", "TX", "WA", "NV", "NJ", "FL"), 2),
)
_MX_INSTITUTIONS: tuple[tuple[str, str, tuple[str, ...], int, str], ...] = (
    ("bank", "Banco del Altiplano", tuple(s[0] for s in MX_STATES), 3, "002"),
    ("bank", "Banco Mercantil del Norte Sintetico", tuple(s[0] for s in MX_STATES), 2, "072"),
    ("bank", "Banco Regional Occidente", tuple(s[0] for s in MX_STATES[:12]), 2, "014"),
    ("bank", "Banco Popular Mexicano", tuple(s[0] for s in MX_STATES[:16]), 2, "012"),
    ("casa_de_cambio", "Cambios Frontera", ("BCN", "SON", "CHH", "TAM"), 2, "616"),
    ("casa_de_cambio", "Divisas del Bajio", ("GUA", "JAL", "CMX", "NLE"), 1, "617"),
    ("casa_de_cambio", "CambiaMex", ("CMX", "NLE", "COA", "BCN"), 1, "618"),
    ("transmisor", "Pagos Familiares", tuple(s[0] for s in MX_STATES), 1, "646"),
)


@lru_cache(maxsize=1)
def institutions() -> tuple[Institution, ...]:
    """Returns the fixed registry of reporting institutions (US first, then MX)."""
    result: list[Institution] = []
    for number, (kind, name, states, per) in enumerate(_US_INSTITUTIONS, start=1):
        regions = tuple(s for s in states for _ in range(per))
        result.append(Institution(f"US-FI-{number:04d}", "US", kind, name, regions))
    for number, (kind, name, states, per, code) in enumerate(_MX_INSTITUTIONS, start=1):
        regions = tuple(s for s in states for _ in range(per))
        result.append(Institution(f"MX-FI-{number:04d}", "MX", kind, name, regions, code))
    return tuple(result)


US_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Ashley Donald Kimberly Steven Emily Andrew Donna Paul "
    "Michelle Joshua Carol Kenneth Amanda Kevin Melissa Brian Deborah George Stephanie Timothy "
    "Rebecca Ronald Laura Jason Helen Edward Sharon Jeffrey Cynthia Ryan Kathleen Jacob Amy "
    "Tyrone Keisha Wei Mei Raj Priya Tuan Linh Omar Fatima Dmitri Olga"
).split()
US_LAST = (
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore "
    "Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King "
    "Wright Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell "
    "Parker Evans Edwards Collins Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson "
    "Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray Hughes "
    "Nguyen Chen Patel Kim Singh Wang Tran Ivanov Okafor Haddad Cohen Schmidt"
).split()
MX_FIRST = (
    "Jose Juan Luis Carlos Jesus Miguel Francisco Antonio Alejandro Jorge Pedro Manuel Ricardo "
    "Fernando Roberto Eduardo Javier Sergio Raul Arturo Hector Oscar Martin Daniel Rafael "
    "Guadalupe Maria Rosa Ana Patricia Veronica Gabriela Leticia Alejandra Adriana Claudia "
    "Elizabeth Silvia Laura Margarita Sandra Teresa Monica Araceli Yolanda Norma Alicia "
    "Josefina Lucia Fernanda Ximena Valeria Andrea Diana Karla Brenda Paola Rocio Irma"
).split()
MX_LAST = (
    "Hernandez Garcia Martinez Lopez Gonzalez Perez Rodriguez Sanchez Ramirez Cruz Flores "
    "Gomez Morales Vazquez Reyes Jimenez Torres Diaz Gutierrez Ruiz Mendoza Aguilar Ortiz "
    "Moreno Castillo Romero Alvarez Mendez Chavez Rivera Juarez Ramos Dominguez Herrera "
    "Medina Castro Vargas Guzman Velazquez Munoz Rojas Contreras Salazar Luna Ortega Santiago "
    "Guerrero Estrada Bautista Cortes Soto Alvarado Espinoza Lara Avila Rios Cervantes Silva "
    "Delgado Vega Marquez Sandoval Fernandez Leon Carrillo Mejia Solis Nunez Rosas Pena"
).split()
US_OCCUPATIONS = tuple(
    word.replace("-", " ")
    for word in (
        "teacher nurse truck-driver software-engineer retail-clerk construction-worker "
        "accountant cook student retired self-employed mechanic sales-representative physician "
        "attorney electrician warehouse-associate cashier real-estate-agent police-officer "
        "homemaker landscaper dental-hygienist farmworker"
    ).split()
)
MX_OCCUPATIONS = (
    "comerciante empleado agricultor hogar estudiante chofer ingeniero docente medico "
    "jubilado albanil contador mecanico enfermera abogado obrero vendedor"
).split()
# NAICS (US) / SCIAN (MX, same structure) codes by business kind.
NAICS: dict[str, tuple[str, ...]] = {
    "cash": ("722511", "722513", "811192", "445131", "812113", "812111", "447110"),
    "trade": ("423690", "423120", "424480", "423430", "424310", "423830", "424490"),
    "service": ("541211", "541511", "621111", "238220", "484121", "561720", "541110"),
    "escrow": ("541191", "524127"),
    "landlord": ("531110", "531120"),
    "wholesale": ("424410", "424420", "424470", "424820"),
}
# fmt: off
ENTITY_WORDS: dict[str, tuple[str, ...]] = {
    "cash": ("Grill", "Taqueria", "Diner", "Car Wash", "Mini Mart", "Nail Spa", "Barber Shop",
             "Cantina", "Auto Spa", "Kitchen", "Fuel Stop", "Pizzeria"),
    "trade": ("Imports", "Exports", "Trading", "Distributors", "Electronics", "Auto Parts",
              "Produce", "Textiles", "Supply", "Logistics"),
    "service": ("Consulting", "Medical Group", "Plumbing", "Trucking", "Cleaning Services",
                "Software", "Law Office", "Tax Services", "Construction"),
    "escrow": ("Title & Escrow", "Settlement Services", "Closing Services"),
    "landlord": ("Properties", "Realty", "Apartments", "Property Management", "Holdings"),
    "wholesale": ("Food Service", "Restaurant Supply", "Wholesale Grocers", "Beverage Co"),
}
ENTITY_PREFIX = (
    "Sunrise Pacific Liberty Golden Eagle Summit Pioneer Metro Coastal Heritage Alamo Rio "
    "Sierra Vista Aztec Del Valle Cielo Norte Premier Central Union Lakeside Red Rock Evergreen "
    "Frontier Bluebonnet Mission Cascade Harbor Prairie Capital Atlas"
).split()
US_SUFFIX = ("LLC", "Inc", "Corp", "Co")
MX_SUFFIX = ("S.A. de C.V.", "S. de R.L. de C.V.", "S.A.P.I. de C.V.")
MERCHANT_WORDS = (
    "Market", "Pharmacy", "Gas", "Supermarket", "Coffee", "Restaurant", "Online Store",
    "Hardware", "Electronics", "Clothing", "Streaming", "Airline", "Hotel", "Cinema",
)
# fmt: on

SUBJECT_KINDS = (
    "person",
    "remitter",
    "cash",
    "trade",
    "service",
    "escrow",
    "landlord",
    "wholesale",
)
K_PERSON, K_REMITTER, K_CASH, K_TRADE, K_SERVICE, K_ESCROW, K_LANDLORD, K_WHOLESALE = range(8)
# Shares of the population (persons are the vast majority of customers).
US_MIX = (
    (K_PERSON, 0.375),
    (K_REMITTER, 0.125),
    (K_CASH, 0.03),
    (K_TRADE, 0.02),
    (K_SERVICE, 0.025),
    (K_ESCROW, 0.004),
    (K_LANDLORD, 0.011),
    (K_WHOLESALE, 0.01),
)
MX_MIX = (
    (K_PERSON, 0.30),
    (K_CASH, 0.03),
    (K_TRADE, 0.025),
    (K_SERVICE, 0.025),
    (K_LANDLORD, 0.01),
    (K_WHOLESALE, 0.01),
)
SEASON = {1: 0.85, 2: 0.9, 3: 0.97, 4: 0.98, 5: 1.0, 6: 1.0, 7: 1.02, 8: 1.0, 9: 0.97,
          10: 1.0, 11: 1.12, 12: 1.38}  # fmt: skip
ABROAD = ("MX", "MX", "MX", "GT", "SV", "HN", "CO", "DO", "IN", "CN", "CA", "GB", "ES", "PH")
ABROAD_FROM_MX = ("US", "US", "US", "GT", "CO", "ES", "CA", "PE", "BR")
CARD_WEEKDAY = (0.9, 0.9, 0.95, 1.0, 1.15, 1.3, 0.95)
CASH_WEEKDAY = (0.7, 0.75, 0.85, 0.95, 1.3, 1.6, 1.1)


def _weighted(rng: random.Random, items: Sequence[tuple[Any, float]]) -> Any:
    return _Choice.of(tuple(items)).draw(rng)


@dataclass(frozen=True)
class _Choice:
    """A weighted choice with precomputed cumulative weights."""

    values: tuple[Any, ...]
    cumulative: tuple[float, ...]

    @staticmethod
    @lru_cache(maxsize=4096)
    def of(items: tuple[tuple[Any, float], ...]) -> _Choice:
        values = tuple(v for v, _ in items)
        cumulative = tuple(itertools.accumulate(w for _, w in items))
        return _Choice(values, cumulative)

    def draw(self, rng: random.Random) -> Any:
        return rng.choices(self.values, cum_weights=self.cumulative)[0]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


_VOWELS = "AEIOU"
_CURP_CHARS = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ"


def _first_inner(letters: str, vowels: bool) -> str:
    for char in letters[1:]:
        if (char in _VOWELS) == vowels and char.isalpha():
            return char
    return "X"


def rfc_person(paternal: str, maternal: str, first: str, born: date, rng: random.Random) -> str:
    """Returns an RFC of a person: 4 letters, YYMMDD, 3-character homoclave."""
    p, m, f = _ascii(paternal), _ascii(maternal), _ascii(first)
    letters = p[0] + _first_inner(p, vowels=True) + (m[0] if m else "X") + f[0]
    homoclave = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ123456789") for _ in range(2))
    return f"{letters}{born:%y%m%d}{homoclave}{rng.choice('0123456789A')}"


def rfc_entity(name: str, founded: date, rng: random.Random) -> str:
    """Returns an RFC of an entity: 3 letters, YYMMDD, 3-character homoclave."""
    words = [w for w in _ascii(name).replace(".", " ").split() if w.isalpha() and len(w) > 2]
    letters = "".join(w[0] for w in words)[:3].ljust(3, "X")
    homoclave = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ123456789") for _ in range(2))
    return f"{letters}{founded:%y%m%d}{homoclave}{rng.choice('0123456789A')}"


def curp(
    paternal: str, maternal: str, first: str, born: date, sex: str, state: str, rng: random.Random
) -> str:
    """Returns an 18-character CURP with a valid check digit."""
    p, m, f = _ascii(paternal), _ascii(maternal), _ascii(first)
    head = p[0] + _first_inner(p, vowels=True) + (m[0] if m else "X") + f[0]
    consonants = _first_inner(p, False) + _first_inner(m or "XX", False) + _first_inner(f, False)
    differentiator = rng.choice("0123456789") if born.year < 2000 else rng.choice("ABCDEFGHIJ")
    body = f"{head}{born:%y%m%d}{sex}{state}{consonants}{differentiator}"
    total = sum(_CURP_CHARS.index(char) * (18 - i) for i, char in enumerate(body))
    return body + str((10 - total % 10) % 10)


def clabe(bank_code: str, plaza: str, account: int) -> str:
    """Returns an 18-digit CLABE with its check digit."""
    body = f"{bank_code}{plaza}{account:011d}"
    weights = (3, 7, 1) * 6
    total = sum((int(d) * w) % 10 for d, w in zip(body, weights, strict=False))
    return body + str((10 - total % 10) % 10)


# ---------------------------------------------------------------------------------------------
# Population


@dataclass
class _Population:
    # subjects
    kind: list[int] = field(default_factory=list)
    country: list[str] = field(default_factory=list)
    region: list[str] = field(default_factory=list)
    is_entity: list[bool] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    identifiers: list[tuple[tuple[str, str, str], ...]] = field(default_factory=list)
    occupation: list[str | None] = field(default_factory=list)
    naics: list[str | None] = field(default_factory=list)
    accounts: list[list[int]] = field(default_factory=list)
    # accounts
    a_subject: list[int] = field(default_factory=list)
    a_inst: list[int] = field(default_factory=list)
    a_number: list[str] = field(default_factory=list)
    a_customer: list[str] = field(default_factory=list)
    a_opened: list[str] = field(default_factory=list)
    a_branch: list[int] = field(default_factory=list)


class _Builder:
    """Builds the population: subjects, identifiers, accounts, relationships."""

    def __init__(self, rng: random.Random, start: date) -> None:
        self.rng = rng
        self.start = start
        self.pop = _Population()
        self.insts = institutions()
        self.used: set[str] = set()
        self.dates: dict[str, str] = {}  # one string per distinct opening date
        self.institution_choices: dict[tuple[Any, ...], _Choice] = {}
        self.customer_numbers: list[set[int]] = [set() for _ in self.insts]
        self.account_numbers: list[set[int]] = [set() for _ in self.insts]
        # branches: global index -> (institution, region, branch id)
        self.branch_inst: list[int] = []
        self.branch_region: list[str] = []
        self.branch_id: list[str] = []
        self.inst_branches: list[list[int]] = []
        self.inst_region_branches: list[dict[str, list[int]]] = []
        for i, inst in enumerate(self.insts):
            own: list[int] = []
            by_region: dict[str, list[int]] = {}
            for number, region in enumerate(inst.regions, start=1):
                index = len(self.branch_inst)
                self.branch_inst.append(i)
                self.branch_region.append(region)
                self.branch_id.append(f"{inst.institution_id}-B{number:03d}")
                own.append(index)
                by_region.setdefault(region, []).append(index)
            self.inst_branches.append(own)
            self.inst_region_branches.append(by_region)
        self.us_regions = [(s, w) for s, w in US_STATES]
        self.mx_regions = [(s[0], s[2]) for s in MX_STATES]
        self.mx_curp_state = {s[0]: s[1] for s in MX_STATES}
        self.mx_plaza = {s[0]: s[3] for s in MX_STATES}

    # identifiers ---------------------------------------------------------------------------
    def _unique(self, make: Any) -> str:
        while True:
            value = str(make())
            if value not in self.used:
                self.used.add(value)
                return value

    def ssn(self) -> str:
        r = self.rng

        def make() -> str:
            area = r.randint(1, 899)
            if area == 666:
                area = 667
            return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"

        return self._unique(make)

    def itin(self) -> str:
        r = self.rng
        groups = [*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100)]
        return self._unique(
            lambda: f"9{r.randint(0, 99):02d}-{r.choice(groups):02d}-{r.randint(0, 9999):04d}"
        )

    def ein(self) -> str:
        r = self.rng
        prefixes = [*range(10, 17), *range(20, 28), *range(30, 40), *range(41, 49), *range(50, 69)]
        return self._unique(lambda: f"{r.choice(prefixes):02d}-{r.randint(0, 9_999_999):07d}")

    def passport(self, country: str) -> str:
        r = self.rng
        if country == "MX":
            return self._unique(lambda: f"G{r.randint(10_000_000, 99_999_999)}")
        return self._unique(lambda: f"{r.randint(100_000_000, 999_999_999)}")

    # people and companies -----------------------------------------------------------------
    def person_name(self, country: str) -> tuple[str, str, str, str]:
        r = self.rng
        if country == "MX":
            first = r.choice(MX_FIRST)
            if r.random() < 0.3:
                first = f"{first} {r.choice(MX_FIRST)}"
            paternal, maternal = r.choice(MX_LAST), r.choice(MX_LAST)
            return f"{first} {paternal} {maternal}", first, paternal, maternal
        first, last = r.choice(US_FIRST), r.choice(US_LAST)
        if r.random() < 0.2:
            # Mexican-American names are common among US customers.
            first, last = r.choice(MX_FIRST), r.choice(MX_LAST)
        return f"{first} {last}", first, last, ""

    def entity_name(self, kind: str, country: str, owner: str) -> str:
        r = self.rng
        word = r.choice(ENTITY_WORDS[kind])
        head = r.choice(ENTITY_PREFIX) if r.random() < 0.6 else owner
        suffix = r.choice(MX_SUFFIX if country == "MX" else US_SUFFIX)
        return f"{head} {word} {suffix}"

    def branch_for(self, inst: int, region: str) -> int:
        local = self.inst_region_branches[inst].get(region)
        if local:
            return self.rng.choice(local)
        return self.rng.choice(self.inst_branches[inst])

    def open_account(self, subject: int, inst: int, opened: date) -> int:
        r = self.rng
        pop = self.pop
        institution = self.insts[inst]
        numbers = self.account_numbers[inst]
        upper = 10**11 - 1 if institution.jurisdiction == "MX" else 10**10 - 1
        while True:
            raw = r.randint(10**9, upper)
            if raw not in numbers:
                numbers.add(raw)
                break
        region = pop.region[subject]
        if institution.jurisdiction == "MX":
            plaza = self.mx_plaza.get(region, "010")
            number = clabe(institution.bank_code, plaza, raw)
        else:
            number = f"{raw:010d}"
        customers = self.customer_numbers[inst]
        while True:
            customer = r.randint(1_000_000, 99_999_999)
            if customer not in customers:
                customers.add(customer)
                break
        # The customer id is per institution: the subject key (identifiers) links them.
        existing = [a for a in pop.accounts[subject] if pop.a_inst[a] == inst]
        if existing:
            customer_id = pop.a_customer[existing[0]]
        else:
            customer_id = f"C{customer:08d}"
        index = len(pop.a_subject)
        pop.a_subject.append(subject)
        pop.a_inst.append(inst)
        pop.a_number.append(number)
        pop.a_customer.append(customer_id)
        text = opened.isoformat()
        pop.a_opened.append(self.dates.setdefault(text, text))
        pop.a_branch.append(self.branch_for(inst, region))
        pop.accounts[subject].append(index)
        return index

    def opened_date(self, long_ago: bool = False) -> date:
        r = self.rng
        if long_ago:
            back = r.randint(2 * 365, 15 * 365)
        elif r.random() < 0.07:
            back = r.randint(5, 120)  # recently opened accounts, legitimately
        else:
            back = int(min(25 * 365, r.expovariate(1 / (6 * 365)) + 120))
        return self.start - timedelta(days=back)

    def add_subject(self, kind: int, country: str, dormant: bool) -> int:
        r = self.rng
        pop = self.pop
        subject = len(pop.kind)
        region = _weighted(r, self.us_regions if country == "US" else self.mx_regions)
        if kind in (K_REMITTER,) and r.random() < 0.6:
            region = _weighted(
                r,
                [
                    (s, w)
                    for s, w in self.us_regions
                    if s in ("CA", "TX", "IL", "AZ", "FL", "NY", "GA", "NC", "CO", "WA", "NV", "NM")
                ],
            )
        is_entity = kind not in (K_PERSON, K_REMITTER)
        identifiers: list[tuple[str, str, str]] = []
        full, first, paternal, maternal = self.person_name(country)
        born = self.start - timedelta(days=r.randint(19 * 365, 85 * 365))
        occupation: str | None = None
        naics: str | None = None
        if is_entity:
            kind_name = SUBJECT_KINDS[kind]
            name = self.entity_name(kind_name, country, paternal)
            naics = r.choice(NAICS[kind_name])
            founded = self.start - timedelta(days=r.randint(200, 30 * 365))
            if country == "US":
                identifiers.append(("EIN", self.ein(), "US"))
            else:
                identifiers.append(
                    ("RFC", self._unique(lambda: rfc_entity(name, founded, r)), "MX")
                )
        else:
            name = full
            if country == "MX":
                occupation = r.choice(MX_OCCUPATIONS)
                rfc = self._unique(lambda: rfc_person(paternal, maternal, first, born, r))
                sex = r.choice("HM")
                state = self.mx_curp_state.get(region, "DF")
                identifiers.append(("RFC", rfc, "MX"))
                code = self._unique(lambda: curp(paternal, maternal, first, born, sex, state, r))
                identifiers.append(("CURP", code, "MX"))
                if r.random() < 0.2:
                    identifiers.append(("PASSPORT", self.passport("MX"), "MX"))
            else:
                occupation = r.choice(US_OCCUPATIONS)
                if kind == K_REMITTER and r.random() < 0.55:
                    identifiers.append(("ITIN", self.itin(), "US"))
                    identifiers.append(("PASSPORT", self.passport("MX"), "MX"))
                    if r.random() < 0.4:
                        state = r.choice(list(self.mx_curp_state.values()))
                        sex = r.choice("HM")
                        code = self._unique(
                            lambda: curp(paternal, maternal or paternal, first, born, sex, state, r)
                        )
                        identifiers.append(("CURP", code, "MX"))
                else:
                    identifiers.append(("SSN", self.ssn(), "US"))
                    if r.random() < 0.3:
                        identifiers.append(("PASSPORT", self.passport("US"), "US"))
        pop.kind.append(kind)
        pop.country.append(country)
        pop.region.append(region)
        pop.is_entity.append(is_entity)
        pop.name.append(name)
        pop.identifiers.append(tuple(identifiers))
        pop.occupation.append(occupation)
        pop.naics.append(naics)
        pop.accounts.append([])
        # accounts
        inst = self.pick_institution(country, region, kind)
        self.open_account(subject, inst, self.opened_date(long_ago=dormant))
        return subject

    def pick_institution(
        self,
        country: str,
        region: str,
        kind: int,
        kinds: tuple[str, ...] = ("bank", "credit_union"),
    ) -> int:
        key = (country, region, kind in (K_PERSON, K_REMITTER), kinds)
        cached = self.institution_choices.get(key)
        if cached is None:
            cached = self.institution_choices[key] = self._institution_choice(
                country, region, kind, kinds
            )
        return int(cached.draw(self.rng))

    def _institution_choice(
        self, country: str, region: str, kind: int, kinds: tuple[str, ...]
    ) -> _Choice:
        options: list[tuple[int, float]] = []
        for i, inst in enumerate(self.insts):
            if inst.jurisdiction != country or inst.kind not in kinds:
                continue
            local = region in self.inst_region_branches[i]
            size = len(inst.regions)
            weight = (3.0 if local else 0.15) * (1 + size / 20)
            if kind != K_PERSON and kind != K_REMITTER and inst.kind == "credit_union":
                weight = 0.0
            options.append((i, weight))
        return _Choice.of(tuple(options))


def _subject_count(config: GeneratorConfig) -> int:
    """Sizes the population so that ``n_reports`` take about ``days`` days."""
    first = config.start.astimezone(UTC).date()
    months = [(first + timedelta(days=d)).month for d in range(config.days)]
    # About half of the volume (card spend, cash takings) follows the season.
    season = 0.5 + 0.5 * sum(SEASON[m] for m in months) / len(months)
    per_day = config.n_reports / config.days
    return max(80, round(per_day / (REPORTS_PER_SUBJECT_DAY * season)))


# ---------------------------------------------------------------------------------------------
# Simulation

# An event is a tuple sorted by (time, sequence):
#   transaction: (t, seq, account, direction, instrument, channel, amount, currency|None,
#                 counterparty, branch, case)
#   STR:         (t, seq, -1, account, case, categories, narrative, activity_from, activity_to)
# ``counterparty`` is an account index (a simulated account), an external party tuple
# (name, account_id|None, institution_id|None, country, type) or None.
Event = tuple[Any, ...]
External = tuple[str, str | None, str | None, str, str]

_EMPLOYER_KINDS = (K_CASH, K_TRADE, K_SERVICE, K_ESCROW, K_WHOLESALE, K_LANDLORD)


@dataclass
class _Table:
    """One legitimate activity over the subjects that have it (numpy columns)."""

    subj: IntArray
    acct: IntArray
    rate: FloatArray
    scale: FloatArray
    aux: IntArray
    aux2: IntArray

    @classmethod
    def of(cls, rows: _Rows) -> _Table:
        return cls(
            np.frombuffer(rows.subj, dtype=np.int64),
            np.frombuffer(rows.acct, dtype=np.int64),
            np.frombuffer(rows.rate, dtype=np.float64),
            np.frombuffer(rows.scale, dtype=np.float64),
            np.frombuffer(rows.aux, dtype=np.int64),
            np.frombuffer(rows.aux2, dtype=np.int64),
        )


class _Rows:
    """Columns of a _Table while it is built (compact: no tuple per row)."""

    def __init__(self) -> None:
        self.subj = array("q")
        self.acct = array("q")
        self.rate = array("d")
        self.scale = array("d")
        self.aux = array("q")
        self.aux2 = array("q")

    def append(self, row: tuple[int, int, float, float, int, int]) -> None:
        subj, acct, rate, scale, aux, aux2 = row
        self.subj.append(subj)
        self.acct.append(acct)
        self.rate.append(rate)
        self.scale.append(scale)
        self.aux.append(aux)
        self.aux2.append(aux2)


class _Simulator:
    """The world of one generator run; implements ``models.typologies.World``."""

    def __init__(self, config: GeneratorConfig) -> None:
        if config.start.tzinfo is None:
            raise ValueError("GeneratorConfig.start must be timezone-aware (UTC)")
        if config.n_reports < 0 or config.days < 1:
            raise ValueError("n_reports must be >= 0 and days >= 1")
        self.config = config
        self.params = config.params
        self.days = config.days
        self.seed = config.seed
        start = config.start.astimezone(UTC)
        self.t0 = int(start.timestamp())
        self.start_date = start.date()
        self.start_weekday = self.start_date.weekday()
        self.np_rng = np.random.default_rng(config.seed)
        self.insts = institutions()
        self.inst_country = [inst.jurisdiction for inst in self.insts]
        self.inst_currency = [inst.currency for inst in self.insts]
        self.seq = 0
        self.buckets: dict[int, list[Event]] = {}
        self.frontier = 0
        self.counters = [0] * len(self.insts)
        self.prefix_cache: dict[int, str] = {}
        self.used: set[int] = set()
        self.case_labels: list[tuple[str | None, str | None]] = []
        builder = _Builder(random.Random(f"{config.seed}:population"), self.start_date)  # noqa: S311 - a seeded simulation, not security
        self._build_population(builder, _subject_count(config))
        self._plan(random.Random(f"{config.seed}:plan"))  # noqa: S311 - a seeded simulation, not security

    # ---- population -----------------------------------------------------------------------
    def _build_population(self, b: _Builder, n: int) -> None:
        r = b.rng
        plan: list[tuple[int, str]] = []
        for country, mix in (("US", US_MIX), ("MX", MX_MIX)):
            for kind, share in mix:
                plan.extend([(kind, country)] * max(3, round(n * share)))
        r.shuffle(plan)
        dormant_flags = [
            kind != K_ESCROW and r.random() < (0.04 if kind in (K_PERSON, K_REMITTER) else 0.03)
            for kind, _ in plan
        ]
        for (kind, country), dormant in zip(plan, dormant_flags, strict=True):
            b.add_subject(kind, country, dormant)
        pop = b.pop
        self.pop = pop
        self.branch_inst = b.branch_inst
        self.branch_region_of = b.branch_region
        self.branch_id = b.branch_id
        self.inst_branches = b.inst_branches
        n_subjects = len(pop.kind)
        self.n_subjects = n_subjects
        casa = [i for i, inst in enumerate(self.insts) if inst.kind == "casa_de_cambio"]
        msb = [i for i, inst in enumerate(self.insts) if inst.kind == "msb"]
        transmisor = [i for i, inst in enumerate(self.insts) if inst.kind == "transmisor"]
        self.dormant = [s for s in range(n_subjects) if dormant_flags[s]]
        # ---- extra accounts (same identifiers everywhere: the subject key links them)
        for s in range(n_subjects):
            kind, country, region = pop.kind[s], pop.country[s], pop.region[s]
            long_ago = dormant_flags[s]
            if country == "US" and kind in (K_PERSON, K_REMITTER) and r.random() < 0.06:
                self._open_other(b, s, "US", ("bank", "credit_union"), long_ago)
            if kind == K_REMITTER:
                if r.random() < 0.5:
                    b.open_account(s, r.choice(msb), b.opened_date(long_ago))
                if r.random() < 0.15:
                    self._open_other(b, s, "MX", ("bank",), long_ago)
            if country == "MX" and kind == K_PERSON:
                if region in MX_BORDER and r.random() < 0.12:
                    self._open_other(b, s, "US", ("bank", "credit_union"), long_ago)
                if r.random() < 0.05:
                    b.open_account(s, r.choice(casa), b.opened_date(long_ago))
                if r.random() < 0.12:
                    b.open_account(s, transmisor[0], b.opened_date(long_ago))
            if country == "MX" and kind in (K_CASH, K_SERVICE, K_TRADE):
                if r.random() < (0.3 if kind == K_TRADE else 0.08):
                    b.open_account(s, r.choice(casa), b.opened_date(long_ago))
                if kind == K_TRADE and r.random() < 0.2:
                    self._open_other(b, s, "US", ("bank",), long_ago)
            if country == "US" and kind == K_TRADE and r.random() < 0.15:
                self._open_other(b, s, "MX", ("bank",), long_ago)
        # Guarantee a few casa customers, whatever the population size.
        mx_people = [s for s in range(n_subjects) if pop.country[s] == "MX"]
        while sum(1 for s in mx_people if self._has_kind(s, "casa_de_cambio")) < 3:
            b.open_account(r.choice(mx_people), r.choice(casa), b.opened_date())
        self.a_subject = pop.a_subject
        self.a_inst = pop.a_inst
        n_accounts = len(pop.a_subject)
        self.n_accounts = n_accounts
        # ---- per-report pieces, prebuilt once
        self.subject_parts: list[tuple[Any, ...]] = []
        for s in range(n_subjects):
            extra = (
                ("naics", pop.naics[s]) if pop.is_entity[s] else ("occupation", pop.occupation[s])
            )
            self.subject_parts.append(
                (
                    "entity" if pop.is_entity[s] else "person",
                    pop.name[s],
                    pop.country[s],
                    pop.identifiers[s],
                    extra[0],
                    extra[1],
                )
            )
        self.account_cp: list[External] = [
            (
                pop.name[pop.a_subject[a]],
                pop.a_number[a],
                self.insts[pop.a_inst[a]].institution_id,
                self.inst_country[pop.a_inst[a]],
                "entity" if pop.is_entity[pop.a_subject[a]] else "person",
            )
            for a in range(n_accounts)
        ]
        self.branch_location = [
            (self.inst_country[self.branch_inst[i]], self.branch_region_of[i], self.branch_id[i])
            for i in range(len(self.branch_id))
        ]
        self._build_externals(r)
        self._build_activity(r)
        self._build_pools()

    def _has_kind(self, subject: int, kind: str) -> bool:
        return any(self.insts[self.pop.a_inst[a]].kind == kind for a in self.pop.accounts[subject])

    def _open_other(
        self, b: _Builder, subject: int, country: str, kinds: tuple[str, ...], long_ago: bool
    ) -> None:
        pop = b.pop
        have = {pop.a_inst[a] for a in pop.accounts[subject]}
        region = (
            pop.region[subject]
            if pop.country[subject] == country
            else ("TX" if country == "US" else "CHH")
        )
        for _ in range(5):
            inst = b.pick_institution(country, region, pop.kind[subject], kinds)
            if inst not in have:
                b.open_account(subject, inst, b.opened_date(long_ago))
                return

    # ---- external parties -------------------------------------------------------------------
    def _external_account(self, r: random.Random, country: str) -> tuple[str, str]:
        if country == "US":
            return f"{r.randint(10**9, 10**10 - 1)}", f"US-FI-{r.randint(101, 140):04d}"
        if country == "MX":
            bank = f"{r.randint(30, 199):03d}"
            return clabe(
                bank, "010", r.randint(10**9, 10**11 - 1)
            ), f"MX-FI-{r.randint(101, 130):04d}"
        digits = "".join(r.choice("0123456789") for _ in range(r.randint(14, 20)))
        return f"{country}{r.randint(10, 99)}{digits}", f"{country}-FI-{r.randint(1, 4):04d}"

    def _external_name(self, r: random.Random, country: str, party_type: str) -> str:
        if party_type == "person":
            return self.person_name(r, country)
        word = r.choice(ENTITY_WORDS[r.choice(("trade", "service", "wholesale"))])
        if country == "MX":
            return f"{r.choice(ENTITY_PREFIX)} {word} {r.choice(MX_SUFFIX)}"
        suffix = {
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
        }.get(country, r.choice(("Ltd", "S.A.", "LLC", "Inc")))
        return f"{r.choice(ENTITY_PREFIX)} {word} {suffix}"

    def _external(self, r: random.Random, country: str, party_type: str) -> External:
        account, institution = self._external_account(r, country)
        return (
            self._external_name(r, country, party_type),
            account,
            institution,
            country,
            party_type,
        )

    def _build_externals(self, r: random.Random) -> None:
        def merchants(country: str, n: int) -> list[External]:
            out: list[External] = []
            for _ in range(n):
                head = (
                    r.choice(ENTITY_PREFIX)
                    if r.random() < 0.5
                    else r.choice(MX_LAST if country == "MX" else US_LAST)
                )
                out.append((f"{head} {r.choice(MERCHANT_WORDS)}", None, None, country, "entity"))
            return out

        self.merchants = {"US": merchants("US", 400), "MX": merchants("MX", 300)}
        self.merchants_foreign = [
            (f"{r.choice(ENTITY_PREFIX)} {r.choice(MERCHANT_WORDS)} Ltd", None, None, c, "entity")
            for c in ("IE", "CN", "GB", "CA", "NL", "SG", "ES", "CO")
        ]
        self.utilities = {
            c: [self._external(r, c, "entity") for _ in range(12)] for c in ("US", "MX")
        }
        self.processors = {
            c: [self._external(r, c, "entity") for _ in range(3)] for c in ("US", "MX")
        }
        self.landlords_ext = {
            c: [self._external(r, c, "person") for _ in range(300)] for c in ("US", "MX")
        }
        self.clients_ext = {
            c: [self._external(r, c, rt) for _ in range(600) for rt in ("entity", "person")]
            for c in ("US", "MX")
        }
        self.vendors_ext = {
            c: [self._external(r, c, "entity") for _ in range(300)] for c in ("US", "MX")
        }
        self.family_abroad = [
            self._external(r, c, "person") for c in ("GT", "SV", "HN") for _ in range(200)
        ]
        self.havens = [
            self._external(r, c, "entity") for c in ("KY", "BS", "PA", "VG") for _ in range(20)
        ]
        self.foreign_suppliers = [
            self._external(r, c, "entity") for c in FOREIGN_COUNTRIES for _ in range(25)
        ]

    # ---- legitimate behaviour ---------------------------------------------------------------
    def _build_activity(self, r: random.Random) -> None:
        pop = self.pop
        n = self.n_subjects
        self.active_until = np.full(n, 1 << 40, dtype=np.int64)
        for s in self.dormant:
            # Legitimately idle accounts: silent for the whole run, or going quiet within it.
            self.active_until[s] = 0 if r.random() < 0.7 else r.randint(1, self.days)
        idle = set(self.dormant)

        def of_kinds(country: str, kinds: tuple[int, ...]) -> list[int]:
            # Idle accounts never receive legitimate flows, so their silence is real.
            return [
                s
                for s in range(n)
                if pop.country[s] == country and pop.kind[s] in kinds and s not in idle
            ]

        employers = {c: of_kinds(c, _EMPLOYER_KINDS) for c in ("US", "MX")}
        landlords = {c: of_kinds(c, (K_LANDLORD,)) for c in ("US", "MX")}
        wholesalers = {c: of_kinds(c, (K_WHOLESALE,)) for c in ("US", "MX")}
        people = {c: of_kinds(c, (K_PERSON, K_REMITTER)) for c in ("US", "MX")}
        traders = {c: of_kinds(c, (K_TRADE, K_WHOLESALE)) for c in ("US", "MX")}
        mx_recipients = people["MX"]
        self.employer_phase = [r.randint(0, 1) for _ in range(n)]
        self.cash_daily = np.zeros(n, dtype=np.int64)
        self.subject_mx = np.asarray([c == "MX" for c in pop.country], dtype=np.bool_)
        card = _Rows()
        atm = _Rows()
        deposit = _Rows()
        payroll = _Rows()
        batch = _Rows()
        rent = _Rows()
        utility = _Rows()
        remit = _Rows()
        p2p = _Rows()
        own = _Rows()
        big_cash = _Rows()
        cash_biz = _Rows()
        settle = _Rows()
        supply = _Rows()
        trade = _Rows()
        clients = _Rows()
        vendors = _Rows()
        escrow = _Rows()
        usd_cash = _Rows()
        haven = _Rows()
        abroad = _Rows()
        self.rent_ext: dict[int, External] = {}
        self.trade_partners: dict[int, list[int | External]] = {}
        self.friends = np.full((n, 3), -1, dtype=np.int64)
        self.remit_target: dict[int, int | External] = {}
        self.conductors: dict[int, tuple[str, str]] = {}
        for s in range(n):
            kind, country = pop.kind[s], pop.country[s]
            mx = country == "MX"
            fx = MXN_PER_USD_X100 / 100 if mx else 1.0
            acct = pop.accounts[s][0]
            act = r.lognormvariate(0, 0.45)
            if kind in (K_PERSON, K_REMITTER):
                card_rate = (0.45 if mx else (0.55 if kind == K_REMITTER else 0.85)) * act
                card.append((s, acct, card_rate, r.lognormvariate(0, 0.4) * 3800 * fx, int(mx), 0))
                atm.append((s, acct, (0.16 if mx else 0.07) * act, 0.0, int(mx), 0))
                deposit.append(
                    (
                        s,
                        acct,
                        (0.04 if mx else 0.015) * act,
                        r.lognormvariate(0, 0.7) * 25_000 * fx,
                        int(mx),
                        0,
                    )
                )
                if r.random() < (0.7 if mx else 0.85) and employers[country]:
                    employer = r.choice(employers[country])
                    pay = r.lognormvariate(0, 0.5) * (52_000_00 / 26 if not mx else 6_000_00)
                    payroll.append((s, acct, 0.0, pay, pop.accounts[employer][0], employer))
                if r.random() < (0.35 if mx else 0.55):
                    amount = round(r.lognormvariate(0, 0.35) * (1_450 if not mx else 6_500), -1)
                    if landlords[country] and r.random() < 0.6:
                        target = pop.accounts[r.choice(landlords[country])][0]
                    else:
                        target = -1
                        self.rent_ext[s] = r.choice(self.landlords_ext[country])
                    rent.append((s, acct, 0.0, amount * 100, r.randint(1, 28), target))
                utility.append(
                    (s, acct, 0.0, r.uniform(60, 260) * 100 * fx, r.randint(1, 28), r.randrange(12))
                )
                pool = people[country]
                if len(pool) > 1:
                    self.friends[s] = [r.choice(pool) for _ in range(3)]
                p2p.append((s, acct, 0.03 * act, r.lognormvariate(0, 0.8) * 6_000 * fx, 0, 0))
                second = [
                    a
                    for a in pop.accounts[s][1:]
                    if self.insts[pop.a_inst[a]].kind in ("bank", "credit_union")
                ]
                if second:
                    own.append((s, acct, 0.02, 0.0, second[0], 0))
                big_cash.append((s, acct, (0.2 if mx else 0.3) / 365, 0.0, int(mx), 0))
                if kind == K_REMITTER:
                    via = [a for a in pop.accounts[s] if self.insts[pop.a_inst[a]].kind == "msb"]
                    period = r.choice((7, 14, 14, 15, 30, 30))
                    amount_usd = r.lognormvariate(0, 0.45) * 320
                    if r.random() < 0.15:
                        self.remit_target[s] = r.choice(self.family_abroad)
                    elif mx_recipients:
                        target_subject = r.choice(mx_recipients)
                        accounts = pop.accounts[target_subject]
                        paid = [
                            a for a in accounts if self.insts[pop.a_inst[a]].kind == "transmisor"
                        ]
                        self.remit_target[s] = (paid or accounts)[0]
                    if s in self.remit_target:
                        source = via[0] if via else acct
                        remit.append(
                            (s, source, float(period), amount_usd * 100, r.randrange(period), 0)
                        )
                if mx and pop.region[s] in MX_BORDER and r.random() < 0.15:
                    usd_cash.append((s, acct, 0.04, r.uniform(100, 1_500) * 100, 0, 0))
                if not mx and r.random() < 0.006:
                    haven.append((s, acct, 1 / 30, r.uniform(10_000, 90_000) * 100, 0, 0))
                # tuition, property, purchases or family abroad
                abroad.append(
                    (s, acct, 0.004 * act, r.lognormvariate(0, 0.9) * 1_500_00 * fx, 0, 0)
                )
                continue
            # entities
            if kind == K_LANDLORD:
                vendors.append((s, acct, 0.12 * act, r.lognormvariate(0, 0.8) * 150_000 * fx, 0, 0))
            elif kind == K_WHOLESALE:
                vendors.append((s, acct, 0.15 * act, r.lognormvariate(0, 0.8) * 250_000 * fx, 0, 0))
                haven_partner = 0
                trade.append(
                    (s, acct, 0.1 * act, r.lognormvariate(0, 0.6) * 20_000_00, 0, haven_partner)
                )
            if kind in (K_CASH, K_SERVICE, K_TRADE, K_WHOLESALE, K_ESCROW, K_LANDLORD):
                staff = max(2.0, r.lognormvariate(1.6, 0.7))
                pay = staff * r.lognormvariate(0, 0.3) * (1_900_00 if not mx else 5_500_00)
                batch.append((s, acct, 0.0, pay, 0, 0))
                utility.append(
                    (
                        s,
                        acct,
                        0.0,
                        r.uniform(200, 1_500) * 100 * fx,
                        r.randint(1, 28),
                        r.randrange(12),
                    )
                )
                card.append((s, acct, 0.2 * act, r.lognormvariate(0, 0.5) * 9_000 * fx, int(mx), 0))
            if kind in (K_CASH, K_SERVICE, K_TRADE, K_WHOLESALE) and r.random() < 0.7:
                amount = round(r.lognormvariate(0, 0.5) * (3_500 if not mx else 25_000), -1)
                if landlords[country] and r.random() < 0.5:
                    target = pop.accounts[r.choice(landlords[country])][0]
                else:
                    target = -1
                    self.rent_ext[s] = r.choice(self.landlords_ext[country])
                rent.append((s, acct, 0.0, amount * 100, r.randint(1, 28), target))
            if kind == K_CASH:
                daily = r.lognormvariate(0, 0.65) * (2_300_00 if not mx else 26_000_00)
                self.cash_daily[s] = int(daily)
                self.conductors[s] = (self.person_name(r, country), self.person_name(r, country))
                cash_biz.append((s, acct, 0.0, daily, r.randrange(7), 0))
                settle.append((s, acct, 0.0, daily * r.uniform(0.4, 1.5), 0, 0))
                if wholesalers[country]:
                    target = pop.accounts[r.choice(wholesalers[country])][0]
                    supply.append(
                        (s, acct, 0.0, daily * 7 * r.uniform(0.15, 0.35), r.randrange(5), target)
                    )
            elif kind == K_TRADE:
                partners: list[int | External] = []
                other = traders["MX" if country == "US" else "US"] + traders[country]
                for _ in range(r.randint(3, 6)):
                    if other and r.random() < 0.5:
                        partners.append(pop.accounts[r.choice(other)][0])
                    else:
                        partners.append(r.choice(self.foreign_suppliers))
                if r.random() < 0.08:
                    partners.append(r.choice(self.havens))
                self.trade_partners[s] = partners
                trade.append((s, acct, 0.22 * act, r.lognormvariate(0, 0.9) * 35_000_00, 1, 0))
                clients.append((s, acct, 0.1 * act, r.lognormvariate(0, 0.8) * 4_000_00 * fx, 0, 0))
            elif kind == K_SERVICE:
                clients.append(
                    (s, acct, 0.55 * act, r.lognormvariate(0, 0.9) * 1_800_00 * fx, 0, 0)
                )
                vendors.append((s, acct, 0.15 * act, r.lognormvariate(0, 0.8) * 90_000 * fx, 0, 0))
            elif kind == K_ESCROW:
                escrow.append((s, acct, 0.25 * act, 0.0, 0, 0))
        self.t_card = _Table.of(card)
        self.t_atm = _Table.of(atm)
        self.t_deposit = _Table.of(deposit)
        self.t_payroll = _Table.of(payroll)
        self.t_batch = _Table.of(batch)
        self.t_rent = _Table.of(rent)
        self.t_utility = _Table.of(utility)
        self.t_remit = _Table.of(remit)
        self.t_p2p = _Table.of(p2p)
        self.t_own = _Table.of(own)
        self.t_big_cash = _Table.of(big_cash)
        self.t_cash_biz = _Table.of(cash_biz)
        self.t_settle = _Table.of(settle)
        self.t_supply = _Table.of(supply)
        self.t_trade = _Table.of(trade)
        self.t_clients = _Table.of(clients)
        self.t_vendors = _Table.of(vendors)
        self.t_escrow = _Table.of(escrow)
        self.t_usd_cash = _Table.of(usd_cash)
        self.t_haven = _Table.of(haven)
        self.t_abroad = _Table.of(abroad)
        self.payroll_phase = np.asarray(
            [self.employer_phase[e] for e in self.t_payroll.aux2.tolist()], dtype=np.int64
        )
        self.batch_phase = np.asarray(
            [self.employer_phase[e] for e in self.t_batch.subj.tolist()], dtype=np.int64
        )
        self.people = people

    def _build_pools(self) -> None:
        pop = self.pop
        n = self.n_subjects
        dormant = set(self.dormant)
        national = {
            i
            for i, inst in enumerate(self.insts)
            if len(set(inst.regions)) >= 10 and inst.jurisdiction == "US"
        }

        def members(test: Any) -> array[int]:
            # Compact int arrays: pools hold most of the population several times over.
            return array("q", (s for s in range(n) if s not in dormant and test(s)))

        person = (K_PERSON, K_REMITTER)
        entity = (K_CASH, K_TRADE, K_SERVICE, K_LANDLORD, K_WHOLESALE)
        self.pools: dict[str, array[int]] = {
            "person_us": members(lambda s: pop.country[s] == "US" and pop.kind[s] in person),
            "person_mx": members(lambda s: pop.country[s] == "MX" and pop.kind[s] in person),
            "entity_us": members(lambda s: pop.country[s] == "US" and pop.kind[s] in entity),
            "entity_mx": members(lambda s: pop.country[s] == "MX" and pop.kind[s] in entity),
            "entity_any": members(lambda s: pop.kind[s] in entity),
            "person_any": members(lambda s: pop.kind[s] in person),
            "national_us": members(
                lambda s: (
                    pop.country[s] == "US"
                    and pop.kind[s] != K_ESCROW
                    and pop.a_inst[pop.accounts[s][0]] in national
                )
            ),
            "cash_us": members(lambda s: pop.country[s] == "US" and pop.kind[s] == K_CASH),
            "cash_mx": members(lambda s: pop.country[s] == "MX" and pop.kind[s] == K_CASH),
            "trade_us": members(lambda s: pop.country[s] == "US" and pop.kind[s] == K_TRADE),
            "casa_customer": members(lambda s: self._has_kind(s, "casa_de_cambio")),
            "nontrade_entity": members(lambda s: pop.kind[s] in (K_CASH, K_SERVICE, K_LANDLORD)),
        }
        self.pool_fallback = {
            "person_us": "person_any",
            "person_mx": "person_any",
            "entity_us": "entity_any",
            "entity_mx": "entity_any",
            "national_us": "person_us",
            "cash_us": "entity_us",
            "cash_mx": "entity_mx",
            "trade_us": "entity_us",
            "casa_customer": "person_mx",
            "nontrade_entity": "entity_any",
        }

    # ---- the plan of laundering cases and scripted benign episodes -------------------------
    def _plan(self, r: random.Random) -> None:
        params = self.params
        share = self.config.laundering_share
        n_cases = 0 if share <= 0 else max(1, round(share * self.n_subjects))
        weights = list(zip(TYPOLOGIES, params.typology_weights, strict=True))
        first = list(TYPOLOGIES)
        r.shuffle(first)
        kinds = first[:n_cases] + [_weighted(r, weights) for _ in range(n_cases - len(first))]
        self.plan: dict[int, list[Case]] = {}
        self.cases: list[Case] = []
        dormant_pool = list(self.dormant)
        r.shuffle(dormant_pool)
        for index, typology in enumerate(kinds):
            latest = max(0, self.days - SPAN_DAYS[typology])
            earliest = 0
            if typology == "dormant_reactivation":
                earliest = int(self.days * 0.35)
            elif typology == "cash_intensive_anomaly":
                earliest = int(self.days * 0.25)
            day = r.randint(min(earliest, latest), latest)
            case = Case(index, f"C-{self.seed:x}-{index:05d}", typology, day)
            if typology == "dormant_reactivation":
                if dormant_pool:
                    case.subject = dormant_pool.pop()
                else:
                    case.subject = r.choice(self.pools["person_any"] or array("q", [0]))
                lo, hi = params.dormant_idle_days
                case.idle_days = r.randint(lo, hi)
                self.active_until[case.subject] = day - case.idle_days
                self.used.add(case.subject)
            self.cases.append(case)
            self.plan.setdefault(day, []).append(case)
        # Benign episodes: dormant accounts waking up legitimately, and false suspicion.
        self.benign: dict[int, list[tuple[str, int]]] = {}
        n_wake = max(1, len(self.dormant) // 6)
        for _ in range(n_wake if dormant_pool else 0):
            subject = dormant_pool.pop() if dormant_pool else r.choice(self.dormant)
            day = r.randint(int(self.days * 0.2), max(int(self.days * 0.2), self.days - 5))
            self.active_until[subject] = min(int(self.active_until[subject]), 0)
            self.benign.setdefault(day, []).append(("wake", subject))
        n_false = round(n_cases * params.str_share * params.false_str_ratio)
        plausible = [
            *self.pools["cash_us"],
            *self.pools["cash_mx"],
            *self.pools["person_any"][:200],
            *self.pools["entity_any"],
        ]
        for _ in range(n_false if plausible else 0):
            day = r.randint(0, max(0, self.days - 1))
            self.benign.setdefault(day, []).append(("str", r.choice(plausible)))

    # ---- World (models.typologies) ----------------------------------------------------------
    def day_time(self, day: int, local_hour: float) -> int:
        return day * DAY + LOCAL_OFFSET + int(local_hour * HOUR)

    def weekday(self, t: int) -> int:
        return (self.start_weekday + (t - LOCAL_OFFSET) // DAY) % 7

    def pick(self, pool: str, rng: random.Random, n: int = 1) -> list[int]:
        members = self.pools.get(pool) or self.pools[self.pool_fallback.get(pool, "person_any")]
        chosen: list[int] = []
        for _ in range(n):
            for _attempt in range(40):
                subject = rng.choice(members)
                if subject not in self.used and subject not in chosen:
                    break
            else:  # a small population: allow a subject in two schemes rather than fail
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
        home = self.pop.a_branch[account]
        region = self.branch_region_of[home]
        others = [b for b in self.inst_branches[self.a_inst[account]] if b != home]
        near = [b for b in others if self.branch_region_of[b] == region]
        return [home, *near, *(b for b in others if self.branch_region_of[b] != region)]

    def branch_region(self, branch: int) -> str:
        return self.branch_region_of[branch]

    def cash_scale(self, subject: int) -> int:
        return int(self.cash_daily[subject]) or 150_000

    def staff(self, subject: int) -> list[str]:
        names = self.conductors.get(subject)
        return list(names) if names else [self.pop.name[subject]]

    def person_name(self, rng: random.Random, country: str) -> str:
        if country == "MX" or (country in ("GT", "SV", "HN", "CO", "PE", "DO", "ES")):
            return f"{rng.choice(MX_FIRST)} {rng.choice(MX_LAST)} {rng.choice(MX_LAST)}"
        if rng.random() < 0.2:
            return f"{rng.choice(MX_FIRST)} {rng.choice(MX_LAST)}"
        return f"{rng.choice(US_FIRST)} {rng.choice(US_LAST)}"

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
        self._add(t, account, direction, "cash", channel, amount, None, party, branch, case)

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
            delay = 60 + (self.seq * 2_654_435_761) % (6 * HOUR)
        self._add(t, source, "out", instrument, channel, amount, None, target, -1, case)
        received = _convert(
            amount, self.inst_currency[source_inst], self.inst_currency[target_inst]
        )
        cross = self.inst_country[source_inst] != self.inst_country[target_inst]
        in_channel = "correspondent" if cross and instrument == "wire" else "other"
        self._add(t + delay, target, "in", instrument, in_channel, received, None, source, -1, case)

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
        party = self._external(rng, country, party_type)
        if direction == "in":
            # Incoming funds are booked like every other credit: by correspondent if foreign.
            domestic = country == self.inst_country[self.a_inst[account]]
            channel = "other" if domestic or instrument != "wire" else "correspondent"
        self._add(t, account, direction, instrument, channel, amount, None, party, -1, case)

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
        t = max(t, self.frontier, activity_to)
        self.seq += 1
        event = (t, self.seq, -1, account, case, categories, narrative, activity_from, activity_to)
        self.buckets.setdefault(t // DAY, []).append(event)

    # ---- events -----------------------------------------------------------------------------
    def _add(
        self,
        t: int,
        account: int,
        direction: str,
        instrument: str,
        channel: str,
        amount: int,
        currency: str | None,
        party: int | External | None,
        branch: int,
        case: int,
    ) -> None:
        if t < self.frontier:
            t = self.frontier
        self.seq += 1
        event = (
            t,
            self.seq,
            account,
            direction,
            instrument,
            channel,
            amount,
            currency,
            party,
            branch,
            case,
        )
        bucket = self.buckets.get(t // DAY)
        if bucket is None:
            self.buckets[t // DAY] = [event]
        else:
            bucket.append(event)

    # ---- one day of legitimate activity -----------------------------------------------------
    def _legit_day(self, k: int) -> None:  # noqa: C901 - one flat list of activities reads best
        today = self.start_date + timedelta(days=k)
        wd = today.weekday()
        dom = today.day
        season = SEASON[today.month]
        base = k * DAY + LOCAL_OFFSET
        g = self.np_rng
        alive = self.active_until > k
        business = wd < 5
        pop = self.pop
        add = self._add
        home_branch = pop.a_branch
        party: External | None

        def draw(table: _Table, factor: float) -> IntArray:
            if table.subj.size == 0 or factor <= 0:
                return np.zeros(0, dtype=np.int64)
            rates = table.rate * factor * alive[table.subj]
            return np.repeat(np.arange(rates.size), g.poisson(rates))

        def times(m: int, lo: float, hi: float) -> list[int]:
            return (base + (g.uniform(lo, hi, m) * HOUR).astype(np.int64)).tolist()

        def noisy(values: FloatArray, sigma: float) -> list[int]:
            return (
                np.maximum(100, values * np.exp(g.normal(0.0, sigma, values.size)))
                .astype(np.int64)
                .tolist()
            )

        # card spend
        t = self.t_card
        idx = draw(t, season * CARD_WEEKDAY[wd])
        if idx.size:
            m = idx.size
            picks = g.integers(0, 300, m).tolist()
            kinds = g.random(m).tolist()
            for a, amount, ts, pick, kind, mx in zip(
                t.acct[idx].tolist(),
                noisy(t.scale[idx], 0.9),
                times(m, 7, 23.5),
                picks,
                kinds,
                t.aux[idx].tolist(),
                strict=True,
            ):
                if kind < 0.02:
                    party = self.merchants_foreign[pick % len(self.merchants_foreign)]
                else:
                    party = self.merchants["MX" if mx else "US"][pick]
                add(
                    ts,
                    a,
                    "out",
                    "card",
                    "online" if kind < 0.27 else "other",
                    amount,
                    None,
                    party,
                    -1,
                    -1,
                )
        # ATM withdrawals (round notes)
        t = self.t_atm
        idx = draw(t, 1.15 if wd >= 4 else 1.0)
        if idx.size:
            m = idx.size
            notes = g.integers(2, 21, m).tolist()
            for a, n_notes, ts, mx in zip(
                t.acct[idx].tolist(), notes, times(m, 6, 24), t.aux[idx].tolist(), strict=True
            ):
                amount = n_notes * (20_000 if mx else 2_000)
                add(ts, a, "out", "cash", "atm", amount, None, None, home_branch[a], -1)
        # small cash deposits by persons (sometimes made by a relative)
        t = self.t_deposit
        idx = draw(t, 1.0 if wd < 6 else 0.0)
        if idx.size:
            m = idx.size
            helpers = g.random(m).tolist()
            day_rng = random.Random(f"{self.seed}:deposit:{k}")  # noqa: S311 - a seeded simulation, not security
            for a, amount, ts, helper, mx in zip(
                t.acct[idx].tolist(),
                noisy(t.scale[idx], 0.3),
                times(m, 9, 17),
                helpers,
                t.aux[idx].tolist(),
                strict=True,
            ):
                party = None
                if helper < 0.12:
                    country = "MX" if mx else "US"
                    party = (self.person_name(day_rng, country), None, None, country, "person")
                add(ts, a, "in", "cash", "branch", amount, None, party, home_branch[a], -1)
        # payroll (US biweekly Fridays, MX quincena) and the employers' payroll batches
        us_payday = wd == 4
        mx_payday = _is_quincena(today)
        parity = (today.toordinal() // 7) % 2
        for table, phase, batch in (
            (self.t_payroll, self.payroll_phase, False),
            (self.t_batch, self.batch_phase, True),
        ):
            if table.subj.size == 0 or not (us_payday or mx_payday):
                continue
            mx_rows = self.subject_mx[table.subj]
            due = np.where(mx_rows, mx_payday, us_payday & ((phase + parity) % 2 == 0))
            idx = np.nonzero(due & alive[table.subj])[0]
            if not idx.size:
                continue
            m = idx.size
            amounts = np.maximum(100, table.scale[idx] * g.uniform(0.97, 1.03, m)).astype(np.int64)
            if batch:
                for a, amount, ts, mx in zip(
                    table.acct[idx].tolist(),
                    amounts.tolist(),
                    times(m, 0.5, 2.5),
                    mx_rows[idx].tolist(),
                    strict=True,
                ):
                    party = self.processors["MX" if mx else "US"][a % 3]
                    add(ts, a, "out", "ach", "online", amount, None, party, -1, -1)
            else:
                for a, amount, ts, employer in zip(
                    table.acct[idx].tolist(),
                    amounts.tolist(),
                    times(m, 3, 6),
                    table.aux[idx].tolist(),
                    strict=True,
                ):
                    add(ts, a, "in", "ach", "other", amount, None, employer, -1, -1)
        # rent and utilities, monthly on their own day
        t = self.t_rent
        if t.subj.size:
            idx = np.nonzero((t.aux == dom) & alive[t.subj])[0]
            m = idx.size
            checks = g.random(m).tolist()
            for s, a, amount, target, ts, check in zip(
                t.subj[idx].tolist(),
                t.acct[idx].tolist(),
                t.scale[idx].astype(np.int64).tolist(),
                t.aux2[idx].tolist(),
                times(m, 6, 20),
                checks,
                strict=True,
            ):
                instrument = "check" if check < 0.15 else "ach"
                if target >= 0:
                    self.transfer(
                        ts,
                        a,
                        target,
                        amount,
                        -1,
                        instrument=instrument,
                        delay=int(2 * HOUR + check * 20 * HOUR),
                    )
                else:
                    add(ts, a, "out", instrument, "online", amount, None, self.rent_ext[s], -1, -1)
        t = self.t_utility
        if t.subj.size:
            idx = np.nonzero((t.aux == dom) & alive[t.subj])[0]
            m = idx.size
            for s, a, amount, which, ts in zip(
                t.subj[idx].tolist(),
                t.acct[idx].tolist(),
                noisy(t.scale[idx], 0.2),
                t.aux2[idx].tolist(),
                times(m, 1, 8),
                strict=True,
            ):
                party = self.utilities[pop.country[s]][which]
                add(ts, a, "out", "ach", "other", amount, None, party, -1, -1)
        # US -> MX remittances (and to Central America), often withdrawn in cash on arrival
        t = self.t_remit
        if t.subj.size:
            period = t.rate.astype(np.int64)
            idx = np.nonzero(((k + t.aux) % period == 0) & alive[t.subj])[0]
            if idx.size:
                m = idx.size
                rolls = g.random(m).tolist()
                waits = g.uniform(0.2, 20, m).tolist()
                for s, a, amount, ts, roll, wait in zip(
                    t.subj[idx].tolist(),
                    t.acct[idx].tolist(),
                    t.scale[idx].tolist(),
                    times(m, 9, 20),
                    rolls,
                    waits,
                    strict=True,
                ):
                    cents = int(amount * (0.9 + roll * 0.2))
                    if roll < 0.6:
                        cents = max(2_000, cents - cents % 1_000)
                    via_msb = self.insts[self.a_inst[a]].kind == "msb"
                    instrument = "money_order" if via_msb and roll < 0.25 else "wire"
                    channel = "branch" if via_msb else ("mobile" if roll < 0.5 else "online")
                    branch = home_branch[a] if via_msb else -1
                    target = self.remit_target[s]
                    if isinstance(target, int):
                        delay = int(wait * HOUR)
                        add(ts, a, "out", instrument, channel, cents, None, target, branch, -1)
                        received = _convert(cents, "USD", self.inst_currency[self.a_inst[target]])
                        add(
                            ts + delay,
                            target,
                            "in",
                            "wire",
                            "correspondent",
                            received,
                            None,
                            a,
                            -1,
                            -1,
                        )
                        if roll < 0.6:
                            out = received * (80 + int(roll * 33)) // 100
                            out -= out % 10_000
                            if out > 0:
                                later = ts + delay + int((0.5 + roll * 60) * HOUR)
                                add(
                                    later,
                                    target,
                                    "out",
                                    "cash",
                                    "atm" if out < 800_000 else "branch",
                                    out,
                                    None,
                                    None,
                                    home_branch[target],
                                    -1,
                                )
                    else:
                        add(ts, a, "out", instrument, channel, cents, None, target, branch, -1)
        # person-to-person payments between friends
        t = self.t_p2p
        idx = draw(t, 1.1 if wd >= 4 else 1.0)
        if idx.size:
            m = idx.size
            pick = g.integers(0, 3, m).tolist()
            for s, a, amount, ts, which in zip(
                t.subj[idx].tolist(),
                t.acct[idx].tolist(),
                noisy(t.scale[idx], 0.4),
                times(m, 7, 23),
                pick,
                strict=True,
            ):
                friend = int(self.friends[s, which])
                if friend < 0 or friend == s:
                    continue
                if which == 0:
                    amount = max(500, amount - amount % 500)
                self.transfer(
                    ts,
                    a,
                    pop.accounts[friend][0],
                    amount,
                    -1,
                    instrument="ach",
                    channel="mobile",
                    delay=5 + amount % 600,
                )
        # transfers between one's own accounts, in round amounts
        t = self.t_own
        idx = draw(t, 1.0)
        if idx.size:
            m = idx.size
            units = g.choice(np.asarray([50_000, 100_000, 200_000, 500_000]), m).tolist()
            flips = g.random(m).tolist()
            for a, other, unit, ts, flip in zip(
                t.acct[idx].tolist(),
                t.aux[idx].tolist(),
                units,
                times(m, 7, 22),
                flips,
                strict=True,
            ):
                source, target = (a, other) if flip < 0.5 else (other, a)
                amount = unit * (1 + int(flip * 8))
                if self.inst_currency[self.a_inst[source]] == "MXN":
                    amount *= 10
                self.transfer(
                    ts,
                    source,
                    target,
                    amount,
                    -1,
                    instrument="ach",
                    delay=int((1 + flip * 20) * HOUR),
                )
        # legitimate large cash: a car bought or sold, savings withdrawn
        t = self.t_big_cash
        idx = draw(t, 1.0 if wd < 6 else 0.0)
        if idx.size:
            m = idx.size
            flips = g.random(m).tolist()
            sizes = np.exp(g.normal(0.0, 0.4, m)).tolist()
            for a, mx, ts, flip, size in zip(
                t.acct[idx].tolist(),
                t.aux[idx].tolist(),
                times(m, 9, 16),
                flips,
                sizes,
                strict=True,
            ):
                amount = int(size * (13_000_00 if not mx else 190_000_00))
                amount -= amount % 10_000
                add(
                    ts,
                    a,
                    "out" if flip < 0.6 else "in",
                    "cash",
                    "branch",
                    max(10_000, amount),
                    None,
                    None,
                    home_branch[a],
                    -1,
                )
        # cash-intensive businesses: daily takings with a weekly cycle, card settlements, suppliers
        t = self.t_cash_biz
        if t.subj.size:
            idx = np.nonzero((t.aux != wd) & alive[t.subj])[0]
            m = idx.size
            takings = noisy(t.scale[idx] * (CASH_WEEKDAY[wd] * season), 0.25)
            splits = g.random(m).tolist()
            for s, a, amount, ts, split in zip(
                t.subj[idx].tolist(),
                t.acct[idx].tolist(),
                takings,
                times(m, 15, 20),
                splits,
                strict=True,
            ):
                staff = self.conductors[s]
                country = pop.country[s]
                if split < 0.12:
                    half = amount // 2
                    add(
                        ts - 5 * HOUR,
                        a,
                        "in",
                        "cash",
                        "branch",
                        half,
                        None,
                        (staff[1], None, None, country, "person"),
                        home_branch[a],
                        -1,
                    )
                    amount -= half
                add(
                    ts,
                    a,
                    "in",
                    "cash",
                    "branch",
                    amount,
                    None,
                    (staff[0], None, None, country, "person"),
                    home_branch[a],
                    -1,
                )
        t = self.t_settle
        if t.subj.size and business:
            idx = np.nonzero(alive[t.subj])[0]
            m = idx.size
            factor = season * (2.6 if wd == 0 else 1.0)
            for s, a, amount, ts in zip(
                t.subj[idx].tolist(),
                t.acct[idx].tolist(),
                noisy(t.scale[idx] * factor, 0.2),
                times(m, 1, 5),
                strict=True,
            ):
                party = self.processors[pop.country[s]][s % 3]
                add(ts, a, "in", "ach", "other", amount, None, party, -1, -1)
        t = self.t_supply
        if t.subj.size and business:
            idx = np.nonzero((t.aux == wd) & alive[t.subj])[0]
            m = idx.size
            checks = g.random(m).tolist()
            for a, target, amount, ts, check in zip(
                t.acct[idx].tolist(),
                t.aux2[idx].tolist(),
                noisy(t.scale[idx], 0.2),
                times(m, 8, 17),
                checks,
                strict=True,
            ):
                self.transfer(
                    ts,
                    a,
                    target,
                    amount,
                    -1,
                    instrument="check" if check < 0.3 else "ach",
                    delay=int((2 + check * 30) * HOUR),
                )
        # trade payments between importers and exporters, across the border and abroad
        t = self.t_trade
        idx = draw(t, 1.4 if business else 0.0)
        if idx.size:
            m = idx.size
            rolls = g.random(m).tolist()
            choice = g.integers(0, 1_000, m).tolist()
            for s, a, amount_usd, ts, roll, pick_i, is_trader in zip(
                t.subj[idx].tolist(),
                t.acct[idx].tolist(),
                noisy(t.scale[idx], 0.5),
                times(m, 8, 17),
                rolls,
                choice,
                t.aux[idx].tolist(),
                strict=True,
            ):
                if is_trader:
                    partners = self.trade_partners[s]
                    partner = partners[pick_i % len(partners)]
                else:
                    partner = self.foreign_suppliers[pick_i % len(self.foreign_suppliers)]
                source = a
                if roll < 0.5 and pop.country[s] == "MX" and len(pop.accounts[s]) > 1:
                    # Importers sometimes pay through their casa de cambio account.
                    casa = self.account_of(s, "casa_de_cambio")
                    source = casa if casa != a else a
                amount = _convert(amount_usd, "USD", self.inst_currency[self.a_inst[source]])
                if isinstance(partner, int):
                    if roll < 0.55:
                        self.transfer(
                            ts, source, partner, amount, -1, delay=int((0.5 + roll * 20) * HOUR)
                        )
                    else:
                        theirs = _convert(
                            amount_usd, "USD", self.inst_currency[self.a_inst[partner]]
                        )
                        self.transfer(
                            ts, partner, a, theirs, -1, delay=int((0.5 + roll * 20) * HOUR)
                        )
                elif roll < 0.6 or not is_trader:
                    add(ts, source, "out", "wire", "online", amount, None, partner, -1, -1)
                else:
                    add(ts, a, "in", "wire", "correspondent", amount, None, partner, -1, -1)
        # professional services: clients pay in, vendors paid out
        for table, direction, pool in (
            (self.t_clients, "in", self.clients_ext),
            (self.t_vendors, "out", self.vendors_ext),
        ):
            idx = draw(table, 1.35 if business else 0.0)
            if not idx.size:
                continue
            m = idx.size
            choice = g.integers(0, 1_000_000, m).tolist()
            fresh_rng = random.Random(f"{self.seed}:{direction}:{k}")  # noqa: S311 - a seeded simulation, not security
            for s, a, amount, ts, pick_i in zip(
                table.subj[idx].tolist(),
                table.acct[idx].tolist(),
                noisy(table.scale[idx], 0.5),
                times(m, 7, 18),
                choice,
                strict=True,
            ):
                parties = pool[pop.country[s]]
                instrument = "check" if pick_i % 5 == 0 else "ach"
                if pick_i % 10 < 3:  # a new client or supplier
                    party_type = "person" if pick_i % 3 == 0 else "entity"
                    party = self._external(fresh_rng, pop.country[s], party_type)
                else:
                    party = parties[pick_i % len(parties)]
                channel = "other" if direction == "in" else "online"
                add(ts, a, direction, instrument, channel, amount, None, party, -1, -1)
        # escrow and title companies: home purchases pass through within hours
        t = self.t_escrow
        idx = draw(t, 1.0 if business else 0.0)
        if idx.size:
            day_rng = random.Random(f"{self.seed}:escrow:{k}")  # noqa: S311 - a seeded simulation, not security
            for s, a, ts in zip(
                t.subj[idx].tolist(), t.acct[idx].tolist(), times(idx.size, 9, 13), strict=True
            ):
                country = pop.country[s]
                buyer = day_rng.choice(self.people[country])
                price = self.native(a, day_rng.uniform(150_000, 700_000))
                buyer_account = pop.accounts[buyer][0]
                self.transfer(ts, buyer_account, a, price, -1)
                out = int(price * day_rng.uniform(0.95, 0.985))
                later = ts + int(day_rng.uniform(2, 8) * HOUR)
                if day_rng.random() < 0.4:
                    seller = pop.accounts[day_rng.choice(self.people[country])][0]
                    self.transfer(later, a, seller, out, -1)
                else:
                    party = self._external(day_rng, country, "person")
                    add(later, a, "out", "wire", "online", out, None, party, -1, -1)
        # USD cash deposited at Mexican banks near the border, within the caps
        t = self.t_usd_cash
        idx = draw(t, 1.0 if wd < 6 else 0.0)
        for a, amount, ts in zip(
            t.acct[idx].tolist(), noisy(t.scale[idx], 0.2), times(idx.size, 9, 16), strict=True
        ):
            add(
                ts,
                a,
                "in",
                "cash",
                "branch",
                amount - amount % 1_000 or 1_000,
                "USD",
                None,
                home_branch[a],
                -1,
            )
        # a few wealthy customers invest through offshore vehicles, legitimately
        t = self.t_haven
        idx = draw(t, 1.0 if business else 0.0)
        for a, amount, ts, pick_i in zip(
            t.acct[idx].tolist(),
            noisy(t.scale[idx], 0.3),
            times(idx.size, 9, 16),
            g.integers(0, 80, idx.size).tolist(),
            strict=True,
        ):
            add(
                ts,
                a,
                "out",
                "wire",
                "online",
                amount - amount % 100_000 or 100_000,
                None,
                self.havens[pick_i % len(self.havens)],
                -1,
                -1,
            )

        # one-off payments to new parties abroad
        t = self.t_abroad
        idx = draw(t, 1.0 if business else 0.3)
        if idx.size:
            abroad_rng = random.Random(f"{self.seed}:abroad:{k}")  # noqa: S311 - a seeded simulation, not security
            for s, a, amount, ts in zip(
                t.subj[idx].tolist(),
                t.acct[idx].tolist(),
                noisy(t.scale[idx], 0.3),
                times(idx.size, 8, 20),
                strict=True,
            ):
                country = abroad_rng.choice(ABROAD if pop.country[s] == "US" else ABROAD_FROM_MX)
                party_type = "person" if abroad_rng.random() < 0.6 else "entity"
                party = self._external(abroad_rng, country, party_type)
                direction = "out" if abroad_rng.random() < 0.8 else "in"
                channel = "online" if direction == "out" else "correspondent"
                add(ts, a, direction, "wire", channel, amount, None, party, -1, -1)

    # ---- scripted episodes ------------------------------------------------------------------
    def _run_cases(self, k: int) -> None:
        for case in self.plan.pop(k, ()):
            self.case_labels_for(case)
            rng = random.Random(f"{self.seed}:case:{case.index}")  # noqa: S311 - a seeded simulation, not security
            BUILDERS[case.typology](self, rng, self.params, case)
        for kind, subject in self.benign.pop(k, ()):
            rng = random.Random(f"{self.seed}:benign:{k}:{subject}")  # noqa: S311 - a seeded simulation, not security
            if kind == "wake":
                self._wake(k, subject, rng)
            else:
                self._false_str(k, subject, rng)

    def case_labels_for(self, case: Case) -> None:
        while len(self.case_labels) <= case.index:
            self.case_labels.append((None, None))
        self.case_labels[case.index] = (case.typology, case.case_id)

    def _wake(self, k: int, subject: int, rng: random.Random) -> None:
        """A legitimately idle account receives an inheritance, a settlement or a sale."""
        account = self.account_of(subject)
        country = self.jurisdiction(account)
        t = self.day_time(k, rng.uniform(9, 16))
        amount = self.native(account, rng.uniform(15_000, 250_000))
        if rng.random() < 0.7:
            party = self._external(rng, country, rng.choice(("entity", "person")))
            self._add(
                t,
                account,
                "in",
                rng.choice(("wire", "check")),
                "other",
                amount,
                None,
                party,
                -1,
                -1,
            )
        else:
            self._add(
                t,
                account,
                "in",
                "check",
                "branch",
                amount,
                None,
                None,
                self.pop.a_branch[account],
                -1,
            )
        for _ in range(rng.randint(0, 3)):
            t += int(rng.uniform(1, 15) * DAY)
            piece = int(amount * rng.uniform(0.03, 0.3))
            party = self._external(rng, country, "entity")
            self._add(
                t,
                account,
                "out",
                rng.choice(("ach", "check", "wire")),
                "online",
                piece,
                None,
                party,
                -1,
                -1,
            )

    def _false_str(self, k: int, subject: int, rng: random.Random) -> None:
        """An institution files an STR on a customer who is not laundering."""
        account = self.account_of(subject)
        kind = self.pop.kind[subject]
        codes: tuple[str, ...]
        if kind == K_CASH:
            codes = ("114", "812", "821")
        elif kind in (K_TRADE, K_WHOLESALE):
            codes = ("823", "928", "805")
        elif kind == K_REMITTER:
            codes = ("805", "822", "114")
        else:
            codes = ("812", "805", "114", "925")
        code = rng.choice(codes)
        prefix = "SAR" if self.jurisdiction(account) == "US" else "ROI"
        t = self.day_time(k, rng.uniform(9, 17))
        self.file_str(
            t,
            account,
            -1,
            [f"{prefix}-{code}"],
            rng.choice(NARRATIVES[code]),
            max(0, t - int(rng.uniform(10, 60) * DAY)),
            t - DAY,
        )

    # ---- the stream -------------------------------------------------------------------------
    def run(self) -> Iterator[tuple[dict[str, Any], str | None, str | None]]:
        remaining = self.config.n_reports
        labels = self.case_labels
        report = self._report
        k = 0
        limit = self.days * 50 + 365
        while remaining > 0 and k < limit:
            self.frontier = k * DAY
            self._legit_day(k)
            self._run_cases(k)
            bucket = self.buckets.pop(k, None)
            k += 1
            if not bucket:
                continue
            bucket.sort()
            for event in bucket:
                case = event[10] if event[2] >= 0 else event[4]
                if case >= 0:
                    typology, case_id = labels[case]
                    yield report(event), typology, case_id
                else:
                    yield report(event), None, None
                remaining -= 1
                if remaining == 0:
                    return

    def _timestamp(self, t: int) -> str:
        day, rest = divmod(self.t0 + t, DAY)
        prefix = self.prefix_cache.get(day)
        if prefix is None:
            prefix = f"{date(1970, 1, 1) + timedelta(days=day)}T"
            self.prefix_cache[day] = prefix
        return prefix + _times_of_day()[rest]

    def _subject(self, account: int) -> dict[str, Any]:
        kind, name, country, identifiers, extra_key, extra_value = self.subject_parts[
            self.a_subject[account]
        ]
        subject: dict[str, Any] = {
            "subject_id": self.pop.a_customer[account],
            "type": kind,
            "name": name,
            "country": country,
            "identifiers": [{"type": a, "value": v, "country": c} for a, v, c in identifiers],
        }
        if extra_value is not None:
            subject[extra_key] = extra_value
        return subject

    def _report(self, event: Event) -> dict[str, Any]:
        if event[2] < 0:
            return self._str_report(event)
        t, _seq, account, direction, instrument, channel, amount, currency, party, branch, _c = (
            event
        )
        inst = self.a_inst[account]
        jurisdiction = self.inst_country[inst]
        if currency is None:
            currency = self.inst_currency[inst]
        report_type = "TXN"
        if instrument == "cash":
            if jurisdiction == "US":
                if amount > US_CTR_CENTS:
                    report_type = "LVTR"
            elif amount >= (MX_ROR_THRESHOLD_MXN_MINOR if currency == "MXN" else MX_ROR_CENTS):
                report_type = "LVTR"
        number = self.counters[inst] + 1
        self.counters[inst] = number
        institution_id = self.insts[inst].institution_id
        if branch >= 0:
            country, region, branch_id = self.branch_location[branch]
            location = {"country": country, "region": region, "branch_id": branch_id}
        else:
            subject = self.a_subject[account]
            country, region = self.pop.country[subject], self.pop.region[subject]
            location = {"country": country, "region": region}
        transaction: dict[str, Any] = {
            "transaction_id": f"{institution_id}-T{number:010d}",
            "timestamp": self._timestamp(t),
            "amount": f"{amount // 100}.{amount % 100:02d}",
            "currency": currency,
            "instrument": instrument,
            "direction": direction,
            "channel": channel,
            "account_id": self.pop.a_number[account],
            "account_opened": self.pop.a_opened[account],
            "location": location,
        }
        if party is not None:
            name, party_account, party_institution, party_country, party_type = (
                self.account_cp[party] if isinstance(party, int) else party
            )
            counterparty: dict[str, Any] = {"name": name}
            if party_account is not None:
                counterparty["account_id"] = party_account
                counterparty["institution_id"] = party_institution
            counterparty["country"] = party_country
            counterparty["type"] = party_type
            transaction["counterparty"] = counterparty
        # Feeds arrive within minutes; large-value reports are filed later the same day or next.
        lag = (
            20 + (number * 7_919) % 900
            if report_type == "TXN"
            else 3_600 + (number * 104_729) % 64_800
        )
        return {
            "schema_version": 1,
            "report_id": f"{institution_id}-R{number:010d}",
            "report_type": report_type,
            "institution_id": institution_id,
            "jurisdiction": jurisdiction,
            "filed_at": self._timestamp(t + lag),
            "subject": self._subject(account),
            "transaction": transaction,
        }

    def _str_report(self, event: Event) -> dict[str, Any]:
        t, _seq, _marker, account, _case, categories, narrative, activity_from, activity_to = event
        inst = self.a_inst[account]
        number = self.counters[inst] + 1
        self.counters[inst] = number
        institution_id = self.insts[inst].institution_id
        return {
            "schema_version": 1,
            "report_id": f"{institution_id}-R{number:010d}",
            "report_type": "STR",
            "institution_id": institution_id,
            "jurisdiction": self.inst_country[inst],
            "filed_at": self._timestamp(t),
            "subject": self._subject(account),
            "suspicion": {
                "categories": list(categories),
                "narrative": narrative,
                "activity_from": self._timestamp(min(activity_from, activity_to)),
                "activity_to": self._timestamp(activity_to),
            },
        }


@lru_cache(maxsize=1)
def _times_of_day() -> tuple[str, ...]:
    """Every "HH:MM:SSZ" of a day, so formatting a timestamp is one lookup."""
    return tuple(
        f"{h:02d}:{m:02d}:{sec:02d}Z" for h in range(24) for m in range(60) for sec in range(60)
    )


def _convert(amount: int, source: str, target: str) -> int:
    if source == target:
        return amount
    if source == "USD":
        return max(1, amount * MXN_PER_USD_X100 // 100)
    return max(1, amount * 100 // MXN_PER_USD_X100)


def _is_quincena(day: date) -> bool:
    """Mexican paydays: the 15th and the last day of the month, moved back to a Friday."""
    last = calendar.monthrange(day.year, day.month)[1]
    for target in (15, last):
        payday = day.replace(day=target)
        while payday.weekday() >= 5:
            payday -= timedelta(days=1)
        if payday == day:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Public API


def generate(config: GeneratorConfig) -> Iterator[Labelled]:
    """Streams ``config.n_reports`` labelled reports in non-decreasing time order.

    The stream time of a report is ``transaction.timestamp``, or ``filed_at`` for an STR
    without a transaction. The same config always gives the same reports.
    """
    for report, typology, case_id in _Simulator(config).run():
        yield Labelled(report, typology, case_id)


def write_jsonl(config: GeneratorConfig, reports_path: Path, labels_path: Path) -> int:
    """Writes the reports (one wire report per line) and the labels side file; returns the count.

    Each label line is ``{"institution_id", "report_id", "typology", "case_id"}``, legitimate
    reports included (``typology`` null).
    """
    count = 0
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    buffering = 1 << 20
    with (
        reports_path.open("wb", buffering=buffering) as reports,
        labels_path.open("wb", buffering=buffering) as labels,
    ):
        for report, typology, case_id in _Simulator(config).run():
            reports.write(dumps(report, option=newline))
            label = {
                "institution_id": report["institution_id"],
                "report_id": report["report_id"],
                "typology": typology,
                "case_id": case_id,
            }
            labels.write(dumps(label, option=newline))
            count += 1
    return count
