"""Process bodies shared by ``amlscreen worker`` and ``amlscreen up``."""

from __future__ import annotations

import logging
import sys

from prometheus_client import start_http_server

from models.registry import ModelArtefactError
from services.config import Settings
from services.db import make_engine
from services.orm_registry import make_sessionmaker
from streaming.detection import build_detector
from streaming.metrics import WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import Worker, make_consumer, subscription

log = logging.getLogger(__name__)

# argparse's convention for "cannot run with this configuration".
EXIT_CONFIGURATION = 2


def run_worker(settings: Settings) -> int:
    """Runs one consumer worker with detection until SIGTERM/SIGINT; returns its exit code.

    The model is loaded (and its card verified) before the worker joins the consumer group:
    a worker without a usable model would store reports it never scores, so it refuses to
    start instead, and says which artefact is wrong and how to get a good one.
    """
    metrics = WorkerMetrics()
    metrics.set_model(None)
    if settings.worker_metrics_port:
        start_http_server(
            settings.worker_metrics_port,
            addr=settings.worker_metrics_host,
            registry=metrics.registry,
        )
    consumer = make_consumer(settings)
    try:
        detector = build_detector(settings, consumer=consumer, metrics=metrics)
    except ModelArtefactError as error:
        consumer.close(autocommit=False)
        print(  # noqa: T201 - the operator's console message
            f"error: cannot load the scoring model: {error}\n"
            "Train one with `amlscreen train --out PATH` and point AMLSCREEN_MODEL_PATH at it"
            " (`amlscreen up` trains a default model on first start).",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    engine = make_engine(settings.effective_database_url)
    worker = Worker(
        settings=settings,
        sessions=make_sessionmaker(engine),
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers, security=settings.kafka_security()),
        metrics=metrics,
        detector=detector,
    )
    worker.install_signal_handlers()
    log.info(
        "worker consuming %s from %s (%s%s)",
        subscription(settings),
        settings.bootstrap_servers,
        settings.kafka_security_protocol,
        f" as {settings.kafka_sasl_username}" if settings.kafka_sasl_username else "",
    )
    try:
        return worker.run()
    finally:
        engine.dispose()
