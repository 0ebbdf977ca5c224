"""Shared fixtures: the real embedded broker, real SQLite and PostgreSQL databases.

Database-backed tests run once per backend (``sqlite`` and ``postgresql``). PostgreSQL is
required: if it is unreachable the tests fail, they are never skipped silently. Set
``AMLSCREEN_TEST_BACKENDS=sqlite`` to run only SQLite while developing.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from services.config import Settings
from services.db import make_engine
from services.migrate import upgrade
from services.orm_registry import Base, make_sessionmaker
from streaming.broker import EmbeddedBroker, ensure_topics

POSTGRES_ADMIN_URL = os.environ.get(
    "AMLSCREEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = os.environ.get("AMLSCREEN_TEST_BACKENDS", "sqlite,postgresql").split(",")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each probe stays bound until all are chosen, so the
    system cannot hand the same port out twice (one process's API and metrics ports once did)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded broker for the whole run; tests isolate themselves by topic name."""
    with EmbeddedBroker(free_port()) as running:
        yield running


def _create_postgres_database() -> tuple[str, str]:
    name = f"amlscreen_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"


def _drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of each backend, shared by the session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'amlscreen.db'}"
        upgrade(url)
        yield url
        return
    name, url = _create_postgres_database()
    try:
        upgrade(url)
        yield url
    finally:
        _drop_postgres_database(name)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    yield built
    built.dispose()


@contextmanager
def bypassing_append_only(connection: Connection) -> Iterator[None]:
    """Lets raw SQL change append-only rows, as someone with DDL rights could, in the
    connection's current transaction: PostgreSQL (superuser) stops firing triggers for the
    transaction; SQLite's refusing triggers are dropped and created again afterwards."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        try:
            yield
        finally:
            connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
        return
    triggers = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
        " AND (name LIKE '%\\_no\\_update' ESCAPE '\\'"
        " OR name LIKE '%\\_no\\_delete' ESCAPE '\\')"
    ).all()
    for name, _sql in triggers:
        connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
    try:
        yield
    finally:
        for _name, sql in triggers:
            connection.exec_driver_sql(sql)


def tamper(sessions: sessionmaker[Session], statement: str, params: dict[str, Any]) -> None:
    """Runs raw SQL past the append-only triggers and commits (a test of detection)."""
    with sessions() as session:
        with bypassing_append_only(session.connection()):
            session.execute(text(statement), params)
        session.commit()


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory over real commits; every table is emptied after the test."""
    yield make_sessionmaker(engine)
    with engine.begin() as connection, bypassing_append_only(connection):
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "alembic_version":
                connection.execute(table.delete())


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    bound = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield bound
    finally:
        bound.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings_factory(tmp_path: Path, database_url: str, broker: EmbeddedBroker):
    """Builds settings with topics and a consumer group of the test's own."""

    def build(**overrides: object) -> Settings:
        suffix = uuid.uuid4().hex[:8]
        values: dict[str, object] = {
            "data_dir": tmp_path,
            "database_url": database_url,
            "kafka_bootstrap": broker.bootstrap,
            "topic_reports": f"aml.reports.{suffix}",
            "topic_dlq": f"aml.reports.dlq.{suffix}",
            "topic_alerts": f"aml.alerts.{suffix}",
            **{
                f"topic_reports_{name}": f"aml.reports.{name}.{suffix}"
                for name in ("fincen", "iso20022", "goaml", "csv")
            },
            # Institution topics of the test's own: the worker's pattern subscription must
            # not match other tests' topics on the shared broker.
            "topic_institution_prefix": f"aml.reports.from.{suffix}.",
            "consumer_group": f"amlscreen-worker-{suffix}",
            "worker_metrics_port": 0,
        }
        values.update(overrides)
        settings = Settings(**values)  # type: ignore[arg-type]
        ensure_topics(
            settings.bootstrap_servers,
            {
                settings.topic_reports: settings.topic_partitions,
                settings.topic_dlq: settings.topic_partitions,
                settings.topic_alerts: settings.topic_partitions,
                **dict.fromkeys(settings.format_topics, 1),
            },
        )
        return settings

    return build


@pytest.fixture
def settings(settings_factory) -> Settings:
    return settings_factory()
