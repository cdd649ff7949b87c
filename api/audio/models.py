from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, UTCDateTime, utcnow


class AudioClip(Base):
    """A recording of one message or FAQ answer in one language, stored normalised as MP3 (web, Zalo)
    and OGG/Opus (Telegram voice notes). Older clips of the same key and language stay as history."""

    __tablename__ = "audio_clips"
    # One clip residents hear per message and language (older ones stay as history, inactive).
    __table_args__ = (Index("uq_audio_clips_active_key_language", "key", "language", unique=True,
                            sqlite_where=text("active"), postgresql_where=text("active")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(8))
    mp3_name: Mapped[str] = mapped_column(String(80))
    ogg_name: Mapped[str] = mapped_column(String(80))
    duration_ms: Mapped[int]
    # Keyed to the Vietnamese text the speaker was given: when that text changes the clip is stale.
    source_hash: Mapped[str] = mapped_column(String(64))
    # Generated stand-ins in the demo data, to be replaced by real recordings.
    placeholder: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
