from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.communes import service
from api.communes.models import Site
from api.communes.schemas import (
    CommuneCreate,
    CommuneList,
    CommuneOut,
    NearestQuery,
    NearestSites,
    NearSite,
    NextSession,
    SiteCreate,
    SiteDetail,
    SiteList,
    SiteUpdate,
)
from api.core.db import utcnow
from api.core.types import IdInPath, IdInQuery
from api.deps import AdminUser, DatabaseDep, GatewayOnly, ReadSession, StationUser
from api.sessions.models import ExamSession
from api.sessions.service import select_sessions, session_out_from_row

router = APIRouter(tags=["communes"])


@router.get("/communes", response_model=CommuneList)
def list_communes(
    db: ReadSession,
    q: Annotated[str | None, Query(max_length=100, description="tên xã/phường, có dấu hay không dấu")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> CommuneList:
    communes = service.search_communes(db=db, q=q, limit=limit)
    return CommuneList(items=[service.commune_out(c) for c in communes])


@router.get("/communes/{commune_id}", response_model=CommuneOut)
def get_commune(commune_id: IdInPath, db: ReadSession) -> CommuneOut:
    return service.commune_out(service.get_commune(db, commune_id))


@router.post("/communes", response_model=CommuneOut, status_code=status.HTTP_201_CREATED)
def create_commune(body: CommuneCreate, admin: AdminUser, database: DatabaseDep) -> CommuneOut:
    with database.write() as db:
        return service.commune_out(service.create_commune(db=db, actor=admin, body=body))


@router.get("/sites", response_model=SiteList)
def list_sites(db: ReadSession, commune_id: IdInQuery = None) -> SiteList:
    stmt = select(Site).where(Site.active.is_(True)).order_by(Site.commune_id, Site.name)
    if commune_id is not None:
        stmt = stmt.where(Site.commune_id == commune_id)
    return SiteList(items=[service.site_out(s) for s in db.scalars(stmt)])


@router.get("/sites/{site_id}", response_model=SiteDetail)
def get_site(site_id: IdInPath, db: ReadSession) -> SiteDetail:
    return service.site_out(service.get_site(db, site_id))


@router.post("/sites", response_model=SiteDetail, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, staff: StationUser, database: DatabaseDep) -> SiteDetail:
    with database.write() as db:
        return service.site_out(service.create_site(db=db, actor=staff, body=body))


@router.patch("/sites/{site_id}", response_model=SiteDetail)
def update_site(site_id: IdInPath, body: SiteUpdate, staff: StationUser, database: DatabaseDep) -> SiteDetail:
    with database.write() as db:
        return service.site_out(service.update_site(db=db, actor=staff, site_id=site_id, changes=body))


NEXT_SESSIONS = 3


def next_sessions(db: Session, site_id: int, now: datetime) -> list[NextSession]:
    """A site's next open sessions, counted as the schedule counts them (seats left = capacity − booked)."""
    stmt = (
        select_sessions()
        .where(ExamSession.site_id == site_id, ExamSession.status == "open", ExamSession.starts_at > now)
        .order_by(ExamSession.starts_at, ExamSession.id)
        .limit(NEXT_SESSIONS)
    )
    found = [session_out_from_row(row) for row in db.connection().execute(stmt)]
    return [NextSession(session_id=s.id, starts_at=s.starts_at, ends_at=s.ends_at, seats_left=s.available)
            for s in found]


@router.post("/sites/nearest", response_model=NearestSites, dependencies=[GatewayOnly])
def nearest_sites(body: NearestQuery, db: ReadSession) -> NearestSites:
    """The sites nearest to a resident's shared location (the gateway asks), with their next sessions.

    POST, so the position stays out of URLs and access logs; it is used for this answer only: not
    logged, not stored, not sent to the database (see `service.nearest_sites`)."""
    now = utcnow()
    found = service.nearest_sites(db=db, latitude=body.latitude, longitude=body.longitude, limit=body.limit)
    return NearestSites(sites=[
        NearSite(site_id=site.id, name=site.name, address=site.address, phone=site.phone,
                 commune_id=site.commune_id, commune_name=site.commune.name, distance_km=round(distance, 1),
                 next_sessions=next_sessions(db, site.id, now))
        for site, distance in found
    ])
