"""Worker metrics, declared once per process on the worker's own registry.

Every metric the worker exports is declared here (STYLE.md rule 9); the worker, the detection
hook and the model loader set them through the attributes and helpers of ``WorkerMetrics``.
``docs/operations.md`` lists each one with the dashboard panel that shows it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from refdata.typologies import TYPOLOGIES
from services.alerts.policy import Threshold

_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
# From a report's Kafka timestamp to its alert on aml.alerts: sub-second when the worker keeps
# up, minutes when it is behind, hours when it replays a backlog.
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Event time a report the ranked alert budget held waited for the recompute that opened its
# alert: up to the recompute cadence (6 h by default), longer while its institution is quiet.
_HOLD_BUCKETS = (
    60,
    600,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    3 * 86_400,
    14 * 86_400,
)

# The stages of a micro-batch, in order. decode/persist/publish/commit are timed by the worker
# loop; features/score/watchlist/alert by the detection hook, inside the persist transaction.
# "alert" includes naming the typology of the reports the alert policy lets through (only
# those are typed: Detector.type_rows).
STAGES: tuple[str, ...] = (
    "decode",
    "persist",
    "features",
    "score",
    "watchlist",
    "alert",
    "publish",
    "commit",
)
# Alerts whose typology guess is none of the named typologies are counted as "other",
# so a free-text guess can never grow the label set.
OTHER_TYPOLOGY = "other"


class WorkerMetrics:
    """The worker process' metrics.

    Set by the consumer loop (``streaming.worker.Worker``): ``reports_consumed``,
    ``dlq_messages``, ``batch_size``, ``stage_duration`` (decode, persist, publish, commit),
    ``batch_failures`` and ``consumer_lag`` (through :meth:`update_lag`).
    Set by detection (``streaming.screening``): ``stage_duration`` (features, score,
    watchlist, alert), ``alerts_raised`` and ``produce_to_alert`` (through :meth:`alert_published`).
    Set by whoever loads the scoring model: ``model_info`` and ``model_loaded`` (through
    :meth:`set_model`).
    """

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
        self.produce_to_alert = Histogram(
            "amlscreen_produce_to_alert_seconds",
            "From the report's Kafka record timestamp to its alert being published.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.alert_hold = Histogram(
            "amlscreen_alert_hold_seconds",
            "Event time from a report the ranked alert budget held back to the recompute that"
            " opened its alert.",
            buckets=_HOLD_BUCKETS,
            registry=self.registry,
        )
        self.alert_sweeps = Counter(
            "amlscreen_alert_sweeps_total",
            "Sweeps of quiet institutions' held reports (ranked alert budget), by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("ok", "failed"):
            self.alert_sweeps.labels(outcome)  # both series exist from the start
        self.alerts_raised = Counter(
            "amlscreen_alerts_raised_total",
            "Alerts raised and published, by typology guess.",
            ["typology"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "amlscreen_model_info",
            "The scoring model in use: always 1, the version is the label.",
            ["version"],
            registry=self.registry,
        )
        self.rules_info = Gauge(
            "amlscreen_rules_info",
            "The rule configuration in use: always 1, its digest is the label.",
            ["digest"],
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "amlscreen_model_loaded",
            "1 when a verified scoring model is loaded, 0 otherwise.",
            registry=self.registry,
        )
        self.alert_threshold = Gauge(
            "amlscreen_alert_threshold",
            "The alert threshold in force per institution (the model's, or the budget's).",
            ["institution"],
            registry=self.registry,
        )
        self.alert_threshold_version = Gauge(
            "amlscreen_alert_threshold_version",
            "The budget version of the threshold in force per institution (0: the model's).",
            ["institution"],
            registry=self.registry,
        )
        self._lag_labels: set[tuple[str, str]] = set()
        self._lag_updated = float("-inf")

    def set_model(self, version: str | None) -> None:
        """Records the loaded model's version, or that no model is loaded (``None``)."""
        self.model_info.clear()
        if version is None:
            self.model_loaded.set(0)
            return
        self.model_info.labels(version).set(1)
        self.model_loaded.set(1)

    def set_rules(self, digest: str) -> None:
        """Records the digest of the rule configuration the worker screens with."""
        self.rules_info.clear()
        self.rules_info.labels(digest).set(1)

    def set_thresholds(self, thresholds: Mapping[str, Threshold]) -> None:
        """Records the threshold each institution's reports were judged against."""
        for institution, threshold in thresholds.items():
            self.alert_threshold.labels(institution).set(threshold.value)
            self.alert_threshold_version.labels(institution).set(threshold.version or 0)

    def alert_published(
        self, typology: str | None, produced_at_ms: int | None, *, now: float | None = None
    ) -> None:
        """Counts one published alert and observes its produce-to-alert latency.

        ``produced_at_ms`` is the Kafka record timestamp (milliseconds since the epoch) of the
        report that raised the alert; call this once the alert was acknowledged by the broker.
        """
        label = typology if typology in TYPOLOGIES else OTHER_TYPOLOGY
        self.alerts_raised.labels(label).inc()
        if produced_at_ms is not None and produced_at_ms > 0:
            current = time.time() if now is None else now
            self.produce_to_alert.observe(max(0.0, current - produced_at_ms / 1000))

    def update_lag(self, consumer: Any, *, min_interval_s: float = 1.0) -> None:
        """Sets the lag of every assigned partition from the consumer's own fetch state.

        ``highwater`` comes with every fetch response and ``position`` is local, so this costs
        no request. Partitions this worker no longer owns are removed: their new owner reports
        them, and a stale series would count the lag twice.
        """
        started = time.monotonic()
        if started - self._lag_updated < min_interval_s:
            return
        self._lag_updated = started
        current: set[tuple[str, str]] = set()
        partition: TopicPartition
        for partition in consumer.assignment():
            try:
                end = consumer.highwater(partition)
                position = consumer.position(partition, timeout_ms=0)
            except AssertionError:
                continue  # revoked between assignment() and here
            if end is None or position is None:
                continue  # no fetch response yet for this partition
            labels = (partition.topic, str(partition.partition))
            self.consumer_lag.labels(*labels).set(max(0, end - position))
            current.add(labels)
        for gone in self._lag_labels - current:
            self.consumer_lag.remove(*gone)
        self._lag_labels = current
