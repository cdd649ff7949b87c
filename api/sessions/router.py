from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.bookings import roster, session_changes
from api.communes.service import check_station_scope
from api.core.types import IdInPath, IdInQuery, PlausibleDate
from api.deps import CryptoDep, DatabaseDep, ReadSession, StationUser
from api.sessions import service
from api.sessions.schemas import Roster, SessionCreate, SessionList, SessionOut, SessionUpdate

router = APIRouter(tags=["sessions"])


@router.get("/sessions", response_model=SessionList)
def list_sessions(
    db: ReadSession,
    commune_id: IdInQuery = None,
    site_id: IdInQuery = None,
    date_from: Annotated[PlausibleDate | None, Query()] = None,
    date_to: Annotated[PlausibleDate | None, Query()] = None,
    include_cancelled: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SessionList:
    return SessionList(items=service.list_sessions(
        db=db, commune_id=commune_id, site_id=site_id, date_from=date_from, date_to=date_to,
        include_cancelled=include_cancelled, limit=limit,
    ))


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(session_id: IdInPath, db: ReadSession) -> SessionOut:
    return service.load_session_out(db, session_id)


@router.post("/sessions", response_model=SessionOut, status_code=status.HTTP_201_CREATED)
def create_session(body: SessionCreate, staff: StationUser, database: DatabaseDep) -> SessionOut:
    with database.write() as db:
        return service.load_session_out(db, service.create_session(db=db, actor=staff, body=body).id)


@router.patch("/sessions/{session_id}", response_model=SessionOut)
def update_session(
    session_id: IdInPath, body: SessionUpdate, staff: StationUser, database: DatabaseDep
) -> SessionOut:
    with database.write() as db:
        session_changes.update_session(db=db, actor=staff, session_id=session_id, changes=body)
        return service.load_session_out(db, session_id)


@router.get("/sessions/{session_id}/bookings", response_model=Roster)
def session_roster(session_id: IdInPath, staff: StationUser, db: ReadSession, crypto: CryptoDep) -> Roster:
    session = service.get_session(db, session_id)
    check_station_scope(staff, session.site.commune_id)
    return Roster(session=service.load_session_out(db, session_id),
                  items=roster.roster(db=db, crypto=crypto, session=session))


@router.get("/sessions/{session_id}/bookings.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export_roster(
    session_id: IdInPath, staff: StationUser, database: DatabaseDep, crypto: CryptoDep, with_phone: bool = False,
) -> Response:
    with database.write() as db:  # a write: the export is audited
        session = service.get_session(db, session_id)
        check_station_scope(staff, session.site.commune_id)
        body = roster.roster_csv(db=db, crypto=crypto, actor=staff, session=session, with_phone=with_phone)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="danh-sach-buoi-{session_id}.csv"'})
