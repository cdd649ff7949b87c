from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.types import DbId

Role = Literal["admin", "editor", "station", "cadre"]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: Role


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    role: Role
    commune_id: int | None
    active: bool


class StaffCreate(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-zA-Z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: Role
    full_name: str = Field(default="", max_length=100)
    commune_id: DbId | None = None


class StaffUpdate(BaseModel):
    role: Role | None = None
    full_name: str | None = Field(default=None, max_length=100)
    commune_id: DbId | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200)


class StaffList(BaseModel):
    items: list[StaffOut]
