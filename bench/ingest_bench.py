"""Worker ingest throughput vs the raw kafka-python consume rate of the same topic.

    .venv/bin/python bench/ingest_bench.py --reports 50000 --runs 3
    .venv/bin/python bench/ingest_bench.py --processes 2 --backends postgresql

Each run: produce N reports to a fresh topic on a fresh embedded broker, time a plain
KafkaConsumer reading them all (raw rate), then time the worker's own loop (``Worker.run``,
no detector) storing them all (a fresh database each run), from the start of its first
batch to the end of its last, on SQLite and on PostgreSQL. Prints medians and the ratio.
``--processes N``: N worker processes in one consumer group (the scale-out unit, one per
group of partitions) share the topic; the rate is theirs together, from the first batch
started by any of them to the last one finished.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg
from kafka import KafkaConsumer
from sqlalchemy import func, select

from services.config import Settings
from services.db import make_engine
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker
from services.reports.orm import Report
from streaming.broker import EmbeddedBroker, ensure_topics
from streaming.metrics import WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import BatchResult, Worker, make_consumer
from tests.conftest import free_port
from tests.fixtures.reports import make_report

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def raw_rate(bootstrap: str, topic: str, n: int) -> float:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    seen, started = 0, None
    while seen < n:
        for messages in consumer.poll(timeout_ms=1000, max_records=5000).values():
            started = started or time.perf_counter()
            seen += len(messages)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return n / elapsed


class _Counting(Worker):
    """The real worker loop; stops once ``target`` reports are stored."""

    def __init__(self, *, target: int, **kwargs: Any) -> None:
        super().__init__(on_batch=self.batch_done, **kwargs)
        self.target = target
        self.stored = 0
        self.first: float | None = None
        self.last = 0.0
        self.report: Any = None  # in a process of a group: the queue its batches go to

    def batch_done(self, result: BatchResult) -> None:
        self.first = result.started if self.first is None else min(self.first, result.started)
        self.last = result.finished
        self.stored += result.inserted
        if self.report is not None:
            self.report.put((os.getpid(), result.started, result.finished, result.inserted))
        if self.stored >= self.target:
            self.stop()


def _build(settings: Settings, target: int) -> _Counting:
    return _Counting(
        target=target,
        settings=settings,
        sessions=make_sessionmaker(make_engine(settings.effective_database_url)),
        consumer=make_consumer(settings),
        producer=make_producer(settings.bootstrap_servers),
        metrics=WorkerMetrics(),
    )


def _child(settings_values: dict[str, Any], report: Any, stop: Any) -> None:
    """One worker process of the group: runs until the parent says every report is stored."""
    worker = _build(Settings(**settings_values), target=2**62)
    worker.report = report

    def watch() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=watch, daemon=True).start()
    worker.run()


def _group_rate(settings: Settings, n: int, processes: int) -> tuple[float, list[int]]:
    """``processes`` workers of one group storing the topic; their rate and shares."""
    context = multiprocessing.get_context("spawn")
    report, stop = context.Queue(), context.Event()
    children = [
        context.Process(target=_child, args=(settings.model_dump(), report, stop))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    stored, first, last = 0, float("inf"), 0.0
    shares: dict[int, int] = {}
    while stored < n:
        pid, started, finished, inserted = report.get(timeout=600)
        stored += inserted
        first, last = min(first, started), max(last, finished)
        shares[pid] = shares.get(pid, 0) + inserted
    stop.set()
    for child in children:
        child.join(timeout=60)
    return n / (last - first), sorted(shares.values())


def worker_rate(settings: Settings, n: int, processes: int = 1) -> float:
    """The worker (no detector) storing the topic: from its first batch to its last."""
    if processes > 1:
        rate, shares = _group_rate(settings, n, processes)
        print(f"    reports per process: {shares}", flush=True)
    else:
        worker = _build(settings, target=n)
        worker.run()
        assert worker.first is not None
        rate = n / (worker.last - worker.first)
    engine = make_engine(settings.effective_database_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == n
    engine.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--processes", type=int, default=1, help="worker processes, one group")
    args = parser.parse_args()
    values = [orjson.dumps(make_report(i)) for i in range(args.reports)]
    results: dict[str, list[tuple[float, float]]] = {b: [] for b in args.backends.split(",")}
    with EmbeddedBroker(free_port()) as broker, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for backend in results:
                topic = f"bench.{uuid.uuid4().hex[:8]}"
                ensure_topics(broker.bootstrap, {topic: 4})
                producer = make_producer(broker.bootstrap)
                for index, value in enumerate(values):
                    producer.send(topic, key=str(index % 997).encode(), value=value)
                producer.flush()
                producer.close()
                if backend == "sqlite":
                    url = f"sqlite:///{Path(tmp) / f'{topic}.db'}"
                else:
                    name = f"bench_{uuid.uuid4().hex[:8]}"
                    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
                        connection.execute(f'CREATE DATABASE "{name}"')
                    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
                upgrade(url)
                settings = Settings(
                    database_url=url,
                    kafka_bootstrap=broker.bootstrap,
                    topic_reports=topic,
                    consumer_group=f"bench-{uuid.uuid4().hex[:6]}",
                    worker_metrics_port=0,
                )
                raw = raw_rate(broker.bootstrap, topic, args.reports)
                persisted = worker_rate(settings, args.reports, args.processes)
                results[backend].append((raw, persisted))
                print(
                    f"run {run} {backend}: raw {raw:,.0f}/s worker {persisted:,.0f}/s "
                    f"ratio {persisted / raw:.2f}",
                    flush=True,
                )
    for backend, runs in results.items():
        raw = statistics.median(r for r, _ in runs)
        persisted = statistics.median(p for _, p in runs)
        ratio = statistics.median(p / r for r, p in runs)
        print(
            f"{backend}: median raw {raw:,.0f}/s, worker {persisted:,.0f}/s"
            f" ({args.processes} process(es)), ratio {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
