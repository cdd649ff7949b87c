"""Staff changing a session: its bookings follow — cancelled with it, promoted into the seats it gains."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings import seats
from api.bookings.models import Booking
from api.communes.service import check_station_scope
from api.core.db import utcnow
from api.core.errors import Conflict
from api.sessions.models import ExamSession
from api.sessions.schemas import SessionUpdate
from api.sessions.service import SessionNotFound, check_times
from api.staff.models import StaffUser
from common.vocabulary import ACTIVE_BOOKING_STATUSES
from vntext import nfc


class CapacityBelowBooked(Conflict):
    code = "capacity_below_booked"
    message = "Không thể giảm số chỗ xuống thấp hơn số người đã đặt lịch."


def update_session(*, db: Session, actor: StaffUser, session_id: int, changes: SessionUpdate) -> None:
    """Applies staff changes; callers read the result with load_session_out (seat counts are
    changed by UPDATE statements, so an ORM object here would be stale)."""
    session = seats.lock_session(db, session_id)
    if session is None:
        raise SessionNotFound()
    check_station_scope(actor, session.site.commune_id)
    fields = {k: v for k, v in changes.model_dump(exclude_unset=True).items() if v is not None}
    if "starts_at" in fields or "ends_at" in fields:
        session.starts_at, session.ends_at = check_times(
            fields.get("starts_at", session.starts_at), fields.get("ends_at", session.ends_at)
        )
    if "capacity" in fields:
        if fields["capacity"] < session.booked:
            raise CapacityBelowBooked(booked=session.booked)
        session.capacity = fields["capacity"]
    if "target_groups" in fields:
        session.target_groups = list(fields["target_groups"])
    if "note" in fields:
        session.note = nfc(fields["note"])
    db.flush()
    promoted: list[Booking] = []
    if fields.get("status") == "cancelled" and session.status == "open":
        _cancel_session(db, session)
    elif fields.get("status") == "open":
        session.status = "open"
    if session.status == "open":
        promoted = seats.promote_into_free_seats(db, session.id)
    record(db, actor=actor, action="session.update", entity="session", entity_id=session.id,
           fields=sorted(fields), promoted=len(promoted))


def _cancel_session(db: Session, session: ExamSession) -> None:
    """A cancelled visit cancels its bookings; residents are told through reminders (marked, so that
    those who had cancelled themselves are not told again)."""
    db.execute(
        update(Booking)
        .where(Booking.session_id == session.id, Booking.status.in_(ACTIVE_BOOKING_STATUSES))
        .values(status="cancelled", cancel_reason="session", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.status = "cancelled"
    session.booked = 0
    session.waitlisted = 0
    db.flush()
