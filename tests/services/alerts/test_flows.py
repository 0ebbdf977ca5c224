"""The alert policy in the store: episodes, suppression, budget thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from refdata.wire import ReportV1
from services.alerts.enums import AlertStatus, Disposition
from services.alerts.flows import open_quiet_picks, route_alerts
from services.alerts.orm import Alert, AlertReport, AlertThreshold, HeldCandidate
from services.alerts.policy import BUDGET_SPENT, Action, AlertPolicy
from services.alerts.repository import AlertRepository
from services.alerts.schemas import AlertCreate
from services.alerts.service import alert_to_message
from services.audit.orm import AuditEvent
from services.auth.enums import Role
from services.cases.repository import CaseRepository
from services.kit.time import utc_now
from services.reports.orm import Report
from tests.fixtures.alerts import alert_for, store_reports, unique_index
from tests.fixtures.reports import make_report

THRESHOLD = 0.5
STRUCTURING = [{"rule": "structuring", "forces_alert": False, "reason": "sub-threshold cash"}]
HIGH_RISK = [{"rule": "high_risk_jurisdiction", "forces_alert": True, "reason": "FATF list"}]


def _subject(tag: int) -> dict[str, Any]:
    return {
        "subject_id": f"EP-{tag}",
        "type": "person",
        "name": f"Episode Subject {tag}",
        "country": "US",
        "identifiers": [{"type": "SSN", "value": f"901-00-{tag % 10000:04d}", "country": "US"}],
    }


def _reports(session: Any, count: int, tag: int, **overrides: Any) -> list[ReportV1]:
    return store_reports(
        session,
        [make_report(unique_index(), subject=_subject(tag), **overrides) for _ in range(count)],
    )


def _candidate(report: ReportV1, score: float = 0.8, **overrides: Any) -> AlertCreate:
    values: dict[str, Any] = {"score": score, "rule_hits": STRUCTURING, "typology": "structuring"}
    values.update(overrides)
    return alert_for(report, **values)


def _route(session: Any, items: list[AlertCreate], policy: AlertPolicy | None = None) -> Any:
    return route_alerts(session, items, policy or AlertPolicy(), model_threshold=THRESHOLD)


def _close(session: Any, alert_id: int, disposition: Disposition) -> None:
    alert = session.get(Alert, alert_id)
    alert.status = AlertStatus.CLOSED.value
    alert.disposition = disposition.value
    alert.decided_at = utc_now()
    session.flush()


def _alerts_of(session: Any, report: ReportV1) -> list[Alert]:
    statement = select(Alert).where(Alert.subject_key == report.subject_key).order_by(Alert.id)
    return list(session.scalars(statement))


class TestEpisodes:
    def test_reports_of_a_subject_join_its_open_alert(self, session):
        tag = unique_index()
        first, second, third = _reports(session, 3, tag)
        routed = _route(session, [_candidate(first, 0.7)])
        assert routed.decisions == [Action.OPEN]
        routed = _route(session, [_candidate(second, 0.75), _candidate(third, 0.95)])
        assert routed.decisions == [Action.JOIN, Action.JOIN]
        (alert,) = _alerts_of(session, first)
        session.refresh(alert)
        assert alert.report_count == 3
        assert alert.score == pytest.approx(0.95)
        assert alert.report_id == first.report_id
        assert alert.version == 1  # the evidence grew; the investigator's version did not move
        links = session.scalars(select(AlertReport).where(AlertReport.alert_id == alert.id))
        assert {link.report_id for link in links} == {r.report_id for r in (first, second, third)}
        # The rise 0.7 → 0.95 is material: the alert is published again, as an update.
        assert [a.id for a in routed.published] == [alert.id]
        assert routed.events == {alert.id: "updated"}
        message = alert_to_message(routed.published[0], routed.events[alert.id])
        assert b'"event":"updated"' in message
        assert b'"report_count":3' in message

    def test_one_batch_joins_several_alerts(self, session):
        pairs = [_reports(session, 2, unique_index()) for _ in range(3)]
        _route(session, [_candidate(first) for first, _ in pairs])
        routed = _route(session, [_candidate(second, 0.95) for _, second in pairs])
        assert routed.decisions == [Action.JOIN] * 3
        for first, _ in pairs:
            (alert,) = _alerts_of(session, first)
            session.refresh(alert)
            assert (alert.report_count, alert.score) == (2, pytest.approx(0.95))

    def test_a_closed_alert_keeps_its_state_when_a_late_join_lands(self, session):
        first, second = _reports(session, 2, unique_index())
        (alert,) = _route(session, [_candidate(first)]).published
        routed = _route(session, [_candidate(second)])
        assert routed.decisions == [Action.JOIN]
        _close(session, alert.id, Disposition.DUPLICATE)
        AlertRepository(session).update_episodes(
            [
                {
                    "alert_id": alert.id,
                    "score": 0.99,
                    "typology": None,
                    "reasons": [],
                    "rule_hits": [],
                    "report_count": 9,
                    "last_report_at": None,
                    "updated_at": utc_now(),
                },
                {
                    "alert_id": -1,
                    "score": 0.5,
                    "typology": None,
                    "reasons": [],
                    "rule_hits": [],
                    "report_count": 1,
                    "last_report_at": None,
                    "updated_at": utc_now(),
                },
            ]
        )
        session.refresh(alert)
        assert (alert.status, alert.report_count) == ("CLOSED", 2)

    def test_small_rise_joins_without_publishing(self, session):
        first, second = _reports(session, 2, unique_index())
        _route(session, [_candidate(first, 0.7)])
        routed = _route(session, [_candidate(second, 0.72)])
        assert routed.decisions == [Action.JOIN]
        assert routed.published == []

    def test_same_batch_opens_once(self, session):
        reports = _reports(session, 4, unique_index())
        routed = _route(session, [_candidate(report) for report in reports])
        assert routed.decisions == [Action.OPEN] + [Action.JOIN] * 3
        assert len(_alerts_of(session, reports[0])) == 1
        assert len(routed.published) == 1
        assert routed.events == {routed.published[0].id: "opened"}

    def test_redelivered_report_joins_nothing_twice(self, session):
        first, second = _reports(session, 2, unique_index())
        _route(session, [_candidate(first), _candidate(second)])
        routed = _route(session, [_candidate(second), _candidate(first)])
        assert routed.decisions == []
        (alert,) = _alerts_of(session, first)
        session.refresh(alert)
        assert alert.report_count == 2

    def test_below_threshold_raises_nothing(self, session):
        (report,) = _reports(session, 1, unique_index())
        routed = _route(session, [_candidate(report, 0.3)])
        assert routed.decisions == [Action.BELOW]
        assert _alerts_of(session, report) == []

    def test_jurisdictions_are_separate_episodes(self, session):
        tag = unique_index()
        (us,) = _reports(session, 1, tag)
        (mx,) = _reports(session, 1, tag, institution_id="MX-FI-0001", jurisdiction="MX")
        routed = _route(session, [_candidate(us), _candidate(mx)])
        assert routed.decisions == [Action.OPEN, Action.OPEN]

    def test_a_new_alert_opens_only_after_closure(self, session):
        first, second, third = _reports(session, 3, unique_index())
        (opened,) = _route(session, [_candidate(first)]).published
        _close(session, opened.id, Disposition.INSUFFICIENT_EVIDENCE)
        routed = _route(session, [_candidate(second)])
        assert routed.decisions == [Action.OPEN]
        assert routed.published[0].id != opened.id
        assert _route(session, [_candidate(third)]).decisions == [Action.JOIN]

    def test_exports_read_every_report_of_the_episode(self, session):
        reports = _reports(session, 3, unique_index())
        _route(session, [_candidate(report) for report in reports])
        alerts = _alerts_of(session, reports[0])
        found = CaseRepository(session).reports_of_alerts(alerts)
        assert {r.report_id for r in found} == {r.report_id for r in reports}

    def test_reopen_is_refused_while_the_next_episode_is_open(self, api, session):
        first, second = _reports(session, 2, unique_index())
        (closed,) = _route(session, [_candidate(first)]).published
        _close(session, closed.id, Disposition.EXPLAINED_LEGITIMATE)
        (current,) = _route(session, [_candidate(second)]).published
        closed_version = session.get(Alert, closed.id).version
        response = api.post(
            f"/v1/alerts/{closed.id}/transitions",
            {"to": "INVESTIGATING", "rationale": "new facts"},
            role=Role.SUPERVISOR,
            if_match=closed_version,
        )
        assert response.status_code == 409
        assert response.json()["errors"]["open_alert_id"] == current.id


class TestLazyTyping:
    """The worker sends candidates untyped: only those the policy lets through are typed."""

    def test_only_candidates_reaching_their_threshold_or_forced_are_typed(self, session):
        tag = unique_index()
        below, passing, forced = _reports(session, 3, tag)
        asked: list[str] = []

        def typing(items: Any) -> list[str | None]:
            asked.extend(item.report_id for item in items)
            return ["fan_out" for _ in items]

        routed = route_alerts(
            session,
            [
                _candidate(below, 0.2, typology=None),
                _candidate(passing, 0.8, typology=None),
                _candidate(forced, 0.1, typology=None, rule_hits=HIGH_RISK),
            ],
            AlertPolicy(),
            model_threshold=THRESHOLD,
            typing=typing,
        )
        assert asked == [passing.report_id, forced.report_id]
        assert routed.decisions == [Action.BELOW, Action.OPEN, Action.JOIN]
        (alert,) = _alerts_of(session, passing)
        assert alert.typology == "fan_out"
        links = session.scalars(
            select(AlertReport.typology).where(AlertReport.alert_id == alert.id)
        ).all()
        assert sorted(links) == ["fan_out", "fan_out"]

    def test_a_typed_candidate_is_suppressed_by_its_pattern(self, session):
        reports = _reports(session, 2, unique_index())
        (opened,) = _route(session, [_candidate(reports[0], 0.7)]).published
        _close(session, opened.id, Disposition.FALSE_POSITIVE)
        routed = route_alerts(
            session,
            [_candidate(reports[1], 0.75, typology=None)],
            AlertPolicy(),
            model_threshold=THRESHOLD,
            typing=lambda items: ["structuring" for _ in items],
        )
        assert routed.decisions == [Action.SUPPRESS]

    def test_nothing_is_typed_when_nothing_passes(self, session):
        (report,) = _reports(session, 1, unique_index())

        def typing(items: Any) -> list[str | None]:
            raise AssertionError("typed a candidate below its threshold")

        routed = route_alerts(
            session,
            [_candidate(report, 0.3, typology=None)],
            AlertPolicy(),
            model_threshold=THRESHOLD,
            typing=typing,
        )
        assert routed.decisions == [Action.BELOW]


class TestSuppression:
    def _closed_fp(self, session: Any, tag: int, score: float = 0.7) -> list[ReportV1]:
        reports = _reports(session, 4, tag)
        (opened,) = _route(session, [_candidate(reports[0], score)]).published
        _close(session, opened.id, Disposition.FALSE_POSITIVE)
        return reports[1:]

    def test_same_pattern_is_suppressed(self, session):
        later, *_ = self._closed_fp(session, unique_index())
        routed = _route(session, [_candidate(later, 0.75)])
        assert routed.decisions == [Action.SUPPRESS]
        assert len(_alerts_of(session, later)) == 1

    def test_material_rise_lifts_suppression(self, session):
        later, *_ = self._closed_fp(session, unique_index())
        assert _route(session, [_candidate(later, 0.85)]).decisions == [Action.OPEN]

    def test_a_new_forcing_rule_lifts_suppression(self, session):
        later, *_ = self._closed_fp(session, unique_index())
        routed = _route(session, [_candidate(later, 0.6, rule_hits=STRUCTURING + HIGH_RISK)])
        assert routed.decisions == [Action.OPEN]

    def test_another_typology_is_another_pattern(self, session):
        later, *_ = self._closed_fp(session, unique_index())
        routed = _route(session, [_candidate(later, 0.7, typology="rapid_movement")])
        assert routed.decisions == [Action.OPEN]

    def test_suppression_ends_after_the_configured_days(self, session):
        later, *_ = self._closed_fp(session, unique_index())
        session.execute(
            update(Alert)
            .where(Alert.subject_key == later.subject_key)
            .values(decided_at=utc_now() - timedelta(days=8))
        )
        policy = AlertPolicy(suppression_days=7)
        assert _route(session, [_candidate(later)], policy).decisions == [Action.OPEN]

    def test_other_dispositions_suppress_nothing(self, session):
        reports = _reports(session, 2, unique_index())
        (opened,) = _route(session, [_candidate(reports[0])]).published
        _close(session, opened.id, Disposition.INSUFFICIENT_EVIDENCE)
        assert _route(session, [_candidate(reports[1])]).decisions == [Action.OPEN]


class TestBudget:
    def _stream(self, session: Any, institution: str, days: int, per_day: int) -> list[ReportV1]:
        """Reports of many subjects over ``days``, with scores spread over 0..1."""
        start = datetime(2026, 10, 1, 12, tzinfo=UTC)
        documents = []
        for day in range(days):
            for n in range(per_day):
                index = unique_index()
                moment = (start + timedelta(days=day, minutes=n)).isoformat()
                document = make_report(index, institution_id=institution, subject=_subject(index))
                document["transaction"]["timestamp"] = moment
                documents.append(document)
        reports = store_reports(session, documents)
        for position, report in enumerate(reports):
            session.execute(
                update(Report)
                .where(Report.institution_id == institution, Report.report_id == report.report_id)
                .values(score=(position * 37 % 100) / 100)
            )
        return reports

    def test_threshold_follows_the_budget_and_is_versioned(self, session):
        institution = f"US-FI-B{unique_index()}"
        reports = self._stream(session, institution, days=10, per_day=20)
        policy = AlertPolicy(budget_per_day=2, budget_window_days=14)
        routed = _route(session, [_candidate(reports[-1], 0.95)], policy)
        threshold = routed.thresholds[institution]
        assert threshold.version == 1
        # 200 subjects over ~9.5 days, 2/day: about the 19th highest of 200 scores 0..0.99.
        assert 0.85 <= threshold.value <= 0.95
        (alert,) = routed.published
        assert alert.threshold_version == 1
        assert alert.threshold == pytest.approx(threshold.value)
        stored = session.scalars(
            select(AlertThreshold).where(AlertThreshold.institution_id == institution)
        ).all()
        assert [row.version for row in stored] == [1]
        audit = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "alert.threshold", AuditEvent.entity_id == institution)
        )
        assert audit == 1

    def test_latest_thresholds_reads_each_institutions_newest_version_at_once(self, session):
        first, second, none = (f"US-FI-L{unique_index()}" for _ in range(3))
        now = utc_now()
        for institution, version, value in ((first, 1, 0.3), (first, 2, 0.4), (second, 1, 0.7)):
            session.add(
                AlertThreshold(
                    institution_id=institution,
                    version=version,
                    threshold=value,
                    computed_for=now,
                    window_days=14,
                    budget="2 alerts/day per institution",
                    subjects=100,
                    reports=1000,
                    created_at=now,
                )
            )
        session.flush()
        latest = AlertRepository(session).latest_thresholds([first, second, none])
        assert {key: (row.version, row.threshold) for key, row in latest.items()} == {
            first: (2, 0.4),
            second: (1, 0.7),
        }
        assert AlertRepository(session).latest_thresholds([]) == {}

    def test_several_institutions_windows_are_read_in_one_go_as_one_by_one(self, session):
        """What one batch reads when several institutions' cadences come at once: each over its
        own window, the same numbers as reading them one at a time."""
        first, second = (f"US-FI-W{unique_index()}" for _ in range(2))
        self._stream(session, first, days=10, per_day=20)
        reports = self._stream(session, second, days=6, per_day=15)
        _route(session, [_candidate(reports[3])])
        windows = {
            first: (datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC)),
            second: (datetime(2026, 9, 20, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)),
        }
        repository = AlertRepository(session)
        together = repository.window_scores_of(windows)
        opened = repository.opened_in_windows(windows)
        for institution, (since, until) in windows.items():
            alone = repository.window_scores(institution, since, until)
            assert together[institution].subjects == alone.subjects
            assert sorted(together[institution].unalerted) == sorted(alone.unalerted)
            assert together[institution].reports == alone.reports
            assert together[institution].earliest == alone.earliest
            assert opened[institution] == repository.opened_in_window(institution, since, until)
        # What ranked spending reads: the same counts, one row per institution.
        counts = repository.window_counts_of(windows)
        for institution in windows:
            assert counts[institution].unalerted == []
            assert (
                counts[institution].subjects,
                counts[institution].reports,
                counts[institution].earliest,
            ) == (
                together[institution].subjects,
                together[institution].reports,
                together[institution].earliest,
            )
        empty = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC))
        assert (
            repository.window_counts_of({first: empty})[first]
            == (repository.window_scores_of({first: empty})[first])
        )
        assert repository.window_counts_of({}) == {}
        assert (together[first].subjects, together[second].subjects) == (100, 90)
        assert (len(together[second].unalerted), opened[second], opened[first]) == (89, 1, 0)

    def test_a_version_another_worker_took_is_not_inserted_again(self, session):
        taken, free = (f"US-FI-V{unique_index()}" for _ in range(2))
        now = utc_now()

        def row(institution: str) -> dict[str, Any]:
            return {
                "institution_id": institution,
                "version": 1,
                "threshold": 0.5,
                "computed_for": now,
                "window_days": 14,
                "budget": "2/day",
                "subjects": 10,
                "reports": 100,
                "created_at": now,
            }

        repository = AlertRepository(session)
        assert repository.insert_thresholds([row(taken)]) == {taken}
        assert repository.insert_thresholds([row(taken), row(free)]) == {free}
        assert repository.insert_thresholds([]) == set()

    def test_a_model_alert_under_the_budget_threshold_is_below(self, session):
        institution = f"US-FI-B{unique_index()}"
        reports = self._stream(session, institution, days=10, per_day=20)
        policy = AlertPolicy(budget_per_day=2)
        routed = _route(session, [_candidate(reports[-1], 0.6)], policy)
        assert routed.decisions == [Action.BELOW]

    def test_forcing_rules_still_force(self, session):
        institution = f"US-FI-B{unique_index()}"
        reports = self._stream(session, institution, days=10, per_day=20)
        policy = AlertPolicy(budget_per_day=2)
        routed = _route(session, [_candidate(reports[-1], 0.1, rule_hits=HIGH_RISK)], policy)
        assert routed.decisions == [Action.OPEN]

    def test_the_version_is_kept_until_the_cadence_has_passed(self, session):
        institution = f"US-FI-B{unique_index()}"
        reports = self._stream(session, institution, days=10, per_day=20)
        policy = AlertPolicy(budget_per_day=2, budget_recompute_hours=6)
        first = _route(session, [_candidate(reports[-1], 0.1)], policy).thresholds[institution]
        again = _route(session, [_candidate(reports[-2], 0.1)], policy).thresholds[institution]
        assert again == first

    def test_subjects_with_an_open_alert_take_no_place_in_the_budget(self, session):
        institution = f"US-FI-B{unique_index()}"
        reports = self._stream(session, institution, days=10, per_day=20)
        until = datetime(2026, 10, 11, 12, tzinfo=UTC)
        since = until - timedelta(days=14)
        repository = AlertRepository(session)
        window = repository.window_scores(institution, since, until)
        assert (len(window.unalerted), window.subjects, window.reports) == (200, 200, 200)
        # A subject alerted before the window, still open: it cannot open a second alert.
        held = reports[5]
        _route(session, [_candidate(held, transaction_at=since - timedelta(days=1))])
        window = repository.window_scores(institution, since, until)
        assert (len(window.unalerted), window.subjects, window.reports) == (199, 200, 200)
        # Nor can one alerted inside the window; both stay active subjects of the window.
        (inside,) = _route(session, [_candidate(reports[6])]).published
        window = repository.window_scores(institution, since, until)
        assert (len(window.unalerted), window.subjects, window.reports) == (198, 200, 200)
        assert repository.opened_in_window(institution, since, until) == 1
        # Closed, it may open a new alert again: back among the budget's subjects, but its
        # alert was opened in the window and still counts as spent.
        _close(session, inside.id, Disposition.DUPLICATE)
        window = repository.window_scores(institution, since, until)
        assert len(window.unalerted) == 199
        assert repository.opened_in_window(institution, since, until) == 1

    @staticmethod
    def _low(reports: list[ReportV1]) -> list[ReportV1]:
        """The stream's reports scored under 0.2 (see ``_stream``)."""
        return [report for position, report in enumerate(reports) if position * 37 % 100 < 20]

    def test_alerts_opened_in_the_window_spend_the_budget(self, session):
        institution = f"US-FI-B{unique_index()}"
        reports = self._stream(session, institution, days=10, per_day=20)
        # Five alerts already opened in the window (low scores: they do not move the ranking;
        # two of them forced, which spend the budget too).
        low = self._low(reports)[:5]
        _route(session, [_candidate(report) for report in low[:3]])
        _route(session, [_candidate(report, 0.1, rule_hits=HIGH_RISK) for report in low[3:]])
        policy = AlertPolicy(budget_per_day=2, budget_window_days=14)
        routed = _route(session, [_candidate(reports[-1], 0.95)], policy)
        # 200 subjects over 9.01 days at 2/day: k = 18, 5 spent, so the 13th highest of the
        # 195 subjects without an alert (scores 0..0.99, each twice): 0.93 (blind to what it
        # spent, the budget took the 18th highest, 0.91).
        assert routed.thresholds[institution].value == pytest.approx(0.93)
        assert routed.decisions == [Action.OPEN]
        audit = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "alert.threshold", AuditEvent.entity_id == institution
            )
        ).one()
        assert (audit.after["allowance"], audit.after["opened"]) == (18, 5)

    def test_a_spent_budget_opens_nothing_but_forced_alerts(self, session):
        institution = f"US-FI-B{unique_index()}"
        reports = self._stream(session, institution, days=10, per_day=20)
        # 18 alerts opened in the window, forced ones: k = 18 is spent.
        spent = self._low(reports)[:18]
        _route(session, [_candidate(report, 0.1, rule_hits=HIGH_RISK) for report in spent])
        policy = AlertPolicy(budget_per_day=2, budget_window_days=14)
        routed = _route(session, [_candidate(reports[-1], 0.99)], policy)
        threshold = routed.thresholds[institution]
        assert threshold.value == BUDGET_SPENT
        assert routed.decisions == [Action.BELOW]
        stored = session.scalars(
            select(AlertThreshold).where(AlertThreshold.institution_id == institution)
        ).one()
        assert stored.threshold == BUDGET_SPENT
        # Forcing rules still force, and the alert records the spent budget's threshold.
        routed = _route(session, [_candidate(reports[-2], 0.3, rule_hits=HIGH_RISK)], policy)
        assert routed.decisions == [Action.OPEN]
        (alert,) = routed.published
        assert (alert.threshold, alert.threshold_version) == (BUDGET_SPENT, threshold.version)


class TestRankedSpending:
    """Ranked spending in the store: held reports, picked at the next recompute."""

    POLICY = AlertPolicy(
        budget_share=0.02, budget_min_subjects=50, budget_window_days=14, budget_spending="ranked"
    )

    def _held(self, session: Any, institution: str) -> list[HeldCandidate]:
        statement = select(HeldCandidate).where(HeldCandidate.institution_id == institution)
        return list(session.scalars(statement))

    def test_a_held_report_opens_its_alert_at_the_next_recompute(self, session):
        institution = f"US-FI-R{unique_index()}"
        reports = TestBudget()._stream(session, institution, days=10, per_day=20)
        first = datetime(2026, 10, 10, 14, tzinfo=UTC)
        high, low = reports[-1], reports[-2]
        # The first recompute has nothing held to pick: the report scoring 0.9 opens nothing
        # as it arrives, and is held.
        routed = _route(session, [_candidate(high, 0.9, transaction_at=first)], self.POLICY)
        assert routed.decisions == [Action.BELOW]
        assert routed.published == []
        assert routed.thresholds[institution].ranked
        (held,) = self._held(session, institution)
        assert (held.report_id, held.score) == (high.report_id, 0.9)
        # Within the cadence nothing is recomputed: a later report of another subject is below
        # the floor and is not held either.
        again = _route(
            session,
            [_candidate(low, 0.2, transaction_at=first + timedelta(hours=1))],
            self.POLICY,
        )
        assert again.decisions == [Action.BELOW]
        assert again.published == []
        assert len(self._held(session, institution)) == 1
        # Seven hours later any candidate brings the recompute, which picks the held subject.
        other = reports[-3]
        later = _route(
            session,
            [_candidate(other, 0.2, transaction_at=first + timedelta(hours=7))],
            self.POLICY,
        )
        (alert,) = later.published
        assert (alert.report_id, alert.score, alert.typology) == (
            high.report_id,
            0.9,
            "structuring",
        )
        assert alert.rule_hits == STRUCTURING
        assert (alert.threshold, alert.threshold_version) == (0.9, 2)
        assert later.events[alert.id] == "opened"
        assert later.decisions == [Action.BELOW]  # the batch's own report
        assert self._held(session, institution) == []
        links = session.scalars(select(AlertReport).where(AlertReport.alert_id == alert.id)).all()
        assert [link.report_id for link in links] == [high.report_id]
        audit = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "alert.threshold", AuditEvent.entity_id == institution)
            .order_by(AuditEvent.id)
        ).all()
        assert [event.after.get("picked") for event in audit] == [0, 1]

    def test_forced_reports_open_at_once_and_joins_need_the_versions_bar(self, session):
        institution = f"US-FI-R{unique_index()}"
        reports = TestBudget()._stream(session, institution, days=10, per_day=20)
        first = datetime(2026, 10, 10, 14, tzinfo=UTC)
        subject = _reports(session, 3, unique_index(), institution_id=institution)
        forced = _candidate(subject[0], 0.1, rule_hits=HIGH_RISK, transaction_at=first)
        routed = _route(session, [forced], self.POLICY)
        assert routed.decisions == [Action.OPEN]
        # The first version picked nothing: its bar is the floor, and the subject's reports
        # from there join its open alert; lower ones do not, and are not held.
        bar = routed.thresholds[institution].value
        assert bar == self.POLICY.budget_floor
        joined = _route(
            session,
            [
                _candidate(subject[1], 0.5, transaction_at=first + timedelta(hours=1)),
                _candidate(subject[2], 0.2, transaction_at=first + timedelta(hours=2)),
            ],
            self.POLICY,
        )
        assert joined.decisions == [Action.JOIN, Action.BELOW]
        assert self._held(session, institution) == []
        assert reports  # the window's subjects

    def test_a_false_positive_closure_suppresses_a_pick(self, session):
        institution = f"US-FI-R{unique_index()}"
        TestBudget()._stream(session, institution, days=10, per_day=20)
        first = datetime(2026, 10, 10, 14, tzinfo=UTC)
        subject = _reports(session, 3, unique_index(), institution_id=institution)
        (opened,) = _route(
            session, [_candidate(subject[0], 0.8, rule_hits=HIGH_RISK, transaction_at=first)]
        ).published
        _close(session, opened.id, Disposition.FALSE_POSITIVE)
        # The same pattern (no higher score, no new rule), held, then picked: the closure
        # holds it back, and no new alert opens.
        _route(
            session,
            [_candidate(subject[1], 0.6, rule_hits=[], transaction_at=first)],
            self.POLICY,
        )
        later = _route(
            session,
            [_candidate(subject[2], 0.1, rule_hits=[], transaction_at=first + timedelta(hours=7))],
            self.POLICY,
        )
        assert later.published == []
        assert len(_alerts_of(session, subject[0])) == 1
        assert self._held(session, institution) == []  # picked, suppressed: released

    def test_an_unreadable_held_report_is_released_not_retried(self, session):
        institution = f"US-FI-R{unique_index()}"
        reports = TestBudget()._stream(session, institution, days=10, per_day=20)
        first = datetime(2026, 10, 10, 14, tzinfo=UTC)
        high, other = reports[-1], reports[-3]
        _route(session, [_candidate(high, 0.9, transaction_at=first)], self.POLICY)
        (held,) = self._held(session, institution)
        held.payload = {"report_id": high.report_id}  # what another version may have written
        session.flush()
        later = _route(
            session,
            [_candidate(other, 0.2, transaction_at=first + timedelta(hours=7))],
            self.POLICY,
        )
        assert later.published == []
        assert later.decisions == [Action.BELOW]
        assert self._held(session, institution) == []

    def _quiet(self, session: Any, institution: str, policy: AlertPolicy | None = None) -> Any:
        """A sweep once every held report has waited (quiet since a moment from now)."""
        routed = open_quiet_picks(
            session, policy or self.POLICY, quiet_since=utc_now() + timedelta(seconds=1)
        )
        return [alert for alert in routed.published if alert.institution_id == institution]

    def _versions(self, session: Any, institution: str) -> list[AlertThreshold]:
        statement = (
            select(AlertThreshold)
            .where(AlertThreshold.institution_id == institution)
            .order_by(AlertThreshold.version)
        )
        return list(session.scalars(statement))

    def test_a_quiet_institutions_held_report_opens_without_another_candidate(self, session):
        institution = f"US-FI-R{unique_index()}"
        reports = TestBudget()._stream(session, institution, days=10, per_day=20)
        first = datetime(2026, 10, 10, 14, tzinfo=UTC)
        high = reports[-1]
        assert (
            _route(session, [_candidate(high, 0.9, transaction_at=first)], self.POLICY).published
            == []
        )
        (held,) = self._held(session, institution)
        # Held a moment ago: the institution is not quiet yet.
        recently = open_quiet_picks(
            session, self.POLICY, quiet_since=utc_now() - timedelta(minutes=5)
        )
        assert [a for a in recently.published if a.institution_id == institution] == []
        assert len(self._versions(session, institution)) == 1
        # Quiet: no candidate will come to bring the recompute; the sweep brings it.
        (alert,) = self._quiet(session, institution)
        assert (alert.report_id, alert.score, alert.typology) == (
            high.report_id,
            0.9,
            "structuring",
        )
        assert (alert.threshold, alert.threshold_version) == (0.9, 2)
        assert alert.opened_for == first  # the event time of the latest held report
        assert self._held(session, institution) == []
        links = session.scalars(select(AlertReport).where(AlertReport.alert_id == alert.id)).all()
        assert [link.report_id for link in links] == [high.report_id]
        # One recompute per quiet spell: the next sweep has nothing new to rank.
        assert self._quiet(session, institution) == []
        assert [v.version for v in self._versions(session, institution)] == [1, 2]

    def test_a_sweep_recomputes_only_what_a_version_has_not_seen(self, session):
        institution = f"US-FI-R{unique_index()}"
        reports = TestBudget()._stream(session, institution, days=10, per_day=20)
        first = datetime(2026, 10, 10, 14, tzinfo=UTC)
        # The allowance of this window is spent by forced alerts: a held report is not picked,
        # and it stays held (for a later window), but one sweep is enough to learn that.
        forced = [
            _candidate(report, 0.1, rule_hits=HIGH_RISK, transaction_at=first)
            for report in reports[:8]
        ]
        assert len(_route(session, forced, self.POLICY).published) == 8
        _route(
            session,
            [_candidate(reports[-1], 0.7, transaction_at=first + timedelta(hours=1))],
            self.POLICY,
        )
        assert len(self._held(session, institution)) == 1
        assert self._quiet(session, institution) == []
        versions = self._versions(session, institution)
        assert [v.version for v in versions] == [1, 2]
        assert versions[-1].computed_for == first + timedelta(hours=1)
        assert len(self._held(session, institution)) == 1
        assert self._quiet(session, institution) == []
        assert len(self._versions(session, institution)) == 2

    def test_a_cold_start_or_threshold_spending_is_left_alone(self, session):
        institution = f"US-FI-R{unique_index()}"
        subject = _reports(session, 2, unique_index(), institution_id=institution)
        first = datetime(2026, 10, 10, 14, tzinfo=UTC)
        # Too few subjects for a budget: no version, the model's threshold; nothing to sweep.
        routed = _route(session, [_candidate(subject[0], 0.4, transaction_at=first)], self.POLICY)
        assert routed.thresholds[institution].version is None
        assert self._quiet(session, institution) == []
        assert self._versions(session, institution) == []
        threshold_spending = AlertPolicy(budget_share=0.02, budget_spending="threshold")
        assert (
            open_quiet_picks(
                session, threshold_spending, quiet_since=utc_now() + timedelta(seconds=1)
            ).published
            == []
        )
