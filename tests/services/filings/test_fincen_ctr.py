"""FinCEN CTR export: aggregation per subject and business day, validated against the XSD."""

from __future__ import annotations

from services.auth.enums import Role
from tests.fixtures.alerts import audit_count, last_audit, store_reports, unique_index
from tests.fixtures.reports import make_report
from tests.services.filings.conftest import NS, parse

URL = "/v1/reports/exports/fincen-ctr"


def cash(
    subject,
    amount,
    when,
    direction="in",
    currency="USD",
    channel="branch",
    account="ACC-1",
    institution="US-FI-0001",
):
    report = make_report(unique_index(), institution_id=institution, subject=subject)
    report["transaction"].update(
        {
            "amount": amount,
            "timestamp": when,
            "direction": direction,
            "currency": currency,
            "channel": channel,
            "account_id": account,
        }
    )
    return report


def person(name="Carlos Méndez", ssn=None):
    return {
        "subject_id": f"C-{unique_index()}",
        "type": "person",
        "name": name,
        "country": "US",
        "identifiers": [
            {"type": "SSN", "value": ssn or f"900-11-{unique_index() % 10000:04d}", "country": "US"}
        ],
        "birth_date": "1980-02-03",
        "occupation": "Mechanic",
    }


def export(
    api,
    day_from="2026-11-01",
    day_to="2026-11-30",
    institution="US-FI-0001",
    role=Role.INVESTIGATOR,
):
    return api.get(f"{URL}?institution_id={institution}&from={day_from}&to={day_to}", role=role)


def assert_valid(schemas, content):
    assert [str(e.reason) for e in schemas["CTRX"].iter_errors(content.decode())] == []


def activities(root):
    return root.findall("fc2:Activity", NS)


class TestAggregation:
    def test_two_deposits_same_day_aggregate_over_the_threshold(
        self, profiled_api, session, fincen_schemas
    ):
        subject = person()
        store_reports(
            session,
            [
                cash(subject, "6000.00", "2026-11-10T15:00:00Z", account="ACC-1"),
                cash(subject, "5000.50", "2026-11-10T20:00:00Z", account="ACC-2", channel="atm"),
            ],
        )
        response = export(profiled_api)
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        assert root.findtext("fc2:FormTypeCode", namespaces=NS) == "CTRX"
        (activity,) = activities(root)
        assert root.get("TotalAmount") == "11001"
        assert root.get("PartyCount") == "6"
        currency = activity.find("fc2:CurrencyTransactionActivity", NS)
        assert currency.findtext("fc2:AggregateTransactionIndicator", namespaces=NS) == "Y"
        assert currency.findtext("fc2:ATMIndicator", namespaces=NS) == "Y"
        assert currency.findtext("fc2:TotalCashInReceiveAmountText", namespaces=NS) == "11001"
        assert currency.findtext("fc2:TotalCashOutAmountText", namespaces=NS) == ""
        assert currency.findtext("fc2:TransactionDateText", namespaces=NS) == "20261110"
        detail = currency.find("fc2:CurrencyTransactionActivityDetail", NS)
        assert (
            detail.findtext("fc2:CurrencyTransactionActivityDetailTypeCode", namespaces=NS) == "55"
        )
        codes = [
            p.findtext("fc2:ActivityPartyTypeCode", namespaces=NS)
            for p in activity.iterfind("fc2:Party", NS)
        ]
        assert codes == ["35", "37", "30", "8", "34", "50"]
        conductor = activity.findall("fc2:Party", NS)[-1]
        assert conductor.findtext("fc2:IndividualBirthDateText", namespaces=NS) == "19800203"
        assert conductor.findtext("fc2:IndividualEntityCashInAmountText", namespaces=NS) == "11001"
        accounts = [
            a.findtext("fc2:AccountNumberText", namespaces=NS)
            for a in conductor.iterfind("fc2:Account", NS)
        ]
        assert accounts == ["ACC-1", "ACC-2"]

    def test_exactly_ten_thousand_does_not_trigger(self, profiled_api, session):
        store_reports(session, [cash(person(), "10000.00", "2026-11-10T15:00:00Z")])
        assert export(profiled_api).status_code == 404

    def test_cash_in_and_out_are_never_netted(self, profiled_api, session, fincen_schemas):
        quiet = person("Quiet Person")
        store_reports(
            session,
            [
                cash(quiet, "8000.00", "2026-11-10T15:00:00Z", direction="in"),
                cash(quiet, "8000.00", "2026-11-10T16:00:00Z", direction="out"),
            ],
        )
        assert export(profiled_api).status_code == 404
        busy = person("Busy Person")
        store_reports(
            session,
            [
                cash(busy, "12000.00", "2026-11-11T15:00:00Z", direction="in"),
                cash(busy, "11500.00", "2026-11-11T16:00:00Z", direction="out"),
            ],
        )
        response = export(profiled_api)
        assert response.status_code == 200
        assert_valid(fincen_schemas, response.content)
        (activity,) = activities(parse(response.content))
        currency = activity.find("fc2:CurrencyTransactionActivity", NS)
        assert currency.findtext("fc2:TotalCashInReceiveAmountText", namespaces=NS) == "12000"
        assert currency.findtext("fc2:TotalCashOutAmountText", namespaces=NS) == "11500"
        codes = sorted(
            d.findtext("fc2:CurrencyTransactionActivityDetailTypeCode", namespaces=NS)
            for d in currency.iterfind("fc2:CurrencyTransactionActivityDetail", NS)
        )
        assert codes == ["55", "56"]

    def test_business_days_are_local_and_separate(self, profiled_api, session, fincen_schemas):
        subject = person()
        # 02:00Z on the 11th is still the 10th in Chicago: these two are one business day.
        store_reports(
            session,
            [
                cash(subject, "6000.00", "2026-11-10T18:00:00Z"),
                cash(subject, "6000.00", "2026-11-11T02:00:00Z"),
                cash(subject, "10500.00", "2026-11-12T18:00:00Z"),
            ],
        )
        response = export(profiled_api)
        assert_valid(fincen_schemas, response.content)
        days = [
            a.findtext(".//fc2:TransactionDateText", namespaces=NS)
            for a in activities(parse(response.content))
        ]
        assert days == ["20261110", "20261112"]

    def test_several_subjects_entities_and_foreign_currency(
        self, profiled_api, session, fincen_schemas
    ):
        company = {
            "subject_id": f"E-{unique_index()}",
            "type": "entity",
            "name": "Casa de Cambio Norte",
            "identifiers": [{"type": "EIN", "value": "12-3456789"}],
        }
        store_reports(
            session,
            [
                cash(person("Ana Ruiz"), "15000.00", "2026-11-05T15:00:00Z"),
                cash(company, "250000.00", "2026-11-06T15:00:00Z", currency="MXN"),
            ],
        )
        response = export(profiled_api)
        assert response.status_code == 200, response.text
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        first, second = activities(root)
        entity = second.findall("fc2:Party", NS)[-1]
        assert entity.findtext("fc2:ActivityPartyTypeCode", namespaces=NS) == "23"
        assert entity.findtext("fc2:PartyAsEntityOrganizationIndicator", namespaces=NS) == "Y"
        detail = second.find(".//fc2:CurrencyTransactionActivityDetail", NS)
        assert (
            detail.findtext("fc2:CurrencyTransactionActivityDetailTypeCode", namespaces=NS) == "53"
        )
        assert detail.findtext("fc2:OtherForeignCurrencyCountryText", namespaces=NS) == "MX"
        assert detail.findtext("fc2:DetailTransactionAmountText", namespaces=NS) == "13750"
        assert root.get("TotalAmount") == str(15000 + 13750)

    def test_other_institutions_and_periods_are_left_out(self, profiled_api, session):
        store_reports(
            session,
            [
                # Friday 30 Oct (a Saturday deposit would count on Monday 2 Nov: see below).
                cash(person(), "15000.00", "2026-10-30T15:00:00Z"),
                cash(person(), "15000.00", "2026-11-05T12:00:00Z", institution="US-FI-0002"),
            ],
        )
        assert export(profiled_api).status_code == 404


class TestRequestsAndAudit:
    def test_missing_profile_lists_fields(self, api, session):
        store_reports(session, [cash(person(), "15000.00", "2026-11-05T12:00:00Z")])
        response = export(api)
        assert response.status_code == 422
        assert {e["field"] for e in response.json()["errors"]} == {
            "profile.transmitter",
            "profile.institutions.US-FI-0001",
        }

    def test_bad_period_is_422(self, profiled_api):
        assert export(profiled_api, "2026-11-30", "2026-11-01").status_code == 422
        assert profiled_api.get(f"{URL}?institution_id=US-FI-0001").status_code == 422

    def test_export_is_audited(self, profiled_api, session):
        store_reports(session, [cash(person(), "15000.00", "2026-11-05T12:00:00Z")])
        events = audit_count(session)
        response = export(profiled_api)
        assert response.status_code == 200
        assert audit_count(session) == events + 1
        event = last_audit(session)
        assert (event.action, event.entity_type) == ("filing.export", "report_export")
        assert event.after["format"] == "fincen-ctr"
        assert event.after["activities"] == 1

    def test_route_is_not_taken_for_a_report_lookup(self, profiled_api):
        # /v1/reports/{institution_id}/{report_id} must not swallow /v1/reports/exports/...
        response = profiled_api.get(
            f"{URL}?institution_id=US-FI-0001&from=2026-01-01&to=2026-01-02"
        )
        assert response.status_code == 404
        assert "no cash transactions" in response.json()["detail"]


def transaction_days(root):
    return [a.findtext(".//fc2:TransactionDateText", namespaces=NS) for a in activities(root)]


class TestNextBusinessDay:
    """Night, weekend and holiday deposits count on the next business day (1010.313(b)).

    The profile's institution is in Chicago (UTC−6 in November 2026). Fri 13, Sat 14, Sun 15,
    Mon 16 Nov; Thanksgiving is Thursday 26 Nov.
    """

    def test_saturday_deposit_counts_on_monday(self, profiled_api, session, fincen_schemas):
        subject = person()
        store_reports(
            session,
            [
                cash(subject, "6000.00", "2026-11-14T16:00:00Z"),  # Saturday 10:00
                cash(subject, "2500.00", "2026-11-15T16:00:00Z"),  # Sunday 10:00
                cash(subject, "2000.00", "2026-11-16T16:00:00Z"),  # Monday 10:00
            ],
        )
        response = export(profiled_api)
        assert response.status_code == 200
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        assert transaction_days(root) == ["20261116"]  # $10,500 on Monday, one CTR
        assert root.get("TotalAmount") == "10500"

    def test_friday_night_after_the_cut_off_counts_on_monday(
        self, profiled_api, session, profile, fincen_schemas
    ):
        institution = profile.institutions["US-FI-0001"].model_copy(update={"cutoff_hour": 18})
        profiled_api.client.app.state.filing_profile = profile.model_copy(
            update={"institutions": {**profile.institutions, "US-FI-0001": institution}}
        )
        night, day = person("Night Depositor"), person("Day Depositor")
        store_reports(
            session,
            [
                cash(night, "7000.00", "2026-11-14T01:30:00Z"),  # Friday 19:30: after 18:00
                cash(night, "4000.00", "2026-11-16T16:00:00Z"),  # Monday 10:00
                cash(day, "7000.00", "2026-11-13T23:59:00Z"),  # Friday 17:59: before it
                cash(day, "4000.00", "2026-11-16T16:00:00Z"),  # Monday 10:00
            ],
        )
        response = export(profiled_api)
        assert response.status_code == 200
        assert_valid(fincen_schemas, response.content)
        root = parse(response.content)
        # Only the night depositor reaches $11,000 on one business day (Monday); the day
        # depositor has $7,000 on Friday and $4,000 on Monday.
        assert transaction_days(root) == ["20261116"]
        assert root.get("TotalAmount") == "11000"

    def test_without_a_cut_off_a_night_deposit_keeps_its_day(self, profiled_api, session):
        subject = person()
        store_reports(
            session,
            [
                cash(subject, "7000.00", "2026-11-14T01:30:00Z"),  # Friday 19:30
                cash(subject, "4000.00", "2026-11-16T16:00:00Z"),  # Monday
            ],
        )
        assert export(profiled_api).status_code == 404

    def test_a_federal_holiday_counts_on_the_next_business_day(
        self, profiled_api, session, fincen_schemas
    ):
        subject = person()
        store_reports(
            session,
            [
                cash(subject, "5500.00", "2026-11-26T17:00:00Z"),  # Thanksgiving, 11:00
                cash(subject, "5500.00", "2026-11-27T17:00:00Z"),  # Friday, 11:00
            ],
        )
        response = export(profiled_api)
        assert response.status_code == 200
        assert_valid(fincen_schemas, response.content)
        assert transaction_days(parse(response.content)) == ["20261127"]

    def test_periods_are_business_days(self, profiled_api, session):
        subject = person()
        store_reports(
            session,
            [
                # Saturday 31 Oct belongs to Monday 2 Nov: the November export has it.
                cash(subject, "12000.00", "2026-10-31T16:00:00Z"),
            ],
        )
        response = export(profiled_api, "2026-11-01", "2026-11-30")
        assert response.status_code == 200
        assert transaction_days(parse(response.content)) == ["20261102"]
        assert export(profiled_api, "2026-10-01", "2026-10-31").status_code == 404

    def test_a_night_deposit_on_the_last_day_is_the_next_periods(
        self, profiled_api, session, profile
    ):
        institution = profile.institutions["US-FI-0001"].model_copy(update={"cutoff_hour": 18})
        profiled_api.client.app.state.filing_profile = profile.model_copy(
            update={"institutions": {**profile.institutions, "US-FI-0001": institution}}
        )
        # Friday 13 Nov, 20:00 in Chicago: after the cut-off, so Monday 16 Nov.
        store_reports(session, [cash(person(), "12000.00", "2026-11-14T02:00:00Z")])
        assert export(profiled_api, "2026-11-09", "2026-11-13").status_code == 404
        response = export(profiled_api, "2026-11-16", "2026-11-20")
        assert response.status_code == 200
        assert transaction_days(parse(response.content)) == ["20261116"]
