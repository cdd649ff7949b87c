"""Booking, cancelling and rescheduling exam slots.

Each public function runs inside one write transaction supplied by the caller, so a booking,
its resident, its seat and its idempotency record are stored together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings import codes
from api.bookings.models import ACTIVE_STATUSES, Booking, IdempotencyKey
from api.bookings.schemas import BookingCreate, BookingOut, ResidentSummary
from api.communes.service import get_commune
from api.core.clock import to_local
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.errors import AppError, Conflict, InvalidInput, NotFound
from api.residents import validation
from api.residents.models import Resident
from api.sessions import seats
from api.sessions.models import ExamSession
from api.sessions.service import SessionNotFound, session_out
from api.staff.models import StaffUser


class BookingNotFound(NotFound):
    code = "booking_not_found"
    message = "Không tìm thấy lịch hẹn với mã này. Xin kiểm tra lại mã đặt lịch."


class ActiveBookingExists(Conflict):
    code = "active_booking_exists"
    message = "Người này đã có một lịch khám đang chờ. Có thể đổi lịch hoặc hủy lịch cũ trước khi đặt lịch mới."


class SessionClosed(Conflict):
    code = "session_closed"
    message = "Buổi khám này đã hủy hoặc đã qua, không nhận đặt lịch nữa. Xin chọn buổi khác."


class SessionFull(Conflict):
    code = "session_full"
    message = "Buổi khám này đã hết chỗ. Lịch hẹn cũ vẫn được giữ nguyên."


class BookingNotActive(Conflict):
    code = "booking_not_active"
    message = "Lịch hẹn này đã hủy hoặc đã khám xong, không thay đổi được nữa."


class SameSession(Conflict):
    code = "same_session"
    message = "Lịch hẹn đã ở đúng buổi khám này rồi."


class IdentityMismatch(Conflict):
    code = "resident_identity_mismatch"
    message = "Số CCCD và ngày sinh không khớp với hồ sơ đã đăng ký. Xin liên hệ trạm y tế xã để được hỗ trợ."


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    message = "Mã Idempotency-Key này đã dùng cho một yêu cầu khác."


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key phải dài từ 8 đến 100 ký tự."


@dataclass(frozen=True)
class BookingResult:
    booking: Booking
    replayed: bool


def request_fingerprint(crypto: Crypto, body: BookingCreate) -> str:
    # Keyed, because the body holds personal data and the fingerprint is stored.
    return crypto.lookup_hash(body.model_dump_json())


def find_replay(db: Session, *, key: str | None, fingerprint: str) -> Booking | None:
    if key is None:
        return None
    stored = db.get(IdempotencyKey, key)
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return db.get_one(Booking, stored.booking_id)


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 8 <= len(key) <= 100 or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey()
    return key


def book(
    *, db: Session, crypto: Crypto, body: BookingCreate, idempotency_key: str | None, today: date
) -> BookingResult:
    fingerprint = request_fingerprint(crypto, body)
    replay = find_replay(db, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return BookingResult(replay, replayed=True)

    person = body.resident
    cccd = validation.normalize_cccd(person.cccd)
    birth_date = validation.check_birth_date(person.birth_date, today=today)
    validation.check_cccd_matches_birth_date(cccd, birth_date)
    phone = validation.normalize_phone(person.phone)
    full_name = validation.normalize_name(person.full_name)
    get_commune(db, person.commune_id)

    session = db.get(ExamSession, body.session_id)
    if session is None:
        raise SessionNotFound()
    if session.status != "open" or session.starts_at <= utcnow():
        raise SessionClosed()

    try:
        resident = _upsert_resident(
            db, crypto=crypto, cccd=cccd, birth_date=birth_date, full_name=full_name,
            phone=phone, commune_id=person.commune_id,
        )
    except ActiveBookingExists:
        # A concurrent request with the same key may have committed since we looked
        # (PostgreSQL reads committed data per statement): then this is its replay.
        replay = find_replay(db, key=idempotency_key, fingerprint=fingerprint)
        if replay is not None:
            return BookingResult(replay, replayed=True)
        raise
    status = _seat_or_waitlist(db, session.id)
    booking = Booking(
        code=codes.new_code(), session_id=session.id, resident_id=resident.id, status=status,
        channel=body.channel, referral_code=body.referral_code,
    )
    db.add(booking)
    db.flush()
    if idempotency_key is not None:
        db.add(IdempotencyKey(key=idempotency_key, request_hash=fingerprint, booking_id=booking.id))
    return BookingResult(booking, replayed=False)


def _upsert_resident(
    db: Session, *, crypto: Crypto, cccd: str, birth_date: date, full_name: str, phone: str, commune_id: int
) -> Resident:
    cccd_hash = crypto.lookup_hash(cccd)
    resident = db.scalar(select(Resident).where(Resident.cccd_hash == cccd_hash))
    if resident is None:
        resident = Resident(
            cccd_hash=cccd_hash, cccd_enc=crypto.encrypt(cccd), birth_date_enc=crypto.encrypt(birth_date.isoformat()),
            birth_year=birth_date.year, full_name=full_name, phone_enc=crypto.encrypt(phone), commune_id=commune_id,
        )
        db.add(resident)
        db.flush()
        return resident
    if crypto.decrypt(resident.birth_date_enc) != birth_date.isoformat():
        raise IdentityMismatch()
    active = db.scalar(
        select(Booking.id).where(Booking.resident_id == resident.id, Booking.status.in_(ACTIVE_STATUSES))
    )
    if active is not None:
        raise ActiveBookingExists()
    # Contact details are the person's own latest word.
    resident.full_name, resident.commune_id = full_name, commune_id
    resident.phone_enc = crypto.encrypt(phone)
    return resident


def _seat_or_waitlist(db: Session, session_id: int) -> str:
    # On PostgreSQL a seat can be freed between the two conditional UPDATEs; then try again.
    for _ in range(5):
        if seats.take_seat(db, session_id):
            return "confirmed"
        if seats.join_waitlist(db, session_id):
            return "waitlisted"
    raise SessionClosed()


def get_booking(db: Session, raw_code: str) -> Booking:
    code = codes.canonical(raw_code)
    booking = db.scalar(select(Booking).where(Booking.code == code)) if code else None
    if booking is None:
        raise BookingNotFound()
    return booking


def _lock_active_booking(db: Session, raw_code: str) -> Booking:
    booking = get_booking(db, raw_code)
    # Lock the session before re-reading the booking: every seat change on a session
    # takes the session row first, so two changes cannot interleave.
    seats.lock_session(db, booking.session_id)
    db.refresh(booking, with_for_update=True)
    if booking.status not in ACTIVE_STATUSES:
        raise BookingNotActive()
    return booking


def _vacate(db: Session, booking: Booking) -> None:
    if booking.status == "confirmed":
        seats.release_seat(db, booking.session_id)
    else:
        seats.leave_waitlist(db, booking.session_id)


def cancel(*, db: Session, code: str) -> Booking:
    booking = _lock_active_booking(db, code)
    _vacate(db, booking)
    booking.status = "cancelled"
    db.flush()
    return booking


def reschedule(*, db: Session, code: str, session_id: int) -> Booking:
    """Move a booking to a confirmed seat in another session, or change nothing."""
    booking = get_booking(db, code)
    if booking.session_id == session_id:
        raise SameSession()
    target = db.get(ExamSession, session_id)
    if target is None:
        raise SessionNotFound()
    if target.status != "open" or target.starts_at <= utcnow():
        raise SessionClosed()
    # Lock both sessions in id order so two opposite reschedules cannot deadlock.
    for sid in sorted((booking.session_id, session_id)):
        seats.lock_session(db, sid)
    booking = _lock_active_booking(db, code)
    if not seats.take_seat(db, session_id):
        raise SessionFull()
    _vacate(db, booking)
    booking.session_id = session_id
    booking.status = "confirmed"
    db.flush()
    return booking


def mark_attendance(*, db: Session, actor: StaffUser, code: str, attended: bool) -> Booking:
    booking = get_booking(db, code)
    if booking.status not in ("confirmed", "attended", "no_show"):
        raise BookingNotActive("Chỉ ghi nhận có mặt cho lịch hẹn đã xác nhận.")
    booking.status = "attended" if attended else "no_show"
    record(db, actor=actor, action="booking.attendance", entity="booking", entity_id=booking.code,
           attended=attended)
    db.flush()
    return booking


def waitlist_position(db: Session, booking: Booking) -> int | None:
    if booking.status != "waitlisted":
        return None
    ahead = db.scalar(
        select(func.count()).where(
            Booking.session_id == booking.session_id, Booking.status == "waitlisted", Booking.id < booking.id
        )
    )
    return int(ahead or 0) + 1


def booking_out(db: Session, crypto: Crypto, booking: Booking) -> BookingOut:
    resident = db.get_one(Resident, booking.resident_id)
    # Seat counts were changed by UPDATE statements, so read the row afresh.
    session = db.scalars(
        select(ExamSession).where(ExamSession.id == booking.session_id)
        .execution_options(populate_existing=True)
    ).one()
    return BookingOut(
        code=booking.code,
        status=booking.status,  # type: ignore[arg-type]
        session_id=booking.session_id,
        session=session_out(session),
        waitlist_position=waitlist_position(db, booking),
        resident=ResidentSummary(
            full_name=resident.full_name, phone_masked=validation.mask(crypto.decrypt(resident.phone_enc))
        ),
        channel=booking.channel,
        referral_code=booking.referral_code,
        created_at=to_local(booking.created_at),
    )
