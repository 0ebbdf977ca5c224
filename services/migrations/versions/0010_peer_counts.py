"""peer_counts: daily reports per peer group, feature and bin (peer-relative features)

Revision ID: 0010_peer_counts
Revises: 0001_ingest
Create Date: 2026-12-03 05:10:00

A branch of its own off 0001_ingest, like every other table group here (the layout has one
branch per feature; ``services.migrate.upgrade`` applies ``heads``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_peer_counts"
down_revision: str | None = "0001_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "peer_counts",
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pgroup", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("feature", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("bin", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "pgroup", "feature", "bin", name=op.f("peer_counts_pkey")),
    )


def downgrade() -> None:
    op.drop_table("peer_counts")
