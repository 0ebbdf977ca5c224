"""UNODC goAML ``<report>`` (STR, or CTR for large-value reports), DOMAIN.md §1.6.

Element order follows goAML schema 4.0: the report header, then ``transaction``+ (bi-party:
one ``t_from_my_client``|``t_from`` and one ``t_to_my_client``|``t_to``) or, for an STR with
no transaction, ``activity/report_parties/report_party``, then ``report_indicators``. Codes
(report code, transmode, funds, account type and status, indicators) come from the FIU's
profile.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - building documents, never parsing input
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from defusedxml import ElementTree as SafeET

from services.errors import ServiceError
from services.filings.mapping import split_name
from services.filings.profile import FilingInstitution, GoAMLProfile

TEXT_LIMIT = 4000
# Characters XML 1.0 does not allow at all (ElementTree writes them as they are, and the
# document is then not well-formed): C0 controls but tab, newline and carriage return, lone
# surrogates, U+FFFE and U+FFFF. Noise in a name or a narrative: replaced by a space.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class FieldTooLong(ServiceError):
    """A value longer than goAML allows: refused, never cut (the FIU would read less than
    what was concluded)."""

    def __init__(self, tag: str, limit: int, length: int) -> None:
        super().__init__(
            f"goAML field {tag} allows {limit} characters, the value has {length}: shorten it",
            422,
            [{"field": tag, "message": f"at most {limit} characters in goAML ({length} given)"}],
        )


class NotWellFormed(ServiceError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the goAML document built is not well-formed XML: {reason}", 500)


@dataclass(frozen=True, slots=True)
class GoAMLTransaction:
    number: str
    internal_ref: str
    at: datetime
    instrument: str
    direction: str
    channel: str | None
    amount: Decimal
    currency: str
    amount_local: Decimal
    rate: Decimal | None
    location: str | None
    country: str | None
    account_id: str | None
    subject: dict[str, Any]
    counterparty: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class GoAMLReport:
    fiu: GoAMLProfile
    institution: FilingInstitution
    rentity_id: str
    report_code: str
    entity_reference: str
    submission_date: datetime
    reason: str | None
    transactions: Sequence[GoAMLTransaction]
    parties: Sequence[dict[str, Any]]  # subjects of an STR without transactions
    indicators: Sequence[str]


def _add(parent: ET.Element, tag: str, value: Any = None, limit: int = 255) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if value is not None:
        text = " ".join(_NOT_XML.sub(" ", str(value)).split())
        if len(text) > limit:
            raise FieldTooLong(tag, limit, len(text))
        element.text = text
    return element


def _date(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _identifiers(subject: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in subject.get("identifiers") or []:
        if isinstance(item, dict) and item.get("type") and item.get("value"):
            found.setdefault(str(item["type"]), item)
    return found


def person(parent: ET.Element, tag: str, subject: dict[str, Any]) -> ET.Element:
    """A ``t_person`` from a wire-format subject (or counterparty)."""
    element = ET.SubElement(parent, tag)
    name = str(subject.get("name") or "")
    first, last = split_name(name) if name else (None, "UNKNOWN")
    if first:
        _add(element, "first_name", first, 100)
    _add(element, "last_name", last, 100)
    if subject.get("birth_date"):
        _add(element, "birthdate", f"{str(subject['birth_date'])[:10]}T00:00:00")
    ids = _identifiers(subject)
    ssn = ids.get("SSN") or ids.get("ITIN")
    if ssn:
        _add(element, "ssn", ssn["value"], 25)
    if "PASSPORT" in ids:
        _add(element, "passport_number", ids["PASSPORT"]["value"], 25)
        if ids["PASSPORT"].get("country"):
            _add(element, "passport_country", ids["PASSPORT"]["country"], 25)
    national = ids.get("CURP") or ids.get("OTHER")
    if national:
        _add(element, "id_number", national["value"], 25)
    if subject.get("country"):
        _add(element, "nationality1", subject["country"], 2)
    if subject.get("occupation"):
        _add(element, "occupation", subject["occupation"])
    tax = ids.get("RFC") or ids.get("EIN")
    if tax:
        _add(element, "tax_number", tax["value"], 100)
    return element


def entity(parent: ET.Element, tag: str, subject: dict[str, Any]) -> ET.Element:
    """A ``t_entity`` from a wire-format subject (or counterparty)."""
    element = ET.SubElement(parent, tag)
    _add(element, "name", subject.get("name") or "UNKNOWN")
    if subject.get("naics"):
        _add(element, "business", f"NAICS {subject['naics']}")
    if subject.get("country"):
        _add(element, "incorporation_country_code", subject["country"], 2)
    ids = _identifiers(subject)
    tax = ids.get("EIN") or ids.get("RFC")
    if tax:
        _add(element, "tax_number", tax["value"], 100)
    return element


def party(parent: ET.Element, tag_prefix: str, subject: dict[str, Any]) -> ET.Element:
    kind = "entity" if subject.get("type") == "entity" else "person"
    builder = entity if kind == "entity" else person
    return builder(parent, f"{tag_prefix}{kind}", subject)


def my_account(
    parent: ET.Element,
    tag: str,
    report: GoAMLReport,
    account_id: str,
    currency: str,
    subject: dict[str, Any],
) -> None:
    account = ET.SubElement(parent, tag)
    _add(account, "institution_name", report.institution.name)
    _add(account, "institution_code", report.rentity_id, 50)
    if report.institution.goaml_branch:
        _add(account, "branch", report.institution.goaml_branch)
    _add(account, "account", account_id, 50)
    _add(account, "currency_code", currency, 3)
    if subject.get("subject_id"):
        _add(account, "client_number", subject["subject_id"], 30)
    _add(account, "personal_account_type", report.fiu.account_type)
    if subject.get("type") == "entity":
        entity(account, "t_entity", subject)
    else:
        signatory = ET.SubElement(account, "signatory")
        _add(signatory, "is_primary", "true")
        person(signatory, "t_person", subject)
    _add(account, "status_code", report.fiu.account_status)


def _foreign(parent: ET.Element, tag: str, txn: GoAMLTransaction) -> None:
    if txn.rate is None:
        return
    foreign = ET.SubElement(parent, tag)
    _add(foreign, "foreign_currency_code", txn.currency, 3)
    _add(foreign, "foreign_amount", _amount(txn.amount))
    _add(foreign, "foreign_exchange_rate", f"{txn.rate:f}")


def transaction(parent: ET.Element, report: GoAMLReport, txn: GoAMLTransaction) -> None:
    codes = report.fiu
    element = ET.SubElement(parent, "transaction")
    _add(element, "transactionnumber", txn.number, 50)
    _add(element, "internal_ref_number", txn.internal_ref, 50)
    if txn.location:
        _add(element, "transaction_location", txn.location)
    description = (
        f"{txn.instrument} {'deposit/credit' if txn.direction == 'in' else 'withdrawal/debit'}"
    )
    if txn.channel:
        description += f" via {txn.channel}"
    _add(element, "transaction_description", description, TEXT_LIMIT)
    _add(element, "date_transaction", _date(txn.at))
    _add(element, "transmode_code", codes.transmode_codes[txn.instrument])
    _add(element, "amount_local", _amount(txn.amount_local))
    country = txn.country or report.institution.address.country
    counterparty = txn.counterparty or {}
    cash = txn.instrument == "cash"
    if txn.direction == "in":
        if cash or not counterparty:
            side = ET.SubElement(element, "t_from_my_client")
            _add(side, "from_funds_code", codes.funds_codes["cash" if cash else "other"])
            _foreign(side, "from_foreign_currency", txn)
            party(side, "from_", txn.subject)
            _add(side, "from_country", country, 2)
        else:
            side = ET.SubElement(element, "t_from")
            _add(side, "from_funds_code", codes.funds_codes["other"])
            _foreign(side, "from_foreign_currency", txn)
            _counterparty(side, "from_", counterparty)
            _add(side, "from_country", counterparty.get("country") or country, 2)
        side = ET.SubElement(element, "t_to_my_client")
        _add(side, "to_funds_code", codes.funds_codes["deposit"])
        if txn.account_id:
            my_account(side, "to_account", report, txn.account_id, txn.currency, txn.subject)
        else:
            party(side, "to_", txn.subject)
        _add(side, "to_country", country, 2)
    else:
        side = ET.SubElement(element, "t_from_my_client")
        _add(side, "from_funds_code", codes.funds_codes["withdrawal"])
        _foreign(side, "from_foreign_currency", txn)
        if txn.account_id:
            my_account(side, "from_account", report, txn.account_id, txn.currency, txn.subject)
        else:
            party(side, "from_", txn.subject)
        _add(side, "from_country", country, 2)
        if cash or not counterparty:
            side = ET.SubElement(element, "t_to_my_client")
            _add(side, "to_funds_code", codes.funds_codes["cash" if cash else "other"])
            party(side, "to_", txn.subject)
            _add(side, "to_country", country, 2)
        else:
            side = ET.SubElement(element, "t_to")
            _add(side, "to_funds_code", codes.funds_codes["other"])
            _counterparty(side, "to_", counterparty)
            _add(side, "to_country", counterparty.get("country") or country, 2)


def _counterparty(side: ET.Element, prefix: str, counterparty: dict[str, Any]) -> None:
    if counterparty.get("account_id"):
        account = ET.SubElement(side, f"{prefix}account")
        if counterparty.get("institution_id"):
            _add(account, "institution_code", counterparty["institution_id"], 50)
        _add(account, "account", counterparty["account_id"], 50)
        if counterparty.get("name"):
            _add(account, "account_name", counterparty["name"])
    else:
        party(side, prefix, counterparty)


def build_report(report: GoAMLReport) -> bytes:
    """Returns the ``<report>`` document."""
    root = ET.Element("report")
    _add(root, "rentity_id", report.rentity_id, 50)
    if report.institution.goaml_branch:
        _add(root, "rentity_branch", report.institution.goaml_branch)
    _add(root, "submission_code", report.fiu.submission_code)
    _add(root, "report_code", report.report_code)
    _add(root, "entity_reference", report.entity_reference)
    _add(root, "submission_date", _date(report.submission_date))
    _add(root, "currency_code_local", report.fiu.currency_code_local, 3)
    reporting = ET.SubElement(root, "reporting_person")
    person_data = report.fiu.reporting_person
    _add(reporting, "first_name", person_data.first_name, 100)
    _add(reporting, "last_name", person_data.last_name, 100)
    if person_data.email:
        _add(reporting, "email", person_data.email)
    if person_data.occupation:
        _add(reporting, "occupation", person_data.occupation)
    location = ET.SubElement(root, "location")
    address = report.institution.address
    _add(location, "address_type", "B")
    _add(location, "address", address.street, 100)
    _add(location, "city", address.city)
    if address.zip:
        _add(location, "zip", address.zip, 10)
    _add(location, "country_code", address.country, 2)
    if address.state:
        _add(location, "state", address.state)
    if report.reason:
        _add(root, "reason", report.reason, TEXT_LIMIT)
    if report.fiu.action:
        _add(root, "action", report.fiu.action, TEXT_LIMIT)
    if report.transactions:
        for txn in report.transactions:
            transaction(root, report, txn)
    else:
        activity = ET.SubElement(root, "activity")
        parties = ET.SubElement(activity, "report_parties")
        for subject in report.parties:
            report_party = ET.SubElement(parties, "report_party")
            party(report_party, "", subject)
            _add(report_party, "reason", "subject of the suspicious activity report")
    indicators = ET.SubElement(root, "report_indicators")
    for code in report.indicators:
        _add(indicators, "indicator", code, 25)
    content = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    # Read back before anyone receives it: what leaves here is well-formed XML.
    try:
        SafeET.fromstring(content)
    except SafeET.ParseError as error:
        raise NotWellFormed(str(error)) from None
    return content
