"""Detection in the worker: the detector and the screening path on real SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl
import pytest
from sqlalchemy import func, select

from models.features import features_from_documents, flatten
from models.peers import PEER_FEATURES
from models.registry import load_bundle
from models.scoring import Scorer
from models.state import WindowState, batch_features, peer_counts_of
from refdata.wire import ReportV1
from services.alerts.orm import Alert, AlertReport, HeldCandidate
from services.alerts.policy import AlertPolicy
from services.db import transaction
from services.reports import peers as peer_repository
from services.reports.enums import ReportStatus
from services.reports.history import ReportHistory
from services.reports.orm import PeerCount, Report
from services.reports.service import (
    Assessment,
    IncomingReport,
    SourcePosition,
    classify,
    persist_reports,
    store_classified,
)
from streaming.detection import Detector
from streaming.metrics import WorkerMetrics
from streaming.screening import AlertMessage, screen
from tests.models.test_features import report
from tests.models.test_registry import tiny_model
from tests.models.test_rules import as_entity
from tests.models.test_skew import assert_identical

MONDAY = "2026-03-09"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(load_bundle(tiny_model()))


def incoming(documents: list[dict[str, Any]], partition: int = 0, first: int = 0) -> list:
    return [
        IncomingReport(ReportV1.model_validate(doc), SourcePosition("aml.reports", partition, o))
        for o, doc in enumerate(documents, start=first)
    ]


def run(sessions, detector: Detector, items: list) -> list[AlertMessage]:
    with transaction(sessions) as session:
        return screen(session, items, detector).alerts


def ordinary(count: int) -> list[dict[str, Any]]:
    return [
        report(
            100 + i,
            at=f"{MONDAY}T0{i % 9}:{i % 60:02d}:00Z",
            amount=f"{50 + i}.25",
            subject=f"P{i % 7}",
        )
        for i in range(count)
    ]


def structuring() -> list[dict[str, Any]]:
    return [
        report(
            i,
            at=f"{MONDAY}T1{i}:00:00Z",
            amount=amount,
            instrument="cash",
            branch=f"B{i}",
            subject="S42",
        )
        for i, amount in enumerate(["9500.00", "9200.00", "9800.00"], start=1)
    ]


class TestHook:
    def test_every_report_is_scored_and_alerts_carry_their_source(self, sessions, scorer):
        detector = Detector(Scorer(scorer.bundle, threshold=1.01))  # only forced alerts
        documents = ordinary(20) + structuring()
        messages = run(sessions, detector, incoming(documents[:10], first=0))
        messages += run(sessions, detector, incoming(documents[10:], first=10))
        with sessions() as session:
            reports = session.scalars(select(Report).order_by(Report.id)).all()
            alerts = session.scalars(select(Alert).order_by(Alert.source_offset)).all()
        assert len(reports) == len(documents)
        assert all(r.status == ReportStatus.PROCESSED.value for r in reports)
        assert all(r.score is not None and r.reasons and r.processed_at for r in reports)
        # One subject, one episode: the second structuring report joins the alert the first
        # one opened (services.alerts.policy).
        assert [(a.report_id, a.source_offset) for a in alerts] == [("R000002", 21)]
        alert = alerts[-1]
        assert alert.report_count == 2
        assert alert.source_topic == "aml.reports"
        assert alert.source_partition == 0
        assert alert.model_version == scorer.model_version
        # The episode gathers both reports' rule hits and reasons (the third deposit is the
        # one that completes the structuring pattern).
        assert "structuring" in [hit["rule"] for hit in alert.rule_hits]
        assert any(r.startswith("Structuring pattern: 3 cash deposits") for r in alert.reasons)
        assert alert.typology
        assert alert.features
        key = ReportV1.model_validate(documents[-1]).subject_key
        assert [m.key for m in messages] == [key.encode()]
        assert orjson.loads(messages[0].value)["report_id"] == "R000002"
        assert orjson.loads(messages[0].value)["event"] == "opened"
        assert [m.typology for m in messages] == [a.typology for a in alerts]

    def test_only_what_the_policy_lets_through_is_typed_as_the_scorer_types_it(
        self, sessions, scorer
    ):
        seen: list[Any] = []
        typed: list[int] = []

        class Watching(Detector):
            def assess(self, session, new):
                assessed = super().assess(session, new)
                seen.append(assessed)
                return assessed

            def type_rows(self, assessed, rows):
                typed.extend(rows)
                super().type_rows(assessed, rows)

        # Every report is scored above the scoring threshold (0.0); the policy's threshold
        # (the model's) lets only some through, and a forcing rule one more.
        model_threshold = 0.3
        detector = Watching(Scorer(scorer.bundle, threshold=0.0), model_threshold=model_threshold)
        items = incoming(ordinary(20) + structuring())
        run(sessions, detector, items)
        (assessed,) = seen
        scores = assessed.scored.scores
        forced = [any(hit.forces_alert for hit in hits) for hits in assessed.scored.rule_hits]
        passing = [
            row for row in range(len(items)) if scores[row] >= model_threshold or forced[row]
        ]
        assert passing
        assert len(passing) < len(items)
        assert typed == passing
        reference = Scorer(scorer.bundle, threshold=0.0).score(assessed.features)
        for row in range(len(items)):
            expected = reference.typologies[row] if row in passing else None
            assert assessed.scored.typologies[row] == expected
        with sessions() as session:
            stored = dict(
                session.execute(select(AlertReport.report_id, AlertReport.typology)).all()
            )
        assert stored == {items[row].report.report_id: reference.typologies[row] for row in passing}

    def test_the_ranked_budget_opens_a_held_report_at_its_next_recompute(self, sessions, scorer):
        # Every report is a candidate and at or above the floor: the first batch's are held
        # (typed as the scorer types them), the next batch, a day later in event time,
        # recomputes the budget, which picks the best held subject and opens its alert.
        policy = AlertPolicy(
            budget_share=0.5, budget_min_subjects=1, budget_floor=0.0, budget_spending="ranked"
        )
        seen: list[Any] = []
        metrics = WorkerMetrics()

        class Watching(Detector):
            def assess(self, session, new):
                assessed = super().assess(session, new)
                seen.append(assessed)
                return assessed

        detector = Watching(
            Scorer(scorer.bundle, threshold=0.0),
            policy=policy,
            model_threshold=0.3,
            metrics=metrics,
        )
        first = incoming(ordinary(60))
        assert run(sessions, detector, first) == []
        with sessions() as session:
            held = session.scalars(select(HeldCandidate)).all()
            assert session.scalar(select(func.count()).select_from(Alert)) == 0
        assert len(held) == len(first)
        (assessed,) = seen
        reference = Scorer(scorer.bundle, threshold=0.0).score(assessed.features)
        row_of = {item.report.report_id: row for row, item in enumerate(first)}
        assert {row.report_id: row.payload["typology"] for row in held} == {
            report_id: reference.typologies[row] for report_id, row in row_of.items()
        }
        later = report(900, at="2026-03-10T12:00:00Z", amount="75.00", subject="Q1")
        messages = run(sessions, detector, incoming([later], first=60))
        with sessions() as session:
            (alert,) = session.scalars(select(Alert)).all()
            left = session.scalars(select(HeldCandidate.subject_key)).all()
        # The best score; between subjects tied on it, the first subject key (the same pick in
        # every worker); the subject's latest report of that score.
        top = max(row.score for row in held)
        subject = min(row.subject_key for row in held if row.score == top)
        best = max(
            (row for row in held if row.subject_key == subject and row.score == top),
            key=lambda row: row.id,
        )
        assert (alert.report_id, alert.score) == (best.report_id, best.score)
        assert alert.typology == reference.typologies[row_of[best.report_id]]
        assert alert.threshold_version == 2
        assert alert.opened_for is not None
        assert alert.subject_key not in left  # its held reports are released
        assert [orjson.loads(m.value)["report_id"] for m in messages] == [best.report_id]
        assert metrics.alert_hold._sum.get() > 0  # noqa: SLF001 - the histogram's sum

    def test_a_business_whose_takings_spread_gets_the_reason_but_no_forced_alert(
        self, sessions, scorer
    ):
        # The worker decides forcing per report, as amlscreen score does (models.rules): three
        # near-threshold deposits after a week of ordinary takings are 3 of 13 (under 0.4).
        takings = [
            as_entity(
                report(
                    200 + 2 * day + n,
                    at=f"2026-03-0{2 + day}T1{n + 1}:00:00Z",
                    amount="3000.00",
                    instrument="cash",
                    subject="E7",
                )
            )
            for day in range(5)
            for n in range(2)
        ]
        legs = [
            as_entity({**document, "subject": {**document["subject"], "subject_id": "E7"}})
            for document in structuring()
        ]
        detector = Detector(Scorer(scorer.bundle, threshold=1.01))  # only forced alerts
        assert run(sessions, detector, incoming([*takings, *legs])) == []
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Alert)) == 0
            last = session.scalars(select(Report).order_by(Report.id.desc()).limit(1)).one()
        assert any(
            reason.startswith("Structuring pattern: 3 cash deposits")
            and reason.endswith(
                "3 of the business's 13 cash deposits over 30 days were just below it"
            )
            for reason in last.reasons
        )

    def test_a_replayed_batch_raises_nothing_twice(self, sessions, scorer):
        detector = Detector(Scorer(scorer.bundle, threshold=1.01))
        items = incoming(structuring())
        assert len(run(sessions, detector, items)) == 1
        assert run(sessions, detector, items) == []
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Alert)) == 1
            assert session.scalar(select(Alert.report_count)) == 2

    def test_a_report_stored_meanwhile_by_another_worker_raises_no_alert_here(
        self, sessions, scorer
    ):
        items = incoming(structuring())

        class Racing(Detector):
            """Assesses, then the last report appears in the store before our insert."""

            def assess(self, session, new):
                assessed = super().assess(session, new)
                persist_reports(session, [items[-1]])  # as a worker after a rebalance would
                return assessed

        detector = Racing(Scorer(scorer.bundle, threshold=1.01))
        with transaction(sessions) as session:
            screened = screen(session, items, detector)
        outcome, messages = screened.outcome, screened.alerts
        assert [item.report.report_id for item in outcome.inserted] == ["R000001", "R000002"]
        assert [item.report.report_id for item in outcome.duplicates] == ["R000003"]
        assert [orjson.loads(m.value)["report_id"] for m in messages] == ["R000002"]
        assert detector.state.next_seq == 2  # the state learns only what this worker stored
        with sessions() as session:
            assert [a.report_id for a in session.scalars(select(Alert))] == ["R000002"]
            statuses = dict(session.execute(select(Report.report_id, Report.status)).all())
        assert statuses == {
            "R000001": ReportStatus.PROCESSED.value,
            "R000002": ReportStatus.PROCESSED.value,
            "R000003": ReportStatus.RECEIVED.value,  # the other worker's row, untouched
        }

    def test_the_state_learns_a_batch_only_once_committed(self, sessions, scorer):
        detector = Detector(scorer)

        def fail_before_commit() -> None:
            with transaction(sessions) as session:
                items = incoming(ordinary(5))
                screen(session, items, detector)
                raise RuntimeError("the database failed before the commit")

        with pytest.raises(RuntimeError):
            fail_before_commit()
        assert detector.state.next_seq == 0
        run(sessions, detector, incoming(ordinary(5)))
        assert detector.state.next_seq == 5

    def test_a_reassigned_partition_is_reloaded_from_the_store(self, sessions, scorer):
        assigned = [("aml.reports", 0), ("aml.reports", 1)]
        detector = Detector(scorer, assignment=lambda: [_tp(*tp) for tp in assigned])
        run(sessions, detector, incoming(ordinary(4), partition=0))
        run(sessions, detector, incoming(structuring(), partition=1, first=100))
        sids = detector.state.subject_ids(["SSN-x"])  # registering a key changes nothing loaded
        assert not detector.state.loaded(sids).any()
        p0 = detector.state.subject_ids([ReportV1.model_validate(ordinary(1)[0]).subject_key])
        p1 = detector.state.subject_ids([ReportV1.model_validate(structuring()[0]).subject_key])
        assert detector.state.loaded(p0).all()
        assert detector.state.loaded(p1).all()
        assigned.pop()  # partition 1 went to another worker
        run(sessions, detector, incoming(ordinary(8)[4:], partition=0, first=50))
        assert detector.state.loaded(p0).all()
        assert not detector.state.loaded(p1).any()


def _tp(topic: str, partition: int) -> Any:
    from kafka import TopicPartition  # noqa: PLC0415

    return TopicPartition(topic, partition)


def features_then_store(session, state: WindowState, items: list) -> tuple[Any, Any]:
    """Features only, in the worker's order: classified, features, then the insert."""
    batch = classify(session, items)
    new = batch.new
    flat = flatten([i.document for i in new], [i.report.subject_key for i in new])
    result = batch_features(state, flat, ReportHistory(session))
    outcome = store_classified(session, batch, [Assessment(0.0, []) for _ in new])
    return result, outcome


def test_worker_features_match_offline_through_the_store(sessions):
    """The skew test on a real store: counterparty edges and rebuilt state come from SQL."""
    from simulator.generate import GeneratorConfig, generate  # noqa: PLC0415

    config = GeneratorConfig(
        seed=77,
        n_reports=3_000,
        start=datetime(2026, 2, 2, tzinfo=UTC),
        days=10,
        laundering_share=0.1,
    )
    documents = [item.report for item in generate(config)]
    offline = features_from_documents(documents)
    state, rng, position, parts, restarted = WindowState(), random.Random(3), 0, [], False
    while position < len(documents):
        if position >= 1_500 and not restarted:
            state, restarted = WindowState(), True  # a restart: the state comes from SQL
        batch = documents[position : position + rng.choice([10, 200, 900])]
        items = incoming(batch, first=position)
        position += len(batch)
        with transaction(sessions) as session:
            result, outcome = features_then_store(session, state, items)
            # What screening does after the insert: the peer baselines of every worker.
            peer_repository.add_counts(session, peer_counts_of(result.peer_rows))
        assert len(outcome.inserted) == len(items)
        state.append(result.pending)
        parts.append(result.features)
    assert_identical(offline, pl.concat(parts))


def test_screening_counts_each_inserted_report_once_for_the_peer_baselines(sessions, scorer):
    detector = Detector(scorer)
    run(sessions, detector, incoming(ordinary(6)))
    run(sessions, detector, incoming(ordinary(6)))  # redelivered: nothing inserted, nothing added
    run(sessions, detector, incoming(ordinary(9)[6:], first=6))
    with sessions() as session:
        total = session.scalar(select(func.sum(PeerCount.n)))
        stored = peer_repository.counts_between(session, 0, 10**6)
    assert total == 9 * len(PEER_FEATURES)
    assert stored.group_by("feature").agg(pl.col("n").sum())["n"].to_list() == [9] * len(
        PEER_FEATURES
    )
