from __future__ import annotations

from pydantic import BaseModel, Field

from api.core.types import PlausibleDate


class IdentityIn(BaseModel):
    """What proves who someone is (see api.identity.service), for every request that needs it."""

    cccd: str = Field(min_length=1, max_length=40)
    birth_date: PlausibleDate
