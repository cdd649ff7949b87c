"""staff accounts: token versions, logged-out tokens, second factor (TOTP)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Station accounts without a commune are left as they are: the code treats them as having no
    # access until an admin sets their commune (or switches them off).
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('totp_secret_enc', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))

    op.create_table('staff_token_revocations',
    sa.Column('jti', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], name=op.f('fk_staff_token_revocations_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_staff_token_revocations'))
    )
    with op.batch_alter_table('staff_token_revocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_token_revocations_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_token_revocations_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_token_revocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_token_revocations_user_id'))
        batch_op.drop_index(batch_op.f('ix_staff_token_revocations_expires_at'))

    op.drop_table('staff_token_revocations')
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enabled')
        batch_op.drop_column('totp_secret_enc')
        batch_op.drop_column('token_version')
