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
    totp_enabled: bool


class StaffCreate(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-zA-Z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: Role
    full_name: str = Field(default="", max_length=100)
    commune_id: DbId | None = Field(default=None, description="bắt buộc với tài khoản trạm y tế (station)")


class StaffUpdate(BaseModel):
    role: Role | None = None
    full_name: str | None = Field(default=None, max_length=100)
    commune_id: DbId | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200)
    totp_enabled: Literal[False] | None = Field(
        default=None, description="false: tắt mã xác thực của người mất điện thoại (họ sẽ cài lại)")


class StaffList(BaseModel):
    items: list[StaffOut]


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


class TotpSetupOut(BaseModel):
    secret: str = Field(description="nhập vào ứng dụng xác thực nếu không quét được mã QR")
    otpauth_uri: str
    qr_svg: str = Field(description="mã QR của otpauth_uri, dạng SVG")


class TotpCodeIn(BaseModel):
    # Six digits as the app shows them; a space or dash in the middle is forgiven.
    code: str = Field(min_length=6, max_length=7, pattern=r"^\d{3}[ -]?\d{3}$")


class TotpStatus(BaseModel):
    totp_enabled: bool
