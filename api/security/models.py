from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow


class ServiceCredential(Base):
    """A secret that makes a request count as coming from our own action server (or an outside
    check acting as it). Only its SHA-256 is kept: it is long and random, so no salt or slow hash
    is needed, and it survives a master-key rotation."""

    __tablename__ = "service_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SecurityAlert(Base):
    """Something staff should look at: a session filling faster than people type, two bookings
    under one CCCD with different birth dates, a flood of failed identity checks."""

    __tablename__ = "security_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # booking_burst | identity_dispute | identity_flood | person_targeted | phone_clash | code_guessing
    kind: Mapped[str] = mapped_column(String(32))
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_sessions.id", ondelete="CASCADE"))
    # One open alert per subject: repeats raise its count instead of flooding the list.
    subject: Mapped[str] = mapped_column(String(80), index=True)
    count: Mapped[int] = mapped_column(default=1)
    # Vietnamese, for staff; never personal data (codes and counts only).
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class Throttle(Base):
    """Attempt counter and lockout for one subject of identity checks.

    Subjects are a kind and a keyed hash (`chat:…`, `addr:…`, `cccd:…`, `book-chat:…`) or `global`;
    nothing here is readable without the key. `lockouts` grows with each lockout so repeated attacks
    wait longer each time.
    """

    __tablename__ = "throttles"

    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    lockouts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
