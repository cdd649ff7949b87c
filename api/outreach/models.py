from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow

# The mass organisations whose cadres bring people to the programme (reference plan, section 3).
ORGANISATIONS = {
    "phu_nu": ("PN", "Hội Liên hiệp Phụ nữ"),
    "thanh_nien": ("DTN", "Đoàn Thanh niên"),
    "nong_dan": ("ND", "Hội Nông dân"),
    "cuu_chien_binh": ("CCB", "Hội Cựu chiến binh"),
    "mat_tran": ("MT", "Mặt trận Tổ quốc"),
}


class ReferralLink(Base):
    """A cadre's personal booking link for one organisation and commune."""

    __tablename__ = "referral_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    organisation: Mapped[str] = mapped_column(String(24), index=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"), index=True)
    cadre_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferralCount(Base):
    """How many times a link was opened or started a chat on a day: counts only, never who."""

    __tablename__ = "referral_counts"
    __table_args__ = (UniqueConstraint("link_id", "day", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("referral_links.id", ondelete="CASCADE"))
    day: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16))  # opened | chat_started
    count: Mapped[int] = mapped_column(default=0)
