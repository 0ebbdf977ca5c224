"""assets, asset events and participants; the hash-chained forfeiture-sharing ledger

Revision ID: 0004_ledger
Revises: 0001_ingest
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = "0004_ledger"
down_revision: str | None = "0001_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('assets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('asset_type', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=False),
    sa.Column('identifiers', sa.JSON(), nullable=False),
    sa.Column('value_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('appraised_value_minor', sa.BigInteger(), nullable=True),
    sa.Column('appraised_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('appraiser', sa.String(length=200), nullable=True),
    sa.Column('jurisdiction', sa.String(length=2), nullable=False),
    sa.Column('custodian', sa.String(length=200), nullable=True),
    sa.Column('seizing_authority', sa.String(length=16), nullable=True),
    sa.Column('case_number', sa.String(length=64), nullable=True),
    sa.Column('seizure_number', sa.String(length=64), nullable=True),
    sa.Column('judicial_district', sa.String(length=64), nullable=True),
    sa.Column('cats_id', sa.String(length=64), nullable=True),
    sa.Column('legal_basis', sa.String(length=200), nullable=True),
    sa.Column('case_ids', sa.JSON(), nullable=False),
    sa.Column('alert_ids', sa.JSON(), nullable=False),
    sa.Column('report_refs', sa.JSON(), nullable=False),
    sa.Column('source_trace', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('disposition', sa.String(length=16), nullable=True),
    sa.Column('seized_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_sent_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claim_filed_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('forfeited_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disposed_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sharing_requested_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_due_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('complaint_due_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sharing_request_due_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_deadline_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_deadline_kind', sa.String(length=24), nullable=True),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('assets_pkey'))
    )
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.create_index('ix_assets_case_number', ['case_number'], unique=False)
        batch_op.create_index('ix_assets_next_deadline_at', ['next_deadline_at'], unique=False)
        batch_op.create_index('ix_assets_status', ['status'], unique=False)

    op.create_table('ledger_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('ledger_chain_head_pkey'))
    )
    op.create_table('ledger_entries',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=240), nullable=False),
    sa.Column('asset_id', sa.BigInteger(), nullable=True),
    sa.Column('memo', sa.String(length=1000), nullable=True),
    sa.Column('decision_for', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reverses', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['decision_for'], ['ledger_entries.seq'], name=op.f('ledger_entries_decision_for_fkey')),
    sa.ForeignKeyConstraint(['reverses'], ['ledger_entries.seq'], name=op.f('ledger_entries_reverses_fkey')),
    sa.PrimaryKeyConstraint('seq', name=op.f('ledger_entries_pkey')),
    sa.UniqueConstraint('decision_for', name=op.f('ledger_entries_decision_for_key')),
    sa.UniqueConstraint('entry_hash', name=op.f('ledger_entries_entry_hash_key')),
    sa.UniqueConstraint('idempotency_key', name=op.f('ledger_entries_idempotency_key_key')),
    sa.UniqueConstraint('prev_hash', name=op.f('ledger_entries_prev_hash_key'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_asset_id_seq', ['asset_id', 'seq'], unique=False)

    op.create_table('ledger_idempotency',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('ledger_idempotency_pkey'))
    )
    op.create_table('asset_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('asset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=True),
    sa.Column('effective_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('entry_seqs', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('asset_events_asset_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('asset_events_pkey'))
    )
    with op.batch_alter_table('asset_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_events_asset_id'), ['asset_id'], unique=False)

    op.create_table('asset_participants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('asset_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('agency_name', sa.String(length=200), nullable=False),
    sa.Column('ori', sa.String(length=16), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('work_hours', sa.Integer(), nullable=False),
    sa.Column('originated_info', sa.Boolean(), nullable=False),
    sa.Column('unique_assistance', sa.Boolean(), nullable=False),
    sa.Column('extraordinary_expenses_minor', sa.BigInteger(), nullable=False),
    sa.Column('agreement_ref', sa.String(length=200), nullable=True),
    sa.Column('share_bps', sa.Integer(), nullable=True),
    sa.Column('concurrence_ref', sa.String(length=200), nullable=True),
    sa.Column('concurrence_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('asset_participants_asset_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('asset_participants_pkey')),
    sa.UniqueConstraint('asset_id', 'agency_id', name=op.f('asset_participants_asset_id_agency_id_key'))
    )
    with op.batch_alter_table('asset_participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_asset_participants_asset_id'), ['asset_id'], unique=False)

    op.create_table('ledger_lines',
    sa.Column('entry_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('account', sa.String(length=160), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_minor <> 0', name=op.f('ledger_lines_nonzero_check')),
    sa.ForeignKeyConstraint(['entry_seq'], ['ledger_entries.seq'], name=op.f('ledger_lines_entry_seq_fkey')),
    sa.PrimaryKeyConstraint('entry_seq', 'line_no', name=op.f('ledger_lines_pkey'))
    )
    with op.batch_alter_table('ledger_lines', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_lines_account_currency', ['account', 'currency'], unique=False)


    # The chain head starts at the genesis: no entry yet, previous hash all zeros.
    op.bulk_insert(
        sa.table(
            "ledger_chain_head",
            sa.column("id", sa.Integer()),
            sa.column("last_seq", sa.BigInteger()),
            sa.column("last_hash", sa.String()),
        ),
        [{"id": 1, "last_seq": 0, "last_hash": "0" * 64}],
    )


def downgrade() -> None:
    with op.batch_alter_table('ledger_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_lines_account_currency')

    op.drop_table('ledger_lines')
    with op.batch_alter_table('asset_participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_participants_asset_id'))

    op.drop_table('asset_participants')
    with op.batch_alter_table('asset_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_asset_events_asset_id'))

    op.drop_table('asset_events')
    op.drop_table('ledger_idempotency')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_asset_id_seq')

    op.drop_table('ledger_entries')
    op.drop_table('ledger_chain_head')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index('ix_assets_status')
        batch_op.drop_index('ix_assets_next_deadline_at')
        batch_op.drop_index('ix_assets_case_number')

    op.drop_table('assets')
