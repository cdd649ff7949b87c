"""service credentials, security alerts, booking chat and dispute, resident phone hash and claims

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 03:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('service_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', api.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_credentials')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_service_credentials_secret_hash'))
    )
    with op.batch_alter_table('service_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_credentials_name'), ['name'], unique=False)

    op.create_table('security_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('commune_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('created_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', api.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['commune_id'], ['communes.id'], name=op.f('fk_security_alerts_commune_id_communes'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_sessions.id'],
                            name=op.f('fk_security_alerts_session_id_exam_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_alerts'))
    )
    with op.batch_alter_table('security_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_alerts_commune_id'), ['commune_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_alerts_subject'), ['subject'], unique=False)

    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('disputed', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('claim_of', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_residents_phone_hash'), ['phone_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_residents_claim_of'), ['claim_of'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_residents_claim_of'))
        batch_op.drop_index(batch_op.f('ix_residents_phone_hash'))
        batch_op.drop_column('claim_of')
        batch_op.drop_column('phone_hash')

    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('disputed')
        batch_op.drop_column('chat_hash')

    with op.batch_alter_table('security_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_alerts_subject'))
        batch_op.drop_index(batch_op.f('ix_security_alerts_commune_id'))
    op.drop_table('security_alerts')

    with op.batch_alter_table('service_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_credentials_name'))
    op.drop_table('service_credentials')
