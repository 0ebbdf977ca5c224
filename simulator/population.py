"""The population: institutions and branches, subjects with names and identifiers, accounts.

Everything here is drawn once per run with one seeded ``random.Random``; the same seed and
world give the same people, companies and account numbers. Geography, institution names and
name pools are fixed.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from simulator.world import ENTITY_SEGMENTS, PERSON_SEGMENTS, SEGMENTS, World

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
REMITTER_STATES = ("CA", "TX", "IL", "AZ", "FL", "NY", "GA", "NC", "CO", "WA", "NV", "NM")


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
    """Returns the registry of every institution a world may have (US first, then MX)."""
    result: list[Institution] = []
    for number, (kind, name, states, per) in enumerate(_US_INSTITUTIONS, start=1):
        regions = tuple(s for s in states for _ in range(per))
        result.append(Institution(f"US-FI-{number:04d}", "US", kind, name, regions))
    for number, (kind, name, states, per, code) in enumerate(_MX_INSTITUTIONS, start=1):
        regions = tuple(s for s in states for _ in range(per))
        result.append(Institution(f"MX-FI-{number:04d}", "MX", kind, name, regions, code))
    return tuple(result)


def world_institutions(world: World) -> tuple[Institution, ...]:
    """The institutions of a world, in registry order."""
    present = set(world.institutions)
    return tuple(inst for inst in institutions() if inst.institution_id in present)


# ---------------------------------------------------------------------------------------------
# Names and identifiers

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


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.replace("-", " ") for word in text.split())


US_OCCUPATIONS: dict[str, tuple[str, ...]] = {
    "salaried": _words(
        "teacher nurse truck-driver software-engineer retail-clerk construction-worker "
        "accountant cook mechanic sales-representative physician attorney electrician "
        "warehouse-associate cashier real-estate-agent police-officer homemaker landscaper "
        "dental-hygienist farmworker self-employed"
    ),
    "gig": _words("rideshare-driver delivery-courier freelancer self-employed handyman"),
    "remitter": _words(
        "construction-worker farmworker cook landscaper cleaner warehouse-associate"
    ),
    "retiree": ("retired",),
    "student": ("student",),
}
MX_OCCUPATIONS: dict[str, tuple[str, ...]] = {
    "salaried": _words(
        "comerciante empleado agricultor hogar chofer ingeniero docente medico albanil "
        "contador mecanico enfermera abogado obrero vendedor"
    ),
    "gig": _words("repartidor chofer comerciante vendedor"),
    "remitter": _words("empleado obrero albanil"),
    "retiree": ("jubilado",),
    "student": ("estudiante",),
}
# NAICS (US) / SCIAN (MX, same structure) codes by segment.
NAICS: dict[str, tuple[str, ...]] = {
    "cash": ("722511", "722513", "811192", "445131", "812113", "812111", "447110"),
    "trade": ("423690", "423120", "424480", "423430", "424310", "423830", "424490"),
    "service": ("541211", "541511", "621111", "238220", "484121", "561720", "541110"),
    "escrow": ("541191", "524127"),
    "landlord": ("531110", "531120"),
    "wholesale": ("424410", "424420", "424470", "424820"),
    "payroll": ("561320", "561330", "111998", "238990"),
    "msb": ("522390", "522320"),
    "car_dealer": ("441110", "441120"),
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
    "payroll": ("Staffing", "Labor Services", "Workforce Solutions", "Farms", "Contractors"),
    "msb": ("Check Cashing", "Money Center", "Envios", "Pawn & Cash", "Financial Services"),
    "car_dealer": ("Motors", "Auto Sales", "Autos", "Car Center", "Truck Sales"),
}
ENTITY_PREFIX = (
    "Sunrise Pacific Liberty Golden Eagle Summit Pioneer Metro Coastal Heritage Alamo Rio "
    "Sierra Vista Aztec Del Valle Cielo Norte Premier Central Union Lakeside Red Rock Evergreen "
    "Frontier Bluebonnet Mission Cascade Harbor Prairie Capital Atlas"
).split()
US_SUFFIX = ("LLC", "Inc", "Corp", "Co")
MX_SUFFIX = ("S.A. de C.V.", "S. de R.L. de C.V.", "S.A.P.I. de C.V.")
# fmt: on


@dataclass(frozen=True)
class Choice:
    """A weighted choice with precomputed cumulative weights."""

    values: tuple[Any, ...]
    cumulative: tuple[float, ...]

    @staticmethod
    @lru_cache(maxsize=4096)
    def of(items: tuple[tuple[Any, float], ...]) -> Choice:
        values = tuple(v for v, _ in items)
        cumulative = tuple(itertools.accumulate(w for _, w in items))
        return Choice(values, cumulative)

    def draw(self, rng: random.Random) -> Any:
        return rng.choices(self.values, cum_weights=self.cumulative)[0]


def weighted(rng: random.Random, items: Sequence[tuple[Any, float]]) -> Any:
    return Choice.of(tuple(items)).draw(rng)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


_VOWELS = "AEIOU"
_CURP_CHARS = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ"
_HOMOCLAVE = "ABCDEFGHJKLMNPRSTUVWXYZ123456789"


def _first_inner(letters: str, vowels: bool) -> str:
    for char in letters[1:]:
        if (char in _VOWELS) == vowels and char.isalpha():
            return char
    return "X"


def rfc_person(paternal: str, maternal: str, first: str, born: date, rng: random.Random) -> str:
    """Returns an RFC of a person: 4 letters, YYMMDD, 3-character homoclave."""
    p, m, f = _ascii(paternal), _ascii(maternal), _ascii(first)
    letters = p[0] + _first_inner(p, vowels=True) + (m[0] if m else "X") + f[0]
    homoclave = "".join(rng.choice(_HOMOCLAVE) for _ in range(2))
    return f"{letters}{born:%y%m%d}{homoclave}{rng.choice('0123456789A')}"


def rfc_entity(name: str, founded: date, rng: random.Random) -> str:
    """Returns an RFC of an entity: 3 letters, YYMMDD, 3-character homoclave."""
    words = [w for w in _ascii(name).replace(".", " ").split() if w.isalpha() and len(w) > 2]
    letters = "".join(w[0] for w in words)[:3].ljust(3, "X")
    homoclave = "".join(rng.choice(_HOMOCLAVE) for _ in range(2))
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


def person_name(rng: random.Random, country: str) -> str:
    """A full name plausible for someone of ``country``."""
    if country in ("MX", "GT", "SV", "HN", "CO", "PE", "DO", "ES"):
        return f"{rng.choice(MX_FIRST)} {rng.choice(MX_LAST)} {rng.choice(MX_LAST)}"
    if rng.random() < 0.2:
        return f"{rng.choice(MX_FIRST)} {rng.choice(MX_LAST)}"
    return f"{rng.choice(US_FIRST)} {rng.choice(US_LAST)}"


# ---------------------------------------------------------------------------------------------
# The population

SEGMENT_CODE = {name: code for code, name in enumerate(SEGMENTS)}
PERSON_CODES = frozenset(SEGMENT_CODE[s] for s in PERSON_SEGMENTS)
ENTITY_CODES = frozenset(SEGMENT_CODE[s] for s in ENTITY_SEGMENTS)
Identifiers = tuple[tuple[str, str, str], ...]


@dataclass
class Population:
    """Subjects and accounts as parallel lists (compact: no object per account)."""

    # subjects
    segment: list[int] = field(default_factory=list)  # index into world.SEGMENTS
    country: list[str] = field(default_factory=list)
    region: list[str] = field(default_factory=list)
    is_entity: list[bool] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    identifiers: list[Identifiers] = field(default_factory=list)
    occupation: list[str | None] = field(default_factory=list)
    naics: list[str | None] = field(default_factory=list)
    accounts: list[list[int]] = field(default_factory=list)
    dormant: list[int] = field(default_factory=list)
    # accounts
    a_subject: list[int] = field(default_factory=list)
    a_inst: list[int] = field(default_factory=list)
    a_number: list[str] = field(default_factory=list)
    a_customer: list[str] = field(default_factory=list)
    a_opened: list[str] = field(default_factory=list)
    a_branch: list[int] = field(default_factory=list)
    # branches a roaming customer's account takes cash to (home branch first)
    roaming: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.segment)

    def of_segment(self, subject: int) -> str:
        return SEGMENTS[self.segment[subject]]


@dataclass
class Branches:
    """Every branch of the world's institutions: global index -> institution, region, id."""

    inst: list[int] = field(default_factory=list)
    region: list[str] = field(default_factory=list)
    branch_id: list[str] = field(default_factory=list)
    of_inst: list[list[int]] = field(default_factory=list)
    of_inst_region: list[dict[str, list[int]]] = field(default_factory=list)

    @classmethod
    def of(cls, insts: Sequence[Institution]) -> Branches:
        branches = cls()
        for i, inst in enumerate(insts):
            own: list[int] = []
            by_region: dict[str, list[int]] = {}
            for number, region in enumerate(inst.regions, start=1):
                index = len(branches.inst)
                branches.inst.append(i)
                branches.region.append(region)
                branches.branch_id.append(f"{inst.institution_id}-B{number:03d}")
                own.append(index)
                by_region.setdefault(region, []).append(index)
            branches.of_inst.append(own)
            branches.of_inst_region.append(by_region)
        return branches

    def ordered(self, inst: int, home: int) -> list[int]:
        """The institution's branches: home, the same region, then the rest."""
        region = self.region[home]
        others = [b for b in self.of_inst[inst] if b != home]
        near = [b for b in others if self.region[b] == region]
        return [home, *near, *(b for b in others if self.region[b] != region)]


class PopulationBuilder:
    """Draws subjects, identifiers and accounts for one world."""

    def __init__(
        self, rng: random.Random, start: date, world: World, insts: tuple[Institution, ...]
    ) -> None:
        self.rng = rng
        self.start = start
        self.world = world
        self.pop = Population()
        self.insts = insts
        self.branches = Branches.of(insts)
        self.used: set[str] = set()
        self.dates: dict[str, str] = {}  # one string per distinct opening date
        self.institution_choices: dict[tuple[Any, ...], Choice | None] = {}
        self.customer_numbers: list[set[int]] = [set() for _ in insts]
        self.account_numbers: list[set[int]] = [set() for _ in insts]
        self.us_regions = list(US_STATES)
        self.remitter_regions = [(s, w) for s, w in US_STATES if s in REMITTER_STATES]
        self.mx_regions = [(s[0], s[2]) for s in MX_STATES]
        self.mx_curp_state = {s[0]: s[1] for s in MX_STATES}
        self.mx_plaza = {s[0]: s[3] for s in MX_STATES}

    # identifiers ---------------------------------------------------------------------------
    def unique(self, make: Callable[[], str]) -> str:
        while True:
            value = make()
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

        return self.unique(make)

    def itin(self) -> str:
        r = self.rng
        groups = [*range(50, 66), *range(70, 89), 90, 91, 92, *range(94, 100)]
        return self.unique(
            lambda: f"9{r.randint(0, 99):02d}-{r.choice(groups):02d}-{r.randint(0, 9999):04d}"
        )

    def ein(self) -> str:
        r = self.rng
        prefixes = [*range(10, 17), *range(20, 28), *range(30, 40), *range(41, 49), *range(50, 69)]
        return self.unique(lambda: f"{r.choice(prefixes):02d}-{r.randint(0, 9_999_999):07d}")

    def passport(self, country: str) -> str:
        r = self.rng
        if country == "MX":
            return self.unique(lambda: f"G{r.randint(10_000_000, 99_999_999)}")
        return self.unique(lambda: f"{r.randint(100_000_000, 999_999_999)}")

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

    def entity_name(self, segment: str, country: str, owner: str) -> str:
        r = self.rng
        word = r.choice(ENTITY_WORDS[segment])
        head = r.choice(ENTITY_PREFIX) if r.random() < 0.6 else owner
        suffix = r.choice(MX_SUFFIX if country == "MX" else US_SUFFIX)
        return f"{head} {word} {suffix}"

    def mx_person_identifiers(
        self, names: tuple[str, str, str], born: date, region: str
    ) -> list[tuple[str, str, str]]:
        r = self.rng
        first, paternal, maternal = names
        rfc = self.unique(lambda: rfc_person(paternal, maternal, first, born, r))
        sex = r.choice("HM")
        state = self.mx_curp_state.get(region, "DF")
        code = self.unique(lambda: curp(paternal, maternal, first, born, sex, state, r))
        identifiers = [("RFC", rfc, "MX"), ("CURP", code, "MX")]
        if r.random() < 0.2:
            identifiers.append(("PASSPORT", self.passport("MX"), "MX"))
        return identifiers

    def us_person_identifiers(
        self, names: tuple[str, str, str], born: date, remitter: bool
    ) -> list[tuple[str, str, str]]:
        r = self.rng
        first, paternal, maternal = names
        if remitter and r.random() < 0.55:
            identifiers = [("ITIN", self.itin(), "US"), ("PASSPORT", self.passport("MX"), "MX")]
            if r.random() < 0.4:
                state = r.choice(list(self.mx_curp_state.values()))
                sex = r.choice("HM")
                code = self.unique(
                    lambda: curp(paternal, maternal or paternal, first, born, sex, state, r)
                )
                identifiers.append(("CURP", code, "MX"))
            return identifiers
        identifiers = [("SSN", self.ssn(), "US")]
        if r.random() < 0.3:
            identifiers.append(("PASSPORT", self.passport("US"), "US"))
        return identifiers

    def region_for(self, segment: str, country: str) -> str:
        r = self.rng
        if segment == "remitter" and country == "US" and r.random() < 0.6:
            return str(weighted(r, self.remitter_regions))
        return str(weighted(r, self.us_regions if country == "US" else self.mx_regions))

    def add_subject(self, segment: str, country: str, dormant: bool) -> int:
        r = self.rng
        pop = self.pop
        subject = pop.size
        region = self.region_for(segment, country)
        is_entity = segment in ENTITY_SEGMENTS
        full, first, paternal, maternal = self.person_name(country)
        born = self.start - timedelta(days=r.randint(19 * 365, 85 * 365))
        if segment == "retiree":
            born = self.start - timedelta(days=r.randint(62 * 365, 90 * 365))
        elif segment == "student":
            born = self.start - timedelta(days=r.randint(18 * 365, 26 * 365))
        occupation: str | None = None
        naics: str | None = None
        if is_entity:
            name = self.entity_name(segment, country, paternal)
            naics = r.choice(NAICS[segment])
            founded = self.start - timedelta(days=r.randint(200, 30 * 365))
            if country == "US":
                identifiers = [("EIN", self.ein(), "US")]
            else:
                identifiers = [("RFC", self.unique(lambda: rfc_entity(name, founded, r)), "MX")]
        else:
            name = full
            names = (first, paternal, maternal)
            if country == "MX":
                occupation = r.choice(MX_OCCUPATIONS[segment])
                identifiers = self.mx_person_identifiers(names, born, region)
            else:
                occupation = r.choice(US_OCCUPATIONS[segment])
                identifiers = self.us_person_identifiers(names, born, segment == "remitter")
        pop.segment.append(SEGMENT_CODE[segment])
        pop.country.append(country)
        pop.region.append(region)
        pop.is_entity.append(is_entity)
        pop.name.append(name)
        pop.identifiers.append(tuple(identifiers))
        pop.occupation.append(occupation)
        pop.naics.append(naics)
        pop.accounts.append([])
        inst = self.pick_institution(country, region, segment)
        self.open_account(subject, inst, self.opened_date(long_ago=dormant))
        return subject

    # accounts ------------------------------------------------------------------------------
    def branch_for(self, inst: int, region: str) -> int:
        local = self.branches.of_inst_region[inst].get(region)
        if local:
            return self.rng.choice(local)
        return self.rng.choice(self.branches.of_inst[inst])

    def _new_number(self, numbers: set[int], low: int, high: int) -> int:
        while True:
            raw = self.rng.randint(low, high)
            if raw not in numbers:
                numbers.add(raw)
                return raw

    def open_account(self, subject: int, inst: int, opened: date) -> int:
        pop = self.pop
        institution = self.insts[inst]
        mx = institution.jurisdiction == "MX"
        raw = self._new_number(self.account_numbers[inst], 10**9, 10**11 - 1 if mx else 10**10 - 1)
        region = pop.region[subject]
        if mx:
            number = clabe(institution.bank_code, self.mx_plaza.get(region, "010"), raw)
        else:
            number = f"{raw:010d}"
        customer = self._new_number(self.customer_numbers[inst], 1_000_000, 99_999_999)
        # The customer id is per institution: the subject key (identifiers) links them.
        existing = [a for a in pop.accounts[subject] if pop.a_inst[a] == inst]
        customer_id = pop.a_customer[existing[0]] if existing else f"C{customer:08d}"
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
        elif r.random() < self.world.recent_account_share:
            back = r.randint(5, 120)  # recently opened accounts, legitimately
        else:
            back = int(min(25 * 365, r.expovariate(1 / (6 * 365)) + 120))
        return self.start - timedelta(days=back)

    def pick_institution(
        self,
        country: str,
        region: str,
        segment: str,
        kinds: tuple[str, ...] = ("bank", "credit_union"),
    ) -> int:
        """An institution of ``country`` of one of ``kinds`` (else a bank); -1 if none."""
        key = (country, region, segment in PERSON_SEGMENTS, kinds)
        if key not in self.institution_choices:
            self.institution_choices[key] = self._institution_choice(
                country, region, segment, kinds
            )
        choice = self.institution_choices[key]
        return -1 if choice is None else int(choice.draw(self.rng))

    def _institution_choice(
        self, country: str, region: str, segment: str, kinds: tuple[str, ...]
    ) -> Choice | None:
        options: list[tuple[int, float]] = []
        for i, inst in enumerate(self.insts):
            if inst.jurisdiction != country or inst.kind not in kinds:
                continue
            if segment in ENTITY_SEGMENTS and inst.kind == "credit_union":
                continue
            local = region in self.branches.of_inst_region[i]
            options.append((i, (3.0 if local else 0.15) * (1 + len(inst.regions) / 20)))
        if not options and kinds != ("bank",):
            return self._institution_choice(country, region, segment, ("bank",))
        return Choice.of(tuple(options)) if options else None


# ---------------------------------------------------------------------------------------------
# Building a whole population


def segment_plan(world: World, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``(segment, country)`` of each subject: the world's mix, at least 3 of each present.

    Each country's mix is relative (normalised here); ``us_share`` splits the countries.
    """
    plan: list[tuple[str, str]] = []
    for country, share, mix in (
        ("US", world.us_share, world.us_mix),
        ("MX", 1.0 - world.us_share, world.mx_mix),
    ):
        total = sum(mix.values()) or 1.0
        for segment, weight in mix.items():
            if weight > 0:
                plan.extend([(segment, country)] * max(3, round(n * share * weight / total)))
    rng.shuffle(plan)
    return plan


def build_population(
    world: World, n: int, rng: random.Random, start: date, insts: tuple[Institution, ...]
) -> tuple[Population, Branches]:
    """About ``n`` subjects of the world's segments, their accounts and branch habits."""
    builder = PopulationBuilder(rng, start, world, insts)
    plan = segment_plan(world, n, rng)
    dormant_flags = [
        segment != "escrow"
        and rng.random() < world.dormant_share * (1.0 if segment in PERSON_SEGMENTS else 0.75)
        for segment, _ in plan
    ]
    for (segment, country), dormant in zip(plan, dormant_flags, strict=True):
        builder.add_subject(segment, country, dormant)
    pop = builder.pop
    pop.dormant = [s for s in range(pop.size) if dormant_flags[s]]
    for subject in range(pop.size):
        _open_more_accounts(builder, subject, dormant_flags[subject])
    _guarantee_casa_customers(builder)
    _assign_roaming(builder)
    return pop, builder.branches


def _kinds(insts: Sequence[Institution], kind: str) -> list[int]:
    return [i for i, inst in enumerate(insts) if inst.kind == kind]


def _open_more_accounts(builder: PopulationBuilder, subject: int, long_ago: bool) -> None:
    """Second accounts: another bank, an MSB, a casa de cambio, a bank across the border."""
    r = builder.rng
    pop = builder.pop
    segment, country, region = pop.of_segment(subject), pop.country[subject], pop.region[subject]
    scale = builder.world.dual_banking

    def chance(p: float) -> bool:
        return r.random() < min(0.95, p * scale)

    def at(kind: str, p: float) -> None:
        options = _kinds(builder.insts, kind)
        if chance(p) and options:
            builder.open_account(subject, r.choice(options), builder.opened_date(long_ago))

    if segment in PERSON_SEGMENTS:
        if country == "US" and chance(0.06):
            _open_other(builder, subject, "US", ("bank", "credit_union"), long_ago)
        if segment == "remitter":
            at("msb", 0.5)
            if chance(0.15):
                _open_other(builder, subject, "MX", ("bank",), long_ago)
        if country == "MX":
            if region in MX_BORDER and chance(0.12):
                _open_other(builder, subject, "US", ("bank", "credit_union"), long_ago)
            at("casa_de_cambio", 0.05)
            at("transmisor", 0.12)
        return
    if country == "MX" and segment in ("cash", "service", "trade", "car_dealer"):
        at("casa_de_cambio", 0.3 if segment == "trade" else 0.08)
        if segment == "trade" and chance(0.2):
            _open_other(builder, subject, "US", ("bank",), long_ago)
    if country == "US" and segment == "trade" and chance(0.15):
        _open_other(builder, subject, "MX", ("bank",), long_ago)


def _open_other(
    builder: PopulationBuilder, subject: int, country: str, kinds: tuple[str, ...], long_ago: bool
) -> None:
    pop = builder.pop
    have = {pop.a_inst[a] for a in pop.accounts[subject]}
    region = (
        pop.region[subject]
        if pop.country[subject] == country
        else ("TX" if country == "US" else "CHH")
    )
    for _ in range(5):
        inst = builder.pick_institution(country, region, pop.of_segment(subject), kinds)
        if inst >= 0 and inst not in have:
            builder.open_account(subject, inst, builder.opened_date(long_ago))
            return


def has_kind(pop: Population, insts: Sequence[Institution], subject: int, kind: str) -> bool:
    return any(insts[pop.a_inst[a]].kind == kind for a in pop.accounts[subject])


def _guarantee_casa_customers(builder: PopulationBuilder) -> None:
    """A few casa de cambio customers, whatever the population size (if the world has casas)."""
    pop, insts, r = builder.pop, builder.insts, builder.rng
    casas = _kinds(insts, "casa_de_cambio")
    mx_people = [s for s in range(pop.size) if pop.country[s] == "MX"]
    if not casas or not mx_people:
        return
    while sum(1 for s in mx_people if has_kind(pop, insts, s, "casa_de_cambio")) < 3:
        builder.open_account(r.choice(mx_people), r.choice(casas), builder.opened_date())


def _assign_roaming(builder: PopulationBuilder) -> None:
    """Customers who take cash to several branches of their bank, nearest first."""
    world, pop, r = builder.world, builder.pop, builder.rng
    if world.roaming_share <= 0:
        return
    low, high = world.roaming_branches
    for account, home in enumerate(pop.a_branch):
        if r.random() >= world.roaming_share:
            continue
        ordered = builder.branches.ordered(pop.a_inst[account], home)
        count = min(len(ordered), r.randint(low, high))
        if count > 1:
            pop.roaming[account] = tuple(ordered[:count])
