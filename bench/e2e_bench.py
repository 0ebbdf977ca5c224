"""End-to-end worker benchmark: Kafka → decode → detection → PostgreSQL → alerts.

    .venv/bin/python bench/e2e_bench.py --reports 50000 --warmup 50000 --runs 3
    .venv/bin/python bench/e2e_bench.py --processes 2 ...     # two workers, one group
    .venv/bin/python bench/e2e_bench.py --latency --rate 2000 --seconds 60 [--processes 2]

Throughput (default). Per run: a fresh PostgreSQL database (migrated), a fresh topic of
``--partitions`` partitions on one embedded broker, ``--warmup + --reports`` generator reports
produced keyed by subject key. The raw kafka-python consume rate of that topic is measured
first (a plain consumer reading every message), then the real ``Worker`` with the detection
detector (``build_detector``) consumes the topic until every report is stored. The warm-up
reports are the first days of the same generated stream: when they have been processed, the
worker's window state and the store hold the subjects' history, so the measured reports are
scored against a warm state (``--warmup 0``: a cold start, every subject loaded from an empty
store on first sight). The rate counts the measured reports only, from the end of the first
batch past the warm-up to the end of the last batch. Medians of ``--runs`` runs; the ratio
is taken within each run.

Latency (``--latency``). A fresh database and topic; the warm-up reports are processed, then
a paced producer (another process) sends the stream's continuation at ``--rate`` reports/s
for ``--seconds`` while the worker runs. Latency is the worker's own produce-to-alert
measurement (``WorkerMetrics.alert_published``: from the report's Kafka record timestamp to
the broker's acknowledgement of its alert on ``aml.alerts``), recorded per alert.

The model: ``--model`` or ``var/bench/model.skops`` (``ensure_default_model`` trains the
default one there on first use, about 40 s to 3 min on two shared cores).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import orjson
import psycopg
from sqlalchemy import func, select

from amlscreen.synthetic import ensure_default_model
from refdata.subject import document_subject_key
from services.alerts.orm import Alert
from services.config import Settings
from services.db import make_engine
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker
from services.reports.orm import Report
from simulator.generate import GeneratorConfig, generate
from streaming.broker import EmbeddedBroker, ensure_topics
from streaming.detection import build_detector
from streaming.metrics import STAGES, WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import BatchResult, Worker, make_consumer
from tests.conftest import free_port

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_MODEL = Path("var/bench/model.skops")
SEED = 20261128
START = datetime(2026, 3, 2, tzinfo=UTC)


# ---- set-up -------------------------------------------------------------------------------


def stream(total: int, days: int) -> list[dict[str, Any]]:
    config = GeneratorConfig(seed=SEED, n_reports=total, start=START, days=days)
    return [item.report for item in generate(config)]


def encoded(documents: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [
        (document_subject_key(doc["institution_id"], doc["subject"]).encode(), orjson.dumps(doc))
        for doc in documents
    ]


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"amlscreen_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_settings(args: argparse.Namespace, url: str, bootstrap: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=url,
        kafka_bootstrap=bootstrap,
        topic_reports=f"e2e.reports.{suffix}",
        topic_dlq=f"e2e.dlq.{suffix}",
        topic_alerts=f"e2e.alerts.{suffix}",
        topic_partitions=args.partitions,
        consumer_group=f"e2e-{suffix}",
        worker_metrics_port=0,
        worker_batch_size=args.batch_size,
        worker_poll_timeout_ms=args.poll_timeout_ms,
        model_path=args.model,
    )
    ensure_topics(
        bootstrap,
        {settings.topic_reports: args.partitions, settings.topic_dlq: 1, settings.topic_alerts: 1},
    )
    return settings


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(bootstrap)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=120)
    producer.close()


def raw_rate(settings: Settings, n: int) -> float:
    """A plain kafka-python consumer (the worker's fetch settings) reading the whole topic."""
    consumer = make_consumer(settings, group_id=f"raw-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([settings.topic_reports])
    seen, started = 0, None
    while seen < n:
        for messages in consumer.poll(timeout_ms=1000, max_records=5000).values():
            started = started or time.perf_counter()
            seen += len(messages)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close(autocommit=False)
    return n / elapsed


# ---- the worker under measurement ---------------------------------------------------------


@dataclass(slots=True)
class Progress:
    """One processed batch: wall-clock start and end, reports inserted."""

    start: float
    end: float
    inserted: int


class RecordingMetrics(WorkerMetrics):
    """The worker's metrics, keeping every produce-to-alert latency sample as well."""

    def __init__(self) -> None:
        super().__init__()
        self.latencies: list[tuple[int, float]] = []

    def alert_published(
        self, typology: str | None, produced_at_ms: int | None, *, now: float | None = None
    ) -> None:
        current = time.time() if now is None else now
        super().alert_published(typology, produced_at_ms, now=current)
        if produced_at_ms:
            self.latencies.append((produced_at_ms, current - produced_at_ms / 1000))


class TimedWorker(Worker):
    """The real worker; records each batch and stops once ``target`` reports are stored."""

    def __init__(self, *, target: int | None, report: Any = None, **kwargs: Any) -> None:
        super().__init__(on_batch=self.batch_done, **kwargs)
        self.target = target
        self.report = report
        self.progress: list[Progress] = []
        self.inserted = 0
        self.passed: threading.Event = threading.Event()
        self.threshold: int | None = None

    def batch_done(self, result: BatchResult) -> None:
        event = Progress(result.started, result.finished, result.inserted)
        self.progress.append(event)
        self.inserted += result.inserted
        if self.report is not None:
            self.report.put((os.getpid(), event.start, event.end, event.inserted))
        if self.threshold is not None and self.inserted >= self.threshold:
            self.passed.set()
        if self.target is not None and self.inserted >= self.target:
            self.stop()


def build_worker(
    settings: Settings, *, target: int | None, metrics: WorkerMetrics, report: Any = None
) -> TimedWorker:
    consumer = make_consumer(settings)
    detector = build_detector(settings, consumer=consumer, metrics=metrics)
    return TimedWorker(
        target=target,
        report=report,
        settings=settings,
        sessions=make_sessionmaker(make_engine(settings.effective_database_url)),
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers),
        metrics=metrics,
        detector=detector,
    )


def _child_worker(settings_values: dict[str, Any], report: Any, stop: Any) -> None:
    """A worker process of the consumer group (``--processes``)."""
    settings = Settings(**settings_values)
    metrics = RecordingMetrics()
    worker = build_worker(settings, target=None, metrics=metrics, report=report)

    def watch() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=watch, daemon=True).start()
    worker.run()
    report.put((os.getpid(), "latencies", metrics.latencies))
    report.put((os.getpid(), "stages", stage_totals(worker.metrics)))


def stage_totals(metrics: WorkerMetrics) -> dict[str, float]:
    totals: dict[str, float] = {}
    for stage in STAGES:
        value = metrics.registry.get_sample_value(
            "amlscreen_stage_duration_seconds_sum", {"stage": stage}
        )
        totals[stage] = float(value or 0.0)
    return totals


def measured_rate(events: list[Progress], warmup: int, total: int) -> float:
    """Reports/s over the measured part (see the module docstring)."""
    events = sorted(events, key=lambda e: e.end)
    if warmup == 0:
        first = min(e.start for e in events)
        return total / (events[-1].end - first)
    cumulative = 0
    for index, event in enumerate(events):
        cumulative += event.inserted
        if cumulative >= warmup:
            later = events[index + 1 :]
            count = sum(e.inserted for e in later)
            return count / (events[-1].end - event.end)
    raise AssertionError("the warm-up was never passed")


@dataclass
class ChildrenRun:
    """What ``--processes`` worker processes of one group reported."""

    events: list[Progress] = field(default_factory=list)
    per_process: dict[int, int] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    latencies: list[tuple[int, float]] = field(default_factory=list)


def _group_of_children(
    settings: Settings,
    processes: int,
    total: int,
    on_progress: Callable[[int], None] | None = None,
    worker_environment: Mapping[str, str] = MappingProxyType({}),
) -> ChildrenRun:
    """Runs ``processes`` workers (one group) until ``total`` reports are stored.

    ``on_progress`` is called with the number stored so far after each batch.
    """
    context = multiprocessing.get_context("spawn")
    report = context.Queue()
    stop = context.Event()
    values = settings.model_dump()
    children = [
        context.Process(target=_child_worker, args=(values, report, stop)) for _ in range(processes)
    ]
    # The workers alone get the environment (a spawned child reads it as it starts, before
    # it imports Polars); the paced producer, started before them, keeps the parent's.
    saved = {key: os.environ.get(key) for key in worker_environment}
    os.environ.update(worker_environment)
    try:
        for child in children:
            child.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    run = ChildrenRun()
    stored = 0
    while stored < total:
        pid, start, end, inserted = report.get(timeout=600)
        run.events.append(Progress(start, end, inserted))
        stored += inserted
        run.per_process[pid] = run.per_process.get(pid, 0) + inserted
        if on_progress is not None:
            on_progress(stored)
    stop.set()
    for _ in children:
        while True:
            item = report.get(timeout=120)
            if item[1] == "latencies":
                run.latencies.extend(item[2])
            elif item[1] == "stages":
                for stage, seconds in item[2].items():
                    run.stages[stage] = run.stages.get(stage, 0.0) + seconds
                break
    for child in children:
        child.join(timeout=60)
    return run


def _worker_environment(args: argparse.Namespace) -> dict[str, str]:
    """What ``--worker-polars-threads`` sets in the worker processes' environment."""
    if args.worker_polars_threads is None:
        return {}
    return {"POLARS_MAX_THREADS": str(args.worker_polars_threads)}


def run_workers(
    args: argparse.Namespace, settings: Settings, total: int
) -> tuple[float, dict[str, float]]:
    """Runs ``--processes`` workers until ``total`` reports are stored; returns the rate."""
    if args.processes == 1:
        metrics = WorkerMetrics()
        worker = build_worker(settings, target=total, metrics=metrics)
        worker.run()
        return measured_rate(worker.progress, args.warmup, args.reports), stage_totals(metrics)
    run = _group_of_children(settings, args.processes, total, None, _worker_environment(args))
    print(f"    reports per process: {sorted(run.per_process.values())}")
    return measured_rate(run.events, args.warmup, args.reports), run.stages


def check_store(url: str, total: int) -> tuple[int, int]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        stored = dict(
            session.execute(select(Report.status, func.count()).group_by(Report.status)).all()
        )
        alerts = int(session.scalar(select(func.count()).select_from(Alert)) or 0)
    engine.dispose()
    assert sum(stored.values()) == total, stored
    assert stored.get("processed") == total, f"not every report was scored: {stored}"
    return total, alerts


# ---- throughput ---------------------------------------------------------------------------


@dataclass(slots=True)
class RunResult:
    raw: float
    worker: float
    alerts: int
    stages: dict[str, float] = field(default_factory=dict)


def throughput(args: argparse.Namespace) -> None:
    total = args.warmup + args.reports
    records = encoded(stream(total, args.days))
    results: list[RunResult] = []
    with EmbeddedBroker(free_port()) as broker:
        for run in range(args.runs):
            with postgres_database() as url:
                settings = run_settings(args, url, broker.bootstrap)
                produce(broker.bootstrap, settings.topic_reports, records)
                raw = raw_rate(settings, total)
                rate, stages = run_workers(args, settings, total)
                _, alerts = check_store(url, total)
            result = RunResult(raw, rate, alerts, stages)
            results.append(result)
            per_k = ", ".join(
                f"{stage} {seconds / total * 1e6:.0f}" for stage, seconds in stages.items()
            )
            print(
                f"run {run}: raw {raw:,.0f}/s, worker {rate:,.0f}/s, ratio {rate / raw:.3f},"
                f" {alerts} alerts; µs per report (whole run): {per_k}",
                flush=True,
            )
    raw = statistics.median(r.raw for r in results)
    worker = statistics.median(r.worker for r in results)
    ratio = statistics.median(r.worker / r.raw for r in results)
    state = f"warm ({args.warmup:,} reports first)" if args.warmup else "cold"
    print(
        f"median of {args.runs}: raw consume {raw:,.0f}/s, worker with detection on PostgreSQL"
        f" {worker:,.0f}/s ({args.processes} process(es), {args.partitions} partitions,"
        f" {state}), ratio {ratio:.3f}"
    )


# ---- latency ------------------------------------------------------------------------------


def _paced_producer(
    bootstrap: str, topic: str, args_values: dict[str, Any], go: Any, done: Any
) -> None:
    total = args_values["warmup"] + args_values["count"]
    records = encoded(stream(total, args_values["days"]))[args_values["warmup"] :]
    producer = make_producer(bootstrap)
    rate = float(args_values["rate"])
    go.wait()
    started = time.perf_counter()
    sent = 0
    while sent < len(records):
        due = min(len(records), int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            key, value = records[sent]
            producer.send(topic, key=key, value=value)
            sent += 1
        time.sleep(0.002)
    producer.flush(timeout=60)
    producer.close()
    done.put((sent, time.perf_counter() - started))


@dataclass
class PacedRun:
    """What the worker processes observed while the paced producer ran."""

    paced_from: float
    latencies: list[tuple[int, float]]
    batches: list[Progress]
    stages_per_batch: dict[str, float] | None = None


def _paced_in_process(
    args: argparse.Namespace, settings: Settings, total: int, go: Any
) -> PacedRun:
    """One worker in this process; the stage breakdown is measured while paced."""
    metrics = RecordingMetrics()
    worker = build_worker(settings, target=total, metrics=metrics)
    worker.threshold = args.warmup
    marks: dict[str, Any] = {}

    def start_pacing() -> None:
        if args.warmup:
            worker.passed.wait()
        time.sleep(1.0)
        marks["paced_from"] = time.time()
        marks["stages"] = stage_totals(metrics)
        go.set()

    threading.Thread(target=start_pacing, daemon=True).start()
    worker.run()
    batches = [e for e in worker.progress if e.start >= marks["paced_from"]]
    after = stage_totals(metrics)
    per_batch = {
        stage: (after[stage] - marks["stages"][stage]) / max(len(batches), 1) for stage in after
    }
    return PacedRun(marks["paced_from"], metrics.latencies, batches, per_batch)


def _paced_children(args: argparse.Namespace, settings: Settings, total: int, go: Any) -> PacedRun:
    """``--processes`` workers in one consumer group, each in its own process."""
    marks: dict[str, float] = {}

    def start_pacing(stored: int) -> None:
        if "paced_from" not in marks and stored >= args.warmup:
            time.sleep(1.0)
            marks["paced_from"] = time.time()
            go.set()

    run = _group_of_children(
        settings, args.processes, total, start_pacing, _worker_environment(args)
    )
    batches = [e for e in run.events if e.start >= marks["paced_from"]]
    return PacedRun(marks["paced_from"], run.latencies, batches)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Samples a process's CPU time every ``every`` seconds on a daemon thread."""

    def __init__(self, pid: int, every: float = 10.0) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            try:
                self.samples.append((time.time(), _cpu_seconds(self.pid)))
            except OSError:
                return
            if self._stop.wait(self.every):
                return

    def start(self) -> CpuSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def shares(self, since: float) -> list[float]:
        """CPU share (1.0 = one core) of each sampling window that starts at or after ``since``."""
        pairs = zip(self.samples, self.samples[1:], strict=False)
        return [(c1 - c0) / (t1 - t0) for (t0, c0), (t1, c1) in pairs if t0 >= since]


def latency(args: argparse.Namespace) -> None:
    count = int(args.rate * args.seconds)
    total = args.warmup + count
    with EmbeddedBroker(free_port()) as broker, postgres_database() as url:
        assert broker.pid is not None
        sampler = CpuSampler(broker.pid).start()
        settings = run_settings(args, url, broker.bootstrap)
        warmup = encoded(stream(total, args.days))[: args.warmup]
        produce(broker.bootstrap, settings.topic_reports, warmup)
        context = multiprocessing.get_context("spawn")
        go, done = context.Event(), context.Queue()
        producer = context.Process(
            target=_paced_producer,
            args=(
                broker.bootstrap,
                settings.topic_reports,
                {"warmup": args.warmup, "count": count, "days": args.days, "rate": args.rate},
                go,
                done,
            ),
        )
        producer.start()
        if args.processes == 1:
            run = _paced_in_process(args, settings, total, go)
        else:
            run = _paced_children(args, settings, total, go)
        sent, seconds = done.get(timeout=60)
        producer.join(timeout=30)
        sampler.stop()
        _, alerts = check_store(url, total)
    paced_from_ms = int(run.paced_from * 1000)
    samples = np.array([lat for at, lat in run.latencies if at >= paced_from_ms])
    steady = np.array(
        [lat for at, lat in run.latencies if at >= paced_from_ms + args.settle_s * 1000]
    )
    sizes = [e.inserted for e in run.batches]
    durations = [e.end - e.start for e in run.batches]
    print(
        f"{args.processes} worker process(es); paced producer: {sent:,} reports in"
        f" {seconds:.1f}s ({sent / seconds:,.0f}/s); {len(samples)} alerts published from them"
        f" ({alerts} alerts in the store)"
    )
    print(
        f"batches while paced: {len(run.batches)}, size p50 {np.median(sizes):.0f}"
        f" max {max(sizes)}, duration p50 {np.median(durations) * 1000:.0f} ms"
        f" p99 {np.percentile(durations, 99) * 1000:.0f} ms"
    )
    if run.stages_per_batch is not None:
        per_batch = ", ".join(
            f"{stage} {seconds * 1000:.0f}" for stage, seconds in run.stages_per_batch.items()
        )
        print(f"stage time per batch while paced (ms): {per_batch}")
    for label, values in (("all", samples), (f"after {args.settle_s}s", steady)):
        if values.size:
            p50, p95, p99 = np.percentile(values, [50, 95, 99]) * 1000
            print(
                f"produce-to-alert ({label}, n={values.size}): p50 {p50:.0f} ms,"
                f" p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {values.max() * 1000:.0f} ms"
            )
    # The embedded broker's own CPU grows with the topic's length while consumers fetch from
    # it; on two cores that is taken from the worker (docs/benchmarks.md).
    shares = " ".join(f"{share:.0%}" for share in sampler.shares(run.paced_from))
    print(f"embedded broker CPU per 10 s while paced (1 core = 100%): {shares}")
    windows: dict[int, list[float]] = {}
    for at, lat in run.latencies:
        if at >= paced_from_ms:
            windows.setdefault((at - paced_from_ms) // 10_000, []).append(lat)
    p99s = " ".join(f"{np.percentile(windows[index], 99) * 1000:.0f}" for index in sorted(windows))
    print(f"produce-to-alert p99 per 10 s while paced (ms): {p99s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=50_000, help="measured reports")
    parser.add_argument("--warmup", type=int, default=50_000, help="reports processed first")
    parser.add_argument("--days", type=int, default=30, help="days the generated stream spans")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--worker-polars-threads",
        type=int,
        default=None,
        help="POLARS_MAX_THREADS of the worker processes (default: their own, the cores)",
    )
    parser.add_argument("--processes", type=int, default=1, help="worker processes, one group")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--poll-timeout-ms", type=int, default=500)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--rate", type=float, default=2_000.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle-s", type=float, default=5.0)
    args = parser.parse_args()
    args.model = args.model.resolve()
    started = time.perf_counter()
    ensure_default_model(args.model)
    print(f"model {args.model} ready in {time.perf_counter() - started:.0f}s", flush=True)
    if args.latency:
        latency(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
