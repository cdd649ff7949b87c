from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow

# Shown to staff in place of a resident who had their personal data erased (the booking stays a count).
ERASED_NAME = "(đã xóa theo yêu cầu)"


class Resident(Base):
    """A person who booked. CCCD, phone and birth date are never stored in plain text:
    the CCCD is found by keyed hash; the encrypted copies are for authorised staff."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    cccd_hash: Mapped[str] = mapped_column(String(64), unique=True)
    cccd_enc: Mapped[str] = mapped_column(String(200))
    birth_date_enc: Mapped[str] = mapped_column(String(200))
    # The year alone is kept for age-group reports (elderly priority group).
    birth_year: Mapped[int]
    full_name: Mapped[str] = mapped_column(String(100))
    phone_enc: Mapped[str] = mapped_column(String(200))
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"), index=True)
    # Keyed hash of the phone: one active booking per phone number (a station may override).
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # A booking under a CCCD already on file with another birth date is a *claim*: its own row,
    # found by the keyed hash of CCCD and birth date together (in `cccd_hash`), linked here to the
    # CCCD's hash. Neither claimant can lock the other out; the station sees the card and decides.
    claim_of: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
