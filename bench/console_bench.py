"""Console queue page benchmark: ``GET /console/alerts`` over 1M alerts in PostgreSQL.

The same database, loader, server and load generator as ``bench/alerts_bench.py`` (1M alerts
loaded with COPY, a real uvicorn server, bare keep-alive HTTP/1.1 clients on uvloop), but each
client signs in to the console first (one console session each, as browsers would) and reads
the server-rendered queue page: the HTML of 50 rows with the filter lists (distinct
typologies, institutions, jurisdictions, assignees) and the deadline badges. Scenarios are the
queue's filters as the page offers them, and pages 2-5 followed through the page's "Next page"
link. Reports p50/p90/p99/max per scenario; latency is measured at the client on loopback, so
it includes the server's time and nothing of a network.

    .venv/bin/python bench/console_bench.py                     # 1M alerts, 8 clients, 3 runs
    .venv/bin/python bench/console_bench.py --keep              # then reuse the database:
    .venv/bin/python bench/console_bench.py --database-url postgresql+psycopg://... --clients 1

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import random
import re
import signal
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import alerts_bench as base
import httpx

STAMP = "%Y-%m-%d %H:%M UTC"
NEXT = re.compile(rb'href="(/console/alerts\?[^"]*)" rel="next"')


def sign_in(port: int, token: str) -> str:
    """Signs in to the console like a browser; returns the session cookie header value."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as client:
        page = client.get("/console/login")
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
        assert login_csrf, page.text
        answer = client.post(
            "/console/login",
            data={"token": token, "login_csrf": login_csrf.group(1), "next": "/console/alerts"},
        )
        assert answer.status_code == 303, answer.text
        return f"amlscreen_console={client.cookies['amlscreen_console']}"


def scenarios(rng: random.Random) -> list[tuple[str, Callable[[], str]]]:
    """(name, path maker): the queue's filters as the page sends them."""
    page = "/console/alerts"
    return [
        ("first page", lambda: page),
        ("status=NEW", lambda: f"{page}?status=NEW"),
        ("status=NEW sort=-score", lambda: f"{page}?status=NEW&sort=-score"),
        ("status=NEW,TRIAGE", lambda: f"{page}?status=NEW&status=TRIAGE"),
        ("band=high jurisdiction=MX", lambda: f"{page}?band=high&jurisdiction=MX"),
        ("typology", lambda: f"{page}?typology={rng.choice(base.TYPOLOGIES[:-1])}"),
        ("institution", lambda: f"{page}?institution_id={rng.choice(base.INSTITUTIONS)}"),
        (
            "assignee + status",
            lambda: f"{page}?assignee={rng.choice(base.ASSIGNEES)}&status=INVESTIGATING",
        ),
        ("unassigned, sort=-score", lambda: f"{page}?assignee=%28unassigned%29&sort=-score"),
        ("due within 7 days, sort deadline", lambda: f"{page}?deadline=week&sort=deadline_at"),
        ("overdue (earliest deadline first)", lambda: f"{page}?deadline=overdue"),
    ]


# Measured alone (--slow): overdue alerts are the oldest ones, so newest-first walks the
# created-at index past every recent alert before it finds 50 overdue ones.
SLOW = [("overdue, newest first", lambda: "/console/alerts?deadline=overdue&sort=-created_at")]


async def run_load(
    port: int,
    cookies: list[str],
    duration: float,
    warmup: float,
    seed: int,
    think: float,
    on_measure: Callable[[], None] | None = None,
    slow: bool = False,
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    plans = SLOW if slow else scenarios(rng)
    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[int, int] = defaultdict(int)
    stop_at = time.monotonic() + warmup + duration
    measure_from = time.monotonic() + warmup

    async def worker(number: int, cookie: str) -> None:
        await asyncio.sleep(number * 0.02)
        client = await base.Client.connect(port)
        local = random.Random(seed + number)
        headers = f" HTTP/1.1\r\nHost: bench\r\nCookie: {cookie}\r\n\r\n".encode()
        while time.monotonic() < stop_at:
            name, make = plans[local.randrange(len(plans))]
            path = make()
            pages = 5 if local.random() < 0.25 else 1
            for page in range(pages):
                started = time.perf_counter()
                status, body = await client.get(b"GET " + path.encode() + headers)
                elapsed = time.perf_counter() - started
                if status != 200:
                    errors[status] += 1
                    break
                if time.monotonic() >= measure_from:
                    samples[name if page == 0 else "pages 2-5 (next link)"].append(elapsed)
                    samples["all"].append(elapsed)
                link = NEXT.search(body)
                if not link:
                    break
                path = html.unescape(link.group(1).decode())
                if think:
                    await asyncio.sleep(local.expovariate(1 / think))
            if think:
                await asyncio.sleep(local.expovariate(1 / think))

    async def mark_measure_start() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        if on_measure is not None:
            on_measure()

    await asyncio.gather(
        mark_measure_start(), *(worker(number, cookie) for number, cookie in enumerate(cookies))
    )
    if on_measure is not None:
        on_measure()
    if errors:
        print(f"non-200 answers: {dict(errors)}", flush=True)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8, help="signed-in browsers")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause of each client between pages (0: closed loop, saturating)",
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs on one server")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an already loaded database (skips the load)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument(
        "--slow", action="store_true", help="only the overdue-newest-first combination"
    )
    args = parser.parse_args()

    from services.migrate import upgrade

    name = None
    url = args.database_url
    if url is None:
        name, url = base.create_database()
        upgrade(url)
        base.load(url, args.alerts, args.seed)
    else:
        upgrade(url)  # a database kept by alerts_bench may predate the console's tables
    token = base.make_token(url)
    port = base.free_port()
    server = base.start_server(url, port, args.workers)
    try:
        cookies = [sign_in(port, token) for _ in range(args.clients)]
        print(f"machine: {base.machine()}", flush=True)
        print(
            f"uvicorn workers: {args.workers}; signed-in clients: {args.clients}; think time: "
            f"{args.think_ms:.0f} ms; {args.runs} run(s) of {args.duration:.0f} s measured "
            f"after {args.warmup:.0f} s warm-up; started {time.strftime(STAMP, time.gmtime())}",
            flush=True,
        )
        runs: list[dict[str, dict[str, Any]]] = []
        throughputs: list[float] = []
        for run in range(args.runs):
            meter = base.CpuMeter(server, url, port)
            with asyncio.Runner(loop_factory=base.new_event_loop) as runner:
                samples = runner.run(
                    run_load(
                        port,
                        cookies,
                        args.duration,
                        args.warmup,
                        args.seed + 1000 * run,
                        args.think_ms / 1000,
                        on_measure=meter.mark,
                        slow=args.slow,
                    )
                )
            summary = base.summarize(samples)
            runs.append(summary)
            requests = len(samples["all"])
            throughputs.append(requests / args.duration)
            cpu = meter.per_request(requests)
            print(base.report([summary], f"\nrun {run + 1}:"), flush=True)
            print(
                f"throughput: {throughputs[-1]:,.0f} pages/s; CPU per page: server "
                f"{cpu['server']:.2f} ms, PostgreSQL {cpu['postgres']:.2f} ms, load generator "
                f"{cpu['client']:.2f} ms, everything else {cpu['others']:.2f} ms; "
                f"{cpu['busy_cores']:.2f} of {os.cpu_count()} cores busy",
                flush=True,
            )
        if args.runs > 1:
            print(base.report(runs, f"\nmedian of {args.runs} runs, cell by cell:"))
            print(
                f"throughput: median {statistics.median(throughputs):,.0f} pages/s "
                f"(runs: {', '.join(f'{value:,.0f}' for value in throughputs)})",
                flush=True,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if name is not None and not args.keep:
            base.drop_database(name)
        elif name is not None:
            print(f"kept database: {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
