"""Names in any script, normalised and compared with ``rigour`` (OpenSanctions' name library).

One normalisation serves watchlist screening and subject linking:

* :func:`analyze` turns a raw name into ``rigour`` ``Name`` objects: honorifics stripped
  ("Mr.", "Lic.", "Dr."), legal forms folded to a comparable class ("S.A. de C.V.", "LLC",
  "GmbH"), parts latinised where the script allows it (Cyrillic, Greek, Armenian, Georgian,
  accented Latin), and tagged with the name symbols of ``rigour``'s person-name and
  organisation vocabularies (the symbol of "Хоакин" is the symbol of "Joaquín").
* :func:`retrieval_keys` gives the keys a name is found by in an index: each part's
  comparable form and its phonetic key (metaphone of its ASCII transliteration, so Arabic
  and CJK parts have one too), alone and in pairs. Pairs keep common given names and
  surnames ("juan", "garcia") from pulling in thousands of candidates.
* :func:`compare` scores one name against another: symbol pairings first (shared name
  symbols, legal-form classes, initials), then an edit-distance verdict on what is left
  (``rigour.names.compare_parts``), with parts present on one side only weighing less. The
  weights follow the design of the logic-v2 name matcher of ``nomenklatura`` (MIT licence,
  by the authors of ``rigour``); the scoring code here is ours.
* :func:`link_key` is the order-, case-, accent- and honorific-free key subject linking
  stores (``subject_names.name_key``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from rapidfuzz import fuzz
from rigour.names import (
    Alignment,
    CompareConfig,
    Name,
    NamePart,
    NamePartTag,
    NameTypeTag,
    Symbol,
    align_person_name_order,
    analyze_names,
    compare_parts,
    extract_org_types,
    pair_symbols,
)
from rigour.text import metaphone
from rigour.text.translit import ascii_text


class PartyKind(StrEnum):
    """What a name belongs to; decides which honorific and legal-form rules apply."""

    PERSON = "person"
    ENTITY = "entity"
    OBJECT = "object"  # vessels and aircraft on the SDN list
    UNKNOWN = "unknown"


_TYPE_TAGS = {
    PartyKind.PERSON: NameTypeTag.PER,
    PartyKind.ENTITY: NameTypeTag.ORG,
    PartyKind.OBJECT: NameTypeTag.OBJ,
}

# Longest name analysed: list entries and report fields are far shorter; this bounds the work
# a hostile report can cause.
MAX_NAME_CHARS = 300

# How much a part on one side only counts against a match, relative to a matched part. A part
# the query (the report) has and the entry lacks ("Juan *Carlos* Pérez") says more than one
# the entry has and the query lacks (lists carry full names; reports abbreviate).
EXTRA_QUERY_WEIGHT = 0.8
EXTRA_RESULT_WEIGHT = 0.2
FAMILY_NAME_WEIGHT = 1.3
STOPWORD_WEIGHT = 0.7
LEGAL_FORM_CHANGE_WEIGHT = 0.3
LEGAL_FORM_EXTRA_WEIGHT = 0.1
# A name with an identifying part replaced by another is most often another person or
# company (typos and transliterations pair up as similar parts, not as replacements).
SUBSTITUTION_FACTOR = 0.85

# Symbol pairings: the score a shared symbol earns and its weight among the name's parts.
_SYMBOL_SCORES = {
    Symbol.Category.ORG_CLASS: 0.8,
    Symbol.Category.INITIAL: 0.9,
    Symbol.Category.NAME: 0.9,
    Symbol.Category.NICK: 0.6,
    Symbol.Category.SYMBOL: 0.9,
    Symbol.Category.DOMAIN: 0.9,
    Symbol.Category.NUMERIC: 0.9,
    Symbol.Category.LOCATION: 0.9,
}
_SYMBOL_WEIGHTS = {
    Symbol.Category.ORG_CLASS: 0.7,
    Symbol.Category.INITIAL: 0.5,
    Symbol.Category.NICK: 0.8,
    Symbol.Category.SYMBOL: 0.3,
    Symbol.Category.DOMAIN: 0.7,
    Symbol.Category.NUMERIC: 1.3,
    Symbol.Category.LOCATION: 0.8,
}
# A legal form or a generic word on one side only barely matters ("Siemens AG" / "Siemens").
_EXTRA_SYMBOL_WEIGHTS = {
    Symbol.Category.ORG_CLASS: 0.3,
    Symbol.Category.SYMBOL: 0.7,
    Symbol.Category.NUMERIC: 1.3,
    Symbol.Category.LOCATION: 0.8,
}
_COMPARE_CONFIG = CompareConfig()
# Parts that carry no identity for retrieval: legal forms, stopwords ("de", "bin"), numbers.
_NOT_RETRIEVED = frozenset({NamePartTag.LEGAL, NamePartTag.STOP, NamePartTag.NUM})
# Legal forms rigour does not tag as such in every position ("Eagle Imports Corp.").
_MORE_LEGAL_FORMS = frozenset(
    {"corp", "corporation", "co", "company", "inc", "incorporated", "ltd", "limited", "llc"}
)
# Honorifics and titles Mexican reports put before names, which rigour's list lacks.
_HONORIFIC = re.compile(
    r"^(?:(?:sr|sra|srta|lic|licda|ing|arq|dra?|mtr[oa]|profa?|don|doña|c\.\s?p)\.?\s+)+",
    re.IGNORECASE,
)
# A part pair with the same sound ("Kozloff" / "Kozlov", "Mendes" / "Méndez") that spelling
# distance alone would reject.
PHONETIC_SCORE = 0.85
# Retrieval pairs are built from the first parts only: a 12-word name would give 66 pairs.
_MAX_RETRIEVAL_PARTS = 6


def kind_of(value: str | None, name: str | None = None) -> PartyKind:
    """The kind of a party from a report's ``type`` field; an untyped name with a legal form
    ("… S.A. de C.V.") is an entity, any other untyped name is unknown."""
    if value in ("person", "individual"):
        return PartyKind.PERSON
    if value in ("entity", "organization", "organisation", "company"):
        return PartyKind.ENTITY
    if value in ("vessel", "aircraft", "object"):
        return PartyKind.OBJECT
    if name and _has_legal_form(name[:MAX_NAME_CHARS]):
        return PartyKind.ENTITY
    return PartyKind.UNKNOWN


@lru_cache(maxsize=20_000)
def _has_legal_form(name: str) -> bool:
    return bool(extract_org_types(name))


@lru_cache(maxsize=200_000)
def analyze(name: str, kind: PartyKind) -> tuple[Name, ...]:
    """The ``rigour`` analysis of one name (cached: names repeat across reports).

    An unknown kind is analysed as a person's name (:func:`kind_of` already made a name with
    a legal form an entity): honorifics are stripped and given names and surnames get their
    symbols.
    """
    text = name[:MAX_NAME_CHARS]
    tag = _TYPE_TAGS.get(kind, NameTypeTag.PER)
    if tag == NameTypeTag.PER:
        text = _HONORIFIC.sub("", text.strip()) or text
    analysed = analyze_names(tag, [text], consolidate=False)
    return tuple(sorted(analysed, key=lambda item: (item.comparable, str(item.tag))))


def warm_up() -> None:
    """Builds ``rigour``'s name tagger now rather than on the first name analysed.

    The first analysis of a person's name takes seconds (5.7 s on a loaded 2-core machine) in
    Rust code that keeps the GIL. In the worker it ran on the store thread during the first
    batch, starving the consumer's heartbeat thread: the group evicted a worker that had just
    joined (session timeout), and a restarted worker could lose its partitions again at once.
    The worker calls this before it joins its consumer group (``streaming.detection``).
    """
    analyze("Juan Perez", PartyKind.PERSON)
    analyze("Eagle Imports Corp", PartyKind.ENTITY)


@lru_cache(maxsize=50_000)
def _phonetic(comparable: str) -> str | None:
    """Metaphone of the part's ASCII transliteration (Arabic, CJK and Hebrew included)."""
    latin = ascii_text(comparable).replace(" ", "")
    if not latin.isascii() or not latin.isalpha():
        return None
    key = metaphone(latin)
    return key if len(key) >= 2 else None


_VOWELS = re.compile(r"[aeiouy]+")
_REPEATS = re.compile(r"(.)\1+")


@lru_cache(maxsize=50_000)
def _skeleton(comparable: str) -> str | None:
    """The consonants of the part's ASCII transliteration, repeats collapsed: Arabic and
    Hebrew write few vowels, so "حداد" (hdad) and "Haddad" share "hd", "محمد" and "Mohammed"
    share "mhmd"."""
    latin = "".join(char for char in ascii_text(comparable).lower() if "a" <= char <= "z")
    key = _REPEATS.sub(r"\1", _VOWELS.sub("", latin))
    return key if len(key) >= 2 else None


def _part_forms(part: NamePart, *, skeleton: bool) -> dict[str, str]:
    forms = {"t": part.comparable}
    phonetic = _phonetic(part.comparable)
    if phonetic is not None:
        forms["p"] = phonetic
    if skeleton:
        consonants = _skeleton(part.comparable)
        if consonants is not None:
            forms["c"] = consonants
    return forms


def is_legal(part: NamePart) -> bool:
    return part.tag == NamePartTag.LEGAL or part.comparable in _MORE_LEGAL_FORMS


def _identifies(part: NamePart) -> bool:
    return part.tag not in _NOT_RETRIEVED and not is_legal(part)


def retrieval_parts(name: Name) -> list[NamePart]:
    """The parts of a name that identify it (no legal forms, stopwords or numbers)."""
    kept = [part for part in name.parts if _identifies(part)]
    return kept[:_MAX_RETRIEVAL_PARTS]


@dataclass(frozen=True, slots=True)
class RetrievalKeys:
    """Index keys of a name: ``single`` per part, ``pairs`` per two parts (any order)."""

    single: frozenset[str]
    pairs: frozenset[str]


def retrieval_keys(names: Iterable[Name], *, indexing: bool = False) -> RetrievalKeys:
    """Keys of ``names``. Consonant skeletons are filed for every indexed name, and looked up
    only for a name with a part in a script that is not latinised (Arabic, Hebrew, CJK):
    in Latin names they would only add noise."""
    single: set[str] = set()
    pairs: set[str] = set()
    for name in names:
        parts = retrieval_parts(name)
        skeleton = indexing or any(not part.comparable.isascii() for part in parts)
        forms = [_part_forms(part, skeleton=skeleton) for part in parts]
        for part_forms in forms:
            single.update(f"{kind}:{value}" for kind, value in part_forms.items())
        for left in range(len(forms)):
            for right in range(left + 1, len(forms)):
                for kind, a in forms[left].items():
                    b = forms[right].get(kind)
                    if b is None or a == b:
                        continue
                    low, high = (a, b) if a < b else (b, a)
                    pairs.add(f"{kind}:{low}|{high}")
    return RetrievalKeys(frozenset(single), frozenset(pairs))


PartSignature = tuple[str, frozenset[str]]  # comparable form, keys and one-part symbols
# Parts at least this similar (rapidfuzz's normalised Indel similarity, 0-100) may pair up by
# edit distance in ``compare_parts``: "abila" / "avila", "quintro" / "quintero".
_SIMILAR_PARTS = 60.0
_SIMILAR_SOUND = 60.0


@dataclass(frozen=True, slots=True)
class Signature:
    """What :func:`score_bound` needs of a name: per identifying part its comparable form,
    keys and one-part symbols; and all of those keys together."""

    parts: tuple[PartSignature, ...]
    keys: frozenset[str]


def signature(names: Sequence[Name]) -> Signature:
    if not names:
        return Signature((), frozenset())
    name = names[0]
    symbols: dict[int, set[str]] = {}
    for span in name.spans:
        if len(span.parts) == 1:
            symbols.setdefault(span.parts[0].index, set()).add(f"s:{span.symbol.id}")
    parts = tuple(
        (
            part.comparable,
            frozenset(
                {f"{kind}:{value}" for kind, value in _part_forms(part, skeleton=True).items()}
                | symbols.get(part.index, set())
            ),
        )
        for part in retrieval_parts(name)
    )
    return Signature(parts, frozenset().union(*(keys for _, keys in parts)))


def _unmatched(parts: Sequence[PartSignature], other: Signature) -> int:
    count = 0
    for comparable, keys in parts:
        if keys & other.keys:
            continue
        if any(
            fuzz.ratio(comparable, candidate, score_cutoff=_SIMILAR_PARTS)
            for candidate, _ in other.parts
        ):
            continue
        count += 1
    return count


def score_bound(query: Signature, result: Signature) -> float:
    """Roughly the best :func:`compare` score two names could reach: parts of one name that
    share no key or symbol with, and are not spelled like, any part of the other count as
    unmatched. It lets the matcher skip the full comparison of hopeless candidates."""
    if not query.parts or not result.parts:
        return 1.0
    extra_query = _unmatched(query.parts, result)
    matched = len(query.parts) - extra_query
    if matched == 0:
        return 0.0
    extra_result = _unmatched(result.parts, query)
    substituted = extra_query > 0 and extra_result > 0
    result_weight = EXTRA_QUERY_WEIGHT if substituted else EXTRA_RESULT_WEIGHT
    bound = matched / (matched + EXTRA_QUERY_WEIGHT * extra_query + result_weight * extra_result)
    return bound * (SUBSTITUTION_FACTOR if substituted else 1.0)


@dataclass(frozen=True, slots=True)
class NameComparison:
    """How well one name matches another, and the evidence, part by part."""

    score: float
    query: str
    candidate: str
    evidence: tuple[str, ...]
    # Parts of the entry's name the report's name lacks (legal forms aside): "Juan García"
    # against "GARCÍA LÓPEZ, Juan" lacks one.
    missing: int = 0


def _explain(alignment: Alignment) -> str:
    query, result = alignment.qstr, alignment.rstr
    if alignment.symbol is not None:
        return f"{query}~{result} (same {alignment.symbol.category.value.lower()} symbol)"
    if not query:
        return f"{result} (only in the entry)"
    if not result:
        return f"{query} (only in the report)"
    if query == result:
        return f"{query} (same)"
    return f"{query}~{result} (similar, {alignment.score:.2f})"


def _is_family(alignment: Alignment) -> bool:
    return any(part.tag == NamePartTag.FAMILY for part in (*alignment.qps, *alignment.rps))


def _all_legal(parts: Iterable[NamePart]) -> bool:
    return all(is_legal(part) for part in parts)


def _extra_weights(name: Name) -> dict[tuple[NamePart, ...], float]:
    weights: dict[tuple[NamePart, ...], float] = {}
    for span in name.spans:
        weight = _EXTRA_SYMBOL_WEIGHTS.get(span.symbol.category, 1.0)
        if weight != 1.0:
            weights[span.parts] = weights.get(span.parts, 1.0) * weight
    return weights


def _score_pairing(
    query: Name,
    result: Name,
    edges: Sequence[Alignment],
    query_extras: dict[tuple[NamePart, ...], float],
    result_extras: dict[tuple[NamePart, ...], float],
) -> tuple[float, list[Alignment]]:
    matches: list[Alignment] = []
    for edge in edges:
        category = edge.symbol.category if edge.symbol is not None else None
        edge.score = _SYMBOL_SCORES.get(category, 1.0) if category is not None else 1.0
        edge.weight = _SYMBOL_WEIGHTS.get(category, 1.0) if category is not None else 1.0
        matches.append(edge)
    query_used = {part for edge in edges for part in edge.qps}
    result_used = {part for edge in edges for part in edge.rps}
    query_rest = [part for part in query.parts if part not in query_used]
    result_rest = [part for part in result.parts if part not in result_used]
    if query_rest or result_rest:
        query_rest, result_rest, sounding = _pair_by_sound(query_rest, result_rest)
        matches.extend(sounding)
        if not query_rest or not result_rest:
            # Nothing to measure a distance between: the rest are parts of one side only.
            matches.extend(Alignment([part], []) for part in query_rest)
            matches.extend(Alignment([], [part]) for part in result_rest)
        else:
            if NameTypeTag.PER in (query.tag, result.tag):
                query_rest, result_rest = align_person_name_order(query_rest, result_rest)
            else:
                query_rest = NamePart.tag_sort(query_rest)
                result_rest = NamePart.tag_sort(result_rest)
            matches.extend(compare_parts(query_rest, result_rest, config=_COMPARE_CONFIG))
    # A part on each side left unmatched is a substitution ("Los *Pinos* del Pacífico" for
    # "Los *Álamos* del Pacífico"), not an omission: the entry's part then weighs as much as
    # the report's.
    substituted = _has_extra(matches, query_side=True) and _has_extra(matches, query_side=False)
    result_extra_weight = EXTRA_QUERY_WEIGHT if substituted else EXTRA_RESULT_WEIGHT
    for match in matches:
        if not match.qps or not match.rps:
            own = match.qps or match.rps
            if _all_legal(own):
                match.weight = LEGAL_FORM_EXTRA_WEIGHT  # "Acme" for "Acme Corp."
            elif not match.qps:
                match.weight = result_extra_weight * _extra_bias(match.rps, result_extras)
            else:
                match.weight = EXTRA_QUERY_WEIGHT * _extra_bias(match.qps, query_extras)
        if any(
            len(parts) == 1 and parts[0].tag == NamePartTag.STOP for parts in (match.qps, match.rps)
        ):
            match.weight *= STOPWORD_WEIGHT
        if match.score < 1.0 and match.qps and match.rps and match.qstr == match.rstr:
            match.score = 1.0
        elif match.qps and match.rps and _all_legal((*match.qps, *match.rps)):
            # "S.A. de C.V." against "S. de R.L. de C.V.": companies change or misreport
            # their legal form far more often than their name.
            match.score = max(match.score, 0.5)
            match.weight = LEGAL_FORM_CHANGE_WEIGHT
        if _is_family(match):
            match.weight *= FAMILY_NAME_WEIGHT
    total = sum(match.weight for match in matches)
    score = sum(match.score * match.weight for match in matches) / total if total > 0 else 0.0
    if substituted:
        score *= SUBSTITUTION_FACTOR
    return score, matches


def _pair_by_sound(
    query: list[NamePart], result: list[NamePart]
) -> tuple[list[NamePart], list[NamePart], list[Alignment]]:
    """Pairs the parts left over on each side that sound alike (same phonetic key)."""
    paired: list[Alignment] = []
    rest = list(result)
    kept: list[NamePart] = []
    for part in query:
        key = _phonetic(part.comparable) if _identifies(part) else None
        partner = next(
            (
                other
                for other in rest
                if key is not None
                and other.comparable != part.comparable
                and _identifies(other)
                and _phonetic(other.comparable) == key
                and _spelled_alike(part.comparable, other.comparable)
            ),
            None,
        )
        if partner is None:
            kept.append(part)
            continue
        rest.remove(partner)
        paired.append(Alignment([part], [partner], score=PHONETIC_SCORE, weight=1.0))
    return kept, rest, paired


def _spelled_alike(left: str, right: str) -> bool:
    """Metaphone is coarse ("Diner" and "Tinori" are both TNR): a sound-alike pair must also
    be spelled alike in ASCII (rapidfuzz's normalised Indel similarity)."""
    return fuzz.ratio(ascii_text(left), ascii_text(right), score_cutoff=_SIMILAR_SOUND) > 0


def _has_extra(matches: Sequence[Alignment], *, query_side: bool) -> bool:
    """Whether a name part that identifies (no legal form, stopword or number) is unmatched."""
    for match in matches:
        own, other = (match.qps, match.rps) if query_side else (match.rps, match.qps)
        if own and not other and any(_identifies(part) for part in own):
            return True
    return False


def _extra_bias(parts: Sequence[NamePart], weights: dict[tuple[NamePart, ...], float]) -> float:
    if len(parts) == 1 and parts[0].tag == NamePartTag.STOP:
        return 0.5
    return weights.get(tuple(parts), 1.0)


def compare(query: Name, result: Name) -> NameComparison:
    """Scores ``result`` (a list entry's name) as a match for ``query`` (a report's name)."""
    if query.comparable == result.comparable:
        return NameComparison(1.0, query.original, result.original, (f"{query.comparable} (same)",))
    best_score = 0.0
    best: list[Alignment] = []
    query_extras = _extra_weights(query)
    result_extras = _extra_weights(result)
    for edges in pair_symbols(query, result):
        score, matches = _score_pairing(query, result, edges, query_extras, result_extras)
        if score > best_score or not best:
            best_score, best = score, matches
            if score >= 1.0:
                break
    missing = sum(1 for match in best if not match.qps and any(_identifies(p) for p in match.rps))
    return NameComparison(
        min(best_score, 1.0),
        query.original,
        result.original,
        tuple(_explain(match) for match in best),
        missing,
    )


def best_comparison(queries: Sequence[Name], results: Sequence[Name]) -> NameComparison | None:
    """The best-scoring pair of a report's name analyses and an entry name's analyses."""
    best: NameComparison | None = None
    for query in queries:
        for result in results:
            comparison = compare(query, result)
            if best is None or comparison.score > best.score:
                best = comparison
                if comparison.score >= 1.0:
                    return best
    return best


def link_key(name: str, kind: PartyKind = PartyKind.UNKNOWN) -> str:
    """The subject-linking key of a name: its parts' comparable forms (latinised where the
    script allows, accents, case, punctuation, honorifics dropped; legal forms folded),
    sorted. "PÉREZ, Juan", "Sr. Juan Pérez" and "Хуан Перес"'s transliteration "Juan Peres"
    differ only where their letters do; a name in a script that is not latinised (Arabic,
    CJK) keeps its own letters instead of vanishing."""
    analysed = analyze(name, kind_of(kind.value, name) if kind is PartyKind.UNKNOWN else kind)
    if not analysed:
        return ""
    parts = sorted({part.comparable for part in analysed[0].parts if part.tag != NamePartTag.LEGAL})
    return " ".join(parts)[:200]
