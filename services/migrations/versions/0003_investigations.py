"""investigations: alerts, cases, notes, audit trail, subject names

Revision ID: 0003_investigations
Revises: 0001_ingest
Create Date: 2026-11-28 05:09:11.549762

The audit trail and the notes are append-only in the database too: UPDATE is refused on both
backends; on PostgreSQL DELETE and TRUNCATE are refused to every role but a superuser (the
retention purge is a DBA's job). SQLite has no roles, so there DELETE stays possible.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db

revision: str = "0003_investigations"
down_revision: str | None = "0001_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('audit_events_pkey'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_actor_id', ['actor', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_at_id', ['at', 'id'], unique=False)
        batch_op.create_index('ix_audit_events_entity', ['entity_type', 'entity_id', 'id'], unique=False)

    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('jurisdiction', sa.String(length=2), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('disposition', sa.String(length=32), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('filing_reference', sa.String(length=64), nullable=True),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('subject_identified', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('suspicion_determined_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deadline_kind', sa.String(length=16), nullable=True),
    sa.Column('deadline_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('cases_pkey'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_assignee_created_at_id', ['assignee', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_cases_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_cases_deadline_at_id', ['deadline_at', 'id'], unique=False)
        batch_op.create_index('ix_cases_status_created_at_id', ['status', 'created_at', 'id'], unique=False)

    op.create_table('investigation_notes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.BigInteger(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('investigation_notes_pkey'))
    )
    with op.batch_alter_table('investigation_notes', schema=None) as batch_op:
        batch_op.create_index('ix_investigation_notes_entity', ['entity_type', 'entity_id', 'id'], unique=False)

    op.create_table('subject_names',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.Column('subject_type', sa.String(length=8), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('birth_date', sa.String(length=10), nullable=True),
    sa.Column('seen_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('subject_names_pkey')),
    sa.UniqueConstraint('name_key', 'subject_key', name=op.f('subject_names_name_key_subject_key_key'))
    )
    with op.batch_alter_table('subject_names', schema=None) as batch_op:
        batch_op.create_index('ix_subject_names_subject_key', ['subject_key'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_id', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('report_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.Column('subject_identified', sa.Boolean(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=2), nullable=False),
    sa.Column('report_type', sa.String(length=8), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('rule_hits', sa.JSON(), nullable=False),
    sa.Column('typology', sa.String(length=64), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('source_topic', sa.String(length=255), nullable=True),
    sa.Column('source_partition', sa.Integer(), nullable=True),
    sa.Column('source_offset', sa.BigInteger(), nullable=True),
    sa.Column('transaction_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('disposition', sa.String(length=32), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('filing_reference', sa.String(length=64), nullable=True),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('suspicion_determined_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deadline_kind', sa.String(length=16), nullable=True),
    sa.Column('deadline_at', services.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('alerts_case_id_fkey')),
    sa.ForeignKeyConstraint(['report_pk'], ['reports.id'], name=op.f('alerts_report_pk_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('alerts_pkey')),
    sa.UniqueConstraint('institution_id', 'report_id', name=op.f('alerts_institution_id_report_id_key'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_assignee_created_at_id', ['assignee', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_case_id', ['case_id'], unique=False)
        batch_op.create_index('ix_alerts_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_deadline_at_id', ['deadline_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_institution_created_at_id', ['institution_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_jurisdiction_created_at_id', ['jurisdiction', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_score_id', ['score', 'id'], unique=False)
        batch_op.create_index('ix_alerts_status_created_at_id', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_status_deadline_at_id', ['status', 'deadline_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_status_score_id', ['status', 'score', 'id'], unique=False)
        batch_op.create_index('ix_alerts_subject_key_created_at_id', ['subject_key', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_alerts_typology_created_at_id', ['typology', 'created_at', 'id'], unique=False)

    op.create_table('case_subjects',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_key', sa.String(length=80), nullable=False),
    sa.Column('added_at', services.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('case_subjects_case_id_fkey')),
    sa.PrimaryKeyConstraint('id', name=op.f('case_subjects_pkey')),
    sa.UniqueConstraint('case_id', 'subject_key', name=op.f('case_subjects_case_id_subject_key_key'))
    )
    with op.batch_alter_table('case_subjects', schema=None) as batch_op:
        batch_op.create_index('ix_case_subjects_subject_key', ['subject_key'], unique=False)
    _append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table('case_subjects', schema=None) as batch_op:
        batch_op.drop_index('ix_case_subjects_subject_key')

    op.drop_table('case_subjects')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_typology_created_at_id')
        batch_op.drop_index('ix_alerts_subject_key_created_at_id')
        batch_op.drop_index('ix_alerts_status_score_id')
        batch_op.drop_index('ix_alerts_status_deadline_at_id')
        batch_op.drop_index('ix_alerts_status_created_at_id')
        batch_op.drop_index('ix_alerts_score_id')
        batch_op.drop_index('ix_alerts_jurisdiction_created_at_id')
        batch_op.drop_index('ix_alerts_institution_created_at_id')
        batch_op.drop_index('ix_alerts_deadline_at_id')
        batch_op.drop_index('ix_alerts_created_at_id')
        batch_op.drop_index('ix_alerts_case_id')
        batch_op.drop_index('ix_alerts_assignee_created_at_id')

    op.drop_table('alerts')
    with op.batch_alter_table('subject_names', schema=None) as batch_op:
        batch_op.drop_index('ix_subject_names_subject_key')

    op.drop_table('subject_names')
    with op.batch_alter_table('investigation_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_investigation_notes_entity')

    op.drop_table('investigation_notes')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_status_created_at_id')
        batch_op.drop_index('ix_cases_deadline_at_id')
        batch_op.drop_index('ix_cases_created_at_id')
        batch_op.drop_index('ix_cases_assignee_created_at_id')

    op.drop_table('cases')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_entity')
        batch_op.drop_index('ix_audit_events_at_id')
        batch_op.drop_index('ix_audit_events_actor_id')

    op.drop_table('audit_events')


APPEND_ONLY_TABLES = ("audit_events", "investigation_notes")


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION amlscreen_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
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
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION amlscreen_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION amlscreen_append_only()"
            )
    else:
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END"
            )


def _drop_append_only_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY_TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS amlscreen_append_only()")
