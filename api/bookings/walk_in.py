"""Someone who comes to the station's desk without a booking: registered into the session in front of
the nurse as a booking on behalf (their consent given in person, filed with the staff account), and —
when the session is full — beyond its capacity, for a reason the nurse gives, audited.

Nothing here books by itself: the seat, the person, the consent and the checks are `book_on_behalf`'s.
A seat beyond capacity is one more seat added to the locked session in the same transaction, so the
booking that follows takes it like any other (the CHECK on booked ≤ capacity still holds), and a
refused booking takes the extra seat back with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings import seats, service
from api.bookings.schemas import OnBehalfCreate
from api.communes.service import check_station_scope
from api.core.crypto import Crypto
from api.core.errors import Conflict
from api.core.rawsql import Raw
from api.identity.service import Limits
from api.security import limits
from api.sessions.service import SessionNotFound
from api.staff.models import StaffUser
from common.masking import mask_digit_runs

REASON_MAX = 200


class ReasonRequired(Conflict):
    code = "walk_in_reason_required"
    message = ("Buổi khám đã đủ chỗ. Muốn nhận thêm người đến trực tiếp ngoài số chỗ, xin ghi lý do "
               "(ví dụ: người cao tuổi ở xa, đã đến tận nơi).")


class ConcurrentWalkIn(Conflict):
    code = "walk_in_repeated"
    message = "Người này vừa được ghi tên; xin tải lại trang."


@dataclass(frozen=True)
class WalkIn:
    result: service.BookingResult
    over_capacity: bool


def register(*, db: Session, crypto: Crypto, actor: StaffUser, body: OnBehalfCreate, idempotency_key: str | None,
             today: date, identity: Limits, burst_per_minute: int, quotas: dict[str, limits.Rule],
             over_capacity_reason: str = "") -> WalkIn:
    """Registers a walk-in into `body.session_id` (a session of the actor's commune). The same
    idempotency key returns the first registration, without adding a second seat: the session is locked
    before the key is looked up, so two taps at once wait for each other and the second finds the first."""
    exam = seats.lock_session(db, body.session_id)
    if exam is None:
        raise SessionNotFound()
    replay = service.find_replay(db, Raw(db.connection()), crypto, key=idempotency_key,
                                 fingerprint=service.request_fingerprint(crypto, body))
    if replay is not None:
        return WalkIn(service.BookingResult(replay, replayed=True), over_capacity=False)
    # The desk registers people into its own commune's sessions (booking on behalf alone would take
    # any commune's: a cadre books wherever the person lives).
    check_station_scope(actor, exam.site.commune_id)
    reason = mask_digit_runs(over_capacity_reason)[:REASON_MAX]
    over_capacity = exam.status == "open" and exam.booked >= exam.capacity
    if over_capacity:
        if not reason:
            raise ReasonRequired(capacity=exam.capacity)
        exam.capacity += 1
        db.flush()
    result = service.book_on_behalf(db=db, crypto=crypto, actor=actor, body=body, idempotency_key=idempotency_key,
                                    today=today, identity=identity, burst_per_minute=burst_per_minute,
                                    quotas=quotas, walk_in=True)
    if result.replayed:  # cannot happen under the lock; never a second seat or audit entry if it did
        raise ConcurrentWalkIn()
    detail: dict[str, Any] = {"session_id": exam.id, "over_capacity": over_capacity}
    if over_capacity:
        detail.update(reason=reason, capacity=exam.capacity)
    record(db, actor=actor, action="booking.walk_in", entity="booking", entity_id=result.out.code, **detail)
    return WalkIn(result, over_capacity=over_capacity)
