"""List files → :class:`ListEntry`: OFAC SDN (delimited and XML), FollowTheMoney JSON lines, CSV.

Nothing here downloads anything: the operator hands over files OFAC, OpenSanctions or the
unit itself published.

``sdn-csv``
    OFAC's legacy delimited release: ``sdn.csv`` (``ent_num``, ``SDN_Name``, ``SDN_Type``,
    ``Program``, ``Title``, ``Call_Sign``, ``Vess_type``, ``Tonnage``, ``GRT``, ``Vess_flag``,
    ``Vess_owner``, ``Remarks``), ``add.csv`` (``ent_num``, ``add_num``, ``address``,
    ``city/state/postal``, ``country``, ``add_remarks``), ``alt.csv`` (``ent_num``,
    ``alt_num``, ``alt_type``, ``alt_name``, ``alt_remarks``) and ``sdn_comments.csv``
    (``ent_num``, remarks overflow), joined on ``ent_num``; no header row; ``-0-`` is null.
    Give the directory or the path of ``sdn.csv``: its siblings are read when present. The
    remarks carry dates of birth, nationalities, identifiers (R.F.C., C.U.R.P., passport,
    SSN, cédula…) and weak aliases (``a.k.a. 'EL CHAPO'``, quoted); an ``alt.csv`` alias
    whose remarks say "weak" is weak too.
``sdn-xml``
    OFAC's ``sdn.xml`` (``sdnList/sdnEntry``: ``uid``, ``firstName``, ``lastName``,
    ``sdnType``, ``programList``, ``idList``, ``akaList`` with ``category`` strong|weak,
    ``addressList``, ``nationalityList``, ``citizenshipList``, ``dateOfBirthList``), whatever
    namespace the release uses. A document type declaration is refused (entity expansion).
``ftm``
    FollowTheMoney entities, one JSON object per line, as OpenSanctions exports them (flat
    ``entities.ftm.json`` or nested ``targets.nested.json``): ``Person``, ``Organization``,
    ``Company``, ``LegalEntity``, ``PublicBody``, ``Vessel`` and ``Airplane`` entities become
    entries; ``Identification``/``Passport`` and ``Sanction`` entities add identifiers and
    programs to the entity they name.
``csv``
    The unit's own lists, with a header row: ``id,name,type,aliases,birth_date,country,
    identifiers,program,remarks`` (only ``id`` and ``name`` required; ``type`` person |
    entity, default person). Multi-valued cells are separated by ``;``: aliases (a leading
    ``~`` marks a weak alias), ISO dates, ISO country codes, identifiers as
    ``TYPE:VALUE[:COUNTRY]`` (``RFC:GULJ570404:MX``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import xml.etree.ElementTree as ET  # noqa: S405 - DTDs refused before parsing (_refuse_dtd)
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import pycountry

from services.watchlists.entries import (
    IDENTIFIER_TYPES,
    Alias,
    EntryIdentifier,
    ListEntry,
    ListFormatError,
)
from services.watchlists.names import PartyKind

SDN_NULL = "-0-"
# Largest list file accepted: OFAC's full sdn.xml is about 100 MB; OpenSanctions' default
# collection far larger, so FtM files are streamed line by line instead.
MAX_FILE_BYTES = 512 * 1024 * 1024


class ListFormat(StrEnum):
    SDN_CSV = "sdn-csv"
    SDN_XML = "sdn-xml"
    FTM = "ftm"
    CSV = "csv"


@dataclass(slots=True)
class ParsedList:
    """Entries read from a list file, and the SHA-256 of every byte read to get them."""

    entries: list[ListEntry]
    content_sha256: str
    files: list[str] = field(default_factory=list)


def guess_format(path: Path) -> ListFormat:
    """The format of a list file from its name (``--format`` overrides it)."""
    if path.is_dir() or path.name.lower() == "sdn.csv":
        return ListFormat.SDN_CSV
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return ListFormat.SDN_XML
    if suffix in (".json", ".jsonl", ".ndjson"):
        return ListFormat.FTM
    if suffix == ".csv":
        return ListFormat.CSV
    raise ListFormatError(f"{path}: cannot tell the list format from the name; give --format")


def read_list(path: Path, list_format: ListFormat) -> ParsedList:
    """Reads a list file (or OFAC's directory of delimited files) into entries."""
    if list_format is ListFormat.SDN_CSV:
        return _read_sdn_csv(path)
    if path.is_dir():
        raise ListFormatError(f"{path} is a directory; the {list_format} format is one file")
    parsed = parse_list_bytes(_read_bytes(path), list_format, str(path))
    parsed.files = [path.name]
    return parsed


def parse_list_bytes(data: bytes, list_format: ListFormat, source: str) -> ParsedList:
    """Entries of one list file's bytes (``sdn-csv``: sdn.csv alone, without its siblings)."""
    if len(data) > MAX_FILE_BYTES:
        raise ListFormatError(f"{source}: larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
    digest = hashlib.sha256(data).hexdigest()
    if list_format is ListFormat.SDN_CSV:
        entries = parse_sdn_csv(data.decode("utf-8-sig"))
    elif list_format is ListFormat.SDN_XML:
        entries = parse_sdn_xml(data, source=source)
    elif list_format is ListFormat.FTM:
        entries = parse_ftm(data.decode("utf-8-sig").splitlines(), source=source)
    else:
        entries = parse_unit_csv(data.decode("utf-8-sig"), source=source)
    return ParsedList(_unique(entries, source), digest, [source])


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ListFormatError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ListFormatError(f"{path}: larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
    return path.read_bytes()


def _unique(entries: list[ListEntry], source: str) -> list[ListEntry]:
    seen: set[str] = set()
    for entry in entries:
        if entry.key in seen:
            raise ListFormatError(f"{source}: entry id {entry.key!r} appears twice")
        seen.add(entry.key)
    return entries


# ---- shared helpers -----------------------------------------------------------------------


@lru_cache(maxsize=1024)
def country_code(text: str | None) -> str | None:
    """ISO 3166-1 alpha-2 of a country name or code as lists write them ("Mexico", "MX")."""
    if not text:
        return None
    cleaned = text.strip().rstrip(".")
    if len(cleaned) == 2 and cleaned.isalpha():
        found = pycountry.countries.get(alpha_2=cleaned.upper())
        return found.alpha_2 if found else None
    try:
        found = pycountry.countries.lookup(cleaned)
    except LookupError:
        try:
            found = pycountry.countries.search_fuzzy(cleaned)[0]
        except LookupError:
            return None
    return str(found.alpha_2)


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2}) ([A-Za-z]{3})[a-z]* (\d{4})$")
_MONTH_YEAR = re.compile(r"^([A-Za-z]{3})[a-z]* (\d{4})$")
_YEAR = re.compile(r"^(?:circa |c\. |ca\. )?(\d{4})$")
_YEAR_RANGE = re.compile(r"^(\d{4}) to (\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def parse_date(text: str) -> list[str]:
    """ISO prefixes for a list's date ("04 Apr 1957", "Apr 1957", "circa 1957", "1955 to
    1957", "1957-04-04"); an unreadable date gives none."""
    value = text.strip().rstrip(".")
    if _ISO_DATE.match(value):
        return [value]
    if match := _DAY_MONTH_YEAR.match(value):
        month = _MONTHS.get(match.group(2).lower())
        if month:
            return [f"{match.group(3)}-{month:02d}-{int(match.group(1)):02d}"]
    if match := _MONTH_YEAR.match(value):
        month = _MONTHS.get(match.group(1).lower())
        if month:
            return [f"{match.group(2)}-{month:02d}"]
    if match := _YEAR.match(value):
        return [match.group(1)]
    if match := _YEAR_RANGE.match(value):
        start, end = int(match.group(1)), int(match.group(2))
        if 0 <= end - start <= 10:
            return [str(year) for year in range(start, end + 1)]
    if "T" in value:
        try:
            return [datetime.fromisoformat(value).date().isoformat()]
        except ValueError:
            return []
    return []


# Identifier labels in SDN remarks → wire-format types.
_SDN_ID_LABELS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^R\.?F\.?C\.?$", re.IGNORECASE), "RFC"),
    (re.compile(r"^C\.?U\.?R\.?P\.?$", re.IGNORECASE), "CURP"),
    (re.compile(r"^Passport$", re.IGNORECASE), "PASSPORT"),
    (re.compile(r"^SSN$", re.IGNORECASE), "SSN"),
    (re.compile(r"^ITIN$", re.IGNORECASE), "ITIN"),
    (re.compile(r"^(EIN|Tax ID No\.?)$", re.IGNORECASE), "EIN"),
]
_SDN_ID = re.compile(
    r"^(?:alt\. )?(?P<label>R\.F\.C\.|RFC|C\.U\.R\.P\.|CURP|Passport|SSN|ITIN|EIN|"
    r"Tax ID No\.|Cedula No\.|NIT #|National ID No\.|D\.N\.I\.|Identification Number|"
    r"RUC #|C\.I\.F\.|Registration ID|Credencial electoral|Matricula Mercantil No)"
    r"\s+(?P<value>[^()]+?)\s*(?:\((?P<country>[^)]*)\))?$",
    re.IGNORECASE,
)
_SDN_DOB = re.compile(r"^(?:alt\. )?DOB (?P<date>.+)$", re.IGNORECASE)
_SDN_COUNTRY = re.compile(r"^(?:alt\. )?(?:nationality|citizen) (?P<country>.+)$", re.IGNORECASE)
_SDN_WEAK_AKA = re.compile(r"""^a\.k\.a\.,? ['"](?P<name>[^'"]+)['"]$""", re.IGNORECASE)
_SDN_LINKED = re.compile(r"^Linked To: (?P<name>.+)$", re.IGNORECASE)


def _identifier_type(label: str) -> str:
    for pattern, kind in _SDN_ID_LABELS:
        if pattern.match(label.strip()):
            return kind
    return "OTHER"


@dataclass(slots=True)
class _Remarks:
    birth_dates: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    identifiers: list[EntryIdentifier] = field(default_factory=list)
    weak_aliases: list[str] = field(default_factory=list)
    linked_to: list[str] = field(default_factory=list)


def parse_sdn_remarks(remarks: str | None) -> _Remarks:
    """The facts OFAC writes into an entry's remarks, one ``;``-separated clause at a time."""
    found = _Remarks()
    if not remarks:
        return found
    for raw in remarks.split(";"):
        clause = raw.strip().rstrip(".").strip()
        if not clause:
            continue
        if match := _SDN_DOB.match(clause):
            found.birth_dates.extend(parse_date(match.group("date")))
        elif match := _SDN_COUNTRY.match(clause):
            code = country_code(match.group("country"))
            if code:
                found.countries.append(code)
        elif match := _SDN_WEAK_AKA.match(clause):
            found.weak_aliases.append(match.group("name").strip())
        elif match := _SDN_LINKED.match(clause):
            found.linked_to.append(match.group("name").strip())
        elif match := _SDN_ID.match(clause):
            label = match.group("label")
            found.identifiers.append(
                EntryIdentifier(
                    _identifier_type(label),
                    match.group("value").strip(),
                    country_code(match.group("country")),
                    label,
                )
            )
    return found


def _programs(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(
        program.strip()
        for program in text.replace("[", "]").split("]")
        if program.strip() and program.strip() != SDN_NULL
    )


def _sdn_kind(value: str | None) -> PartyKind:
    lowered = (value or "").strip().lower()
    if lowered == "individual":
        return PartyKind.PERSON
    if lowered in ("vessel", "aircraft"):
        return PartyKind.OBJECT
    return PartyKind.ENTITY


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


def _with_remarks(
    entry: ListEntry, remarks: str | None, aliases: list[Alias], countries: list[str]
) -> ListEntry:
    facts = parse_sdn_remarks(remarks)
    known = {alias.name.casefold() for alias in aliases}
    weak = [Alias(name, True) for name in facts.weak_aliases if name.casefold() not in known]
    identifiers = list(entry.identifiers)
    seen = {(item.type, item.normalized) for item in identifiers}
    for identifier in facts.identifiers:
        if (identifier.type, identifier.normalized) not in seen:
            seen.add((identifier.type, identifier.normalized))
            identifiers.append(identifier)
    extra = dict(entry.extra)
    if facts.linked_to:
        extra["linked_to"] = facts.linked_to
    return replace(
        entry,
        aliases=(*aliases, *weak),
        birth_dates=_dedupe([*entry.birth_dates, *facts.birth_dates]),
        countries=_dedupe([*entry.countries, *facts.countries, *countries]),
        identifiers=tuple(identifiers),
        remarks=remarks,
        extra=extra,
    )


# ---- OFAC delimited release -------------------------------------------------------------


def _sdn_rows(data: str, name: str, width: int) -> Iterator[tuple[int, list[str | None]]]:
    reader = csv.reader(io.StringIO(data))
    for number, row in enumerate(reader, start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if row[0].strip().startswith("\x1a"):  # DOS end-of-file marker in OFAC's files
            continue
        if len(row) < width:
            raise ListFormatError(f"{name} line {number}: {len(row)} fields, expected {width}")
        yield number, [None if cell.strip() == SDN_NULL else cell.strip() for cell in row]


def _ent_num(value: str | None, name: str, number: int) -> str:
    if not value or not value.isdigit():
        raise ListFormatError(f"{name} line {number}: ent_num {value!r} is not a number")
    return value


def _read_sdn_csv(path: Path) -> ParsedList:
    directory = path if path.is_dir() else path.parent
    main = path / "sdn.csv" if path.is_dir() else path
    if not main.exists():
        raise ListFormatError(f"{main}: no such file (the SDN delimited release needs sdn.csv)")
    texts: dict[str, str] = {}
    digest = hashlib.sha256()
    files: list[str] = []
    for name in ("sdn.csv", "add.csv", "alt.csv", "sdn_comments.csv"):
        file = main if name == "sdn.csv" else directory / name
        if not file.exists():
            continue
        raw = _read_bytes(file)
        digest.update(name.encode() + b"\0" + raw + b"\0")
        texts[name] = raw.decode("utf-8-sig", errors="replace")
        files.append(name)
    entries = parse_sdn_csv(
        texts["sdn.csv"],
        addresses=texts.get("add.csv"),
        aliases=texts.get("alt.csv"),
        comments=texts.get("sdn_comments.csv"),
    )
    return ParsedList(_unique(entries, str(main)), digest.hexdigest(), files)


def parse_sdn_csv(
    sdn: str,
    *,
    addresses: str | None = None,
    aliases: str | None = None,
    comments: str | None = None,
) -> list[ListEntry]:
    """Entries of OFAC's delimited release (the texts of sdn.csv and its siblings)."""
    countries: dict[str, list[str]] = {}
    for number, row in _sdn_rows(addresses or "", "add.csv", 5):
        code = country_code(row[4])
        if code:
            countries.setdefault(_ent_num(row[0], "add.csv", number), []).append(code)
    alias_rows: dict[str, list[Alias]] = {}
    for number, row in _sdn_rows(aliases or "", "alt.csv", 4):
        if not row[3]:
            continue
        weak = "weak" in (row[4] or "").lower() if len(row) > 4 else False
        alias = Alias(row[3], weak, (row[2] or "aka").lower().strip("."))
        alias_rows.setdefault(_ent_num(row[0], "alt.csv", number), []).append(alias)
    overflow: dict[str, str] = {}
    for number, row in _sdn_rows(comments or "", "sdn_comments.csv", 2):
        key = _ent_num(row[0], "sdn_comments.csv", number)
        overflow[key] = overflow.get(key, "") + (row[1] or "")
    entries: list[ListEntry] = []
    for number, row in _sdn_rows(sdn, "sdn.csv", 12):
        key = _ent_num(row[0], "sdn.csv", number)
        if not row[1]:
            raise ListFormatError(f"sdn.csv line {number}: entry {key} has no name")
        # sdn_comments.csv continues remarks cut at the field's length, mid-word if need be.
        remarks = "".join(part for part in (row[11], overflow.get(key)) if part) or None
        extra = {
            label: row[index]
            for label, index in (
                ("title", 4),
                ("call_sign", 5),
                ("vessel_type", 6),
                ("vessel_flag", 9),
                ("vessel_owner", 10),
            )
            if row[index]
        }
        entry = ListEntry(
            key=key,
            kind=_sdn_kind(row[2]),
            name=row[1],
            programs=_programs(row[3]),
            extra=extra,
        )
        entries.append(
            _with_remarks(entry, remarks, alias_rows.get(key, []), countries.get(key, []))
        )
    return entries


# ---- OFAC XML release --------------------------------------------------------------------


def _refuse_dtd(data: bytes) -> None:
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise ListFormatError("XML lists with a document type declaration are refused")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            text = (child.text or "").strip()
            return text or None
    return None


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _items(element: ET.Element, list_name: str, item_name: str) -> list[ET.Element]:
    found: list[ET.Element] = []
    for container in _children(element, list_name):
        found.extend(_children(container, item_name))
    return found


def _xml_name(element: ET.Element) -> str:
    first = _child_text(element, "firstName")
    last = _child_text(element, "lastName")
    if first and last:
        return f"{last}, {first}"
    return last or first or ""


def parse_sdn_xml(data: bytes, *, source: str = "sdn.xml") -> list[ListEntry]:
    """Entries of OFAC's ``sdn.xml``."""
    _refuse_dtd(data)
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTDs refused above
    except ET.ParseError as error:
        raise ListFormatError(f"{source}: not well-formed XML ({error})") from None
    entries: list[ListEntry] = []
    for element in root.iter():
        if _local(element.tag) != "sdnEntry":
            continue
        key = _child_text(element, "uid")
        name = _xml_name(element)
        if not key or not name:
            raise ListFormatError(f"{source}: an sdnEntry without uid or name")
        aliases = [
            Alias(
                _xml_name(aka),
                (_child_text(aka, "category") or "").lower() == "weak",
                (_child_text(aka, "type") or "a.k.a.").lower().replace(".", ""),
            )
            for aka in _items(element, "akaList", "aka")
            if _xml_name(aka)
        ]
        identifiers = [
            EntryIdentifier(
                _identifier_type(_child_text(item, "idType") or ""),
                _child_text(item, "idNumber") or "",
                country_code(_child_text(item, "idCountry")),
                _child_text(item, "idType"),
            )
            for item in _items(element, "idList", "id")
            if _child_text(item, "idNumber")
        ]
        birth_dates = [
            date
            for item in _items(element, "dateOfBirthList", "dateOfBirthItem")
            for date in parse_date(_child_text(item, "dateOfBirth") or "")
        ]
        countries = [
            code
            for list_name, item_name in (
                ("nationalityList", "nationality"),
                ("citizenshipList", "citizenship"),
                ("addressList", "address"),
            )
            for item in _items(element, list_name, item_name)
            if (code := country_code(_child_text(item, "country")))
        ]
        programs = [
            (program.text or "").strip()
            for program in _items(element, "programList", "program")
            if (program.text or "").strip()
        ]
        entry = ListEntry(
            key=key,
            kind=_sdn_kind(_child_text(element, "sdnType")),
            name=name,
            birth_dates=tuple(birth_dates),
            identifiers=tuple(identifiers),
            programs=tuple(programs),
            extra={"title": title} if (title := _child_text(element, "title")) else {},
        )
        entries.append(_with_remarks(entry, _child_text(element, "remarks"), aliases, countries))
    if not entries and _local(root.tag) != "sdnList":
        raise ListFormatError(f"{source}: no sdnList/sdnEntry elements")
    return entries


# ---- FollowTheMoney ------------------------------------------------------------------------

_FTM_KINDS = {
    "Person": PartyKind.PERSON,
    "Organization": PartyKind.ENTITY,
    "Company": PartyKind.ENTITY,
    "LegalEntity": PartyKind.ENTITY,
    "PublicBody": PartyKind.ENTITY,
    "Vessel": PartyKind.OBJECT,
    "Airplane": PartyKind.OBJECT,
}
_FTM_IDENTIFIERS = {
    "passportNumber": "PASSPORT",
    "socialSecurityNumber": "SSN",
    "taxNumber": "OTHER",
    "idNumber": "OTHER",
    "registrationNumber": "OTHER",
    "innCode": "OTHER",
    "vatCode": "OTHER",
    "ogrnCode": "OTHER",
    "imoNumber": "OTHER",
}
_RFC = re.compile(r"^[A-Z&Ñ]{3,4}\d{6}[A-Z0-9]{0,3}$")
_CURP = re.compile(r"^[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d$")


def classify_identifier(declared: str, value: str, country: str | None) -> str:
    """A generic identifier recognised by its shape: Mexican RFC and CURP numbers."""
    if declared != "OTHER":
        return declared
    normalized = re.sub(r"[^0-9A-Za-zÑ&]", "", value).upper()
    if _CURP.match(normalized):
        return "CURP"
    if _RFC.match(normalized) and country in (None, "MX"):
        return "RFC"
    return declared


def _values(properties: dict[str, Any], name: str) -> list[Any]:
    value = properties.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _texts(properties: dict[str, Any], name: str) -> list[str]:
    return [str(value).strip() for value in _values(properties, name) if isinstance(value, str)]


def _nested(properties: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [value for value in _values(properties, name) if isinstance(value, dict)]


def _ref(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def parse_ftm(lines: Iterable[str], *, source: str = "entities.ftm.json") -> list[ListEntry]:
    """Entries of FollowTheMoney JSON lines (flat or nested)."""
    targets: dict[str, dict[str, Any]] = {}
    extras: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise ListFormatError(f"{source} line {number}: not JSON ({error})") from None
        if not isinstance(document, dict) or not isinstance(document.get("id"), str):
            raise ListFormatError(f"{source} line {number}: not an entity (no id)")
        schema = document.get("schema")
        properties = document.get("properties")
        if not isinstance(properties, dict):
            raise ListFormatError(f"{source} line {number}: entity without properties")
        if schema in _FTM_KINDS:
            targets[document["id"]] = document
            # Nested exports carry identifications and sanctions inside the entity.
            for key in ("identification", "identifications", "passport", "sanctions"):
                extras.extend(
                    {
                        "schema": "Sanction" if key == "sanctions" else "Identification",
                        "properties": {**item.get("properties", {}), "_owner": document["id"]},
                    }
                    for item in _nested(properties, key)
                )
        elif schema in ("Identification", "Passport", "Sanction"):
            extras.append(document)
    identifiers: dict[str, list[EntryIdentifier]] = {}
    programs: dict[str, list[str]] = {}
    for document in extras:
        properties = document["properties"]
        owner_values = [properties.get("_owner")] + [
            _ref(value) for value in _values(properties, "holder") + _values(properties, "entity")
        ]
        owner = next((value for value in owner_values if value), None)
        if owner is None:
            continue
        if document.get("schema") == "Sanction":
            programs.setdefault(owner, []).extend(
                _texts(properties, "program") + _texts(properties, "programId")
            )
            continue
        country = next(iter(_texts(properties, "country")), None)
        declared = "PASSPORT" if document.get("schema") == "Passport" else "OTHER"
        for value in _texts(properties, "number"):
            identifiers.setdefault(owner, []).append(
                EntryIdentifier(
                    classify_identifier(declared, value, country_code(country)),
                    value,
                    country_code(country),
                    next(iter(_texts(properties, "type")), None),
                )
            )
    entries: list[ListEntry] = []
    for entity_id, document in targets.items():
        properties = document["properties"]
        names = _texts(properties, "name")
        if not names:
            continue
        country_values = [
            code
            for prop in ("nationality", "citizenship", "country", "jurisdiction")
            for value in _texts(properties, prop)
            if (code := country_code(value))
        ]
        first_country = country_values[0] if country_values else None
        own_identifiers = [
            EntryIdentifier(
                classify_identifier(kind, value, first_country), value, first_country, prop
            )
            for prop, kind in _FTM_IDENTIFIERS.items()
            for value in _texts(properties, prop)
        ]
        aliases = [Alias(name) for name in names[1:]]
        aliases += [Alias(name) for name in _texts(properties, "alias")]
        aliases += [Alias(name, kind="fka") for name in _texts(properties, "previousName")]
        aliases += [Alias(name, weak=True) for name in _texts(properties, "weakAlias")]
        entries.append(
            ListEntry(
                key=entity_id,
                kind=_FTM_KINDS[str(document["schema"])],
                name=names[0],
                aliases=tuple(dict.fromkeys(aliases)),
                birth_dates=_dedupe(
                    date for value in _texts(properties, "birthDate") for date in parse_date(value)
                ),
                countries=_dedupe(country_values),
                identifiers=tuple(
                    dict.fromkeys([*own_identifiers, *identifiers.get(entity_id, [])])
                ),
                programs=_dedupe([*_texts(properties, "program"), *programs.get(entity_id, [])]),
                remarks=next(
                    iter(_texts(properties, "notes") + _texts(properties, "summary")), None
                ),
                extra={"schema": document["schema"], "topics": _texts(properties, "topics")},
            )
        )
    return entries


# ---- the unit's own CSV ----------------------------------------------------------------------

UNIT_CSV_COLUMNS = (
    "id",
    "name",
    "type",
    "aliases",
    "birth_date",
    "country",
    "identifiers",
    "program",
    "remarks",
)


def _cells(value: str | None) -> list[str]:
    return [cell.strip() for cell in (value or "").split(";") if cell.strip()]


def parse_unit_csv(text: str, *, source: str = "list.csv") -> list[ListEntry]:
    """Entries of the unit's own CSV (header row; see the module docstring)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "id" not in header or "name" not in header:
        raise ListFormatError(
            f"{source}: the header must name at least 'id' and 'name' (columns:"
            f" {', '.join(UNIT_CSV_COLUMNS)})"
        )
    unknown = sorted(set(header) - set(UNIT_CSV_COLUMNS))
    if unknown:
        raise ListFormatError(f"{source}: unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header
    entries: list[ListEntry] = []
    for number, row in enumerate(reader, start=2):
        key, name = (row.get("id") or "").strip(), (row.get("name") or "").strip()
        if not key or not name:
            raise ListFormatError(f"{source} line {number}: 'id' and 'name' are required")
        kind_text = (row.get("type") or "person").strip().lower()
        if kind_text not in ("person", "entity"):
            raise ListFormatError(f"{source} line {number}: type must be person or entity")
        dates: list[str] = []
        for value in _cells(row.get("birth_date")):
            parsed = parse_date(value)
            if not parsed:
                raise ListFormatError(f"{source} line {number}: birth_date {value!r} is no date")
            dates.extend(parsed)
        countries: list[str] = []
        for value in _cells(row.get("country")):
            code = country_code(value)
            if code is None:
                raise ListFormatError(f"{source} line {number}: country {value!r} is unknown")
            countries.append(code)
        identifiers: list[EntryIdentifier] = []
        for value in _cells(row.get("identifiers")):
            parts = value.split(":")
            if len(parts) not in (2, 3) or parts[0].upper() not in IDENTIFIER_TYPES:
                raise ListFormatError(
                    f"{source} line {number}: identifier {parts[0]!r}… must be TYPE:VALUE[:COUNTRY]"
                    f" with TYPE one of {', '.join(IDENTIFIER_TYPES)}"
                )
            identifiers.append(
                EntryIdentifier(
                    parts[0].upper(), parts[1], country_code(parts[2]) if len(parts) == 3 else None
                )
            )
        aliases = tuple(
            Alias(alias[1:].strip(), weak=True) if alias.startswith("~") else Alias(alias)
            for alias in _cells(row.get("aliases"))
        )
        entries.append(
            ListEntry(
                key=key,
                kind=PartyKind(kind_text),
                name=name,
                aliases=aliases,
                birth_dates=tuple(dates),
                countries=tuple(countries),
                identifiers=tuple(identifiers),
                programs=tuple(_cells(row.get("program"))),
                remarks=(row.get("remarks") or "").strip() or None,
            )
        )
    return entries
