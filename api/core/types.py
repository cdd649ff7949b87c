"""Shared field types: ids fit a 32-bit INTEGER on every backend, so huge numbers are a 422."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

MAX_ID = 2_147_483_647

DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
IdInPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdInQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
