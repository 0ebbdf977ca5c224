"""Generator speed: reports per second of CPU (and of wall time) for the default and drawn worlds.

    .venv/bin/python bench/generator_bench.py [--reports 300000] [--worlds default 11 12] [--runs 3]

Runs interleave the worlds; CPU time (``time.process_time``) is what the generating process
used, which on a shared machine is steadier than wall time. No sink: the loop only iterates.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from simulator.generate import GeneratorConfig, generate
from simulator.world import World

START = datetime(2026, 1, 5, tzinfo=UTC)


def measure(world: World, reports: int) -> tuple[float, float]:
    """Reports per CPU-second and per wall-second of one run (population set-up included)."""
    config = GeneratorConfig(seed=1, n_reports=reports, start=START, world=world)
    wall, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in generate(config))
    return count / (time.process_time() - cpu), count / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=300_000)
    parser.add_argument("--worlds", nargs="+", default=["default", "11", "12"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    worlds = {
        name: World.default() if name == "default" else World.draw(int(name))
        for name in args.worlds
    }
    rates: dict[str, list[float]] = {name: [] for name in worlds}
    for run in range(args.runs):
        for name, world in worlds.items():
            cpu, wall = measure(world, args.reports)
            rates[name].append(cpu)
            print(f"run {run + 1} world {name}: {cpu:,.0f} reports/s CPU, {wall:,.0f}/s wall")
    for name, values in rates.items():
        print(f"world {name}: median {statistics.median(values):,.0f} reports per CPU-second")


if __name__ == "__main__":
    main()
