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
    # The delivery plan's steps tried before the current one and why each did not reach the resident,
    # e.g. "chat:outside_window zns:phone_not_on_zalo" (api/notifications/plan.py); `channel` is the
    # step in hand (chat channel, zns or sms).
    trail: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # Zalo's confirmation that the ZNS message reached the phone (its `user_received_message` event)
    # or the SMS provider's delivery report.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ReminderTemplate(Base):
    """How a kind of message (a reminder, the booking confirmation) goes out when the chat cannot carry
    it: the ZNS template Zalo approved for the OA, which of our fields fills each of its parameters, and
    the SMS text. Edited by staff in the studio; a kind without a row uses the defaults in
    api/notifications/templates.py."""

    __tablename__ = "reminder_templates"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Empty: no approved template yet, the plan goes from the chat to SMS.
    zns_template_id: Mapped[str] = mapped_column(String(32), default="")
    # JSON object: ZNS parameter name -> our field ("when", "place", "code"…).
    zns_params: Mapped[str] = mapped_column(Text, default="{}")
    sms_text: Mapped[str] = mapped_column(String(480), default="")
    updated_by: Mapped[str] = mapped_column(String(64), default="")
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
