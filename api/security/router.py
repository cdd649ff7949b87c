"""Staff see the alerts of their commune (admins: all, including those of no commune) and close them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.communes.service import check_station_scope
from api.core.clock import to_local
from api.core.db import utcnow
from api.core.errors import NotFound
from api.core.types import IdInPath
from api.deps import DatabaseDep, ReadSession, StationUser
from api.security.alerts import TITLES
from api.security.models import SecurityAlert

router = APIRouter(tags=["alerts"])


class AlertOut(BaseModel):
    id: int
    kind: str
    title: str
    detail: str
    count: int
    commune_id: int | None
    session_id: int | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class AlertList(BaseModel):
    items: list[AlertOut]


class AlertNotFound(NotFound):
    code = "alert_not_found"
    message = "Không tìm thấy cảnh báo này."


def alert_out(alert: SecurityAlert) -> AlertOut:
    return AlertOut(id=alert.id, kind=alert.kind, title=TITLES.get(alert.kind, alert.kind), detail=alert.detail,
                    count=alert.count, commune_id=alert.commune_id, session_id=alert.session_id,
                    created_at=to_local(alert.created_at), updated_at=to_local(alert.updated_at),
                    resolved_at=to_local(alert.resolved_at) if alert.resolved_at else None)


@router.get("/alerts", response_model=AlertList)
def list_alerts(staff: StationUser, db: ReadSession, include_resolved: Annotated[bool, Query()] = False
                ) -> AlertList:
    query = select(SecurityAlert).order_by(SecurityAlert.updated_at.desc()).limit(200)
    if staff.role == "station":
        query = query.where(SecurityAlert.commune_id == (staff.commune_id or -1))
    if not include_resolved:
        query = query.where(SecurityAlert.resolved_at.is_(None))
    return AlertList(items=[alert_out(a) for a in db.scalars(query)])


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(alert_id: IdInPath, staff: StationUser, database: DatabaseDep) -> AlertOut:
    with database.write() as db:
        alert = db.get(SecurityAlert, alert_id)
        if alert is None:
            raise AlertNotFound()
        if alert.commune_id is None and staff.role != "admin":
            raise AlertNotFound()
        if alert.commune_id is not None:
            check_station_scope(staff, alert.commune_id)
        alert.resolved_at, alert.resolved_by = utcnow(), staff.username
        db.flush()
        return alert_out(alert)
