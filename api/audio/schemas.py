from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ClipOut(BaseModel):
    id: int
    key: str
    language: str
    mp3_url: str
    ogg_url: str
    duration_s: float
    placeholder: bool
    stale: bool
    uploaded_by: str
    created_at: datetime


class ClipList(BaseModel):
    items: list[ClipOut]


class CoverageRow(BaseModel):
    key: str
    kind: str
    text: str
    cells: dict[str, str] = Field(description="language → recorded | stale | placeholder | missing")


class Coverage(BaseModel):
    languages: list[str]
    rows: list[CoverageRow]


class SpeechIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


class SpeechOut(BaseModel):
    mp3_url: str
    ogg_url: str
    engine: str
