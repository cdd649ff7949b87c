from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.communes.models import Commune, Site
from api.communes.schemas import SiteOut
from api.communes.service import check_station_scope, get_site
from api.core.clock import assume_local, local_today, start_of_local_day, to_local
from api.core.errors import Conflict, NotFound
from api.sessions.models import ExamSession
from api.sessions.schemas import SessionCreate, SessionOut
from api.staff.models import StaffUser
from common.errors import InvalidInput
from vntext import nfc

MAX_SESSION_HOURS = 14


class SessionNotFound(NotFound):
    code = "session_not_found"
    message = "Không tìm thấy buổi khám này."


class InvalidSessionTimes(InvalidInput):
    code = "invalid_session_times"
    message = "Giờ kết thúc phải sau giờ bắt đầu, trong cùng một ngày."


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


def check_times(starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    starts_at, ends_at = assume_local(starts_at), assume_local(ends_at)
    if ends_at <= starts_at or ends_at - starts_at > timedelta(hours=MAX_SESSION_HOURS):
        raise InvalidSessionTimes()
    return starts_at, ends_at


def create_session(*, db: Session, actor: StaffUser, body: SessionCreate) -> ExamSession:
    site = get_site(db, body.site_id)
    check_station_scope(actor, site.commune_id)
    if not site.active:
        raise InactiveSite()
    starts_at, ends_at = check_times(body.starts_at, body.ends_at)
    session = ExamSession(
        site_id=site.id, starts_at=starts_at, ends_at=ends_at, capacity=body.capacity,
        booked=0, waitlisted=0, target_groups=list(body.target_groups), note=nfc(body.note), status="open",
    )
    db.add(session)
    db.flush()
    record(db, actor=actor, action="session.create", entity="session", entity_id=session.id,
           site_id=site.id, capacity=body.capacity)
    return session
