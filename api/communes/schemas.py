from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.types import DbId

CommuneKind = Literal["xa", "phuong", "dac_khu"]
SiteKind = Literal["station", "hospital", "mobile"]

KIND_LABELS = {"xa": "xã", "phuong": "phường", "dac_khu": "đặc khu"}

# WGS84 degrees as numbers: strict, so "21.7" (a string), true or NaN is a 422, not a guess.
Latitude = Annotated[float, Field(ge=-90, le=90, strict=True, allow_inf_nan=False, examples=[21.7042])]
Longitude = Annotated[float, Field(ge=-180, le=180, strict=True, allow_inf_nan=False, examples=[106.3517])]


class CommuneOut(BaseModel):
    id: int
    code: str
    name: str
    kind: CommuneKind
    full_name: str = Field(description="Tên có cấp hành chính, ví dụ 'xã Hữu Liên'")
    province: str


class CommuneList(BaseModel):
    items: list[CommuneOut]


class CommuneCreate(BaseModel):
    province_code: str = Field(min_length=1, max_length=8)
    province_name: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=16)
    name: str = Field(min_length=1, max_length=100)
    kind: CommuneKind = "xa"


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    commune_id: DbId
    commune_name: str
    name: str
    kind: SiteKind
    address: str
    phone: str
    active: bool


class SiteDetail(SiteOut):
    """A site as the sites endpoints show it: with its position (sessions carry the plain `SiteOut`)."""

    latitude: float | None
    longitude: float | None


class SiteList(BaseModel):
    items: list[SiteDetail]


class SiteCreate(BaseModel):
    commune_id: DbId
    name: str = Field(min_length=2, max_length=200)
    kind: SiteKind
    address: str = Field(default="", max_length=300)
    phone: str = Field(default="", max_length=20)
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class SiteUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=2, max_length=200)
    kind: SiteKind | None = None
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=20)
    active: bool | None = None
    # Both together; both null clears the position.
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class NearestQuery(BaseModel):
    """A resident's shared location, as the gateway passes it on: used for one answer, kept nowhere."""

    latitude: Latitude
    longitude: Longitude
    limit: int = Field(default=3, ge=1, le=5, strict=True)


class NextSession(BaseModel):
    session_id: int
    starts_at: datetime
    ends_at: datetime
    seats_left: int


class NearSite(BaseModel):
    site_id: int
    name: str
    address: str
    phone: str
    commune_id: int
    commune_name: str
    distance_km: float = Field(description="Khoảng cách đường chim bay, làm tròn 0,1 km")
    next_sessions: list[NextSession]


class NearestSites(BaseModel):
    sites: list[NearSite]
