"""watchlists: lists, versions, entries, matches, dismissals, rescreens

Revision ID: 0008_watchlists
Revises: 0001_ingest
Create Date: 2026-12-02 23:19:18.570338
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = '0008_watchlists'
down_revision: str | None = '0001_ingest'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('watchlists',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('current_version', sa.Integer(), nullable=True),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('watchlists_pkey')),
    sa.UniqueConstraint('name', name=op.f('watchlists_name_key'))
    )
    op.create_table('watchlist_dismissals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.Column('watchlist_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_key', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('dismissed_by', sa.String(length=64), nullable=False),
    sa.Column('dismissed_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['watchlist_id'], ['watchlists.id'], name=op.f('watchlist_dismissals_watchlist_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('watchlist_dismissals_pkey')),
    sa.UniqueConstraint('subject_key', 'watchlist_id', 'entry_key', name=op.f('watchlist_dismissals_subject_key_watchlist_id_entry_key_key'))
    )
    op.create_table('watchlist_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('watchlist_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_key', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('added_in', sa.Integer(), nullable=False),
    sa.Column('removed_in', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['watchlist_id'], ['watchlists.id'], name=op.f('watchlist_entries_watchlist_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('watchlist_entries_pkey'))
    )
    with op.batch_alter_table('watchlist_entries', schema=None) as batch_op:
        batch_op.create_index('ix_watchlist_entries_current', ['watchlist_id', 'removed_in', 'id'], unique=False)
        batch_op.create_index('ix_watchlist_entries_key', ['watchlist_id', 'entry_key'], unique=False)

    op.create_table('watchlist_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('watchlist_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('loaded_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('loaded_by', sa.String(length=64), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['watchlist_id'], ['watchlists.id'], name=op.f('watchlist_versions_watchlist_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('watchlist_versions_pkey')),
    sa.UniqueConstraint('watchlist_id', 'version', name=op.f('watchlist_versions_watchlist_id_version_key'))
    )
    op.create_table('watchlist_matches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.Column('watchlist_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_key', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('party_name', sa.String(length=300), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('strength', sa.String(length=8), nullable=False),
    sa.Column('matched', sa.JSON(), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('found_by', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['watchlist_entries.id'], name=op.f('watchlist_matches_entry_id_fkey')),
    sa.ForeignKeyConstraint(['watchlist_id'], ['watchlists.id'], name=op.f('watchlist_matches_watchlist_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('watchlist_matches_pkey')),
    sa.UniqueConstraint('subject_key', 'watchlist_id', 'entry_key', 'role', name=op.f('watchlist_matches_subject_key_watchlist_id_entry_key_role_key'))
    )
    with op.batch_alter_table('watchlist_matches', schema=None) as batch_op:
        batch_op.create_index('ix_watchlist_matches_subject_key', ['subject_key', 'id'], unique=False)

    op.create_table('watchlist_rescreens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reports_total', sa.Integer(), nullable=False),
    sa.Column('reports_done', sa.Integer(), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('matches', sa.Integer(), nullable=False),
    sa.Column('alerts', sa.Integer(), nullable=False),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['watchlist_versions.id'], name=op.f('watchlist_rescreens_version_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('watchlist_rescreens_pkey'))
    )
    with op.batch_alter_table('watchlist_rescreens', schema=None) as batch_op:
        batch_op.create_index('ix_watchlist_rescreens_status', ['status', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('watchlist_rescreens', schema=None) as batch_op:
        batch_op.drop_index('ix_watchlist_rescreens_status')

    op.drop_table('watchlist_rescreens')
    with op.batch_alter_table('watchlist_matches', schema=None) as batch_op:
        batch_op.drop_index('ix_watchlist_matches_subject_key')

    op.drop_table('watchlist_matches')
    op.drop_table('watchlist_versions')
    with op.batch_alter_table('watchlist_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_watchlist_entries_key')
        batch_op.drop_index('ix_watchlist_entries_current')

    op.drop_table('watchlist_entries')
    op.drop_table('watchlist_dismissals')
    op.drop_table('watchlists')
