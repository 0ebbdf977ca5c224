"""Detection throughput and memory with 1M subjects in the worker's window state.

    .venv/bin/python bench/detection_bench.py --subjects 1000000 --rows-per-subject 30 \\
        --batches 20 --batch-size 5000 [--model PATH] [--postgres]

1. Fills a ``WindowState`` with 30-day histories for every subject: a generated stream's
   encoded rows (about 34 reports per subject over 30 days), copied onto successive blocks of
   subjects, times moved to the 30 days before the measured stream; reports the state's bytes
   and the process RSS.
2. Draws realistic reports from the generator and maps their subjects onto the 1M subjects
   (so every batch subject has a full 30-day history in state), then times, per micro-batch:
   features over state + batch (``batch_features``: gather, windows, counterparty edges) and
   scoring (model, rules, explanations for alerts), and the state append after "commit".
3. ``--postgres``: also runs the worker's whole batch transaction on PostgreSQL (classify
   against the store, features with counterparty edges and history from the store, score,
   insert with the scores, alerts, commit), without Kafka (``bench/e2e_bench.py`` has it).

Prints reports/s per stage and overall, p50/p95 batch times, and memory.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import psycopg

from amlscreen.synthetic import ensure_default_model
from models.features import (
    CONTEXT_SCHEMA,
    EDGE_ROW_SCHEMA,
    LONGEST_WINDOW_S,
    encode,
    flatten,
    with_gaps,
    with_keys,
)
from models.registry import load_bundle
from models.scoring import Scorer
from models.state import MemoryStore, WindowState, batch_features
from refdata.subject import document_subject_key
from simulator.generate import GeneratorConfig, generate

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _draw(folder: str, measured: int, base_reports: int) -> None:
    """Child process: draws the stream, writes the encoded history and the measured reports.

    Run apart so that the main process holds only what a worker holds (the state, the model)
    and not the allocator's leftovers of half a million parsed documents.
    """
    total = base_reports + measured
    config = GeneratorConfig(
        seed=414,
        n_reports=total,
        start=datetime(2026, 1, 5, tzinfo=UTC),
        days=max(31, round(30 * total / base_reports)),
    )
    documents = [item.report for item in generate(config)]
    keys = [document_subject_key(doc["institution_id"], doc["subject"]) for doc in documents]
    local: dict[str, int] = {}
    for key in keys:
        local.setdefault(key, len(local))
    # Keys as long as real ones ("SSN-" + 32 hex digits): the key index is part of the memory.
    names = [f"SSN-{local[key]:032x}" for key in keys]
    history = with_keys(encode(flatten(documents[:base_reports], names[:base_reports]))).collect()
    history = (
        with_gaps(history.lazy())
        .collect()
        .with_columns(
            pl.Series("local", [local[key] for key in keys[:base_reports]], dtype=pl.Int64)
        )
    )
    end = int(history["t"].max()) + 1
    history.select("local", *CONTEXT_SCHEMA).filter(
        pl.col("t") > end - LONGEST_WINDOW_S
    ).write_parquet(Path(folder) / "history.parquet")
    Path(folder, "meta.json").write_text(
        orjson.dumps({"block": len(local), "start": int(history["t"].min())}).decode()
    )
    with Path(folder, "measured.jsonl").open("wb") as out:
        for doc, name in zip(documents[base_reports:], names[base_reports:], strict=True):
            out.write(orjson.dumps({"key": name, "report": doc}) + b"\n")


def prepare(
    state: WindowState, subjects: int, measured: int, base_reports: int = 600_000
) -> tuple[Path, float]:
    """Fills the state; returns the file of the measured stream and the seconds taken.

    One generator stream is drawn: its first ``base_reports`` reports (about 30 days, ~34
    reports per subject) fill the state, and the rest is the measured stream, so measured
    subjects keep their own history. The encoded history is then copied onto successive
    blocks of further subjects until ``subjects`` have 30 days each (memory at scale).
    """
    started = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="amlscreen-bench-")
    child = multiprocessing.get_context("spawn").Process(
        target=_draw, args=(folder, measured, base_reports)
    )
    child.start()
    child.join()
    meta = orjson.loads(Path(folder, "meta.json").read_bytes())
    base = pl.read_parquet(Path(folder) / "history.parquet")
    block = int(meta["block"])
    count = max(subjects, block)
    state.subject_ids([f"SSN-{i:032x}" for i in range(count)])
    for copy in range(-(-count // block)):
        rows = base.with_columns((pl.col("local") + copy * block).alias("sid")).filter(
            pl.col("sid") < count
        )
        state.append(rows.select(pl.col("sid").cast(pl.UInt64), *CONTEXT_SCHEMA))
    del base
    state.mark_loaded(np.arange(count, dtype=np.int64))
    state.coverage_start = int(meta["start"])
    return Path(folder, "measured.jsonl"), time.perf_counter() - started


class EdgeStore(MemoryStore):
    """The store's stand-in: keeps only what the counterparty edge query reads.

    Every benchmark subject is already loaded, so no history is ever asked for; the worker's
    real store is the database, which costs the worker no memory.
    """

    def add(self, documents: Sequence[dict], flat: pl.DataFrame) -> None:
        del documents
        super().add([], flat.select(*EDGE_ROW_SCHEMA, "subject_key"))


def batches(path: Path, size: int) -> Iterator[tuple[list[dict], list[str]]]:
    """The measured stream, one micro-batch at a time (as a worker reads it)."""
    documents: list[dict] = []
    keys: list[str] = []
    with path.open("rb") as handle:
        for line in handle:
            item = orjson.loads(line)
            documents.append(item["report"])
            keys.append(item["key"])
            if len(documents) == size:
                yield documents, keys
                documents, keys = [], []
    if documents:
        yield documents, keys


def ensure_model(path: Path | None) -> Path:
    if path is not None:
        return path
    target = Path(tempfile.mkdtemp(prefix="amlscreen-bench-")) / "model.skops"
    print("no --model given: training the small default model first")
    ensure_default_model(target)
    return target


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def run_memory(args: argparse.Namespace, scorer: Scorer) -> None:
    baseline = rss_mb()
    state = WindowState(subjects=args.subjects)
    measured, seconds = prepare(state, args.subjects, args.batches * args.batch_size)
    gc.collect()
    stats = state.stats()
    print(
        f"state: {stats.subjects:,} subjects, {stats.live_rows:,} rows, arrays"
        f" {stats.bytes / 2**20:,.0f} MiB (capacity {stats.capacity:,} rows) built in"
        f" {seconds:.0f}s; process RSS {rss_mb():,.0f} MiB (before state {baseline:,.0f} MiB)"
    )
    store = EdgeStore()
    timings: dict[str, list[float]] = {"features": [], "score": [], "append": [], "total": []}
    alerts = 0
    for batch, batch_keys in batches(measured, args.batch_size):
        flat = flatten(batch, batch_keys)
        store.add(batch, flat)
        started = time.perf_counter()
        result = batch_features(state, flat, store)
        featured = time.perf_counter()
        scored = scorer.score(result.features)
        done = time.perf_counter()
        state.append(result.pending)
        appended = time.perf_counter()
        alerts += int(scored.alerts.sum())
        timings["features"].append(featured - started)
        timings["score"].append(done - featured)
        timings["append"].append(appended - done)
        timings["total"].append(appended - started)
    measured = timings["total"][1:] or timings["total"]  # the first batch warms caches
    size = args.batch_size
    print(f"{args.batches} batches of {size:,} reports ({alerts} alerts):")
    for stage, values in timings.items():
        values = values[1:] or values
        print(
            f"  {stage:9} p50 {percentile(values, 50) * 1000:7.1f} ms"
            f"  p95 {percentile(values, 95) * 1000:7.1f} ms"
            f"  → {size / statistics.median(values):>10,.0f} reports/s"
        )
    print(
        f"  overall {size * len(measured) / sum(measured):,.0f} reports/s (features + score +"
        f" state append); process RSS {rss_mb():,.0f} MiB, peak"
        f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
    )


def run_postgres(args: argparse.Namespace, scorer: Scorer) -> None:
    """The whole screening path on PostgreSQL: store queries, scored inserts, alerts."""
    from refdata.wire import ReportV1  # noqa: PLC0415
    from services.db import make_engine, transaction  # noqa: PLC0415
    from services.migrate import upgrade  # noqa: PLC0415
    from services.orm_registry import make_sessionmaker  # noqa: PLC0415
    from services.reports.service import IncomingReport, SourcePosition  # noqa: PLC0415
    from streaming.detection import Detector  # noqa: PLC0415
    from streaming.screening import screen  # noqa: PLC0415

    name = f"amlscreen_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        n = args.batches * args.batch_size
        config = GeneratorConfig(seed=616, n_reports=n, start=datetime(2026, 4, 6, tzinfo=UTC))
        documents = [item.report for item in generate(config)]
        detector = Detector(scorer)
        totals: list[float] = []
        for index in range(args.batches):
            batch = documents[index * args.batch_size : (index + 1) * args.batch_size]
            items = [
                IncomingReport(
                    ReportV1.model_validate(doc),
                    SourcePosition("aml.reports", 0, index * args.batch_size + k),
                )
                for k, doc in enumerate(batch)
            ]
            started = time.perf_counter()
            with transaction(sessions) as session:
                # The worker's transaction: classify, assess (features, score), insert with
                # the scores, alerts; then the commit.
                screen(session, items, detector)
            totals.append(time.perf_counter() - started)
        size = args.batch_size
        median = statistics.median(totals[1:])
        print(
            f"PostgreSQL, persist + detection in one transaction, {args.batches} batches of"
            f" {size:,} (state grows from empty; subjects loaded from the store on first sight):"
            f"\n  p50 {median * 1000:.0f} ms p95 {percentile(totals[1:], 95) * 1000:.0f} ms"
            f" → {size / median:,.0f} reports/s"
        )
        engine.dispose()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--rows-per-subject", type=int, default=30)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    scorer = Scorer(load_bundle(ensure_model(args.model)))
    print(f"model {scorer.model_version}, threshold {scorer.threshold:.3f}")
    run_memory(args, scorer)
    if args.postgres:
        run_postgres(args, scorer)


if __name__ == "__main__":
    main()
