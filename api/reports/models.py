from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow


class ScamReport(Base):
    """What a resident said about a suspicious call or message (digit runs masked), for staff to act on."""

    __tablename__ = "scam_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(1000))
    channel: Mapped[str] = mapped_column(String(16), default="")
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id"), index=True)
    reviewed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

