from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow

# not_created: the station knows the person has no book yet · created: a book, no exam yet this
# year · exam_done_pending_update: examined, results not yet in the book · updated: results in
# the book (updated_on says when) · linked_vneid: updated and visible in the VNeID app.
RECORD_STATUSES = ("not_created", "created", "exam_done_pending_update", "updated", "linked_vneid")


class HealthRecord(Base):
    """Status of one person's electronic health book — never its medical content.

    Found by keyed hash of the CCCD; the birth date is checked through a second keyed hash of
    CCCD and birth date, so a lookup compares two hashes whether or not the person exists.
    """

    __tablename__ = "health_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    cccd_hash: Mapped[str] = mapped_column(String(64), unique=True)
    identity_hash: Mapped[str] = mapped_column(String(64))
    # Encrypted copies for authorised staff and for key rotation (the hashes are recomputed).
    cccd_enc: Mapped[str] = mapped_column(String(200))
    birth_date_enc: Mapped[str] = mapped_column(String(200))
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    updated_on: Mapped[date | None] = mapped_column(Date)
    # csv | his | attendance — who said so last.
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, index=True)


class RecordImport(Base):
    """One CSV upload by station staff, with its row-by-row error report (CCCDs masked)."""

    __tablename__ = "record_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id"))
    filename: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int]
    created: Mapped[int]
    updated: Mapped[int]
    unchanged: Mapped[int]
    failed: Mapped[int]
    error_report: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    """A key for a machine client (the health information system); only its hash is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
