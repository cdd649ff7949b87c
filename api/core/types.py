"""Shared field types: ids fit a 32-bit INTEGER on every backend, so huge numbers are a 422."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

MAX_ID = 2_147_483_647

DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
IdInPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdInQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# Referral codes, as the gateway's links and the bookings' field accept them.
CodeInPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,32}$")]


_EARLIEST, _LATEST = date(1880, 1, 1), date(2100, 12, 31)


def _date_in_range(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value
    if not _EARLIEST <= day <= _LATEST:
        raise PydanticCustomError("date_out_of_range", "date out of range")
    return value


# Dates and times far outside any exam or lifetime are input mistakes, not data.
PlausibleDate = Annotated[date, AfterValidator(_date_in_range)]
PlausibleDateTime = Annotated[datetime, AfterValidator(_date_in_range)]
