"""The volunteer's recording and review pages (filled in by the next commit)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/studio/voice", include_in_schema=False)
