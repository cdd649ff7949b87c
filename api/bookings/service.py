"""Booking, cancelling and rescheduling exam slots.

Each public function runs inside one write transaction supplied by the caller, so a booking,
its resident, its seat and its idempotency record are stored together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings import seats
from api.bookings.models import Booking
from api.bookings.schemas import BookingCreate, BookingOut, OnBehalfCreate, ResidentSummary
from api.communes.service import CommuneNotFound, check_station_scope
from api.consent.service import PHONE_WAYS, ConsentSource, agree, record_consent, ways_text
from api.core.clock import to_local
from api.core.crypto import Crypto
from api.core.db import utcnow
from api.core.errors import Conflict, Forbidden, NotFound
from api.core.rawsql import Raw
from api.identity.service import Limits, Lockout, claim_hash, count_mismatch, gate_subjects, open_gate
from api.records import service as records
from api.records.service import identity_hash
from api.residents.models import ERASED_NAME, Resident
from api.security import limits
from api.security.alerts import raise_alert
from api.security.origin import Origin
from api.sessions.models import ExamSession
from api.sessions.service import SessionNotFound, load_session_out, session_out_from_row, session_row
from api.staff.models import StaffUser
from common import booking_codes
from common.errors import AppError, InvalidInput
from common.identity import (
    check_birth_date,
    check_cccd_matches_birth_date,
    normalize_cccd,
    normalize_name,
    normalize_phone,
)
from common.masking import mask
from common.vocabulary import ACTIVE_BOOKING_STATUSES


class BookingNotFound(NotFound):
    code = "booking_not_found"
    message = ("Không tìm thấy lịch hẹn với mã này. Xin kiểm tra lại mã đặt lịch, và 3 số cuối số điện thoại "
               "đã dùng khi đặt lịch.")


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


class PhoneHasActiveBooking(Conflict):
    code = "phone_has_active_booking"
    message = ("Số điện thoại này đang dùng cho một lịch hẹn khác. Mỗi số điện thoại chỉ đặt được một lịch; "
               "nếu cả nhà dùng chung một số, xin nhờ trạm y tế xã đặt giúp.")

    def __init__(self, *, phone_subject: str, commune_id: int) -> None:
        super().__init__()
        # For the station's alert, filed after the booking's transaction is rolled back; not in the body.
        self.phone_subject, self.commune_id = phone_subject, commune_id


def alert_phone_clash(db: Session, error: PhoneHasActiveBooking) -> None:
    """A phone used for a second person's booking: the station sees it (a shared phone to allow, or
    someone's number used by a stranger)."""
    raise_alert(db, kind="phone_clash", subject=error.phone_subject, now=utcnow(), commune_id=error.commune_id,
                detail="Một số điện thoại được dùng để đặt lịch cho người thứ hai. Nếu người dân báo số của họ bị "
                       "người khác dùng, xin kiểm tra và hủy lịch sai; nếu hai người dùng chung máy, xin đặt giúp.")


class TooManyBookings(AppError):
    status_code = 429
    code = "too_many_bookings"
    message = ("Đã có nhiều lịch hẹn được đặt từ cuộc trò chuyện hoặc mạng này. Nếu cần đặt thêm cho người "
               "nhà, xin liên hệ trạm y tế xã hoặc cán bộ hội đoàn thể.")


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
_SQL_RECORD_IDENTITY = "SELECT identity_hash FROM health_records WHERE cccd_hash = :cccd_hash"
_SQL_PHONE_BUSY = (
    "SELECT 1 FROM bookings b JOIN residents r ON r.id = b.resident_id WHERE r.phone_hash = :phone_hash"
    " AND r.id != :rid AND b.status IN ('confirmed', 'waitlisted') LIMIT 1"
)
# Only a cadre's link that is still switched on earns the booking for its funnel.
_SQL_ACTIVE_REFERRAL = "SELECT code FROM referral_links WHERE code = :code AND active = :yes"
_SQL_RECENT_IN_SESSION = "SELECT count(*) FROM bookings WHERE session_id = :sid AND created_at > :since"
_SQL_FLAG_DISPUTED = (
    "UPDATE bookings SET disputed = :yes WHERE status IN ('confirmed', 'waitlisted') AND resident_id IN"
    " (SELECT id FROM residents WHERE cccd_hash = :cccd_hash OR claim_of = :cccd_hash)"
)
_SQL_RESIDENT = (
    "SELECT r.id, r.birth_date_enc,"
    " (SELECT b.id FROM bookings b WHERE b.resident_id = r.id AND b.status IN ('confirmed', 'waitlisted') LIMIT 1)"
    " FROM residents r WHERE r.cccd_hash = :cccd_hash"
)
_SQL_INSERT_RESIDENT = (
    "INSERT INTO residents (cccd_hash, cccd_enc, birth_date_enc, birth_year, full_name, phone_enc, phone_hash,"
    " claim_of, commune_id, created_at, updated_at) VALUES (:cccd_hash, :cccd_enc, :birth_date_enc, :birth_year,"
    " :full_name, :phone_enc, :phone_hash, :claim_of, :commune_id, :now, :now) RETURNING id"
)
_SQL_UPDATE_RESIDENT = (
    "UPDATE residents SET full_name = :full_name, commune_id = :commune_id, phone_enc = :phone_enc,"
    " phone_hash = :phone_hash, updated_at = :now WHERE id = :rid"
)
_SQL_INSERT_BOOKING = (
    "INSERT INTO bookings (code, session_id, resident_id, status, channel, referral_code, chat_hash, disputed,"
    " created_at, updated_at) VALUES (:code, :session_id, :resident_id, :status, :channel, :referral_code,"
    " :chat_hash, :disputed, :now, :now) RETURNING id"
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


@dataclass(frozen=True)
class Guard:
    """What protects a booking beyond its own rules: who asks (for the chat that will own the
    booking and the counters), the identity-check limits, and the burst alert threshold."""

    origin: Origin
    identity: Limits
    burst_per_minute: int
    # New bookings this origin may still make (api.security.quotas), spent in the booking's own
    # transaction: one commit per booking, and a replayed request spends nothing.
    quotas: dict[str, limits.Rule] = field(default_factory=dict)
    # A station worker saw that two people share one phone (an elderly couple).
    allow_shared_phone: bool = False
    # The station's desk takes a walk-in into a session under way, until it ends (everyone else books
    # before it starts).
    until_end: bool = False


@dataclass(frozen=True)
class Person:
    cccd: str
    cccd_hash: str
    birth_date: date
    full_name: str
    phone: str
    phone_hash: str
    commune_id: int


def book(
    *, db: Session, crypto: Crypto, body: BookingCreate, idempotency_key: str | None, today: date, guard: Guard,
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
    if guard.quotas and (until := limits.take(raw, guard.quotas, now := utcnow())) is not None:
        raise TooManyBookings(retry_after_seconds=max(1, int((until - now).total_seconds())))

    person = body.resident
    cccd = normalize_cccd(person.cccd)
    birth_date = check_birth_date(person.birth_date, today=today)
    check_cccd_matches_birth_date(cccd, birth_date)
    phone = normalize_phone(person.phone)
    who = Person(cccd=cccd, cccd_hash=crypto.lookup_hash(cccd), birth_date=birth_date,
                 full_name=normalize_name(person.full_name), phone=phone,
                 phone_hash=phone_hash(crypto, phone), commune_id=person.commune_id)

    session = session_row(conn, body.session_id)
    if session.status != "open" or (session.ends_at if guard.until_end else session.starts_at) <= utcnow():
        raise SessionClosed()
    if raw.row(_SQL_COMMUNE, {"cid": person.commune_id}) is None:
        raise CommuneNotFound()

    try:
        resident_id, disputed, subject = _resolve_resident(db, raw, crypto, guard, who,
                                                           session_commune=session.commune_id)
    except ActiveBookingExists:
        # A concurrent request with the same key may have committed since we looked
        # (PostgreSQL reads committed data per statement): then this is its replay.
        replay = find_replay(db, raw, crypto, key=idempotency_key, fingerprint=fingerprint)
        if replay is not None:
            return BookingResult(replay, replayed=True)
        raise
    if not guard.allow_shared_phone:
        _check_phone_free(db, raw, who, resident_id=resident_id, commune_id=session.commune_id)
    referral = body.referral_code and raw.row(_SQL_ACTIVE_REFERRAL, {"code": body.referral_code, "yes": True})
    referral_code = str(referral[0]) if referral else None
    status, seats_now = _seat_or_waitlist(raw, session.id)
    code = booking_codes.new_code()
    created_at = utcnow()
    now = raw.timestamp(created_at)
    if body.consent_notice is not None:
        record_consent(raw, subject_hash=subject, resident_id=resident_id, purpose="booking",
                       notice_version=body.consent_notice, channel=body.channel, now=created_at,
                       source=consent or ConsentSource(given_by=body.consent_given_by))
    inserted = raw.row(_SQL_INSERT_BOOKING, {
        "code": code, "session_id": session.id, "resident_id": resident_id, "status": status,
        "channel": body.channel, "referral_code": referral_code, "now": now,
        "chat_hash": guard.origin.chat_hash(crypto), "disputed": disputed,
    })
    assert inserted is not None
    if idempotency_key is not None:
        raw.run(_SQL_INSERT_KEY, {"key": idempotency_key, "request_hash": fingerprint,
                                  "booking_id": inserted[0], "now": now})
    _alert_on_burst(db, raw, guard, session_id=session.id, commune_id=session.commune_id, now=created_at)
    out = BookingOut(
        code=code, status=status, session_id=session.id,
        session=session_out_from_row(session, booked=seats_now.booked, waitlisted=seats_now.waitlisted),
        # A new waitlist entry is the last one: its place is the count it just made.
        waitlist_position=seats_now.waitlisted if status == "waitlisted" else None,
        resident=ResidentSummary(full_name=who.full_name, phone_masked=mask(phone)),
        channel=body.channel, referral_code=referral_code, created_at=to_local(created_at),
    )
    return BookingResult(out, replayed=False)


def phone_hash(crypto: Crypto, phone: str) -> str:
    return crypto.lookup_hash("phone|" + phone)


def book_on_behalf(*, db: Session, crypto: Crypto, actor: StaffUser, body: OnBehalfCreate,
                   idempotency_key: str | None, today: date, identity: Limits, burst_per_minute: int,
                   quotas: dict[str, limits.Rule], walk_in: bool = False) -> BookingResult:
    """A cadre or station worker books for someone: the person's consent is filed as given to that staff
    account (in person, by phone or on paper), and the booking is audited under it. With
    `reminders_notice`, the person also agreed to the confirmation and reminders by ZNS or SMS to the
    booking's phone (no chat of theirs is involved): filed the same way, naming those two ways."""
    if body.shared_phone and actor.role not in ("station", "admin"):
        raise Forbidden("Chỉ cán bộ trạm y tế cho phép dùng chung số điện thoại.")
    consent = ConsentSource(given_by="cadre" if actor.role == "cadre" else "station", method=body.consent_method,
                            recorded_by=actor.username)
    guard = Guard(origin=Origin(credential=None, staff=actor, chat=None), identity=identity,
                  burst_per_minute=burst_per_minute, quotas=quotas, allow_shared_phone=body.shared_phone,
                  until_end=walk_in)
    result = book(db=db, crypto=crypto, body=body, idempotency_key=idempotency_key, today=today, guard=guard,
                  consent=consent)
    if not result.replayed:
        if body.reminders_notice is not None:
            _agree_to_reminders_by_phone(db, code=result.out.code, notice=body.reminders_notice,
                                         channel=body.channel, source=consent)
        record(db, actor=actor, action="booking.on_behalf", entity="booking", entity_id=result.out.code,
               method=body.consent_method, shared_phone=body.shared_phone,
               reminders=body.reminders_notice is not None)
    return result


_SQL_BOOKING_SUBJECT = (
    "SELECT r.id, r.cccd_hash FROM bookings b JOIN residents r ON r.id = b.resident_id WHERE b.code = :code"
)


def _agree_to_reminders_by_phone(db: Session, *, code: str, notice: str, channel: str, source: ConsentSource) -> None:
    # The subject the booking's resident is filed under (a disputed CCCD's claim, like the booking consent).
    raw = Raw(db.connection())
    found = raw.row(_SQL_BOOKING_SUBJECT, {"code": code})
    assert found is not None  # booked in this transaction
    agree(raw, subject_hash=found[1], resident_id=found[0], purpose="reminders", notice_version=notice,
          channel=channel, now=utcnow(), source=source, channels=ways_text(PHONE_WAYS))


def _check_phone_free(db: Session, raw: Raw, who: Person, *, resident_id: int, commune_id: int) -> None:
    """One active booking per phone. The phone's counter row is locked first, so two bookings with one
    phone cannot both pass (PostgreSQL); a clash is shown to the station, who may allow a shared phone
    or cancel a booking someone made with another person's number."""
    subject = f"phone:{who.phone_hash[:40]}"
    limits.hold(raw, subject, utcnow())
    if raw.row(_SQL_PHONE_BUSY, {"phone_hash": who.phone_hash, "rid": resident_id}) is not None:
        raise PhoneHasActiveBooking(phone_subject=subject, commune_id=commune_id)


def _resolve_resident(db: Session, raw: Raw, crypto: Crypto, guard: Guard, who: Person, *, session_commune: int
                      ) -> tuple[int, bool, str]:
    """(resident id, disputed, consent subject) for a booking, through the counted identity check when
    the CCCD is on file.

    A CCCD seen for the first time books at once (the common case costs two indexed reads). A CCCD
    on file with another birth date is not refused — that would tell a guesser the date was wrong,
    and let whoever booked first with a made-up date lock the real owner out. The booking is kept
    under a claim of its own, both sides are marked for the station to check the card, the
    commune is alerted, and the failure counts against the source like any wrong guess."""
    now = utcnow()
    # Whether or not the CCCD is on file: a source locked out of it gets the same 429 either way.
    if (until := limits.peek_locked(db, gate_subjects(crypto, guard.origin, who.cccd_hash), now)) is not None:
        raise Lockout(until).error(now)
    existing = raw.row(_SQL_RESIDENT, {"cccd_hash": who.cccd_hash})
    record = raw.row(_SQL_RECORD_IDENTITY, {"cccd_hash": who.cccd_hash})
    if existing is None and record is None:
        return _insert_resident(raw, crypto, who, cccd_hash=who.cccd_hash, claim_of=None), False, who.cccd_hash

    gate = open_gate(db, crypto, guard.origin, who.cccd_hash, now)
    first_ok = existing is not None and crypto.decrypt(existing[1]) == who.birth_date.isoformat()
    matched = (record[0] == identity_hash(crypto, who.cccd, who.birth_date)) if record is not None else first_ok
    if matched and (existing is None or first_ok):
        if existing is None:
            return _insert_resident(raw, crypto, who, cccd_hash=who.cccd_hash, claim_of=None), False, who.cccd_hash
        return _update_resident(raw, crypto, who, existing), False, who.cccd_hash

    if not matched:
        count_mismatch(db, gate, guard.identity, now, commune_id=session_commune)
    claim = claim_hash(crypto, who.cccd, who.birth_date)
    mine = raw.row(_SQL_RESIDENT, {"cccd_hash": claim})
    resident_id = (_update_resident(raw, crypto, who, mine) if mine is not None
                   else _insert_resident(raw, crypto, who, cccd_hash=claim, claim_of=who.cccd_hash))
    raw.run(_SQL_FLAG_DISPUTED, {"cccd_hash": who.cccd_hash, "yes": True})
    raise_alert(db, kind="identity_dispute", subject=f"dispute:{who.cccd_hash[:40]}", now=now,
                commune_id=session_commune,
                detail="Có lịch hẹn khác cùng số CCCD nhưng khác ngày sinh. Khi người dân đến, xin kiểm tra "
                       "thẻ căn cước và hủy lịch hẹn sai.")
    return resident_id, True, claim


def _insert_resident(raw: Raw, crypto: Crypto, who: Person, *, cccd_hash: str, claim_of: str | None) -> int:
    inserted = raw.row(_SQL_INSERT_RESIDENT, {
        "cccd_hash": cccd_hash, "cccd_enc": crypto.encrypt(who.cccd),
        "birth_date_enc": crypto.encrypt(who.birth_date.isoformat()), "birth_year": who.birth_date.year,
        "full_name": who.full_name, "phone_enc": crypto.encrypt(who.phone), "phone_hash": who.phone_hash,
        "claim_of": claim_of, "commune_id": who.commune_id, "now": raw.timestamp(utcnow()),
    })
    assert inserted is not None
    return int(inserted[0])


def _update_resident(raw: Raw, crypto: Crypto, who: Person, existing: tuple[Any, ...]) -> int:
    resident_id, _birth_date_enc, active_booking = existing
    if active_booking is not None:
        raise ActiveBookingExists()
    # Contact details are the person's own latest word.
    raw.run(_SQL_UPDATE_RESIDENT, {"rid": resident_id, "full_name": who.full_name, "commune_id": who.commune_id,
                                   "phone_enc": crypto.encrypt(who.phone), "phone_hash": who.phone_hash,
                                   "now": raw.timestamp(utcnow())})
    return int(resident_id)


def _alert_on_burst(db: Session, raw: Raw, guard: Guard, *, session_id: int, commune_id: int, now: datetime) -> None:
    """Bookings arriving faster than people can type (each takes minutes of questions): tell the station."""
    recent = raw.row(_SQL_RECENT_IN_SESSION, {"sid": session_id, "since": raw.timestamp(now - timedelta(minutes=1))})
    count = int(recent[0]) if recent is not None else 0
    over = count - guard.burst_per_minute
    # Raised when the rate first passes the threshold and again at each further threshold's worth,
    # not on every booking of a burst (the alert is one line for staff either way).
    if over > 0 and (over - 1) % max(guard.burst_per_minute, 1) == 0:
        raise_alert(db, kind="booking_burst", subject=f"burst:{session_id}", now=now, commune_id=commune_id,
                    session_id=session_id,
                    detail=f"{count} lịch hẹn trong một phút cho buổi khám này. Nếu không phải người dân "
                           "thật, có thể hủy hàng loạt trong danh sách buổi khám.")


def _seat_or_waitlist(raw: Raw, session_id: int) -> tuple[str, seats.Seats]:
    # On PostgreSQL a seat can be freed between the two conditional UPDATEs; then try again.
    for _ in range(5):
        if (taken := seats.take_seat(raw, session_id)) is not None:
            return "confirmed", taken
        if (queued := seats.join_waitlist(raw, session_id)) is not None:
            return "waitlisted", queued
    raise SessionClosed()


def get_booking(db: Session, raw_code: str) -> Booking:
    code = booking_codes.canonical(raw_code)
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
    if booking.status not in ACTIVE_BOOKING_STATUSES:
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
    # Attendance also moves the person's e-health book: only their commune's station may record it.
    check_station_scope(actor, db.get_one(ExamSession, booking.session_id).site.commune_id)
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
            full_name=resident.full_name, phone_masked=mask(crypto.decrypt(resident.phone_enc))
        ) if resident is not None else ERASED_RESIDENT,
        channel=booking.channel,
        referral_code=booking.referral_code,
        created_at=to_local(booking.created_at),
    )


def bulk_cancel(db: Session, *, actor: StaffUser, session_id: int, codes_given: list[str],
                created_from: datetime | None, created_to: datetime | None, channel: str | None) -> list[str]:
    """Station staff cancel a flood of fake bookings at once: listed codes, or every active booking of
    the session made in a time window (optionally through one channel). Seats go to the waitlist."""
    exam = db.get(ExamSession, session_id)
    if exam is None:
        raise SessionNotFound()
    check_station_scope(actor, exam.site.commune_id)
    query = select(Booking.code).where(Booking.session_id == session_id, Booking.status.in_(ACTIVE_BOOKING_STATUSES))
    if codes_given:
        query = query.where(Booking.code.in_([c for c in map(booking_codes.canonical, codes_given) if c]))
    elif created_from is None and created_to is None:
        raise InvalidInput("Xin chọn mã lịch hẹn hoặc khoảng thời gian đặt lịch cần hủy.")
    if created_from is not None:
        query = query.where(Booking.created_at >= created_from)
    if created_to is not None:
        query = query.where(Booking.created_at <= created_to)
    if channel is not None:
        query = query.where(Booking.channel == channel)
    cancelled = [cancel(db=db, code=code).code for code in db.scalars(query.order_by(Booking.id))]
    record(db, actor=actor, action="booking.bulk_cancel", entity="session", entity_id=str(session_id),
           cancelled=len(cancelled))
    return cancelled
