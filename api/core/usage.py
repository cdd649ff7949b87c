"""Daily usage counts for the reports: questions asked per channel, audio plays per language.

Counted where the use happens (FAQ search, audio files) and read by the reports, so the table lives
below both."""

from __future__ import annotations

from datetime import date

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.core.clock import local_today
from api.core.counters import increment
from api.core.db import Base


class UsageCount(Base):
    """Daily counts: questions asked per channel, audio plays per language and per message. No text, no who."""

    __tablename__ = "usage_counts"
    __table_args__ = (UniqueConstraint("day", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16))  # question | audio_play | clip_play
    key: Mapped[str] = mapped_column(String(64))   # a channel, a language, or a message key
    count: Mapped[int] = mapped_column(default=0)


def count_use(db: Session, *, kind: str, key: str) -> None:
    """One more use of `kind` (question | audio_play | clip_play) for `key` today, in the caller's transaction."""
    increment(db, UsageCount, {"day": local_today(), "kind": kind, "key": key})
