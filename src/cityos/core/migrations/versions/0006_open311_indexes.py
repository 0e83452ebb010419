"""open311: indexes for GET requests filtered by status and service code

Revision ID: 0006_open311_indexes
Revises: 0004_open311
Create Date: 2026-11-25 07:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0006_open311_indexes'
down_revision = '0004_open311'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_source_state_created', ['source', 'state', 'created_at'], unique=False)
        batch_op.create_index('ix_cases_source_category_state_created', ['source', 'category_code', 'state', 'created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_source_category_state_created')
        batch_op.drop_index('ix_cases_source_state_created')
