"""Alert queue benchmark: 1M alerts in PostgreSQL, ``GET /v1/alerts`` under 32 clients.

Loads N alerts with COPY (secondary indexes dropped during the load and rebuilt after, then
ANALYZE), starts a real uvicorn server on the loaded database, and drives it with C
concurrent keep-alive HTTP/1.1 clients (a small asyncio client, so that the load generator
costs little CPU on a small machine). Reports p50/p90/p99/max latency per scenario: the
first page, filtered pages, and pages 2-5 followed through ``next_cursor``.

    .venv/bin/python bench/alerts_bench.py                     # 1M alerts, 32 clients, 20 s
    .venv/bin/python bench/alerts_bench.py --alerts 100000 --duration 5
    .venv/bin/python bench/alerts_bench.py --keep --database-url postgresql+psycopg://...

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get(
    "AMLSCREEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
STATUSES = [
    ("NEW", 40),
    ("TRIAGE", 15),
    ("INVESTIGATING", 15),
    ("INFO_REQUESTED", 3),
    ("ESCALATED", 4),
    ("PENDING_FILING_DECISION", 2),
    ("FILED", 3),
    ("CLOSED", 18),
]
TYPOLOGIES = [
    "structuring",
    "funnel_account",
    "tbml",
    "rapid_movement",
    "fan_in",
    "fan_out",
    "round_tripping",
    "high_risk_jurisdiction",
    "cash_intensive_business",
    "dormant_reactivation",
    None,
]
DISPOSITIONS = ["FALSE_POSITIVE", "EXPLAINED_LEGITIMATE", "INSUFFICIENT_EVIDENCE", "DUPLICATE"]
INSTITUTIONS = [f"US-FI-{i:04d}" for i in range(14)] + [f"MX-FI-{i:04d}" for i in range(6)]
ASSIGNEES = [f"investigator-{i:02d}" for i in range(50)]
SUBJECTS = 200_000
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def app_factory() -> Any:
    """The API on ``AMLSCREEN_DATABASE_URL`` (uvicorn ``--factory`` entry point)."""
    from services.app import create_app
    from services.config import Settings

    return create_app(Settings())


# -- database -----------------------------------------------------------------------------


def create_database() -> tuple[str, str]:
    name = f"amlscreen_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


COLUMNS = (
    "institution_id report_id subject_key subject_identified jurisdiction report_type score "
    "model_version rule_hits typology reasons features source_topic source_partition "
    "source_offset transaction_at status disposition rationale filing_reference assignee "
    "created_at updated_at suspicion_determined_at decided_at deadline_kind deadline_at version"
).split()


def rows(count: int, seed: int) -> Any:
    rng = random.Random(seed)
    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    features = orjson.dumps({"cash_count_7d": 4.0, "cash_sum_7d": 38000.0}).decode()
    reasons = orjson.dumps(["4 cash deposits of $9,000-9,900 in 2 days"]).decode()
    hits = orjson.dumps(
        [{"rule": "structuring", "description": "sub-threshold", "forced": False}]
    ).decode()
    for index in range(count):
        institution = INSTITUTIONS[index % len(INSTITUTIONS)]
        jurisdiction = institution[:2]
        report_type = rng.choice(("LVTR", "STR", "TXN", "TXN"))
        created = NOW - timedelta(seconds=rng.randrange(365 * 86400))
        txn_at = created - timedelta(seconds=rng.randrange(86400))
        status = rng.choice(statuses)
        determined = (
            created + timedelta(days=rng.randrange(1, 20))
            if status in ("ESCALATED", "PENDING_FILING_DECISION", "FILED")
            else None
        )
        if jurisdiction == "MX":
            kind, deadline = "MX_ROI", created + timedelta(days=60)
        elif report_type == "LVTR":
            kind, deadline = "US_CTR", txn_at + timedelta(days=15)
        else:
            kind, deadline = "US_SAR", (determined + timedelta(days=30)) if determined else None
        decided = (
            created + timedelta(days=rng.randrange(1, 40))
            if status in ("FILED", "CLOSED")
            else None
        )
        yield (
            institution,
            f"R-{index:09d}",
            f"SSN-{rng.randrange(SUBJECTS):032x}",
            True,
            jurisdiction,
            report_type,
            round(rng.betavariate(5, 2), 4),
            "hgb-2026.11",
            hits,
            rng.choice(TYPOLOGIES),
            reasons,
            features,
            "aml.reports",
            index % 8,
            index,
            txn_at,
            status,
            rng.choice(DISPOSITIONS) if status == "CLOSED" else None,
            "reviewed" if decided else None,
            f"BSA-{index}" if status == "FILED" else None,
            None if status == "NEW" else rng.choice(ASSIGNEES),
            created,
            decided or created,
            determined,
            decided,
            kind,
            deadline,
            1,
        )


def load(url: str, count: int, seed: int) -> float:
    """Loads ``count`` alerts; returns the seconds it took (COPY + index rebuild + ANALYZE)."""
    started = time.perf_counter()
    with psycopg.connect(plain_url(url)) as connection:
        indexes = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'alerts' "
            "AND indexname LIKE 'ix_%'"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY alerts ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows(count, seed):
                    copy.write_row(row)
        copied = time.perf_counter()
        for _, definition in indexes:
            connection.execute(definition)
        connection.execute("ANALYZE alerts")
        connection.commit()
    print(
        f"loaded {count:,} alerts in {time.perf_counter() - started:.1f} s "
        f"(COPY {copied - started:.1f} s, {count / (copied - started):,.0f} rows/s; "
        f"{len(indexes)} indexes rebuilt)",
        flush=True,
    )
    return time.perf_counter() - started


def make_token(url: str) -> str:
    from services.auth.enums import Role
    from services.auth.service import create_token
    from services.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return create_token(session, role=Role.INVESTIGATOR, label="bench")
    finally:
        engine.dispose()


# -- server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AMLSCREEN_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "alerts_bench:app_factory",
            "--factory",
            "--app-dir",
            str(ROOT / "bench"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("uvicorn did not start")


# -- load generator -----------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection; GET only."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{self.auth}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)content-length: *(\d+)", head)
        body = await self.reader.readexactly(int(match.group(1))) if match else b""
        return status, body


def scenarios(rng: random.Random) -> list[tuple[str, Any]]:
    """(name, path maker); every path is a page of 50."""
    deadline = (NOW + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    month_ago = (NOW - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    week_ago = (NOW - timedelta(days=37)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        ("first page", lambda: "/v1/alerts?limit=50"),
        ("status=NEW", lambda: "/v1/alerts?limit=50&status=NEW"),
        ("status=NEW sort=-score", lambda: "/v1/alerts?limit=50&status=NEW&sort=-score"),
        ("status=NEW,TRIAGE", lambda: "/v1/alerts?limit=50&status=NEW&status=TRIAGE"),
        (
            "score 0.9-1 jurisdiction=MX",
            lambda: "/v1/alerts?limit=50&score_min=0.9&jurisdiction=MX",
        ),
        ("typology", lambda: f"/v1/alerts?limit=50&typology={rng.choice(TYPOLOGIES[:-1])}"),
        ("institution", lambda: f"/v1/alerts?limit=50&institution_id={rng.choice(INSTITUTIONS)}"),
        (
            "assignee + status",
            lambda: f"/v1/alerts?limit=50&assignee={rng.choice(ASSIGNEES)}&status=INVESTIGATING",
        ),
        ("subject", lambda: f"/v1/alerts?limit=50&subject_key=SSN-{rng.randrange(SUBJECTS):032x}"),
        (
            "deadline before, sort deadline",
            lambda: f"/v1/alerts?limit=50&deadline_before={deadline}&sort=deadline_at",
        ),
        (
            "created between",
            lambda: f"/v1/alerts?limit=50&created_from={week_ago}&created_to={month_ago}",
        ),
    ]


async def run_load(
    port: int,
    token: str,
    clients: int,
    duration: float,
    warmup: float,
    seed: int,
    think: float = 0.0,
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    plans = scenarios(rng)
    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[int, int] = defaultdict(int)
    stop_at = time.monotonic() + warmup + duration
    measure_from = time.monotonic() + warmup

    async def worker(number: int) -> None:
        client = Client(port, token)
        local = random.Random(seed + number)
        while time.monotonic() < stop_at:
            name, make = plans[local.randrange(len(plans))]
            path = make()
            # One in four walks pages 2-5 of its query through next_cursor.
            pages = 5 if local.random() < 0.25 else 1
            for page in range(pages):
                started = time.perf_counter()
                status, body = await client.get(path)
                elapsed = time.perf_counter() - started
                if status != 200:
                    errors[status] += 1
                    break
                if time.monotonic() >= measure_from:
                    samples[name if page == 0 else "pages 2-5 (cursor)"].append(elapsed)
                    samples["all"].append(elapsed)
                cursor = orjson.loads(body).get("next_cursor")
                if not cursor:
                    break
                path = re.sub(r"&cursor=[^&]*", "", path) + f"&cursor={cursor}"
                if think:
                    await asyncio.sleep(local.expovariate(1 / think))
            if think:
                await asyncio.sleep(local.expovariate(1 / think))

    await asyncio.gather(*(worker(number) for number in range(clients)))
    if errors:
        print(f"non-200 answers: {dict(errors)}", flush=True)
    return samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(samples: dict[str, list[float]], duration: float) -> str:
    lines = [
        "| scenario | requests | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(samples, key=lambda key: (key == "all", key)):
        values = samples[name]
        lines.append(
            f"| {name} | {len(values):,} | {statistics.median(values) * 1000:.1f} | "
            f"{percentile(values, 0.9) * 1000:.1f} | {percentile(values, 0.99) * 1000:.1f} | "
            f"{max(values) * 1000:.1f} |"
        )
    lines.append(f"\nthroughput: {len(samples['all']) / duration:,.0f} requests/s")
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(ADMIN_URL) as connection:
        version = connection.execute("SHOW server_version").fetchone()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"PostgreSQL {version[0] if version else '?'} on the same machine"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause of each client between requests (0: closed loop, saturating)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an already loaded database (skips the load)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    from services.migrate import upgrade

    name = None
    url = args.database_url
    if url is None:
        name, url = create_database()
        upgrade(url)
        load(url, args.alerts, args.seed)
    token = make_token(url)
    port = free_port()
    server = start_server(url, port, args.workers)
    try:
        print(f"machine: {machine()}", flush=True)
        print(
            f"uvicorn workers: {args.workers}; clients: {args.clients}; "
            f"think time: {args.think_ms:.0f} ms; "
            f"{args.duration:.0f} s measured after {args.warmup:.0f} s warm-up",
            flush=True,
        )
        samples = asyncio.run(
            run_load(
                port,
                token,
                args.clients,
                args.duration,
                args.warmup,
                args.seed,
                args.think_ms / 1000,
            )
        )
        print(report(samples, args.duration), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if name is not None and not args.keep:
            drop_database(name)
        elif name is not None:
            print(f"kept database: {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
