from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from api.communes import service
from api.communes.models import Site
from api.communes.schemas import (
    CommuneCreate,
    CommuneList,
    CommuneOut,
    SiteCreate,
    SiteList,
    SiteOut,
    SiteUpdate,
)
from api.core.types import IdInPath, IdInQuery
from api.deps import AdminUser, DatabaseDep, ReadSession, StationUser

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


@router.get("/sites/{site_id}", response_model=SiteOut)
def get_site(site_id: IdInPath, db: ReadSession) -> SiteOut:
    return service.site_out(service.get_site(db, site_id))


@router.post("/sites", response_model=SiteOut, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, staff: StationUser, database: DatabaseDep) -> SiteOut:
    with database.write() as db:
        return service.site_out(service.create_site(db=db, actor=staff, body=body))


@router.patch("/sites/{site_id}", response_model=SiteOut)
def update_site(site_id: IdInPath, body: SiteUpdate, staff: StationUser, database: DatabaseDep) -> SiteOut:
    with database.write() as db:
        return service.site_out(service.update_site(db=db, actor=staff, site_id=site_id, changes=body))
