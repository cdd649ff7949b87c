from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.core.types import DbId


class ScamReportIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    channel: str = Field(default="", pattern=r"^[a-z_]{0,16}$")
    commune_id: DbId | None = None


class ScamReportOut(BaseModel):
    id: int
    text: str
    channel: str
    commune_id: int | None
    reviewed: bool
    created_at: datetime


class ScamReportList(BaseModel):
    items: list[ScamReportOut]
