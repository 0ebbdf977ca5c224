"""The consumer loop: transport only — poll → decode → screen → publish → commit.

Per batch: decode and validate each message (``_prepare``); screen the valid reports in one
database transaction (``streaming.screening.screen``: classify, assess, store, raise alerts);
send the dead letters and alerts and flush the producer; commit offsets ``last + 1``. Offsets
are committed only after the database commit and after the DLQ and alerts were acknowledged,
so a crash anywhere replays the batch, and the idempotent store absorbs it. A batch refused
for its data is split until the culprits are alone (``Worker._store_parts``,
``streaming.poison``). Decoding the next batch overlaps the transaction of the current one
(``Worker.run``); offsets are still committed batch after batch, in order.

Institution topics (``<AMLSCREEN_TOPIC_INSTITUTION_PREFIX><institution_id>``, DESIGN.md §8):
each is written by one institution's Kafka principal. A report there is decoded, refused to
the DLQ (``unauthorized``) when it names another institution, and otherwise relayed to the
reports topic keyed by its subject key, like the reports of a file (``streaming.intake``). So
every report is screened from the one reports topic, partitioned by our own producer: a
subject's reports meet in one worker (DESIGN.md §6) whatever partition count an institution
topic has and whatever key or partitioner the institution's client used."""

from __future__ import annotations

import gc
import logging
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata
from sqlalchemy.orm import Session, sessionmaker

from services.config import Settings
from services.db import transaction
from services.kit.time import utc_now
from services.reports.decode import DecodeError, DecodeFailure, decode_report
from services.reports.service import IncomingReport, PersistOutcome, SourcePosition
from streaming.detection import Detector
from streaming.intake import FileRelay
from streaming.metrics import WorkerMetrics
from streaming.poison import is_transient, poison_reason
from streaming.producer import MAX_REQUEST_BYTES
from streaming.screening import AlertMessage, Screened, open_quiet_alerts, screen

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchResult:
    inserted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    alerts: int = 0
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    # Wall-clock times (time.time()) the batch started decoding and finished publishing.
    started: float = 0.0
    finished: float = 0.0


@dataclass(frozen=True, slots=True)
class Relayed:
    """A report for the reports topic: read from a file or checked on an institution topic."""

    key: bytes
    value: bytes
    # Where it was read (aml.origin.topic, .partition, .offset), for tracing it back.
    headers: list[tuple[str, bytes]]
    # The institution's record timestamp, kept so that produce-to-alert counts the relay.
    timestamp_ms: int | None = None


@dataclass(slots=True)
class _Prepared:
    """A decoded batch, ready for its transaction."""

    started: float
    count: int = 0  # messages, valid or not
    items: list[IncomingReport] = field(default_factory=list)
    rejects: list[tuple[Any, DecodeError]] = field(default_factory=list)
    # (topic, partition, offset) of each valid report → its Kafka message, for the DLQ.
    messages: dict[tuple[str, int, int], Any] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    # Reports read from files on the format topics (streaming.intake) and reports checked on
    # institution topics, for the reports topic.
    relay: list[Relayed] = field(default_factory=list)


class _Gathering:
    """Messages polled while a batch is in flight: the next batch, decoded as they arrive."""

    def __init__(self) -> None:
        self.records: dict[TopicPartition, list[Any]] = {}
        self.prepared: _Prepared | None = None
        self.count = 0

    def add(self, records: dict[TopicPartition, list[Any]], prepared: _Prepared) -> None:
        for partition, messages in records.items():
            self.records.setdefault(partition, []).extend(messages)
        self.count += prepared.count
        if self.prepared is None:
            self.prepared = prepared
            return
        into = self.prepared
        into.count += prepared.count
        into.items.extend(prepared.items)
        into.rejects.extend(prepared.rejects)
        into.messages.update(prepared.messages)
        into.offsets.update(prepared.offsets)  # later polls hold later offsets
        into.relay.extend(prepared.relay)


@dataclass(slots=True)
class _InFlight:
    """A batch handed to the store thread."""

    records: dict[TopicPartition, list[Any]]
    future: Future[BatchResult]


# While a batch is in flight the loop waits this long (or until the batch is done) between
# polls: each poll costs the GIL some Python work the store thread would rather have.
_IN_FLIGHT_WAIT_S = 0.025


@contextmanager
def worker_gc() -> Iterator[None]:
    """Garbage collection tuned for the worker loop, restored afterwards.

    A batch allocates hundreds of thousands of short-lived containers (validated models,
    documents, rows), nearly all freed by reference counting when the batch ends. With
    CPython's default thresholds they trigger a collection every 700 allocations that walks
    everything still alive, the batch itself included (docs/benchmarks.md, "Measurements
    behind the code"). The heap present at start (modules, the model) is frozen out of the
    collector, and young collections run every 100,000 net allocations instead.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


# A fetch answer holds up to fetch_max_bytes of record data, and more by up to one record
# batch: a batch is never split (KIP-74 returns an oversized first batch whole; Tansu, the
# embedded broker, stops at min(fetch_max_bytes, 5 MiB) of record data after the batch that
# crosses it). A batch is at most what our producer may send (MAX_REQUEST_BYTES); the
# answer's framing (topic, partition and batch headers) adds a little more.
FETCH_MAX_BYTES = 64 * 1024 * 1024
MAX_PARTITION_FETCH_BYTES = MAX_REQUEST_BYTES  # the largest message we produce (DLQ) fits
_FRAMING_BYTES = 1024 * 1024


def receive_limit(fetch_max_bytes: int, max_partition_fetch_bytes: int) -> int:
    """The frame size the consumer must accept so that any fetch answer fits.

    kafka-python 2.3 drops every response frame above ``receive_message_max_bytes``
    (1,000,000 by default, whatever the fetch sizes say) with "Invalid frame length",
    closing the connection and failing the requests in flight on it: the worker's first
    fetch on a backlog (5 MiB from the embedded broker) was lost that way. (Only once per
    connection: 2.3.3 rebuilds its parser without the limit after a reconnect.) kafka-python
    3.0.1 raised the default to 100 MiB and checks it against the fetch sizes.
    """
    return max(fetch_max_bytes, max_partition_fetch_bytes) + MAX_REQUEST_BYTES + _FRAMING_BYTES


def make_consumer(settings: Settings, **overrides: Any) -> KafkaConsumer:
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": settings.consumer_group,
        "client_id": "amlscreen-worker",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.worker_batch_size,
        "session_timeout_ms": settings.worker_session_timeout_ms,
        "heartbeat_interval_ms": settings.worker_session_timeout_ms // 3,
        "fetch_max_bytes": FETCH_MAX_BYTES,
        "max_partition_fetch_bytes": MAX_PARTITION_FETCH_BYTES,
        # A batch (with database retries) must finish well inside this.
        "max_poll_interval_ms": 300_000,
        # How soon a new institution topic is consumed (``subscription``): each refresh of a
        # pattern subscription asks for every topic's metadata, a small request.
        "metadata_max_age_ms": 60_000,
        **settings.kafka_security(),
    }
    config.update(overrides)
    # Follows the fetch sizes actually used, overridden ones included.
    config.setdefault(
        "receive_message_max_bytes",
        receive_limit(config["fetch_max_bytes"], config["max_partition_fetch_bytes"]),
    )
    return KafkaConsumer(**config)


def _decode(
    message: Any, topic: str, partition: int, max_bytes: int
) -> IncomingReport | DecodeError:
    """One message as a validated report with its position, or why it is refused."""
    decoded = decode_report(message.value, max_bytes=max_bytes)
    if isinstance(decoded, DecodeError):
        return decoded
    item = IncomingReport(
        decoded, SourcePosition(topic, partition, message.offset, message.timestamp)
    )
    try:
        # Computed here, off the store thread (both are cached on first use).
        decoded.subject_key  # noqa: B018
        item.digest  # noqa: B018
    except orjson.JSONEncodeError as error:
        # e.g. an integer beyond 64 bits in an extension field: storable nowhere.
        return DecodeError(DecodeFailure.INVALID, f"not storable: {error}")
    return item


def subscription(settings: Settings) -> list[str] | str:
    """What the worker subscribes to: the reports topic, the file-format topics (not under
    ``AMLSCREEN_KAFKA_REQUIRE_INSTITUTION_TOPICS``) and, when institution topics are on, a
    pattern that also matches every topic ``<prefix><institution_id>``.

    A pattern subscription picks up an institution topic created later at the consumer's next
    metadata refresh (``metadata_max_age_ms``), then rebalances the group.
    """
    topics = [settings.topic_reports]
    if not settings.kafka_require_institution_topics:
        topics += list(settings.format_topics)
    prefix = settings.topic_institution_prefix
    if not prefix:
        return topics
    shared = "|".join(re.escape(topic) for topic in topics)
    return f"^(?:{shared}|{re.escape(prefix)}[A-Za-z0-9._-]+)$"


def _origin(message: Any) -> list[tuple[str, bytes]]:
    return [
        ("aml.origin.topic", message.topic.encode()),
        ("aml.origin.partition", str(message.partition).encode()),
        ("aml.origin.offset", str(message.offset).encode()),
    ]


def _unauthorized(item: IncomingReport, owner: str) -> DecodeError | None:
    """Why a report read on institution ``owner``'s topic is refused, if it is."""
    filer = item.report.institution_id
    if filer == owner:
        return None
    return DecodeError(
        DecodeFailure.UNAUTHORIZED,
        f"a report of institution {filer} on the topic of institution {owner}: an institution"
        " files only on its own topic",
    )


def _position(item: IncomingReport) -> tuple[str, int, int]:
    source = item.source
    assert source is not None  # the worker's reports all come from a topic
    return (source.topic, source.partition, source.offset)


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
        detector: Detector | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        """``on_batch`` is called with each batch's result once its offsets were committed
        (what a benchmark times)."""
        self.settings = settings
        self.sessions = sessions
        self.consumer = consumer
        self.producer = producer
        self.metrics = metrics or WorkerMetrics()
        self.detector = detector
        self._sleep = sleep
        self._on_batch = on_batch
        self._stopping = False
        self.relay = FileRelay(settings)

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
        """Consumes until stopped; returns the process exit code.

        Two batches overlap: while the store thread writes and scores batch *n* (database
        round trips, Polars and the model mostly run without the GIL), this thread keeps
        polling and decoding what arrives into batch *n + 1*, up to ``worker_batch_size``
        messages, and hands it over as soon as batch *n* is done. A slow stream thus gets
        batches as large as the time the previous one took (few fixed costs, low latency); a
        backlog gets full batches. Offsets are still committed batch after batch, in order,
        each only after its batch's transaction committed and its messages were acknowledged.
        """
        topics = subscription(self.settings)
        if isinstance(topics, str):
            self.consumer.subscribe(pattern=topics)
        else:
            self.consumer.subscribe(topics)
        batch_size = self.settings.worker_batch_size
        backoff = 0.5
        idle_since = time.monotonic()
        pending: _InFlight | None = None
        gathering = _Gathering()
        store = ThreadPoolExecutor(max_workers=1, thread_name_prefix="amlscreen-store")
        sweep_every = self._sweep_interval()
        next_sweep = time.monotonic() + (sweep_every or 0.0)
        try:
            with worker_gc():
                while not self._stopping:
                    if sweep_every is not None and time.monotonic() >= next_sweep:
                        # On the store thread, between two batches: one writer at a time.
                        store.submit(self._open_quiet_alerts)
                        next_sweep = time.monotonic() + sweep_every
                    busy = pending is not None or gathering.count > 0
                    room = batch_size - gathering.count
                    records: dict[TopicPartition, list[Any]] = {}
                    if pending is not None and room > 0:
                        # Let the store thread work (no GIL taken here) for a while, then
                        # collect what arrived meanwhile in one poll.
                        wait([pending.future], timeout=_IN_FLIGHT_WAIT_S)
                    if room > 0:
                        records = self.consumer.poll(
                            timeout_ms=0 if busy else self.settings.worker_poll_timeout_ms,
                            max_records=room,
                        )
                        self.metrics.update_lag(self.consumer)
                        self._finish_pending_join()
                        if records:
                            gathering.add(records, self._prepare(records))
                            idle_since = time.monotonic()
                    if pending is not None and (room <= 0 or pending.future.done()):
                        failure = self._complete(pending, also=gathering.records)
                        pending = None
                        if failure is not None:
                            gathering = _Gathering()  # rewound with the failed batch
                            self._sleep(backoff)
                            backoff = min(backoff * 2, 30.0)
                            continue
                        backoff = 0.5
                    if pending is None and gathering.count:
                        prepared = gathering.prepared
                        assert prepared is not None
                        self.metrics.batch_size.observe(gathering.count)
                        pending = _InFlight(gathering.records, store.submit(self._store, prepared))
                        gathering = _Gathering()
                    elif (
                        not busy
                        and idle_exit_s is not None
                        and time.monotonic() - idle_since > idle_exit_s
                    ):
                        break
                if pending is not None:
                    self._complete(pending, also={})
        finally:
            store.shutdown(wait=True)
            self.consumer.close(autocommit=False)
            self.producer.flush(timeout=10)
        return 0

    def _sweep_interval(self) -> float | None:
        """Seconds between two looks for quiet institutions' held reports (None: nothing is
        ever held, without a detector or under a budget that is not spent by rank)."""
        if self.detector is None:
            return None
        policy = self.detector.policy
        if not (policy.budgeted and policy.ranked):
            return None
        return self.settings.alert_budget_quiet_seconds / 2

    def _open_quiet_alerts(self) -> None:
        """Opens and publishes the alerts the ranked budget picks for institutions that have
        held no candidate for ``alert_budget_quiet_seconds`` (``streaming.screening``).

        Never fatal: a failure is logged. One before the commit leaves the held reports in the
        store, and the next sweep tries again; an alert committed whose ``aml.alerts`` message
        the broker then refused stays in the store (the console and the API read it) without
        its message, as an alert of a batch does.
        """
        assert self.detector is not None
        quiet_since = utc_now() - timedelta(seconds=self.settings.alert_budget_quiet_seconds)
        try:
            with transaction(self.sessions) as session:
                messages = open_quiet_alerts(session, self.detector, quiet_since)
            published = [
                (
                    self.producer.send(
                        self.settings.topic_alerts, key=message.key, value=message.value
                    ),
                    message,
                )
                for message in messages
            ]
            if published:
                self.producer.flush(timeout=30)
            for future, message in published:
                if future.failed():
                    raise future.exception
                self.metrics.alert_published(message.typology, None)
        except Exception as error:
            self.metrics.alert_sweeps.labels("failed").inc()
            log.warning("sweep of quiet institutions failed (%s): %s", type(error).__name__, error)
            return
        self.metrics.alert_sweeps.labels("ok").inc()
        if messages:
            log.info("opened %d held alerts of quiet institutions", len(messages))

    def _finish_pending_join(self) -> None:
        """Applies a group join that kafka-python finished but forgot.

        kafka-python 2.3.3 (the last 2.x) rejoins the group when a metadata refresh adds a
        topic matching the pattern (a new institution topic) without marking the rejoin as
        needed, unlike the Java client (``rejoinNeededOrPending``). Once the JoinGroup naming
        the new topic is sent, nothing is left to rejoin for; if the join does not finish
        inside that one coordinator poll (the embedded broker answers JoinGroup after 5 s),
        its SyncGroup answer completes the join future but the assignment is never applied,
        and the worker goes on with the old one, never reading the new topic (seen in
        tests/streaming/test_institution_topics.py). Asking for a rejoin then makes the
        next poll take the finished join and apply its assignment.
        """
        coordinator = getattr(self.consumer, "_coordinator", None)
        future = getattr(coordinator, "join_future", None)
        if coordinator is None or future is None or not future.is_done:
            return
        if not coordinator.need_rejoin():
            log.info("applying the consumer group's last assignment (kafka-python 2.3)")
            coordinator.request_rejoin()

    def _complete(
        self, pending: _InFlight, *, also: dict[TopicPartition, list[Any]]
    ) -> Exception | None:
        """Waits for a batch in flight; commits its offsets, or rewinds it (and ``also``)."""
        try:
            result = pending.future.result()
        except Exception as error:
            if not is_transient(error):
                raise
            cause = "broker" if isinstance(error, KafkaError) else "database"
            self.metrics.batch_failures.labels(cause).inc()
            log.warning("batch failed (%s), replaying it: %s", cause, error)
            self._rewind(pending.records, also)
            return error
        self._commit(result)
        return None

    def _rewind(
        self,
        records: dict[TopicPartition, list[Any]],
        later: dict[TopicPartition, list[Any]] | None = None,
    ) -> None:
        """Seeks back to the batch's first offsets so the next poll replays it.

        ``later`` is a batch polled after it: its partitions the failed batch did not touch are
        rewound to their own first offsets (its other messages come after the failed ones).
        """
        first: dict[TopicPartition, int] = {}
        for batch in (later or {}, records):
            for partition, messages in batch.items():
                if messages:
                    first[partition] = messages[0].offset
        for partition, offset in first.items():
            try:
                self.consumer.seek(partition, offset)
            except (AssertionError, KafkaError):
                pass  # partition revoked meanwhile: its new owner resumes from the commit

    def process(self, records: dict[TopicPartition, list[Any]]) -> BatchResult:
        """Processes one micro-batch end to end and commits its offsets (no overlap)."""
        prepared = self._prepare(records)
        self.metrics.batch_size.observe(prepared.count)
        result = self._store(prepared)
        self._commit(result)
        return result

    # ---- the stages of a batch -----------------------------------------------------------
    def _prepare(self, records: dict[TopicPartition, list[Any]]) -> _Prepared:
        """Decodes and validates a batch; computes each report's canonical form and hash."""
        metrics = self.metrics
        started = time.perf_counter()
        prepared = _Prepared(started=time.time())
        count = 0
        max_bytes = self.settings.max_message_bytes
        files_until = started + self.settings.worker_file_budget_s
        files = 0
        for partition, messages in records.items():
            topic, number = partition.topic, partition.partition
            count += len(messages)
            if self.relay.handles(topic):
                offset, files = self._expand_files(
                    partition, messages, prepared, files_until, files
                )
                prepared.offsets[partition] = offset
                continue
            owner = self.settings.topic_institution(topic)
            for message in messages:
                try:
                    item = _decode(message, topic, number, max_bytes)
                except Exception as error:  # a bug met by one message: that message's DLQ entry
                    item = poison_reason(error)
                if isinstance(item, DecodeError):
                    prepared.rejects.append((message, item))
                    continue
                if owner is not None:
                    refused = _unauthorized(item, owner)
                    if refused is not None:
                        prepared.rejects.append((message, refused))
                        continue
                    prepared.relay.append(
                        Relayed(
                            item.report.subject_key.encode(),
                            message.value,
                            _origin(message),
                            message.timestamp if message.timestamp > 0 else None,
                        )
                    )
                    continue
                prepared.messages[_position(item)] = message
                prepared.items.append(item)
            prepared.offsets[partition] = messages[-1].offset + 1
        prepared.count = count
        metrics.stage_duration.labels("decode").observe(time.perf_counter() - started)
        return prepared

    def _expand_files(
        self,
        partition: TopicPartition,
        messages: list[Any],
        prepared: _Prepared,
        until: float,
        done: int,
    ) -> tuple[int, int]:
        """Expands the files of a format-topic partition (``streaming.intake``) until ``until``
        (``time.perf_counter()``), at least one per batch; the rest are read again by the next
        poll. Returns the partition's next offset and the files expanded so far.

        A large FinCEN file takes a minute to validate: a poll of many of them must not hold
        the batch past ``max_poll_interval_ms``, or the group evicts the worker, the commit
        fails and the batch replays forever.
        """
        for message in messages:
            if done and time.perf_counter() > until:
                self.consumer.seek(partition, message.offset)
                return message.offset, done
            try:
                expanded = self.relay.expand(message)
            except Exception as error:  # a reader's bug met by one file: that file's DLQ entry
                expanded = poison_reason(error)
            done += 1
            if isinstance(expanded, DecodeError):
                prepared.rejects.append((message, expanded))
            else:
                origin = _origin(message)
                prepared.relay.extend(Relayed(key, value, origin) for key, value in expanded)
        return messages[-1].offset + 1, done

    def _store(self, prepared: _Prepared) -> BatchResult:
        """The batch's transaction (screening), then its dead letters and alerts."""
        metrics = self.metrics
        rejects = prepared.rejects
        started = time.perf_counter()
        outcome, alert_messages, refused = self._store_parts(prepared.items)
        metrics.stage_duration.labels("persist").observe(time.perf_counter() - started)

        for item, error in refused:
            rejects.append((prepared.messages[_position(item)], error))
        for item in outcome.conflicts:
            rejects.append(
                (
                    prepared.messages[_position(item)],
                    DecodeError(
                        DecodeFailure.CONFLICT,
                        f"report {item.report.institution_id}/{item.report.report_id} was"
                        " already stored with different content; the stored one is kept",
                    ),
                )
            )

        started = time.perf_counter()
        sent = [self._dead_letter(message, error) for message, error in rejects]
        sent += [
            self.producer.send(
                self.settings.topic_reports,
                key=record.key,
                value=record.value,
                headers=record.headers,
                timestamp_ms=record.timestamp_ms,
            )
            for record in prepared.relay
        ]
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

        counts = Counter(
            [(item.report.report_type._value_, "stored") for item in outcome.inserted]
            + [(item.report.report_type._value_, "duplicate") for item in outcome.duplicates]
        )
        if rejects:
            counts[("unknown", "dead_letter")] += len(rejects)
        for labels, count in counts.items():
            metrics.reports_consumed.labels(*labels).inc(count)
        for kind, count in Counter(reject.kind.value for _, reject in rejects).items():
            metrics.dlq_messages.labels(kind).inc(count)
        return BatchResult(
            inserted=len(outcome.inserted),
            duplicates=len(outcome.duplicates),
            dead_letters=len(rejects),
            alerts=len(alert_messages),
            offsets=prepared.offsets,
            started=prepared.started,
            finished=time.time(),
        )

    def _transact(self, items: Sequence[IncomingReport]) -> Screened:
        """One transaction: screen ``items`` (``streaming.screening``)."""
        with transaction(self.sessions) as session:
            return screen(session, items, self.detector)

    def _store_parts(
        self, items: Sequence[IncomingReport]
    ) -> tuple[PersistOutcome, list[AlertMessage], list[tuple[IncomingReport, DecodeError]]]:
        """Stores the batch; if it fails for its data, splits it until the culprits are alone.

        A failure that is not transient (``streaming.poison``) is blamed on the batch's
        reports: the batch is cut in halves, each tried in its own transaction, first half
        first (so the order of a subject's reports is kept), down to single reports. Those that
        still fail are returned with their reason for the DLQ; every other report is stored. A
        transient failure propagates: the caller rewinds the whole batch (the parts already
        committed are duplicates on replay, absorbed by the idempotent store).
        """
        outcome = PersistOutcome()
        alerts: list[AlertMessage] = []
        refused: list[tuple[IncomingReport, DecodeError]] = []
        parts: list[Sequence[IncomingReport]] = [items]
        while parts:
            part = parts.pop()
            try:
                screened = self._transact(part)
            except Exception as error:
                if is_transient(error):
                    raise
                if len(part) > 1:
                    log.warning(
                        "a batch of %d reports failed (%s): splitting it to isolate the cause",
                        len(part),
                        type(error).__name__,
                    )
                    middle = len(part) // 2
                    parts += [part[middle:], part[:middle]]  # the first half is popped first
                    continue
                refused.append((part[0], poison_reason(error)))
                continue
            outcome.inserted += screened.outcome.inserted
            outcome.duplicates += screened.outcome.duplicates
            outcome.conflicts += screened.outcome.conflicts
            alerts += screened.alerts
        return outcome, alerts, refused

    def _commit(self, result: BatchResult) -> None:
        """Commits the batch's offsets (``last + 1`` per partition); this thread only."""
        started = time.perf_counter()
        try:
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in result.offsets.items()}
            )
        except (CommitFailedError, RebalanceInProgressError) as error:
            # The group rebalanced (or is rebalancing): the partitions' next owner replays from
            # the last commit, idempotently. Raised out of the loop, this stopped the worker.
            log.warning("offset commit refused during a rebalance: %s", type(error).__name__)
        self.metrics.stage_duration.labels("commit").observe(time.perf_counter() - started)
        if self._on_batch is not None:
            self._on_batch(result)

    def _dead_letter(self, message: Any, error: DecodeError) -> Any:
        headers = [
            ("aml.error.kind", error.kind.value.encode()),
            ("aml.error.reason", error.reason.encode()[:4000]),
            ("aml.source.topic", message.topic.encode()),
            ("aml.source.partition", str(message.partition).encode()),
            ("aml.source.offset", str(message.offset).encode()),
        ]
        # A relayed report (streaming.intake, institution topics) names where it was read.
        headers += [
            (key, value)
            for key, value in message.headers or ()
            if key.startswith("aml.origin.") and value is not None
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
