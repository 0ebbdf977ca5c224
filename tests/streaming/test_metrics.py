"""WorkerMetrics helpers: consumer lag, published alerts, the model gauges."""

from __future__ import annotations

from kafka import TopicPartition

from streaming.metrics import OTHER_TYPOLOGY, WorkerMetrics


class FakeConsumer:
    """The three KafkaConsumer calls update_lag makes (a process boundary)."""

    def __init__(self, ends: dict[TopicPartition, int | None], positions: dict) -> None:
        self.ends = ends
        self.positions = positions

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.ends[partition]

    def position(self, partition: TopicPartition, timeout_ms: int | None = None) -> int | None:
        assert timeout_ms == 0, "update_lag must never wait for the broker"
        if partition not in self.positions:
            raise AssertionError("Partition is not assigned")
        return self.positions[partition]


def _sample(metrics: WorkerMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


class TestLag:
    def test_lag_per_partition_and_revocation(self) -> None:
        metrics = WorkerMetrics()
        p0, p1, p2 = (TopicPartition("aml.reports", n) for n in range(3))
        metrics.update_lag(
            FakeConsumer({p0: 120, p1: 50, p2: None}, {p0: 100, p1: 50, p2: 7}), min_interval_s=0
        )
        lag = "amlscreen_consumer_lag_messages"
        assert _sample(metrics, lag, topic="aml.reports", partition="0") == 20
        assert _sample(metrics, lag, topic="aml.reports", partition="1") == 0
        assert _sample(metrics, lag, topic="aml.reports", partition="2") is None  # no fetch yet

        # p0 went to another worker: its series goes, or the lag would be counted twice.
        metrics.update_lag(FakeConsumer({p1: 80}, {p1: 60}), min_interval_s=0)
        assert _sample(metrics, lag, topic="aml.reports", partition="0") is None
        assert _sample(metrics, lag, topic="aml.reports", partition="1") == 20

    def test_revoked_between_calls_and_throttle(self) -> None:
        metrics = WorkerMetrics()
        p0 = TopicPartition("t", 0)
        metrics.update_lag(FakeConsumer({p0: 10}, {}), min_interval_s=0)
        assert _sample(metrics, "amlscreen_consumer_lag_messages", topic="t", partition="0") is None
        metrics.update_lag(FakeConsumer({p0: 10}, {p0: 4}), min_interval_s=0)
        metrics.update_lag(FakeConsumer({p0: 99}, {p0: 4}), min_interval_s=3600)
        assert _sample(metrics, "amlscreen_consumer_lag_messages", topic="t", partition="0") == 6


class TestDetectionMetrics:
    def test_alert_published(self) -> None:
        metrics = WorkerMetrics()
        metrics.alert_published("structuring", 1_000_000, now=1_002.5)
        metrics.alert_published("made up by someone", 1_000_000, now=1_000.0)
        metrics.alert_published(None, None)
        total = "amlscreen_alerts_raised_total"
        assert _sample(metrics, total, typology="structuring") == 1
        assert _sample(metrics, total, typology=OTHER_TYPOLOGY) == 2
        assert _sample(metrics, "amlscreen_produce_to_alert_seconds_count") == 2
        assert _sample(metrics, "amlscreen_produce_to_alert_seconds_sum") == 2.5

    def test_model_gauges(self) -> None:
        metrics = WorkerMetrics()
        assert _sample(metrics, "amlscreen_model_loaded") == 0
        metrics.set_model("2026.12.0")
        assert _sample(metrics, "amlscreen_model_loaded") == 1
        assert _sample(metrics, "amlscreen_model_info", version="2026.12.0") == 1
        metrics.set_model("2026.12.1")
        assert _sample(metrics, "amlscreen_model_info", version="2026.12.0") is None
        assert _sample(metrics, "amlscreen_model_info", version="2026.12.1") == 1
        metrics.set_model(None)
        assert _sample(metrics, "amlscreen_model_loaded") == 0
        assert _sample(metrics, "amlscreen_model_info", version="2026.12.1") is None

    def test_rules_gauge_holds_one_digest(self) -> None:
        metrics = WorkerMetrics()
        metrics.set_rules("3f2a9c0d1e4b")
        metrics.set_rules("77c1e0a5b9d2")
        assert _sample(metrics, "amlscreen_rules_info", digest="3f2a9c0d1e4b") is None
        assert _sample(metrics, "amlscreen_rules_info", digest="77c1e0a5b9d2") == 1
