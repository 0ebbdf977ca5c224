"""Worker acceptance: real embedded broker, real SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
from kafka import KafkaConsumer
from sqlalchemy import func, select

from services.alerts.orm import Alert
from services.config import Settings
from services.reports.orm import Report
from streaming.metrics import WorkerMetrics
from streaming.producer import make_producer
from streaming.worker import Worker, make_consumer
from tests.fixtures.reports import make_report, make_str
from tests.models.test_registry import tiny_model


def _malformed() -> list[bytes]:
    """200 bad messages of several kinds."""
    kinds: list[bytes] = []
    for i in range(200):
        kind = i % 10
        good = make_report(100_000 + i)
        if kind == 0:
            kinds.append(b"this is not json {")
        elif kind == 1:
            kinds.append(b"\xff\xfe\xfa invalid utf-8")
        elif kind == 2:
            kinds.append(orjson.dumps({**good, "schema_version": "one", "subject": 5}))
        elif kind == 3:
            kinds.append(orjson.dumps({k: v for k, v in good.items() if k != "subject"}))
        elif kind == 4:
            bad = make_str(100_000 + i)
            del bad["suspicion"]
            kinds.append(orjson.dumps(bad))
        elif kind == 5:
            kinds.append(
                orjson.dumps({**good, "transaction": {**good["transaction"], "currency": "XYZ"}})
            )
        elif kind == 6:
            kinds.append(
                orjson.dumps({**good, "transaction": {**good["transaction"], "amount": "-5.00"}})
            )
        elif kind == 7:
            kinds.append(
                orjson.dumps({**good, "transaction": {**good["transaction"], "amount": "1e30"}})
            )
        elif kind == 8:
            kinds.append(orjson.dumps({**good, "filed_at": "2026-11-28T10:00:00"}))
        else:
            kinds.append(b"{" + b" " * (1024 * 1024) + b"}")
    return kinds


def _produce(settings: Settings, values: list[bytes]) -> None:
    producer = make_producer(settings.bootstrap_servers)
    for index, value in enumerate(values):
        producer.send(settings.topic_reports, key=str(index % 50).encode(), value=value)
    producer.flush(timeout=60)
    producer.close()


def _stored(sessions) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Report)) or 0)


def _run_worker(settings: Settings, sessions, idle_exit_s: float = 8.0) -> Worker:
    worker = Worker(
        settings=settings,
        sessions=sessions,
        consumer=make_consumer(settings),
        producer=make_producer(settings.bootstrap_servers),
        metrics=WorkerMetrics(),
    )
    worker.run(idle_exit_s=idle_exit_s)
    return worker


def _dlq_messages(settings: Settings, expected: int) -> list:
    consumer = KafkaConsumer(
        settings.topic_dlq,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    messages = []
    for message in consumer:
        messages.append(message)
        if len(messages) >= expected:
            break
    consumer.close()
    return messages


class TestWorker:
    def test_valid_and_malformed_then_replay(self, settings, sessions) -> None:
        valid = [orjson.dumps(make_report(i)) for i in range(10_000)]
        bad = _malformed()
        stream = valid[:5000] + bad + valid[5000:]
        _produce(settings, stream)

        _run_worker(settings, sessions)
        assert _stored(sessions) == 10_000

        dead = _dlq_messages(settings, 200)
        assert len(dead) == 200
        for message in dead:
            headers = dict(message.headers)
            assert headers["aml.error.reason"]
            assert headers["aml.source.topic"] == settings.topic_reports.encode()
            assert int(headers["aml.source.offset"]) >= 0
        kinds = {dict(m.headers)["aml.error.kind"] for m in dead}
        assert kinds == {b"not_json", b"not_utf8", b"invalid", b"too_large"}
        # The DLQ keeps the original bytes.
        assert {m.value for m in dead} == set(bad)

        # The same 10,000 again: still exactly 10,000 stored.
        _produce(settings, valid)
        _run_worker(settings, sessions)
        assert _stored(sessions) == 10_000

    def test_conflicting_reuse_of_an_id_goes_to_the_dlq(self, settings, sessions) -> None:
        first = make_report(1)
        changed = make_report(1)
        changed["transaction"]["amount"] = "12.34"
        _produce(settings, [orjson.dumps(first), orjson.dumps(changed)])
        _run_worker(settings, sessions, idle_exit_s=6.0)
        dead = _dlq_messages(settings, 1)
        assert [dict(m.headers)["aml.error.kind"] for m in dead] == [b"conflict"]
        with sessions() as session:
            stored = session.scalars(select(Report)).one()
        assert stored.document["transaction"]["amount"] == first["transaction"]["amount"]

    def test_sigkill_mid_stream_then_restart(self, settings, sessions, tmp_path) -> None:
        total = 20_000
        _produce(settings, [orjson.dumps(make_report(i)) for i in range(total)])
        env = {
            **os.environ,
            "AMLSCREEN_DATABASE_URL": settings.effective_database_url,
            "AMLSCREEN_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
            "AMLSCREEN_TOPIC_REPORTS": settings.topic_reports,
            "AMLSCREEN_TOPIC_DLQ": settings.topic_dlq,
            "AMLSCREEN_TOPIC_ALERTS": settings.topic_alerts,
            "AMLSCREEN_TOPIC_INSTITUTION_PREFIX": settings.topic_institution_prefix,
            "AMLSCREEN_CONSUMER_GROUP": settings.consumer_group,
            "AMLSCREEN_WORKER_METRICS_PORT": "0",
            "AMLSCREEN_WORKER_BATCH_SIZE": "500",
            "AMLSCREEN_DATA_DIR": str(tmp_path),
            "AMLSCREEN_MODEL_PATH": str(tiny_model()),
        }
        command = [sys.executable, "-m", "amlscreen.cli", "worker"]
        worker = subprocess.Popen(command, env=env)
        deadline = time.monotonic() + 90
        while _stored(sessions) < 2_000 and time.monotonic() < deadline:
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert _stored(sessions) < total, "the kill must land mid-stream"

        restarted = subprocess.Popen(command, env=env)
        try:
            deadline = time.monotonic() + 120
            while _stored(sessions) < total and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # anything replayed after catch-up would show up as a duplicate
            assert _stored(sessions) == total
            # Detection ran on every report, and no alert was raised twice by the replay.
            with sessions() as session:
                statuses = dict(
                    session.execute(
                        select(Report.status, func.count()).group_by(Report.status)
                    ).all()
                )
                alerts = session.execute(
                    select(func.count(), func.count(func.distinct(Alert.report_id)))
                ).one()
            assert statuses == {"processed": total}
            assert alerts[0] == alerts[1] > 0
        finally:
            restarted.send_signal(signal.SIGTERM)
            assert restarted.wait(timeout=60) == 0
