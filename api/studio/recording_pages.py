"""Staff pages of the recording campaign (filled in by the next commit)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/studio/recording", include_in_schema=False)
