"""Alert queue benchmark: 1M alerts in PostgreSQL, ``GET /v1/alerts`` under 32 clients.

Loads N alerts with COPY (secondary indexes dropped during the load and rebuilt after, then
ANALYZE), starts a real uvicorn server on the loaded database, and drives it with C
concurrent keep-alive HTTP/1.1 clients (a bare asyncio protocol on uvloop, so that the load
generator costs little CPU on a small machine). Reports p50/p90/p99/max latency per scenario
(the first page, filtered pages, and pages 2-5 followed through ``next_cursor``), throughput,
and the CPU per request of the server, PostgreSQL, the load generator and the rest of the
machine; with ``--runs N`` (default 3) the cell-by-cell median of the runs.

    .venv/bin/python bench/alerts_bench.py                     # 1M alerts, 32 clients, 3 x 20 s
    .venv/bin/python bench/alerts_bench.py --alerts 100000 --duration 5 --runs 1
    .venv/bin/python bench/alerts_bench.py --keep               # then reuse the database:
    .venv/bin/python bench/alerts_bench.py --database-url postgresql+psycopg://... --think-ms 250

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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.alerts.orm import Alert  # noqa: E402 (needs ROOT on sys.path)

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


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is installed (uvicorn[standard] brings it), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


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


# Every column of the table but the generated id, so a column added to the ORM fails the load
# (KeyError in ``load``) instead of being left out of the COPY unseen.
COLUMNS = [column.name for column in Alert.__table__.columns if not column.primary_key]


def rows(count: int, seed: int) -> Iterator[dict[str, Any]]:
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
        yield {
            "institution_id": institution,
            "report_id": f"R-{index:09d}",
            "report_pk": None,
            "subject_key": f"SSN-{rng.randrange(SUBJECTS):032x}",
            "subject_identified": True,
            "jurisdiction": jurisdiction,
            "report_type": report_type,
            "score": round(rng.betavariate(5, 2), 4),
            "model_version": "hgb-2026.11",
            "rule_hits": hits,
            "typology": rng.choice(TYPOLOGIES),
            "reasons": reasons,
            "features": features,
            "source_topic": "aml.reports",
            "source_partition": index % 8,
            "source_offset": index,
            "transaction_at": txn_at,
            "status": status,
            "disposition": rng.choice(DISPOSITIONS) if status == "CLOSED" else None,
            "rationale": "reviewed" if decided else None,
            "evidence": None,
            "filing_reference": f"BSA-{index}" if status == "FILED" else None,
            "assignee": None if status == "NEW" else rng.choice(ASSIGNEES),
            "case_id": None,
            "created_at": created,
            "updated_at": decided or created,
            "suspicion_determined_at": determined,
            "decided_at": decided,
            "deadline_kind": kind,
            "deadline_at": deadline,
            "version": 1,
            "report_count": 1,
            "last_report_at": None,
            "threshold": None,
            "threshold_version": None,
            "investigator_typology": None,
        }


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
                    copy.write_row([row[name] for name in COLUMNS])
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
    from services.db import make_engine, transaction
    from services.orm_registry import make_sessionmaker

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


class Client(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; GET only, one request in flight.

    A bare protocol rather than asyncio streams, on uvloop: the load generator shares the
    machine's cores with the server and PostgreSQL, and every cycle it spends is one the
    server does not get (it costs about a tenth of the server's CPU per request; the bench
    prints both).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.expected = -1  # total bytes of the current response, once its head is in

    @classmethod
    async def connect(cls, port: int) -> Client:
        _, client = await asyncio.get_running_loop().create_connection(cls, "127.0.0.1", port)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.expected < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", self.buffer[:end])
            self.expected = end + 4 + (int(match.group(1)) if match else 0)
        if len(self.buffer) >= self.expected and self.waiter is not None:
            status = int(self.buffer[9:12])
            head = self.buffer.find(b"\r\n\r\n") + 4
            body = bytes(self.buffer[head : self.expected])
            del self.buffer[: self.expected]
            self.expected = -1
            self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("connection closed"))

    async def get(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def next_cursor(body: bytes) -> str | None:
    """The page's ``next_cursor`` (the last key the server writes), without parsing the page."""
    at = body.rfind(b'"next_cursor":"')
    if at < 0:
        return None
    start = at + len(b'"next_cursor":"')
    return body[start : body.index(b'"', start)].decode()


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
    on_measure: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Drives the server; ``on_measure`` is called when the warm-up ends and at the end."""
    rng = random.Random(seed)
    plans = scenarios(rng)
    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[int, int] = defaultdict(int)
    stop_at = time.monotonic() + warmup + duration
    measure_from = time.monotonic() + warmup
    headers = f" HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n".encode()

    async def worker(number: int) -> None:
        # Clients arrive one by one (20 ms apart), as they would in practice. All at once,
        # the first uvicorn worker to wake up accepts every connection and the other one
        # idles for the whole run; arriving while the first is busy, they spread out.
        await asyncio.sleep(number * 0.02)
        client = await Client.connect(port)
        local = random.Random(seed + number)
        while time.monotonic() < stop_at:
            name, make = plans[local.randrange(len(plans))]
            path = make()
            # One in four walks pages 2-5 of its query through next_cursor.
            pages = 5 if local.random() < 0.25 else 1
            for page in range(pages):
                request = b"GET " + path.encode() + headers
                started = time.perf_counter()
                status, body = await client.get(request)
                elapsed = time.perf_counter() - started
                if status != 200:
                    errors[status] += 1
                    break
                if time.monotonic() >= measure_from:
                    samples[name if page == 0 else "pages 2-5 (cursor)"].append(elapsed)
                    samples["all"].append(elapsed)
                cursor = next_cursor(body)
                if not cursor:
                    break
                path = re.sub(r"&cursor=[^&]*", "", path) + f"&cursor={cursor}"
                if think:
                    await asyncio.sleep(local.expovariate(1 / think))
            if think:
                await asyncio.sleep(local.expovariate(1 / think))

    async def mark_measure_start() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        if on_measure is not None:
            on_measure()

    await asyncio.gather(mark_measure_start(), *(worker(number) for number in range(clients)))
    if on_measure is not None:
        on_measure()
    if errors:
        print(f"non-200 answers: {dict(errors)}", flush=True)
    return samples


# -- CPU accounting -----------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def server_pids(server: subprocess.Popen[bytes]) -> list[int]:
    """The uvicorn supervisor and its worker processes."""
    pids = [server.pid]
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    if children.exists():
        pids += [int(pid) for pid in children.read_text().split()]
    return pids


def connections_per_process(server: subprocess.Popen[bytes], port: int) -> list[int]:
    """How many client connections each uvicorn worker holds (from /proc, Linux only)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    counts = []
    for pid in server_pids(server)[1:]:
        try:
            if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue  # multiprocessing's resource tracker
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        counts.append(sum(1 for link in links if link[8:-1] in inodes))
    return counts


def postgres_backends(url: str) -> tuple[list[int], int]:
    """The PostgreSQL backends serving the bench database, and how many were ever started."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
        sessions = connection.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    return [row[0] for row in rows], int(sessions[0]) if sessions else 0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting for I/O), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICKS


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


SCENARIO_COLUMNS = ("requests", "p50", "p90", "p99", "max")


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per scenario: request count and latency percentiles in milliseconds."""
    return {
        name: {
            "requests": len(values),
            "p50": statistics.median(values) * 1000,
            "p90": percentile(values, 0.9) * 1000,
            "p99": percentile(values, 0.99) * 1000,
            "max": max(values) * 1000,
        }
        for name, values in samples.items()
    }


def report(runs: list[dict[str, dict[str, float]]], title: str) -> str:
    """A table of one run, or of the per-cell medians of several (``title`` says which)."""
    names = sorted({name for run in runs for name in run}, key=lambda key: (key == "all", key))
    lines = [
        f"{title}",
        "| scenario | requests | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        cells = {
            column: statistics.median(run[name][column] for run in runs if name in run)
            for column in SCENARIO_COLUMNS
        }
        lines.append(
            f"| {name} | {cells['requests']:,.0f} | {cells['p50']:.1f} | {cells['p90']:.1f} | "
            f"{cells['p99']:.1f} | {cells['max']:.1f} |"
        )
    return "\n".join(lines)


class CpuMeter:
    """CPU seconds used by the server, PostgreSQL, this load generator and the whole machine."""

    def __init__(self, server: subprocess.Popen[bytes], url: str, port: int) -> None:
        self.server = server
        self.url = url
        self.port = port
        self.split: list[int] = []
        self.marks: list[dict[str, float]] = []
        self.pg_pids: list[int] = []

    def mark(self) -> None:
        pids, sessions = postgres_backends(self.url)
        if not self.marks:
            self.pg_pids = pids
            self.split = connections_per_process(self.server, self.port)
        self.marks.append(
            {
                "sessions": sessions,
                "wall": time.monotonic(),
                "server": sum(cpu_seconds(pid) for pid in server_pids(self.server)),
                "postgres": sum(cpu_seconds(pid) for pid in self.pg_pids),
                "client": time.process_time(),
                "machine": machine_busy_seconds(),
            }
        )

    def per_request(self, requests: int) -> dict[str, float]:
        """Milliseconds of CPU per request over the measured window, and busy cores."""
        first, last = self.marks[0], self.marks[-1]
        used = {key: last[key] - first[key] for key in first}
        result = {
            key: used[key] / requests * 1000 for key in ("server", "postgres", "client", "machine")
        }
        result["others"] = result["machine"] - result["server"] - result["postgres"]
        result["others"] -= result["client"]
        result["busy_cores"] = used["machine"] / used["wall"]
        # Backends that started during the window are not in pg_pids: their CPU is counted
        # under "others"; a connection pool that churns shows here.
        result["connections_opened"] = used["sessions"]
        return result


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
    parser.add_argument("--runs", type=int, default=3, help="measured runs on one server")
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
            f"think time: {args.think_ms:.0f} ms; {args.runs} run(s) of "
            f"{args.duration:.0f} s measured after {args.warmup:.0f} s warm-up",
            flush=True,
        )
        runs: list[dict[str, dict[str, float]]] = []
        throughputs: list[float] = []
        for run in range(args.runs):
            meter = CpuMeter(server, url, port)
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                samples = runner.run(
                    run_load(
                        port,
                        token,
                        args.clients,
                        args.duration,
                        args.warmup,
                        args.seed + 1000 * run,
                        args.think_ms / 1000,
                        on_measure=meter.mark,
                    )
                )
            summary = summarize(samples)
            runs.append(summary)
            requests = len(samples["all"])
            throughputs.append(requests / args.duration)
            cpu = meter.per_request(requests)
            print(report([summary], f"\nrun {run + 1}:"), flush=True)
            print(
                f"throughput: {throughputs[-1]:,.0f} requests/s; CPU per request: "
                f"server {cpu['server']:.2f} ms, PostgreSQL {cpu['postgres']:.2f} ms, "
                f"load generator {cpu['client']:.2f} ms, everything else on the machine "
                f"{cpu['others']:.2f} ms; {cpu['busy_cores']:.2f} of {os.cpu_count()} "
                f"cores busy; {cpu['connections_opened']:.0f} database connections opened; "
                f"client connections per uvicorn worker: {meter.split}",
                flush=True,
            )
        if args.runs > 1:
            print(report(runs, f"\nmedian of {args.runs} runs, cell by cell:"))
            print(
                f"throughput: median {statistics.median(throughputs):,.0f} requests/s "
                f"(runs: {', '.join(f'{value:,.0f}' for value in throughputs)})",
                flush=True,
            )
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
