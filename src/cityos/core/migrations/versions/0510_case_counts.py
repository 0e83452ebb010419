"""governance: open-case counters per division node (the command screen's read model),
filled from the cases already there

Revision ID: 0510_case_counts
Revises: 0004_governance_notify
Create Date: 2026-11-25 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0510_case_counts'
down_revision = '0004_governance_notify'
branch_labels = ('case_counts',)
depends_on = None

OPEN_STATES = ("collected", "filed", "dispatched", "signed", "handling", "reported", "verified", "parked")


def upgrade() -> None:
    op.create_table('case_counts',
    sa.Column('node', sa.String(length=15), nullable=False),
    sa.Column('cls', sa.String(length=3), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('emergency', sa.Boolean(), nullable=False),
    sa.Column('parent', sa.String(length=15), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'cls', 'state', 'overdue', 'emergency', name=op.f('pk_case_counts'))
    )
    op.create_index('ix_case_counts_parent', 'case_counts', ['parent'], unique=False)
    # The same recount as `cityos dashboard rebuild-counters` (kept here as SQL: a migration
    # does not import the application's code, which moves on).
    open_in = ", ".join(f"'{s}'" for s in OPEN_STATES)
    for n in (6, 9, 12, 15):
        parent = ("CASE WHEN substr(node, 3, 4) = '0000' THEN '' ELSE substr(node, 1, 2) || '0000' END" if n == 6
                  else f"substr(node, 1, {n - 3})")
        op.execute(
            "INSERT INTO case_counts (node, cls, state, overdue, emergency, parent, n) "
            f"SELECT substr(node, 1, {n}), substr(category_code, 1, 3), state, overdue, emergency, {parent}, count(*) "
            f"FROM cases WHERE state IN ({open_in}) AND length(node) >= {n} "
            f"GROUP BY substr(node, 1, {n}), substr(category_code, 1, 3), state, overdue, emergency, {parent}")


def downgrade() -> None:
    op.drop_index('ix_case_counts_parent', table_name='case_counts')
    op.drop_table('case_counts')
