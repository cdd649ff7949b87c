from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow


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
