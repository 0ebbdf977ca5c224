"""Regulatory rules with the worked examples of DOMAIN.md §1.1, §1.3 and §1.5."""

from __future__ import annotations

from typing import Any

import polars as pl

from models.features import features_from_documents
from models.rules import RuleConfig, evaluate, rules_only_alert
from tests.models.test_features import report

MONDAY = "2026-03-09"


def cash(index: int, amount: str, *, at: str = f"{MONDAY}T15:00:00Z", **kwargs: Any) -> dict:
    return report(index, at=at, amount=amount, instrument="cash", **kwargs)


def as_entity(document: dict[str, Any]) -> dict[str, Any]:
    """The same report with a legal entity (a business) as its subject."""
    subject = {
        "subject_id": document["subject"]["subject_id"],
        "type": "entity",
        "identifiers": [{"type": "EIN", "value": "12-3456789", "country": "US"}],
    }
    return {**document, "subject": subject}


def hits(documents: list[dict[str, Any]], config: RuleConfig | None = None) -> list[list[str]]:
    frame = features_from_documents(documents).sort("seq")
    return [[hit.rule for hit in row] for row in evaluate(frame, config or RuleConfig())]


class TestCurrencyTransactionReport:
    def test_exactly_ten_thousand_does_not_trigger(self):
        assert hits([cash(1, "10000.00")]) == [[]]

    def test_one_cent_more_triggers(self):
        assert hits([cash(1, "10000.01")]) == [["us_ctr_cash_in"]]

    def test_deposits_aggregate_across_branches_on_the_crossing_report_only(self):
        documents = [
            cash(1, "6000.00", branch="B1", at=f"{MONDAY}T14:00:00Z"),
            cash(2, "4000.00", branch="B2", at=f"{MONDAY}T15:00:00Z"),  # total exactly $10,000
            cash(3, "0.01", branch="B3", at=f"{MONDAY}T16:00:00Z"),
            cash(4, "3000.00", branch="B1", at=f"{MONDAY}T17:00:00Z"),
        ]
        assert hits(documents) == [[], [], ["us_ctr_cash_in"], []]

    def test_cash_in_and_cash_out_are_never_netted(self):
        documents = [
            cash(1, "8000.00", at=f"{MONDAY}T14:00:00Z"),
            cash(2, "8000.00", direction="out", at=f"{MONDAY}T15:00:00Z"),
            cash(3, "3000.00", at=f"{MONDAY}T16:00:00Z"),
            cash(4, "2500.00", direction="out", at=f"{MONDAY}T17:00:00Z"),
        ]
        assert hits(documents) == [[], [], ["us_ctr_cash_in"], ["us_ctr_cash_out"]]

    def test_weekend_deposits_count_on_monday(self):
        documents = [
            cash(1, "6000.00", at="2026-03-07T15:00:00Z"),  # Saturday
            cash(2, "4500.00", at=f"{MONDAY}T15:00:00Z"),
        ]
        assert hits(documents) == [[], ["us_ctr_cash_in"]]

    def test_different_days_and_institutions_do_not_aggregate(self):
        documents = [
            cash(1, "6000.00", at="2026-03-10T15:00:00Z"),
            cash(2, "6000.00", at="2026-03-11T15:00:00Z"),
            cash(3, "6000.00", at="2026-03-11T16:00:00Z", institution="US-FI-0002"),
        ]
        assert hits(documents) == [[], [], []]

    def test_the_rule_can_be_switched_off(self):
        assert hits([cash(1, "20000.00")], RuleConfig(ctr_enabled=False)) == [[]]


class TestStructuring:
    def test_legs_just_below_the_threshold_in_one_day_force_an_alert(self):
        documents = [
            cash(i, amount, branch=f"B{i}", at=f"{MONDAY}T1{i}:00:00Z")
            for i, amount in enumerate(["9500.00", "9200.00", "9800.00"], start=1)
        ]
        frame = features_from_documents(documents).sort("seq")
        result = evaluate(frame, RuleConfig())
        assert [[hit.rule for hit in row] for row in result] == [
            [],
            ["us_ctr_cash_in", "structuring"],
            ["structuring"],
        ]
        hit = result[2][0]
        assert hit.forces_alert
        assert "3 cash deposits just below $10,000 on one business day" in hit.reason

    def test_on_a_legal_entity_the_hit_gives_its_reason_but_does_not_force(self):
        documents = [
            as_entity(cash(i, amount, branch=f"B{i}", at=f"{MONDAY}T1{i}:00:00Z"))
            for i, amount in enumerate(["9500.00", "9200.00", "9800.00"], start=1)
        ]
        frame = features_from_documents(documents).sort("seq")
        (hit,) = evaluate(
            frame,
            RuleConfig(
                structuring_forces_alert_entities=False, structuring_entity_min_near_share=None
            ),
        )[2]
        assert hit.rule == "structuring"
        assert not hit.forces_alert
        assert "3 cash deposits just below $10,000 on one business day" in hit.reason
        forced = evaluate(frame, RuleConfig(structuring_forces_alert_entities=True))[2]
        assert [hit.forces_alert for hit in forced] == [True]

    def test_an_entity_whose_deposits_cluster_under_the_threshold_still_forces(self):
        legs = [
            as_entity(cash(i, amount, branch=f"B{i}", at=f"{MONDAY}T1{i}:00:00Z"))
            for i, amount in enumerate(["9500.00", "9200.00", "9800.00"], start=1)
        ]
        # The week before: ten ordinary takings of $3,000, two a day.
        takings = [
            as_entity(cash(10 + 2 * day + n, "3000.00", at=f"2026-03-0{2 + day}T1{n + 1}:00:00Z"))
            for day in range(5)
            for n in range(2)
        ]
        config = RuleConfig()  # the default: entities force when their deposits cluster
        assert config.structuring_entity_min_near_share == 0.4
        # Three near-threshold legs of three cash deposits: they force.
        clustered = features_from_documents(legs).sort("seq")
        assert [hit.forces_alert for hit in evaluate(clustered, config)[2]] == [True]
        # Three of thirteen (0.23): ordinary takings that sometimes fall there; reason only.
        spread = features_from_documents([*takings, *legs]).sort("seq")
        (hit,) = evaluate(spread, config)[-1]
        assert hit.rule == "structuring"
        assert not hit.forces_alert
        assert hit.reason.endswith(
            "; 3 of the business's 13 cash deposits over 30 days were just below it"
        )
        # Without a share, an entity's hit never forces.
        unset = RuleConfig(
            structuring_forces_alert_entities=False, structuring_entity_min_near_share=None
        )
        assert [hit.forces_alert for hit in evaluate(clustered, unset)[2]] == [False]

    def test_legs_spread_over_three_days(self):
        documents = [cash(i, "9000.00", at=f"2026-03-{9 + i:02d}T15:00:00Z") for i in range(3)]
        assert hits(documents)[2] == ["structuring"]

    def test_one_leg_below_the_threshold_is_not_structuring(self):
        assert hits([cash(1, "9999.99")]) == [[]]

    def test_mexican_legs_under_the_usd_7500_equivalent(self):
        documents = [
            cash(
                i,
                "120000.00",
                currency="MXN",
                jurisdiction="MX",
                institution="MX-FI-0001",
                at=f"{MONDAY}T1{i}:00:00Z",
            )
            for i in range(1, 3)
        ]
        # MXN 120,000 = USD 6,956.52: in [0.8, 1) × 7,500; two legs sum over 7,500.
        assert hits(documents) == [[], ["structuring"]]


class TestMexico:
    def test_operacion_relevante_at_the_usd_7500_equivalent(self):
        documents = [
            cash(1, "129375.00", currency="MXN", jurisdiction="MX", institution="MX-FI-0001"),
            cash(
                2,
                "129374.99",
                currency="MXN",
                jurisdiction="MX",
                institution="MX-FI-0001",
                subject="S2",
            ),
            cash(3, "7500.00", jurisdiction="MX", institution="MX-FI-0001", subject="S3"),
        ]
        assert [row[:1] for row in hits(documents)] == [["mx_ror"], [], ["mx_ror"]]


class TestJurisdictions:
    def test_high_risk_forces_and_secrecy_only_explains(self):
        documents = [
            report(
                1,
                at=f"{MONDAY}T15:00:00Z",
                direction="out",
                counterparty={"account_id": "X", "country": "IR"},
            ),
            report(
                2,
                at=f"{MONDAY}T16:00:00Z",
                direction="out",
                counterparty={"account_id": "Y", "country": "KY"},
            ),
        ]
        frame = features_from_documents(documents).sort("seq")
        result = evaluate(frame, RuleConfig())
        assert [(h.rule, h.forces_alert) for h in result[0]] == [("high_risk_jurisdiction", True)]
        assert [(h.rule, h.forces_alert) for h in result[1]] == [("secrecy_jurisdiction", False)]
        assert "(IR)" in result[0][0].reason

    def test_the_list_is_configurable(self):
        documents = [
            report(
                1,
                at=f"{MONDAY}T15:00:00Z",
                direction="out",
                counterparty={"account_id": "X", "country": "CO"},
            )
        ]
        config = RuleConfig(high_risk_countries=("CO",))
        assert hits(documents, config) == [["high_risk_jurisdiction"]]
        frame = features_from_documents(documents)
        assert rules_only_alert(frame, config).to_list() == [True]
        assert rules_only_alert(frame, RuleConfig()).to_list() == [False]


def test_no_hits_on_ordinary_activity():
    documents = [report(i, at=f"{MONDAY}T1{i}:00:00Z", amount="250.00") for i in range(5)]
    frame = features_from_documents(documents)
    assert all(not row for row in evaluate(frame, RuleConfig()))
    assert isinstance(rules_only_alert(frame, RuleConfig()), pl.Series)
