"""reports, subject identifiers and api tokens

Revision ID: 0001_ingest
Revises: 
Create Date: 2026-11-28 04:48:13.851245
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = "0001_ingest"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('api_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('api_tokens_pkey')),
    sa.UniqueConstraint('token_sha256', name=op.f('api_tokens_token_sha256_key'))
    )
    op.create_table('reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('report_type', sa.String(length=8), nullable=False),
    sa.Column('jurisdiction', sa.String(length=2), nullable=False),
    sa.Column('filed_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('transaction_id', sa.String(length=64), nullable=True),
    sa.Column('txn_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('instrument', sa.String(length=16), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=True),
    sa.Column('account_id', sa.String(length=200), nullable=True),
    sa.Column('counterparty_account_id', sa.String(length=200), nullable=True),
    sa.Column('counterparty_country', sa.String(length=2), nullable=True),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source_topic', sa.String(length=255), nullable=True),
    sa.Column('source_partition', sa.Integer(), nullable=True),
    sa.Column('source_offset', sa.BigInteger(), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=True),
    sa.Column('processed_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('reports_pkey')),
    sa.UniqueConstraint('institution_id', 'report_id', name=op.f('reports_institution_id_report_id_key'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_reports_counterparty_account_id', ['counterparty_account_id'], unique=False)
        batch_op.create_index('ix_reports_subject_key_txn_at', ['subject_key', 'txn_at'], unique=False)

    op.create_table('subject_identifiers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('digest', sa.String(length=32), nullable=False),
    sa.Column('id_type', sa.String(length=16), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('subject_identifiers_pkey')),
    sa.UniqueConstraint('digest', 'subject_key', name=op.f('subject_identifiers_digest_subject_key_key'))
    )
    with op.batch_alter_table('subject_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_identifiers_digest'), ['digest'], unique=False)
        batch_op.create_index(batch_op.f('ix_subject_identifiers_subject_key'), ['subject_key'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('subject_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_identifiers_subject_key'))
        batch_op.drop_index(batch_op.f('ix_subject_identifiers_digest'))

    op.drop_table('subject_identifiers')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_subject_key_txn_at')
        batch_op.drop_index('ix_reports_counterparty_account_id')
        batch_op.drop_index('ix_reports_account_id')

    op.drop_table('reports')
    op.drop_table('api_tokens')
    
