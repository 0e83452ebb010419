"""open311

Revision ID: 0004_open311
Revises: 0003_governance
Create Date: 2026-11-25 03:44:54.589546
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityos.core.db

revision = '0004_open311'
down_revision = '0003_governance'
branch_labels = ('open311',)
depends_on = None


def upgrade() -> None:

    op.create_table('open311_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=True),
    sa.Column('token', sa.String(length=40), nullable=True),
    sa.Column('service_code', sa.String(length=5), nullable=False),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('first_name', sa.String(length=80), nullable=True),
    sa.Column('last_name', sa.String(length=80), nullable=True),
    sa.Column('device_id', sa.String(length=200), nullable=True),
    sa.Column('account_id', sa.String(length=200), nullable=True),
    sa.Column('media_url', sa.Text(), nullable=True),
    sa.Column('address_id', sa.String(length=60), nullable=True),
    sa.Column('jurisdiction_id', sa.String(length=60), nullable=True),
    sa.Column('api_user', sa.String(length=80), nullable=False),
    sa.Column('pending', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_requests')),
    sa.UniqueConstraint('case_id', name=op.f('uq_open311_requests_case_id')),
    sa.UniqueConstraint('token', name=op.f('uq_open311_requests_token'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_source_created', ['source', 'created_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_source_created')

    op.drop_table('open311_requests')

