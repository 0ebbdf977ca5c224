"""episodes: subject-level alerts, their reports, budget thresholds, investigator typology

Revision ID: 0009_episodes
Revises: 0003_investigations
Create Date: 2026-12-03 05:10:00

Existing alerts become one-report episodes: ``report_count`` 1 and a link row to their own
report, so exports and the episode view read every alert the same way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = "0009_episodes"
down_revision: str | None = "0003_investigations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("report_count", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("last_report_at", services.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("threshold", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("threshold_version", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("investigator_typology", sa.String(length=64), nullable=True)
        )
        batch_op.create_index(
            "ix_alerts_subject_key_jurisdiction_status",
            ["subject_key", "jurisdiction", "status"],
            unique=False,
        )

    op.create_table(
        "alert_reports",
        sa.Column("id", _PK, nullable=False),
        sa.Column("alert_id", _PK, nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("report_pk", _PK, nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("typology", sa.String(length=64), nullable=True),
        sa.Column("transaction_at", services.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("joined_at", services.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("alert_reports_alert_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["report_pk"], ["reports.id"], name=op.f("alert_reports_report_pk_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("alert_reports_pkey")),
        sa.UniqueConstraint(
            "institution_id", "report_id", name=op.f("alert_reports_institution_id_report_id_key")
        ),
    )
    with op.batch_alter_table("alert_reports", schema=None) as batch_op:
        batch_op.create_index("ix_alert_reports_alert_id_id", ["alert_id", "id"], unique=False)

    op.create_table(
        "alert_thresholds",
        sa.Column("id", _PK, nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("computed_for", services.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("budget", sa.String(length=64), nullable=False),
        sa.Column("subjects", sa.Integer(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("created_at", services.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("alert_thresholds_pkey")),
        sa.UniqueConstraint(
            "institution_id", "version", name=op.f("alert_thresholds_institution_id_version_key")
        ),
    )

    op.execute(
        "INSERT INTO alert_reports (alert_id, institution_id, report_id, report_pk, score,"
        " rules, typology, transaction_at, joined_at)"
        " SELECT id, institution_id, report_id, report_pk, score, '[]', typology,"
        " transaction_at, created_at FROM alerts"
    )


def downgrade() -> None:
    op.drop_table("alert_thresholds")
    with op.batch_alter_table("alert_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_reports_alert_id_id")
    op.drop_table("alert_reports")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_subject_key_jurisdiction_status")
        batch_op.drop_column("investigator_typology")
        batch_op.drop_column("threshold_version")
        batch_op.drop_column("threshold")
        batch_op.drop_column("last_report_at")
        batch_op.drop_column("report_count")
