from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow

# "voice": a volunteer's recordings published; "voice_review": a volunteer reviewer's name and phone kept.
CONSENT_PURPOSES = ("booking", "record_lookup", "reminders", "announcements", "voice", "voice_review")


class Consent(Base):
    """One explicit "yes" to one purpose, with the version of the notice the person was shown.

    The subject is the keyed hash of the CCCD, so consent for a record lookup is kept even for
    someone who never booked; withdrawal stamps `withdrawn_at` rather than deleting the proof.
    """

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who said yes, and how: the person in the chat ("self"), a relative booking for them in the chat
    # ("relative"), or the person in front of a cadre or station worker who recorded it ("cadre",
    # "station"; `method` in_person, phone or paper; `recorded_by` the staff account).
    given_by: Mapped[str] = mapped_column(String(16), default="self", server_default="self")
    method: Mapped[str] = mapped_column(String(16), default="chat", server_default="chat")
    recorded_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # For reminders: the ways the notice named and the person accepted, space-separated ("chat zns
    # sms"). A consent given before the notice named ZNS and SMS is empty: the chat only.
    channels: Mapped[str] = mapped_column(String(32), default="", server_default="")
