"""``amlscreen up`` as a user runs it: embedded broker, SQLite, API, worker with detection.

The README's first command ends in ``amlscreen up``; this test runs that command as a
subprocess on free ports and checks what a user would: the printed admin token works, a
submitted report is scored with reasons, a high-risk one raises an alert with its Kafka
position, both metrics endpoints answer, and SIGTERM stops everything with exit code 0.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.registry import card_path
from services.config import Settings
from tests.conftest import free_ports
from tests.fixtures.reports import make_report
from tests.models.test_registry import tiny_model

pytestmark = pytest.mark.broker


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AMLSCREEN_")}
    api, broker, metrics = free_ports(3)
    env.update(
        {
            "AMLSCREEN_DATA_DIR": str(data_dir),
            "AMLSCREEN_API_PORT": str(api),
            "AMLSCREEN_EMBEDDED_BROKER_PORT": str(broker),
            "AMLSCREEN_WORKER_METRICS_PORT": str(metrics),
        }
    )
    env.update(extra)
    return env


class Console:
    """The command's stdout, read line by line on a thread (never blocking the test)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self.lines.put(line.rstrip("\n"))

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"not printed within {timeout}s; output so far: {self.seen}")


def _eventually(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _start_up(env: dict[str, str]) -> tuple[subprocess.Popen[str], Console]:
    """``amlscreen up`` as a subprocess, its stdout read by a :class:`Console`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "amlscreen.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    return process, Console(process)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = _env(tmp_path, AMLSCREEN_MODEL_PATH=str(tiny_model()))
    process, console = _start_up(env)
    try:
        line = console.wait_for(lambda text: "admin token" in text, timeout=120)
        token = line.split()[-1]
        base = f"http://127.0.0.1:{env['AMLSCREEN_API_PORT']}"
        _eventually(lambda: httpx.get(f"{base}/readyz", timeout=5).raise_for_status())
        yield {"process": process, "base": base, "token": token, "env": env}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=90)
    assert code == 0, "amlscreen up must exit 0 on SIGTERM"


class TestUp:
    def test_a_report_in_is_scored_and_a_high_risk_one_alerts(
        self, running: dict[str, Any]
    ) -> None:
        base, headers = running["base"], {"Authorization": f"Bearer {running['token']}"}
        plain = make_report(1)
        risky = make_report(2)
        risky["transaction"].update(
            instrument="wire",
            direction="out",
            channel="online",
            counterparty={"name": "Front Co", "account_id": "IR-1", "country": "IR"},
        )
        answer = httpx.post(f"{base}/v1/reports", json=[plain, risky], headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text

        def processed(report: dict[str, Any]) -> dict[str, Any]:
            path = f"{base}/v1/reports/{report['institution_id']}/{report['report_id']}"
            body: dict[str, Any] = httpx.get(path, headers=headers, timeout=10).json()
            assert body.get("status") == "processed", body
            return body

        for report in (plain, risky):
            body = _eventually(lambda report=report: processed(report))
            assert 0.0 <= body["score"] <= 1.0
            assert body["reasons"], "every processed report carries its reasons"

        def alerted() -> dict[str, Any]:
            page = httpx.get(f"{base}/v1/alerts", headers=headers, timeout=10).json()
            mine = [item for item in page["items"] if item["report_id"] == risky["report_id"]]
            assert mine, page
            return dict(mine[0])

        alert = _eventually(alerted)
        detail = httpx.get(f"{base}/v1/alerts/{alert['id']}", headers=headers, timeout=10).json()
        assert any(hit["rule"] == "high_risk_jurisdiction" for hit in detail["rule_hits"])
        assert detail["source"]["topic"] == "aml.reports"
        assert detail["source"]["offset"] is not None
        assert detail["reasons"]

        worker_metrics = httpx.get(
            f"http://127.0.0.1:{running['env']['AMLSCREEN_WORKER_METRICS_PORT']}/metrics",
            timeout=10,
        ).text
        assert "amlscreen_model_loaded 1.0" in worker_metrics
        assert (
            "amlscreen_http_request_duration_seconds"
            in httpx.get(f"{base}/metrics", timeout=10).text
        )


def test_up_refuses_a_model_that_fails_verification(tmp_path: Path) -> None:
    """Someone's model whose card does not match is never replaced nor loaded: exit 2."""
    model = tmp_path / "model" / "model.skops"
    model.parent.mkdir()
    shutil.copy(tiny_model(), model)
    shutil.copy(card_path(tiny_model()), card_path(model))
    model.write_bytes(model.read_bytes() + b"tampered")
    env = _env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "amlscreen.cli", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result
    assert "sha256" in result.stderr
    assert Settings(data_dir=tmp_path).effective_model_path == model


def test_worker_without_a_model_refuses_to_start(settings_factory, tmp_path: Path) -> None:
    settings = settings_factory()
    env = {
        **os.environ,
        "AMLSCREEN_DATABASE_URL": settings.effective_database_url,
        "AMLSCREEN_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "AMLSCREEN_TOPIC_REPORTS": settings.topic_reports,
        "AMLSCREEN_WORKER_METRICS_PORT": "0",
        "AMLSCREEN_MODEL_PATH": str(tmp_path / "nowhere" / "model.skops"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "amlscreen.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no model artefact at" in result.stderr
    assert "amlscreen train" in result.stderr


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        commands[int(entry.name)] = command
    found: list[tuple[int, str]] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent:
                found.append((child, commands[child]))
                frontier.append(child)
    return found


def test_up_stops_with_an_error_when_the_embedded_broker_dies(tmp_path: Path) -> None:
    """API and worker are not left running against a broker that is gone: exit 1, said why."""
    env = _env(tmp_path, AMLSCREEN_MODEL_PATH=str(tiny_model()))
    process, console = _start_up(env)
    try:
        console.wait_for(lambda text: "admin token" in text, timeout=120)
        below = _descendants(process.pid)
        brokers = [pid for pid, command in below if "tansu" in command]
        assert brokers, below
        for pid in brokers:
            os.kill(pid, signal.SIGKILL)
        code = process.wait(timeout=60)
        console.wait_for(lambda text: "embedded broker exited unexpectedly" in text, timeout=10)
        survivors = [pid for pid, _ in below if Path(f"/proc/{pid}").exists()]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 1
    # API and worker were stopped too (a zombie has exited; only its status is left).
    alive = [
        pid
        for pid in survivors
        if Path(f"/proc/{pid}/stat").exists()
        and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    ]
    assert not alive
