"""Names, tax and national identifiers, account numbers and ids.

Everything here is drawn the same way for legitimate and laundering parties, so that no name,
identifier or id format says which is which.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import date, timedelta

US_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Ashley Donald Kimberly Steven Emily Andrew Donna Joshua "
    "Michelle Kevin Carol Brian Amanda Jose Maria Luis Ana Carlos Rosa Juan Carmen Miguel Sofia "
    "Wei Mei Tuan Linh Ahmed Fatima Raj Priya Dmitri Olga Kwame Ngozi Tyrone Shanice"
).split()
US_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Chen Patel Kim Tran Okafor Ivanov Cohen Murphy Sullivan Reyes Cruz Morales Ortiz Gutierrez "
    "Chavez Ramos Vasquez Castillo Jimenez Mendoza Romero Herrera Medina Aguilar Vargas"
).split()
MX_FIRST = (
    "Jose Juan Luis Carlos Jesus Miguel Francisco Alejandro Jorge Fernando Ricardo Eduardo "
    "Roberto Arturo Raul Sergio Manuel Javier Pedro Hector Maria Guadalupe Juana Margarita "
    "Veronica Leticia Rosa Patricia Elizabeth Alejandra Adriana Gabriela Claudia Silvia "
    "Araceli Laura Martha Yolanda Norma Sofia Ximena Valeria Fernanda Daniela Diego Emiliano "
    "Santiago Mateo Rodrigo Ivan Omar Oscar"
).split()
MX_LAST = (
    "Hernandez Garcia Martinez Lopez Gonzalez Perez Rodriguez Sanchez Ramirez Cruz Flores "
    "Gomez Morales Vazquez Reyes Jimenez Torres Diaz Gutierrez Ruiz Mendoza Aguilar Ortiz "
    "Moreno Castillo Romero Alvarez Mendez Chavez Rivera Juarez Ramos Dominguez Herrera "
    "Medina Castro Vargas Guzman Velazquez Munoz Rojas Contreras Salazar Luna Ortega Delgado "
    "Guerrero Estrada Soto Cervantes Navarro Rios Acosta Sandoval Ibarra Valdez Camacho "
    "Espinoza Vega Trevino Zamora Robles Cardenas Fuentes Carrillo Pacheco Villarreal"
).split()
_WORDS = (
    "Golden Star Sun Eagle River Valley Pacific Atlantic Liberty Summit Pioneer Royal Prime "
    "Lone Pine Oak Cedar Maple Harbor Coastal Desert Mesa Sierra Unity Grand Silver Blue Red "
    "Green North South West East Central Metro Premier United Delta Apex Crown Vista Alamo"
).split()
_MX_WORDS = (
    "del Norte del Bajio de Occidente del Pacifico del Golfo Azteca Maya Sol Luna Esperanza "
    "Guadalupe Providencia Victoria Progreso Aurora Estrella Real Imperial Continental "
    "Regional Nacional Internacional Frontera Sierra Valle Laguna Monte Rio Cumbres"
).split(" ")
_US_SUFFIX = ("LLC", "Inc", "Corp", "Co", "LLC", "LLC", "Group LLC", "Holdings LLC", "LP")
_MX_SUFFIX = ("SA de CV", "S de RL de CV", "SAPI de CV", "SC", "SA de CV")

# The sector words a business name carries, by the segment's sector key.
_SECTOR_WORDS = {
    "restaurant": ("Grill", "Taqueria", "Diner", "Kitchen", "Cafe", "Pizzeria", "Bistro"),
    "laundromat": ("Laundromat", "Wash & Fold", "Coin Laundry", "Cleaners"),
    "convenience": ("Food Mart", "Mini Mart", "Convenience", "Quick Stop", "Market"),
    "bar": ("Tavern", "Lounge", "Bar & Grill", "Saloon", "Cantina"),
    "car_wash": ("Car Wash", "Auto Spa", "Express Wash"),
    "salon": ("Nails", "Beauty Salon", "Barbershop", "Spa"),
    "gas_station": ("Fuel", "Gas & Go", "Petroleum", "Travel Center"),
    "grocery": ("Supermarket", "Grocery", "Carniceria", "Produce Market"),
    "liquor": ("Liquors", "Wine & Spirits", "Liquor Store"),
    "wholesale": ("Distributors", "Supply", "Wholesale", "Trading"),
    "electronics": ("Electronics", "Tech Distributors", "Components", "Trading"),
    "apparel": ("Apparel", "Textiles", "Fashion Wholesale", "Garments"),
    "auto_parts": ("Auto Parts", "Parts Supply", "Motor Parts"),
    "produce": ("Produce", "Farms", "Fresh Imports", "Growers"),
    "payroll": ("Payroll Services", "HR Solutions", "Payroll", "Staffing"),
    "msb": ("Money Transfer", "Envios", "Check Cashing", "Multiservicios", "Exchange"),
    "car_dealer": ("Motors", "Auto Sales", "Autos", "Auto Group", "Car Center"),
    "treasury": ("Holdings", "Capital", "Treasury Services", "Group"),
    "escrow": ("Title", "Law Group", "Escrow", "Closing Services", "Legal"),
    "nonprofit": ("Church", "Ministries", "Foundation", "Community Center", "Mission"),
    "professional": ("Dental", "Accounting", "Consulting", "Medical Group", "Engineering"),
    "construction": ("Construction", "Builders", "Roofing", "Concrete", "Contractors"),
    "landlord": ("Properties", "Realty", "Rentals", "Real Estate"),
    "seasonal": ("Fireworks", "Pools", "Snow Removal", "Tax Service", "Ice Cream", "Tours"),
    "trucking": ("Trucking", "Logistics", "Freight", "Transport"),
    "jewelry": ("Jewelers", "Gold Exchange", "Jewelry"),
    "tienda": ("Abarrotes", "Miscelanea", "Tienda", "Comercial", "Super"),
    "gasolinera": ("Gasolinera", "Servicio", "Combustibles"),
    "exporter": ("Agroexportadora", "Exportadora", "Agricola", "Productores"),
    "maquiladora": ("Manufacturas", "Industrias", "Ensambles", "Maquiladora"),
    "importer": ("Importadora", "Comercializadora", "Distribuidora"),
    "transport": ("Transportes", "Fletes", "Logistica"),
    "holding": ("Holdings", "Investments", "Capital Partners", "Ventures"),
    "cambio": ("Casa de Cambio", "Centro Cambiario", "Divisas"),
}

_MX_STATES_CURP = (
    "AS BC BS CC CL CM CS CH DF DG GT GR HG JC MC MN MS NT NL OC PL QT QR SP SL SR TC TS "
    "TL VZ YN ZS"
).split()
_EIN_PREFIXES = [
    10,
    12,
    *range(20, 28),
    *range(30, 49),
    *range(50, 69),
    *range(71, 78),
    *range(80, 89),
    *range(90, 96),
    98,
    99,
]
_BIC_BANKS = (
    "BOFA",
    "CITI",
    "CHAS",
    "WFBI",
    "BNMX",
    "BCMR",
    "BBVA",
    "HSBC",
    "SANT",
    "BKCH",
    "ICBK",
    "DEUT",
    "BARC",
    "SCBL",
    "MIDL",
    "UBSW",
    "BNPA",
    "CRES",
    "BSCH",
    "ABNA",
)


class Identities:
    """Draws names, identifiers and ids, never the same identifier or id twice."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def _unique(self, make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    # --- names -------------------------------------------------------------------------
    def person_name(self, country: str) -> tuple[str, str, str]:
        """(given name, first surname, second surname or '')."""
        rng = self._rng
        if country == "MX":
            return rng.choice(MX_FIRST), rng.choice(MX_LAST), rng.choice(MX_LAST)
        if rng.random() < 0.25:
            return rng.choice(MX_FIRST), rng.choice(MX_LAST), ""
        return rng.choice(US_FIRST), rng.choice(US_LAST), ""

    def full_name(self, parts: tuple[str, str, str]) -> str:
        return " ".join(part for part in parts if part)

    def business_name(self, sector: str, country: str) -> str:
        rng = self._rng
        noun = rng.choice(_SECTOR_WORDS.get(sector, ("Enterprises",)))
        if country == "MX":
            head = rng.choice(("Grupo ", "", "", "Servicios ", "Comercial "))
            place = rng.choice(_MX_WORDS) if rng.random() < 0.6 else rng.choice(MX_LAST)
            return f"{head}{noun} {place} {rng.choice(_MX_SUFFIX)}".replace("  ", " ").strip()
        style = rng.random()
        if style < 0.4:
            base = f"{rng.choice(US_LAST)} {noun}"
        elif style < 0.8:
            base = f"{rng.choice(_WORDS)} {noun}"
        else:
            base = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {noun}"
        return f"{base} {rng.choice(_US_SUFFIX)}"

    # --- identifiers -------------------------------------------------------------------
    def ssn(self) -> str:
        rng = self._rng

        def make() -> str:
            area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
            return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"

        return self._unique(make)

    def itin(self) -> str:
        rng = self._rng
        groups = [*range(70, 89), *range(90, 93), *range(94, 100)]
        return self._unique(
            lambda: f"9{rng.randint(0, 99):02d}-{rng.choice(groups)}-{rng.randint(0, 9999):04d}"
        )

    def ein(self) -> str:
        rng = self._rng
        return self._unique(
            lambda: f"{rng.choice(_EIN_PREFIXES):02d}-{rng.randint(1, 9_999_999):07d}"
        )

    def _homoclave(self) -> str:
        pool = string.ascii_uppercase + string.digits
        return "".join(self._rng.choice(pool) for _ in range(3))

    def rfc_person(self, parts: tuple[str, str, str], born: date) -> str:
        given, first, second = parts
        vowel = next((c for c in first[1:].upper() if c in "AEIOU"), "X")
        letters = f"{first[0]}{vowel}{(second or 'X')[0]}{given[0]}".upper()
        return self._unique(lambda: f"{letters}{born:%y%m%d}{self._homoclave()}")

    def rfc_entity(self, name: str, founded: date) -> str:
        letters = "".join(word[0] for word in name.split()[:3]).upper().ljust(3, "X")[:3]
        return self._unique(lambda: f"{letters}{founded:%y%m%d}{self._homoclave()}")

    def curp(self, parts: tuple[str, str, str], born: date, sex: str) -> str:
        rng = self._rng
        given, first, second = parts
        vowel = next((c for c in first[1:].upper() if c in "AEIOU"), "X")
        head = f"{first[0]}{vowel}{(second or 'X')[0]}{given[0]}".upper()

        def consonant(word: str) -> str:
            return next((c for c in word[1:].upper() if c not in "AEIOU"), "X")

        state = rng.choice(_MX_STATES_CURP)
        inner = f"{consonant(first)}{consonant(second or 'X')}{consonant(given)}"
        return self._unique(
            lambda: (
                f"{head}{born:%y%m%d}{sex}{state}{inner}"
                f"{rng.choice(string.ascii_uppercase + string.digits)}{rng.randint(0, 9)}"
            )
        )

    def passport(self, country: str) -> str:
        rng = self._rng
        if country == "MX":
            return self._unique(lambda: f"G{rng.randint(10_000_000, 99_999_999)}")
        return self._unique(lambda: f"{rng.randint(100_000_000, 999_999_999)}")

    def birth_date(self, min_age: int, max_age: int, today: date) -> date:
        return today - timedelta(days=self._rng.randint(min_age * 365, max_age * 365))

    # --- accounts and ids --------------------------------------------------------------
    def account(self, country: str) -> str:
        rng = self._rng
        if country == "MX":  # CLABE: bank, branch, account, check digit
            return self._unique(
                lambda: (
                    f"{rng.choice((2, 12, 14, 21, 30, 36, 44, 72, 127)):03d}"
                    f"{rng.randint(0, 999):03d}{rng.randint(0, 10**11 - 1):011d}"
                    f"{rng.randint(0, 9)}"
                )
            )
        return self._unique(lambda: f"{rng.randint(10**9, 10**12 - 1)}")

    def foreign_account(self, country: str) -> str:
        rng = self._rng
        if country in ("US", "MX"):
            return self.account(country)
        return self._unique(
            lambda: f"{country}{rng.randint(10, 99)}{rng.randint(10**13, 10**16 - 1)}"
        )

    def bic(self, country: str) -> str:
        rng = self._rng
        tail = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(2))
        return f"{rng.choice(_BIC_BANKS)}{country}{tail}"

    def subject_id(self, institution_kind: str, country: str) -> str:
        rng = self._rng
        if country == "MX":
            prefix = "CTE" if institution_kind == "bank" else "CL"
            return self._unique(lambda: f"{prefix}{rng.randint(10**8, 10**9 - 1)}")
        prefix = {"bank": "C", "credit_union": "M", "msb": "S"}.get(institution_kind, "C")
        return self._unique(lambda: f"{prefix}-{rng.randint(10**6, 10**8 - 1)}")

    def transaction_id(self) -> str:
        rng = self._rng
        return self._unique(lambda: f"{rng.getrandbits(64):016X}")
