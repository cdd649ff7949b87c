from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow


class ReminderSubscription(Base):
    """Where a resident who said yes to reminders is reached: their chat on a channel, encrypted.
    Deleted when they stop reminders, withdraw that consent or are erased."""

    __tablename__ = "reminder_subscriptions"
    __table_args__ = (UniqueConstraint("resident_id", "address_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # telegram | zalo
    address_enc: Mapped[str] = mapped_column(String(300))
    # Keyed hash of "channel:chat id": a chat can stop its reminders without anyone decrypting anything.
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8), default="vi")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReminderLog(Base):
    """One reminder of one appointment: claimed before it is sent, so it is sent once; kept after
    sending (without any address) for the reports. A rescheduled appointment gets new reminders."""

    __tablename__ = "reminder_log"
    __table_args__ = (UniqueConstraint("booking_id", "kind", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # day_before | two_hours | followup
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    # sending → sent | retry (→ sending) | undeliverable
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
