"""Poison messages end in the DLQ and never stop the worker: real broker, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from kafka.errors import CommitFailedError, RebalanceInProgressError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import streaming.worker
from models.registry import load_bundle
from models.scoring import Scorer
from refdata.wire import ReportV1
from services.config import Settings
from services.reports.decode import DecodeError, DecodeFailure
from services.reports.orm import Report
from streaming.detection import Detector
from streaming.metrics import WorkerMetrics
from streaming.poison import is_transient, poison_reason
from streaming.producer import make_producer
from streaming.worker import BatchResult, Worker, make_consumer
from tests.fixtures.reports import make_report
from tests.models.test_registry import tiny_model
from tests.streaming.test_worker import _dlq_messages, _produce


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(load_bundle(tiny_model()))


def _stored_ids(sessions) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Report.report_id)))


def _worker(settings: Settings, sessions, detector: Any = None) -> Worker:
    consumer = make_consumer(settings)
    return Worker(
        settings=settings,
        sessions=sessions,
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers),
        metrics=WorkerMetrics(),
        detector=detector,
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_nul_report_between_two_valid_ones_leaves_the_worker_running(settings, sessions) -> None:
    """Issue 18's case: on PostgreSQL this NUL once killed the worker in the COPY."""
    bad = make_report(2)
    bad["subject"]["subject_id"] = "S\u0000bad"
    worker = _worker(settings, sessions)
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()
    try:
        _produce(settings, [orjson.dumps(make_report(1)), orjson.dumps(bad)])
        _produce(settings, [orjson.dumps(make_report(3))])
        _wait_for(lambda: _stored_ids(sessions) == ["R-00000001", "R-00000003"])
        dead = _dlq_messages(settings, 1)
        assert [m.value for m in dead] == [orjson.dumps(bad)]
        headers = dict(dead[0].headers)
        assert headers["aml.error.kind"] == b"invalid"
        assert b"subject.subject_id" in headers["aml.error.reason"]
        assert b"control character U+0000" in headers["aml.error.reason"]
        # Still consuming: a report sent afterwards is stored too.
        _produce(settings, [orjson.dumps(make_report(4))])
        _wait_for(lambda: len(_stored_ids(sessions)) == 3)
        assert running.is_alive()
    finally:
        worker.stop()
        running.join(timeout=60)
    assert not running.is_alive()


def _corrupting(monkeypatch: pytest.MonkeyPatch, report_id: str, corrupt: Callable) -> None:
    """Decodes as usual, then changes one report past validation (as a validation gap would)."""
    decode = streaming.worker.decode_report

    def decode_then_corrupt(raw: bytes | None, *, max_bytes: int) -> ReportV1 | DecodeError:
        decoded = decode(raw, max_bytes=max_bytes)
        if isinstance(decoded, ReportV1) and decoded.report_id == report_id:
            corrupt(decoded)
        return decoded

    monkeypatch.setattr(streaming.worker, "decode_report", decode_then_corrupt)


def _overflowing_amount(report: ReportV1) -> None:
    assert report.transaction is not None
    report.transaction.__dict__["amount_minor"] = 2**70  # no BIGINT holds it


def _nul_in_subject_id(report: ReportV1) -> None:
    report.subject.__dict__["subject_id"] = "S\x00bad"


@pytest.mark.parametrize("corrupt", [_overflowing_amount, _nul_in_subject_id])
def test_a_row_the_database_refuses_is_isolated(
    settings, sessions, scorer, monkeypatch, corrupt
) -> None:
    if corrupt is _nul_in_subject_id and settings.effective_database_url.startswith("sqlite"):
        pytest.skip("SQLite stores NUL in text; the overflow case covers it")
    _corrupting(monkeypatch, "R-00000006", corrupt)
    documents = [make_report(i) for i in range(1, 11)]
    _produce(settings, [orjson.dumps(document) for document in documents])
    worker = _worker(settings, sessions, detector=Detector(scorer))
    worker.run(idle_exit_s=6.0)

    assert _stored_ids(sessions) == [f"R-{i:08d}" for i in range(1, 11) if i != 6]
    dead = _dlq_messages(settings, 1)
    assert [m.value for m in dead] == [orjson.dumps(documents[5])]
    headers = dict(dead[0].headers)
    assert headers["aml.error.kind"] == b"refused"
    assert headers["aml.error.reason"].startswith(b"refused by the database: ")
    assert b"INSERT" not in headers["aml.error.reason"]  # the driver's message, no statement


class FailingOn(Detector):
    """Detection that raises on one report, as a bug met by one message would."""

    def __init__(self, scorer: Scorer, report_id: str) -> None:
        super().__init__(scorer)
        self.report_id = report_id

    def assess(self, session, items):
        if any(item.report.report_id == self.report_id for item in items):
            raise ZeroDivisionError("a bug that only this report meets")
        return super().assess(session, items)


def test_a_step_raising_on_one_report_dead_letters_only_that_report(
    settings, sessions, scorer
) -> None:
    documents = [make_report(i) for i in range(1, 21)]
    _produce(settings, [orjson.dumps(document) for document in documents])
    worker = _worker(settings, sessions, detector=FailingOn(scorer, "R-00000013"))
    worker.run(idle_exit_s=6.0)

    assert _stored_ids(sessions) == [f"R-{i:08d}" for i in range(1, 21) if i != 13]
    with sessions() as session:
        assert all(session.scalars(select(Report.score)))  # detection ran on the others
    dead = _dlq_messages(settings, 1)
    assert [m.value for m in dead] == [orjson.dumps(documents[12])]
    headers = dict(dead[0].headers)
    assert headers["aml.error.kind"] == b"error"
    assert headers["aml.error.reason"] == (
        b"processing failed: ZeroDivisionError: a bug that only this report meets"
    )


def test_a_transient_failure_replays_the_batch_whole(settings, sessions) -> None:
    """A lost connection is not the data's fault: nothing is dead-lettered, all is stored."""
    failures = iter([OperationalError("INSERT", {}, Exception("server closed the connection"))])

    class Flaky(Worker):
        def _transact(self, items):
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return super()._transact(items)

    _produce(settings, [orjson.dumps(make_report(i)) for i in range(1, 6)])
    consumer = make_consumer(settings)
    worker = Flaky(
        settings=settings,
        sessions=sessions,
        consumer=consumer,
        producer=make_producer(settings.bootstrap_servers),
        metrics=WorkerMetrics(),
        sleep=lambda _: None,
    )
    worker.run(idle_exit_s=6.0)
    assert _stored_ids(sessions) == [f"R-{i:08d}" for i in range(1, 6)]
    assert _dlq_messages(settings, 1) == []


def test_failures_are_classified() -> None:
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert is_transient(lost)
    assert not is_transient(ZeroDivisionError())
    reason = poison_reason(ValueError("bad"))
    assert reason == DecodeError(DecodeFailure.ERROR, "processing failed: ValueError: bad")


class _Rebalancing:
    """A consumer whose group is rebalancing when the batch's offsets are committed."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def commit(self, offsets: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [RebalanceInProgressError("rebalancing"), CommitFailedError("generation changed")],
    ids=["in-progress", "failed"],
)
def test_an_offset_commit_refused_by_a_rebalance_does_not_stop_the_worker(error) -> None:
    """The e2e bench with two workers once died on RebalanceInProgressError at commit time."""
    done: list[BatchResult] = []
    worker = Worker(
        settings=Settings(),
        sessions=None,  # type: ignore[arg-type]
        consumer=_Rebalancing(error),  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        metrics=WorkerMetrics(),
        on_batch=done.append,
    )
    worker._commit(BatchResult())
    assert done == [BatchResult()]


def _hostile_messages() -> dict[bytes, tuple[bytes, bytes]]:
    """Issue 18.6 over Kafka: message → (DLQ kind, a fragment of the reason)."""
    valid = make_report(2)
    document = orjson.dumps(valid)
    nested = b"[" * 10_000 + b"]" * 10_000

    def amount(literal: bytes) -> bytes:
        sent = b'"amount":' + orjson.dumps(valid["transaction"]["amount"])
        return document.replace(sent, b'"amount":' + literal)

    def extension(literal: bytes) -> bytes:
        return document[:-1] + b',"x_value":' + literal + b"}"

    return {
        b"\xff\xfe" + document: (b"not_utf8", b"not UTF-8"),
        document.replace(b"Subject", b"Subj\xc3\x28ect"): (b"not_utf8", b"not UTF-8"),
        nested: (b"not_json", b"recursion limit exceeded"),
        extension(nested): (b"not_json", b"recursion limit exceeded"),
        amount(b"1e309"): (b"invalid", b"finite number"),
        amount(b"1" + b"0" * 400): (b"invalid", b"exceeds"),
        # A decimal.Overflow once, dead-lettered as a processing error.
        amount(b'"1e999999999999"'): (b"invalid", b"exceeds"),
        # Accepted once, as 0 minor units.
        amount(b'"1e-999999999999"'): (b"invalid", b"decimal places"),
        extension(str(2**64).encode()): (b"invalid", b"exceeds 64 bits"),
        # Stored once, as null.
        extension(b"NaN"): (b"invalid", b"not finite"),
        document.replace(
            b'"filed_at":"2026-11-28T10:00:00Z"', b'"filed_at":"2026-11-28T10:00:00"'
        ): (
            b"invalid",
            b"timezone",
        ),
    }


def test_hostile_messages_between_two_valid_ones_go_to_the_dlq(settings, sessions) -> None:
    hostile = _hostile_messages()
    assert len(hostile) == 11
    assert orjson.dumps(make_report(2)) not in hostile
    worker = _worker(settings, sessions)
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()
    try:
        _produce(settings, [orjson.dumps(make_report(1)), *hostile, orjson.dumps(make_report(3))])
        _wait_for(lambda: _stored_ids(sessions) == ["R-00000001", "R-00000003"])
        dead = _dlq_messages(settings, len(hostile))
        assert sorted(m.value for m in dead) == sorted(hostile)
        for message in dead:
            headers = dict(message.headers)
            kind, fragment = hostile[message.value]
            assert headers["aml.error.kind"] == kind, headers
            assert fragment in headers["aml.error.reason"], headers
        # Still consuming: a report sent afterwards is stored too.
        _produce(settings, [orjson.dumps(make_report(4))])
        _wait_for(lambda: len(_stored_ids(sessions)) == 3)
        assert running.is_alive()
    finally:
        worker.stop()
        running.join(timeout=60)
    assert not running.is_alive()
