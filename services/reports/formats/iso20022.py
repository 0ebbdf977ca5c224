"""ISO 20022 pacs.008 (FI to FI customer credit transfer, versions 08 to 10) as TXN reports.

Each ``CdtTrfTxInf`` becomes one TXN report (DOMAIN.md §1.8): the UETR is its report and
transaction id, the debtor or the creditor its subject (``IntakeContext.perspective``: a
pacs.008 is reported by the debtor's bank unless the submitter says otherwise), the other
side its counterparty, the interbank settlement amount its amount (decimal places checked
against ISO 4217 by the wire format). The agents the payment passes through (previous
instructing agents, the debtor agent, intermediary agents 1–3, the creditor agent) are kept in
order on ``transaction.route`` with their BIC and country: the jurisdiction hops tracing
follows. The whole transaction and group header are kept under ``iso20022`` (remittance
information, purpose, regulatory reporting, ultimate parties, charges...).

Every version is checked here, element by element (:func:`_check_header`,
:func:`_check_transaction`): the elements the mapping needs, and the formats and codes of the
schema for them (identifiers, amounts and currencies, BICs, UETRs, date-times, charge bearer,
settlement method), each error naming the element. The official ISO 20022 schemas are not
shipped; an operator who has them sets ``AMLSCREEN_ISO20022_XSD_DIR`` to a directory holding
``pacs.008.001.NN.xsd`` files, and each transaction is then validated against its version's
schema as well (``xmlschema``; several times slower).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - element types only; parsing goes through defusedxml
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import xmlschema

from services.reports.formats.common import (
    ISSUING_COUNTRY,
    MAX_ERRORS,
    FormatError,
    FormatErrors,
    IntakeContext,
    Located,
    child,
    children,
    content_id,
    iso,
    local,
    parse_datetime,
    stream_elements,
    text,
    tree,
)

NAMESPACE = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:(pacs\.008\.001\.(08|09|10))\}")
ROOT = "/Document/FIToFICstmrCdtTrf"
_SAFE_ID = re.compile(r"[^A-Za-z0-9._:\-]")
_AGENTS = (
    ("PrvsInstgAgt1", "previous_instructing_agent"),
    ("PrvsInstgAgt2", "previous_instructing_agent"),
    ("PrvsInstgAgt3", "previous_instructing_agent"),
    ("DbtrAgt", "debtor_agent"),
    ("IntrmyAgt1", "intermediary_agent"),
    ("IntrmyAgt2", "intermediary_agent"),
    ("IntrmyAgt3", "intermediary_agent"),
    ("CdtrAgt", "creditor_agent"),
)
_REQUIRED = (
    "PmtId/EndToEndId",
    "IntrBkSttlmAmt",
    "ChrgBr",
    "Dbtr",
    "DbtrAgt/FinInstnId",
    "CdtrAgt/FinInstnId",
    "Cdtr",
)
_REQUIRED_HEADER = ("MsgId", "CreDtTm", "NbOfTxs", "SttlmInf/SttlmMtd")
# Formats and code sets of the pacs.008 schema (08 to 10 agree on these).
_MAX35 = re.compile(r"^.{1,35}$", re.DOTALL)
_BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_UETR = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,5})?$")
_COUNT = re.compile(r"^[0-9]{1,15}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
_CHARGE_BEARERS = frozenset({"DEBT", "CRED", "SHAR", "SLEV"})
_SETTLEMENT_METHODS = frozenset({"INDA", "INGA", "COVE", "CLRG"})
_HEADER_FORMATS = (
    ("MsgId", _MAX35, "1 to 35 characters"),
    ("CreDtTm", _DATETIME, "an ISO date-time"),
    ("NbOfTxs", _COUNT, "a number of up to 15 digits"),
    ("IntrBkSttlmDt", _DATE, "a date (YYYY-MM-DD)"),
)
_FORMATS = (
    ("PmtId/InstrId", _MAX35, "1 to 35 characters"),
    ("PmtId/EndToEndId", _MAX35, "1 to 35 characters"),
    ("PmtId/TxId", _MAX35, "1 to 35 characters"),
    ("PmtId/UETR", _UETR, "a UUID version 4 in lower case"),
    ("IntrBkSttlmAmt", _AMOUNT, "an amount of up to 18 digits, 5 after the point"),
    ("IntrBkSttlmDt", _DATE, "a date (YYYY-MM-DD)"),
    ("AccptncDtTm", _DATETIME, "an ISO date-time"),
    ("InstdAmt", _AMOUNT, "an amount of up to 18 digits, 5 after the point"),
)


def _declaration(parent: Any, name: str) -> Any:
    for element in parent.type.content.iter_elements():
        if element.local_name == name:
            return element
    raise LookupError(name)


@lru_cache(maxsize=8)
def declarations(message: str, xsd_dir: Path | None) -> dict[str, Any] | None:
    """The ``GrpHdr`` and ``CdtTrfTxInf`` declarations of ``message``'s official schema, when
    the operator provides it in ``xsd_dir``; loaded once per process."""
    path = xsd_dir / f"{message}.xsd" if xsd_dir is not None else None
    if path is None or not path.is_file():
        return None
    schema = xmlschema.XMLSchema(str(path))
    body = _declaration(schema.elements["Document"], "FIToFICstmrCdtTrf")
    return {
        "GrpHdr": _declaration(body, "GrpHdr"),
        "CdtTrfTxInf": _declaration(body, "CdtTrfTxInf"),
    }


def _missing(element: ET.Element, paths: tuple[str, ...], location: str) -> list[FormatError]:
    problems = []
    for path in paths:
        current: ET.Element | None = element
        for name in path.split("/"):
            current = child(current, name) if current is not None else None
        if current is None:
            problems.append(FormatError(f"{location}/{path}", "required element is missing"))
    return problems


def _formats(
    element: ET.Element, rules: tuple[tuple[str, re.Pattern[str], str], ...], location: str
) -> list[FormatError]:
    problems = []
    for path, pattern, expected in rules:
        current: ET.Element | None = element
        for name in path.split("/"):
            current = child(current, name) if current is not None else None
        if current is not None and not pattern.match((current.text or "").strip()):
            problems.append(FormatError(f"{location}/{path}", f"must be {expected}"))
    return problems


def _check_agent(agent: ET.Element | None, location: str) -> list[FormatError]:
    if agent is None:
        return []
    bic = text(agent, "FinInstnId", "BICFI")
    if bic is not None and not _BIC.match(bic):
        return [FormatError(f"{location}/FinInstnId/BICFI", "must be a BIC (8 or 11 characters)")]
    return []


def _check_header(header: ET.Element, location: str) -> list[FormatError]:
    problems = _missing(header, _REQUIRED_HEADER, location)
    problems += _formats(header, _HEADER_FORMATS, location)
    method = text(header, "SttlmInf", "SttlmMtd")
    if method is not None and method not in _SETTLEMENT_METHODS:
        problems.append(
            FormatError(
                f"{location}/SttlmInf/SttlmMtd", f"must be one of {sorted(_SETTLEMENT_METHODS)}"
            )
        )
    for name in ("InstgAgt", "InstdAgt"):
        problems += _check_agent(child(header, name), f"{location}/{name}")
    return problems


def _check_transaction(txn: ET.Element, location: str) -> list[FormatError]:
    problems = _missing(txn, _REQUIRED, location)
    problems += _formats(txn, _FORMATS, location)
    for name in ("IntrBkSttlmAmt", "InstdAmt"):
        amount = child(txn, name)
        if amount is not None and not _CURRENCY.match(amount.get("Ccy") or ""):
            problems.append(FormatError(f"{location}/{name}/@Ccy", "must be a currency code"))
    bearer = text(txn, "ChrgBr")
    if bearer is not None and bearer not in _CHARGE_BEARERS:
        problems.append(
            FormatError(f"{location}/ChrgBr", f"must be one of {sorted(_CHARGE_BEARERS)}")
        )
    for name, _role in _AGENTS:
        problems += _check_agent(child(txn, name), f"{location}/{name}")
    for name in ("Dbtr", "Cdtr"):
        party = child(txn, name)
        if party is not None and text(party, "Nm") is None and child(party, "Id") is None:
            problems.append(FormatError(f"{location}/{name}", "names no party (Nm or Id)"))
    return problems


def _schema_errors(
    message: str, name: str, element: ET.Element, location: str, xsd_dir: Path | None
) -> list[FormatError]:
    found = declarations(message, xsd_dir)
    if found is None:
        return []
    namespace = element.tag.partition("}")[0][1:]
    return [
        FormatError(
            location
            + "".join(
                f"/{part.rpartition(':')[2]}" for part in (error.path or "").split("/")[2:] if part
            ),
            error.reason or str(error.message),
        )
        for error in found[name].iter_errors(element, namespaces={"": namespace})
    ][:MAX_ERRORS]


def read_pacs008(source: IO[bytes], context: IntakeContext) -> Iterator[Located]:
    """Yields one TXN report per ``CdtTrfTxInf``; raises FormatError naming the element."""
    message: str | None = None
    header: ET.Element | None = None
    errors: list[FormatError] = []
    count = 0
    total = Decimal(0)
    for event, element, stack in stream_elements(source, frozenset({"GrpHdr", "CdtTrfTxInf"})):
        if event == "start":
            match = NAMESPACE.match(element.tag)
            if local(element.tag) != "Document" or match is None:
                raise FormatError(
                    f"/{local(element.tag)}",
                    "a pacs.008 message is a Document in namespace"
                    " urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08, .09 or .10",
                )
            message = match.group(1)
            continue
        if len(stack) != 2 or local(stack[1].tag) != "FIToFICstmrCdtTrf":
            continue
        assert message is not None
        if local(element.tag) == "GrpHdr":
            location = f"{ROOT}/GrpHdr"
            problems = _schema_errors(
                message, "GrpHdr", element, location, context.iso20022_xsd_dir
            ) or _check_header(element, location)
            if problems:
                raise FormatErrors(problems)
            header = element
            continue
        count += 1
        location = f"{ROOT}/CdtTrfTxInf[{count}]"
        if header is None:
            raise FormatError(f"{ROOT}/GrpHdr", "GrpHdr must come first")
        problems = _schema_errors(
            message, "CdtTrfTxInf", element, location, context.iso20022_xsd_dir
        ) or _check_transaction(element, location)
        if problems:
            errors.extend(problems)
            if len(errors) >= MAX_ERRORS:
                break
            continue
        try:
            located = _report(message, header, element, location, context)
            total += Decimal(text(element, "IntrBkSttlmAmt") or "0")
        except FormatError as error:
            errors.append(error)
            continue
        yield located
    if message is None:
        raise FormatError("/Document", "empty document")
    if header is None and not errors:
        raise FormatError(f"{ROOT}/GrpHdr", "required element is missing")
    if header is not None and not errors:
        declared = text(header, "NbOfTxs")
        if declared != str(count):
            errors.append(
                FormatError(f"{ROOT}/GrpHdr/NbOfTxs", f"says {declared}, the message holds {count}")
            )
        control = text(header, "CtrlSum")
        if control is not None:
            try:
                if Decimal(control) != total:
                    errors.append(
                        FormatError(
                            f"{ROOT}/GrpHdr/CtrlSum",
                            f"says {control}, the amounts add up to {total}",
                        )
                    )
            except InvalidOperation:
                errors.append(FormatError(f"{ROOT}/GrpHdr/CtrlSum", f"{control!r} is not a number"))
    if count == 0 and not errors:
        errors.append(
            FormatError(f"{ROOT}/CdtTrfTxInf", "a message holds at least one transaction")
        )
    if errors:
        raise FormatErrors(errors)


def _bic(agent: ET.Element | None) -> str | None:
    if agent is None:
        return None
    institution = child(agent, "FinInstnId")
    return text(institution, "BICFI") or text(institution, "BIC")


def _agent(agent: ET.Element, role: str) -> dict[str, Any]:
    institution = child(agent, "FinInstnId")
    bic = _bic(agent)
    entry: dict[str, Any] = {"role": role}
    if bic:
        entry["bic"] = bic
    name = text(institution, "Nm")
    if name:
        entry["name"] = name
    member = text(institution, "ClrSysMmbId", "MmbId")
    if member:
        entry["clearing_member_id"] = member
    lei = text(institution, "LEI")
    if lei:
        entry["lei"] = lei
    country = text(institution, "PstlAdr", "Ctry") or (bic[4:6] if bic and len(bic) >= 6 else None)
    if country:
        entry["country"] = country
    return entry


def _account_id(account: ET.Element | None) -> str | None:
    if account is None:
        return None
    return text(account, "Id", "IBAN") or text(account, "Id", "Othr", "Id")


def _identifiers(party: ET.Element, country: str | None, entity: bool) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    ident = child(party, "Id")
    if ident is None:
        return found
    for holder in (child(ident, "OrgId"), child(ident, "PrvtId")):
        if holder is None:
            continue
        for other in children(holder, "Othr"):
            value = text(other, "Id")
            if not value:
                continue
            scheme = text(other, "SchmeNm", "Cd") or text(other, "SchmeNm", "Prtry") or ""
            kind = "OTHER"
            if scheme == "SOSE":
                kind = "SSN"
            elif scheme == "CCPT":
                kind = "PASSPORT"
            elif scheme in {"TXID", "TAXN"}:
                kind = (
                    "RFC" if country == "MX" else ("EIN" if entity and country == "US" else "OTHER")
                )
            elif scheme == "NIDN" and country == "MX":
                kind = "CURP"
            identifier = {"type": kind, "value": value[:64]}
            if kind in ISSUING_COUNTRY:
                identifier["country"] = ISSUING_COUNTRY[kind]
            issuer = text(other, "Issr")
            if kind == "PASSPORT" and issuer and len(issuer) == 2 and issuer.isalpha():
                identifier["country"] = issuer.upper()
            if kind == "OTHER" and scheme:
                identifier["scheme"] = scheme
            found.append(identifier)
    return found


def _party(party: ET.Element, account: str | None) -> dict[str, Any]:
    ident = child(party, "Id")
    entity = ident is not None and child(ident, "OrgId") is not None
    country = text(party, "PstlAdr", "Ctry") or text(party, "CtryOfRes")
    name = text(party, "Nm")
    subject: dict[str, Any] = {"type": "entity" if entity else "person"}
    if name:
        subject["name"] = name[:200]
    if country:
        subject["country"] = country
    identifiers = _identifiers(party, country, entity)
    if identifiers:
        subject["identifiers"] = identifiers
    birth = text(party, "Id", "PrvtId", "DtAndPlcOfBirth", "BirthDt")
    if birth:
        subject["birth_date"] = birth
    subject["subject_id"] = (
        f"ACCT-{account}"[:64]
        if account
        else f"P-{content_id({'name': name, 'ids': identifiers}, 24)}"
    )
    return subject


def _report(
    message: str, header: ET.Element, txn: ET.Element, location: str, context: IntakeContext
) -> Located:
    uetr = text(txn, "PmtId", "UETR")
    if uetr:
        report_id = uetr
    else:
        # Before UETRs (and when a sender leaves it out): the message and transaction ids.
        pieces = [
            text(header, "MsgId"),
            text(txn, "PmtId", "TxId") or text(txn, "PmtId", "EndToEndId"),
        ]
        report_id = _SAFE_ID.sub("_", ":".join(p for p in pieces if p))[:64]
    amount = child(txn, "IntrBkSttlmAmt")
    assert amount is not None  # _REQUIRED
    currency = amount.get("Ccy")
    if not currency:
        raise FormatError(f"{location}/IntrBkSttlmAmt/@Ccy", "the currency attribute is required")
    debtor_account = _account_id(child(txn, "DbtrAcct"))
    creditor_account = _account_id(child(txn, "CdtrAcct"))
    debtor = child(txn, "Dbtr")
    creditor = child(txn, "Cdtr")
    assert debtor is not None  # _REQUIRED
    assert creditor is not None
    route = [
        _agent(agent, role) for name, role in _AGENTS if (agent := child(txn, name)) is not None
    ]
    creditor_side = context.perspective == "creditor"
    subject_party, subject_account = (
        (creditor, creditor_account) if creditor_side else (debtor, debtor_account)
    )
    other_party, other_account = (
        (debtor, debtor_account) if creditor_side else (creditor, creditor_account)
    )
    own_agent = child(txn, "CdtrAgt" if creditor_side else "DbtrAgt")
    other_agent = child(txn, "DbtrAgt" if creditor_side else "CdtrAgt")
    own = _agent(own_agent, "own") if own_agent is not None else {}
    other = _agent(other_agent, "other") if other_agent is not None else {}
    jurisdiction = context.jurisdiction or own.get("country")
    agent_name = "CdtrAgt" if creditor_side else "DbtrAgt"
    if jurisdiction not in {"US", "MX"}:
        raise FormatError(
            f"{location}/{agent_name}/FinInstnId",
            f"the reporting agent's country {jurisdiction!r} is not a jurisdiction served here"
            " (US or MX): give the jurisdiction with the submission",
        )
    institution_id = context.institution_id or own.get("bic")
    if not institution_id:
        raise FormatError(
            f"{location}/{agent_name}/FinInstnId/BICFI", "no BIC to name the reporting institution"
        )
    timestamp = text(txn, "AccptncDtTm") or text(header, "CreDtTm")
    settlement_day = text(txn, "IntrBkSttlmDt") or text(header, "IntrBkSttlmDt")
    other_party_doc = _party(other_party, other_account)
    counterparty: dict[str, Any] = {"type": other_party_doc["type"]}
    for key in ("name", "country"):
        if key in other_party_doc:
            counterparty[key] = other_party_doc[key]
    if other_account:
        counterparty["account_id"] = other_account[:200]
    if other.get("bic"):
        counterparty["institution_id"] = other["bic"]
    if "country" not in counterparty and other.get("country"):
        counterparty["country"] = other["country"]
    transaction: dict[str, Any] = {
        "transaction_id": uetr or report_id,
        "timestamp": iso(parse_datetime(timestamp, f"{location}/AccptncDtTm")),
        "amount": amount.text.strip() if amount.text else "",
        "currency": currency,
        "instrument": "wire",
        "direction": "in" if creditor_side else "out",
        "channel": "correspondent",
        "counterparty": counterparty,
        "route": route,
    }
    if subject_account:
        transaction["account_id"] = subject_account[:200]
    if own.get("country"):
        transaction["location"] = {"country": own["country"]}
    if settlement_day:
        transaction["settlement_date"] = settlement_day
    remittance = child(txn, "RmtInf")
    document: dict[str, Any] = {
        "schema_version": 1,
        "report_id": report_id,
        "report_type": "TXN",
        "institution_id": institution_id,
        "jurisdiction": jurisdiction,
        "filed_at": iso(parse_datetime(text(header, "CreDtTm"), f"{ROOT}/GrpHdr/CreDtTm")),
        "subject": _party(subject_party, subject_account),
        "transaction": transaction,
        "iso20022": {
            "message": message,
            "group_header": tree(header),
            "transaction": tree(txn),
            **({"remittance": tree(remittance)} if remittance is not None else {}),
        },
    }
    return Located(location, document)
