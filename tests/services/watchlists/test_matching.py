"""Screening parties against a hand-made SDN list: variations that must match, near misses that
must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.watchlists.entries import ListEntry
from services.watchlists.formats import ListFormat, read_list
from services.watchlists.matching import (
    SINGLE_POSTING_CAP,
    IndexedEntry,
    Party,
    ScreeningIndex,
    Strength,
)
from services.watchlists.names import PartyKind, link_key

DATA = Path(__file__).parent / "data"
PERSON, ENTITY, UNKNOWN = PartyKind.PERSON, PartyKind.ENTITY, PartyKind.UNKNOWN


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    entries = read_list(DATA / "sdn", ListFormat.SDN_CSV).entries
    return ScreeningIndex(
        [IndexedEntry(number, "ofac-sdn", 1, entry) for number, entry in enumerate(entries)]
    )


def _best(index: ScreeningIndex, party: Party) -> tuple[str, Strength] | None:
    matches = index.screen(party, role="subject")
    return (matches[0].entry.key, matches[0].strength) if matches else None


@pytest.mark.parametrize(
    ("party", "entry"),
    [
        # another word order, accents dropped
        (Party("Jose Ramon Mendez Avila", PERSON, "MX"), "9001"),
        # accents added, upper case surname, given names first
        (Party("José Ramón MÉNDEZ ÁVILA", PERSON), "9001"),
        # a strong alias
        (Party("Ramon Mendez", PERSON), "9001"),
        # Cyrillic, surname first
        (Party("Соколов Владимир Иванович", PERSON, "RU"), "9004"),
        # a Latin transliteration of the Russian given name that differs from the list's
        (Party("Vladimir Ivanovich Sokolov", UNKNOWN), "9004"),
        # the front company with another legal form
        (Party("Inmobiliaria Los Alamos del Pacifico LLC", ENTITY, "MX"), "9002"),
        (Party("INMOBILIARIA LOS ÁLAMOS DEL PACÍFICO S. DE R.L. DE C.V.", ENTITY), "9002"),
        # its former name
        (Party("Desarrollos Los Alamos SA de CV", ENTITY), "9002"),
        (Party("Transportes Rápidos del Norte, S.A. de C.V.", ENTITY), "9005"),
        # a typo in each surname
        (Party("Jose Ramon Mendes Abila", PERSON, birth_date="1968-03-14"), "9001"),
        # an identifier the list carries, whatever the name says
        (Party("J. R. M. A.", PERSON, identifiers=(("RFC", "MEAR680314AB1"),)), "9001"),
        # the common name, with the listed date of birth
        (Party("Juan Garcia Lopez", PERSON, "MX", "1961-03-12"), "9003"),
    ],
)
def test_strong_matches(index: ScreeningIndex, party: Party, entry: str) -> None:
    assert _best(index, party) == (entry, Strength.STRONG)


@pytest.mark.parametrize(
    ("party", "entry"),
    [
        # weak alias: a nickname many people share
        (Party("El Guero", PERSON), "9001"),
        # a partial name: the country agrees, no date of birth to corroborate it
        (Party("Juan Garcia", PERSON, "MX"), "9003"),
        (Party("Jose Ramon Mendez", PERSON, "MX"), "9001"),
    ],
)
def test_weak_matches(index: ScreeningIndex, party: Party, entry: str) -> None:
    assert _best(index, party) == (entry, Strength.WEAK)


@pytest.mark.parametrize(
    "party",
    [
        # the listed name, another person's date of birth
        Party("Juan Garcia Lopez", PERSON, "MX", "1988-07-02"),
        Party("Jose Ramon Mendez Avila", PERSON, "MX", "1990-01-01"),
        # a shared surname, another given name
        Party("Maria Garcia Lopez", PERSON, "MX"),
        Party("Juan Garcia Perez", PERSON, "MX"),
        Party("Vicente Mendez Avila", PERSON),
        # a partial name, nothing else in common
        Party("Jose Ramon Mendez", PERSON),
        Party("Juan Garcia", PERSON, "US"),
        # a company with a similar name
        Party("Inmobiliaria Los Pinos del Pacifico S.A. de C.V.", ENTITY),
        Party("Transportes Rapidos del Sur S.A. de C.V.", ENTITY),
        # a person is not a company (nor a vessel)
        Party("Sea Falcon", PERSON),
        # the listed RFC type, another number
        Party("Jose Mendez", PERSON, identifiers=(("RFC", "MEAR700101XX9"),)),
    ],
)
def test_near_misses_do_not_match(index: ScreeningIndex, party: Party) -> None:
    matches = index.screen(party, role="subject")
    assert [m for m in matches if m.strength is Strength.STRONG] == []
    assert matches == [] or party.name in ("Jose Mendez",)


def test_a_match_says_what_matched(index: ScreeningIndex) -> None:
    [match] = index.screen(
        Party("Jose Ramon Mendez Avila", PERSON, "MX", "1968-03-14"), role="counterparty"
    )
    assert match.score == 1.0
    assert match.matched["name"]["candidate"] == "MENDEZ AVILA, Jose Ramon"
    assert match.matched["birth_date"] == "same"
    assert match.matched["fields"] == [
        "name 'MENDEZ AVILA, Jose Ramon'",
        "date of birth",
        "country MX",
    ]
    sentence = match.describe()
    assert sentence.startswith("Counterparty matches ofac-sdn entry 9001")
    assert "SDNTK" in sentence
    assert "MEAR680314AB1" not in sentence  # identifiers stay out of reasons


def test_common_tokens_alone_retrieve_nothing() -> None:
    """A list where every entry is called Garcia: "Garcia" alone finds none, pairs still do."""
    entries = [
        IndexedEntry(number, "big", 1, ListEntry(str(number), PERSON, f"Garcia Person{number}"))
        for number in range(SINGLE_POSTING_CAP + 50)
    ]
    big = ScreeningIndex(entries)
    assert big.screen(Party("Garcia", PERSON)) == []
    [match] = big.screen(Party("Person7 Garcia", PERSON))
    assert match.entry.key == "7"


def test_link_keys_in_every_script() -> None:
    assert link_key("PÉREZ, Juan") == link_key("Sr. Juan Perez") == "juan perez"
    assert link_key("Сергей Иванов", PERSON) == link_key("Sergei Ivanov", PERSON)
    assert link_key("محمد بن سلمان") != ""  # Arabic keeps its letters instead of vanishing
    assert link_key("习近平") == "习近平"
    assert link_key("Acme S.A. de C.V.", ENTITY) == link_key("ACME LLC", ENTITY) == "acme"
