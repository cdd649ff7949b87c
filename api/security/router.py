"""Staff see the alerts of their commune (admins: all, including those of no commune) and close them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.core.clock import to_local
from api.core.db import utcnow
from api.core.types import IdInPath
from api.deps import DatabaseDep, ReadSession, StationUser
from api.security import alerts
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


def alert_out(alert: SecurityAlert) -> AlertOut:
    return AlertOut(id=alert.id, kind=alert.kind, title=TITLES.get(alert.kind, alert.kind), detail=alert.detail,
                    count=alert.count, commune_id=alert.commune_id, session_id=alert.session_id,
                    created_at=to_local(alert.created_at), updated_at=to_local(alert.updated_at),
                    resolved_at=to_local(alert.resolved_at) if alert.resolved_at else None)


@router.get("/alerts", response_model=AlertList)
def list_alerts(staff: StationUser, db: ReadSession, include_resolved: Annotated[bool, Query()] = False
                ) -> AlertList:
    return AlertList(items=[alert_out(a) for a in alerts.visible(db, staff, include_resolved=include_resolved)])


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(alert_id: IdInPath, staff: StationUser, database: DatabaseDep) -> AlertOut:
    with database.write() as db:
        return alert_out(alerts.resolve(db, staff, alert_id, utcnow()))
