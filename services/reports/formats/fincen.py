"""FinCEN BSA E-Filing batches (CTRX, SARX) read as wire-format reports (DOMAIN.md §1.4).

Each ``Activity`` is validated against the official schema (XSD 1.1, ``xmlschema``) as soon as
it has been read, then mapped:

* CTR → one LVTR per ``CurrencyTransactionActivityDetail`` (cash in or out, the detail's whole
  US dollars, the business day of ``TransactionDateText``), whose subject is the person or
  entity the cash was conducted for (party 23, else 50, else 17, else 58);
* SAR → one STR per subject (party 33), each with the activity's amounts, dates,
  characterizations (as suspicion categories) and narrative.

Whatever the mapping does not use is kept on the report: ``fincen.activity`` holds the whole
``Activity`` as JSON values (for an STR, without the other subjects and the narrative, which
are already on their own reports and in ``suspicion.narrative``).

Report ids are derived from the activity's content (without its batch-local ``SeqNum``s), so
the same activity sent twice is the same report, stored once.

The schema's batch-wide constraint (``SeqNum`` unique in the batch) and its root attributes
(counts and total) are checked here while streaming: ``xmlschema`` evaluates the uniqueness
constraint with an XPath walk per element, which made validation several times slower, and
validating the whole document at once would hold it in memory.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - element types only; parsing goes through defusedxml
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import IO, Any

import xmlschema

from services.filings.mapping import OTHER_CLASSIFICATION, SAR_CLASSIFICATION
from services.filings.xml import FINCEN_NS, SCHEMAS, XSD_DIR
from services.reports.formats.common import (
    ISSUING_COUNTRY,
    MAX_ERRORS,
    FormatError,
    FormatErrors,
    IntakeContext,
    Located,
    at_midnight,
    at_noon,
    child,
    children,
    content_id,
    iso,
    local,
    parse_date,
    stream_elements,
    text,
    tree,
)

ROOT = "EFilingBatchXML"
CASH_IN = frozenset({"55", "46", "23", "12", "14", "49", "53", "997"})
CASH_OUT = frozenset({"56", "30", "32", "13", "15", "48", "54", "998"})
# Whose cash it was, most specific first: on whose behalf, own behalf, for another, carrier.
CTR_SUBJECT_PARTIES = ("23", "50", "17", "58")
_RFC = re.compile(r"^[A-ZÑ&]{3,4}[0-9]{6}[A-Z0-9]{3}$")
_CURP = re.compile(r"^[A-Z]{4}[0-9]{6}[HM][A-Z]{5}[A-Z0-9][0-9]$")
# First label of each (type, subtype) pair in our own table: what a classification reads as.
_CATEGORY = {pair: label for label, pair in reversed(list(SAR_CLASSIFICATION.items()))}


@lru_cache(maxsize=2)
def activity_schema(form: str) -> xmlschema.validators.XsdElement:
    """The ``Activity`` declaration of ``form``'s official schema, loaded once per process.

    The uniqueness constraint is detached from this private copy (see the module docstring:
    it is checked here instead).
    """
    schema = xmlschema.XMLSchema11(str(XSD_DIR / SCHEMAS[form]))
    for component in schema.iter_components():
        if isinstance(component, xmlschema.validators.XsdElement) and component.selected_by:
            component.selected_by = set()
    element: xmlschema.validators.XsdElement = schema.elements["Activity"]
    return element


class _SeqNums:
    """Batch-wide uniqueness of ``SeqNum`` in little memory: a bitmap (our exports and most
    filers number from 1 upward), a set for numbers beyond it."""

    _BITMAP_LIMIT = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._bits = bytearray()
        self._others: set[str] = set()

    def add(self, value: str) -> bool:
        """Records ``value``; False when it was seen before."""
        if value.isdigit() and int(value) < self._BITMAP_LIMIT:
            number = int(value)
            byte, bit = divmod(number, 8)
            if byte >= len(self._bits):
                self._bits.extend(bytes(byte - len(self._bits) + 1024))
            if self._bits[byte] >> bit & 1:
                return False
            self._bits[byte] |= 1 << bit
            return True
        if value in self._others:
            return False
        self._others.add(value)
        return True


def _tag(name: str) -> str:
    return f"{{{FINCEN_NS}}}{name}"


def read_fincen(source: IO[bytes], context: IntakeContext) -> Iterator[Located]:
    """Yields the reports of a CTRX or SARX batch; raises FormatError naming the element."""
    form: str | None = None
    seq_nums = _SeqNums()
    activities = parties = 0
    total_amount = Decimal(0)
    root_attributes: dict[str, str] = {}
    errors: list[FormatError] = []
    index = 0
    wanted = frozenset({"FormTypeCode", "Activity"})
    for event, element, stack in stream_elements(source, wanted):
        if event == "start":
            if element.tag != _tag(ROOT):
                raise FormatError(
                    f"/{local(element.tag)}",
                    f"a FinCEN batch starts with {ROOT} in namespace {FINCEN_NS}",
                )
            root_attributes = dict(element.attrib)
            continue
        if element.tag == _tag("FormTypeCode") and len(stack) == 1:
            form = (element.text or "").strip()
            if form not in SCHEMAS:
                raise FormatError(
                    f"/{ROOT}/FormTypeCode", f"{form!r}: intake reads CTRX and SARX batches"
                )
            continue
        if element.tag != _tag("Activity") or len(stack) != 1:
            continue
        index += 1
        location = f"/{ROOT}/Activity[{index}]"
        if form is None:
            raise FormatError(f"/{ROOT}/FormTypeCode", "FormTypeCode must come before Activity")
        problems = _validate(form, element, location, seq_nums)
        if problems:
            errors.extend(problems)
            if len(errors) >= MAX_ERRORS:
                break
            continue
        activities += 1
        parties += len(children(element, "Party"))
        if form == "CTRX":
            total_amount += sum(
                (
                    _amount(text(detail, "DetailTransactionAmountText"), location)
                    for activity in children(element, "CurrencyTransactionActivity")
                    for detail in children(activity, "CurrencyTransactionActivityDetail")
                ),
                Decimal(0),
            )
            yield from _ctr_reports(element, location, context)
        else:
            amount = text(element, "SuspiciousActivity", "TotalSuspiciousAmountText")
            total_amount += _amount(amount, location) if amount else Decimal(0)
            yield from _sar_reports(element, location, context)
    if form is None and not errors:
        raise FormatError(f"/{ROOT}", "no FormTypeCode: not a CTRX or SARX batch")
    if not errors and index == 0:
        errors.append(FormatError(f"/{ROOT}", "a batch holds at least one Activity"))
    if not errors:
        errors.extend(
            _check_root(
                root_attributes,
                {
                    "ActivityCount": Decimal(activities),
                    "PartyCount": Decimal(parties),
                    "TotalAmount": total_amount,
                },
                form or "",
            )
        )
    if errors:
        raise FormatErrors(errors)


def _validate(
    form: str, activity: ET.Element, location: str, seq_nums: _SeqNums
) -> list[FormatError]:
    problems = [
        FormatError(f"{location}{_relative(error.path)}", error.reason or str(error.message))
        for error in activity_schema(form).iter_errors(activity, namespaces={"fc2": FINCEN_NS})
    ][:MAX_ERRORS]
    for item in activity.iter():
        seq = item.get("SeqNum")
        if seq is not None and not seq_nums.add(seq):
            problems.append(
                FormatError(
                    f"{location}/{local(item.tag)}[@SeqNum={seq}]",
                    "SeqNum is not unique in the batch",
                )
            )
    for item in activity.iter():
        value = item.text
        if len(item) == 0 and value and value != value.strip():
            problems.append(
                FormatError(
                    f"{location}//{local(item.tag)}",
                    "leading or trailing whitespace (FinCEN rejects the whole batch)",
                )
            )
            break
    return problems


def _relative(path: str | None) -> str:
    """An xmlschema error path below the Activity, without namespace prefixes."""
    if not path:
        return ""
    parts = [part.rpartition(":")[2] for part in path.split("/") if part]
    if parts and parts[0].startswith("Activity"):
        parts = parts[1:]
    return "".join(f"/{part}" for part in parts)


def _check_root(
    attributes: dict[str, str], expected: dict[str, Decimal], form: str
) -> list[FormatError]:
    problems: list[FormatError] = []
    needed = [
        *expected,
        *(("ActivityAttachmentCount", "AttachmentCount") if form == "SARX" else ()),
    ]
    for name in needed:
        raw = attributes.get(name)
        location = f"/{ROOT}/@{name}"
        if raw is None:
            problems.append(FormatError(location, "required attribute is missing"))
            continue
        try:
            value = Decimal(raw)
        except InvalidOperation:
            problems.append(FormatError(location, f"{raw!r} is not a number"))
            continue
        if name in expected and value != expected[name]:
            problems.append(
                FormatError(location, f"says {raw}, the batch holds {expected[name]:f}")
            )
    return problems


def _amount(value: str | None, location: str) -> Decimal:
    try:
        return Decimal(value or "")
    except InvalidOperation:
        raise FormatError(location, f"amount {value!r} is not a number") from None


# ---- parties -------------------------------------------------------------------------------
def _party_type(party: ET.Element) -> str:
    return text(party, "ActivityPartyTypeCode") or ""


def _is_entity(party: ET.Element) -> bool:
    return text(party, "PartyAsEntityOrganizationIndicator") == "Y"


def _name(party: ET.Element) -> str | None:
    names = children(party, "PartyName")
    legal = [n for n in names if text(n, "PartyNameTypeCode") in (None, "L")] or names
    if not legal:
        return None
    element = legal[0]
    full = text(element, "RawPartyFullName")
    if full:
        return full
    last = text(element, "RawEntityIndividualLastName")
    first = text(element, "RawIndividualFirstName")
    if _is_entity(party) or not first:
        return last
    return f"{first} {last}" if last else first


def _identifiers(party: ET.Element) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for element in children(party, "PartyIdentification"):
        number = text(element, "PartyIdentificationNumberText")
        code = text(element, "PartyIdentificationTypeCode")
        if not number or not code:
            continue
        country = text(element, "OtherIssuerCountryText")
        other = (text(element, "OtherPartyIdentificationTypeText") or "").upper()
        kind = "OTHER"
        if code == "1":
            kind = "SSN"
        elif code == "2":
            kind = "EIN"
        elif code == "6":
            kind = "PASSPORT"
        elif code == "9" and _RFC.match(number.upper()):
            kind = "RFC"
        elif code == "9" and _CURP.match(number.upper()):
            kind = "CURP"
        elif code == "999" and other in {"SSN", "ITIN", "EIN", "RFC", "CURP", "PASSPORT"}:
            kind = other
        identifier = {"type": kind, "value": number}
        if country:
            identifier["country"] = country
        elif kind in ISSUING_COUNTRY:
            identifier["country"] = ISSUING_COUNTRY[kind]
        if kind == "OTHER":
            identifier["fincen_type_code"] = code
        found.append(identifier)
    return found


def _address(party: ET.Element) -> dict[str, str]:
    element = child(party, "Address")
    if element is None:
        return {}
    fields = {
        "street": "RawStreetAddress1Text",
        "city": "RawCityText",
        "state": "RawStateCodeText",
        "zip": "RawZIPCode",
        "country": "RawCountryCodeText",
    }
    return {key: value for key, name in fields.items() if (value := text(element, name))}


def _subject(party: ET.Element, *, fallback_id: str) -> dict[str, Any]:
    """A wire-format subject from a CTR person or a SAR subject party."""
    entity = _is_entity(party)
    subject: dict[str, Any] = {"type": "entity" if entity else "person"}
    name = _name(party)
    if name:
        subject["name"] = name
    address = _address(party)
    if address.get("country"):
        subject["country"] = address["country"]
    if address:
        subject["address"] = address
    identifiers = _identifiers(party)
    if identifiers:
        subject["identifiers"] = identifiers
    occupation = child(party, "PartyOccupationBusiness")
    if occupation is not None:
        if text(occupation, "OccupationBusinessText"):
            subject["occupation"] = text(occupation, "OccupationBusinessText")
        if text(occupation, "NAICSCode"):
            subject["naics"] = text(occupation, "NAICSCode")
    birth = text(party, "IndividualBirthDateText")
    if birth and len(birth) == 8 and birth.isdigit():
        subject["birth_date"] = f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"
    # No customer number in a FinCEN file: the subject id is derived from what identifies the
    # party, never an identifier itself (ids are stored and shown in plain text).
    material = {"name": name, "ids": identifiers} if (name or identifiers) else fallback_id
    subject["subject_id"] = f"F-{content_id(material, 24)}"
    return subject


def _institution(activity: ET.Element, context: IntakeContext) -> str:
    if context.institution_id:
        return context.institution_id
    for party in children(activity, "Party"):
        if _party_type(party) == "30":
            for element in children(party, "PartyIdentification"):
                number = text(element, "PartyIdentificationNumberText")
                if number:
                    return f"TIN-{number}"
    raise FormatError("Activity/Party[ActivityPartyTypeCode=30]", "no filing institution TIN")


def _location(activity: ET.Element) -> dict[str, str] | None:
    for party in children(activity, "Party"):
        if _party_type(party) == "34":
            address = _address(party)
            if address.get("country"):
                location = {"country": address["country"]}
                if address.get("state"):
                    location["region"] = address["state"]
                return location
    return None


def _identity(activity: ET.Element) -> str:
    """The activity's content without batch-local numbering: the base of its report ids."""
    return content_id(tree(activity))


# ---- CTR -----------------------------------------------------------------------------------
def _ctr_reports(activity: ET.Element, location: str, context: IntakeContext) -> Iterator[Located]:
    institution_id = _institution(activity, context)
    filed = parse_date(text(activity, "FilingDateText"), f"{location}/FilingDateText", compact=True)
    currency = child(activity, "CurrencyTransactionActivity")
    if currency is None:  # the schema requires it
        raise FormatError(location, "CurrencyTransactionActivity is missing")
    day = parse_date(
        text(currency, "TransactionDateText"),
        f"{location}/CurrencyTransactionActivity/TransactionDateText",
        compact=True,
    )
    parties = children(activity, "Party")
    person = None
    for code in CTR_SUBJECT_PARTIES:
        person = next((p for p in parties if _party_type(p) == code), None)
        if person is not None:
            break
    if person is None:
        raise FormatError(
            f"{location}/Party", "no person involved (ActivityPartyTypeCode 23, 50, 17 or 58)"
        )
    base = _identity(activity)
    subject = _subject(person, fallback_id=base)
    accounts: dict[str, list[str]] = {"in": [], "out": []}
    for account in children(person, "Account"):
        account_number = text(account, "AccountNumberText")
        association = text(account, "PartyAccountAssociation", "PartyAccountAssociationTypeCode")
        if account_number:
            accounts["in" if association == "8" else "out"].append(account_number)
    atm = text(currency, "ATMIndicator") == "Y"
    where = _location(activity)
    source = {"form": "CTRX", "activity": tree(activity)}
    for number, detail in enumerate(children(currency, "CurrencyTransactionActivityDetail"), 1):
        detail_at = (
            f"{location}/CurrencyTransactionActivity/CurrencyTransactionActivityDetail[{number}]"
        )
        code = text(detail, "CurrencyTransactionActivityDetailTypeCode") or ""
        if code not in CASH_IN and code not in CASH_OUT:
            raise FormatError(
                f"{detail_at}/CurrencyTransactionActivityDetailTypeCode", f"unknown code {code!r}"
            )
        direction = "in" if code in CASH_IN else "out"
        report_id = f"FCTR-{base}-{number}"
        transaction: dict[str, Any] = {
            "transaction_id": report_id,
            "timestamp": iso(at_noon(day)),
            "amount": text(detail, "DetailTransactionAmountText"),
            "currency": "USD",
            "instrument": "cash",
            "direction": direction,
            "channel": "atm" if atm else "branch",
            "fincen_detail": {
                "type_code": code,
                **(
                    {"foreign_country": country}
                    if (country := text(detail, "OtherForeignCurrencyCountryText"))
                    else {}
                ),
                **(
                    {"other_text": other}
                    if (other := text(detail, "OtherCurrencyTransactionActivityDetailText"))
                    else {}
                ),
            },
        }
        if accounts[direction]:
            transaction["account_id"] = accounts[direction][0]
        if where:
            transaction["location"] = where
        yield Located(
            detail_at,
            {
                "schema_version": 1,
                "report_id": report_id,
                "report_type": "LVTR",
                "institution_id": institution_id,
                "jurisdiction": context.jurisdiction or "US",
                "filed_at": iso(at_noon(filed)),
                "subject": subject,
                "transaction": transaction,
                "fincen": source,
            },
        )


# ---- SAR -----------------------------------------------------------------------------------
def _categories(suspicious: ET.Element) -> tuple[list[str], list[dict[str, str]]]:
    categories: list[str] = []
    codes: list[dict[str, str]] = []
    for element in children(suspicious, "SuspiciousActivityClassification"):
        type_id = text(element, "SuspiciousActivityTypeID") or ""
        subtype_id = text(element, "SuspiciousActivitySubtypeID") or ""
        other = text(element, "OtherSuspiciousActivityTypeText")
        code = {"type_id": type_id, "subtype_id": subtype_id}
        if other:
            code["other_text"] = other
        codes.append(code)
        pair = (
            (int(type_id), int(subtype_id)) if type_id.isdigit() and subtype_id.isdigit() else None
        )
        if pair == OTHER_CLASSIFICATION and other:
            label = other
        else:
            label = _CATEGORY.get(pair, f"fincen_{type_id}_{subtype_id}") if pair else "other"
        if label not in categories:
            categories.append(label)
    return categories, codes


def _sar_reports(activity: ET.Element, location: str, context: IntakeContext) -> Iterator[Located]:
    institution_id = _institution(activity, context)
    filed = parse_date(text(activity, "FilingDateText"), f"{location}/FilingDateText", compact=True)
    suspicious = child(activity, "SuspiciousActivity")
    if suspicious is None:
        raise FormatError(location, "SuspiciousActivity is missing")
    from_day = parse_date(
        text(suspicious, "SuspiciousActivityFromDateText"),
        f"{location}/SuspiciousActivity/SuspiciousActivityFromDateText",
        compact=True,
    )
    to_text = text(suspicious, "SuspiciousActivityToDateText")
    to_day = (
        parse_date(
            to_text, f"{location}/SuspiciousActivity/SuspiciousActivityToDateText", compact=True
        )
        if to_text
        else None
    )
    categories, codes = _categories(suspicious)
    blocks = sorted(
        children(activity, "ActivityNarrativeInformation"),
        key=lambda block: int(text(block, "ActivityNarrativeSequenceNumber") or 0),
    )
    # Blocks are consecutive slices of one text (a SAR splits its narrative at 4,000
    # characters), so they are joined as they are.
    narrative = "".join(
        "".join(part.text or "" for part in children(block, "ActivityNarrativeText"))
        for block in blocks
    )
    suspicion: dict[str, Any] = {
        "categories": categories or ["other"],
        "activity_from": iso(at_midnight(from_day)),
        "fincen_classifications": codes,
    }
    if to_day is not None:
        suspicion["activity_to"] = iso(at_midnight(to_day))
    if narrative:
        suspicion["narrative"] = narrative
    for name, key in (
        ("TotalSuspiciousAmountText", "total_amount"),
        ("CumulativeTotalViolationAmountText", "cumulative_amount"),
    ):
        value = text(suspicious, name)
        if value:
            suspicion[key] = {"amount": value, "currency": "USD"}
    for name, key in (
        ("AmountUnknownIndicator", "amount_unknown"),
        ("NoAmountInvolvedIndicator", "no_amount_involved"),
    ):
        if text(suspicious, name) == "Y":
            suspicion[key] = True
    association = child(activity, "ActivityAssociation")
    if association is not None and text(association, "ContinuingActivityReportIndicator") == "Y":
        suspicion["continuing"] = True
    base = _identity(activity)
    subjects = [p for p in children(activity, "Party") if _party_type(p) == "33"]
    if not subjects:
        raise FormatError(f"{location}/Party", "no subject (ActivityPartyTypeCode 33)")
    for number, party in enumerate(subjects, 1):
        kept = ET.Element(activity.tag)
        for item in activity:
            if local(item.tag) == "ActivityNarrativeInformation":
                continue
            if local(item.tag) == "Party" and _party_type(item) == "33" and item is not party:
                continue
            kept.append(item)
        subject = _subject(party, fallback_id=f"{base}-{number}")
        accounts = [
            number_text
            for account in party.iter(_tag("Account"))
            if (number_text := text(account, "AccountNumberText"))
        ]
        if accounts:
            subject["accounts"] = accounts
        if text(party, "AllCriticalSubjectInformationUnavailableIndicator") == "Y":
            subject["unknown"] = True
        yield Located(
            f"{location}/Party[ActivityPartyTypeCode=33][{number}]",
            {
                "schema_version": 1,
                "report_id": f"FSAR-{base}-{number}",
                "report_type": "STR",
                "institution_id": institution_id,
                "jurisdiction": context.jurisdiction or "US",
                "filed_at": iso(at_noon(filed)),
                "subject": subject,
                "suspicion": suspicion,
                "fincen": {"form": "SARX", "activity": tree(kept)},
            },
        )
