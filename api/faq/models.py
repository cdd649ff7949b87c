from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.core.db import Base, UTCDateTime, utcnow


class FaqEntry(Base):
    """One informational answer, found by its question variants; staff change it without retraining."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    published: Mapped[bool] = mapped_column(default=True)
    # True where the reference documents are silent and a health worker should confirm the text.
    needs_review: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(300), default="")
    # A policy answer may apply from a date, or only until one (e.g. a campaign's closing day).
    effective_from: Mapped[date | None]
    expires_on: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    questions: Mapped[list[FaqQuestion]] = relationship(
        cascade="all, delete-orphan", order_by="FaqQuestion.id", lazy="selectin")
    answers: Mapped[list[FaqAnswer]] = relationship(
        cascade="all, delete-orphan", order_by="FaqAnswer.id", lazy="selectin")


class FaqQuestion(Base):
    __tablename__ = "faq_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    faq_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="vi")
    text: Mapped[str] = mapped_column(String(300))


class FaqAnswer(Base):
    __tablename__ = "faq_answers"
    __table_args__ = (UniqueConstraint("faq_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    faq_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)


class UnansweredQuestion(Base):
    """A question the bot could not answer confidently, kept for staff (digits masked)."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(8), default="vi")
    channel: Mapped[str] = mapped_column(String(16), default="")
    best_key: Mapped[str | None] = mapped_column(String(64))
    best_score: Mapped[float | None]
    resolved: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
