"""reports: (account, time) indexes for fund-flow tracing

Revision ID: 0002_trace_indexes
Revises: 0001_ingest
Create Date: 2026-11-28 07:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_trace_indexes"
down_revision: str | None = "0001_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_account_id")
        batch_op.drop_index("ix_reports_counterparty_account_id")
        batch_op.create_index("ix_reports_account_id_txn_at", ["account_id", "txn_at"])
        batch_op.create_index(
            "ix_reports_counterparty_account_id_txn_at", ["counterparty_account_id", "txn_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_counterparty_account_id_txn_at")
        batch_op.drop_index("ix_reports_account_id_txn_at")
        batch_op.create_index("ix_reports_counterparty_account_id", ["counterparty_account_id"])
        batch_op.create_index("ix_reports_account_id", ["account_id"])
