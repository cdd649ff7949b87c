"""volunteer recording: invitations, volunteers and their takes; plays counted per message (usage keys
hold a message key)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 21:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.core.db

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One clip residents hear per message and language: two accepted at the same moment cannot both stay.
    with op.batch_alter_table('audio_clips', schema=None) as batch_op:
        batch_op.create_index('uq_audio_clips_active_key_language', ['key', 'language'], unique=True,
                              sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
    with op.batch_alter_table('usage_counts', schema=None) as batch_op:
        batch_op.alter_column('key', existing_type=sa.String(length=16), type_=sa.String(length=64),
                              existing_nullable=False)
    op.create_table(
        'recording_invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=8), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('keys', sa.Text(), nullable=False),
        sa.Column('label', sa.String(length=120), nullable=False),
        sa.Column('max_people', sa.Integer(), nullable=False),
        sa.Column('expires_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', api.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_invitations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_recording_invitations_token_hash')),
    )
    op.create_table(
        'recording_volunteers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('invitation_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=8), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('name_enc', sa.Text(), nullable=False),
        sa.Column('phone_enc', sa.Text(), nullable=False),
        sa.Column('subject_hash', sa.String(length=64), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('skipped', sa.Text(), nullable=False),
        sa.Column('withdrawn_at', api.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['invitation_id'], ['recording_invitations.id'],
                                name=op.f('fk_recording_volunteers_invitation_id_recording_invitations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_volunteers')),
        sa.UniqueConstraint('secret_hash', name=op.f('uq_recording_volunteers_secret_hash')),
    )
    with op.batch_alter_table('recording_volunteers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_volunteers_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_volunteers_subject_hash'), ['subject_hash'], unique=False)
    op.create_table(
        'recording_takes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('volunteer_id', sa.Integer(), nullable=False),
        sa.Column('upload_id', sa.String(length=40), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('source_hash', sa.String(length=64), nullable=False),
        sa.Column('stem', sa.String(length=40), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('reviewed_by', sa.String(length=64), nullable=False),
        sa.Column('reviewed_at', api.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('clip_id', sa.Integer(), nullable=True),
        sa.Column('replaced_clip_id', sa.Integer(), nullable=True),
        sa.Column('created_at', api.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['clip_id'], ['audio_clips.id'], name=op.f('fk_recording_takes_clip_id_audio_clips'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['replaced_clip_id'], ['audio_clips.id'],
                                name=op.f('fk_recording_takes_replaced_clip_id_audio_clips'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['volunteer_id'], ['recording_volunteers.id'],
                                name=op.f('fk_recording_takes_volunteer_id_recording_volunteers'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_takes')),
        sa.UniqueConstraint('volunteer_id', 'upload_id', name=op.f('uq_recording_takes_volunteer_id')),
    )
    with op.batch_alter_table('recording_takes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_takes_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_takes_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_takes_volunteer_id'), ['volunteer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audio_clips', schema=None) as batch_op:
        batch_op.drop_index('uq_audio_clips_active_key_language')
    op.drop_table('recording_takes')
    op.drop_table('recording_volunteers')
    op.drop_table('recording_invitations')
    # Per-message play counts hold keys longer than the old column.
    op.execute("DELETE FROM usage_counts WHERE kind = 'clip_play'")
    with op.batch_alter_table('usage_counts', schema=None) as batch_op:
        batch_op.alter_column('key', existing_type=sa.String(length=64), type_=sa.String(length=16),
                              existing_nullable=False)
