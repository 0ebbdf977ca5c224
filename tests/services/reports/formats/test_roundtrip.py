"""Our own FinCEN CTRX/SARX and goAML exports, read back in, give the same reports."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from refdata.wire import ReportV1
from services.reports.formats import FileFormat
from services.reports.formats.goaml import codes_from_profile
from tests.fixtures.alerts import create_alerts, store_reports, unique_index
from tests.fixtures.reports import make_report
from tests.services.reports.formats.conftest import read

CHICAGO = ZoneInfo("America/Chicago")


def person(name: str, ssn: str, **extra):
    return {
        "subject_id": f"C-{unique_index()}",
        "type": "person",
        "name": name,
        "country": "US",
        "identifiers": [{"type": "SSN", "value": ssn, "country": "US"}],
        "birth_date": "1980-02-03",
        "occupation": "Mechanic",
        **extra,
    }


def cash(subject, amount, when, direction="in", account="ACC-1", institution="US-FI-0001"):
    report = make_report(unique_index(), institution_id=institution, subject=subject)
    report["transaction"].update(
        {"amount": amount, "timestamp": when, "direction": direction, "account_id": account}
    )
    return report


def _ids(report: ReportV1) -> list[tuple[str, str]]:
    return sorted((i.type.value, i.normalized()) for i in report.subject.identifiers)


class TestFinCENCTR:
    def test_export_read_back_gives_the_same_cash_reports(self, profiled_api, session) -> None:
        originals = [
            ReportV1.model_validate(document)
            for document in (
                cash(person("Carlos Méndez", "900-11-0001"), "12000.00", "2026-11-10T15:00:00Z"),
                cash(
                    person("Ana Ruiz", "900-11-0002"),
                    "15250.00",
                    "2026-11-12T16:30:00Z",
                    direction="out",
                    account="ACC-9",
                ),
                cash(person("Luis Soto", "900-11-0003"), "10001.00", "2026-11-13T22:00:00Z"),
            )
        ]
        store_reports(session, [o.model_dump(mode="json") for o in originals])
        response = profiled_api.get(
            "/v1/reports/exports/fincen-ctr?institution_id=US-FI-0001&from=2026-11-01&to=2026-11-30"
        )
        assert response.status_code == 200, response.text

        reports, errors = read(FileFormat.FINCEN, response.content, institution_id="US-FI-0001")
        assert errors == []
        assert len(reports) == len(originals)
        by_key = {report.subject_key: report for report in reports}
        for original in originals:
            back = by_key[original.subject_key]  # same subject key: same identifiers
            assert back.report_type.value == "LVTR"
            assert back.institution_id == original.institution_id
            assert back.jurisdiction == original.jurisdiction
            assert back.subject.name == original.subject.name
            assert _ids(back) == _ids(original)
            assert back.subject.occupation == original.subject.occupation
            assert getattr(back.subject, "birth_date", None) == "1980-02-03"
            txn, was = back.transaction, original.transaction
            assert txn is not None
            assert was is not None
            assert (txn.amount, txn.currency, txn.direction, txn.instrument) == (
                was.amount,
                was.currency,
                was.direction,
                was.instrument,
            )
            assert txn.amount_minor == was.amount_minor
            assert txn.account_id == was.account_id
            # The business day, in the institution's time zone, is the original's.
            assert (
                txn.timestamp.astimezone(CHICAGO).date() == was.timestamp.astimezone(CHICAGO).date()
            )

        again, _ = read(FileFormat.FINCEN, response.content, institution_id="US-FI-0001")
        assert [r.report_id for r in again] == [r.report_id for r in reports]
        assert [r.canonical_json() for r in again] == [r.canonical_json() for r in reports]

    def test_every_unmapped_element_is_kept(self, profiled_api, session) -> None:
        store_reports(
            session,
            [cash(person("Eva Lin", "900-11-0009"), "11000.00", "2026-11-10T15:00:00Z")],
        )
        response = profiled_api.get(
            "/v1/reports/exports/fincen-ctr?institution_id=US-FI-0001&from=2026-11-01&to=2026-11-30"
        )
        (report,), errors = read(FileFormat.FINCEN, response.content, institution_id="US-FI-0001")
        assert errors == []
        activity = report.model_dump(mode="json")["fincen"]["activity"]
        # The transmitter's TCC and the filer's regulator are nowhere in the wire fields.
        codes = {
            identification["PartyIdentificationNumberText"]
            for party in activity["Party"]
            for identification in (
                party.get("PartyIdentification")
                if isinstance(party.get("PartyIdentification"), list)
                else [party.get("PartyIdentification") or {}]
            )
            if identification
        }
        assert "PTCC1234" in codes
        assert any(party.get("PrimaryRegulatorTypeCode") == "4" for party in activity["Party"])


class TestFinCENSAR:
    def test_export_read_back_gives_an_str_per_subject(self, profiled_api, session) -> None:
        first = person("Juan Carlos Pérez", "900-22-0001")
        second = person("Rosa Díaz", "900-22-0002")
        documents = []
        for subject, amount, when in (
            (first, "9500.00", "2026-11-05T15:00:00Z"),
            (second, "9200.00", "2026-11-20T15:00:00Z"),
        ):
            report = make_report(unique_index(), report_type="STR", subject=subject)
            report["transaction"].update({"amount": amount, "timestamp": when})
            report["suspicion"] = {"categories": ["structuring"], "narrative": "x"}
            documents.append(report)
        alerts = create_alerts(session, documents)
        narrative = "Deposits split below $10,000 at branch B1. " * 200  # over one 4,000 block
        case = profiled_api.post(
            "/v1/cases",
            {"title": "SAR", "alert_ids": [a.id for a in alerts], "narrative": narrative},
        )
        assert case.status_code == 201, case.text
        response = profiled_api.get(
            f"/v1/cases/{case.json()['id']}/exports/fincen-sar?filing_date=2026-11-28"
        )
        assert response.status_code == 200, response.text

        reports, errors = read(FileFormat.FINCEN, response.content)
        assert errors == []
        assert len(reports) == 2
        originals = {ReportV1.model_validate(d).subject_key: d for d in documents}
        for back in reports:
            original = originals[back.subject_key]
            assert back.report_type.value == "STR"
            assert back.subject.name == original["subject"]["name"]
            assert back.filed_at.date() == date(2026, 11, 28)
            suspicion = back.suspicion
            assert suspicion is not None
            assert suspicion.categories == ["structuring"]
            assert suspicion.narrative == " ".join(narrative.split())
            assert suspicion.activity_from is not None
            assert suspicion.activity_from.date() == date(2026, 11, 5)
            assert suspicion.activity_to is not None
            assert suspicion.activity_to.date() == date(2026, 11, 20)
            dumped = suspicion.model_dump(mode="json")
            assert dumped["total_amount"] == {"amount": "18700", "currency": "USD"}
            assert dumped["fincen_classifications"] == [{"type_id": "1", "subtype_id": "114"}]
            assert back.subject.model_dump(mode="json")["accounts"] == [
                original["transaction"]["account_id"]
            ]
        # Without an institution given, the filer's TIN names it.
        assert {r.institution_id for r in reports} == {"TIN-125478965"}


class TestGoAML:
    def test_export_read_back_gives_the_same_reports(self, profiled_api, session, profile) -> None:
        subject = {
            "subject_id": f"MX-{unique_index()}",
            "type": "person",
            "name": "Jorge Salinas Vega",
            "country": "MX",
            "identifiers": [
                {"type": "RFC", "value": "SAVJ800101AB1", "country": "MX"},
                {"type": "CURP", "value": "SAVJ800101HCHLGR09", "country": "MX"},
            ],
            "occupation": "Comerciante",
        }
        documents = []
        for amount, currency, direction, when in (
            ("140000.00", "MXN", "in", "2026-11-03T17:00:00Z"),
            ("9000.00", "USD", "out", "2026-11-04T18:30:00Z"),
        ):
            report = make_report(
                unique_index(),
                report_type="STR",
                institution_id="MX-FI-0001",
                jurisdiction="MX",
                subject=subject,
            )
            report["transaction"].update(
                {
                    "amount": amount,
                    "currency": currency,
                    "direction": direction,
                    "timestamp": when,
                    "account_id": "MX-ACC-9",
                    "location": {"country": "MX"},
                }
            )
            report["suspicion"] = {"categories": ["structuring"], "narrative": "Fraccionamiento."}
            documents.append(report)
        alerts = create_alerts(session, documents)
        case = profiled_api.post(
            "/v1/cases",
            {
                "title": "ROI",
                "alert_ids": [a.id for a in alerts],
                "narrative": "Depósitos fraccionados en efectivo.",
            },
        )
        assert case.status_code == 201, case.text
        response = profiled_api.get(f"/v1/cases/{case.json()['id']}/exports/goaml")
        assert response.status_code == 200, response.text

        reports, errors = read(
            FileFormat.GOAML,
            response.content,
            **codes_from_profile(profile.goaml),
            goaml_institutions={"MX-RE-77": "MX-FI-0001"},
        )
        assert errors == []
        originals = {d["report_id"]: ReportV1.model_validate(d) for d in documents}
        assert sorted(r.report_id for r in reports) == sorted(originals)
        for back in reports:
            original = originals[back.report_id]
            assert back.institution_id == "MX-FI-0001"
            assert back.jurisdiction.value == "MX"
            assert back.report_type.value == "STR"
            assert back.subject_key == original.subject_key
            assert back.subject.subject_id == original.subject.subject_id
            assert back.subject.name == original.subject.name
            assert _ids(back) == _ids(original)
            txn, was = back.transaction, original.transaction
            assert txn is not None
            assert was is not None
            for name in ("transaction_id", "amount", "currency", "direction", "instrument"):
                assert getattr(txn, name) == getattr(was, name), name
            assert txn.timestamp == was.timestamp
            assert txn.account_id == was.account_id
            assert txn.channel == was.channel
            assert back.suspicion is not None
            assert back.suspicion.narrative == "Depósitos fraccionados en efectivo."
            assert back.suspicion.categories == original.suspicion.categories == ["structuring"]
