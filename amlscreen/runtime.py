"""Process bodies shared by ``amlscreen worker`` and ``amlscreen up``."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from services.config import Settings
from services.db import make_engine, make_sessionmaker
from streaming.metrics import WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import Worker, make_consumer

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    """Runs one consumer worker until SIGTERM/SIGINT; returns its exit code."""
    engine = make_engine(settings.effective_database_url)
    metrics = WorkerMetrics()
    if settings.worker_metrics_port:
        start_http_server(
            settings.worker_metrics_port,
            addr=settings.worker_metrics_host,
            registry=metrics.registry,
        )
    worker = Worker(
        settings=settings,
        sessions=make_sessionmaker(engine),
        consumer=make_consumer(settings),
        producer=make_producer(settings.bootstrap_servers),
        metrics=metrics,
    )
    worker.install_signal_handlers()
    log.info("worker consuming %s from %s", settings.topic_reports, settings.bootstrap_servers)
    try:
        return worker.run()
    finally:
        engine.dispose()
