"""The alert policy's pure decisions: budget quantile, suppression, material updates."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from services.alerts.policy import (
    Action,
    AlertPolicy,
    Candidate,
    Closure,
    Episode,
    Threshold,
    budget_threshold,
    decide,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _candidate(score: float, rules: tuple[str, ...] = ("structuring",), **extra) -> Candidate:
    values = {
        "institution_id": "US-FI-0001",
        "report_id": f"R-{score}",
        "subject_key": "S1",
        "jurisdiction": "US",
        "score": score,
        "rules": frozenset(rules),
        "forced_rules": frozenset(),
        "typology": "structuring",
        **extra,
    }
    return Candidate(**values)


class TestBudgetThreshold:
    scores = np.linspace(0.0, 0.99, 100)

    def test_per_day_lets_the_budgeted_subjects_through(self):
        policy = AlertPolicy(budget_per_day=1, budget_floor=0.0)
        estimate = budget_threshold(self.scores, reports=500, span_days=10, policy=policy)
        assert estimate is not None
        assert int((self.scores >= estimate.threshold).sum()) == 10

    def test_share_of_active_subjects(self):
        policy = AlertPolicy(budget_share=0.05, budget_floor=0.0)
        estimate = budget_threshold(self.scores, reports=500, span_days=10, policy=policy)
        assert estimate is not None
        assert int((self.scores >= estimate.threshold).sum()) == 5

    def test_never_below_the_floor(self):
        policy = AlertPolicy(budget_per_day=50, budget_floor=0.3)
        estimate = budget_threshold(self.scores, reports=500, span_days=10, policy=policy)
        assert estimate is not None
        assert estimate.threshold == pytest.approx(0.3)

    def test_too_few_reports_say_nothing(self):
        policy = AlertPolicy(budget_per_day=1)
        assert budget_threshold(self.scores[:5], reports=5, span_days=1, policy=policy) is None


class TestDecide:
    def _decide(self, candidates, episodes=None, closures=None, threshold=0.5):
        return decide(
            candidates,
            thresholds={"US-FI-0001": Threshold(threshold, None)},
            episodes={} if episodes is None else episodes,
            closures=closures or {},
            policy=AlertPolicy(material_margin=0.1),
        )

    def test_open_then_join_and_material_rises(self):
        decisions = self._decide([_candidate(0.6), _candidate(0.65), _candidate(0.8)])
        assert [d.action for d in decisions] == [Action.OPEN, Action.JOIN, Action.JOIN]
        assert [d.material for d in decisions] == [False, False, True]

    def test_a_new_rule_is_material(self):
        episodes = {("S1", "US"): Episode(7, 0.9, {"structuring"}, "structuring")}
        (decision,) = self._decide([_candidate(0.6, ("structuring", "mx_ror"))], episodes)
        assert (decision.action, decision.material) == (Action.JOIN, True)

    def test_forced_below_threshold_still_alerts(self):
        forced = _candidate(0.1, ("high_risk_jurisdiction",), forced_rules=frozenset({"x"}))
        assert self._decide([forced])[0].action is Action.OPEN

    def test_suppression_and_what_lifts_it(self):
        closures = {("S1", "US"): [Closure(0.7, frozenset({"structuring"}), "structuring", NOW)]}
        same = self._decide([_candidate(0.75)], closures=closures)
        assert same[0].action is Action.SUPPRESS
        higher = self._decide([_candidate(0.81)], closures=closures)
        assert higher[0].action is Action.OPEN
        new_rule = self._decide([_candidate(0.7, ("structuring", "mx_ror"))], closures=closures)
        assert new_rule[0].action is Action.OPEN
