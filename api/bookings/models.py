from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow
from common.vocabulary import ACTIVE_BOOKING_STATUSES

# The active statuses as the partial index's SQL condition: "status IN ('confirmed', 'waitlisted')", as the
# migration that created the index spells it out.
_ACTIVE = "status IN ({})".format(", ".join(f"'{status}'" for status in ACTIVE_BOOKING_STATUSES))


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # One active booking per resident, enforced by the database so that two concurrent
        # requests for the same person cannot both succeed.
        Index(
            "uq_bookings_active_resident",
            "resident_id",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index("ix_bookings_session_status", "session_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_sessions.id"))
    # NULL once the resident's personal data is erased: the booking stays as an anonymous count.
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    # confirmed | waitlisted | cancelled | attended | no_show
    status: Mapped[str] = mapped_column(String(16))
    # Why a cancelled booking is: "session" when staff cancelled the whole session (its residents are
    # told, api/notifications/dispatch.py); NULL otherwise.
    cancel_reason: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    referral_code: Mapped[str | None] = mapped_column(String(32), index=True)
    # Keyed hash of the chat that made the booking (gateway-signed): that chat may see and change
    # it by code alone; anyone else needs a second factor.
    chat_hash: Mapped[str | None] = mapped_column(String(64))
    # Another booking names the same CCCD with another birth date: the station checks the card.
    disputed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Indexed: the reminders scheduler looks for today's bookings every half minute (confirmations).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class IdempotencyKey(Base):
    """Remembers which booking a client's Idempotency-Key produced, so a retried request
    (lost reply, double tap, redelivered webhook) returns that booking instead of a new one."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
