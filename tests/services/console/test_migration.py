"""Migration 0006_console creates exactly the console tables the ORM declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from services.orm_registry import Base

CONSOLE_TABLES = {"console_sessions", "console_keys"}


def test_the_migrated_schema_matches_the_orm(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:] if isinstance(item, tuple) else ():
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return str(table.name)
            if name in CONSOLE_TABLES:
                return str(name)
            if isinstance(part, str) and part in CONSOLE_TABLES:
                return part
        return None

    ours = [diff for diff in differences if table_of(diff) in CONSOLE_TABLES]
    assert ours == []
