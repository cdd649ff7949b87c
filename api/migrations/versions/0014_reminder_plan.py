"""reminders that arrive: the delivery plan's trail and delivery time on each reminder, the channels a
reminders consent names, the ZNS/SMS templates per message kind, and the bookings a cancelled session
cancelled

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reminder_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trail', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('delivered_at', api.core.db.UTCDateTime(timezone=True), nullable=True))
    # Consents given before: empty, the chat only (their notice named nothing else).
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channels', sa.String(length=32), server_default='', nullable=False))
    # A session cancelled by staff marks its bookings (its residents are told); today's bookings are
    # found by their creation time (confirmations).
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_bookings_created_at'), ['created_at'], unique=False)
    op.create_table(
        'reminder_templates',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('zns_template_id', sa.String(length=32), nullable=False),
        sa.Column('zns_params', sa.Text(), nullable=False),
        sa.Column('sms_text', sa.String(length=480), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_reminder_templates')),
    )


def downgrade() -> None:
    op.drop_table('reminder_templates')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bookings_created_at'))
        batch_op.drop_column('cancel_reason')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('channels')
    with op.batch_alter_table('reminder_log', schema=None) as batch_op:
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('trail')
