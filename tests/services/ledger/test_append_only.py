"""The database itself refuses to change ledger entries, lines and asset events (0005).

Raw SQL, past the application: UPDATE is refused on both backends to everyone; DELETE on
SQLite to everyone and on PostgreSQL to every role but a superuser; on PostgreSQL the
application role ``amlscreen_app`` is granted only SELECT and INSERT.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from services.db import make_engine
from services.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL, _create_postgres_database, _drop_postgres_database
from tests.services.assets.test_lifecycle import register
from tests.services.ledger.support import People
from tests.services.ledger.test_ledger_service import forfeit

APP_ROLE = "amlscreen_app"
STATEMENTS = [
    "UPDATE ledger_entries SET memo = 'edited'",
    "UPDATE ledger_lines SET amount_minor = amount_minor + 1",
    "UPDATE asset_events SET actor = 'token:0'",
    "DELETE FROM ledger_lines",
    "DELETE FROM ledger_entries WHERE seq = (SELECT max(seq) FROM ledger_entries)",
    "DELETE FROM asset_events",
]


def _seed(session: Session, people: People) -> None:
    register(session, people)  # an asset and its first event
    forfeit(session, people)  # two entries and their lines
    session.flush()


def _refused(connection: Connection, statement: str) -> str:
    """Runs ``statement`` in a savepoint; returns the database's refusal."""
    savepoint = connection.begin_nested()
    try:
        connection.execute(text(statement))
    except DBAPIError as error:
        savepoint.rollback()
        return str(error.orig)
    savepoint.rollback()
    raise AssertionError(f"the database accepted: {statement}")


@pytest.mark.parametrize("statement", STATEMENTS)
def test_raw_sql_is_refused(session: Session, people: People, statement: str) -> None:
    _seed(session, people)
    connection = session.connection()
    if connection.dialect.name == "postgresql" and statement.startswith("DELETE"):
        pytest.skip("superusers may delete on PostgreSQL: see the non-superuser test")
    assert "append-only" in _refused(connection, statement)


def test_truncate_is_refused_on_postgresql(session: Session, people: People) -> None:
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _seed(session, people)
    role = f"amlscreen_test_{uuid.uuid4().hex[:8]}"
    connection.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
    connection.exec_driver_sql(f"GRANT ALL ON asset_events TO {role}")
    connection.exec_driver_sql(f"SET LOCAL ROLE {role}")
    assert "append-only" in _refused(connection, "TRUNCATE asset_events")


def test_a_non_superuser_cannot_delete_either(session: Session, people: People) -> None:
    """Even with every privilege granted, the trigger refuses (PostgreSQL)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        pytest.skip("no roles on SQLite: refused to everyone (test_raw_sql_is_refused)")
    _seed(session, people)
    role = f"amlscreen_test_{uuid.uuid4().hex[:8]}"
    connection.exec_driver_sql(f"CREATE ROLE {role} NOLOGIN")
    for table in ("ledger_entries", "ledger_lines", "asset_events"):
        connection.exec_driver_sql(f"GRANT ALL ON {table} TO {role}")
    connection.exec_driver_sql(f"SET LOCAL ROLE {role}")
    for statement in STATEMENTS:
        assert "append-only" in _refused(connection, statement)


@pytest.fixture
def fresh_postgresql() -> Iterator[Engine]:
    """A new PostgreSQL database migrated while the application role exists."""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        if exists is None:
            admin.execute(f"CREATE ROLE {APP_ROLE} NOLOGIN")
    name, url = _create_postgres_database()
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        _drop_postgres_database(name)


def test_the_application_role_keeps_select_and_insert(fresh_postgresql: Engine) -> None:
    url = fresh_postgresql.url.render_as_string(hide_password=False)
    upgrade(url, "0004_ledger")
    with fresh_postgresql.begin() as connection:
        # As if the role had been given everything before this migration ran.
        connection.exec_driver_sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    upgrade(url)
    with fresh_postgresql.connect() as connection:
        for table in ("ledger_entries", "ledger_lines", "asset_events"):
            granted = {
                privilege: connection.scalar(
                    text("SELECT has_table_privilege(:role, :table, :privilege)"),
                    {"role": APP_ROLE, "table": table, "privilege": privilege},
                )
                for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            }
            assert granted == {
                "SELECT": True,
                "INSERT": True,
                "UPDATE": False,
                "DELETE": False,
                "TRUNCATE": False,
            }, table
