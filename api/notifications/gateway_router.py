"""What the channel gateway reports back about reminders it carried to a phone: Zalo's (or the SMS
provider's) word that the message reached it. Only the gateway may call this (its internal token)."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.core.db import utcnow
from api.deps import DatabaseDep, GatewayOnly
from api.notifications import plan

router = APIRouter(tags=["reminders"], dependencies=[GatewayOnly])


class DeliveredIn(BaseModel):
    key: str = Field(pattern=r"^[A-Za-z0-9_:\-]{1,100}$")


@router.post("/reminders/delivered", status_code=status.HTTP_204_NO_CONTENT)
def delivered(body: DeliveredIn, database: DatabaseDep) -> None:
    """204 whether or not the key is one of ours: a platform's report about something else is no error."""
    with database.write() as db:
        plan.mark_delivered(db, body.key, utcnow())
