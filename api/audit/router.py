from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from api.audit.models import AuditEntry
from api.deps import AdminUser, ReadSession

router = APIRouter(tags=["audit"])


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditOut]


@router.get("/audit", response_model=AuditList)
def list_audit(
    _admin: AdminUser, db: ReadSession,
    action: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return AuditList(items=[AuditOut.model_validate(e) for e in db.scalars(stmt)])
