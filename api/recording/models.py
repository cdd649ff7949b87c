"""Volunteer recording: invitations staff hand out, the people who answer them, and their takes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow

# What an invitation lets its holder do: record takes in its language, or review others' takes in it.
PURPOSES = ("record", "review")
# A take's life: waiting for a reviewer, published (or once published), refused with a reason, or taken
# back by its speaker (consent withdrawn: unpublished, the recording deleted).
TAKE_STATES = ("in_review", "accepted", "rejected", "withdrawn")


class RecordingInvitation(Base):
    """A link (and its QR code) that opens the recording or review page for one language without a staff
    account. Only a keyed hash of the link's secret is kept: the database cannot rebuild a live link."""

    __tablename__ = "recording_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(8))
    # Space-separated message keys the holder is asked for; empty: whatever the language is missing.
    keys: Mapped[str] = mapped_column(Text, default="")
    # Staff's label ("Cô giáo Lý Thị Mai, Hữu Liên"); also shown to the volunteer as the campaign's note.
    label: Mapped[str] = mapped_column(String(120), default="")
    max_people: Mapped[int] = mapped_column(default=20)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Volunteer(Base):
    """Someone who opened an invitation and agreed to its notice. Name and phone are encrypted (credit and
    contact) and never verified, so they tie nothing together: each joining is its own volunteer, with its
    own takes, consent and withdrawal. The browser holds a secret whose hash is kept."""

    __tablename__ = "recording_volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("recording_invitations.id", ondelete="CASCADE"),
                                               index=True)
    role: Mapped[str] = mapped_column(String(8))  # an invitation's purpose: record | review
    language: Mapped[str] = mapped_column(String(8))
    name_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str] = mapped_column(Text)
    # What their consent is filed under (api.recording.service.consent_subject): this volunteer, keyed.
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Keys this person chose to skip: not offered to them again.
    skipped: Mapped[str] = mapped_column(Text, default="")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Take(Base):
    """One recording of one message by one volunteer, normalised like every clip. Until it is accepted its
    files are encrypted (a voice is personal data) and only reviewers and its speaker can hear it."""

    __tablename__ = "recording_takes"
    __table_args__ = (UniqueConstraint("volunteer_id", "upload_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("recording_volunteers.id", ondelete="CASCADE"), index=True)
    # Chosen by the phone for each take: a retried upload is the same take, never a second one.
    upload_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8))
    # The Vietnamese text the speaker was shown: a take of an older text is never published.
    source_hash: Mapped[str] = mapped_column(String(64))
    stem: Mapped[str] = mapped_column(String(40))  # the encrypted files' name under audio_dir/takes
    duration_ms: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="in_review", index=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    reviewed_by: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Once published: the clip it became, and the clip it replaced (restored if the speaker withdraws).
    clip_id: Mapped[int | None] = mapped_column(ForeignKey("audio_clips.id", ondelete="SET NULL"))
    replaced_clip_id: Mapped[int | None] = mapped_column(ForeignKey("audio_clips.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
