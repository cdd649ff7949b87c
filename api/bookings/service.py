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
from api.bookings.models import ACTIVE_STATUSES, Booking
from api.bookings.schemas import BookingCreate, BookingOut, OnBehalfCreate, ResidentSummary
from api.communes.service import CommuneNotFound
from api.core.clock import to_local
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.errors import AppError, Conflict, InvalidInput, NotFound
from api.core.rawsql import Raw
from api.privacy.consent import ConsentSource, record_consent
from api.records import service as records
from api.residents import validation
from api.residents.models import ERASED_NAME, Resident
from api.sessions import seats
from api.sessions.models import ExamSession
from api.sessions.service import SessionNotFound, load_session_out, session_out_from_row, session_row
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


# The hot path's SQL, run through api.core.rawsql (see there why).
_SQL_REPLAY = "SELECT request_hash, booking_id FROM idempotency_keys WHERE key = :key"
_SQL_COMMUNE = "SELECT 1 FROM communes WHERE id = :cid"
_SQL_RESIDENT = (
    "SELECT r.id, r.birth_date_enc,"
    " (SELECT b.id FROM bookings b WHERE b.resident_id = r.id AND b.status IN ('confirmed', 'waitlisted') LIMIT 1)"
    " FROM residents r WHERE r.cccd_hash = :cccd_hash"
)
_SQL_INSERT_RESIDENT = (
    "INSERT INTO residents (cccd_hash, cccd_enc, birth_date_enc, birth_year, full_name, phone_enc, commune_id,"
    " created_at, updated_at) VALUES (:cccd_hash, :cccd_enc, :birth_date_enc, :birth_year, :full_name,"
    " :phone_enc, :commune_id, :now, :now) RETURNING id"
)
_SQL_UPDATE_RESIDENT = (
    "UPDATE residents SET full_name = :full_name, commune_id = :commune_id, phone_enc = :phone_enc,"
    " updated_at = :now WHERE id = :rid"
)
_SQL_INSERT_BOOKING = (
    "INSERT INTO bookings (code, session_id, resident_id, status, channel, referral_code, created_at, updated_at)"
    " VALUES (:code, :session_id, :resident_id, :status, :channel, :referral_code, :now, :now) RETURNING id"
)
_SQL_INSERT_KEY = (
    "INSERT INTO idempotency_keys (key, request_hash, booking_id, created_at)"
    " VALUES (:key, :request_hash, :booking_id, :now)"
)


# Shown for a booking whose resident asked for their data to be erased.
ERASED_RESIDENT = ResidentSummary(full_name=ERASED_NAME, phone_masked="")


@dataclass(frozen=True)
class BookingResult:
    out: BookingOut
    replayed: bool


def request_fingerprint(crypto: Crypto, body: BookingCreate) -> str:
    # Keyed, because the body holds personal data and the fingerprint is stored.
    return crypto.lookup_hash(body.model_dump_json())


def find_replay(
    db: Session, raw: Raw, crypto: Crypto, *, key: str | None, fingerprint: str
) -> BookingOut | None:
    if key is None:
        return None
    stored = raw.row(_SQL_REPLAY, {"key": key})
    if stored is None:
        return None
    request_hash, booking_id = stored
    if request_hash != fingerprint:
        raise IdempotencyKeyReused()
    return booking_out(db, crypto, db.get_one(Booking, booking_id))


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 8 <= len(key) <= 100 or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey()
    return key


def book(
    *, db: Session, crypto: Crypto, body: BookingCreate, idempotency_key: str | None, today: date,
    consent: ConsentSource | None = None,
) -> BookingResult:
    """The hot path of a booking burst: a handful of Core statements in one transaction.

    The response is built from what the statements return, so nothing is read twice.
    """
    fingerprint = request_fingerprint(crypto, body)
    conn = db.connection()
    raw = Raw(conn)
    replay = find_replay(db, raw, crypto, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return BookingResult(replay, replayed=True)

    person = body.resident
    cccd = validation.normalize_cccd(person.cccd)
    birth_date = validation.check_birth_date(person.birth_date, today=today)
    validation.check_cccd_matches_birth_date(cccd, birth_date)
    phone = validation.normalize_phone(person.phone)
    full_name = validation.normalize_name(person.full_name)
    # Keyed once: the resident is found by it and the consent is filed under it.
    cccd_hash = crypto.lookup_hash(cccd)

    session = session_row(conn, body.session_id)
    if session.status != "open" or session.starts_at <= utcnow():
        raise SessionClosed()
    if raw.row(_SQL_COMMUNE, {"cid": person.commune_id}) is None:
        raise CommuneNotFound()

    try:
        resident_id = _upsert_resident(
            raw, crypto=crypto, cccd=cccd, cccd_hash=cccd_hash, birth_date=birth_date, full_name=full_name,
            phone=phone, commune_id=person.commune_id,
        )
    except ActiveBookingExists:
        # A concurrent request with the same key may have committed since we looked
        # (PostgreSQL reads committed data per statement): then this is its replay.
        replay = find_replay(db, raw, crypto, key=idempotency_key, fingerprint=fingerprint)
        if replay is not None:
            return BookingResult(replay, replayed=True)
        raise
    status, seats_now = _seat_or_waitlist(raw, session.id)
    code = codes.new_code()
    created_at = utcnow()
    now = raw.timestamp(created_at)
    if body.consent_notice is not None:
        record_consent(raw, subject_hash=cccd_hash, resident_id=resident_id, purpose="booking",
                       notice_version=body.consent_notice, channel=body.channel, now=created_at,
                       source=consent or ConsentSource(given_by=body.consent_given_by))
    inserted = raw.row(_SQL_INSERT_BOOKING, {
        "code": code, "session_id": session.id, "resident_id": resident_id, "status": status,
        "channel": body.channel, "referral_code": body.referral_code, "now": now,
    })
    assert inserted is not None
    if idempotency_key is not None:
        raw.run(_SQL_INSERT_KEY, {"key": idempotency_key, "request_hash": fingerprint,
                                  "booking_id": inserted[0], "now": now})
    out = BookingOut(
        code=code, status=status, session_id=session.id,
        session=session_out_from_row(session, booked=seats_now.booked, waitlisted=seats_now.waitlisted),
        # A new waitlist entry is the last one: its place is the count it just made.
        waitlist_position=seats_now.waitlisted if status == "waitlisted" else None,
        resident=ResidentSummary(full_name=full_name, phone_masked=validation.mask(phone)),
        channel=body.channel, referral_code=body.referral_code, created_at=to_local(created_at),
    )
    return BookingResult(out, replayed=False)


def book_on_behalf(*, db: Session, crypto: Crypto, actor: StaffUser, body: OnBehalfCreate,
                   idempotency_key: str | None, today: date) -> BookingResult:
    """A cadre or station worker books for someone: the person's consent is filed as given to that staff
    account (in person, by phone or on paper), and the booking is audited under it."""
    consent = ConsentSource(given_by="cadre" if actor.role == "cadre" else "station", method=body.consent_method,
                            recorded_by=actor.username)
    result = book(db=db, crypto=crypto, body=body, idempotency_key=idempotency_key, today=today, consent=consent)
    if not result.replayed:
        record(db, actor=actor, action="booking.on_behalf", entity="booking", entity_id=result.out.code,
               method=body.consent_method)
    return result


def _upsert_resident(
    raw: Raw, *, crypto: Crypto, cccd: str, cccd_hash: str, birth_date: date, full_name: str, phone: str,
    commune_id: int,
) -> int:
    existing = raw.row(_SQL_RESIDENT, {"cccd_hash": cccd_hash})
    now = raw.timestamp(utcnow())
    if existing is None:
        inserted = raw.row(_SQL_INSERT_RESIDENT, {
            "cccd_hash": cccd_hash, "cccd_enc": crypto.encrypt(cccd),
            "birth_date_enc": crypto.encrypt(birth_date.isoformat()), "birth_year": birth_date.year,
            "full_name": full_name, "phone_enc": crypto.encrypt(phone), "commune_id": commune_id, "now": now,
        })
        assert inserted is not None
        return int(inserted[0])
    resident_id, birth_date_enc, active_booking = existing
    if crypto.decrypt(birth_date_enc) != birth_date.isoformat():
        raise IdentityMismatch()
    if active_booking is not None:
        raise ActiveBookingExists()
    # Contact details are the person's own latest word.
    raw.run(_SQL_UPDATE_RESIDENT, {"rid": resident_id, "full_name": full_name, "commune_id": commune_id,
                                   "phone_enc": crypto.encrypt(phone), "now": now})
    return int(resident_id)


def _seat_or_waitlist(raw: Raw, session_id: int) -> tuple[str, seats.Seats]:
    # On PostgreSQL a seat can be freed between the two conditional UPDATEs; then try again.
    for _ in range(5):
        if (taken := seats.take_seat(raw, session_id)) is not None:
            return "confirmed", taken
        if (queued := seats.join_waitlist(raw, session_id)) is not None:
            return "waitlisted", queued
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
    if not seats.take_seat(Raw(db.connection()), session_id):
        raise SessionFull()
    _vacate(db, booking)
    booking.session_id = session_id
    booking.status = "confirmed"
    db.flush()
    return booking


def mark_attendance(*, db: Session, crypto: Crypto, actor: StaffUser, code: str, attended: bool) -> Booking:
    booking = get_booking(db, code)
    if booking.status not in ("confirmed", "attended", "no_show"):
        raise BookingNotActive("Chỉ ghi nhận có mặt cho lịch hẹn đã xác nhận.")
    booking.status = "attended" if attended else "no_show"
    record(db, actor=actor, action="booking.attendance", entity="booking", entity_id=booking.code,
           attended=attended)
    resident = db.get(Resident, booking.resident_id) if booking.resident_id is not None else None
    if attended and resident is not None:
        # Examined: the e-health book now waits for this exam's results.
        exam_day = to_local(db.get_one(ExamSession, booking.session_id).starts_at).date()
        records.mark_exam_done(db, crypto, cccd_enc=resident.cccd_enc, birth_date_enc=resident.birth_date_enc,
                               commune_id=resident.commune_id, exam_day=exam_day)
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
    resident = db.get(Resident, booking.resident_id) if booking.resident_id is not None else None
    # A Core read: seat counts are changed by UPDATE statements the identity map never sees.
    return BookingOut(
        code=booking.code,
        status=booking.status,
        session_id=booking.session_id,
        session=load_session_out(db, booking.session_id),
        waitlist_position=waitlist_position(db, booking),
        resident=ResidentSummary(
            full_name=resident.full_name, phone_masked=validation.mask(crypto.decrypt(resident.phone_enc))
        ) if resident is not None else ERASED_RESIDENT,
        channel=booking.channel,
        referral_code=booking.referral_code,
        created_at=to_local(booking.created_at),
    )
