"""console sign-in sessions and the key that signs their cookies

Revision ID: 0006_console
Revises: 0001_ingest
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = "0006_console"
down_revision: str | None = "0001_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('console_keys',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('console_keys_pkey'))
    )
    op.create_table('console_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sid_sha256', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('console_sessions_token_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('console_sessions_pkey')),
    sa.UniqueConstraint('sid_sha256', name=op.f('console_sessions_sid_sha256_key'))
    )
    op.create_index('ix_console_sessions_token_id', 'console_sessions', ['token_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_console_sessions_token_id', table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_table('console_keys')
