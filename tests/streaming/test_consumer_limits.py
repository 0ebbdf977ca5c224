"""The worker's consumer on a backlog: every fetch answer fits the consumer's frame limit.

kafka-python 2.3 refuses response frames above ``receive_message_max_bytes`` (1,000,000 by
default) whatever the fetch sizes allow; the embedded broker answers a fetch on a backlog
with about 5 MiB, so the worker's first fetch used to be dropped with "Invalid frame length"
and the connection (with every request in flight on it) closed.
"""

from __future__ import annotations

import logging
import time
import uuid

import orjson
import pytest

from services.config import Settings
from streaming.broker import EmbeddedBroker, ensure_topics
from streaming.producer import MAX_REQUEST_BYTES, make_producer
from streaming.worker import make_consumer
from tests.fixtures.reports import make_report

pytestmark = pytest.mark.broker

BACKLOG = 30_000  # ~17 MB of realistic reports: a few 5 MiB fetch answers


def _settings(broker: EmbeddedBroker) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_reports=f"aml.reports.{suffix}",
        consumer_group=f"amlscreen-worker-{suffix}",
    )
    ensure_topics(settings.bootstrap_servers, {settings.topic_reports: settings.topic_partitions})
    return settings


@pytest.mark.parametrize(
    "overrides",
    [{}, {"fetch_max_bytes": 128 * 1024 * 1024}, {"max_partition_fetch_bytes": 96 * 1024 * 1024}],
    ids=["defaults", "larger-fetch", "larger-partition-fetch"],
)
def test_the_frame_limit_holds_the_largest_answer_the_fetch_sizes_allow(
    broker: EmbeddedBroker, overrides: dict[str, int]
) -> None:
    consumer = make_consumer(_settings(broker), **overrides)
    try:
        config = consumer.config
    finally:
        consumer.close(autocommit=False)
    largest_answer = (
        max(config["fetch_max_bytes"], config["max_partition_fetch_bytes"]) + MAX_REQUEST_BYTES
    )
    assert config["receive_message_max_bytes"] > largest_answer


def test_a_large_backlog_is_consumed_without_frame_errors(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(broker)
    producer = make_producer(settings.bootstrap_servers)
    for index in range(BACKLOG):
        report = make_report(index)
        producer.send(
            settings.topic_reports,
            key=report["subject"]["subject_id"].encode(),
            value=orjson.dumps(report),
        )
    producer.flush(timeout=120)
    producer.close()

    seen: set[tuple[int, int]] = set()
    delivered = 0
    with caplog.at_level(logging.WARNING):
        consumer = make_consumer(settings)
        try:
            consumer.subscribe([settings.topic_reports])
            deadline = time.monotonic() + 60  # the first group join alone takes ~5 s
            while delivered < BACKLOG and time.monotonic() < deadline:
                for messages in consumer.poll(timeout_ms=500).values():
                    delivered += len(messages)
                    seen.update((message.partition, message.offset) for message in messages)
            consumer.commit()
        finally:
            consumer.close(autocommit=False)

    errors = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("kafka") and record.levelno >= logging.ERROR
    ]
    assert not errors, errors
    assert not [text for text in caplog.messages if "Invalid frame length" in text]
    assert delivered == BACKLOG == len(seen), "every report once, none lost or repeated"
