"""FinCEN SAR export: several case shapes, each validated against the official XSD 1.1."""

from __future__ import annotations

import hashlib

import pytest

from services.filings.xml import InvalidFiling, validate_fincen
from tests.fixtures.alerts import audit_count, create_alerts, last_audit, unique_index
from tests.fixtures.reports import make_report
from tests.services.filings.conftest import NS, parse


def person(name: str | None, ssn: str | None = None, **extra):
    subject = {"subject_id": f"C-{unique_index()}", "type": "person", "country": "US", **extra}
    if name:
        subject["name"] = name
    if ssn:
        subject["identifiers"] = [{"type": "SSN", "value": ssn, "country": "US"}]
    return subject


def cash(amount: str, when: str = "2026-11-20T15:00:00Z", **overrides):
    txn = {
        "transaction_id": f"T-{unique_index()}",
        "timestamp": when,
        "amount": amount,
        "currency": "USD",
        "instrument": "cash",
        "direction": "in",
        "channel": "branch",
        "account_id": "ACC-77",
        "location": {"country": "US", "region": "TX", "branch_id": "B1"},
    }
    txn.update(overrides)
    return txn


def str_report(subject, transaction=None, categories=("structuring",), **overrides):
    report = make_report(
        unique_index(),
        report_type="STR",
        subject=subject,
        suspicion={"categories": list(categories), "narrative": "Reported by the branch."},
        **overrides,
    )
    if transaction is None:
        report.pop("transaction")
    else:
        report["transaction"] = transaction
    return report


def open_case(api, session, documents, narrative="Deposits split below $10,000 at B1.", **alert):
    alerts = create_alerts(session, documents, **alert)
    body = {"title": "SAR case", "alert_ids": [a.id for a in alerts]}
    if narrative is not None:
        body["narrative"] = narrative
    response = api.post("/v1/cases", body)
    assert response.status_code == 201, response.text
    return response.json()


def export(api, case_id, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return api.get(f"/v1/cases/{case_id}/exports/fincen-sar?{query}")


def assert_valid(schemas, content: bytes) -> None:
    errors = [str(error.reason) for error in schemas["SARX"].iter_errors(content.decode())]
    assert errors == []


def subjects_of(root):
    return [
        party
        for party in root.iterfind(".//fc2:Activity/fc2:Party", NS)
        if party.findtext("fc2:ActivityPartyTypeCode", namespaces=NS) == "33"
    ]


class TestShapes:
    def test_single_subject(self, profiled_api, session, fincen_schemas):
        case = open_case(
            profiled_api,
            session,
            [str_report(person("Juan Carlos Pérez", "900-00-0001"), cash("9500.00"))],
        )
        response = export(profiled_api, case["id"], filing_date="2026-11-28")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        assert root.tag == "{www.fincen.gov/base}EFilingBatchXML"
        assert root.findtext("fc2:FormTypeCode", namespaces=NS) == "SARX"
        assert root.get("ActivityCount") == "1"
        assert root.get("TotalAmount") == "9500"
        assert root.get("PartyCount") == "6"
        activity = root.find("fc2:Activity", NS)
        assert activity.findtext("fc2:FilingDateText", namespaces=NS) == "20261128"
        assert (
            activity.findtext("fc2:ActivityAssociation/fc2:InitialReportIndicator", namespaces=NS)
            == "Y"
        )
        codes = [
            p.findtext("fc2:ActivityPartyTypeCode", namespaces=NS)
            for p in activity.iterfind("fc2:Party", NS)
        ]
        assert codes == ["35", "37", "30", "8", "34", "33"]
        (subject,) = subjects_of(root)
        name = subject.find("fc2:PartyName", NS)
        assert name.findtext("fc2:RawEntityIndividualLastName", namespaces=NS) == "Pérez"
        assert name.findtext("fc2:RawIndividualFirstName", namespaces=NS) == "Juan Carlos"
        ids = subject.find("fc2:PartyIdentification", NS)
        assert ids.findtext("fc2:PartyIdentificationNumberText", namespaces=NS) == "900000001"
        assert ids.findtext("fc2:PartyIdentificationTypeCode", namespaces=NS) == "1"
        account = subject.find(".//fc2:Account/fc2:AccountNumberText", NS)
        assert account.text == "ACC-77"
        suspicious = activity.find("fc2:SuspiciousActivity", NS)
        assert (
            suspicious.findtext("fc2:SuspiciousActivityFromDateText", namespaces=NS) == "20261120"
        )
        assert suspicious.findtext("fc2:TotalSuspiciousAmountText", namespaces=NS) == "9500"
        classification = suspicious.find("fc2:SuspiciousActivityClassification", NS)
        assert classification.findtext("fc2:SuspiciousActivitySubtypeID", namespaces=NS) == "114"
        assert classification.findtext("fc2:SuspiciousActivityTypeID", namespaces=NS) == "1"
        narrative = activity.find("fc2:ActivityNarrativeInformation/fc2:ActivityNarrativeText", NS)
        assert narrative.text == "Deposits split below $10,000 at B1."
        branch = activity.find(
            ".//fc2:PartyAssociation/fc2:Party/fc2:Address/fc2:RawStreetAddress1Text", NS
        )
        assert branch.text == "200 Mesa St"

    def test_several_subjects_and_entities(self, profiled_api, session, fincen_schemas):
        company = {
            "subject_id": f"E-{unique_index()}",
            "type": "entity",
            "name": "Importadora Frontera SA de CV",
            "country": "MX",
            "identifiers": [{"type": "RFC", "value": "IFR-010101-AB1", "country": "MX"}],
            "naics": "423990",
        }
        case = open_case(
            profiled_api,
            session,
            [
                str_report(person("Ana Ruiz", "900-00-0002"), cash("9000.00")),
                str_report(person("Luis Gómez", "900-00-0003"), cash("9100.00")),
                str_report(company, cash("9900.00"), categories=("funnel_account", "tbml")),
            ],
        )
        response = export(profiled_api, case["id"])
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        subjects = subjects_of(root)
        assert len(subjects) == 3
        assert root.get("PartyCount") == "8"
        entity = next(
            s
            for s in subjects
            if s.findtext("fc2:PartyAsEntityOrganizationIndicator", namespaces=NS) == "Y"
        )
        assert entity.findtext("fc2:PartyName/fc2:RawEntityIndividualLastName", namespaces=NS) == (
            "Importadora Frontera SA de CV"
        )
        rfc = entity.find("fc2:PartyIdentification", NS)
        assert rfc.findtext("fc2:PartyIdentificationTypeCode", namespaces=NS) == "9"
        assert rfc.findtext("fc2:OtherIssuerCountryText", namespaces=NS) == "MX"
        assert (
            entity.findtext("fc2:PartyOccupationBusiness/fc2:NAICSCode", namespaces=NS) == "423990"
        )
        subtypes = {
            c.findtext("fc2:SuspiciousActivitySubtypeID", namespaces=NS)
            for c in root.iterfind(".//fc2:SuspiciousActivityClassification", NS)
        }
        assert subtypes == {"114", "823", "824"}
        assert root.get("TotalAmount") == "28000"

    def test_unknown_subject(self, profiled_api, session, fincen_schemas):
        case = open_case(
            profiled_api,
            session,
            [str_report({"subject_id": "WALK-IN-1", "type": "person"}, cash("4999.99"))],
        )
        response = export(profiled_api, case["id"])
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        (subject,) = subjects_of(parse(response.content))
        assert (
            subject.findtext("fc2:AllCriticalSubjectInformationUnavailableIndicator", namespaces=NS)
            == "Y"
        )
        assert subject.find("fc2:PartyName", NS) is None
        # Rounded up to whole dollars.
        assert parse(response.content).get("TotalAmount") == "5000"

    def test_multiple_transactions_and_period(self, profiled_api, session, fincen_schemas):
        subject = person("María Torres", "900-00-0004")
        documents = [
            str_report(subject, cash("9800.10", f"2026-11-{day:02d}T15:00:00Z"))
            for day in (3, 4, 5, 9)
        ]
        documents.append(
            str_report(subject, cash("150000.00", "2026-11-10T10:00:00Z", currency="MXN"))
        )
        case = open_case(profiled_api, session, documents)
        response = export(profiled_api, case["id"])
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        assert len(subjects_of(root)) == 1
        suspicious = root.find(".//fc2:SuspiciousActivity", NS)
        assert (
            suspicious.findtext("fc2:SuspiciousActivityFromDateText", namespaces=NS) == "20261103"
        )
        assert suspicious.findtext("fc2:SuspiciousActivityToDateText", namespaces=NS) == "20261110"
        # 4 × 9,800.10 + 150,000 MXN × 0.055 = 39,200.40 + 8,250 → 47,451 (rounded up)
        assert suspicious.findtext("fc2:TotalSuspiciousAmountText", namespaces=NS) == "47451"

    def test_several_institutions_make_several_activities(
        self, profiled_api, session, fincen_schemas
    ):
        subject = person("Pedro Sáenz", "900-00-0005")
        case = open_case(
            profiled_api,
            session,
            [
                str_report(subject, cash("9000.00")),
                str_report(subject, cash("9000.00"), institution_id="US-FI-0002"),
            ],
        )
        response = export(profiled_api, case["id"])
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        assert root.get("ActivityCount") == "2"
        filers = [
            party.findtext("fc2:PartyName/fc2:RawPartyFullName", namespaces=NS)
            for party in root.iterfind("fc2:Activity/fc2:Party", NS)
            if party.findtext("fc2:ActivityPartyTypeCode", namespaces=NS) == "30"
        ]
        assert filers == ["First Border Bank", "Second Valley Bank"]

    def test_str_without_transaction_and_long_narrative(
        self, profiled_api, session, fincen_schemas
    ):
        narrative = "The subject explained nothing. " * 400  # ~12,400 characters
        case = open_case(
            profiled_api,
            session,
            [str_report(person("Rosa Díaz", "900-00-0006"), None, categories=("something_new",))],
            narrative=narrative,
        )
        response = export(profiled_api, case["id"])
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        assert root.find(".//fc2:AmountUnknownIndicator", NS).text == "Y"
        blocks = root.findall(".//fc2:ActivityNarrativeInformation", NS)
        assert len(blocks) == 4
        assert all(
            len(b.findtext("fc2:ActivityNarrativeText", namespaces=NS)) <= 4000 for b in blocks
        )
        # The alert's typology maps (114); the unknown category becomes "Other" (9999).
        classifications = root.findall(".//fc2:SuspiciousActivityClassification", NS)
        other = classifications[-1]
        assert [
            c.findtext("fc2:SuspiciousActivitySubtypeID", namespaces=NS) for c in classifications
        ] == ["114", "9999"]
        assert (
            other.findtext("fc2:OtherSuspiciousActivityTypeText", namespaces=NS) == "something_new"
        )

    def test_continuing_report_names_the_prior_one(self, profiled_api, session, fincen_schemas):
        case = open_case(
            profiled_api, session, [str_report(person("Eva Cruz", "900-00-0007"), cash("9000"))]
        )
        assert export(profiled_api, case["id"], continuing="true").status_code == 422
        response = export(
            profiled_api, case["id"], continuing="true", prior_document_number=31000000000123
        )
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        assert root.findtext(".//fc2:EFilingPriorDocumentNumber", namespaces=NS) == "31000000000123"
        assert root.findtext(".//fc2:ContinuingActivityReportIndicator", namespaces=NS) == "Y"


class TestMissingData:
    def test_without_a_profile_every_missing_field_is_listed(self, api, session):
        case = open_case(
            api, session, [str_report(person("A B", "900-00-0008"), cash("9000"))], narrative=None
        )
        response = export(api, case["id"])
        assert response.status_code == 422
        fields = {error["field"] for error in response.json()["errors"]}
        assert fields == {
            "profile.transmitter",
            "case.narrative",
            "profile.institutions.US-FI-0001",
        }

    def test_missing_fx_rate(self, profiled_api, session, profile):
        profiled_api.client.app.state.filing_profile = profile.model_copy(
            update={"fx_rates_to_usd": {}}
        )
        case = open_case(
            profiled_api,
            session,
            [str_report(person("A B", "900-00-0009"), cash("9000", currency="MXN"))],
        )
        response = export(profiled_api, case["id"])
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {
                "field": "profile.fx_rates_to_usd.MXN",
                "message": "a USD rate for MXN is needed to report whole US dollars",
            }
        ]

    def test_mx_case_is_not_a_fincen_sar(self, profiled_api, session):
        case = open_case(
            profiled_api,
            session,
            [
                str_report(
                    person("A B"),
                    cash("9000", currency="MXN"),
                    jurisdiction="MX",
                    institution_id="MX-FI-0001",
                )
            ],
        )
        assert export(profiled_api, case["id"]).status_code == 422

    def test_unknown_case_is_404(self, profiled_api):
        assert export(profiled_api, 99999999).status_code == 404


class TestAuditAndValidation:
    def test_export_is_audited_with_the_hash_of_the_bytes(self, profiled_api, session):
        case = open_case(
            profiled_api, session, [str_report(person("A B", "900-00-0010"), cash("9000"))]
        )
        events = audit_count(session)
        response = export(profiled_api, case["id"])
        assert audit_count(session) == events + 1
        event = last_audit(session)
        assert (event.action, event.entity_type, event.entity_id) == (
            "filing.export",
            "case",
            str(case["id"]),
        )
        assert event.after["sha256"] == hashlib.sha256(response.content).hexdigest()
        assert response.headers["X-Content-SHA256"] == event.after["sha256"]

    def test_service_refuses_an_invalid_document(self):
        bad = b'<?xml version="1.0"?><fc2:EFilingBatchXML xmlns:fc2="www.fincen.gov/base"/>'
        with pytest.raises(InvalidFiling) as raised:
            validate_fincen("SARX", bad)
        assert raised.value.status_code == 500
        assert raised.value.details


class TestNothingCut:
    def test_a_name_longer_than_fincen_allows_is_a_422_naming_the_field(
        self, profiled_api, session
    ):
        subject = person("Ana " + "B" * 151, ssn="123-45-6789")
        case = open_case(profiled_api, session, [str_report(subject, cash("9500.00"))])
        response = export(profiled_api, case["id"])
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [
            {
                "field": "RawEntityIndividualLastName",
                "message": "at most 150 characters (151 given)",
            }
        ]

    def test_control_characters_never_reach_the_xml(self, profiled_api, session, fincen_schemas):
        subject = person("Ana\x00 Ber\x1bnal", ssn="123-45-6789")
        documents = [str_report(subject, cash("9500.00"))]
        case = open_case(profiled_api, session, documents, legacy_text=True)
        response = export(profiled_api, case["id"])
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        assert b"\x00" not in response.content
        assert b"\x1b" not in response.content
