"""No identifier reaches the logs, even when the database fails on a statement carrying it.

A run of the API (start-up ledger verification, requests) and of the worker's storage step,
with database failures injected on every statement whose parameters hold an identifier. The
injected errors carry the values in their message as PostgreSQL's ``DETAIL`` and a COPY's
``CONTEXT`` do. Every log line of the run is captured (SQLAlchemy's statement log included);
none may hold the SSN, the RFC or the name of the report.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from refdata.wire import ReportV1
from services.app import create_app
from services.auth.enums import Role
from services.auth.service import create_token
from services.config import Settings
from services.db import transaction
from services.kit.logs import describe_error, install_redaction
from services.reports.service import IncomingReport, SourcePosition, persist_reports
from tests.fixtures.alerts import create_alerts, unique_index
from tests.fixtures.reports import make_report

SSN = "123-45-6789"
RFC = "PEJX800101AB1"
NAME = "Xochitl Quetzalli Ramirez"
SECRETS = (SSN, RFC, NAME, "123456789")


class InjectedFailures:
    """Fails the first ``budget`` statements that carry an identifier, as a database would
    refuse them: the driver's error, its message quoting the values."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.raised = 0

    def __call__(
        self, conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any
    ) -> None:
        carried = f"{statement} {parameters!r}"
        if self.raised < self.budget and any(secret in carried for secret in SECRETS):
            self.raised += 1
            dbapi = conn.dialect.loaded_dbapi
            raise dbapi.OperationalError(
                f"could not write\nDETAIL:  Key (value)=({SSN}, {RFC}, {NAME}) refused\n"
                f"CONTEXT:  COPY reports, line 1: {parameters!r}"
            )


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of the test, through the redaction ``amlscreen`` installs at start."""
    factory = logging.getLogRecordFactory()
    install_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    engine_logger = logging.getLogger("sqlalchemy.engine")
    levels = (root.level, engine_logger.level)
    # An earlier test may have run uvicorn's dictConfig (its "uvicorn" logger stops
    # propagating) or disabled loggers: every logger reaches the root while this runs.
    loggers = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    routing = [(logger, logger.propagate, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.propagate, logger.disabled = True, False
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    engine_logger.setLevel(logging.INFO)  # statements and their (hidden) parameters too
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for logger, propagate, disabled in routing:
            logger.propagate, logger.disabled = propagate, disabled
        root.setLevel(levels[0])
        engine_logger.setLevel(levels[1])
        logging.setLogRecordFactory(factory)


@pytest.fixture
def failures() -> Iterator[InjectedFailures]:
    injected = InjectedFailures(budget=10**6)
    event.listen(Engine, "before_cursor_execute", injected)
    try:
        yield injected
    finally:
        event.remove(Engine, "before_cursor_execute", injected)


def _report() -> dict[str, Any]:
    report = make_report(unique_index())
    report["subject"]["name"] = NAME
    report["subject"]["identifiers"] = [
        {"type": "SSN", "value": SSN, "country": "US"},
        {"type": "RFC", "value": RFC, "country": "MX"},
    ]
    return report


def test_a_run_with_database_failures_logs_no_identifier(
    captured: io.StringIO,
    failures: InjectedFailures,
    sessions: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    worker_log = logging.getLogger("streaming.worker")
    uvicorn_log = logging.getLogger("uvicorn.error")

    # The worker's storage step: refused, logged as the worker logs it, then stored.
    failures.budget = 1
    incoming = [IncomingReport(ReportV1.model_validate(_report()), SourcePosition("t", 0, 1))]
    for _attempt in range(2):
        try:
            with transaction(sessions) as session:
                persist_reports(session, incoming)
        except DBAPIError as error:
            worker_log.warning("batch failed (%s), replaying it: %s", "database", error)
            continue
        break
    failures.budget = failures.raised  # none while the test sets the scene
    with transaction(sessions) as session:
        (alert,) = create_alerts(session, [_report()], reasons=[f"{NAME} {SSN}"])
        admin = create_token(session, role=Role.ADMIN)

    # The API: its start-up verification and requests that carry identifiers.
    failures.budget = failures.raised + 3
    settings = Settings(database_url=database_url, data_dir=tmp_path, ledger_verify_interval_s=0.2)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {admin}"}
    with TestClient(app) as client:
        narrative = f"{NAME}, SSN {SSN}, RFC {RFC}, moved cash."
        for _attempt in range(2):
            try:
                client.post(
                    "/v1/cases",
                    json={"title": "t", "alert_ids": [alert.id], "narrative": narrative},
                    headers=headers,
                )
            except DBAPIError as error:
                # What uvicorn does with an exception the app lets through.
                uvicorn_log.error("Exception in ASGI application\n", exc_info=error)
        try:
            client.get("/v1/watchlists/search", params={"name": NAME}, headers=headers)
        except DBAPIError as error:
            uvicorn_log.error("Exception in ASGI application\n", exc_info=error)
        time.sleep(0.5)  # a scheduled verification or two

    text = captured.getvalue()
    assert failures.raised >= 2, "the failures were injected"
    assert text.count("details withheld from the log") >= 2, text
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_describe_error_names_the_kind_only() -> None:
    import sqlite3

    error = sqlite3.IntegrityError(f"UNIQUE constraint failed: {SSN}")
    described = describe_error(error)
    assert "IntegrityError" in described
    assert SSN not in described
