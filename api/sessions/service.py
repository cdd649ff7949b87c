from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, select, update
from sqlalchemy.orm import Session

from api.audit.service import record
from api.bookings.models import ACTIVE_STATUSES, Booking
from api.communes.models import Commune, Site
from api.communes.schemas import SiteOut
from api.communes.service import check_station_scope, get_site
from api.core.clock import assume_local, local_today, start_of_local_day, to_local
from api.core.crypto import Crypto
from api.core.errors import Conflict, InvalidInput, NotFound
from api.core.text import nfc
from api.residents.models import ERASED_NAME, Resident
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


# Sessions are read with one Core query joined to their site and commune: listing and booking
# are the hot paths, and ORM entity loading cost several times more per row here.
SESSION_COLUMNS = (
    ExamSession.id, ExamSession.starts_at, ExamSession.ends_at, ExamSession.capacity, ExamSession.booked,
    ExamSession.waitlisted, ExamSession.target_groups, ExamSession.note, ExamSession.status,
    Site.id.label("site_id"), Site.commune_id, Site.name.label("site_name"), Site.kind.label("site_kind"),
    Site.address.label("site_address"), Site.phone.label("site_phone"), Site.active.label("site_active"),
    Commune.name.label("commune_name"),
)


def select_sessions() -> Select[*tuple[Any, ...]]:
    stmt: Select[*tuple[Any, ...]] = select(*SESSION_COLUMNS)
    return stmt.join(Site, Site.id == ExamSession.site_id).join(Commune, Commune.id == Site.commune_id)


def session_out_from_row(row: Row[Any], *, booked: int | None = None, waitlisted: int | None = None) -> SessionOut:
    """Builds the API view; `booked`/`waitlisted` override the row with fresher counts."""
    booked = row.booked if booked is None else booked
    return SessionOut(
        id=row.id,
        starts_at=to_local(row.starts_at),
        ends_at=to_local(row.ends_at),
        site=SiteOut(
            id=row.site_id, commune_id=row.commune_id, commune_name=row.commune_name, name=row.site_name,
            kind=row.site_kind, address=row.site_address, phone=row.site_phone, active=row.site_active,
        ),
        capacity=row.capacity,
        booked=booked,
        available=max(row.capacity - booked, 0) if row.status == "open" else 0,
        waitlisted=row.waitlisted if waitlisted is None else waitlisted,
        target_groups=list(row.target_groups or []),
        note=row.note,
        status=row.status,
    )


@cache
def _session_by_id() -> Select[*tuple[Any, ...]]:
    return select_sessions().where(ExamSession.id == bindparam("sid"))


def session_row(conn: Connection, session_id: int) -> Row[Any]:
    row = conn.execute(_session_by_id(), {"sid": session_id}).first()
    if row is None:
        raise SessionNotFound()
    return row


def load_session_out(db: Session, session_id: int) -> SessionOut:
    return session_out_from_row(session_row(db.connection(), session_id))


def get_session(db: Session, session_id: int) -> ExamSession:
    session = db.get(ExamSession, session_id)
    if session is None:
        raise SessionNotFound()
    return session


def list_sessions(
    *, db: Session, commune_id: int | None, site_id: int | None, date_from: date | None,
    date_to: date | None, include_cancelled: bool, limit: int,
) -> list[SessionOut]:
    start_day = date_from or local_today()
    end_day = date_to or start_day + timedelta(days=60)
    if end_day < start_day:
        raise InvalidInput("Ngày kết thúc phải sau ngày bắt đầu.", field="date_to")
    stmt = (
        select_sessions()
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
    return [session_out_from_row(row) for row in db.connection().execute(stmt)]


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


def update_session(*, db: Session, actor: StaffUser, session_id: int, changes: SessionUpdate) -> None:
    """Applies staff changes; callers read the result with load_session_out (seat counts are
    changed by UPDATE statements, so an ORM object here would be stale)."""
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
    record(db, actor=actor, action="session.update", entity="session", entity_id=session.id,
           fields=sorted(fields), promoted=len(promoted))


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
    """The session's people for staff: CCCD and phone masked (see `roster_csv` for an export)."""
    entries, position = [], 0
    for booking, resident in _roster_rows(db, session):
        if booking.status == "waitlisted":
            position += 1
        entries.append(RosterEntry(
            code=booking.code, status=booking.status,
            full_name=resident.full_name if resident else ERASED_NAME,
            birth_year=resident.birth_year if resident else None,
            cccd_masked=mask(crypto.decrypt(resident.cccd_enc)) if resident else "",
            phone_masked=mask(crypto.decrypt(resident.phone_enc)) if resident else "",
            channel=booking.channel,
            waitlist_position=position if booking.status == "waitlisted" else None,
        ))
    return entries


def _roster_rows(db: Session, session: ExamSession) -> list[tuple[Booking, Resident | None]]:
    # Outer join: a resident who had their data erased still counts as a booking.
    rows = db.execute(
        select(Booking, Resident)
        .outerjoin(Resident, Resident.id == Booking.resident_id)
        .where(Booking.session_id == session.id, Booking.status != "cancelled")
        .order_by(Booking.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def roster_csv(*, db: Session, crypto: Crypto, actor: StaffUser, session: ExamSession, with_phone: bool) -> str:
    """The roster as CSV for printing or calling people. Full phone numbers only on request, and
    every export is audited with who took it and whether it held phone numbers."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ma_lich", "trang_thai", "ho_ten", "nam_sinh", "cccd", "dien_thoai"])
    rows = _roster_rows(db, session)
    for booking, resident in rows:
        phone = crypto.decrypt(resident.phone_enc) if resident else ""
        writer.writerow([
            booking.code, booking.status, resident.full_name if resident else ERASED_NAME,
            resident.birth_year if resident else "", mask(crypto.decrypt(resident.cccd_enc)) if resident else "",
            phone if with_phone else mask(phone),
        ])
    record(db, actor=actor, action="roster.export", entity="session", entity_id=session.id, rows=len(rows),
           with_phone=with_phone)
    return out.getvalue()
