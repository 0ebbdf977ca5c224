"""Screening parties against loaded lists: an index built once per set of list versions.

Candidate retrieval never scans the list. Every entry name is analysed once, when the index is
built, and filed under its retrieval keys (``names.retrieval_keys``: part forms and phonetic
keys, alone and in pairs). A party's name looks up its own keys; entries sharing a rare key
or a pair of keys are scored, the best :data:`MAX_CANDIDATES` of them with the full name
comparison (``names.compare``). A key shared by more than :data:`SINGLE_POSTING_CAP`
names (a common given name or surname on its own) retrieves nothing by itself; pairs of
such parts still do. Identifiers retrieve their entries directly.

The name step is cached per (name, kind): names repeat across reports (a customer's every
transaction), and the cache belongs to the index, so a new list version starts it afresh.

Scores, from a party and an entry:

* name: the best comparison of the party's name with the entry's name and aliases; a weak
  alias (OFAC's "weak AKA", FtM ``weakAlias``) counts :data:`WEAK_ALIAS_FACTOR` of it;
* identifier: the same normalised number of a compatible type (RFC, CURP, passport, SSN…)
  scores :data:`IDENTIFIER_SCORE` whatever the name says; the same type with a different
  number lowers the score by :data:`IDENTIFIER_CONFLICT`;
* date of birth: the same day adds :data:`BIRTH_DATE_BONUS`; the same year on a different
  day takes off :data:`BIRTH_DAY_CONFLICT`; different years :data:`BIRTH_YEAR_CONFLICT`
  (an entry with several dates of birth conflicts only if none agrees);
* country: a party country the entry does not name takes off :data:`COUNTRY_CONFLICT`;
* a partial name (a report's "Juan García" against the entry's "GARCÍA LÓPEZ, Juan") is at
  most :data:`PARTIAL_NAME_CAP`, a weak match, and only where the country agrees, unless the
  date of birth or an identifier does: common given names and surnames would otherwise match
  by the hundred.

A match scoring at least :data:`STRONG` is strong (it forces an alert), at least :data:`WEAK`
weak (a reason and a feature only). docs/watchlists.md gives the measured precision and recall.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from rigour.names import Name

from services.watchlists.entries import ListEntry, normalize_identifier
from services.watchlists.names import (
    NameComparison,
    PartyKind,
    Signature,
    analyze,
    best_comparison,
    kind_of,
    retrieval_keys,
    score_bound,
    signature,
)

STRONG = 0.85
WEAK = 0.70
WEAK_ALIAS_FACTOR = 0.8
IDENTIFIER_SCORE = 0.95
IDENTIFIER_CONFLICT = 0.2
BIRTH_DATE_BONUS = 0.1
BIRTH_DAY_CONFLICT = 0.2
BIRTH_YEAR_CONFLICT = 0.35
COUNTRY_CONFLICT = 0.1
PARTIAL_NAME_CAP = 0.84
# Below this, a name comparison is not kept as a candidate at all.
NAME_FLOOR = 0.6
MAX_CANDIDATES = 10
# ``names.score_bound`` is rough (symbol weights and legal forms aside): a candidate is
# skipped only when even the bound falls this far below the floor.
BOUND_MARGIN = 0.1
SINGLE_POSTING_CAP = 200
PAIR_POSTING_CAP = 2_000
NAME_CACHE_SIZE = 100_000


class Strength(StrEnum):
    STRONG = "strong"
    WEAK = "weak"


class Party(NamedTuple):
    """Someone a report names: its subject or its counterparty (a tuple: one is made per
    party of every report)."""

    name: str | None
    kind: PartyKind = PartyKind.UNKNOWN
    country: str | None = None
    birth_date: str | None = None
    # (type, normalised value) pairs; never logged.
    identifiers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class IndexedEntry:
    """An entry of a loaded list version, as the index holds it."""

    entry_id: int  # watchlist_entries.id
    watchlist: str
    version: int
    entry: ListEntry


@dataclass(frozen=True, slots=True)
class Match:
    """A party matched to an entry: the score, its strength and what matched."""

    indexed: IndexedEntry
    score: float
    strength: Strength
    matched: dict[str, Any] = field(hash=False, compare=False)

    @property
    def entry(self) -> ListEntry:
        return self.indexed.entry

    def describe(self) -> str:
        """One sentence for an alert's reasons: the list, the entry and what matched."""
        entry = self.entry
        fields = ", ".join(self.matched.get("fields", []))
        programs = f" [{', '.join(entry.programs)}]" if entry.programs else ""
        return (
            f"{self.matched.get('role', 'party').capitalize()} matches {self.indexed.watchlist}"
            f" entry {entry.key} {entry.name!r}{programs}: {fields}"
            f" (score {self.score:.2f}, {self.strength.value})"
        )


def _compatible(party: PartyKind, entry: PartyKind) -> bool:
    if party is PartyKind.UNKNOWN:
        return entry is not PartyKind.OBJECT
    if party is PartyKind.PERSON:
        return entry is PartyKind.PERSON
    return entry in (PartyKind.ENTITY, PartyKind.OBJECT)


def _identifiers_compatible(left: str, right: str) -> bool:
    return left == right or "OTHER" in (left, right)


@dataclass(frozen=True, slots=True)
class _NameHit:
    entry_index: int
    comparison: NameComparison
    weak_alias: bool


class ScreeningIndex:
    """Entries of the current list versions, filed for fast retrieval."""

    def __init__(self, entries: Sequence[IndexedEntry]) -> None:
        self.entries = list(entries)
        self.versions = tuple(sorted({(item.watchlist, item.version) for item in entries}))
        # One slot per entry name: (entry index, analysed name, is a weak alias), and the
        # name's part signatures (``names.score_bound``).
        self._names: list[tuple[int, tuple[Name, ...], bool]] = []
        self._signatures: list[Signature] = []
        postings: dict[str, list[int]] = defaultdict(list)
        self._identifiers: dict[str, list[int]] = defaultdict(list)
        for entry_index, item in enumerate(self.entries):
            entry = item.entry
            for text, weak in entry.all_names():
                analysed = analyze(text, entry.kind)
                if not analysed:
                    continue
                slot = len(self._names)
                self._names.append((entry_index, analysed, weak))
                self._signatures.append(signature(analysed))
                keys = retrieval_keys(analysed, indexing=True)
                for key in (*keys.single, *keys.pairs):
                    postings[key].append(slot)
            for identifier in entry.identifiers:
                normalized = identifier.normalized
                if len(normalized) >= 4:
                    self._identifiers[normalized].append(entry_index)
        total = max(len(self._names), 1)
        # Postings as arrays: a query's candidates are summed with numpy, not a Python loop
        # over thousands of slots.
        self._postings = {
            key: (np.asarray(posting, dtype=np.int32), math.log(1.0 + total / len(posting)))
            for key, posting in postings.items()
        }
        self._name_hits: Callable[[str, PartyKind], tuple[_NameHit, ...]] = lru_cache(
            maxsize=NAME_CACHE_SIZE
        )(self._find_names)
        self._document_hits: Callable[[str, str | None], bool] = lru_cache(maxsize=NAME_CACHE_SIZE)(
            self._find_document_hits
        )

    def __len__(self) -> int:
        return len(self.entries)

    # ---- names -------------------------------------------------------------------------
    def _candidates(self, analysed: Sequence[Name]) -> list[int]:
        keys = retrieval_keys(analysed)
        arrays: list[npt.NDArray[np.int32]] = []
        gains: list[npt.NDArray[np.float64]] = []
        for group, cap in ((keys.pairs, PAIR_POSTING_CAP), (keys.single, SINGLE_POSTING_CAP)):
            for key in group:
                found = self._postings.get(key)
                if found is not None and found[0].size <= cap:
                    arrays.append(found[0])
                    gains.append(np.full(found[0].size, found[1]))
        if not arrays:
            return []
        slots, inverse = np.unique(np.concatenate(arrays), return_inverse=True)
        weight = np.bincount(inverse, weights=np.concatenate(gains))
        if slots.size > MAX_CANDIDATES:
            best = np.argpartition(weight, -MAX_CANDIDATES)[-MAX_CANDIDATES:]
            slots = slots[best]
        return [int(slot) for slot in slots]

    def _find_names(self, name: str, kind: PartyKind) -> tuple[_NameHit, ...]:
        analysed = analyze(name, kind)
        if not analysed:
            return ()
        best: dict[int, _NameHit] = {}
        query = signature(analysed)
        for slot in self._candidates(analysed):
            entry_index, names, weak = self._names[slot]
            if not _compatible(kind, self.entries[entry_index].entry.kind):
                continue
            if score_bound(query, self._signatures[slot]) < NAME_FLOOR - BOUND_MARGIN:
                continue
            comparison = best_comparison(analysed, names)
            if comparison is None or comparison.score < NAME_FLOOR:
                continue
            current = best.get(entry_index)
            effective = comparison.score * (WEAK_ALIAS_FACTOR if weak else 1.0)
            if current is None or effective > _effective(current):
                best[entry_index] = _NameHit(entry_index, comparison, weak)
        return tuple(best.values())

    # ---- parties -----------------------------------------------------------------------
    def screen(self, party: Party, *, role: str = "party", limit: int = 5) -> list[Match]:
        """Matches of one party, best first (at most ``limit``, each at least :data:`WEAK`)."""
        hits: dict[int, _NameHit] = {}
        if party.name:
            hits = {hit.entry_index: hit for hit in self._name_hits(party.name, party.kind)}
        by_identifier: dict[int, str] = {}
        for id_type, value in party.identifiers:
            for entry_index in self._identifiers.get(normalize_identifier(value), ()):
                entry = self.entries[entry_index].entry
                for identifier in entry.identifiers:
                    if identifier.normalized == normalize_identifier(
                        value
                    ) and _identifiers_compatible(identifier.type, id_type):
                        by_identifier[entry_index] = identifier.type
        matches = [
            match
            for entry_index in set(hits) | set(by_identifier)
            if (
                match := self._score(
                    party, role, entry_index, hits.get(entry_index), by_identifier.get(entry_index)
                )
            )
            is not None
        ]
        matches.sort(key=lambda match: (-match.score, match.indexed.entry_id))
        return matches[:limit]

    def could_match(self, party: Mapping[str, Any] | None) -> bool:
        """Whether a report's party (its JSON document) can match at all: its name has
        candidates, or an identifier is listed. Cheap after a name's first sight (cached),
        so the many parties that match nothing cost a lookup, not a :class:`Party`."""
        if not party:
            return False
        name = party.get("name")
        if name and self._document_hits(name, party.get("type")):
            return True
        if self._identifiers:
            for item in party.get("identifiers") or ():
                value = item.get("value") if isinstance(item, dict) else None
                if value and normalize_identifier(str(value)) in self._identifiers:
                    return True
        return False

    def _find_document_hits(self, name: str, kind: str | None) -> bool:
        return bool(self._name_hits(name, kind_of(kind, name)))

    def _score(
        self,
        party: Party,
        role: str,
        entry_index: int,
        hit: _NameHit | None,
        identifier_type: str | None,
    ) -> Match | None:
        indexed = self.entries[entry_index]
        entry = indexed.entry
        fields: list[str] = []
        matched: dict[str, Any] = {"role": role}
        score = 0.0
        if hit is not None:
            score = _effective(hit)
            comparison = hit.comparison
            alias = comparison.candidate != entry.name
            fields.append(
                ("weak alias" if hit.weak_alias else "alias" if alias else "name")
                + f" {comparison.candidate!r}"
            )
            matched["name"] = {
                "query": comparison.query,
                "candidate": comparison.candidate,
                "score": round(comparison.score, 3),
                "alias": alias,
                "weak_alias": hit.weak_alias,
                "evidence": list(comparison.evidence),
            }
        if identifier_type is not None:
            score = max(score, IDENTIFIER_SCORE) + (BIRTH_DATE_BONUS / 2 if hit else 0.0)
            fields.append(f"{identifier_type} number")
            matched["identifier"] = identifier_type
        else:
            conflicting = _identifier_conflict(party, entry)
            if conflicting is not None:
                score -= IDENTIFIER_CONFLICT
                matched["identifier_conflict"] = conflicting
        birth = _birth_date_verdict(party.birth_date, entry.birth_dates)
        if birth is not None:
            matched["birth_date"] = birth
            if birth == "same":
                score += BIRTH_DATE_BONUS
                fields.append("date of birth")
            elif birth == "same year":
                fields.append("year of birth")
            elif birth == "different day":
                score -= BIRTH_DAY_CONFLICT
            else:
                score -= BIRTH_YEAR_CONFLICT
        if party.country and entry.countries:
            if party.country in entry.countries:
                fields.append(f"country {party.country}")
                matched["country"] = "same"
            else:
                score -= COUNTRY_CONFLICT
                matched["country"] = "different"
        corroborated = identifier_type is not None or birth == "same"
        if hit is not None and hit.comparison.missing and not corroborated:
            # A partial name is a weak match where the country agrees, else none at all.
            score = min(score, PARTIAL_NAME_CAP if matched.get("country") == "same" else 0.0)
        score = round(min(score, 1.0), 3)
        if score < WEAK:
            return None
        matched["fields"] = fields
        return Match(indexed, score, Strength.STRONG if score >= STRONG else Strength.WEAK, matched)

    def screen_many(self, parties: Iterable[tuple[str, Party]]) -> list[list[Match]]:
        return [self.screen(party, role=role) for role, party in parties]


def _effective(hit: _NameHit) -> float:
    return hit.comparison.score * (WEAK_ALIAS_FACTOR if hit.weak_alias else 1.0)


def _identifier_conflict(party: Party, entry: ListEntry) -> str | None:
    """A type both sides carry, with numbers that all differ (another person's number)."""
    for id_type, value in party.identifiers:
        if id_type == "OTHER":
            continue
        listed = [item.normalized for item in entry.identifiers if item.type == id_type]
        if listed and normalize_identifier(value) not in listed:
            return id_type
    return None


def _birth_date_verdict(party: str | None, listed: Sequence[str]) -> str | None:
    """``same`` | ``same year`` | ``different day`` | ``different year``, or None (unknown)."""
    if not party or not listed:
        return None
    party = party[:10]
    best = "different year"
    for value in listed:
        if value == party:
            return "same"
        if party.startswith(value) or value.startswith(party):
            best = "same year"
        elif value[:4] == party[:4] and best == "different year":
            best = "different day"
    return best
