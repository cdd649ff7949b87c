from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.types import DbId

CommuneKind = Literal["xa", "phuong", "dac_khu"]
SiteKind = Literal["station", "hospital", "mobile"]

KIND_LABELS = {"xa": "xã", "phuong": "phường", "dac_khu": "đặc khu"}


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


class SiteList(BaseModel):
    items: list[SiteOut]


class SiteCreate(BaseModel):
    commune_id: DbId
    name: str = Field(min_length=2, max_length=200)
    kind: SiteKind
    address: str = Field(default="", max_length=300)
    phone: str = Field(default="", max_length=20)


class SiteUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=2, max_length=200)
    kind: SiteKind | None = None
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=20)
    active: bool | None = None
