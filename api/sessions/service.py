from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings.models import ACTIVE_STATUSES, Booking
from api.communes.models import Site
from api.communes.service import check_station_scope, get_site, site_out
from api.core.clock import assume_local, local_today, start_of_local_day, to_local
from api.core.crypto import Crypto
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.text import nfc
from api.residents.models import Resident
from api.residents.validation import mask
from api.sessions import seats
from api.sessions.models import ExamSession
from api.sessions.schemas import RosterEntry, SessionCreate, SessionOut, SessionUpdate
from api.staff.models import StaffUser

MAX_SESSION_HOURS = 14


class SessionNotFound(NotFound):
    code = "session_not_found"
    message = "Không tìm thấy buổi khám này."


class InvalidSessionTimes(InvalidInput):
    code = "invalid_session_times"
    message = "Giờ kết thúc phải sau giờ bắt đầu, trong cùng một ngày."


class CapacityBelowBooked(Conflict):
    code = "capacity_below_booked"
    message = "Không thể giảm số chỗ xuống thấp hơn số người đã đặt lịch."


class InactiveSite(Conflict):
    code = "site_inactive"
    message = "Điểm khám này đang tạm ngừng."


def session_out(session: ExamSession) -> SessionOut:
    return SessionOut(
        id=session.id,
        starts_at=to_local(session.starts_at),
        ends_at=to_local(session.ends_at),
        site=site_out(session.site),
        capacity=session.capacity,
        booked=session.booked,
        available=max(session.capacity - session.booked, 0) if session.status == "open" else 0,
        waitlisted=session.waitlisted,
        target_groups=list(session.target_groups or []),
        note=session.note,
        status=session.status,  # type: ignore[arg-type]
    )


def get_session(db: Session, session_id: int) -> ExamSession:
    session = db.get(ExamSession, session_id)
    if session is None:
        raise SessionNotFound()
    return session


def list_sessions(
    *, db: Session, commune_id: int | None, site_id: int | None, date_from: date | None,
    date_to: date | None, include_cancelled: bool, limit: int,
) -> list[ExamSession]:
    start_day = date_from or local_today()
    end_day = date_to or start_day + timedelta(days=60)
    if end_day < start_day:
        raise InvalidInput("Ngày kết thúc phải sau ngày bắt đầu.", field="date_to")
    stmt = (
        select(ExamSession)
        .join(ExamSession.site)
        .where(
            ExamSession.starts_at >= start_of_local_day(start_day),
            ExamSession.starts_at < start_of_local_day(end_day + timedelta(days=1)),
        )
        .order_by(ExamSession.starts_at, ExamSession.id)
        .limit(limit)
    )
    if commune_id is not None:
        stmt = stmt.where(Site.commune_id == commune_id)
    if site_id is not None:
        stmt = stmt.where(ExamSession.site_id == site_id)
    if not include_cancelled:
        stmt = stmt.where(ExamSession.status == "open")
    return list(db.scalars(stmt))


def _check_times(starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    starts_at, ends_at = assume_local(starts_at), assume_local(ends_at)
    if ends_at <= starts_at or ends_at - starts_at > timedelta(hours=MAX_SESSION_HOURS):
        raise InvalidSessionTimes()
    return starts_at, ends_at


def create_session(*, db: Session, actor: StaffUser, body: SessionCreate) -> ExamSession:
    site = get_site(db, body.site_id)
    check_station_scope(actor, site.commune_id)
    if not site.active:
        raise InactiveSite()
    starts_at, ends_at = _check_times(body.starts_at, body.ends_at)
    session = ExamSession(
        site_id=site.id, starts_at=starts_at, ends_at=ends_at, capacity=body.capacity,
        booked=0, waitlisted=0, target_groups=list(body.target_groups), note=nfc(body.note), status="open",
    )
    db.add(session)
    db.flush()
    record(db, actor=actor, action="session.create", entity="session", entity_id=session.id,
           site_id=site.id, capacity=body.capacity)
    return session


def update_session(*, db: Session, actor: StaffUser, session_id: int, changes: SessionUpdate) -> ExamSession:
    session = seats.lock_session(db, session_id)
    if session is None:
        raise SessionNotFound()
    check_station_scope(actor, session.site.commune_id)
    fields = {k: v for k, v in changes.model_dump(exclude_unset=True).items() if v is not None}
    if "starts_at" in fields or "ends_at" in fields:
        session.starts_at, session.ends_at = _check_times(
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
    db.refresh(session)
    record(db, actor=actor, action="session.update", entity="session", entity_id=session.id,
           fields=sorted(fields), promoted=len(promoted))
    return session


def _cancel_session(db: Session, session: ExamSession) -> None:
    """A cancelled visit cancels its bookings; residents are told through reminders."""
    db.execute(
        update(Booking)
        .where(Booking.session_id == session.id, Booking.status.in_(ACTIVE_STATUSES))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    session.status = "cancelled"
    session.booked = 0
    session.waitlisted = 0
    db.flush()


def roster(*, db: Session, crypto: Crypto, session: ExamSession) -> list[RosterEntry]:
    rows = db.execute(
        select(Booking, Resident)
        .join(Resident, Resident.id == Booking.resident_id)
        .where(Booking.session_id == session.id, Booking.status != "cancelled")
        .order_by(Booking.id)
    ).all()
    entries, position = [], 0
    for booking, resident in rows:
        if booking.status == "waitlisted":
            position += 1
        entries.append(
            RosterEntry(
                code=booking.code, status=booking.status, full_name=resident.full_name,
                birth_year=resident.birth_year, phone_masked=mask(crypto.decrypt(resident.phone_enc)),
                channel=booking.channel,
                waitlist_position=position if booking.status == "waitlisted" else None,
            )
        )
    return entries
