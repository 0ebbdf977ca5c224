"""Precision and recall of the watchlist matcher on a labelled set of name pairs.

    .venv/bin/python bench/watchlist_quality.py [--seed 17] [--entries 220] [--show-errors]

The set is built here, deterministically from ``--seed``: a list of persons (Mexican,
American, Russian and Arab names) and companies (Spanish and English names with legal forms),
each with a date of birth or an identifier where lists carry them; then, per entry, queries
as reports would write them.

True pairs (the query is the entry): another word order ("SURNAME, Given" / "Given
Surname"), accents dropped or added, upper or mixed case, an honorific ("Sr.", "Lic.",
"Mr."), one typo, the name in its original script (Cyrillic, Arabic) or a different Latin
transliteration, a changed legal form ("S.A. de C.V." for "LLC"), an alias, the second
surname left out (corroborated by the date of birth, or only by the country).

Hard negatives (the query is someone else): the same surnames with another given name, the
same given name with another surname, the listed name with another person's date of birth,
a company name with one word replaced, the same generic company words with another
distinctive one.

Every query is screened against an index of the whole list (retrieval included, as in the
worker); a pair is predicted positive when its entry is among the query's matches. Figures are
given for strong matches (what alerts) and for any match (strong or weak: a reason). Two kinds
of true pair are weak by design (a weak alias; a partial name only the country corroborates): they
count in the recall of any match, not in that of strong matches.
"""

from __future__ import annotations

import argparse
import random
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

from services.watchlists.entries import Alias, EntryIdentifier, ListEntry
from services.watchlists.matching import IndexedEntry, Party, ScreeningIndex, Strength
from services.watchlists.names import PartyKind

MX_GIVEN = [
    "José",
    "Juan",
    "María",
    "Luis",
    "Carlos",
    "Jesús",
    "Ana",
    "Rosa",
    "Miguel",
    "Jorge",
    "Guadalupe",
    "Francisco",
    "Alejandro",
    "Fernando",
    "Ricardo",
    "Verónica",
    "Patricia",
    "Roberto",
    "Sergio",
    "Martín",
    "Héctor",
    "Adriana",
    "Raúl",
    "Ramón",
    "Joaquín",
    "Ismael",
    "Rafael",
    "Óscar",
    "Érika",
    "Ignacio",
]
MX_SURNAMES = [
    "García",
    "Hernández",
    "López",
    "Martínez",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Flores",
    "Gómez",
    "Díaz",
    "Vázquez",
    "Cruz",
    "Morales",
    "Reyes",
    "Gutiérrez",
    "Ortiz",
    "Chávez",
    "Ruiz",
    "Jiménez",
    "Mendoza",
    "Aguilar",
    "Castillo",
    "Moreno",
    "Romero",
    "Álvarez",
    "Méndez",
    "Ávila",
    "Quintero",
    "Zambada",
    "Beltrán",
    "Carrillo",
    "Fuentes",
    "Caro",
    "Treviño",
    "Salazar",
    "Guzmán",
    "Loera",
    "Núñez",
]
US_GIVEN = [
    "James",
    "Robert",
    "Michael",
    "William",
    "David",
    "Richard",
    "Thomas",
    "Charles",
    "Mary",
    "Linda",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Nancy",
]
US_SURNAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Thompson",
    "White",
]
# (list spelling, another Latin spelling, Cyrillic)
RU_GIVEN = [
    ("Vladimir", "Wladimir", "Владимир"),
    ("Sergei", "Sergey", "Сергей"),
    ("Dmitri", "Dmitry", "Дмитрий"),
    ("Alexei", "Aleksey", "Алексей"),
    ("Nikolai", "Nikolay", "Николай"),
    ("Mikhail", "Michail", "Михаил"),
    ("Andrei", "Andrey", "Андрей"),
    ("Yuri", "Yury", "Юрий"),
    ("Igor", "Igor", "Игорь"),
    ("Oleg", "Oleg", "Олег"),
]
RU_SURNAMES = [
    ("Ivanov", "Ivanoff", "Иванов"),
    ("Smirnov", "Smirnoff", "Смирнов"),
    ("Kuznetsov", "Kuznetzov", "Кузнецов"),
    ("Popov", "Popoff", "Попов"),
    ("Sokolov", "Sokoloff", "Соколов"),
    ("Lebedev", "Lebedeff", "Лебедев"),
    ("Kozlov", "Kozloff", "Козлов"),
    ("Novikov", "Novikoff", "Новиков"),
    ("Morozov", "Morosov", "Морозов"),
    ("Volkov", "Wolkow", "Волков"),
    ("Orlov", "Orloff", "Орлов"),
    ("Pavlov", "Pawlow", "Павлов"),
]
# (list spelling, another Latin spelling, Arabic)
AR_GIVEN = [
    ("Mohammed", "Muhammad", "محمد"),
    ("Ahmed", "Ahmad", "أحمد"),
    ("Ali", "Aly", "علي"),
    ("Hassan", "Hasan", "حسن"),
    ("Omar", "Umar", "عمر"),
    ("Khalid", "Khaled", "خالد"),
]
AR_SURNAMES = [
    ("Haddad", "Hadad", "حداد"),
    ("Nasser", "Nasir", "ناصر"),
    ("Saleh", "Salih", "صالح"),
    ("Mansour", "Mansur", "منصور"),
    ("Hamdan", "Hamdane", "حمدان"),
]
COMPANY_WORDS = [
    "Inmobiliaria",
    "Transportes",
    "Comercializadora",
    "Constructora",
    "Grupo",
    "Servicios",
    "Distribuidora",
    "Agropecuaria",
    "Importadora",
    "Logística",
    "Minera",
    "Casa de Cambio",
]
COMPANY_NAMES = [
    "Los Álamos",
    "Del Pacífico",
    "El Dorado",
    "Santa Fe",
    "Sierra Madre",
    "Río Bravo",
    "Costa Azul",
    "Valle Verde",
    "Nueva Era",
    "Golfo",
    "Tres Hermanos",
    "San Miguel",
    "La Huerta",
    "Monte Alto",
    "Puerto Nuevo",
    "Las Palmas",
    "Bahía",
    "Cielo Abierto",
]
EN_COMPANY = [
    "Atlas",
    "Frontier",
    "Eagle",
    "Summit",
    "Lone Star",
    "Pioneer",
    "Cascade",
    "Harbor",
    "Liberty",
    "Redwood",
    "Granite",
    "Meridian",
]
EN_KINDS = ["Trading", "Logistics", "Holdings", "Imports", "Shipping", "Consulting"]
MX_FORMS = ["S.A. de C.V.", "S. de R.L. de C.V.", "S.A.P.I. de C.V.", "S.C."]
EN_FORMS = ["LLC", "Inc.", "Corp.", "Ltd."]
WEAK_BY_DESIGN = frozenset({"weak alias", "second surname dropped, same country"})
HONORIFICS = ["Sr.", "Sra.", "Lic.", "Ing.", "Dr.", "Mr.", "Mrs."]


def ascii_fold(text: str) -> str:
    return "".join(
        char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char)
    )


@dataclass(frozen=True)
class Pair:
    query: Party
    entry_key: str
    positive: bool
    kind: str

    @property
    def weak_by_design(self) -> bool:
        return self.kind in WEAK_BY_DESIGN


@dataclass
class Listed:
    entry: ListEntry
    origin: str  # mx | us | ru | ar | company-mx | company-en
    parts: dict[str, object]


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1950, 1995)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _other_date(rng: random.Random, date: str) -> str:
    year = int(date[:4]) + rng.choice([-17, -11, -7, 6, 9, 14])
    return f"{year}{date[4:]}"


def build_list(rng: random.Random, size: int) -> list[Listed]:
    listed: list[Listed] = []
    used: set[str] = set()
    while len(listed) < size:
        key = f"E{len(listed) + 1:04d}"
        origin = rng.choices(
            ["mx", "us", "ru", "ar", "company-mx", "company-en"], [40, 12, 14, 8, 18, 8]
        )[0]
        if origin == "mx":
            given = rng.sample(MX_GIVEN, rng.choice([1, 2]))
            surnames = rng.sample(MX_SURNAMES, 2)
            name = f"{' '.join(surnames).upper()}, {' '.join(given)}"
            parts: dict[str, object] = {"given": given, "surnames": surnames}
            kind = PartyKind.PERSON
        elif origin == "us":
            given = [rng.choice(US_GIVEN)]
            surnames = [rng.choice(US_SURNAMES)]
            name = f"{surnames[0].upper()}, {given[0]}"
            parts = {"given": given, "surnames": surnames}
            kind = PartyKind.PERSON
        elif origin in ("ru", "ar"):
            pools = (RU_GIVEN, RU_SURNAMES) if origin == "ru" else (AR_GIVEN, AR_SURNAMES)
            given_t = rng.choice(pools[0])
            surname_t = rng.choice(pools[1])
            name = f"{surname_t[0].upper()}, {given_t[0]}"
            parts = {"given_t": given_t, "surname_t": surname_t}
            kind = PartyKind.PERSON
        elif origin == "company-mx":
            words = [rng.choice(COMPANY_WORDS), rng.choice(COMPANY_NAMES)]
            form = rng.choice(MX_FORMS)
            name = f"{' '.join(words).upper()}, {form.upper()}"
            parts = {"words": words, "form": form}
            kind = PartyKind.ENTITY
        else:
            words = [rng.choice(EN_COMPANY), rng.choice(EN_KINDS)]
            form = rng.choice(EN_FORMS)
            name = f"{' '.join(words)} {form}"
            parts = {"words": words, "form": form}
            kind = PartyKind.ENTITY
        folded = ascii_fold(name).casefold()
        if folded in used:
            continue
        used.add(folded)
        birth = (_date(rng),) if kind is PartyKind.PERSON else ()
        aliases: tuple[Alias, ...] = ()
        if origin == "mx" and rng.random() < 0.4:
            nickname = rng.choice(["EL GÜERO", "EL FLACO", "EL CHAVO", "LA JEFA", "EL PRIMO"])
            aliases = (Alias(nickname, weak=True),)
        if origin == "company-mx" and rng.random() < 0.5:
            aliases = (
                Alias(
                    f"{rng.choice(COMPANY_WORDS).upper()} {rng.choice(COMPANY_NAMES).upper()}",
                    kind="fka",
                ),
            )
        identifiers = (
            (EntryIdentifier("RFC", f"X{len(listed):03d}{rng.randint(100000, 999999)}AB1", "MX"),)
            if origin.endswith("mx") and rng.random() < 0.5
            else ()
        )
        entry = ListEntry(
            key=key,
            kind=kind,
            name=name,
            aliases=aliases,
            birth_dates=birth,
            countries=("MX",) if "mx" in origin else (),
            identifiers=identifiers,
        )
        listed.append(Listed(entry, origin, parts))
    return listed


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5:
        return word
    position = rng.randint(1, len(word) - 2)
    operation = rng.choice(["drop", "swap", "double"])
    if operation == "drop":
        return word[:position] + word[position + 1 :]
    if operation == "swap":
        return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    return word[:position] + word[position] + word[position:]


def positives(rng: random.Random, item: Listed) -> list[Pair]:
    entry, origin, parts = item.entry, item.origin, item.parts
    pairs: list[Pair] = []
    kind = entry.kind
    birth = entry.birth_dates[0] if entry.birth_dates else None

    def add(
        name: str, variant: str, *, birth_date: str | None = None, country: str | None = None
    ) -> None:
        pairs.append(Pair(Party(name, kind, country, birth_date), entry.key, True, variant))

    if origin in ("mx", "us"):
        given = list(parts["given"])  # type: ignore[call-overload]
        surnames = list(parts["surnames"])  # type: ignore[call-overload]
        natural = " ".join(given + surnames)
        add(ascii_fold(natural), "word order, accents dropped")
        add(natural.upper(), "upper case, given names first")
        add(f"{rng.choice(HONORIFICS)} {natural}", "honorific")
        longest = max(surnames, key=len)
        add(natural.replace(longest, _typo(rng, longest)), "typo", birth_date=birth)
        twice = " ".join([_typo(rng, given[0]), *[_typo(rng, name) for name in surnames]])
        add(twice, "a typo in every word (hard)")
        add(
            " ".join([f"{given[0][0]}.", *given[1:], *surnames]),
            "first given name as an initial (hard)",
        )
        if len(surnames) == 2:
            add(
                f"{given[0]} {surnames[0]}",
                "second surname dropped, date of birth agrees",
                birth_date=birth,
            )
            add(f"{given[0]} {surnames[0]}", "second surname dropped, same country", country="MX")
        for alias in entry.aliases:
            add(alias.name.title(), "weak alias" if alias.weak else "alias")
    elif origin in ("ru", "ar"):
        given_t, surname_t = parts["given_t"], parts["surname_t"]
        add(f"{given_t[0]} {surname_t[0]}", "word order")  # type: ignore[index]
        add(f"{given_t[1]} {surname_t[1]}", "other Latin transliteration")  # type: ignore[index]
        script = "Cyrillic" if origin == "ru" else "Arabic"
        add(f"{surname_t[2]} {given_t[2]}", f"{script} script")  # type: ignore[index]
        first = f"{given_t[2]} {surname_t[2]}"  # type: ignore[index]
        add(first, f"{script} script, given name first", birth_date=birth)
    else:
        words = " ".join(parts["words"])  # type: ignore[arg-type]
        form = str(parts["form"])
        add(f"{words} {form}", "mixed case")
        add(ascii_fold(words).upper(), "legal form dropped, accents dropped")
        other = rng.choice([f for f in (MX_FORMS + EN_FORMS) if f != form])
        add(f"{ascii_fold(words)} {other}", "legal form changed")
        longest = max(words.split(), key=len)
        add(f"{words.replace(longest, _typo(rng, longest))} {form}", "typo")
        for alias in entry.aliases:
            add(alias.name.title(), "former name")
    return pairs


def negatives(rng: random.Random, item: Listed, everyone: set[str]) -> list[Pair]:
    entry, origin, parts = item.entry, item.origin, item.parts
    pairs: list[Pair] = []
    kind = entry.kind
    birth = entry.birth_dates[0] if entry.birth_dates else None

    def add(name: str, variant: str, *, birth_date: str | None = None) -> None:
        if ascii_fold(name).casefold() in everyone:
            return  # by chance another listed name: not a negative
        pairs.append(Pair(Party(name, kind, None, birth_date), entry.key, False, variant))

    if origin in ("mx", "us"):
        given = list(parts["given"])  # type: ignore[call-overload]
        surnames = list(parts["surnames"])  # type: ignore[call-overload]
        pool = MX_GIVEN if origin == "mx" else US_GIVEN
        other_given = rng.choice([name for name in pool if name not in given])
        add(" ".join([other_given, *surnames]), "same surnames, another given name")
        pool_s = MX_SURNAMES if origin == "mx" else US_SURNAMES
        other_surname = rng.choice([name for name in pool_s if name not in surnames])
        add(
            " ".join(
                [*given, surnames[0], other_surname]
                if len(surnames) == 2
                else [*given, other_surname]
            ),
            "same given name, another surname",
        )
        if birth:
            add(
                " ".join(given + surnames),
                "listed name, another date of birth",
                birth_date=_other_date(rng, birth),
            )
            same_year = f"{birth[:5]}{(int(birth[5:7]) % 12) + 1:02d}{birth[7:]}"
            add(
                " ".join(given + surnames),
                "listed name, same year of birth, another day (hard)",
                birth_date=same_year,
            )
    elif origin in ("ru", "ar"):
        given_t, surname_t = parts["given_t"], parts["surname_t"]
        pool = RU_GIVEN if origin == "ru" else AR_GIVEN
        other = rng.choice([name for name in pool if name != given_t])
        add(f"{other[0]} {surname_t[0]}", "same surname, another given name")  # type: ignore[index]
        if birth:
            add(
                f"{given_t[0]} {surname_t[0]}",
                "listed name, another date of birth",
                birth_date=_other_date(rng, birth),
            )  # type: ignore[index]
    else:
        words = list(parts["words"])  # type: ignore[call-overload]
        form = str(parts["form"])
        pool = COMPANY_NAMES if origin == "company-mx" else EN_KINDS
        replaced = rng.choice([name for name in pool if name != words[1]])
        add(f"{words[0]} {replaced} {form}", "company name, one word replaced")
        pool_first = COMPANY_WORDS if origin == "company-mx" else EN_COMPANY
        first = rng.choice([name for name in pool_first if name != words[0]])
        add(f"{first} {words[1]} {form}", "company name, first word replaced")
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--entries", type=int, default=220)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    listed = build_list(rng, args.entries)
    everyone = {ascii_fold(item.entry.name).casefold() for item in listed}
    pairs = [pair for item in listed for pair in positives(rng, item)]
    pairs += [pair for item in listed for pair in negatives(rng, item, everyone)]
    index = ScreeningIndex(
        [IndexedEntry(number, "bench", 1, item.entry) for number, item in enumerate(listed)]
    )
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    errors: list[str] = []
    for pair in pairs:
        matches = {match.entry.key: match for match in index.screen(pair.query, limit=10)}
        match = matches.get(pair.entry_key)
        strong = match is not None and match.strength is Strength.STRONG
        found = match is not None
        for level, predicted in (("strong", strong), ("any", found)):
            if level == "strong" and pair.weak_by_design:
                continue
            cell = ("tp" if predicted else "fn") if pair.positive else ("fp" if predicted else "tn")
            totals[f"{level}:{cell}"] += 1
            outcomes[f"{'+' if pair.positive else '-'} {pair.kind}"][f"{level}:{cell}"] += 1
        if pair.positive != strong and not pair.weak_by_design:
            score = f"{match.score:.2f} {match.strength.value}" if match else "no match"
            errors.append(
                f"{'+' if pair.positive else '-'} {pair.kind}: {pair.query.name!r}"
                f" (dob {pair.query.birth_date}) vs {pair.entry_key}: {score}"
            )
    positives_n = sum(pair.positive for pair in pairs)
    print(
        f"{len(pairs)} labelled pairs ({positives_n} true, {len(pairs) - positives_n} hard"
        f" negatives) against a list of {len(listed)} entries, seed {args.seed}"
    )
    weak_n = sum(pair.weak_by_design for pair in pairs)
    print(f"(strong: the {positives_n - weak_n} true pairs expected to alert; any: all)")
    for level in ("strong", "any"):
        tp, fp, fn = (totals[f"{level}:{cell}"] for cell in ("tp", "fp", "fn"))
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        print(
            f"{level:>6}: precision {precision:.3f}  recall {recall:.3f}"
            f"  (tp {tp}, fp {fp}, fn {fn})"
        )
    print("\nby variant (true pairs: share found; negatives: share wrongly matched), strong / any")
    for kind in sorted(outcomes):
        counts = outcomes[kind]
        n = sum(counts[f"any:{cell}"] for cell in ("tp", "fn", "fp", "tn"))
        hit = "tp" if kind.startswith("+") else "fp"
        strong_share = counts[f"strong:{hit}"] / n
        any_share = counts[f"any:{hit}"] / n
        print(f"  {kind:<55} n={n:<4} {strong_share:.2f} / {any_share:.2f}")
    if args.show_errors:
        print("\n" + "\n".join(errors))


if __name__ == "__main__":
    main()
