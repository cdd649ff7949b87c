"""Who may see or change a booking by its code.

A code alone is not enough: it is printed, read aloud and forwarded. The chat that made the
booking (gateway-signed) may use it alone; anyone else adds a second factor — the last three
digits of the booking's phone or the resident's birth date (`X-Booking-Verifier`); station staff
of the booking's commune and admins use their token. An unknown code and a wrong or missing
factor get the same 404, and both count against the source: past `code_failures` in the window
it is locked out of code lookups, so guessing codes or factors stops after a few tries.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.bookings.models import Booking
from api.bookings.service import BookingNotFound
from api.communes.models import Site
from api.communes.service import check_station_scope
from api.core.config import Settings
from api.core.crypto import Crypto
from api.core.db import Database, utcnow
from api.identity.service import TooManyAttempts
from api.residents.models import Resident
from api.security import limits
from api.security.alerts import raise_alert
from api.security.limits import Escalation, Rule
from api.security.origin import Origin
from api.sessions.models import ExamSession
from common import booking_codes

T = TypeVar("T")

HEADER = "X-Booking-Verifier"
_PHONE_TAIL = re.compile(r"^\d{3}$")
_BIRTH_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _factor_ok(crypto: Crypto, resident: Resident | None, verifier: str | None) -> bool:
    if resident is None or not verifier:
        return False
    verifier = verifier.strip()
    if _PHONE_TAIL.match(verifier):
        return hmac.compare_digest(crypto.decrypt(resident.phone_enc)[-3:], verifier)
    if _BIRTH_DATE.match(verifier):
        return hmac.compare_digest(crypto.decrypt(resident.birth_date_enc), verifier)
    return False


def allowed_without_factor(db: Session, crypto: Crypto, origin: Origin, booking: Booking) -> bool:
    """Station staff of the booking's commune, admins, and the chat that made the booking."""
    if origin.staff is not None and origin.staff.role in ("admin", "station"):
        check_station_scope(origin.staff, session_commune_id(db, booking.session_id))
        return True
    return booking.chat_hash is not None and origin.chat is not None and hmac.compare_digest(
        booking.chat_hash, origin.chat_hash(crypto) or "")


def factor_ok(db: Session, crypto: Crypto, settings: Settings, booking: Booking, verifier: str | None,
              now: datetime) -> bool:
    """The second factor, counted per booking across every source: a few wrong ones and the code works
    only for its own chat and the station (and the commune is told)."""
    throttle = limits.load(db, f"code-booking:{crypto.lookup_hash('booking|' + booking.code)[:40]}", now)
    if limits.locked_until(throttle, now) is not None:
        return False  # paused: nothing is compared, so nothing is counted or learnt
    resident = db.get(Resident, booking.resident_id) if booking.resident_id is not None else None
    if _factor_ok(crypto, resident, verifier):
        return True
    day = timedelta(days=1)  # a fixed pause: five guesses a day is about 100 days for three digits
    if verifier and limits.count_failure(throttle, Rule(settings.booking_factor_failures, day), Escalation(day, day),
                                         now):
        raise_alert(db, kind="code_guessing", subject=f"code:{booking.code}", now=now,
                    commune_id=session_commune_id(db, booking.session_id), session_id=booking.session_id,
                    detail=f"Mã {booking.code}: nhiều lần nhập sai số điện thoại hoặc ngày sinh. Mã này tạm chỉ "
                           "dùng được từ cuộc trò chuyện đã đặt lịch hoặc tại trạm.")
    return False


def find_for(db: Session, crypto: Crypto, settings: Settings, origin: Origin, raw_code: str, verifier: str | None,
             *, now: datetime) -> Booking:
    """The booking this caller may act on, or BookingNotFound (or 429 after too many failures).

    Runs in a write transaction: failures are counted, and the caller commits them even when it
    answers 404 (see `act_on`)."""
    throttles = limits.load_all(db, origin.sources(crypto, "code"), now)
    locked = [until for t in throttles.values() if (until := limits.locked_until(t, now))]
    if locked:
        raise TooManyAttempts(
            "Đã thử mã đặt lịch sai quá nhiều lần. Xin thử lại sau, hoặc liên hệ trạm y tế xã.",
            retry_after_seconds=max(1, int((max(locked) - now).total_seconds())))
    code = booking_codes.canonical(raw_code)
    booking = db.scalar(select(Booking).where(Booking.code == code)) if code else None
    if booking is not None and (allowed_without_factor(db, crypto, origin, booking)
                                or factor_ok(db, crypto, settings, booking, verifier, now)):
        return booking
    rule = Rule.per_minutes(settings.code_failures, settings.code_failures_window_minutes)
    for throttle in throttles.values():
        limits.count_failure(throttle, rule, Escalation.from_settings(settings), now)
    raise Failed()


class Failed(Exception):
    """Raised inside the transaction so `act_on` can commit the counters, then answer 404."""


def session_commune_id(db: Session, session_id: int) -> int:
    return int(db.scalar(select(Site.commune_id).join(ExamSession, ExamSession.site_id == Site.id)
                         .where(ExamSession.id == session_id)) or 0)


_MISSING = object()


def act_on(database: Database, crypto: Crypto, settings: Settings, origin: Origin, raw_code: str,
           verifier: str | None, work: Callable[[Session, Booking], T]) -> T:
    """Find the booking this caller may use (counting failures) and run `work` on it, in one transaction."""
    now = utcnow()

    def attempt() -> object:
        with database.write() as db:
            try:
                booking = find_for(db, crypto, settings, origin, raw_code, verifier, now=now)
            except Failed:
                return _MISSING
            return work(db, booking)

    try:
        result = attempt()
    except IntegrityError:
        # First failure of a source created its counter row at the same time as another (PostgreSQL).
        result = attempt()
    if result is _MISSING:
        raise BookingNotFound()
    return result  # type: ignore[return-value]
