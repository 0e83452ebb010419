"""rail: change logs of the base databases (written by triggers), subscriptions, webhook deliveries

Revision ID: 0210_rail
Revises: 0200_data
Create Date: 2026-11-25 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityos.core.db

revision = '0210_rail'
down_revision = '0200_data'
branch_labels = ('rail',)
depends_on = None


def upgrade() -> None:
    op.create_table('rail_heads',
    sa.Column('dataset', sa.String(length=40), nullable=False),
    sa.Column('head', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('dataset', name=op.f('pk_rail_heads'))
    )
    op.create_table('rail_changes',
    sa.Column('dataset', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('op', sa.String(length=1), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('data', cityos.core.db.JSONType, nullable=True),
    sa.Column('changed_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dataset', 'seq', name=op.f('pk_rail_changes')),
    sqlite_with_rowid=False,
    )
    op.create_table('rail_subscriptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('dataset', sa.String(length=40), nullable=False),
    sa.Column('principal', sa.String(length=80), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=80), nullable=True),
    sa.Column('decided_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('acked_seq', sa.BigInteger(), nullable=False),
    sa.Column('acked_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('read_seq', sa.BigInteger(), nullable=False),
    sa.Column('webhook_url', sa.String(length=500), nullable=True),
    sa.Column('webhook_secret', sa.String(length=80), nullable=True),
    sa.Column('push_attempts', sa.Integer(), nullable=False),
    sa.Column('push_next_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('push_last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rail_subscriptions'))
    )
    op.create_index(op.f('ix_rail_subscriptions_dataset'), 'rail_subscriptions', ['dataset'], unique=False)
    op.create_index('ix_rail_subscriptions_principal', 'rail_subscriptions', ['principal', 'dataset'], unique=False)
    op.create_table('rail_deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subscription_id', sa.BigInteger(), nullable=False),
    sa.Column('from_seq', sa.BigInteger(), nullable=False),
    sa.Column('to_seq', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rail_deliveries'))
    )
    op.create_index('ix_rail_deliveries_sub', 'rail_deliveries', ['subscription_id', 'status'], unique=False)

    from cityos.data.rail.store import install_triggers
    install_triggers(op.get_bind())


def downgrade() -> None:
    from cityos.data.rail.store import drop_triggers
    drop_triggers(op.get_bind())
    op.drop_index('ix_rail_deliveries_sub', table_name='rail_deliveries')
    op.drop_table('rail_deliveries')
    op.drop_index('ix_rail_subscriptions_principal', table_name='rail_subscriptions')
    op.drop_index(op.f('ix_rail_subscriptions_dataset'), table_name='rail_subscriptions')
    op.drop_table('rail_subscriptions')
    op.drop_table('rail_changes')
    op.drop_table('rail_heads')
