"""What residents asked to be told and what was sent: reminders of their appointments, announcements of
mobile teams' visits to their commune."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
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


class AnnouncementSubscription(Base):
    """A resident's chat that asked to hear when a mobile team comes to their commune."""

    __tablename__ = "announcement_subscriptions"
    __table_args__ = (UniqueConstraint("resident_id", "address_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), index=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address_enc: Mapped[str] = mapped_column(String(300))
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8), default="vi")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Broadcast(Base):
    """An announcement to a commune's subscribers: draft → sending → done (or cancelled)."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BroadcastDelivery(Base):
    """One recipient of one broadcast, fixed when sending starts: pending → sending → sent | undeliverable
    | failed | skipped (opted out meanwhile). The unit of resuming after a crash."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (UniqueConstraint("broadcast_id", "subscription_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("announcement_subscriptions.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
