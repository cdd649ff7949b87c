from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.core.clock import to_local
from api.deps import CryptoDep, DatabaseDep, SettingsDep
from api.identity.schemas import IdentityIn
from api.identity.service import Identity, counted_check
from api.privacy import service
from api.records.service import status_labels
from api.security.origin import ResidentOrigin

router = APIRouter(tags=["privacy"])


class HeldBookingOut(BaseModel):
    code: str
    status: str
    starts_at: datetime


class HeldConsentOut(BaseModel):
    purpose: str
    notice_version: str
    given_at: datetime
    withdrawn_at: datetime | None


class HeldDataOut(BaseModel):
    found: bool = Field(description="false khi không khớp — không phân biệt 'không có' với 'sai ngày sinh'")
    full_name: str | None = None
    phone_masked: str | None = None
    birth_year: int | None = None
    commune: str | None = None
    record_status: str | None = None
    record_label: str | None = None
    bookings: list[HeldBookingOut] = []
    consents: list[HeldConsentOut] = []


@router.post("/privacy/held-data", response_model=HeldDataOut, responses={429: {"description": "tạm khóa"}})
def held_data(body: IdentityIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
              settings: SettingsDep) -> HeldDataOut:
    """What we hold about the person with this CCCD and birth date, for that person."""

    def summarise(db: Session, identity: Identity) -> HeldDataOut:
        data = service.held_data(db, crypto, identity)
        return HeldDataOut(
            found=data.found, full_name=data.full_name, phone_masked=data.phone_masked, birth_year=data.birth_year,
            commune=data.commune, record_status=data.record_status,
            record_label=status_labels(db)[data.record_status] if data.record_status else None,
            bookings=[HeldBookingOut(code=b.code, status=b.status, starts_at=to_local(b.starts_at))
                      for b in data.bookings],
            consents=[HeldConsentOut(purpose=c.purpose, notice_version=c.notice_version, given_at=to_local(c.given_at),
                                     withdrawn_at=to_local(c.withdrawn_at) if c.withdrawn_at else None)
                      for c in data.consents],
        )

    return counted_check(database, crypto, settings, origin, action="privacy.held_data", cccd=body.cccd,
                         birth_date=body.birth_date, then=summarise)


class WithdrawIn(IdentityIn):
    purpose: Literal["record_lookup", "reminders", "announcements", "booking"]


class WithdrawOut(BaseModel):
    withdrawn: int


@router.post("/privacy/withdraw", response_model=WithdrawOut, responses={429: {"description": "tạm khóa"}})
def withdraw(body: WithdrawIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
             settings: SettingsDep) -> WithdrawOut:
    """Withdraw consent for one purpose (booking consent is withdrawn by erasing: see /privacy/erase)."""
    if body.purpose == "booking":
        raise service.BookingConsentIsErasure()
    return counted_check(
        database, crypto, settings, origin, action="privacy.withdraw", cccd=body.cccd, birth_date=body.birth_date,
        then=lambda db, identity: WithdrawOut(withdrawn=service.withdraw(db, identity, purpose=body.purpose)))


class ErasedOut(BaseModel):
    erased: bool = Field(description="false khi thông tin không khớp (không nói rõ vì sao)")
    bookings_cancelled: int
    bookings_anonymised: int


@router.post("/privacy/erase", response_model=ErasedOut, responses={429: {"description": "tạm khóa"}})
def erase(body: IdentityIn, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
          settings: SettingsDep) -> ErasedOut:
    """Erase the personal data of the person with this CCCD and birth date: active bookings are
    cancelled, bookings stay only as anonymous counts, consents and e-book status are deleted."""

    def run(db: Session, identity: Identity) -> ErasedOut:
        erased = service.erase(db, identity)
        return ErasedOut(erased=identity.matched, bookings_cancelled=erased.bookings_cancelled,
                         bookings_anonymised=erased.bookings_anonymised)

    return counted_check(database, crypto, settings, origin, action="privacy.erase", cccd=body.cccd,
                         birth_date=body.birth_date, then=run)
