"""reports: (institution, time) index for the alert budget's window

Revision ID: 0011_reports_institution_time
Revises: 0002_trace_indexes
Create Date: 2026-12-04 05:40:00

The alert budget reads an institution's scored reports of the trailing window every
``budget_recompute_hours`` of event time (``AlertRepository.window_scores``). Without this
index that read fetched every report the institution ever filed to test its time.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_reports_institution_time"
down_revision: str | None = "0002_trace_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_institution_id_txn_at", ["institution_id", "txn_at"])


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_institution_id_txn_at")
