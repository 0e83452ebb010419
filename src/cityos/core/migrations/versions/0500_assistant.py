"""assistant: labelled examples (operator corrections)

Revision ID: 0500_assistant
Revises:
Create Date: 2026-11-25 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityos.core.db

revision = '0500_assistant'
down_revision = None
branch_labels = ('assistant',)
depends_on = '0001_kernel_geo'


def upgrade() -> None:
    op.create_table('assistant_examples',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=5), nullable=False),
    sa.Column('suggested', sa.String(length=5), nullable=True),
    sa.Column('case_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistant_examples'))
    )
    op.create_index('ix_assistant_examples_category', 'assistant_examples', ['category'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_assistant_examples_category', table_name='assistant_examples')
    op.drop_table('assistant_examples')
