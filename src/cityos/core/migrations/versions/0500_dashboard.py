"""dashboard: indicator series

Revision ID: 0500_dashboard
Revises:
Create Date: 2026-11-25 04:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityos.core.db

revision = '0500_dashboard'
down_revision = None
branch_labels = ('dashboard',)
depends_on = '0001_kernel_geo'


def upgrade() -> None:
    op.create_table('dashboard_series',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('node', sa.String(length=15), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('imported_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_series')),
    sa.UniqueConstraint('name', 'node', 'period', name='uq_dashboard_series_name_node_period')
    )
    op.create_index('ix_dashboard_series_node', 'dashboard_series', ['node'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_dashboard_series_node', table_name='dashboard_series')
    op.drop_table('dashboard_series')
