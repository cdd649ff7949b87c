from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class FaqHit(BaseModel):
    key: str
    question: str
    answer: str
    score: float = Field(description="0–1; the assistant treats low scores as 'not known yet'")
    language: str = Field(description="language of the answer text (falls back to vi)")
    needs_review: bool
    audio_url: str | None = None
    audio_ogg_url: str | None = None
    audio_language: str | None = Field(default=None, description="language of the recording (falls back to vi)")


class FaqOut(BaseModel):
    key: str
    category: str
    published: bool
    needs_review: bool
    source: str
    questions: list[str]
    answers: dict[str, str]
    updated_at: datetime
    effective_from: date | None = None
    expires_on: date | None = None


class FaqList(BaseModel):
    items: list[FaqOut]


class UnansweredIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)
    language: str = Field(default="vi", pattern=r"^[a-z]{2,3}$")
    channel: str = Field(default="", max_length=16)
    best_key: str | None = Field(default=None, max_length=64)
    best_score: float | None = Field(default=None, ge=0, le=1)


class UnansweredOut(BaseModel):
    id: int
    text: str
    language: str
    channel: str
    best_key: str | None
    best_score: float | None
    created_at: datetime


class UnansweredList(BaseModel):
    items: list[UnansweredOut]
