from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from api.consent.service import NOTICE_VERSION_PATTERN
from api.core.types import DbId, PlausibleDate
from api.sessions.schemas import SessionOut

BookingStatus = Literal["confirmed", "waitlisted", "cancelled", "attended", "no_show"]


class ResidentIn(BaseModel):
    full_name: str = Field(min_length=1, max_length=200)
    birth_date: PlausibleDate
    cccd: str = Field(min_length=1, max_length=40, description="12 chữ số")
    phone: str = Field(min_length=1, max_length=30)
    commune_id: DbId


class BookingCreate(BaseModel):
    session_id: DbId
    resident: ResidentIn
    channel: str = Field(default="api", pattern=r"^[a-z_]{2,16}$")
    referral_code: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
    consent_notice: str | None = Field(
        default=None, pattern=NOTICE_VERSION_PATTERN,
        description="phiên bản thông báo xử lý dữ liệu mà người dân đã đồng ý (lưu cùng thời điểm đồng ý)")
    consent_given_by: Literal["self", "relative"] = Field(
        default="self", description="người trả lời đồng ý trong cuộc trò chuyện: chính người đi khám hay người thân")


class OnBehalfCreate(BookingCreate):
    """A cadre or station worker books for someone in front of them (or on the phone)."""

    consent_notice: str = Field(pattern=NOTICE_VERSION_PATTERN)
    consent_method: Literal["in_person", "phone", "paper"]
    shared_phone: bool = Field(
        default=False, description="trạm y tế cho phép dùng chung số điện thoại đã có lịch hẹn (vợ chồng, cha mẹ già)")
    reminders_notice: str | None = Field(
        default=None, pattern=NOTICE_VERSION_PATTERN,
        description="người đi khám đồng ý nhận xác nhận và tin nhắc lịch qua Zalo (ZNS) hoặc SMS đến số điện thoại "
                    "này: phiên bản thông báo đã đọc cho họ; bỏ trống nếu họ không đồng ý")


class BulkCancelIn(BaseModel):
    """Bookings a station cancels at once (a flood of fake bookings): listed codes, or every active
    booking of the session made in a time window, optionally through one channel."""

    codes: list[str] = Field(default_factory=list, max_length=500)
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    channel: str | None = Field(default=None, pattern=r"^[a-z_]{2,16}$")


class BulkCancelOut(BaseModel):
    cancelled: int
    codes: list[str]


class RescheduleIn(BaseModel):
    session_id: DbId


class AttendanceIn(BaseModel):
    attended: bool


class ResidentSummary(BaseModel):
    full_name: str
    phone_masked: str


class BookingOut(BaseModel):
    code: str
    status: BookingStatus
    session_id: DbId
    session: SessionOut
    waitlist_position: int | None = Field(description="vị trí trong danh sách chờ, nếu đang chờ")
    resident: ResidentSummary
    channel: str
    referral_code: str | None
    created_at: datetime
