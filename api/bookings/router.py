from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.bookings import access, service
from api.bookings.schemas import (
    AttendanceIn,
    BookingCreate,
    BookingOut,
    BulkCancelIn,
    BulkCancelOut,
    OnBehalfCreate,
    RescheduleIn,
)
from api.core.clock import local_today
from api.core.db import Database, utcnow
from api.core.errors import Forbidden
from api.core.metrics import BOOKINGS
from api.core.rawsql import Raw
from api.core.types import IdInPath
from api.deps import CryptoDep, DatabaseDep, SettingsDep, StationUser, require_roles
from api.identity.service import Limits
from api.security import limits, quotas
from api.security.origin import Origin, ResidentOrigin
from api.staff.models import StaffUser

router = APIRouter(tags=["bookings"])


class StaffBookOnBehalf(Forbidden):
    code = "use_on_behalf"
    message = "Cán bộ đặt lịch giúp người dân bằng chức năng đặt hộ, để ghi nhận sự đồng ý của họ."

OutreachUser = Annotated[StaffUser, Depends(require_roles("admin", "cadre", "station"))]
Verifier = Annotated[str | None, Header(alias=access.HEADER, max_length=20,
                                        description="3 số cuối số điện thoại hoặc ngày sinh (YYYY-MM-DD)")]


@router.post(
    "/bookings", response_model=BookingOut, status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "đã có lịch hẹn đang hoạt động"}, 429: {"description": "quá nhiều lịch hẹn"}},
)
async def create_booking(
    body: BookingCreate,
    origin: ResidentOrigin,
    database: DatabaseDep,
    crypto: CryptoDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """A booking from a chat, made by our action server (service credential + gateway-signed chat)."""
    if origin.staff is not None:
        raise StaffBookOnBehalf()
    guard = service.Guard(origin=origin, identity=Limits.from_settings(settings),
                          burst_per_minute=settings.booking_burst_alert_per_minute,
                          quotas=quotas.booking_quotas(settings, crypto, origin))
    key = service.check_idempotency_key(idempotency_key)

    def make(db: Session, key: str | None, today: date) -> service.BookingResult:
        return service.book(db=db, crypto=crypto, body=body, idempotency_key=key, today=today, guard=guard)

    return await _book(database, key, make, guard.quotas)


@router.post(
    "/bookings/on-behalf", response_model=BookingOut, status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "đã có lịch hẹn đang hoạt động"}},
)
async def book_on_behalf(
    body: OnBehalfCreate,
    staff: OutreachUser,
    database: DatabaseDep,
    crypto: CryptoDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """A cadre or station worker books for an elderly person with that person's consent (in person, by
    phone or on paper), filed with the staff account and audited."""
    key = service.check_idempotency_key(idempotency_key)
    staff_quotas = quotas.booking_quotas(settings, crypto, Origin(credential=None, staff=staff, chat=None))

    def make(db: Session, key: str | None, today: date) -> service.BookingResult:
        return service.book_on_behalf(db=db, crypto=crypto, actor=staff, body=body, idempotency_key=key, today=today,
                                      identity=Limits.from_settings(settings),
                                      burst_per_minute=settings.booking_burst_alert_per_minute, quotas=staff_quotas)

    return await _book(database, key, make, staff_quotas)


async def _book(database: Database, key: str | None, make: Callable[[Session, str | None, date], service.BookingResult],
                quotas: dict[str, limits.Rule]) -> Response:
    today = local_today()

    def attempt() -> service.BookingResult:
        with database.write() as db:
            return make(db, key, today)


    try:
        for tries_left in (2, 1, 0):
            try:
                result = await database.run(attempt)
                break
            except IntegrityError:
                # Lost a race to a concurrent request with the same key or for the same person or claim
                # (PostgreSQL): the retry sees what won and replays it, books a claim or answers 409.
                if not tries_left:
                    raise
    except service.PhoneHasActiveBooking as clash:
        await database.run(partial(_after_phone_clash, database, clash, quotas))
        raise
    # The model was built and validated by the service: serialise it directly rather than have
    # FastAPI validate it a second time against response_model (hot path of booking bursts).
    BOOKINGS.labels("replayed" if result.replayed else result.out.status).inc()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(result.out.model_dump_json(), status_code=201, media_type="application/json", headers=headers)


def _after_phone_clash(database: Database, clash: service.PhoneHasActiveBooking, quotas: dict[str, limits.Rule]
                      ) -> None:
    """The refused booking's transaction was rolled back: the station's alert is filed, and the attempt
    spends the caller's booking quota, so probing which phones have a booking costs like booking."""
    with database.write() as db:
        service.alert_phone_clash(db, clash)
        limits.take(Raw(db.connection()), quotas, utcnow())


@router.get("/bookings/{code}", response_model=BookingOut,
            responses={404: {"description": "không có mã này, hoặc thiếu/sai yếu tố xác minh"}})
def get_booking(code: str, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep, settings: SettingsDep,
                verifier: Verifier = None) -> BookingOut:
    """A booking by its code, for the chat that made it, or with the phone's last 3 digits or the birth date."""
    return access.act_on(database, crypto, settings, origin, code, verifier,
                         lambda db, booking: service.booking_out(db, crypto, booking))


@router.post("/bookings/{code}/cancel", response_model=BookingOut)
def cancel_booking(code: str, origin: ResidentOrigin, database: DatabaseDep, crypto: CryptoDep,
                   settings: SettingsDep, verifier: Verifier = None) -> BookingOut:
    return access.act_on(database, crypto, settings, origin, code, verifier, lambda db, booking: service.booking_out(
        db, crypto, service.cancel(db=db, code=booking.code)))


@router.post("/bookings/{code}/reschedule", response_model=BookingOut)
def reschedule_booking(code: str, body: RescheduleIn, origin: ResidentOrigin, database: DatabaseDep,
                       crypto: CryptoDep, settings: SettingsDep, verifier: Verifier = None) -> BookingOut:
    return access.act_on(database, crypto, settings, origin, code, verifier, lambda db, booking: service.booking_out(
        db, crypto, service.reschedule(db=db, code=booking.code, session_id=body.session_id)))


@router.post("/bookings/{code}/attendance", response_model=BookingOut)
def mark_attendance(
    code: str, body: AttendanceIn, staff: StationUser, database: DatabaseDep, crypto: CryptoDep
) -> BookingOut:
    with database.write() as db:
        booking = service.mark_attendance(db=db, crypto=crypto, actor=staff, code=code, attended=body.attended)
        return service.booking_out(db, crypto, booking)


@router.post("/sessions/{session_id}/bookings/cancel", response_model=BulkCancelOut)
def bulk_cancel(session_id: IdInPath, body: BulkCancelIn, staff: StationUser, database: DatabaseDep
                ) -> BulkCancelOut:
    """Station staff cancel a flood of fake bookings at once: listed codes, or every active booking of
    the session made in a time window (optionally through one channel). Seats go to the waitlist."""
    with database.write() as db:
        cancelled = service.bulk_cancel(db, actor=staff, session_id=session_id, codes_given=body.codes,
                                        created_from=body.created_from, created_to=body.created_to,
                                        channel=body.channel)
    return BulkCancelOut(cancelled=len(cancelled), codes=cancelled)
