"""Institution topics (DESIGN.md §8): each institution files on its own topic, and the worker
refuses a report of another institution there. Real embedded broker, SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer
from sqlalchemy import select

from models.registry import load_bundle
from models.scoring import Scorer
from refdata.wire import ReportV1
from services.alerts.orm import Alert
from services.config import Settings
from services.reports.enums import ReportStatus
from services.reports.orm import Report
from streaming.broker import ensure_topics
from streaming.detection import Detector
from streaming.metrics import WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import Worker, make_consumer, subscription
from tests.fixtures.reports import make_report
from tests.models.test_registry import tiny_model
from tests.streaming.test_detection import ordinary, structuring
from tests.streaming.test_worker import _dlq_messages

A = "US-FI-0001"
B = "MX-FI-0002"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(load_bundle(tiny_model()), threshold=1.01)  # only rule-forced alerts


def _institution_topics(settings: Settings, *institutions: str, partitions: int = 1) -> None:
    ensure_topics(
        settings.bootstrap_servers,
        {settings.institution_topic(institution): partitions for institution in institutions},
    )


def _produce(
    settings: Settings, topic: str, documents: list[dict[str, Any]], *, keyed: bool = False
) -> None:
    """Produces as an institution's client might: unkeyed, or keyed by its own subject id
    (the worker keys what it relays by our subject key)."""
    producer = make_producer(settings.bootstrap_servers)
    for document in documents:
        key = document["subject"]["subject_id"].encode() if keyed else None
        producer.send(topic, key=key, value=orjson.dumps(document))
    producer.flush(timeout=30)
    producer.close()


def _worker(settings: Settings, sessions, **kwargs: Any) -> Worker:
    consumer = kwargs.pop("consumer", None) or make_consumer(settings)
    return Worker(
        settings=settings,
        sessions=sessions,
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers),
        metrics=kwargs.pop("metrics", None) or WorkerMetrics(),
        **kwargs,
    )


def _stored(sessions) -> dict[tuple[str, str], Report]:
    with sessions() as session:
        return {(r.institution_id, r.report_id): r for r in session.scalars(select(Report))}


def _wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _dlq_count(metrics: WorkerMetrics, reason: str) -> float:
    return sum(
        sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "amlscreen_dlq_messages_total" and sample.labels["reason"] == reason
    )


def _reports_topic(settings: Settings) -> list[Any]:
    consumer = KafkaConsumer(
        settings.topic_reports,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=8_000,
    )
    messages = list(consumer)
    consumer.close()
    return messages


def test_a_report_of_another_institution_is_refused_and_its_neighbours_are_stored(
    settings, sessions
) -> None:
    _institution_topics(settings, A, B)
    on_a = [
        make_report(1, institution_id=A),
        make_report(2, institution_id=B),  # B's report on A's topic
        make_report(3, institution_id=A),
    ]
    # One partition, produced before the worker starts: the three are one batch.
    _produce(settings, settings.institution_topic(A), on_a)
    _produce(settings, settings.institution_topic(B), [make_report(4, institution_id=B)])
    metrics = WorkerMetrics()
    worker = _worker(settings, sessions, metrics=metrics)
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()
    try:
        expected = {(A, "R-00000001"), (A, "R-00000003"), (B, "R-00000004")}
        _wait_for(lambda: set(_stored(sessions)) == expected)
        dead = _dlq_messages(settings, 1)
        assert [m.value for m in dead] == [orjson.dumps(on_a[1])]
        headers = dict(dead[0].headers)
        assert headers["aml.error.kind"] == b"unauthorized"
        assert (
            headers["aml.error.reason"]
            == (
                f"a report of institution {B} on the topic of institution {A}: an institution"
                " files only on its own topic"
            ).encode()
        )
        assert headers["aml.source.topic"] == settings.institution_topic(A).encode()
        assert headers["aml.source.offset"] == b"1"
        assert _dlq_count(metrics, "unauthorized") == 1
        # Still consuming: B's report sent again on B's own topic is stored.
        _produce(settings, settings.institution_topic(B), [on_a[1]])
        _wait_for(lambda: (B, "R-00000002") in _stored(sessions))
        assert running.is_alive()
    finally:
        worker.stop()
        running.join(timeout=60)
    assert not running.is_alive()
    assert set(_stored(sessions)) == expected | {(B, "R-00000002")}
    assert _dlq_count(metrics, "unauthorized") == 1


def test_a_report_on_its_own_topic_is_screened_like_one_from_the_reports_topic(
    settings, sessions, scorer
) -> None:
    """The same stream as test_worker_detection's, sent by the institution on its topic."""
    _institution_topics(settings, A, partitions=2)
    documents = ordinary(20) + structuring()
    produced_from = time.time()
    # Keyed by subject: a subject's reports keep their order on one of the two partitions.
    _produce(settings, settings.institution_topic(A), documents, keyed=True)
    metrics = WorkerMetrics()
    consumer = make_consumer(settings)
    worker = _worker(
        settings,
        sessions,
        consumer=consumer,
        metrics=metrics,
        detector=Detector(scorer, assignment=consumer.assignment, metrics=metrics),
    )
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()
    try:
        _wait_for(lambda: len(_stored(sessions)) == len(documents))
        _wait_for(lambda: _alerts(sessions) == [("R000002", 2)])
    finally:
        worker.stop()
        running.join(timeout=60)
    reports = _stored(sessions).values()
    assert {r.status for r in reports} == {ReportStatus.PROCESSED.value}
    assert all(r.score is not None and r.reasons and r.processed_at for r in reports)
    # Screened from the reports topic, where the worker relayed each keyed by its subject.
    assert {r.source_topic for r in reports} == {settings.topic_reports}
    relayed = _reports_topic(settings)
    assert len(relayed) == len(documents)
    for message in relayed:
        report = ReportV1.model_validate_json(message.value)
        assert message.key == report.subject_key.encode()
        headers = dict(message.headers)
        assert headers["aml.origin.topic"] == settings.institution_topic(A).encode()
        # The institution's record timestamp is kept: produce-to-alert counts the relay.
        assert message.timestamp >= produced_from * 1000 - 1000
    assert {m.value for m in relayed} == {orjson.dumps(d) for d in documents}
    partitions = {(m.key, m.partition) for m in relayed}
    assert len({key for key, _ in partitions}) == len(partitions), "one partition per subject"
    assert _dlq_messages(settings, 1) == []


def _alerts(sessions) -> list[tuple[str, int]]:
    with sessions() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.report_id)).all()
        return [(a.report_id, a.report_count) for a in alerts]


def test_an_institution_topic_created_while_the_worker_runs_is_consumed(settings, sessions) -> None:
    worker = _worker(settings, sessions, consumer=make_consumer(settings, metadata_max_age_ms=500))
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()
    try:
        time.sleep(1)
        _institution_topics(settings, B)
        _produce(settings, settings.institution_topic(B), [make_report(7, institution_id=B)])
        _wait_for(lambda: (B, "R-00000007") in _stored(sessions))
    finally:
        worker.stop()
        running.join(timeout=60)


class TestSubscription:
    def _matches(self, settings: Settings, topic: str) -> bool:
        pattern = subscription(settings)
        assert isinstance(pattern, str)
        # kafka-python matches a pattern subscription with re.match.
        return re.compile(pattern).match(topic) is not None

    def test_the_shared_topics_and_every_institution_topic(self) -> None:
        settings = Settings()
        for topic in ("aml.reports", "aml.reports.fincen", "aml.reports.csv"):
            assert self._matches(settings, topic), topic
        for institution in ("US-FI-0001", "MX.BANCO_1"):
            assert self._matches(settings, f"aml.reports.from.{institution}")
        for topic in (
            "aml.reports.dlq",
            "aml.alerts",
            "aml.reports.from.",
            "aml.reports.fromX",
            "aml.reports.x",
            "xaml.reports",
            "aml.reports.fincen.old",
        ):
            assert not self._matches(settings, topic), topic

    def test_production_leaves_out_the_shared_file_topics(self) -> None:
        settings = Settings(kafka_require_institution_topics=True)
        assert self._matches(settings, "aml.reports")
        assert self._matches(settings, "aml.reports.from.US-FI-0001")
        assert not self._matches(settings, "aml.reports.fincen")

    def test_without_institution_topics_the_list_of_old(self) -> None:
        settings = Settings(topic_institution_prefix="")
        assert subscription(settings) == [
            "aml.reports",
            "aml.reports.fincen",
            "aml.reports.iso20022",
            "aml.reports.goaml",
            "aml.reports.csv",
        ]
