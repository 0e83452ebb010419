"""ledger: owner and tag totals per district for the unfiltered facets; type/state indexes on the cubes

Revision ID: 0302_ledger_totals
Revises: 0301_ledger_search
Create Date: 2026-11-25 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0302_ledger_totals'
down_revision = '0301_ledger_search'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, lead in (("ledger_owner_totals", "owner_unit"), ("ledger_tag_totals", "tag")):
        op.create_table(name,
        sa.Column(lead, sa.String(length=40), nullable=False),
        sa.Column('level', sa.String(length=10), nullable=False),
        sa.Column('district', sa.String(length=6), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('n_online', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(lead, 'level', 'district', name=op.f(f'pk_{name}'))
        )
    with op.batch_alter_table('ledger_owner_counts', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_owner_counts_type_state', ['rtype', 'state'], unique=False)
    with op.batch_alter_table('ledger_tag_counts', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_tag_counts_type_state', ['rtype', 'state'], unique=False)
    # Existing ledgers: the totals from the cubes (every resource is in exactly one cube row).
    for name, lead, cube in (("ledger_owner_totals", "owner_unit", "ledger_owner_counts"),
                             ("ledger_tag_totals", "tag", "ledger_tag_counts")):
        op.execute(f"INSERT INTO {name} ({lead}, level, district, n, n_online) "
                   f"SELECT {lead}, level, district, SUM(n), SUM(CASE WHEN state = 'online' THEN n ELSE 0 END) "
                   f"FROM {cube} GROUP BY {lead}, level, district")


def downgrade() -> None:
    with op.batch_alter_table('ledger_tag_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_tag_counts_type_state')
    with op.batch_alter_table('ledger_owner_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_owner_counts_type_state')
    op.drop_table('ledger_tag_totals')
    op.drop_table('ledger_owner_totals')
