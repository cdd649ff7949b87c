from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Organisation = Literal["phu_nu", "thanh_nien", "nong_dan", "cuu_chien_binh", "mat_tran"]


class LinkIn(BaseModel):
    organisation: Organisation
    commune_id: int = Field(ge=1, le=2**31 - 1)
    label: str = Field(default="", max_length=100)


class LinkUpdate(BaseModel):
    active: bool


class Funnel(BaseModel):
    """Opened → chat started → booked → attended; counts only."""

    opened: int = 0
    chat_started: int = 0
    booked: int = 0
    attended: int = 0


class LinkOut(BaseModel):
    code: str
    organisation: str
    organisation_name: str
    commune_id: int
    commune: str
    label: str
    active: bool
    created_at: datetime
    short_url: str
    qr_png_url: str
    qr_svg_url: str
    share_text: str
    funnel: Funnel


class LinkList(BaseModel):
    items: list[LinkOut]


class SummaryRow(BaseModel):
    key: str
    name: str
    links: int
    funnel: Funnel


class Summary(BaseModel):
    organisations: list[SummaryRow]
    communes: list[SummaryRow]
    total: Funnel


class EventIn(BaseModel):
    kind: Literal["opened", "chat_started"]
