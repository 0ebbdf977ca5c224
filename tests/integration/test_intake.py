"""Every intake format through the real broker and worker, on SQLite and PostgreSQL:
the same reports out, malformed files refused whole with element-level errors."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer
from sqlalchemy import select

from refdata.wire import ReportV1
from services.app import create_app
from services.auth.enums import Role
from services.auth.service import create_token
from services.db import transaction
from services.reports.formats import FileFormat, IntakeContext, convert
from services.reports.orm import Report
from streaming.metrics import WorkerMetrics
from streaming.producer import KafkaReportPublisher, make_producer
from streaming.worker import Worker, make_consumer
from tests.services.reports.formats.builders import ctr_batch
from tests.services.reports.formats.test_csv import ROWS, csv
from tests.services.reports.formats.test_malformed import GOAML

PACS008 = (Path(__file__).parents[1] / "fixtures" / "intake" / "pacs008_v09.xml").read_bytes()
XML = {"Content-Type": "application/xml"}
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def client(settings):
    def factory(current):
        return KafkaReportPublisher(current.bootstrap_servers, current.topic_reports)

    with TestClient(create_app(settings, factory)) as test_client:
        yield test_client


def _auth(sessions, role: Role, institution: str | None = None) -> dict[str, str]:
    with transaction(sessions) as session:
        token = create_token(session, role=role, institution_id=institution)
    return {"Authorization": f"Bearer {token}"}


def _run_worker(settings, sessions) -> None:
    Worker(
        settings=settings,
        sessions=sessions,
        consumer=make_consumer(settings),
        producer=make_producer(settings.bootstrap_servers),
        metrics=WorkerMetrics(),
    ).run(idle_exit_s=8.0)


def _stored(sessions) -> dict[tuple[str, str], dict]:
    with sessions() as session:
        return {
            (row.institution_id, row.report_id): row.document
            for row in session.scalars(select(Report))
        }


def _expected(file_format: FileFormat, content: bytes, **context) -> dict[tuple[str, str], dict]:
    reports: list[ReportV1] = []
    assert convert(file_format, io.BytesIO(content), IntakeContext(**context), reports.append) == []
    return {(r.institution_id, r.report_id): r.model_dump(mode="json") for r in reports}


FILES = [
    # (format, content, headers, submitting institution, context the reader gets)
    (FileFormat.FINCEN, ctr_batch(3), XML, "US-FI-0001", {}),
    (FileFormat.ISO20022, PACS008, XML, "FBBKUS44XXX", {}),
    (FileFormat.GOAML, GOAML, XML, "MX-FI-0001", {}),
    (FileFormat.CSV, csv(*ROWS), CSV, "US-FI-0001", {}),
]


class TestHttpIntake:
    def test_each_format_in_the_same_reports_out(self, client, settings, sessions) -> None:
        expected: dict[tuple[str, str], dict] = {}
        for file_format, content, headers, institution, _ in FILES:
            reporter = _auth(sessions, Role.REPORTER, institution)
            response = client.post("/v1/reports", content=content, headers={**headers, **reporter})
            assert response.status_code == 202, (file_format, response.text)
            body = response.json()
            assert body["format"] == file_format.value
            want = _expected(file_format, content, institution_id=institution)
            assert body["reports"] == len(want)
            assert {(a["institution_id"], a["report_id"]) for a in body["accepted"]} == set(want)
            expected.update(want)
        # Large-file path: the same pacs.008 again, streamed; the worker stores it once.
        reporter = _auth(sessions, Role.REPORTER, "FBBKUS44XXX")
        again = client.post("/v1/reports/files", content=PACS008, headers={**XML, **reporter})
        assert again.status_code == 202, again.text
        assert again.json()["reports"] == 2

        _run_worker(settings, sessions)
        stored = _stored(sessions)
        assert set(stored) == set(expected)
        for key, document in expected.items():
            assert orjson.loads(orjson.dumps(stored[key], option=orjson.OPT_SORT_KEYS)) == (
                orjson.loads(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))
            ), key

    def test_malformed_files_are_refused_whole(self, client, settings, sessions) -> None:
        admin = _auth(sessions, Role.ADMIN)
        broken = {
            "fincen": ctr_batch(2).replace(
                b"<fc2:FilingDateText>20261128<", b"<fc2:FilingDateText>2026<", 1
            ),
            "iso20022": PACS008.replace(b"<ChrgBr>DEBT</ChrgBr>", b""),
            "goaml": GOAML.replace(b"<transmode_code>K", b"<transmode_code>ZZ"),
            "csv": csv(ROWS[0], ROWS[1].replace(",USD,", ",XYZ,")),
        }
        expected_locations = {
            "fincen": "/EFilingBatchXML/Activity[1]",
            "iso20022": "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]",
            "goaml": "/report/transaction[1]/transmode_code",
            "csv": "row 3, column transaction.currency",
        }
        for name, content in broken.items():
            headers = CSV if name == "csv" else XML
            for path in ("/v1/reports", "/v1/reports/files"):
                response = client.post(
                    f"{path}?institution_id=US-FI-0001&jurisdiction=US",
                    content=content,
                    headers={**headers, **admin},
                )
                assert response.status_code == 422, (name, response.text)
                details = response.json()["errors"]
                assert details[0]["location"].startswith(expected_locations[name]), details
        reporter = _auth(sessions, Role.REPORTER, "US-FI-0002")
        foreign = client.post("/v1/reports", content=csv(*ROWS), headers={**CSV, **reporter})
        assert foreign.status_code == 403
        unknown = client.post("/v1/reports", content=b"<a/>", headers={**XML, **admin})
        assert unknown.status_code == 422
        assert (
            client.post(
                "/v1/reports/files",
                content=b"{}",
                headers={"Content-Type": "application/json", **admin},
            ).status_code
            == 415
        )

        _run_worker(settings, sessions)
        assert _stored(sessions) == {}


class TestKafkaIntake:
    def test_format_topics_through_the_worker(self, settings, sessions) -> None:
        producer = make_producer(settings.bootstrap_servers)
        topics = {
            FileFormat.FINCEN: settings.topic_reports_fincen,
            FileFormat.ISO20022: settings.topic_reports_iso20022,
            FileFormat.GOAML: settings.topic_reports_goaml,
            FileFormat.CSV: settings.topic_reports_csv,
        }
        expected: dict[tuple[str, str], dict] = {}
        for file_format, content, _, institution, _ in FILES:
            headers = [("aml.institution_id", institution.encode())]
            producer.send(topics[file_format], value=content, headers=headers)
            producer.send(
                topics[file_format],
                value=content.replace(b"2026", b"20x6", 1)
                if file_format is FileFormat.CSV
                else content[: len(content) // 2],
                headers=headers,
            )
            expected.update(_expected(file_format, content, institution_id=institution))
        producer.send(topics[FileFormat.GOAML], value=PACS008)  # a file on the wrong topic
        producer.flush(timeout=30)
        producer.close()

        _run_worker(settings, sessions)
        stored = _stored(sessions)
        assert set(stored) == set(expected)

        consumer = KafkaConsumer(
            settings.topic_dlq,
            bootstrap_servers=settings.bootstrap_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=10_000,
        )
        dead = [dict(message.headers) for message in consumer]
        consumer.close()
        assert len(dead) == 5
        reasons = sorted(h["aml.error.reason"].decode() for h in dead)
        assert sum("not well-formed XML" in r for r in reasons) == 3, reasons
        assert any("row 2" in r for r in reasons), reasons
        assert any("a iso20022 file on the goaml topic" in r for r in reasons), reasons
        assert {h["aml.source.topic"].decode() for h in dead} == set(topics.values())


class _Recording(Worker):
    def __init__(self, **kwargs) -> None:
        super().__init__(on_batch=self.batch_done, **kwargs)
        self.results: list = []

    def batch_done(self, result) -> None:
        self.results.append(result)


class TestFileBudget:
    def test_a_batch_expands_files_only_within_its_budget(self, settings_factory, sessions):
        settings = settings_factory(worker_file_budget_s=1e-9)
        producer = make_producer(settings.bootstrap_servers)
        files = [csv(ROWS[0].replace("R-1,", f"R-B{n},", 1)) for n in range(3)]
        for content in files:
            producer.send(settings.topic_reports_csv, value=content)
        producer.flush(timeout=30)
        producer.close()

        worker = _Recording(
            settings=settings,
            sessions=sessions,
            consumer=make_consumer(settings),
            producer=make_producer(settings.bootstrap_servers),
            metrics=WorkerMetrics(),
        )
        worker.run(idle_exit_s=8.0)

        advances = []
        previous = 0
        for result in worker.results:
            for partition, offset in result.offsets.items():
                if partition.topic == settings.topic_reports_csv and offset > previous:
                    advances.append(offset - previous)
                    previous = offset
        # One file per batch: the budget was spent on the first; the others were read again.
        assert advances == [1, 1, 1]
        assert sorted(_stored(sessions)) == [("US-FI-0001", f"R-B{n}") for n in range(3)]
