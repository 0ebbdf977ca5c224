"""A real Prometheus scrapes a running worker and a two-process API; PromQL sees the stream.

The worker (``amlscreen worker``) and the API (``uvicorn --factory amlscreen.asgi:create
--workers 2`` in multiprocess mode) run as subprocesses against the embedded broker and each
database backend. Prometheus (Debian's package) scrapes both every second and evaluates the
shipped rules; the test then asks it, over its HTTP API, for what a known stream must produce.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from services.config import Settings
from streaming.producer import make_producer
from tests.conftest import free_port
from tests.deploy.conftest import RULES, binary, dashboard_exprs, exported_series
from tests.fixtures.reports import make_report
from tests.models.test_registry import tiny_model

pytestmark = pytest.mark.broker

VALID = 50
MALFORMED = {"not_json": [b"{ not json", b"[1, 2"], "not_utf8": [b"\xff\xfe broken"]}
INVALID = 2
FORCED_ALERTS = (3, 17, 41)
API_PROCESSES = 2


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AMLSCREEN_DATABASE_URL": settings.effective_database_url,
        "AMLSCREEN_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "AMLSCREEN_TOPIC_REPORTS": settings.topic_reports,
        "AMLSCREEN_TOPIC_DLQ": settings.topic_dlq,
        "AMLSCREEN_TOPIC_ALERTS": settings.topic_alerts,
        "AMLSCREEN_TOPIC_INSTITUTION_PREFIX": settings.topic_institution_prefix,
        "AMLSCREEN_CONSUMER_GROUP": settings.consumer_group,
        "AMLSCREEN_DATA_DIR": str(settings.data_dir),
        "AMLSCREEN_MODEL_PATH": str(tiny_model()),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def _stop(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


class Prometheus:
    """A Prometheus server on loopback with its own config and storage in a temp dir."""

    def __init__(self, directory: Path, targets: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        self.config = directory / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.log = directory / "prometheus.log"
        self.command = [
            binary("prometheus"),
            f"--config.file={self.config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_http(f"{self.url}/-/ready", self.process, timeout=30)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log.read_text()[-3000:]}") from error

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, timeout=30)

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} returned {len(result)} series"
        return float(result[0]["value"][1]) if result else None

    def by(self, label: str, expr: str) -> dict[str, float]:
        return {row["metric"][label]: float(row["value"][1]) for row in self.query(expr)}

    def get(self, path: str) -> Any:
        body = httpx.get(f"{self.url}{path}", timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]


def eventually(check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    """Retries ``check`` until it returns without an AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError as error:
            if time.monotonic() > deadline:
                raise AssertionError(f"still failing after {timeout}s: {what}: {error}") from None
            time.sleep(0.5)


@pytest.fixture
def stack(settings_factory, sessions, tmp_path) -> Iterator[dict[str, Any]]:
    """Worker + two-process API + Prometheus, all on loopback; stopped after the test.

    ``sessions`` empties the tables afterwards: the worker writes to the shared test database.
    """
    settings = settings_factory()
    worker_port, api_port = free_port(), free_port()
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    prometheus = Prometheus(
        tmp_path,
        {
            "amlscreen-worker": f"127.0.0.1:{worker_port}",
            "amlscreen-api": f"127.0.0.1:{api_port}",
        },
    )
    try:
        # Prometheus first: it sees the counters start, as in production.
        prometheus.start()
        worker = subprocess.Popen(
            [sys.executable, "-m", "amlscreen.cli", "worker"],
            env=_env(
                settings,
                AMLSCREEN_WORKER_METRICS_PORT=str(worker_port),
                AMLSCREEN_WORKER_METRICS_HOST="127.0.0.1",
            ),
        )
        processes.append(worker)
        api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "amlscreen.asgi:create",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--workers",
                str(API_PROCESSES),
                "--no-access-log",
            ],
            env=_env(settings, PROMETHEUS_MULTIPROC_DIR=str(multiproc)),
        )
        processes.append(api)
        _wait_http(f"http://127.0.0.1:{worker_port}/metrics", worker)
        _wait_http(f"http://127.0.0.1:{api_port}/healthz", api)
        yield {
            "settings": settings,
            "prometheus": prometheus,
            "api": f"http://127.0.0.1:{api_port}",
            "multiproc": multiproc,
            "worker": worker,
        }
    finally:
        codes = [_stop(process) for process in processes]
        prometheus.stop()
    assert codes[0] == 0, "the worker must exit 0 on SIGTERM"


def _produce(settings: Settings) -> None:
    # The model's scores on these generic reports depend on how the tiny model was trained;
    # wires to a FATF high-risk jurisdiction force an alert under the default rules, so the
    # stream raises alerts whatever the model says.
    forced = {
        i: make_report(
            i,
            transaction={
                **make_report(i)["transaction"],
                "instrument": "wire",
                "direction": "out",
                "channel": "online",
                "counterparty": {"name": f"Beneficiary {i}", "country": "IR"},
            },
        )
        for i in FORCED_ALERTS
    }
    valid = [orjson.dumps(forced.get(i) or make_report(i)) for i in range(VALID)]
    invalid = []
    for i in range(INVALID):
        bad = make_report(1000 + i)
        del bad["subject"]
        invalid.append(orjson.dumps(bad))
    malformed = [value for values in MALFORMED.values() for value in values] + invalid
    producer = make_producer(settings.bootstrap_servers)
    for index, value in enumerate(valid[:25] + malformed + valid[25:]):
        producer.send(settings.topic_reports, key=f"S-{index}".encode(), value=value)
    producer.flush(timeout=30)
    producer.close()


def _requests_over_every_process(base: str, multiproc: Path) -> int:
    """Requests /v1/alerts (401) on fresh connections until every API process served some."""
    sent = 0
    while sent < 400:
        for _ in range(10):
            response = httpx.get(f"{base}/v1/alerts", timeout=10)
            assert response.status_code == 401
            sent += 1
        if len(list(multiproc.glob("histogram_*.db"))) >= API_PROCESSES:
            return sent
    raise AssertionError("the requests never reached every API process")


class TestPrometheusScrape:
    def test_a_known_stream_as_seen_by_prometheus(self, stack) -> None:
        settings: Settings = stack["settings"]
        prometheus: Prometheus = stack["prometheus"]
        topic = settings.topic_reports
        _produce(settings)
        sent = _requests_over_every_process(stack["api"], stack["multiproc"])
        for _ in range(3):
            assert httpx.get(f"{stack['api']}/no/such/route", timeout=10).status_code == 404

        def flowing() -> None:
            assert prometheus.value('up{job="amlscreen-worker"}') == 1
            assert prometheus.value('up{job="amlscreen-api"}') == 1
            stored = 'sum(amlscreen_reports_consumed_total{outcome="stored"})'
            assert prometheus.value(stored) == VALID
            dead = 'sum(amlscreen_reports_consumed_total{outcome="dead_letter"})'
            assert prometheus.value(dead) == 5
            assert prometheus.by("reason", "sum by (reason) (amlscreen_dlq_messages_total)") == {
                "not_json": 2,
                "not_utf8": 1,
                "invalid": INVALID,
            }
            assert prometheus.value("sum(amlscreen_batch_size_messages_sum)") == VALID + 5
            lag = prometheus.by("partition", f'amlscreen_consumer_lag_messages{{topic="{topic}"}}')
            assert lag == {str(p): 0 for p in range(settings.topic_partitions)}

        eventually(flowing, what="the stream's counters in Prometheus")

        stages = prometheus.by(
            "stage", "sum by (stage) (amlscreen_stage_duration_seconds_count) > 0"
        )
        assert {"decode", "persist", "publish", "commit"} <= set(stages)
        assert prometheus.value("sum(amlscreen_batch_size_messages_count)") == stages["decode"]
        assert prometheus.value("max(amlscreen_model_loaded)") == 1
        versions = prometheus.by("version", "amlscreen_model_info")
        assert list(versions.values()) == [1], versions
        # Every alert the worker raised was published, and timed from its report's Kafka
        # timestamp to the broker's acknowledgement.
        raised = prometheus.value("sum(amlscreen_alerts_raised_total)")
        assert raised is not None
        assert raised >= len(FORCED_ALERTS)
        assert prometheus.value("sum(amlscreen_produce_to_alert_seconds_count)") == raised
        assert {"decode", "persist", "publish", "commit", "alert"} <= set(stages)

        # Every API process' requests, summed by the multiprocess collector.
        def api_counted() -> None:
            count = (
                'sum(amlscreen_http_request_duration_seconds_count{route="/v1/alerts",'
                'method="GET",status="401"})'
            )
            assert prometheus.value(count) == sent
            unmatched = 'sum(amlscreen_http_request_duration_seconds_count{route="unmatched"})'
            assert prometheus.value(unmatched) == 3
            routes = prometheus.by(
                "route", "sum by (route) (amlscreen_http_request_duration_seconds_count)"
            )
            assert not {"/healthz", "/metrics"} & set(routes), "health and scrapes are excluded"

        eventually(api_counted, timeout=20, what="API requests across processes")

        # Each API process verified the (empty) ledger at start; "mostrecent" gauges show one
        # sample for all processes.
        def verified() -> None:
            stamp = prometheus.value("max(amlscreen_ledger_verification_timestamp_seconds)")
            assert stamp is not None
            assert stamp > time.time() - 600
            assert prometheus.value("min(amlscreen_ledger_verification_ok)") == 1

        eventually(verified, timeout=20, what="the ledger verification gauges")

        # The shipped rules evaluate against the live series without error.
        recorded = f'amlscreen:consumer_lag_messages:sum{{topic="{topic}"}}'
        eventually(lambda: _equal(prometheus.value(recorded), 0), what=recorded)

        def rules_healthy() -> None:
            rules = [
                rule
                for group in prometheus.get("/api/v1/rules")["groups"]
                for rule in group["rules"]
            ]
            assert rules
            for rule in rules:
                assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"

        eventually(rules_healthy, timeout=20, what="rule health")
        active = {
            alert["labels"]["alertname"] for alert in prometheus.get("/api/v1/alerts")["alerts"]
        }
        # The model is loaded and the ledger verified: nothing is wrong with this stack.
        assert not active, active

        # Every dashboard query runs, and the metrics of this stack have data.
        for expr in dashboard_exprs():
            prometheus.query(expr.replace("$__rate_interval", "1m"))
        scraped = {
            row["metric"]["__name__"] for row in prometheus.query('{__name__=~"amlscreen_.+"}')
        }
        # Labelled metrics have no series before their first event (no alert, posting or
        # batch failure here).
        no_event_yet = {
            "amlscreen_alerts_raised_total",
            "amlscreen_ledger_postings_total",
            "amlscreen_batch_failures_total",
        }
        for family, series in exported_series().items():
            if family in no_event_yet:
                continue
            assert series & scraped, f"{family} was not scraped"


def _equal(actual: float | None, expected: float) -> None:
    assert actual == expected, actual


def test_missing_prometheus_fails_loudly(monkeypatch, tmp_path) -> None:
    """Without the binary the deploy tests fail with the install command, never skip."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y prometheus"):
        binary("prometheus", fallback=tmp_path)
