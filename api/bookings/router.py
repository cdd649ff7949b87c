from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.bookings import service
from api.bookings.schemas import AttendanceIn, BookingCreate, BookingOut, OnBehalfCreate, RescheduleIn
from api.core.clock import local_today
from api.core.db import Database
from api.core.metrics import BOOKINGS
from api.deps import CryptoDep, DatabaseDep, ReadSession, StationUser, require_roles
from api.staff.models import StaffUser

router = APIRouter(tags=["bookings"])

OutreachUser = Annotated[StaffUser, Depends(require_roles("admin", "cadre", "station"))]


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
    def make(db: Session, key: str | None, today: date) -> service.BookingResult:
        return service.book(db=db, crypto=crypto, body=body, idempotency_key=key, today=today)

    return await _book(database, idempotency_key, make)


@router.post(
    "/bookings/on-behalf", response_model=BookingOut, status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "đã có lịch hẹn đang hoạt động"}},
)
async def book_on_behalf(
    body: OnBehalfCreate,
    staff: OutreachUser,
    database: DatabaseDep,
    crypto: CryptoDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """A cadre or station worker books for an elderly person with that person's consent (in person, by
    phone or on paper), filed with the staff account and audited."""

    def make(db: Session, key: str | None, today: date) -> service.BookingResult:
        return service.book_on_behalf(db=db, crypto=crypto, actor=staff, body=body, idempotency_key=key, today=today)

    return await _book(database, idempotency_key, make)


async def _book(database: Database, idempotency_key: str | None,
                make: Callable[[Session, str | None, date], service.BookingResult]) -> Response:
    key = service.check_idempotency_key(idempotency_key)
    today = local_today()

    def attempt() -> service.BookingResult:
        with database.write() as db:
            return make(db, key, today)

    try:
        result = await database.run(attempt)
    except IntegrityError:
        # Lost a race to a concurrent request with the same key or for the same person
        # (PostgreSQL): the retry sees what won and replays it or answers 409.
        result = await database.run(attempt)
    # The model was built and validated by the service: serialise it directly rather than have
    # FastAPI validate it a second time against response_model (hot path of booking bursts).
    BOOKINGS.labels("replayed" if result.replayed else result.out.status).inc()
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
