"""UNODC goAML ``<report>`` documents as wire-format reports (DOMAIN.md §1.6).

Read in the element order our own export writes (``services/filings/goaml.py``): the report
header, ``transaction``\\ s (bi-party form) or ``activity/report_parties``, then
``report_indicators``. Each transaction becomes one report (its ``internal_ref_number`` the
report id, ``transactionnumber`` the transaction id); a report without transactions becomes
one STR per reported party. The report type comes from the FIU's report code (the filing
profile's ``report_codes``; without it the usual CTR/ROR → LVTR, STR/SAR/ROI → STR, anything
else TXN), the instrument from ``transmode_code`` the same way.

The indicators come after the transactions, so a file is read twice (the first pass keeps
only the header and the indicators): the source must be seekable (a request body or a
temporary file always is).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - element types only; parsing goes through defusedxml
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import IO, Any

from refdata.enums import Channel
from services.filings.profile import GoAMLProfile
from services.reports.formats.common import (
    MAX_ERRORS,
    FormatError,
    FormatErrors,
    IntakeContext,
    Located,
    child,
    content_id,
    iso,
    local,
    parse_datetime,
    stream_elements,
    text,
    tree,
)

_HEADER = ("rentity_id", "submission_code", "report_code", "submission_date", "currency_code_local")
_DEFAULT_REPORT_TYPES = {
    "CTR": "LVTR",
    "ROR": "LVTR",
    "LVTR": "LVTR",
    "STR": "STR",
    "SAR": "STR",
    "ROI": "STR",
}
_RFC = re.compile(r"^[A-ZÑ&]{3,4}[0-9]{6}[A-Z0-9]{3}$")
_CURP = re.compile(r"^[A-Z]{4}[0-9]{6}[HM][A-Z]{5}[A-Z0-9][0-9]$")
_VIA = re.compile(r" via ([a-z_]+)$")


def default_instruments() -> dict[str, str]:
    """transmode code → instrument, from the profile's defaults."""
    codes: dict[str, str] = GoAMLProfile.model_fields["transmode_codes"].get_default(
        call_default_factory=True
    )
    return {code: instrument for instrument, code in codes.items()}


def _funds_codes() -> dict[str, str]:
    codes: dict[str, str] = GoAMLProfile.model_fields["funds_codes"].get_default(
        call_default_factory=True
    )
    return codes


def read_goaml(source: IO[bytes], context: IntakeContext) -> Iterator[Located]:
    """Yields the reports of one goAML ``<report>``; raises FormatError naming the element."""
    header = _read_header(source)
    source.seek(0)
    report_code = header["report_code"]
    report_types = {**_DEFAULT_REPORT_TYPES, **context.goaml_report_types}
    report_type = report_types.get(report_code, "TXN")
    instruments = {**default_instruments(), **context.goaml_instruments}
    defaults = _funds_codes()
    funds = {defaults["deposit"]: "deposit", defaults["withdrawal"]: "withdrawal"}
    funds.update(context.goaml_funds)
    rentity = header["rentity_id"]
    institution_id = context.institution_id or context.goaml_institutions.get(rentity) or rentity
    jurisdiction = context.jurisdiction or header.get("country")
    if jurisdiction not in {"US", "MX"}:
        raise FormatError(
            "/report/location/country_code",
            f"{jurisdiction!r} is not a jurisdiction served here (US or MX): give the"
            " jurisdiction with the submission",
        )
    base = {
        "schema_version": 1,
        "report_type": report_type,
        "institution_id": institution_id,
        "jurisdiction": jurisdiction,
        "filed_at": iso(header["submission_date"]),
    }
    goaml_header = dict(header["tree"])
    errors: list[FormatError] = []
    count = 0
    times: list[datetime] = []
    for event, element, stack in stream_elements(source, frozenset({"transaction"})):
        if event == "start" or len(stack) != 1:
            continue
        count += 1
        location = f"/report/transaction[{count}]"
        try:
            document, at = _transaction(element, location, header, instruments, funds)
        except FormatError as error:
            errors.append(error)
            if len(errors) >= MAX_ERRORS:
                break
            continue
        times.append(at)
        if report_type == "STR":
            document["suspicion"] = _suspicion(header, context.goaml_indicators)
        yield Located(
            location,
            {**base, **document, "goaml": {"report": goaml_header, "transaction": tree(element)}},
        )
    if errors:
        raise FormatErrors(errors)
    if count:
        return
    parties = header["parties"]
    if not parties:
        raise FormatError("/report", "neither a transaction nor activity/report_parties")
    if report_type != "STR":
        raise FormatError(
            "/report/activity", f"a report without transactions must be an STR, not {report_code}"
        )
    for number, party in enumerate(parties, 1):
        location = f"/report/activity/report_parties/report_party[{number}]"
        subject = _party(party)
        if subject is None:
            raise FormatError(location, "t_person or t_entity is required")
        yield Located(
            location,
            {
                **base,
                "report_id": _report_id(header, f"P{number}"),
                "subject": subject,
                "suspicion": _suspicion(header, context.goaml_indicators),
                "goaml": {"report": goaml_header, "report_party": tree(party)},
            },
        )


def _report_id(header: dict[str, Any], suffix: str) -> str:
    reference = header.get("entity_reference") or content_id(header["tree"], 16)
    return re.sub(r"[^A-Za-z0-9._:\-]", "_", f"{reference}-{suffix}")[:64]


def _read_header(source: IO[bytes]) -> dict[str, Any]:
    header: dict[str, Any] = {"parties": []}
    kept: dict[str, Any] = {}
    indicators: list[str] = []
    root_seen = False
    for event, element, stack in stream_elements(
        source,
        frozenset(
            {
                *_HEADER,
                "entity_reference",
                "reason",
                "action",
                "location",
                "rentity_branch",
                "fiu_ref_number",
                "reporting_person",
                "indicator",
                "report_party",
                "transaction",
            }
        ),
    ):
        if event == "start":
            if local(element.tag) != "report":
                raise FormatError(f"/{local(element.tag)}", "a goAML document starts with <report>")
            root_seen = True
            continue
        name = local(element.tag)
        depth = len(stack)
        if name == "transaction" and depth == 1:
            element.clear()
            continue
        if name == "indicator" and depth == 2:
            if element.text and element.text.strip():
                indicators.append(element.text.strip())
            continue
        if name == "report_party" and depth == 3:
            header["parties"].append(element)
            continue
        if depth != 1:
            continue
        kept[name] = tree(element)
        if name == "location":
            header["country"] = text(element, "country_code")
        elif len(element) == 0:
            header[name] = (element.text or "").strip()
    if not root_seen:
        raise FormatError("/report", "empty document")
    for name in _HEADER:
        if not header.get(name):
            raise FormatError(f"/report/{name}", "required element is missing")
    header["submission_date"] = parse_datetime(header["submission_date"], "/report/submission_date")
    header["indicators"] = indicators
    if indicators:
        kept["report_indicators"] = {"indicator": indicators}
    header["tree"] = kept
    return header


def _suspicion(header: dict[str, Any], indicators: Mapping[str, str]) -> dict[str, Any]:
    categories = [indicators.get(code, code) for code in header["indicators"]]
    suspicion: dict[str, Any] = {
        "categories": list(dict.fromkeys(categories)) or ["other"],
        "goaml_indicators": header["indicators"],
    }
    if header.get("reason"):
        suspicion["narrative"] = header["reason"][:17_000]
    return suspicion


def _person(element: ET.Element) -> dict[str, Any]:
    first = text(element, "first_name")
    last = text(element, "last_name")
    name = " ".join(part for part in (first, last) if part and part != "UNKNOWN")
    subject: dict[str, Any] = {"type": "person"}
    if name:
        subject["name"] = name
    country = text(element, "nationality1")
    if country:
        subject["country"] = country
    identifiers: list[dict[str, str]] = []
    ssn = text(element, "ssn")
    if ssn:
        identifiers.append({"type": "SSN", "value": ssn, "country": "US"})
    passport = text(element, "passport_number")
    if passport:
        identifier = {"type": "PASSPORT", "value": passport}
        if text(element, "passport_country"):
            identifier["country"] = text(element, "passport_country") or ""
        identifiers.append(identifier)
    national = text(element, "id_number")
    if national:
        if _CURP.match(national.upper()):
            identifiers.append({"type": "CURP", "value": national, "country": "MX"})
        else:
            identifiers.append({"type": "OTHER", "value": national})
    tax = text(element, "tax_number")
    if tax:
        identifiers.append(_tax(tax))
    if identifiers:
        subject["identifiers"] = identifiers
    if text(element, "occupation"):
        subject["occupation"] = text(element, "occupation")
    birth = text(element, "birthdate")
    if birth:
        subject["birth_date"] = birth[:10]
    return subject


def _tax(value: str) -> dict[str, str]:
    if _RFC.match(value.upper()):
        return {"type": "RFC", "value": value, "country": "MX"}
    return {"type": "EIN", "value": value, "country": "US"}


def _entity(element: ET.Element) -> dict[str, Any]:
    subject: dict[str, Any] = {"type": "entity"}
    name = text(element, "name")
    if name and name != "UNKNOWN":
        subject["name"] = name
    country = text(element, "incorporation_country_code")
    if country:
        subject["country"] = country
    business = text(element, "business")
    if business and business.startswith("NAICS "):
        subject["naics"] = business[6:]
    elif business:
        subject["business"] = business
    tax = text(element, "tax_number")
    if tax:
        subject["identifiers"] = [_tax(tax)]
    return subject


def _party(holder: ET.Element, prefix: str = "") -> dict[str, Any] | None:
    person = child(holder, f"{prefix}person")
    if person is not None:
        return _person(person)
    entity = child(holder, f"{prefix}entity")
    if entity is not None:
        return _entity(entity)
    return None


def _account_holder(account: ET.Element) -> dict[str, Any] | None:
    entity = child(account, "t_entity")
    if entity is not None:
        return _entity(entity)
    signatory = child(account, "signatory")
    if signatory is not None and child(signatory, "t_person") is not None:
        return _person(child(signatory, "t_person"))  # type: ignore[arg-type]
    return None


def _with_id(subject: dict[str, Any], client_number: str | None) -> dict[str, Any]:
    if client_number:
        subject["subject_id"] = client_number
    else:
        material = {"name": subject.get("name"), "ids": subject.get("identifiers")}
        subject["subject_id"] = f"G-{content_id(material, 24)}"
    return subject


def _transaction(
    element: ET.Element,
    location: str,
    header: dict[str, Any],
    instruments: Mapping[str, str],
    funds: Mapping[str, str],
) -> tuple[dict[str, Any], datetime]:
    for name in ("transactionnumber", "date_transaction", "transmode_code", "amount_local"):
        if text(element, name) is None:
            raise FormatError(f"{location}/{name}", "required element is missing")
    sides = {local(item.tag): item for item in element if local(item.tag).startswith("t_")}
    source = sides.get("t_from_my_client") or sides.get("t_from")
    target = sides.get("t_to_my_client") or sides.get("t_to")
    if source is None or target is None:
        raise FormatError(
            location, "a bi-party transaction needs t_from_my_client|t_from and t_to_my_client|t_to"
        )
    if "t_to" in sides or funds.get(text(source, "from_funds_code") or "") == "withdrawal":
        direction = "out"
    elif "t_from" in sides or funds.get(text(target, "to_funds_code") or "") == "deposit":
        direction = "in"
    else:
        direction = "in" if child(target, "to_account") is not None else "out"
    mine, mine_prefix = (target, "to_") if direction == "in" else (source, "from_")
    other, other_prefix = (source, "from_") if direction == "in" else (target, "to_")
    my_account = child(mine, f"{mine_prefix}account")
    account_id = text(my_account, "account") if my_account is not None else None
    if my_account is not None:
        subject = _account_holder(my_account)
        client = text(my_account, "client_number")
    else:
        subject = _party(mine, mine_prefix)
        client = None
    if subject is None:
        raise FormatError(
            f"{location}/{local(mine.tag)}", "the client's person, entity or account is missing"
        )
    subject = _with_id(subject, client)
    at = parse_datetime(text(element, "date_transaction"), f"{location}/date_transaction")
    code = text(element, "transmode_code") or ""
    instrument = instruments.get(code)
    if instrument is None:
        raise FormatError(
            f"{location}/transmode_code",
            f"unknown transmode code {code!r} (see the filing profile's transmode_codes)",
        )
    foreign = child(source, "from_foreign_currency")
    if foreign is not None and text(foreign, "foreign_amount"):
        amount = text(foreign, "foreign_amount")
        currency = text(foreign, "foreign_currency_code")
    else:
        amount = text(element, "amount_local")
        currency = header["currency_code_local"]
    transaction: dict[str, Any] = {
        "transaction_id": text(element, "transactionnumber"),
        "timestamp": iso(at),
        "amount": amount,
        "currency": currency,
        "instrument": instrument,
        "direction": direction,
    }
    description = text(element, "transaction_description") or ""
    via = _VIA.search(description)
    if via and via.group(1) in {channel.value for channel in Channel}:
        transaction["channel"] = via.group(1)
    if account_id:
        transaction["account_id"] = account_id
    country = text(mine, f"{mine_prefix}country")
    if country:
        transaction["location"] = {"country": country}
    if local(other.tag) in {"t_from", "t_to"}:
        transaction["counterparty"] = _counterparty(other, other_prefix)
    report_id = text(element, "internal_ref_number") or text(element, "transactionnumber")
    return {
        "report_id": report_id,
        "subject": subject,
        "transaction": transaction,
    }, at


def _counterparty(side: ET.Element, prefix: str) -> dict[str, Any]:
    counterparty: dict[str, Any] = {}
    account = child(side, f"{prefix}account")
    if account is not None:
        if text(account, "institution_code"):
            counterparty["institution_id"] = text(account, "institution_code")
        if text(account, "account"):
            counterparty["account_id"] = text(account, "account")
        if text(account, "account_name"):
            counterparty["name"] = text(account, "account_name")
    else:
        party = _party(side, prefix)
        if party is not None:
            counterparty.update(
                {k: v for k, v in party.items() if k in {"name", "country", "type"}}
            )
    country = text(side, f"{prefix}country")
    if country:
        counterparty.setdefault("country", country)
    return counterparty


def codes_from_profile(profiles: Mapping[str, GoAMLProfile]) -> dict[str, dict[str, str]]:
    """The ``goaml_*`` fields of an :class:`IntakeContext` from the FIUs of a profile: report
    code → report type, transmode code → instrument, funds code → "deposit" or "withdrawal",
    indicator code → the category it stands for."""
    report_types: dict[str, str] = {}
    instruments: dict[str, str] = {}
    funds: dict[str, str] = {}
    indicators: dict[str, str] = {}
    for fiu in profiles.values():
        for report_type, code in fiu.report_codes.items():
            if report_type != "TXN":  # TXN shares the STR code by default
                report_types.setdefault(code, report_type)
        for instrument, code in fiu.transmode_codes.items():
            instruments.setdefault(code, instrument)
        for kind in ("deposit", "withdrawal"):
            if kind in fiu.funds_codes:
                funds.setdefault(fiu.funds_codes[kind], kind)
        for label, code in fiu.indicators.items():
            indicators.setdefault(code, label)
    return {
        "goaml_report_types": report_types,
        "goaml_instruments": instruments,
        "goaml_funds": funds,
        "goaml_indicators": indicators,
    }
