"""Four eyes: the filing decision is not the escalator's, and high-score false-positive
closures take a second person (``services.alerts.approvals``)."""

from __future__ import annotations

from typing import Any

import pytest

from services.alerts.approvals import AWAITING_HEADER, needs_second_approval
from services.alerts.enums import AlertStatus
from services.alerts.schemas import TransitionRequest
from services.auth.enums import Role
from services.auth.service import create_token
from services.config import Settings
from tests.fixtures.alerts import Api, audit_count, create_alerts, last_audit, unique_index
from tests.fixtures.reports import make_report

THRESHOLD = Settings.model_fields["false_positive_second_approval_score"].default
CLOSE_FP = {"to": "CLOSED", "disposition": "FALSE_POSITIVE", "rationale": "payroll, documented"}


def _person(api: Api, role: Role) -> dict[str, str]:
    """Bearer headers of one more person with ``role``."""
    return {"Authorization": f"Bearer {create_token(api.session, role=role)}"}


def _move(api: Api, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    version = api.client.get(path, headers=headers).json()["version"]
    return api.client.post(
        f"{path}/transitions", json={**body, "version": version}, headers=headers
    )


def _alert(api: Api, score: float) -> int:
    (alert,) = create_alerts(api.session, [make_report(unique_index())], score=score)
    return alert.id


class TestFilingDecision:
    @pytest.mark.parametrize("decision", ["FILED", "CLOSED"])
    def test_the_escalator_cannot_decide(self, api: Api, decision: str) -> None:
        alice, bob = _person(api, Role.SUPERVISOR), _person(api, Role.SUPERVISOR)
        path = f"/v1/alerts/{_alert(api, 0.5)}"
        for target in ("TRIAGE", "INVESTIGATING", "ESCALATED", "PENDING_FILING_DECISION"):
            assert _move(api, path, alice, {"to": target}).status_code == 200
        body: dict[str, Any] = {"to": decision}
        if decision == "FILED":
            body["filing_reference"] = "BSA-31000123456789"
        else:
            body |= {"disposition": "INSUFFICIENT_EVIDENCE", "rationale": "no more facts"}
        refused = _move(api, path, alice, body)
        assert refused.status_code == 403
        assert "someone other than whoever escalated" in refused.json()["detail"]
        assert api.client.get(path, headers=alice).json()["status"] == "PENDING_FILING_DECISION"
        decided = _move(api, path, bob, body)
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == decision

    def test_a_case_escalator_cannot_decide_either(self, api: Api) -> None:
        alice, bob = _person(api, Role.SUPERVISOR), _person(api, Role.SUPERVISOR)
        created = api.client.post(
            "/v1/cases", json={"title": "ring", "alert_ids": [_alert(api, 0.5)]}, headers=alice
        )
        assert created.status_code == 201, created.text
        path = f"/v1/cases/{created.json()['id']}"
        for target in ("TRIAGE", "INVESTIGATING", "ESCALATED", "PENDING_FILING_DECISION"):
            moved = _move(api, path, alice, {"to": target})
            assert moved.status_code == 200, moved.text
        filing = {"to": "FILED", "filing_reference": "BSA-31000123456789"}
        assert _move(api, path, alice, filing).status_code == 403
        assert _move(api, path, bob, filing).status_code == 200


class TestFalsePositiveSecondApproval:
    def test_above_the_score_it_takes_two_people(self, api: Api) -> None:
        alice, bob = _person(api, Role.INVESTIGATOR), _person(api, Role.INVESTIGATOR)
        path = f"/v1/alerts/{_alert(api, THRESHOLD)}"
        events = audit_count(api.session)

        proposed = _move(api, path, alice, CLOSE_FP)
        assert proposed.status_code == 202, proposed.text
        assert "needs a second person" in proposed.headers[AWAITING_HEADER]
        assert proposed.json()["status"] == "NEW"
        assert audit_count(api.session) == events + 1
        assert last_audit(api.session).action == "alert.closure_proposed"

        again = _move(api, path, alice, CLOSE_FP)  # the proposer alone never closes it
        assert again.status_code == 202
        assert again.json()["status"] == "NEW"
        assert audit_count(api.session) == events + 1

        confirmed = _move(api, path, bob, CLOSE_FP)
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "CLOSED"

    def test_a_move_in_between_voids_the_proposal(self, api: Api) -> None:
        alice, bob = _person(api, Role.INVESTIGATOR), _person(api, Role.INVESTIGATOR)
        path = f"/v1/alerts/{_alert(api, 0.99)}"
        assert _move(api, path, alice, CLOSE_FP).status_code == 202
        assert _move(api, path, bob, {"to": "TRIAGE"}).status_code == 200
        # Bob's closure is now a fresh proposal, not a confirmation of Alice's.
        assert _move(api, path, bob, CLOSE_FP).status_code == 202
        assert _move(api, path, alice, CLOSE_FP).status_code == 200

    @pytest.mark.parametrize(
        ("score", "disposition"),
        [(0.5, "FALSE_POSITIVE"), (0.99, "EXPLAINED_LEGITIMATE")],
    )
    def test_one_person_below_the_score_or_for_other_dispositions(
        self, api: Api, score: float, disposition: str
    ) -> None:
        path = f"/v1/alerts/{_alert(api, score)}"
        closed = _move(
            api, path, _person(api, Role.INVESTIGATOR), {**CLOSE_FP, "disposition": disposition}
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "CLOSED"

    def test_closing_the_case_is_no_way_around_it(self, api: Api) -> None:
        alice, bob = _person(api, Role.SUPERVISOR), _person(api, Role.SUPERVISOR)
        alert_id = _alert(api, 0.99)
        created = api.client.post(
            "/v1/cases", json={"title": "one", "alert_ids": [alert_id]}, headers=alice
        )
        path = f"/v1/cases/{created.json()['id']}"
        proposed = _move(api, path, alice, CLOSE_FP)
        assert proposed.status_code == 202, proposed.text
        assert api.client.get(f"/v1/alerts/{alert_id}", headers=alice).json()["status"] != "CLOSED"
        assert _move(api, path, bob, CLOSE_FP).status_code == 200
        assert api.client.get(f"/v1/alerts/{alert_id}", headers=alice).json()["status"] == "CLOSED"

    def test_the_threshold_is_a_setting_none_switches_it_off(self) -> None:
        request = TransitionRequest(
            to=AlertStatus.CLOSED, **{k: v for k, v in CLOSE_FP.items() if k != "to"}
        )
        assert needs_second_approval(request, 0.99, 0.95)
        assert not needs_second_approval(request, 0.94, 0.95)
        assert not needs_second_approval(request, 0.99, None)
        settings = Settings(false_positive_second_approval_score=0.5)
        assert settings.false_positive_second_approval_score == 0.5
