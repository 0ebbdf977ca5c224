"""append-only ledger and asset timeline in the database; optional token expiry

Revision ID: 0005_append_only
Revises: 0004_ledger
Create Date: 2026-12-03 05:00:00

Ledger entries, their lines and asset events were append-only by convention only. Now the
database refuses too: UPDATE always, on both backends; DELETE always on SQLite (no roles
there), and on PostgreSQL for every role but a superuser (the retention purge is a DBA's
job, as for the audit trail in 0003); TRUNCATE likewise. On PostgreSQL, if the application
role ``amlscreen_app`` exists when this runs, it keeps only SELECT and INSERT on these tables
(docs/operations.md: run the services as that role, not as the tables' owner).

API tokens get an optional expiry (``expires_at``; NULL: no expiry).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = "0005_append_only"
down_revision: str | None = "0004_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("ledger_entries", "ledger_lines", "asset_events")
APP_ROLE = "amlscreen_app"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", services.db.UTCDateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        for table in APPEND_ONLY_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table}"
                    f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused');"
                    " END"
                )


def _postgresql_upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION amlscreen_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' OR current_setting('is_superuser') <> 'on' THEN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
            END IF;
            IF TG_LEVEL = 'ROW' THEN
                RETURN OLD;
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION amlscreen_ledger_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION amlscreen_ledger_append_only()"
        )
    tables = ", ".join(APPEND_ONLY_TABLES)
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM {APP_ROLE};
                GRANT SELECT, INSERT ON {tables} TO {APP_ROLE};
            END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS amlscreen_ledger_append_only()")
    else:
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
