"""Worker metrics, declared once per process on the worker's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reports_consumed = Counter(
            "amlscreen_reports_consumed_total",
            "Messages read from the reports topic, by report type and outcome.",
            ["report_type", "outcome"],
            registry=self.registry,
        )
        self.dlq_messages = Counter(
            "amlscreen_dlq_messages_total",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "amlscreen_batch_size_messages",
            "Messages per micro-batch.",
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.stage_duration = Histogram(
            "amlscreen_stage_duration_seconds",
            "Time spent per micro-batch in each stage.",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.batch_failures = Counter(
            "amlscreen_batch_failures_total",
            "Micro-batches that failed and were retried, by cause.",
            ["cause"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "amlscreen_consumer_lag_messages",
            "Messages behind the end of each assigned partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
