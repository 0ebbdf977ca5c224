"""goAML export: well-formed, complete, in schema order, with the FIU's own codes."""

from __future__ import annotations

from decimal import Decimal

from tests.fixtures.alerts import create_alerts, last_audit, unique_index
from tests.fixtures.reports import make_report
from tests.services.filings.conftest import parse

HEADER = [
    "rentity_id",
    "submission_code",
    "report_code",
    "entity_reference",
    "submission_date",
    "currency_code_local",
    "reporting_person",
    "location",
]


def mx_subject(name="Jorge Salinas Vega"):
    return {
        "subject_id": f"MX-{unique_index()}",
        "type": "person",
        "name": name,
        "country": "MX",
        "identifiers": [
            {"type": "RFC", "value": "SAVJ800101AB1", "country": "MX"},
            {"type": "CURP", "value": "SAVJ800101HCHLGR09", "country": "MX"},
        ],
        "occupation": "Comerciante",
    }


def mx_report(report_type="STR", amount="140000.00", currency="MXN", direction="in", **txn):
    report = make_report(
        unique_index(),
        report_type=report_type,
        institution_id="MX-FI-0001",
        jurisdiction="MX",
        subject=mx_subject(),
    )
    report["transaction"].update(
        {
            "amount": amount,
            "currency": currency,
            "direction": direction,
            "account_id": "MX-ACC-9",
            **txn,
        }
    )
    report["transaction"]["location"] = {"country": "MX", "region": "CHH", "branch_id": "SUC-3"}
    if report_type == "STR":
        report["suspicion"] = {"categories": ["structuring"], "narrative": "Fraccionamiento."}
    return report


def open_case(
    api, session, documents, narrative="Depósitos fraccionados en efectivo.", legacy_text=False
):
    alerts = create_alerts(session, documents, legacy_text=legacy_text)
    response = api.post(
        "/v1/cases",
        {"title": "ROI", "alert_ids": [a.id for a in alerts], "narrative": narrative},
    )
    assert response.status_code == 201, response.text
    return response.json()


def children(element):
    return [child.tag for child in element]


class TestStr:
    def test_transactions_with_fiu_codes(self, profiled_api, session):
        wire = mx_report(
            amount="5000.00",
            currency="USD",
            instrument="wire",
            direction="out",
            counterparty={
                "name": "Trading LLC",
                "account_id": "US-778",
                "institution_id": "US-FI-0002",
                "country": "US",
            },
        )
        case = open_case(profiled_api, session, [mx_report(), wire])
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 200, response.text
        root = parse(response.content)  # well-formed
        assert root.tag == "report"
        assert children(root)[: len(HEADER)] == HEADER
        assert children(root)[len(HEADER) :] == [
            "reason",
            "transaction",
            "transaction",
            "report_indicators",
        ]
        assert root.findtext("rentity_id") == "MX-RE-77"
        assert root.findtext("submission_code") == "E"
        assert root.findtext("report_code") == "ROI"
        assert root.findtext("entity_reference") == f"CASE-{case['id']}"
        assert root.findtext("currency_code_local") == "MXN"
        assert root.findtext("reporting_person/last_name") == "López"
        assert root.findtext("reason") == "Depósitos fraccionados en efectivo."
        assert [i.text for i in root.iterfind("report_indicators/indicator")] == ["FRACC"]

        cash_txn, wire_txn = root.findall("transaction")
        assert children(cash_txn) == [
            "transactionnumber",
            "internal_ref_number",
            "transaction_location",
            "transaction_description",
            "date_transaction",
            "transmode_code",
            "amount_local",
            "t_from_my_client",
            "t_to_my_client",
        ]
        assert cash_txn.findtext("transmode_code") == "EFE"
        assert cash_txn.findtext("amount_local") == "140000.00"
        source = cash_txn.find("t_from_my_client")
        assert children(source) == ["from_funds_code", "from_person", "from_country"]
        assert source.findtext("from_funds_code") == "E"
        depositor = source.find("from_person")
        assert depositor.findtext("first_name") == "Jorge Salinas"
        assert depositor.findtext("last_name") == "Vega"
        assert depositor.findtext("tax_number") == "SAVJ800101AB1"
        assert depositor.findtext("id_number") == "SAVJ800101HCHLGR09"
        target = cash_txn.find("t_to_my_client")
        assert target.findtext("to_funds_code") == "DEP"
        assert target.findtext("to_account/account") == "MX-ACC-9"
        assert target.findtext("to_account/institution_code") == "MX-RE-77"
        assert target.findtext("to_account/signatory/t_person/last_name") == "Vega"
        assert target.findtext("to_country") == "MX"

        assert wire_txn.findtext("transmode_code") == "TRF"
        assert Decimal(wire_txn.findtext("amount_local")) == Decimal(
            "87500.00"
        )  # 5,000 USD × 17.50
        origin = wire_txn.find("t_from_my_client")
        assert origin.findtext("from_funds_code") == "RET"
        foreign = origin.find("from_foreign_currency")
        assert foreign.findtext("foreign_currency_code") == "USD"
        assert foreign.findtext("foreign_amount") == "5000.00"
        assert origin.findtext("from_account/account") == "MX-ACC-9"
        beneficiary = wire_txn.find("t_to")
        assert beneficiary.findtext("to_account/account") == "US-778"
        assert beneficiary.findtext("to_account/institution_code") == "US-FI-0002"
        assert beneficiary.findtext("to_country") == "US"

        event = last_audit(session)
        assert (event.action, event.after["format"], event.after["fiu"]) == (
            "filing.export",
            "goaml",
            "UIF-MX",
        )

    def test_str_without_transactions_reports_its_parties(self, profiled_api, session):
        report = mx_report()
        report.pop("transaction")
        case = open_case(profiled_api, session, [report])
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 200, response.text
        root = parse(response.content)
        assert root.find("transaction") is None
        party = root.find("activity/report_parties/report_party")
        assert party.findtext("person/last_name") == "Vega"
        assert party.findtext("reason")


class TestCtr:
    def test_large_value_reports_make_a_ctr(self, profiled_api, session):
        case = open_case(
            profiled_api, session, [mx_report("LVTR"), mx_report("LVTR")], narrative=None
        )
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 200, response.text
        root = parse(response.content)
        assert root.findtext("report_code") == "ROR"
        assert len(root.findall("transaction")) == 2
        assert root.find("reason") is None

    def test_us_fiu_profile_is_chosen_by_jurisdiction(self, profiled_api, session):
        report = make_report(unique_index())
        case = open_case(profiled_api, session, [report])
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 200, response.text
        root = parse(response.content)
        assert root.findtext("report_code") == "CTR"  # the default code table
        assert root.findtext("currency_code_local") == "USD"
        assert root.findtext("rentity_id") == "RE-0001"


class TestMissing:
    def test_without_profile_everything_missing_is_listed(self, api, session):
        case = open_case(api, session, [mx_report()], narrative=None)
        response = api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 422
        fields = {error["field"] for error in response.json()["errors"]}
        assert fields == {"profile.goaml", "profile.institutions.MX-FI-0001", "case.narrative"}

    def test_missing_rate_and_unknown_fiu(self, profiled_api, session):
        case = open_case(profiled_api, session, [mx_report(currency="EUR")])
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "profile.goaml.UIF-MX.fx_rates.EUR"
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml?fiu=NOPE")
        assert response.status_code == 422


class TestHostileText:
    def test_control_characters_in_a_name_still_make_well_formed_xml(self, profiled_api, session):
        report = mx_report()
        report["subject"]["name"] = "Jorge\x00 Sali\x07nas\x1b Vega\x0b"
        case = open_case(
            profiled_api,
            session,
            [report],
            narrative="Dep\x01ósitos\x08 en efectivo.",
            legacy_text=True,
        )
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 200, response.text
        root = parse(response.content)  # well-formed: it parses
        assert root.findtext("reason") == "Dep ósitos en efectivo."
        names = " ".join(element.text or "" for element in root.iter() if "name" in element.tag)
        assert "Jorge" in names
        assert not any(ord(ch) < 0x20 for ch in response.content.decode() if ch not in "\n\t\r")

    def test_a_narrative_too_long_for_goaml_is_a_422_naming_the_field(self, profiled_api, session):
        case = open_case(profiled_api, session, [mx_report()], narrative="x" * 4001)
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"field": "reason", "message": "at most 4000 characters in goAML (4001 given)"}
        ]

    def test_a_field_too_long_for_goaml_is_a_422_naming_the_field(self, profiled_api, session):
        report = mx_report()
        report["subject"]["name"] = "Jorge " + "V" * 101  # goAML: last_name up to 100
        case = open_case(profiled_api, session, [report])
        response = profiled_api.get(f"/v1/cases/{case['id']}/exports/goaml")
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [
            {"field": "last_name", "message": "at most 100 characters in goAML (101 given)"}
        ]
