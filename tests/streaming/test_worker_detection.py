"""The worker with detection, on the embedded broker: scored rows, alerts, their metrics."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from models.registry import load_bundle
from models.scoring import Scorer
from refdata.wire import ReportV1
from services.alerts.orm import Alert, AlertThreshold, HeldCandidate
from services.alerts.policy import AlertPolicy
from services.config import Settings
from services.reports.enums import ReportStatus
from services.reports.orm import Report
from streaming.detection import Detector
from streaming.metrics import WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import Worker, make_consumer
from tests.fixtures.reports import make_report
from tests.models.test_registry import tiny_model
from tests.streaming.test_detection import ordinary, structuring


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(load_bundle(tiny_model()), threshold=1.01)  # only rule-forced alerts


def _produce(settings: Settings, documents: list[dict]) -> None:
    producer = make_producer(settings.bootstrap_servers)
    for document in documents:
        key = ReportV1.model_validate(document).subject_key.encode()
        producer.send(settings.topic_reports, key=key, value=orjson.dumps(document))
    producer.flush(timeout=30)
    producer.close()


def _alert_messages(settings: Settings, expected: int) -> list:
    consumer = KafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    messages = []
    for message in consumer:
        messages.append(message)
        if len(messages) >= expected:
            break
    consumer.close()
    return messages


def _sample(metrics: WorkerMetrics, name: str) -> float:
    return sum(
        sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    )


def _run_ranked(
    settings: Settings, sessions, scorer: Scorer, metrics: WorkerMetrics, **detector: Any
) -> None:
    """A worker with a ranked budget over everything on the reports topic, until idle."""
    policy = AlertPolicy(
        budget_share=0.5, budget_min_subjects=1, budget_floor=0.0, budget_spending="ranked"
    )
    consumer = make_consumer(settings)
    Worker(
        settings=settings,
        sessions=sessions,
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers),
        metrics=metrics,
        detector=Detector(
            scorer, assignment=consumer.assignment, metrics=metrics, policy=policy, **detector
        ),
    ).run(idle_exit_s=6.0)


def test_alerts_are_published_counted_and_timed(settings, sessions, scorer) -> None:
    # The 2nd and 3rd structuring deposits alert: one subject, one alert (the episode).
    documents = ordinary(20) + structuring()
    produced_from = time.time()
    _produce(settings, documents)
    metrics = WorkerMetrics()
    consumer = make_consumer(settings)
    worker = Worker(
        settings=settings,
        sessions=sessions,
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers),
        metrics=metrics,
        detector=Detector(scorer, assignment=consumer.assignment, metrics=metrics),
    )
    worker.run(idle_exit_s=6.0)
    elapsed = time.time() - produced_from

    with sessions() as session:
        reports = session.scalars(select(Report)).all()
        alerts = session.scalars(select(Alert).order_by(Alert.report_id)).all()
    assert len(reports) == len(documents)
    assert {r.status for r in reports} == {ReportStatus.PROCESSED.value}
    assert all(r.score is not None and r.reasons and r.processed_at for r in reports)
    assert [(a.report_id, a.report_count) for a in alerts] == [("R000002", 2)]

    published = _alert_messages(settings, 1)
    assert sorted(orjson.loads(m.value)["alert_id"] for m in published) == [a.id for a in alerts]
    assert _sample(metrics, "amlscreen_alerts_raised_total") == 1
    typologies = {
        sample.labels["typology"]
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "amlscreen_alerts_raised_total" and sample.value
    }
    assert typologies == {a.typology for a in alerts}
    # Produce-to-alert: one observation per opened alert, from its report's record timestamp.
    assert _sample(metrics, "amlscreen_produce_to_alert_seconds_count") == 1
    latency = _sample(metrics, "amlscreen_produce_to_alert_seconds_sum")
    assert 0 < latency < 2 * elapsed


def test_a_replay_publishes_no_second_alert(settings, sessions, scorer) -> None:
    _produce(settings, structuring())
    for _ in range(2):  # the second worker re-reads the topic from the start (no commit kept)
        metrics = WorkerMetrics()
        consumer = make_consumer(settings, group_id=f"{settings.consumer_group}-{time.time()}")
        Worker(
            settings=settings,
            sessions=sessions,
            consumer=consumer,
            producer=make_producer(settings.bootstrap_servers),
            metrics=metrics,
            detector=Detector(scorer, assignment=consumer.assignment, metrics=metrics),
        ).run(idle_exit_s=6.0)
    assert _sample(metrics, "amlscreen_alerts_raised_total") == 0
    assert _sample(metrics, "amlscreen_produce_to_alert_seconds_count") == 0
    with sessions() as session:
        assert [a.report_count for a in session.scalars(select(Alert))] == [2]


class FlakyWorker(Worker):
    """Fails some batches' transactions, as a database going away would."""

    def __init__(self, *, fail: set[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.fail = fail
        self.calls = 0

    def _store(self, prepared):
        self.calls += 1
        if self.calls in self.fail:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return super()._store(prepared)


def test_failed_batches_are_replayed_with_the_batch_decoded_behind_them(settings, sessions):
    """The loop decodes batch n + 1 while n is stored; when n fails, both are replayed."""
    total = 3_000
    producer = make_producer(settings.bootstrap_servers)
    for index in range(total):
        producer.send(
            settings.topic_reports,
            key=str(index % 40).encode(),
            value=orjson.dumps(make_report(index)),
        )
    producer.flush(timeout=30)
    producer.close()
    metrics = WorkerMetrics()
    worker = FlakyWorker(
        fail={2, 3, 7},
        settings=settings.model_copy(update={"worker_batch_size": 200}),
        sessions=sessions,
        consumer=make_consumer(settings, max_poll_records=200),
        producer=make_producer(settings.bootstrap_servers),
        metrics=metrics,
        sleep=lambda _seconds: None,
    )
    worker.run(idle_exit_s=6.0)
    with sessions() as session:
        stored = session.scalars(select(Report.report_id)).all()
    assert len(stored) == len(set(stored)) == total
    assert _sample(metrics, "amlscreen_batch_failures_total") == 3
    consumed = {
        sample.labels["outcome"]: sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "amlscreen_reports_consumed_total"
    }
    assert consumed == {"stored": total}  # nothing was replayed twice after its commit


def test_a_quiet_institutions_held_reports_are_ranked_without_another_candidate(
    settings, sessions, scorer
) -> None:
    # Every report is a candidate at or above the floor of a ranked budget; once the stream
    # stops, nothing brings the next recompute but the worker's sweep of quiet institutions.
    quick = settings.model_copy(update={"alert_budget_quiet_seconds": 1.0})
    _produce(quick, ordinary(60))
    metrics = WorkerMetrics()
    _run_ranked(quick, sessions, Scorer(scorer.bundle, threshold=0.0), metrics, model_threshold=0.3)

    with sessions() as session:
        alerts = session.scalars(select(Alert)).all()
        latest = session.scalars(
            select(AlertThreshold).order_by(AlertThreshold.version.desc()).limit(1)
        ).one()
        held = session.scalars(select(HeldCandidate)).all()
        last_event = max(r.txn_at for r in session.scalars(select(Report)) if r.txn_at)
    # The last version ranked every report of the stream: none was held after it.
    assert latest.computed_for == last_event
    assert all(row.created_at < latest.created_at for row in held)
    assert alerts
    assert all(alert.opened_for is not None for alert in alerts)
    assert {alert.subject_key for alert in alerts}.isdisjoint(row.subject_key for row in held)
    published = _alert_messages(quick, len(alerts))
    assert sorted(orjson.loads(m.value)["alert_id"] for m in published) == sorted(
        a.id for a in alerts
    )
    assert _sample(metrics, "amlscreen_alerts_raised_total") == len(alerts)
    assert _sample(metrics, "amlscreen_alert_sweeps_total") >= 1


def test_a_failing_sweep_never_stops_screening(
    settings, sessions, scorer, monkeypatch, caplog
) -> None:
    # The sweep of quiet institutions fails every time: it says so in the log, and every
    # report is still screened and stored.
    calls: list[float] = []

    def failing(*_args: object) -> list:
        calls.append(time.monotonic())
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr("streaming.worker.open_quiet_alerts", failing)
    quick = settings.model_copy(update={"alert_budget_quiet_seconds": 0.5})
    documents = ordinary(20) + structuring()
    _produce(quick, documents)
    metrics = WorkerMetrics()
    _run_ranked(quick, sessions, scorer, metrics)
    assert len(calls) >= 2  # swept, failed, swept again
    failed = metrics.alert_sweeps.labels("failed")._value.get()  # noqa: SLF001
    assert (failed, metrics.alert_sweeps.labels("ok")._value.get()) == (len(calls), 0)  # noqa: SLF001
    failures = [r for r in caplog.records if "sweep of quiet institutions failed" in r.message]
    assert len(failures) == len(calls)
    assert "OperationalError" in failures[0].message
    with sessions() as session:
        assert len(session.scalars(select(Report)).all()) == len(documents)
