from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.communes.schemas import SiteOut
from api.core.types import DbId, PlausibleDateTime

TargetGroup = Literal[
    "general", "elderly", "children", "students", "pregnant", "workers", "chronic", "disabled", "poor",
]


class SessionOut(BaseModel):
    id: int
    starts_at: datetime
    ends_at: datetime
    site: SiteOut
    capacity: int
    booked: int
    available: int
    waitlisted: int
    target_groups: list[str]
    note: str
    status: Literal["open", "cancelled"]


class SessionList(BaseModel):
    items: list[SessionOut]


class SessionCreate(BaseModel):
    site_id: DbId
    starts_at: PlausibleDateTime
    ends_at: PlausibleDateTime
    capacity: int = Field(ge=1, le=5000)
    target_groups: list[TargetGroup] = Field(default_factory=list, max_length=10)
    note: str = Field(default="", max_length=500)


class SessionUpdate(BaseModel):
    starts_at: PlausibleDateTime | None = None
    ends_at: PlausibleDateTime | None = None
    capacity: int | None = Field(default=None, ge=0, le=5000)
    target_groups: list[TargetGroup] | None = Field(default=None, max_length=10)
    note: str | None = Field(default=None, max_length=500)
    status: Literal["open", "cancelled"] | None = None


class RosterEntry(BaseModel):
    code: str
    status: str
    full_name: str
    birth_year: int | None
    cccd_masked: str
    phone_masked: str
    channel: str
    waitlist_position: int | None


class Roster(BaseModel):
    session: SessionOut
    items: list[RosterEntry]
