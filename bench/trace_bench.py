"""Trace latency on a store of 1M transactions in PostgreSQL (with a hub account).

Builds a fresh database, migrates it, bulk-loads the ``reports`` table with COPY, then times
traces through the service layer (the code behind ``GET /v1/trace/...``), serialisation
included. Not part of the test suite.

    .venv/bin/python bench/trace_bench.py                       # 1M transfers, 50 traces
    .venv/bin/python bench/trace_bench.py --transfers 100000    # quicker
    .venv/bin/python bench/trace_bench.py --composite-index     # with (account, txn_at) indexes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from services.auth.enums import Role
from services.auth.service import Principal
from services.db import make_engine
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker
from services.reports.repository import REPORT_COLUMNS
from services.tracing import service as tracing

ADMIN_URL = os.environ.get(
    "AMLSCREEN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
START = datetime(2026, 1, 1, tzinfo=UTC)
# The store's own column order, up to ``received_at``: the rows carry no source nor score.
COLUMNS = REPORT_COLUMNS[: REPORT_COLUMNS.index("received_at") + 1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def institution(account: int) -> str:
    return f"FI-{account % 40:03d}"


def generate(transfers: int, accounts: int, hub_share: float, seed: int) -> Any:
    """Yields report rows: each transfer seen by the sender (80 %), the receiver (10 %) or
    both (10 %); the hub account 0 is on one side of ``hub_share`` of all transfers."""
    rng = random.Random(seed)
    number = 0
    year = 365 * 24 * 3600
    for index in range(transfers):
        if rng.random() < hub_share:
            if rng.random() < 0.5:
                source, target = 0, rng.randrange(1, accounts)
            else:
                source, target = rng.randrange(1, accounts), 0
        else:
            source = rng.randrange(1, accounts)
            target = rng.randrange(1, accounts - 1)
            target += target >= source
        at = START + timedelta(seconds=rng.randrange(year))
        amount = int(rng.lognormvariate(11, 1.2)) + 100
        roll = rng.random()
        sides = ["out"] if roll < 0.8 else ["in"] if roll < 0.9 else ["out", "in"]
        for side in sides:
            number += 1
            holder, other = (source, target) if side == "out" else (target, source)
            when = at if side == "out" else at + timedelta(seconds=rng.randrange(3600))
            document = (
                '{"transaction": {"location": {"country": "US"}, "counterparty": '
                f'{{"institution_id": "{institution(other)}", "account_id": "ACC-{other}"}}}}}}'
            )
            yield (
                institution(holder),
                f"B-{number:09d}",
                "TXN",
                "US",
                when,
                f"SUBJ-{holder}",
                f"C-{holder}",
                f"T-{index:09d}",
                when,
                amount,
                "USD",
                "wire",
                side,
                f"ACC-{holder}",
                f"ACC-{other}",
                "MX" if other % 10 == 0 else "US",
                document,
                f"{number:064x}",
                "received",
                when,
            )


def load(url: str, args: argparse.Namespace) -> tuple[int, float]:
    started = time.perf_counter()
    rows = 0
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY reports ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in generate(args.transfers, args.accounts, args.hub_share, args.seed):
                copy.write_row(row)
                rows += 1
        if args.composite_index:
            cursor.execute("CREATE INDEX bench_out ON reports (account_id, txn_at)")
            cursor.execute("CREATE INDEX bench_in ON reports (counterparty_account_id, txn_at)")
        connection.commit()
        connection.autocommit = True
        cursor.execute("VACUUM ANALYZE reports")
    return rows, time.perf_counter() - started


def run_traces(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    factory = make_sessionmaker(engine)
    investigator = Principal(token_id=1, role=Role.INVESTIGATOR, institution_id=None)
    rng = random.Random(args.seed + 1)
    plans: list[tuple[str, str, str]] = [
        ("random", f"ACC-{rng.randrange(1, args.accounts)}", rng.choice(["forward", "backward"]))
        for _ in range(args.traces)
    ]
    plans += [("hub", "ACC-0", direction) for direction in ("forward", "backward")] * 3
    results: dict[str, list[dict[str, float]]] = {"random": [], "hub": []}
    with factory() as session:  # warm-up: plans and caches
        for _kind, account, direction in plans[:3]:
            tracing.trace_account(
                session,
                principal=investigator,
                account_id=account,
                params=tracing.TraceParams(direction=direction),
            )
    for kind, account, direction in plans:
        with factory() as session:
            started = time.perf_counter()
            result = tracing.trace_account(
                session,
                principal=investigator,
                account_id=account,
                params=tracing.TraceParams(direction=direction),
            )
            result.model_dump_json()
            elapsed = (time.perf_counter() - started) * 1000
        results[kind].append(
            {
                "ms": elapsed,
                "nodes": len(result.nodes),
                "edges": len(result.edges),
                "queries": result.queries,
                "truncated": float(result.truncated),
            }
        )
    engine.dispose()
    summary: dict[str, Any] = {}
    for kind, runs in results.items():
        times = [run["ms"] for run in runs]
        summary[kind] = {
            "traces": len(runs),
            "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
            "p99_ms": round(percentile(times, 0.99), 1),
            "max_ms": round(max(times), 1),
            "median_nodes": statistics.median(run["nodes"] for run in runs),
            "median_edges": statistics.median(run["edges"] for run in runs),
            "median_queries": statistics.median(run["queries"] for run in runs),
            "truncated_share": round(sum(run["truncated"] for run in runs) / len(runs), 2),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument(
        "--hub-share",
        type=float,
        default=0.1,
        help="share of transfers with the hub (0.1 of 1M = 100k)",
    )
    parser.add_argument("--traces", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--composite-index", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    name = f"amlscreen_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        upgrade(url.replace("postgresql://", "postgresql+psycopg://"))
        rows, seconds = load(url, args)
        print(
            f"loaded {rows} report rows ({args.transfers} transfers) in {seconds:.1f} s"
            f" ({rows / seconds:,.0f} rows/s)",
            flush=True,
        )
        summary = run_traces(url, args)
        print(
            json.dumps(
                {
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                    },
                    "store": {
                        "transfers": args.transfers,
                        "report_rows": rows,
                        "accounts": args.accounts,
                        "hub_transfers": round(args.transfers * args.hub_share),
                        "composite_index": args.composite_index,
                        "load_s": round(seconds, 1),
                    },
                    "limits": {
                        "max_hops": tracing.DEFAULT_MAX_HOPS,
                        "max_nodes": tracing.DEFAULT_MAX_NODES,
                        "max_edges": tracing.DEFAULT_MAX_EDGES,
                        "max_fanout": tracing.DEFAULT_MAX_FANOUT,
                    },
                    "latency": summary,
                },
                indent=2,
            )
        )
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
