"""``amlscreen simulate``: file, Kafka and HTTP outputs, labels on the side, pacing, stopping.

Kafka runs against the real embedded broker; HTTP against the real API (uvicorn in a thread on
a free port, SQLite, publishing to the embedded broker). Every run goes through
``amlscreen.cli.main`` as a user would call it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from kafka import KafkaConsumer, TopicPartition

import amlscreen.simulate as simulate
from amlscreen.cli import main
from refdata.subject import subject_key
from refdata.typologies import TYPOLOGIES
from refdata.wire import ReportV1, Subject
from services.app import create_app
from services.auth.enums import Role
from services.auth.service import create_token
from services.config import Settings
from services.db import make_engine, transaction
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker
from simulator.generate import GeneratorConfig, write_jsonl
from streaming.broker import ensure_topics
from streaming.producer import KafkaReportPublisher
from tests.conftest import free_port

LABEL_FIELDS = {"typology", "case_id", "label", "labels", "is_laundering"}


def _simulate(*args: str) -> int:
    return main(["simulate", "--quiet", *args])


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _keys(value: Any) -> set[str]:
    """Every key of every object nested in a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(_keys(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(item) for item in value))
    return set()


def _key_of(report: dict[str, Any]) -> bytes:
    subject = Subject.model_validate(report["subject"])
    return subject_key(report["institution_id"], subject.subject_id, subject.identifiers).encode()


def _summary(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("simulate")]
    assert len(lines) == 1, out
    return lines[0]


def _consume(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """The topic's messages: waits for ``expected``, then checks that no more arrive.

    (The embedded broker's ListOffsets(latest) answers below the high watermark, so the end
    offsets cannot say how many messages there are.)
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # kafka-python refuses frames above 1 MB by default, whatever the fetch sizes say.
        receive_message_max_bytes=64 * 1024 * 1024,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        messages: list[Any] = []
        deadline = time.monotonic() + 30
        while len(messages) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend(batch)
        for batch in consumer.poll(timeout_ms=500).values():
            messages.extend(batch)
        assert len(messages) == expected
        return messages
    finally:
        consumer.close()


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, count: int, times: int = 1) -> None:
    """Sends this process real SIGINTs once the generator has yielded ``count`` reports."""
    real = simulate.generate

    def generate(config: GeneratorConfig) -> Iterator[Any]:
        for index, item in enumerate(real(config)):
            if index == count:
                for _ in range(times):
                    os.kill(os.getpid(), signal.SIGINT)
            yield item

    monkeypatch.setattr(simulate, "generate", generate)


# ---------------------------------------------------------------------------------------------
# File output


class TestFile:
    def test_deterministic_by_seed_and_same_as_the_generator(self, tmp_path, capsys) -> None:
        first, again, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
        assert _simulate("--seed", "11", "--reports", "2000", "--out", str(first)) == 0
        assert _simulate("--seed", "11", "--reports", "2000", "--out", str(again)) == 0
        assert _simulate("--seed", "12", "--reports", "2000", "--out", str(other)) == 0
        assert first.read_bytes() == again.read_bytes()
        assert (tmp_path / "a.labels.jsonl").read_bytes() == (
            tmp_path / "b.labels.jsonl"
        ).read_bytes()
        assert first.read_bytes() != other.read_bytes()
        assert len(_lines(first)) == 2000
        # Exactly what the generator's own writer produces for the same configuration.
        config = GeneratorConfig(
            seed=11, n_reports=2000, start=datetime(2026, 1, 5, tzinfo=UTC), days=60
        )
        reports, labels = tmp_path / "ref.jsonl", tmp_path / "ref.labels.jsonl"
        write_jsonl(config, reports, labels)
        assert first.read_bytes() == reports.read_bytes()
        assert (tmp_path / "a.labels.jsonl").read_bytes() == labels.read_bytes()
        assert not list(tmp_path.glob(".*.tmp"))
        summaries = capsys.readouterr().out.splitlines()
        assert len(summaries) == 3
        assert "2000 reports" in summaries[0]
        assert "reports/s" in summaries[0]
        assert f"→ {first}, labels {tmp_path / 'a.labels.jsonl'}" in summaries[0]

    def test_valid_wire_reports_with_labels_only_on_the_side(self, tmp_path, capsys) -> None:
        out, labels = tmp_path / "stream.jsonl", tmp_path / "side" / "truth.jsonl"
        labels.parent.mkdir()
        code = _simulate(
            "--seed",
            "3",
            "--reports",
            "3000",
            "--days",
            "20",
            "--start",
            "2026-03-02",
            "--regime",
            "evaluation",
            "--laundering-share",
            "0.2",
            "--out",
            str(out),
            "--labels",
            str(labels),
        )
        assert code == 0
        assert not (tmp_path / "stream.labels.jsonl").exists()
        reports = [orjson.loads(line) for line in _lines(out)]
        side = [orjson.loads(line) for line in _lines(labels)]
        assert len(reports) == len(side) == 3000
        case_ids = {row["case_id"] for row in side if row["case_id"]}
        assert case_ids, "a 20% laundering share must label some reports"
        for report, label in zip(reports, side, strict=True):
            ReportV1.model_validate(report)
            assert not _keys(report) & LABEL_FIELDS
            assert (label["institution_id"], label["report_id"]) == (
                report["institution_id"],
                report["report_id"],
            )
            assert set(label) == {
                "institution_id",
                "report_id",
                "typology",
                "case_id",
                "lookalike",
            }
            assert (label["typology"] is None) == (label["case_id"] is None)
            assert label["typology"] is None or label["typology"] in TYPOLOGIES
        text = out.read_text()
        assert not any(case_id in text for case_id in case_ids)
        assert not any(typology in text for typology in TYPOLOGIES)
        first = min(r.get("transaction", {}).get("timestamp", r["filed_at"]) for r in reports)
        assert first.startswith("2026-03-02")
        summary = _summary(capsys.readouterr().out)
        assert "evaluation regime" in summary
        laundering = sum(1 for row in side if row["typology"])
        assert f"laundering {laundering} reports in {len(case_ids)} cases" in summary

    def test_world_seed_draws_a_world_deterministically(self, tmp_path, capsys) -> None:
        paths = [tmp_path / f"{name}.jsonl" for name in ("w1", "w1-again", "default")]
        worlds = ("7", "7", "default")
        for path, world in zip(paths, worlds, strict=True):
            args = ("--seed", "11", "--reports", "3000", "--world", world, "--out", str(path))
            assert _simulate(*args) == 0
        drawn, again, default = (path.read_bytes() for path in paths)
        assert drawn == again
        assert drawn != default
        config = GeneratorConfig(seed=11, n_reports=3000, start=datetime(2026, 1, 5, tzinfo=UTC))
        write_jsonl(config, tmp_path / "ref.jsonl", tmp_path / "ref.labels.jsonl")
        assert default == (tmp_path / "ref.jsonl").read_bytes()
        for line in drawn.splitlines()[::50]:
            ReportV1.model_validate(orjson.loads(line))
        summaries = capsys.readouterr().out.splitlines()
        assert "world-7 world, drawn regime" in summaries[0]
        assert "default world, training regime" in summaries[2]

    def test_interrupted_run_leaves_no_file(self, tmp_path, monkeypatch, capsys) -> None:
        _interrupt_after(monkeypatch, 500)
        out = tmp_path / "big.jsonl"
        assert _simulate("--seed", "1", "--reports", "1M", "--out", str(out)) == 130
        assert list(tmp_path.iterdir()) == []
        summary = _summary(capsys.readouterr().out)
        assert "STOPPED by SIGINT" in summary
        assert "nothing written" in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "1", "--out", "x.jsonl"], "--reports"),
        (["--seed", "1", "--reports", "0", "--out", "x.jsonl"], "at least 1"),
        (["--seed", "1", "--reports", "ten", "--out", "x.jsonl"], "not a count"),
        (["--seed", "-1", "--reports", "5", "--out", "x.jsonl"], ">= 0"),
        (["--seed", "1", "--reports", "5", "--days", "0", "--out", "x.jsonl"], "between 1"),
        (["--seed", "1", "--reports", "5", "--laundering-share", "2", "--out", "x"], "0 and 1"),
        (["--seed", "1", "--reports", "5", "--start", "yesterday", "--out", "x"], "ISO 8601"),
        (["--seed", "1", "--reports", "5", "--regime", "test", "--out", "x"], "invalid choice"),
        (["--seed", "1", "--reports", "5", "--world", "x", "--out", "x"], "not a world seed"),
        (["--seed", "1", "--reports", "5", "--world", "-2", "--out", "x"], "must be >= 0"),
        (
            ["--seed", "1", "--reports", "5", "--world", "3", "--regime", "training", "--out", "x"],
            "default world",
        ),
        (["--seed", "1", "--reports", "5"], "one of the arguments"),
        (["--seed", "1", "--reports", "5", "--out", "x", "--kafka"], "not allowed with"),
        (["--seed", "1", "--reports", "5", "--out", "x", "--rate", "10"], "--rate applies"),
        (["--seed", "1", "--reports", "5", "--kafka", "--rate", "-3"], "positive"),
        (["--seed", "1", "--reports", "5", "--kafka", "--token", "t"], "--http only"),
        (["--seed", "1", "--reports", "5", "--out", "/nonexistent/dir/x.jsonl"], "does not exist"),
        (["--seed", "1", "--reports", "5", "--out", "x.jsonl", "--labels", "x.jsonl"], "differ"),
        (["--seed", "1", "--reports", "5", "--http", "http://127.0.0.1:9"], "needs a token"),
        (["--seed", "1", "--reports", "5", "--http", "ftp://x", "--token", "t"], "http(s)://"),
    ],
)
def test_bad_input_exits_2(args, message, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(simulate.TOKEN_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Kafka output


@pytest.fixture
def kafka_env(broker, monkeypatch) -> Settings:
    topic = f"aml.reports.sim.{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AMLSCREEN_KAFKA_BOOTSTRAP", broker.bootstrap)
    monkeypatch.setenv("AMLSCREEN_TOPIC_REPORTS", topic)
    monkeypatch.setenv("AMLSCREEN_TOPIC_PARTITIONS", "4")
    return Settings()


@pytest.mark.broker
class TestKafka:
    def test_count_keys_and_bytes(self, kafka_env, tmp_path, capsys) -> None:
        labels = tmp_path / "k.labels.jsonl"
        args = ("--seed", "5", "--reports", "1500", "--laundering-share", "0.1")
        assert _simulate(*args, "--kafka", "--labels", str(labels)) == 0
        assert _simulate(*args, "--out", str(tmp_path / "f.jsonl")) == 0
        summary = _summary(capsys.readouterr().out.splitlines()[0])
        assert "1500 sent, 1500 acked, 0 failed" in summary

        messages = _consume(kafka_env.bootstrap_servers, kafka_env.topic_reports, 1500)
        assert {m.partition for m in messages} == {0, 1, 2, 3}
        by_id = {orjson.loads(m.value)["report_id"]: m for m in messages}
        partition_of_key: dict[bytes, int] = {}
        for line in _lines(tmp_path / "f.jsonl"):
            report = orjson.loads(line)
            message = by_id[report["report_id"]]
            assert message.value == line  # the generator's bytes, no label added
            assert message.key == _key_of(report)
            assert partition_of_key.setdefault(message.key, message.partition) == message.partition
        assert labels.read_bytes() == (tmp_path / "f.labels.jsonl").read_bytes()

    def test_rate_is_respected(self, kafka_env, capsys) -> None:
        started = time.monotonic()
        assert _simulate("--seed", "2", "--reports", "200", "--kafka", "--rate", "400") == 0
        assert time.monotonic() - started >= 0.49  # item 199 is due at 199/400 s
        messages = _consume(kafka_env.bootstrap_servers, kafka_env.topic_reports, 200)
        stamps = sorted(m.timestamp for m in messages)  # producer create time, ms
        assert stamps[-1] - stamps[0] >= 480
        assert stamps[-1] - stamps[0] < 5_000
        assert "200 acked" in _summary(capsys.readouterr().out)

    def test_ctrl_c_delivers_and_counts_what_was_sent(
        self, kafka_env, tmp_path, monkeypatch, capsys
    ) -> None:
        _interrupt_after(monkeypatch, 300)
        labels = tmp_path / "sent.labels.jsonl"
        code = _simulate(
            "--seed", "4", "--reports", "100k", "--kafka", "--rate", "5000", "--labels", str(labels)
        )
        assert code == 130
        summary = _summary(capsys.readouterr().out)
        assert "STOPPED by SIGINT" in summary
        assert "300 reports" in summary
        assert "300 sent, 300 acked, 0 failed" in summary
        _consume(kafka_env.bootstrap_servers, kafka_env.topic_reports, 300)
        assert len(_lines(labels)) == 300

    def test_second_ctrl_c_aborts_without_labels(
        self, kafka_env, tmp_path, monkeypatch, capsys
    ) -> None:
        _interrupt_after(monkeypatch, 100, times=2)
        labels = tmp_path / "sent.labels.jsonl"
        code = _simulate("--seed", "4", "--reports", "100k", "--kafka", "--labels", str(labels))
        assert code == 130
        assert "simulate ABORTED" in _summary(capsys.readouterr().out)
        assert list(tmp_path.iterdir()) == []
        # The producer's sender thread (not a daemon) must not outlive the abort.
        lingering = [
            thread.name
            for thread in threading.enumerate()
            if not thread.daemon and thread is not threading.main_thread()
        ]
        assert lingering == []

    def test_unreachable_broker_is_a_clear_error(self, monkeypatch, capsys) -> None:
        monkeypatch.setenv("AMLSCREEN_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
        monkeypatch.setattr(simulate.KafkaSink, "CONNECT_TIMEOUT_S", 1.0)
        assert _simulate("--seed", "1", "--reports", "10", "--kafka") == 1
        assert "cannot reach Kafka" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# HTTP output


class ApiServer:
    """The real API on a free loopback port, in a thread, publishing to the embedded broker."""

    def __init__(self, settings: Settings) -> None:
        def publisher(current: Settings) -> KafkaReportPublisher:
            return KafkaReportPublisher(current.bootstrap_servers, current.topic_reports)

        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings, publisher), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive(), "the API thread died"
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def token(self, role: Role, institution: str | None = None) -> str:
        engine = make_engine(self.settings.effective_database_url)
        try:
            with transaction(make_sessionmaker(engine)) as session:
                return create_token(session, role=role, institution_id=institution)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def api_database(tmp_path_factory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{directory / 'amlscreen.db'}"
    upgrade(url)
    return directory, url


@pytest.fixture
def api(broker, api_database) -> Iterator[ApiServer]:
    """A fresh API (and reports topic) per test over one migrated SQLite database."""
    directory, url = api_database
    settings = Settings(
        data_dir=directory,
        database_url=url,
        kafka_bootstrap=broker.bootstrap,
        topic_reports=f"aml.reports.http.{uuid.uuid4().hex[:8]}",
        ingest_max_items=40,  # below the default batch: the client must shrink on 413
    )
    ensure_topics(settings.bootstrap_servers, {settings.topic_reports: 4})
    with ApiServer(settings) as server:
        yield server


@pytest.mark.broker
class TestHttp:
    def test_batches_reach_the_topic_keyed_like_kafka(
        self, api, kafka_env, tmp_path, monkeypatch, capsys
    ) -> None:
        monkeypatch.setenv(simulate.TOKEN_ENV, api.token(Role.ADMIN))
        args = ("--seed", "8", "--reports", "300")
        assert _simulate(*args, "--http", api.url) == 0
        assert _simulate(*args, "--kafka") == 0
        streams = capsys.readouterr()
        assert "batch size 500 → 40" in streams.err
        http_summary, _kafka_summary = streams.out.splitlines()
        assert "300 accepted, 0 rejected, 9 requests" in http_summary  # one 413, then 8 of 40

        via_http = _consume(api.settings.bootstrap_servers, api.settings.topic_reports, 300)
        via_kafka = _consume(kafka_env.bootstrap_servers, kafka_env.topic_reports, 300)
        kafka_side = {orjson.loads(m.value)["report_id"]: (m.key, m.partition) for m in via_kafka}
        for message in via_http:
            report = orjson.loads(message.value)
            assert kafka_side[report["report_id"]] == (message.key, message.partition)

    def test_wrong_token_is_a_clear_401(self, api, capsys) -> None:
        code = _simulate(
            "--seed", "1", "--reports", "5", "--http", api.url, "--token", "not-a-token"
        )
        assert code == 1
        err = capsys.readouterr().err
        assert "refused the token (HTTP 401" in err
        assert "--token" in err

    def test_reporter_token_is_told_to_use_an_admin_token(self, api, capsys) -> None:
        token = api.token(Role.REPORTER, "US-FI-0001")
        code = _simulate("--seed", "1", "--reports", "50", "--http", api.url, "--token", token)
        assert code == 1
        err = capsys.readouterr().err
        assert "HTTP 403" in err
        assert "admin token" in err

    def test_rate_is_respected(self, api, capsys) -> None:
        token = api.token(Role.ADMIN)
        started = time.monotonic()
        code = _simulate(
            "--seed", "6", "--reports", "60", "--http", api.url, "--token", token, "--rate", "100"
        )
        assert code == 0
        assert time.monotonic() - started >= 0.58  # item 59 is due at 59/100 s
        assert "60 accepted, 0 rejected, 12 requests" in _summary(capsys.readouterr().out)

    def test_ctrl_c_sends_the_pending_batch(self, api, tmp_path, monkeypatch, capsys) -> None:
        _interrupt_after(monkeypatch, 30)
        labels = tmp_path / "sent.labels.jsonl"
        token = api.token(Role.ADMIN)
        code = _simulate(
            "--seed", "9", "--reports", "10k", "--http", api.url, "--token", token,
            "--labels", str(labels),
        )  # fmt: skip
        assert code == 130
        summary = _summary(capsys.readouterr().out)
        assert "STOPPED by SIGINT: 30 reports" in summary
        assert "30 accepted, 0 rejected, 1 requests" in summary
        assert len(_lines(labels)) == 30
        _consume(api.settings.bootstrap_servers, api.settings.topic_reports, 30)

    def test_ctrl_c_ends_retries_at_once(self, monkeypatch, capsys) -> None:
        _interrupt_after(monkeypatch, 2)
        url = f"http://127.0.0.1:{free_port()}"
        started = time.monotonic()
        code = _simulate("--seed", "1", "--reports", "10", "--http", url, "--token", "t")
        assert code == 1
        assert time.monotonic() - started < 3  # not the ~36 s of eight backoffs
        assert "stopped while waiting to retry" in capsys.readouterr().err

    def test_connection_refused_is_retried_then_fails(self, capsys) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        code = _simulate(
            "--seed", "1", "--reports", "5", "--http", url, "--token", "t", "--retries", "1"
        )
        assert code == 1
        err = capsys.readouterr().err
        assert "retry 1/1" in err
        assert "failed after 2 attempts" in err
        assert "ConnectError" in err
