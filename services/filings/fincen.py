"""FinCEN BSA E-Filing batches (SARX, CTRX), built element by element in schema order.

The builders take plain, already-checked data (``SarActivity``, ``CtrActivity``); the service
gathers it, lists what is missing (422) and validates the result against the official XSD
before anyone sees it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - building documents, never parsing input
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.filings.mapping import FINCEN_ID_CODES, TAX_IDENTIFIERS, split_name
from services.filings.profile import FilingInstitution, PostalAddress, Transmitter
from services.filings.xml import FinCENBuilder, serialize

NARRATIVE_BLOCK = 4000
NARRATIVE_LIMIT = 17_000


@dataclass(frozen=True, slots=True)
class SubjectData:
    """What a report says about one subject (its ``subject`` object), plus its accounts."""

    subject_key: str
    document: dict[str, Any]
    accounts: tuple[str, ...] = ()

    @property
    def unknown(self) -> bool:
        return not self.document.get("name") and not self.document.get("identifiers")

    @property
    def is_entity(self) -> bool:
        return self.document.get("type") == "entity"


@dataclass(frozen=True, slots=True)
class SarActivity:
    institution_id: str
    institution: FilingInstitution
    filing_date: date
    subjects: Sequence[SubjectData]
    branch_ids: Sequence[str]
    from_date: date
    to_date: date | None
    total_usd: int | None  # None: amount unknown
    classifications: Sequence[tuple[int, int]]
    other_text: str | None
    narrative: str
    prior_document_number: int | None = None
    continuing: bool = False


@dataclass(frozen=True, slots=True)
class CtrDetail:
    type_code: str
    amount_usd: int
    foreign_country: str = ""


@dataclass(frozen=True, slots=True)
class CtrActivity:
    institution_id: str
    institution: FilingInstitution
    filing_date: date
    business_day: date
    subject: SubjectData
    cash_in_usd: int
    cash_out_usd: int
    cash_in_accounts: Sequence[str]
    cash_out_accounts: Sequence[str]
    details: Sequence[CtrDetail]
    transaction_count: int
    atm: bool = False


@dataclass
class BatchStats:
    activities: int = 0
    parties: int = 0
    total_amount: int = 0
    subject_keys: list[str] = field(default_factory=list)


def _yyyymmdd(value: date) -> str:
    return value.strftime("%Y%m%d")


def _address(b: FinCENBuilder, party: ET.Element, address: PostalAddress | None) -> None:
    element = b.complex(party, "Address")
    if address is None:
        return
    b.text(element, "RawCityText", address.city, 50)
    b.text(element, "RawCountryCodeText", address.country, 2)
    if address.state:
        b.text(element, "RawStateCodeText", address.state, 3)
    b.text(element, "RawStreetAddress1Text", address.street, 100)
    if address.zip:
        b.text(element, "RawZIPCode", address.zip, 9)


def _full_name(b: FinCENBuilder, party: ET.Element, name: str) -> None:
    element = b.complex(party, "PartyName")
    b.text(element, "PartyNameTypeCode", "L")
    b.text(element, "RawPartyFullName", name, 150)


def _identification(
    b: FinCENBuilder, party: ET.Element, code: str, number: str, country: str | None = None
) -> None:
    element = b.complex(party, "PartyIdentification")
    if country and code in {"6", "9"}:
        b.text(element, "OtherIssuerCountryText", country, 2)
    b.text(
        element, "PartyIdentificationNumberText", "".join(ch for ch in number if ch.isalnum()), 25
    )
    b.text(element, "PartyIdentificationTypeCode", code)


def _phone(b: FinCENBuilder, party: ET.Element, number: str) -> None:
    element = b.complex(party, "PhoneNumber")
    b.text(element, "PhoneNumberText", "".join(ch for ch in number if ch.isdigit()), 16)


def _transmitter(b: FinCENBuilder, activity: ET.Element, transmitter: Transmitter) -> int:
    party = b.complex(activity, "Party")
    b.text(party, "ActivityPartyTypeCode", "35")
    _full_name(b, party, transmitter.name)
    _address(b, party, transmitter.address)
    _phone(b, party, transmitter.phone)
    _identification(b, party, "4", transmitter.tin)
    _identification(b, party, "28", transmitter.tcc)
    contact = b.complex(activity, "Party")
    b.text(contact, "ActivityPartyTypeCode", "37")
    _full_name(b, contact, transmitter.contact_name)
    return 2


def _institution_party(
    b: FinCENBuilder,
    activity: ET.Element,
    code: str,
    institution: FilingInstitution,
    indicators: Sequence[tuple[str, str]] = (),
) -> ET.Element:
    """Party 30 (filer) or 34 (where the activity occurred); PartyType fields come first."""
    party = b.complex(activity, "Party")
    b.text(party, "ActivityPartyTypeCode", code)
    for name, value in indicators:
        b.text(party, name, value, 15)
    b.text(party, "PrimaryRegulatorTypeCode", institution.regulator_code)
    _full_name(b, party, institution.name)
    _address(b, party, institution.address)
    _identification(b, party, institution.tin_type, institution.tin)
    org = b.complex(party, "OrganizationClassificationTypeSubtype")
    b.text(org, "OrganizationTypeID", institution.organization_type)
    return party


def _contact_office(b: FinCENBuilder, activity: ET.Element, institution: FilingInstitution) -> None:
    party = b.complex(activity, "Party")
    b.text(party, "ActivityPartyTypeCode", "8")
    _full_name(b, party, institution.contact_office)
    _phone(b, party, institution.contact_phone)


def _person_name(b: FinCENBuilder, party: ET.Element, subject: SubjectData) -> None:
    element = b.complex(party, "PartyName")
    name = subject.document.get("name")
    if not name:
        b.flag(element, "EntityLastNameUnknownIndicator")
        if not subject.is_entity:
            b.flag(element, "FirstNameUnknownIndicator")
        b.text(element, "PartyNameTypeCode", "L")
        return
    if subject.is_entity:
        b.text(element, "PartyNameTypeCode", "L")
        b.text(element, "RawEntityIndividualLastName", name, 150)
        return
    first, last = split_name(str(name))
    if first is None:
        b.flag(element, "FirstNameUnknownIndicator")
    b.text(element, "PartyNameTypeCode", "L")
    b.text(element, "RawEntityIndividualLastName", last, 150)
    if first is not None:
        b.text(element, "RawIndividualFirstName", first, 35)


def _subject_address(b: FinCENBuilder, party: ET.Element, subject: SubjectData) -> None:
    element = b.complex(party, "Address")
    address = subject.document.get("address")
    address = address if isinstance(address, dict) else {}
    city = address.get("city")
    country = address.get("country") or subject.document.get("country")
    state = address.get("state") or address.get("region")
    street = address.get("street")
    postcode = address.get("zip") or address.get("postal_code")
    if not city:
        b.flag(element, "CityUnknownIndicator")
    if not country:
        b.flag(element, "CountryCodeUnknownIndicator")
    if city:
        b.text(element, "RawCityText", city, 50)
    if country:
        b.text(element, "RawCountryCodeText", country, 2)
    if state:
        b.text(element, "RawStateCodeText", state, 3)
    if street:
        b.text(element, "RawStreetAddress1Text", street, 100)
    if postcode:
        b.text(element, "RawZIPCode", postcode, 9)
    if not state:
        b.flag(element, "StateCodeUnknownIndicator")
    if not street:
        b.flag(element, "StreetAddressUnknownIndicator")
    if not postcode:
        b.flag(element, "ZIPCodeUnknownIndicator")


def _subject_identifications(
    b: FinCENBuilder, party: ET.Element, subject: SubjectData, limit: int
) -> None:
    identifiers = [
        item for item in subject.document.get("identifiers") or [] if isinstance(item, dict)
    ]
    written = 0
    has_tin = any(item.get("type") in TAX_IDENTIFIERS for item in identifiers)
    if not has_tin:
        element = b.complex(party, "PartyIdentification")
        b.flag(element, "TINUnknownIndicator")
        written += 1
    for item in identifiers:
        if written >= limit:
            break
        id_type = str(item.get("type"))
        value = str(item.get("value") or "")
        if not value:
            continue
        code = FINCEN_ID_CODES.get(id_type, "999")
        element = b.complex(party, "PartyIdentification")
        country = item.get("country")
        if country and code in {"6", "9", "999"}:
            b.text(element, "OtherIssuerCountryText", country, 2)
        if code == "999":
            b.text(element, "OtherPartyIdentificationTypeText", id_type.title(), 50)
        b.text(
            element, "PartyIdentificationNumberText", "".join(c for c in value if c.isalnum()), 25
        )
        b.text(element, "PartyIdentificationTypeCode", code)
        written += 1


def _occupation(b: FinCENBuilder, party: ET.Element, subject: SubjectData) -> None:
    naics = subject.document.get("naics")
    occupation = subject.document.get("occupation")
    if naics or occupation:
        element = b.complex(party, "PartyOccupationBusiness")
        if naics:
            b.text(element, "NAICSCode", naics, 6)
        if occupation:
            b.text(element, "OccupationBusinessText", occupation, 50)


def _birth(subject: SubjectData) -> str | None:
    value = subject.document.get("birth_date")
    if not value:
        return None
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return digits[:8] if len(digits) >= 8 else None


def _sar_subject(
    b: FinCENBuilder, activity: ET.Element, subject: SubjectData, institution: FilingInstitution
) -> None:
    party = b.complex(activity, "Party")
    b.text(party, "ActivityPartyTypeCode", "33")
    if subject.unknown:
        # FinCEN: when nothing identifies the subject, say so and give nothing else.
        b.flag(party, "AllCriticalSubjectInformationUnavailableIndicator")
        return
    birth = _birth(subject)
    if not subject.is_entity and birth is None:
        b.flag(party, "BirthDateUnknownIndicator")
    if not subject.is_entity and birth is not None:
        b.text(party, "IndividualBirthDateText", birth, 8)
    if not subject.accounts:
        b.flag(party, "NoKnownAccountInvolvedIndicator")
    if subject.is_entity:
        b.flag(party, "PartyAsEntityOrganizationIndicator")
    if not subject.is_entity:
        b.flag(party, "UnknownGenderIndicator")
    _person_name(b, party, subject)
    _subject_address(b, party, subject)
    _subject_identifications(b, party, subject, limit=100)
    _occupation(b, party, subject)
    if subject.accounts:
        association = b.complex(party, "PartyAccountAssociation")
        b.text(association, "PartyAccountAssociationTypeCode", "7")
        holder = b.complex(association, "Party")
        b.text(holder, "ActivityPartyTypeCode", "41")
        _identification(b, holder, institution.tin_type, institution.tin)
        for account_id in subject.accounts[:99]:
            account = b.complex(holder, "Account")
            b.text(account, "AccountNumberText", account_id, 40)
            link = b.complex(account, "PartyAccountAssociation")
            b.text(link, "PartyAccountAssociationTypeCode", "5")


def _narrative_blocks(narrative: str) -> list[str]:
    text = " ".join(narrative.split())
    return [
        text[start : start + NARRATIVE_BLOCK] for start in range(0, len(text), NARRATIVE_BLOCK)
    ][:5]


def build_sar_batch(
    transmitter: Transmitter, activities: Sequence[SarActivity]
) -> tuple[bytes, BatchStats]:
    """Returns a SARX batch of one Activity per filing institution."""
    b = FinCENBuilder()
    root = b.complex(None, "EFilingBatchXML")
    b.text(root, "FormTypeCode", "SARX")
    stats = BatchStats()
    for data in activities:
        activity = b.complex(root, "Activity")
        if data.prior_document_number is not None:
            b.text(activity, "EFilingPriorDocumentNumber", data.prior_document_number, 14)
        b.text(activity, "FilingDateText", _yyyymmdd(data.filing_date), 8)
        association = b.complex(activity, "ActivityAssociation")
        if data.continuing:
            b.flag(association, "ContinuingActivityReportIndicator")
        elif data.prior_document_number is not None:
            b.flag(association, "CorrectsAmendsPriorReportIndicator")
        else:
            b.flag(association, "InitialReportIndicator")
        parties = _transmitter(b, activity, transmitter)
        _institution_party(b, activity, "30", data.institution)
        _contact_office(b, activity, data.institution)
        location = _institution_party(
            b,
            activity,
            "34",
            data.institution,
            () if data.branch_ids else (("NoBranchActivityInvolvedIndicator", "Y"),),
        )
        for branch_id in data.branch_ids[:99]:
            branch_association = b.complex(location, "PartyAssociation")
            branch = b.complex(branch_association, "Party")
            b.text(branch, "ActivityPartyTypeCode", "46")
            _address(b, branch, data.institution.branches.get(branch_id))
        parties += 3
        for subject in data.subjects:
            _sar_subject(b, activity, subject, data.institution)
            parties += 1
        suspicious = b.complex(activity, "SuspiciousActivity")
        if data.total_usd is None:
            b.flag(suspicious, "AmountUnknownIndicator")
        b.text(suspicious, "SuspiciousActivityFromDateText", _yyyymmdd(data.from_date), 8)
        if data.to_date is not None:
            b.text(suspicious, "SuspiciousActivityToDateText", _yyyymmdd(data.to_date), 8)
        if data.total_usd is not None:
            b.text(suspicious, "TotalSuspiciousAmountText", data.total_usd, 15)
        for type_id, subtype_id in data.classifications:
            classification = b.complex(suspicious, "SuspiciousActivityClassification")
            if subtype_id % 1000 == 999:  # an "Other" subtype names the activity
                b.text(
                    classification,
                    "OtherSuspiciousActivityTypeText",
                    data.other_text or "Other",
                    50,
                )
            b.text(classification, "SuspiciousActivitySubtypeID", subtype_id)
            b.text(classification, "SuspiciousActivityTypeID", type_id)
        for number, block in enumerate(_narrative_blocks(data.narrative), start=1):
            narrative = b.complex(activity, "ActivityNarrativeInformation")
            b.text(narrative, "ActivityNarrativeSequenceNumber", number)
            element = ET.SubElement(narrative, b.tag("ActivityNarrativeText"))
            element.text = block
        stats.activities += 1
        stats.parties += parties
        stats.total_amount += data.total_usd or 0
        stats.subject_keys.extend(subject.subject_key for subject in data.subjects)
    root.set("TotalAmount", str(stats.total_amount))
    root.set("PartyCount", str(stats.parties))
    root.set("ActivityCount", str(stats.activities))
    root.set("ActivityAttachmentCount", "0")
    root.set("AttachmentCount", "0")
    del root.attrib["SeqNum"]
    return serialize(root), stats


def _ctr_person(b: FinCENBuilder, activity: ET.Element, data: CtrActivity) -> None:
    subject = data.subject
    party = b.complex(activity, "Party")
    # 50: conducted on own behalf (a person); 23: on whose behalf (an entity).
    b.text(party, "ActivityPartyTypeCode", "23" if subject.is_entity else "50")
    birth = _birth(subject)
    if not subject.is_entity and birth is None:
        b.flag(party, "BirthDateUnknownIndicator")
    if not subject.is_entity and birth is not None:
        b.text(party, "IndividualBirthDateText", birth, 8)
    if data.cash_in_usd:
        b.text(party, "IndividualEntityCashInAmountText", data.cash_in_usd, 15)
    if data.cash_out_usd:
        b.text(party, "IndividualEntityCashOutAmountText", data.cash_out_usd, 15)
    if data.transaction_count > 1:
        b.flag(party, "MultipleTransactionsPersonsIndividualsIndicator")
    if subject.is_entity:
        b.flag(party, "PartyAsEntityOrganizationIndicator")
    if not subject.is_entity:
        b.flag(party, "UnknownGenderIndicator")
    _person_name(b, party, subject)
    _subject_address(b, party, subject)
    _subject_identifications(b, party, subject, limit=2)
    _occupation(b, party, subject)
    for account_id, code in [(a, "8") for a in data.cash_in_accounts] + [
        (a, "9") for a in data.cash_out_accounts
    ]:
        account = b.complex(party, "Account")
        b.text(account, "AccountNumberText", account_id, 40)
        link = b.complex(account, "PartyAccountAssociation")
        b.text(link, "PartyAccountAssociationTypeCode", code)


def build_ctr_batch(
    transmitter: Transmitter, activities: Sequence[CtrActivity]
) -> tuple[bytes, BatchStats]:
    """Returns a CTRX batch: one Activity per subject and business day over the threshold."""
    b = FinCENBuilder()
    root = b.complex(None, "EFilingBatchXML")
    b.text(root, "FormTypeCode", "CTRX")
    stats = BatchStats()
    for data in activities:
        activity = b.complex(root, "Activity")
        b.text(activity, "FilingDateText", _yyyymmdd(data.filing_date), 8)
        association = b.complex(activity, "ActivityAssociation")
        b.flag(association, "CorrectsAmendsPriorReportIndicator", on=False)
        b.flag(association, "FinCENDirectBackFileIndicator", on=False)
        b.flag(association, "InitialReportIndicator")
        parties = _transmitter(b, activity, transmitter)
        _institution_party(b, activity, "30", data.institution)
        _contact_office(b, activity, data.institution)
        cash = []
        if data.cash_in_usd:
            cash.append(("IndividualEntityCashInAmountText", str(data.cash_in_usd)))
        if data.cash_out_usd:
            cash.append(("IndividualEntityCashOutAmountText", str(data.cash_out_usd)))
        _institution_party(b, activity, "34", data.institution, cash)
        _ctr_person(b, activity, data)
        parties += 4
        currency = b.complex(activity, "CurrencyTransactionActivity")
        b.flag(currency, "AggregateTransactionIndicator", on=data.transaction_count > 1)
        b.flag(currency, "ArmoredCarServiceIndicator", on=False)
        b.flag(currency, "ATMIndicator", on=data.atm)
        b.flag(currency, "MailDepositShipmentIndicator", on=False)
        b.flag(currency, "NightDepositIndicator", on=False)
        b.flag(currency, "SharedBranchingIndicator", on=False)
        b.text(currency, "TotalCashInReceiveAmountText", data.cash_in_usd or "", 15)
        b.text(currency, "TotalCashOutAmountText", data.cash_out_usd or "", 15)
        b.text(currency, "TransactionDateText", _yyyymmdd(data.business_day), 8)
        for detail in data.details:
            element = b.complex(currency, "CurrencyTransactionActivityDetail")
            b.text(element, "CurrencyTransactionActivityDetailTypeCode", detail.type_code)
            b.text(element, "DetailTransactionAmountText", detail.amount_usd, 15)
            b.text(element, "OtherCurrencyTransactionActivityDetailText", "", 50)
            b.text(element, "OtherForeignCurrencyCountryText", detail.foreign_country, 2)
            stats.total_amount += detail.amount_usd
        stats.activities += 1
        stats.parties += parties
        stats.subject_keys.append(data.subject.subject_key)
    root.set("TotalAmount", str(stats.total_amount))
    root.set("PartyCount", str(stats.parties))
    root.set("ActivityCount", str(stats.activities))
    del root.attrib["SeqNum"]
    return serialize(root), stats
