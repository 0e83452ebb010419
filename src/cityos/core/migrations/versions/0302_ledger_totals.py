"""ledger: owner and tag totals per district for the unfiltered facets; type/state indexes on the
cubes; the type on each tag row

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
    # Tags carry their resource's type (tag + type searches walk one index range).
    with op.batch_alter_table('ledger_tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rtype', sa.String(length=20), nullable=True))
    op.execute("UPDATE ledger_tags SET rtype = (SELECT r.rtype FROM ledger_resources r "
               "WHERE r.id = ledger_tags.resource_id)")
    with op.batch_alter_table('ledger_tags', schema=None) as batch_op:
        batch_op.alter_column('rtype', existing_type=sa.String(length=20), nullable=False)
        batch_op.create_index('ix_ledger_tags_tag_type', ['tag', 'rtype', 'resource_id'], unique=False)
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
    with op.batch_alter_table('ledger_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_tags_tag_type')
        batch_op.drop_column('rtype')
    op.drop_table('ledger_tag_totals')
    op.drop_table('ledger_owner_totals')
