from __future__ import annotations

from services.alerts.subjects import name_key
from services.auth.enums import Role
from tests.fixtures.alerts import create_alerts, store_reports, unique_index
from tests.fixtures.reports import make_report


def subject(name, identifiers=(), country="MX", **extra):
    return {
        "subject_id": f"S-{unique_index()}",
        "type": "person",
        "name": name,
        "country": country,
        "identifiers": list(identifiers),
        **extra,
    }


RFC = {"type": "RFC", "value": "GOMJ-800101-XX1", "country": "MX"}


class TestNameKey:
    def test_accents_case_punctuation_and_order_are_ignored(self):
        assert name_key("PÉREZ, Juan") == name_key("juan perez") == "juan perez"
        assert name_key("  ") == ""


class TestProfile:
    def test_identifier_links_merge_accounts_counterparties_alerts_and_cases(self, api, session):
        us_side = make_report(unique_index(), subject=subject("José Gómez", [RFC]))
        us_side["transaction"]["counterparty"] = {"account_id": "CP-1", "country": "MX"}
        mx_side = make_report(
            unique_index(),
            institution_id="MX-FI-0001",
            jurisdiction="MX",
            subject=subject(
                "Gomez Jose", [{"type": "RFC", "value": "gomj800101xx1", "country": "MX"}]
            ),
        )
        mx_side["transaction"]["account_id"] = "MX-ACC-1"
        alerts = create_alerts(session, [us_side, mx_side])
        assert alerts[0].subject_key == alerts[1].subject_key  # same normalised RFC
        case = api.post(
            "/v1/cases", {"title": "x", "alert_ids": [alerts[0].id], "jurisdiction": "US"}
        )
        assert case.status_code == 201

        response = api.get(f"/v1/subjects/{alerts[0].subject_key}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["institutions"] == ["MX-FI-0001", "US-FI-0001"]
        assert {a["account_id"] for a in body["accounts"]} == {
            us_side["transaction"]["account_id"],
            "MX-ACC-1",
        }
        (counterparty,) = body["counterparties"]
        assert counterparty["account_id"] == "CP-1"
        assert counterparty["total"] == us_side["transaction"]["amount"]
        assert {a["id"] for a in body["alerts"]} == {a.id for a in alerts}
        assert [c["id"] for c in body["cases"]] == [case.json()["id"]]

    def test_name_links_are_weaker_and_carry_confidence(self, api, session):
        strong = subject(
            "María de la Luz Ortega",
            [{"type": "CURP", "value": "OEML800101MCHRRZ01", "country": "MX"}],
            birth_date="1980-01-01",
        )
        same_name_country_birth = subject("ORTEGA, María de la Luz", birth_date="1980-01-01")
        same_name_only = subject("Maria de la Luz Ortega", country="US")
        other_type = {**subject("Maria de la Luz Ortega"), "type": "entity"}
        alerts = create_alerts(
            session,
            [
                make_report(unique_index(), subject=s)
                for s in (strong, same_name_country_birth, same_name_only, other_type)
            ],
        )
        body = api.get(f"/v1/subjects/{alerts[0].subject_key}").json()
        links = {link["subject_key"]: link for link in body["links"]}
        assert links[alerts[1].subject_key]["link"] == "name"
        assert links[alerts[1].subject_key]["confidence"] == 0.9
        assert links[alerts[1].subject_key]["basis"] == [
            "same normalised name",
            "same country",
            "same birth date",
        ]
        assert links[alerts[2].subject_key]["confidence"] == 0.5
        assert alerts[3].subject_key not in links  # a company is not a person
        # Name links are shown, never merged into the profile.
        assert body["linked_subject_keys"] == []
        assert {a["id"] for a in body["alerts"]} == {alerts[0].id}

    def test_reporters_and_unknown_subjects(self, api, session):
        (report,) = store_reports(session, [make_report(unique_index())])
        assert api.get(f"/v1/subjects/{report.subject_key}", role=Role.REPORTER).status_code == 403
        assert api.get(f"/v1/subjects/{report.subject_key}", role=Role.AUDITOR).status_code == 200
        assert api.get("/v1/subjects/SSN-nobody").status_code == 404
