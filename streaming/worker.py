"""The consumer loop: micro-batches, at-least-once, idempotent writes, DLQ for bad input.

Per batch: decode → persist (one DB transaction) → dead letters → flush producer → commit
offsets ``last + 1``. Offsets are committed only after the database commit and after the DLQ
has acknowledged, so a crash anywhere replays the batch, and the idempotent store absorbs it.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.config import Settings
from services.db import transaction
from services.reports.decode import DecodeError, DecodeFailure, decode_report
from services.reports.service import (
    Assessor,
    IncomingReport,
    PersistOutcome,
    SourcePosition,
    persist_reports,
)
from streaming.metrics import WorkerMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One message for the alerts topic, and what its metrics need once it is acknowledged."""

    key: bytes
    value: bytes
    typology: str | None = None
    # The Kafka record timestamp of the report that raised the alert (produce-to-alert).
    produced_at_ms: int | None = None


class BatchHook(Assessor, Protocol):
    """Detection, inside the batch's transaction.

    ``assess`` scores the batch's new reports before they are written (``persist_reports``
    stores the score with each row); ``__call__`` runs after the insert and returns the
    messages to publish on the alerts topic, for reports this transaction inserted.
    """

    def __call__(self, session: Session, outcome: PersistOutcome) -> Sequence[AlertMessage]: ...


@dataclass(slots=True)
class BatchResult:
    inserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    alerts: int = 0
    offsets: dict[TopicPartition, int] = field(default_factory=dict)


def make_consumer(settings: Settings, **overrides: Any) -> KafkaConsumer:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": settings.consumer_group,
        "client_id": "amlscreen-worker",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.worker_batch_size,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        # A batch (with database retries) must finish well inside this.
        "max_poll_interval_ms": 300_000,
    }
    config.update(overrides)
    return KafkaConsumer(**config)


class Worker:
    """One consumer in the ``amlscreen-worker`` group: the scale-out unit."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        metrics: WorkerMetrics | None = None,
        hook: BatchHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.consumer = consumer
        self.producer = producer
        self.metrics = metrics or WorkerMetrics()
        self.hook = hook
        self._sleep = sleep
        self._stopping = False

    def stop(self) -> None:
        """Asks the loop to finish the current batch, commit and return."""
        self._stopping = True

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: finishing the current batch", signum)
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def run(self, *, idle_exit_s: float | None = None) -> int:
        """Consumes until stopped; returns the process exit code."""
        self.consumer.subscribe([self.settings.topic_reports])
        backoff = 0.5
        idle_since = time.monotonic()
        try:
            while not self._stopping:
                records = self.consumer.poll(
                    timeout_ms=self.settings.worker_poll_timeout_ms,
                    max_records=self.settings.worker_batch_size,
                )
                self.metrics.update_lag(self.consumer)
                if not records:
                    if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                        break
                    continue
                idle_since = time.monotonic()
                try:
                    self.process(records)
                    backoff = 0.5
                except (OperationalError, DBAPIError, KafkaError) as error:
                    cause = "database" if isinstance(error, DBAPIError) else "broker"
                    self.metrics.batch_failures.labels(cause).inc()
                    log.warning("batch failed (%s), retrying in %.1fs: %s", cause, backoff, error)
                    self._rewind(records)
                    self._sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
        finally:
            self.consumer.close(autocommit=False)
            self.producer.flush(timeout=10)
        return 0

    def _rewind(self, records: dict[TopicPartition, list[Any]]) -> None:
        """Seeks back to the batch's first offsets so the next poll replays it."""
        for partition, messages in records.items():
            if messages:
                try:
                    self.consumer.seek(partition, messages[0].offset)
                except (AssertionError, KafkaError):
                    pass  # partition revoked meanwhile: its new owner resumes from the commit

    def process(self, records: dict[TopicPartition, list[Any]]) -> BatchResult:
        """Processes one micro-batch end to end and commits its offsets."""
        metrics = self.metrics
        result = BatchResult()
        count = sum(len(messages) for messages in records.values())
        metrics.batch_size.observe(count)

        started = time.perf_counter()
        items: list[IncomingReport] = []
        rejects: list[tuple[Any, DecodeError]] = []
        by_item: dict[int, Any] = {}
        max_bytes = self.settings.max_message_bytes
        for partition, messages in records.items():
            topic, number = partition.topic, partition.partition
            for message in messages:
                decoded = decode_report(message.value, max_bytes=max_bytes)
                if isinstance(decoded, DecodeError):
                    rejects.append((message, decoded))
                    continue
                item = IncomingReport(
                    decoded, SourcePosition(topic, number, message.offset, message.timestamp)
                )
                by_item[id(item)] = message
                items.append(item)
            result.offsets[partition] = messages[-1].offset + 1
        metrics.stage_duration.labels("decode").observe(time.perf_counter() - started)

        started = time.perf_counter()
        alert_messages: Sequence[AlertMessage] = ()
        with transaction(self.sessions) as session:
            outcome = persist_reports(session, items, assessor=self.hook)
            if self.hook is not None:
                alert_messages = self.hook(session, outcome)
        metrics.stage_duration.labels("persist").observe(time.perf_counter() - started)

        for item in outcome.conflicts:
            rejects.append(
                (
                    by_item[id(item)],
                    DecodeError(
                        DecodeFailure.CONFLICT,
                        f"report {item.report.institution_id}/{item.report.report_id} was"
                        " already stored with different content; the stored one is kept",
                    ),
                )
            )

        started = time.perf_counter()
        sent = [self._dead_letter(message, error) for message, error in rejects]
        topic = self.settings.topic_alerts
        published = [
            (self.producer.send(topic, key=alert.key, value=alert.value), alert)
            for alert in alert_messages
        ]
        if sent or published:
            self.producer.flush(timeout=30)
            for future in [*sent, *(future for future, _ in published)]:
                if future.failed():
                    raise future.exception
        for _future, alert in published:
            metrics.alert_published(alert.typology, alert.produced_at_ms)
        metrics.stage_duration.labels("publish").observe(time.perf_counter() - started)

        started = time.perf_counter()
        try:
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in result.offsets.items()}
            )
        except CommitFailedError as error:
            # The group rebalanced: the new owner replays from the last commit, idempotently.
            log.warning("offset commit refused after a rebalance: %s", error)
        metrics.stage_duration.labels("commit").observe(time.perf_counter() - started)

        for item in outcome.inserted:
            metrics.reports_consumed.labels(item.report.report_type.value, "stored").inc()
        for item in outcome.duplicates:
            metrics.reports_consumed.labels(item.report.report_type.value, "duplicate").inc()
        for _message, reject in rejects:
            metrics.reports_consumed.labels("unknown", "dead_letter").inc()
            metrics.dlq_messages.labels(reject.kind.value).inc()
        result.inserted = len(outcome.inserted)
        result.duplicates = len(outcome.duplicates)
        result.dead_letters = len(rejects)
        result.alerts = len(alert_messages)
        return result

    def _dead_letter(self, message: Any, error: DecodeError) -> Any:
        headers = [
            ("aml.error.kind", error.kind.value.encode()),
            ("aml.error.reason", error.reason.encode()[:4000]),
            ("aml.source.topic", message.topic.encode()),
            ("aml.source.partition", str(message.partition).encode()),
            ("aml.source.offset", str(message.offset).encode()),
        ]
        future = self.producer.send(
            self.settings.topic_dlq, key=message.key, value=message.value, headers=headers
        )
        # The reason is logged without the payload: it may carry identifiers.
        log.info(
            "dead letter %s/%s@%s: %s",
            message.topic,
            message.partition,
            message.offset,
            error.kind.value,
        )
        return future
