"""The worker's feature stage on a replayed stream, and how much of it the live peers take.

    PYTHONPATH=. .venv/bin/python bench/peers_bench.py --reports 40000 --days 24 --per-partition 200

A generated stream (the e2e bench's generator and density: about 1,700 reports a day) is split
into four partitions by subject; each micro-batch takes the next 70-130 % of
``--per-partition`` reports of every partition, as a consumer polling four partitions at
about the same pace would, so a batch spans a few hours to a day of event time. Every batch
runs ``models.state.batch_features`` through ``MemoryStore`` (no database, no Kafka), then
what the worker does after its commit (state append, peer counts added to the store). The
second half of the batches is timed: the whole feature stage and, within it,
``models.peers.online_peers``, in microseconds per report and milliseconds per batch (p50).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import models.state as state_module
from models.features import flatten
from models.state import MemoryStore, WindowState, batch_features, peer_counts_of
from simulator.generate import GeneratorConfig, generate

SEED = 20261128
START = datetime(2026, 3, 2, tzinfo=UTC)


def batches(documents: list[dict[str, Any]], per_partition: int) -> list[list[dict[str, Any]]]:
    partitions: list[list[dict[str, Any]]] = [[] for _ in range(4)]
    for document in documents:
        key = document["institution_id"] + document["subject"]["subject_id"]
        partitions[zlib.crc32(key.encode()) % 4].append(document)
    rng = random.Random(1)
    positions = [0] * 4
    result: list[list[dict[str, Any]]] = []
    while any(positions[p] < len(partitions[p]) for p in range(4)):
        batch: list[dict[str, Any]] = []
        for p in range(4):
            take = int(per_partition * rng.uniform(0.7, 1.3))
            batch += partitions[p][positions[p] : positions[p] + take]
            positions[p] += take
        result.append(batch)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=40_000)
    parser.add_argument("--days", type=int, default=24)
    parser.add_argument("--per-partition", type=int, default=200)
    args = parser.parse_args()
    config = GeneratorConfig(seed=SEED, n_reports=args.reports, start=START, days=args.days)
    documents = [item.report for item in generate(config)]
    work = batches(documents, args.per_partition)

    peer_times: list[float] = []
    online_peers = state_module.online_peers

    def timed(*call_args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = online_peers(*call_args, **kwargs)
        peer_times.append(time.perf_counter() - started)
        return result

    state_module.online_peers = timed
    state, store = WindowState(), MemoryStore()
    feature_times: list[float] = []
    measured = 0
    for index, batch in enumerate(work):
        if index == len(work) // 2:
            peer_times.clear()
            feature_times.clear()
            measured = 0
        flat = flatten(batch)
        started = time.perf_counter()
        result = batch_features(state, flat, store)
        feature_times.append(time.perf_counter() - started)
        store.add(batch, flat)
        state.append(result.pending)
        store.add_peer_counts(peer_counts_of(result.peer_rows))
        measured += len(batch)

    def line(name: str, times: list[float], per: Callable[[float], float]) -> str:
        return (
            f"{name}: {per(sum(times)):.1f} µs per report, p50 {statistics.median(times) * 1e3:.1f}"
            f" ms per batch"
        )

    def per_report(seconds: float) -> float:
        return seconds / measured * 1e6

    print(
        f"{len(work) - len(work) // 2} batches timed, {measured:,} reports"
        f" ({measured / (len(work) - len(work) // 2):,.0f} per batch)"
    )
    print(line("batch_features", feature_times, per_report))
    print(line("  of which online_peers", peer_times, per_report))


if __name__ == "__main__":
    main()
