"""governance

Revision ID: 0003_governance
Revises: 0002_identity
Create Date: 2026-11-25 03:36:30.962780
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityos.core.db

revision = '0003_governance'
down_revision = '0002_identity'
branch_labels = ('governance',)
depends_on = None


def upgrade() -> None:

    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_table('case_attachments',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=80), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=400), nullable=False),
    sa.Column('at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_attachments'))
    )
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_attachments_case_id'), ['case_id'], unique=False)

    op.create_table('case_categories',
    sa.Column('code', sa.String(length=5), nullable=False),
    sa.Column('kind', sa.String(length=5), nullable=False),
    sa.Column('class_code', sa.String(length=2), nullable=False),
    sa.Column('class_zh', sa.String(length=80), nullable=False),
    sa.Column('class_en', sa.String(length=120), nullable=False),
    sa.Column('name_zh', sa.String(length=80), nullable=False),
    sa.Column('name_en', sa.String(length=120), nullable=False),
    sa.Column('limit_value', sa.Integer(), nullable=False),
    sa.Column('limit_type', sa.String(length=16), nullable=False),
    sa.Column('owner_level', sa.String(length=10), nullable=False),
    sa.Column('dept_city', sa.String(length=40), nullable=False),
    sa.Column('dept_district', sa.String(length=40), nullable=False),
    sa.Column('sector_township', sa.String(length=40), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('emergency', sa.Boolean(), nullable=False),
    sa.Column('filing_condition', sa.Text(), nullable=False),
    sa.Column('closing_condition', sa.Text(), nullable=False),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_case_categories'))
    )
    op.create_table('case_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_state', sa.String(length=12), nullable=True),
    sa.Column('to_state', sa.String(length=12), nullable=False),
    sa.Column('at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=True),
    sa.Column('node', sa.String(length=15), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events'))
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_events_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_case_events_uncounted', ['counted', 'id'], unique=False)

    op.create_table('case_stats',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('node', sa.String(length=40), nullable=False),
    sa.Column('due', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('closed_on_time', sa.Integer(), nullable=False),
    sa.Column('handled_on_time', sa.Integer(), nullable=False),
    sa.Column('rework', sa.Integer(), nullable=False),
    sa.Column('returned', sa.Integer(), nullable=False),
    sa.Column('dispatched', sa.Integer(), nullable=False),
    sa.Column('dispatched_correct', sa.Integer(), nullable=False),
    sa.Column('handling_seconds', sa.Float(), nullable=False),
    sa.Column('handled', sa.Integer(), nullable=False),
    sa.Column('public_total', sa.Integer(), nullable=False),
    sa.Column('public_responded', sa.Integer(), nullable=False),
    sa.Column('public_resolved', sa.Integer(), nullable=False),
    sa.Column('public_satisfied', sa.Integer(), nullable=False),
    sa.Column('public_evaluated', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('period', 'node', name=op.f('pk_case_stats'))
    )
    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('source_ref', sa.String(length=60), nullable=True),
    sa.Column('category_code', sa.String(length=5), nullable=False),
    sa.Column('kind', sa.String(length=5), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=True),
    sa.Column('village_code', sa.String(length=12), nullable=True),
    sa.Column('township_code', sa.String(length=9), nullable=True),
    sa.Column('district_code', sa.String(length=6), nullable=True),
    sa.Column('node', sa.String(length=15), nullable=False),
    sa.Column('owner_level', sa.String(length=10), nullable=False),
    sa.Column('owner_node', sa.String(length=15), nullable=False),
    sa.Column('handler_unit', sa.String(length=40), nullable=True),
    sa.Column('co_units', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('routing', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('deadline', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deadline_version', sa.Integer(), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('overdue_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('emergency', sa.Boolean(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('reporter_name', sa.String(length=80), nullable=True),
    sa.Column('reporter_phone', sa.String(length=20), nullable=True),
    sa.Column('reporter_user', sa.String(length=80), nullable=True),
    sa.Column('rework_count', sa.Integer(), nullable=False),
    sa.Column('return_count', sa.Integer(), nullable=False),
    sa.Column('master_id', sa.BigInteger(), nullable=True),
    sa.Column('extension', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('satisfied', sa.Boolean(), nullable=True),
    sa.Column('alarm_ref', sa.String(length=60), nullable=True),
    sa.Column('reported_by', sa.String(length=80), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('number', name=op.f('uq_cases_number'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_category_created', ['category_code', 'created_at'], unique=False)
        batch_op.create_index('ix_cases_created', ['created_at'], unique=False)
        batch_op.create_index('ix_cases_district_state', ['district_code', 'state'], unique=False)
        batch_op.create_index('ix_cases_handler_state', ['handler_unit', 'state'], unique=False)
        batch_op.create_index('ix_cases_master', ['master_id'], unique=False)
        batch_op.create_index('ix_cases_overdue_deadline', ['overdue', 'deadline'], unique=False)
        batch_op.create_index('ix_cases_source_ref', ['source', 'source_ref'], unique=False)
        batch_op.create_index('ix_cases_state_node', ['state', 'node'], unique=False)
        batch_op.create_index('ix_cases_township_state', ['township_code', 'state'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('recipient_user', sa.String(length=80), nullable=True),
    sa.Column('recipient_unit', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_recipient_unit'), ['recipient_unit'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_recipient_user'), ['recipient_user'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_recipient_user'))
        batch_op.drop_index(batch_op.f('ix_notifications_recipient_unit'))

    op.drop_table('notifications')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_township_state')
        batch_op.drop_index('ix_cases_state_node')
        batch_op.drop_index('ix_cases_source_ref')
        batch_op.drop_index('ix_cases_overdue_deadline')
        batch_op.drop_index('ix_cases_master')
        batch_op.drop_index('ix_cases_handler_state')
        batch_op.drop_index('ix_cases_district_state')
        batch_op.drop_index('ix_cases_created')
        batch_op.drop_index('ix_cases_category_created')

    op.drop_table('cases')
    op.drop_table('case_stats')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_uncounted')
        batch_op.drop_index(batch_op.f('ix_case_events_case_id'))

    op.drop_table('case_events')
    op.drop_table('case_categories')
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_attachments_case_id'))

    op.drop_table('case_attachments')
    op.drop_table('calendar_days')

