"""Database plumbing: stale connections, requests that lose theirs, and when the commit runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, literal, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services import db
from services.db import RetryOnDisconnect, make_engine
from services.deps import SessionDep
from services.orm_registry import make_sessionmaker


def _disconnect() -> OperationalError:
    error = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    error.connection_invalidated = True
    return error


def _app(failures: int) -> tuple[FastAPI, list[str]]:
    """An app whose endpoints lose their connection ``failures`` times, then answer."""
    app = FastAPI()
    app.add_middleware(RetryOnDisconnect)
    calls: list[str] = []

    @app.get("/read")
    def read() -> dict[str, int]:
        calls.append("read")
        if len(calls) <= failures:
            raise _disconnect()
        return {"attempt": len(calls)}

    @app.post("/write")
    def write() -> dict[str, int]:
        calls.append("write")
        raise _disconnect()

    @app.get("/broken")
    def broken() -> dict[str, int]:
        raise OperationalError("SELECT 1", {}, Exception("syntax"))  # not a disconnect

    return app, calls


class TestRetryOnDisconnect:
    def test_a_read_that_lost_its_connection_runs_once_more(self) -> None:
        app, calls = _app(failures=1)
        response = TestClient(app).get("/read")
        assert response.status_code == 200
        assert response.json() == {"attempt": 2}
        assert calls == ["read", "read"]

    def test_only_once(self) -> None:
        app, calls = _app(failures=2)
        with pytest.raises(OperationalError):
            TestClient(app).get("/read")
        assert calls == ["read", "read"]

    def test_a_write_is_refused_with_503_and_retry_after(self) -> None:
        app, calls = _app(failures=0)
        response = TestClient(app).post("/write")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert "retry" in response.json()["detail"]
        assert calls == ["write"]

    def test_other_database_errors_pass_through(self) -> None:
        app, _ = _app(failures=0)
        with pytest.raises(OperationalError):
            TestClient(app).get("/broken")


class TestCommitBeforeResponse:
    def test_the_session_commits_before_the_response_starts(self, engine: Engine) -> None:
        """FastAPI's default dependency scope would commit after the response went out."""
        order: list[str] = []
        app = FastAPI()
        app.state.sessionmaker = make_sessionmaker(engine)
        event.listen(app.state.sessionmaker, "after_commit", lambda _s: order.append("commit"))

        @app.get("/touch")
        def touch(session: SessionDep) -> dict[str, bool]:
            session.execute(text("SELECT 1"))
            order.append("endpoint")
            return {"ok": True}

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            async def spy(message: Any) -> None:
                if message["type"] == "http.response.start":
                    order.append("response")
                await send(message)

            await app(scope, receive, spy)

        assert TestClient(recording).get("/touch").status_code == 200  # type: ignore[arg-type]
        assert order == ["endpoint", "commit", "response"]


@pytest.fixture
def postgres_engine(database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the idle ping applies to the PostgreSQL pool")
    built = make_engine(database_url)
    yield built
    built.dispose()


def _backend_pid(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(database_url: str, pid: int) -> None:
    admin = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)


class TestStaleConnections:
    def test_no_ping_per_checkout_and_a_recycle_age(self, postgres_engine: Engine) -> None:
        assert postgres_engine.pool._pre_ping is False  # type: ignore[attr-defined]
        assert postgres_engine.pool._recycle == db.POOL_RECYCLE_SECONDS  # type: ignore[attr-defined]

    def test_a_connection_that_died_while_idle_is_replaced_unseen(
        self, postgres_engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        factory = make_sessionmaker(postgres_engine)
        with factory() as session:
            dead = _backend_pid(session)
        _terminate(database_url, dead)
        monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # it has been idle "long enough"
        with factory() as session:
            assert _backend_pid(session) != dead  # pinged, found dead, replaced: no error

    def test_a_busy_connection_is_not_pinged_and_its_loss_invalidates_the_pool(
        self, postgres_engine: Engine, database_url: str
    ) -> None:
        factory = make_sessionmaker(postgres_engine)
        with factory() as first, factory() as second:
            pids = {_backend_pid(first), _backend_pid(second)}
        for pid in pids:
            _terminate(database_url, pid)
        # Reused within IDLE_PING_SECONDS: no ping, so the statement meets the dead connection.
        with factory() as session, pytest.raises(OperationalError) as raised:
            session.execute(text("SELECT 1"))
        assert db.is_disconnect(raised.value)
        # SQLAlchemy has discarded every pooled connection opened before: the next one is new.
        with factory() as session:
            assert _backend_pid(session) not in pids


class TestUtcSessions:
    def test_postgresql_sessions_run_in_utc_whatever_the_server_default(
        self, postgres_engine: Engine
    ) -> None:
        with postgres_engine.connect() as connection:
            assert connection.execute(text("SHOW TimeZone")).scalar_one() == "UTC"

    def test_the_urls_own_options_are_kept(
        self, postgres_engine: Engine, database_url: str
    ) -> None:
        engine = make_engine(f"{database_url}?options=-c%20search_path%3Dpublic%2Cpg_catalog")
        try:
            with engine.connect() as connection:
                assert connection.execute(text("SHOW TimeZone")).scalar_one() == "UTC"
                search_path = connection.execute(text("SHOW search_path")).scalar_one()
                assert search_path.replace(" ", "") == "public,pg_catalog"
        finally:
            engine.dispose()

    def test_pgoptions_from_the_environment_are_kept(
        self, postgres_engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=12345")
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                assert connection.execute(text("SHOW TimeZone")).scalar_one() == "UTC"
                assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "12345ms"
        finally:
            engine.dispose()

    def test_a_time_zone_asked_for_is_left_alone(self) -> None:
        assert db._with_utc_session(None) == "-c TimeZone=UTC"
        assert db._with_utc_session("-c search_path=x") == "-c search_path=x -c TimeZone=UTC"
        assert db._with_utc_session("-c timezone=America/Mexico_City") == (
            "-c timezone=America/Mexico_City"
        )
        assert db._with_utc_session("--TimeZone=UTC") == "--TimeZone=UTC"
        assert db._with_utc_session("-c search_path=timezones") == (
            "-c search_path=timezones -c TimeZone=UTC"
        )

    def test_timestamps_come_back_aware_utc(self, database_url: str) -> None:
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                value = connection.execute(
                    select(
                        literal(
                            datetime(2026, 11, 28, 18, 30, tzinfo=timezone(timedelta(hours=-6))),
                            db.UTCDateTime(),
                        )
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        assert value == datetime(2026, 11, 29, 0, 30, tzinfo=UTC)
        assert value.tzinfo is UTC

    def test_an_aware_value_in_another_zone_is_converted(self) -> None:
        column = db.UTCDateTime()
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        local = datetime(2026, 11, 28, 18, 30, tzinfo=timezone(timedelta(hours=-6)))
        converted = column.process_result_value(local, dialect)
        assert converted == local
        assert converted is not None
        assert converted.tzinfo is UTC
        naive = column.process_result_value(datetime(2026, 11, 29, 0, 30), dialect)
        assert naive is not None
        assert naive.tzinfo is UTC


class TestSqliteWal:
    def test_switching_to_wal_waits_for_a_connection_holding_the_database(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "fresh.db"
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.execute("BEGIN EXCLUSIVE")
        releaser = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
        releaser.start()
        try:
            opener = sqlite3.connect(path, timeout=0.05)
            db._use_wal(opener.cursor(), timeout_s=5.0)
            assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            releaser.join()
            holder.close()

    def test_gives_up_after_the_timeout(self, tmp_path: Path) -> None:
        path = tmp_path / "held.db"
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.execute("BEGIN EXCLUSIVE")
        try:
            opener = sqlite3.connect(path, timeout=0.05)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                db._use_wal(opener.cursor(), timeout_s=0.2)
        finally:
            holder.close()
