"""A list entry as every format reads it: the one shape loading, storage and matching share."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from services.watchlists.names import PartyKind

_NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]")

# Identifier types as the wire format names them; list spellings map onto them.
IDENTIFIER_TYPES = ("SSN", "ITIN", "EIN", "RFC", "CURP", "PASSPORT", "OTHER")


@lru_cache(maxsize=100_000)
def normalize_identifier(value: str) -> str:
    """Upper-case alphanumerics only, as the wire format's ``PartyIdentifier.normalized``."""
    return _NOT_ALPHANUMERIC.sub("", value).upper()


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    weak: bool = False
    kind: str = "aka"  # aka | fka | nka


@dataclass(frozen=True, slots=True)
class EntryIdentifier:
    type: str  # one of IDENTIFIER_TYPES
    value: str
    country: str | None = None
    label: str | None = None  # the list's own name for it ("R.F.C.", "Cedula No.")

    @property
    def normalized(self) -> str:
        return normalize_identifier(self.value)


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One listed person, entity, vessel or aircraft."""

    key: str  # the list's own id: SDN ent_num, FtM entity id, the unit's id
    kind: PartyKind
    name: str
    aliases: tuple[Alias, ...] = ()
    birth_dates: tuple[str, ...] = ()  # ISO prefixes: YYYY, YYYY-MM or YYYY-MM-DD
    countries: tuple[str, ...] = ()  # ISO 3166-1 alpha-2: nationality, citizenship, addresses
    identifiers: tuple[EntryIdentifier, ...] = ()
    programs: tuple[str, ...] = ()
    remarks: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_document(self) -> dict[str, Any]:
        """The entry as stored (JSON): every field, in a fixed order."""
        return {
            "key": self.key,
            "kind": self.kind.value,
            "name": self.name,
            "aliases": [
                {"name": alias.name, "weak": alias.weak, "kind": alias.kind}
                for alias in self.aliases
            ],
            "birth_dates": list(self.birth_dates),
            "countries": list(self.countries),
            "identifiers": [
                {
                    "type": identifier.type,
                    "value": identifier.value,
                    "country": identifier.country,
                    "label": identifier.label,
                }
                for identifier in self.identifiers
            ],
            "programs": list(self.programs),
            "remarks": self.remarks,
            "extra": self.extra,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ListEntry:
        return cls(
            key=str(document["key"]),
            kind=PartyKind(document["kind"]),
            name=str(document["name"]),
            aliases=tuple(
                Alias(str(alias["name"]), bool(alias.get("weak")), str(alias.get("kind", "aka")))
                for alias in document.get("aliases", [])
            ),
            birth_dates=tuple(document.get("birth_dates", [])),
            countries=tuple(document.get("countries", [])),
            identifiers=tuple(
                EntryIdentifier(
                    str(item["type"]), str(item["value"]), item.get("country"), item.get("label")
                )
                for item in document.get("identifiers", [])
            ),
            programs=tuple(document.get("programs", [])),
            remarks=document.get("remarks"),
            extra=dict(document.get("extra") or {}),
        )

    def content_hash(self) -> str:
        """SHA-256 of the stored form: an entry whose hash changes was amended."""
        return hashlib.sha256(
            orjson.dumps(self.to_document(), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()

    def all_names(self) -> list[tuple[str, bool]]:
        """The primary name and every alias, with whether each is a weak alias."""
        names = [(self.name, False)]
        names.extend((alias.name, alias.weak) for alias in self.aliases)
        return names


class ListFormatError(ValueError):
    """A list file that cannot be read; the message names the file, line or element."""
