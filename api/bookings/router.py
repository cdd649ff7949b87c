from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from sqlalchemy.exc import IntegrityError

from api.bookings import service
from api.bookings.schemas import AttendanceIn, BookingCreate, BookingOut, RescheduleIn
from api.core.clock import local_today
from api.deps import CryptoDep, DatabaseDep, ReadSession, StationUser

router = APIRouter(tags=["bookings"])


@router.post(
    "/bookings", response_model=BookingOut, status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "đã có lịch hẹn đang hoạt động"}},
)
async def create_booking(
    body: BookingCreate,
    database: DatabaseDep,
    crypto: CryptoDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    key = service.check_idempotency_key(idempotency_key)
    today = local_today()

    def attempt() -> service.BookingResult:
        with database.write() as db:
            return service.book(db=db, crypto=crypto, body=body, idempotency_key=key, today=today)

    try:
        result = await database.run(attempt)
    except IntegrityError:
        # Lost a race to a concurrent request with the same key or for the same person
        # (PostgreSQL): the retry sees what won and replays it or answers 409.
        result = await database.run(attempt)
    # The model was built and validated by the service: serialise it directly rather than have
    # FastAPI validate it a second time against response_model (hot path of booking bursts).
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(result.out.model_dump_json(), status_code=201, media_type="application/json", headers=headers)


@router.get("/bookings/{code}", response_model=BookingOut)
def get_booking(code: str, db: ReadSession, crypto: CryptoDep) -> BookingOut:
    return service.booking_out(db, crypto, service.get_booking(db, code))


@router.post("/bookings/{code}/cancel", response_model=BookingOut)
def cancel_booking(code: str, database: DatabaseDep, crypto: CryptoDep) -> BookingOut:
    with database.write() as db:
        return service.booking_out(db, crypto, service.cancel(db=db, code=code))


@router.post("/bookings/{code}/reschedule", response_model=BookingOut)
def reschedule_booking(code: str, body: RescheduleIn, database: DatabaseDep, crypto: CryptoDep) -> BookingOut:
    with database.write() as db:
        booking = service.reschedule(db=db, code=code, session_id=body.session_id)
        return service.booking_out(db, crypto, booking)


@router.post("/bookings/{code}/attendance", response_model=BookingOut)
def mark_attendance(
    code: str, body: AttendanceIn, staff: StationUser, database: DatabaseDep, crypto: CryptoDep
) -> BookingOut:
    with database.write() as db:
        booking = service.mark_attendance(db=db, crypto=crypto, actor=staff, code=code, attended=body.attended)
        return service.booking_out(db, crypto, booking)
