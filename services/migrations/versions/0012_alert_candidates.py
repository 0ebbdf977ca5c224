"""alert_candidates: the reports the ranked alert budget holds back until its next recompute

Revision ID: 0012_alert_candidates
Revises: 0009_episodes
Create Date: 2026-12-05 00:10:00

Under ranked spending (``AMLSCREEN_ALERT_BUDGET_SPENDING=ranked``, the default) a report at or
above the budget's floor whose subject has no open alert opens nothing as it arrives: each
recompute ranks the window's subjects and opens the alerts of the best, on the report each was
held with (``services.alerts.orm.HeldCandidate``). Such an alert spends the budget from the
recompute that opened it (``alerts.opened_for``), not from its report's time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = "0012_alert_candidates"
down_revision: str | None = "0009_episodes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opened_for", services.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "alert_candidates",
        sa.Column("id", _PK, nullable=False),
        sa.Column("institution_id", sa.String(length=64), nullable=False),
        sa.Column("subject_key", sa.String(length=80), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("transaction_at", services.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", services.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("alert_candidates_pkey")),
    )
    with op.batch_alter_table("alert_candidates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_candidates_institution_id_transaction_at",
            ["institution_id", "transaction_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_alert_candidates_institution_id_subject_key",
            ["institution_id", "subject_key"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_candidates", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_candidates_institution_id_subject_key")
        batch_op.drop_index("ix_alert_candidates_institution_id_transaction_at")
    op.drop_table("alert_candidates")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("opened_for")
