"""data service interfaces

Revision ID: 0700_ds_services
Revises: (branch of data: 0200_data)
Create Date: 2026-11-25 09:18:26.256661
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityos.core.db

revision = '0700_ds_services'
down_revision = None
branch_labels = ('ds',)
depends_on = '0200_data'


def upgrade() -> None:
    op.create_table('ds_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('consumer_id', sa.BigInteger(), nullable=True),
    sa.Column('interface_code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=500), nullable=True),
    sa.Column('param_hash', sa.String(length=32), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ds_calls'))
    )
    with op.batch_alter_table('ds_calls', schema=None) as batch_op:
        batch_op.create_index('ix_ds_calls_consumer_at', ['consumer_id', 'at'], unique=False)
        batch_op.create_index('ix_ds_calls_interface_at', ['interface_code', 'at'], unique=False)

    op.create_table('ds_interfaces',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('sharing', sa.String(length=16), nullable=False),
    sa.Column('latest_version', sa.Integer(), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_ds_interfaces'))
    )
    with op.batch_alter_table('ds_interfaces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ds_interfaces_owner'), ['owner'], unique=False)

    op.create_table('ds_usage',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('interface_code', sa.String(length=64), nullable=False),
    sa.Column('consumer_id', sa.BigInteger(), nullable=False),
    sa.Column('calls', sa.BigInteger(), nullable=False),
    sa.Column('ok', sa.BigInteger(), nullable=False),
    sa.Column('errors', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('latency_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'interface_code', 'consumer_id', name=op.f('pk_ds_usage'))
    )
    with op.batch_alter_table('ds_usage', schema=None) as batch_op:
        batch_op.create_index('ix_ds_usage_consumer_day', ['consumer_id', 'day'], unique=False)

    op.create_table('ds_versions',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('definition_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('published_by', sa.String(length=80), nullable=False),
    sa.Column('published_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('code', 'version', name=op.f('pk_ds_versions'))
    )
    op.create_table('ds_consumers',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('node', sa.String(length=15), nullable=False),
    sa.Column('ledger_code', sa.String(length=64), nullable=True),
    sa.Column('client_secret_hash', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ds_consumers_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ds_consumers')),
    sa.UniqueConstraint('code', name=op.f('uq_ds_consumers_code')),
    sa.UniqueConstraint('user_id', name=op.f('uq_ds_consumers_user_id'))
    )
    with op.batch_alter_table('ds_consumers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ds_consumers_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_ds_consumers_node'), ['node'], unique=False)

    op.create_table('ds_applications',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('consumer_id', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('legal_basis', sa.String(length=500), nullable=False),
    sa.Column('expected_daily', sa.Integer(), nullable=False),
    sa.Column('submitted_by', sa.String(length=80), nullable=False),
    sa.Column('submitted_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consumer_id'], ['ds_consumers.id'], name=op.f('fk_ds_applications_consumer_id_ds_consumers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ds_applications'))
    )
    with op.batch_alter_table('ds_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ds_applications_consumer_id'), ['consumer_id'], unique=False)

    op.create_table('ds_grants',
    sa.Column('id', sa.BigInteger().with_variant(sa.INTEGER(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('consumer_id', sa.BigInteger(), nullable=False),
    sa.Column('interface_code', sa.String(length=64), nullable=False),
    sa.Column('application_id', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('daily_quota', sa.Integer(), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('plain_personal', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sa.String(length=80), nullable=True),
    sa.Column('decided_at', cityos.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityos.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['ds_applications.id'], name=op.f('fk_ds_grants_application_id_ds_applications')),
    sa.ForeignKeyConstraint(['consumer_id'], ['ds_consumers.id'], name=op.f('fk_ds_grants_consumer_id_ds_consumers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ds_grants')),
    sa.UniqueConstraint('consumer_id', 'interface_code', name='uq_ds_grants_consumer_interface')
    )
    with op.batch_alter_table('ds_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ds_grants_interface_code'), ['interface_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_ds_grants_owner'), ['owner'], unique=False)
        batch_op.create_index('ix_ds_grants_owner_status', ['owner', 'status'], unique=False)

    # Indexes on the base tables the shipped interfaces look up by (plain CREATE INDEX, no table copy).
    op.create_index('ix_ds_buildings_address', 'buildings', ['address'], unique=False)

    # Indexes on the base tables the shipped interfaces look up by (plain CREATE INDEX, no table copy).
    op.create_index('ix_ds_pois_grid_category', 'pois', ['grid_code', 'category'], unique=False)

    # Indexes on the base tables the shipped interfaces look up by (plain CREATE INDEX, no table copy).
    op.create_index('ix_ds_residents_building', 'residents', ['building_id'], unique=False)

    # Indexes on the base tables the shipped interfaces look up by (plain CREATE INDEX, no table copy).
    op.create_index('ix_ds_risk_areas_grid', 'risk_areas', ['grid_code'], unique=False)



def downgrade() -> None:
    op.drop_index('ix_ds_risk_areas_grid', table_name='risk_areas')

    op.drop_index('ix_ds_residents_building', table_name='residents')

    op.drop_index('ix_ds_pois_grid_category', table_name='pois')

    op.drop_index('ix_ds_buildings_address', table_name='buildings')

    with op.batch_alter_table('ds_grants', schema=None) as batch_op:
        batch_op.drop_index('ix_ds_grants_owner_status')
        batch_op.drop_index(batch_op.f('ix_ds_grants_owner'))
        batch_op.drop_index(batch_op.f('ix_ds_grants_interface_code'))

    op.drop_table('ds_grants')
    with op.batch_alter_table('ds_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ds_applications_consumer_id'))

    op.drop_table('ds_applications')
    with op.batch_alter_table('ds_consumers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ds_consumers_node'))
        batch_op.drop_index(batch_op.f('ix_ds_consumers_department'))

    op.drop_table('ds_consumers')
    op.drop_table('ds_versions')
    with op.batch_alter_table('ds_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_ds_usage_consumer_day')

    op.drop_table('ds_usage')
    with op.batch_alter_table('ds_interfaces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ds_interfaces_owner'))

    op.drop_table('ds_interfaces')
    with op.batch_alter_table('ds_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_ds_calls_interface_at')
        batch_op.drop_index('ix_ds_calls_consumer_at')

    op.drop_table('ds_calls')
