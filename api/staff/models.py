from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow

ROLES = ("admin", "editor", "station", "cadre")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(16))
    # Station staff manage only their commune's sites, sessions and people; a station account
    # without one (rows older than that rule) can do nothing until an admin sets it.
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Every token carries the version it was issued under; raising it (a new password) ends every
    # session of the account at once.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # Second factor: the authenticator secret, encrypted; enabled once a first code confirmed it.
    totp_secret_enc: Mapped[str | None] = mapped_column(String(300))
    totp_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The last time step whose code was accepted: a code seen once is never accepted again.
    totp_last_step: Mapped[int | None]


class RevokedToken(Base):
    """A token ended by logging out before it expired. Kept until it would have expired anyway."""

    __tablename__ = "staff_token_revocations"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
