"""command

Revision ID: 0005_command
Revises: 0004_open311
Create Date: 2026-11-25 04:05:30.000998
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityos.core.db

revision = '0005_command'
down_revision = '0004_open311'
branch_labels = ('command',)
depends_on = None


def upgrade() -> None:

    op.create_table('duty_roster',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('unit_code', sa.String(length=40), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('starts_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handed_over_by', sa.String(length=80), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duty_roster'))
    )
    with op.batch_alter_table('duty_roster', schema=None) as batch_op:
        batch_op.create_index('ix_duty_unit_time', ['unit_code', 'starts_at', 'ends_at'], unique=False)

    op.create_table('emergency_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('category_code', sa.String(length=5), nullable=False),
    sa.Column('casualties', sa.Integer(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('node', sa.String(length=15), nullable=False),
    sa.Column('reporter', sa.String(length=80), nullable=False),
    sa.Column('ack_minutes', sa.Integer(), nullable=False),
    sa.Column('media', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_on_site_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_on_site_by', sa.String(length=80), nullable=True),
    sa.Column('resolved_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_reports')),
    sa.UniqueConstraint('case_id', name=op.f('uq_emergency_reports_case_id'))
    )
    op.create_table('emergency_rings',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('report_id', sa.BigInteger(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('unit_code', sa.String(length=40), nullable=False),
    sa.Column('rung_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_ring_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('ringing_user', sa.String(length=80), nullable=True),
    sa.Column('ack_by', sa.String(length=80), nullable=True),
    sa.Column('ack_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_rings'))
    )
    with op.batch_alter_table('emergency_rings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emergency_rings_report_id'), ['report_id'], unique=False)
        batch_op.create_index('ix_rings_pending', ['ack_at', 'next_ring_at'], unique=False)

    op.create_table('instruction_tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instruction_id', sa.BigInteger(), nullable=False),
    sa.Column('root_id', sa.BigInteger(), nullable=False),
    sa.Column('unit_code', sa.String(length=40), nullable=False),
    sa.Column('node', sa.String(length=15), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('signed_by', sa.String(length=80), nullable=True),
    sa.Column('signed_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('report', sa.Text(), nullable=True),
    sa.Column('sign_overdue', sa.Integer(), nullable=False),
    sa.Column('complete_overdue', sa.Integer(), nullable=False),
    sa.Column('relayed_as', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instruction_tasks'))
    )
    with op.batch_alter_table('instruction_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_instruction_state', ['instruction_id', 'state'], unique=False)
        batch_op.create_index('ix_tasks_root_state', ['root_id', 'state'], unique=False)
        batch_op.create_index('ix_tasks_unit_state', ['unit_code', 'state'], unique=False)

    op.create_table('instructions',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('urgency', sa.String(length=10), nullable=False),
    sa.Column('issuer', sa.String(length=80), nullable=False),
    sa.Column('issuer_node', sa.String(length=15), nullable=False),
    sa.Column('rule', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sign_deadline', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('complete_deadline', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('parent_task_id', sa.BigInteger(), nullable=True),
    sa.Column('root_id', sa.BigInteger(), nullable=True),
    sa.Column('targets', sa.Integer(), nullable=False),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instructions'))
    )



def downgrade() -> None:

    op.drop_table('instructions')
    with op.batch_alter_table('instruction_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_unit_state')
        batch_op.drop_index('ix_tasks_root_state')
        batch_op.drop_index('ix_tasks_instruction_state')

    op.drop_table('instruction_tasks')
    with op.batch_alter_table('emergency_rings', schema=None) as batch_op:
        batch_op.drop_index('ix_rings_pending')
        batch_op.drop_index(batch_op.f('ix_emergency_rings_report_id'))

    op.drop_table('emergency_rings')
    op.drop_table('emergency_reports')
    with op.batch_alter_table('duty_roster', schema=None) as batch_op:
        batch_op.drop_index('ix_duty_unit_time')

    op.drop_table('duty_roster')

