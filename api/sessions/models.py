from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.communes.models import Site
from api.core.db import Base, UTCDateTime, utcnow


class ExamSession(Base):
    """One exam slot block at a site. `booked` counts confirmed seats; the CHECK constraint
    is the last line of defence against overbooking, under the conditional UPDATE."""

    __tablename__ = "exam_sessions"
    __table_args__ = (
        CheckConstraint("booked >= 0 AND booked <= capacity", name="seats"),
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("ends_at > starts_at", name="times"),
        Index("ix_exam_sessions_starts_at_site", "starts_at", "site_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int]
    booked: Mapped[int] = mapped_column(default=0)
    waitlisted: Mapped[int] = mapped_column(default=0)
    target_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    site: Mapped[Site] = relationship(lazy="joined")
