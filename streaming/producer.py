"""Producing to Kafka: the report publisher used by HTTP ingest and the simulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.config import Settings
from services.reports.service import PublishFailed

# Large enough for the biggest message we still want to keep in the DLQ (1 MB and more).
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def make_producer(
    bootstrap: str, *, security: Mapping[str, Any] | None = None, **overrides: Any
) -> KafkaProducer:
    """A producer that waits for all in-sync replicas (acks=all).

    ``security`` is ``Settings.kafka_security()`` (TLS and SASL); none: PLAINTEXT.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_request_size": MAX_REQUEST_BYTES,
        "retries": 5,
        "client_id": "amlscreen",
        **(security or {}),
    }
    config.update(overrides)
    return KafkaProducer(**config)


class KafkaReportPublisher:
    """Publishes reports keyed by subject key and returns once every one is acknowledged."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        ack_timeout_s: float = 30.0,
        *,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s
        self._producer = make_producer(bootstrap, security=security)

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaReportPublisher:
        """The API's publisher: to the reports topic, as the configured Kafka principal."""
        return cls(
            settings.bootstrap_servers, settings.topic_reports, security=settings.kafka_security()
        )

    def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        try:
            futures = [
                self._producer.send(self.topic, key=key, value=value) for key, value in records
            ]
            self._producer.flush(timeout=self.ack_timeout_s)
            for future in futures:
                future.get(timeout=self.ack_timeout_s)
        except KafkaError as error:
            raise PublishFailed(type(error).__name__) from error

    def close(self) -> None:
        self._producer.close(timeout=10)
